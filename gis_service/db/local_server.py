"""Finds or starts the PostgreSQL that schoolmap uses when no DATABASE_URL is given."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
import pwd
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from gis_service.config import DatabaseSettings
from gis_service.db.connection import mask_password
from gis_service.errors import DatabaseSetupError, DatabaseUnavailableError

__all__ = ["ensure_database", "resolve_database_url", "stop_owned_server"]

Progress = Callable[[str], None]

SOCKET_DIRS: tuple[Path, ...] = (Path("/var/run/postgresql"), Path("/tmp"))
LOCAL_HOST = "127.0.0.1"
MAINTENANCE_DB = "postgres"
SUPERUSER = "postgres"
SERVER_OS_USER = "postgres"
PROBE_TIMEOUT_S = 2
CONNECT_TIMEOUT_S = 10
PG_CTL_TIMEOUT_S = 60
# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
REQUIRED_EXTENSIONS = ("postgis", "pg_trgm")


def _report(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def _probe_users() -> list[str]:
    users = [_current_user()]
    if SUPERUSER not in users:
        users.append(SUPERUSER)
    return users


def _socket_url(user: str, socket_dir: Path, port: int, dbname: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}@/{quote(dbname, safe='')}"
        f"?host={quote(str(socket_dir), safe='/')}&port={port}"
    )


def _tcp_url(user: str, host: str, port: int, dbname: str) -> str:
    return f"postgresql://{quote(user, safe='')}@{host}:{port}/{quote(dbname, safe='')}"


def _accepts(host: str, port: int, user: str) -> bool:
    """True if a server at host/port lets `user` into the maintenance database."""
    try:
        conn = psycopg2.connect(
            host=host,
            port=port,
            user=user,
            dbname=MAINTENANCE_DB,
            connect_timeout=PROBE_TIMEOUT_S,
        )
    except psycopg2.Error:
        return False
    conn.close()
    return True


def _probe_running_server(settings: DatabaseSettings) -> tuple[str, str] | None:
    """Find a running local server; returns (URL, description) or None."""
    port = settings.local_port
    users = _probe_users()
    for socket_dir in SOCKET_DIRS:
        if not (socket_dir / f".s.PGSQL.{port}").exists():
            continue
        for user in users:
            if _accepts(str(socket_dir), port, user):
                url = _socket_url(user, socket_dir, port, settings.name)
                return url, f"socket {socket_dir} port {port} as {user}"
    for user in users:
        if _accepts(LOCAL_HOST, port, user):
            url = _tcp_url(user, LOCAL_HOST, port, settings.name)
            return url, f"{LOCAL_HOST}:{port} as {user}"
    return None


@dataclass(frozen=True)
class _OwnedCluster:
    base: Path

    @classmethod
    def of(cls, settings: DatabaseSettings) -> _OwnedCluster:
        return cls(Path(settings.home).expanduser().absolute() / "postgres")

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    @property
    def lock_file(self) -> Path:
        return self.base / ".lock"

    def exists(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def major_version(self) -> str | None:
        try:
            return (self.data / "PG_VERSION").read_text().strip() or None
        except OSError:
            return None

    def running_port(self) -> int | None:
        """Port recorded by the running postmaster, if postmaster.pid says so."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) >= 4 and lines[3].strip().isdigit():
            return int(lines[3].strip())
        return None


def _is_root() -> bool:
    return os.geteuid() == 0


def _server_user_ids() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(SERVER_OS_USER)
    except KeyError as exc:
        raise DatabaseUnavailableError(
            f"running as root, schoolmap must run its own PostgreSQL as the "
            f"'{SERVER_OS_USER}' system user, but that user does not exist; "
            "set DATABASE_URL to an existing server, or install PostgreSQL "
            "(apt-get install postgresql postgis), which creates that user"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def _run_as_prefix() -> list[str]:
    """Command prefix that runs PostgreSQL tools as a user they accept (never root)."""
    if not _is_root():
        return []
    _server_user_ids()
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", SERVER_OS_USER, "--"]
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        uid, gid = _server_user_ids()
        return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--"]
    raise DatabaseUnavailableError(
        "running as root, but neither runuser nor setpriv is available to run PostgreSQL "
        f"as the '{SERVER_OS_USER}' user; set DATABASE_URL, or run schoolmap as a normal user"
    )


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def _find_bindir(major: str | None = None) -> Path | None:
    """Directory holding initdb/pg_ctl: the given major version if present, else the newest."""
    candidates = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file()
    ]
    candidates.sort(key=_version_key, reverse=True)
    if major is not None:
        for path in candidates:
            if path.parent.name == major:
                return path
    if candidates:
        return candidates[0]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and (Path(out) / "initdb").is_file() and (Path(out) / "pg_ctl").is_file():
            return Path(out)
    initdb = shutil.which("initdb")
    if initdb is not None and (Path(initdb).parent / "pg_ctl").is_file():
        return Path(initdb).parent
    return None


def _run(cmd: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=PG_CTL_TIMEOUT_S + 30,
    )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(content[-lines:])


def _failure(what: str, result: subprocess.CompletedProcess[str], log: Path | None) -> str:
    parts = [f"{what} failed (exit {result.returncode}): {shlex.join(result.args)}"]
    output = (result.stderr.strip() or result.stdout.strip())[-2000:]
    if output:
        parts.append(output)
    if log is not None:
        tail = _tail(log)
        if tail:
            parts.append(f"last lines of {log}:\n{tail}")
    return "\n".join(parts)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def _prepare_dirs(cluster: _OwnedCluster) -> None:
    """Create the cluster's directories and make them usable by the server's OS user."""
    cluster.base.mkdir(parents=True, exist_ok=True)
    cluster.run_dir.mkdir(exist_ok=True)
    cluster.run_dir.chmod(0o755)
    if not _is_root():
        return
    uid, gid = _server_user_ids()
    for path in (cluster.base, cluster.run_dir, cluster.lock_file, cluster.log):
        if path.exists():
            os.chown(path, uid, gid)
    if cluster.data.exists() and cluster.data.stat().st_uid != uid:
        _chown_tree(cluster.data, uid, gid)
    check = _run([*_run_as_prefix(), "test", "-w", str(cluster.base)], cwd=Path("/"))
    if check.returncode != 0:
        raise DatabaseUnavailableError(
            f"the '{SERVER_OS_USER}' system user cannot write to {cluster.base}; make its "
            "parent directories world-traversable (chmod o+x), point SCHOOLMAP_HOME "
            "somewhere it can reach, or set DATABASE_URL to an existing server"
        )


@contextlib.contextmanager
def _locked(cluster: _OwnedCluster) -> Iterator[None]:
    """Serialise initdb/start/stop of one owned cluster between processes."""
    cluster.base.mkdir(parents=True, exist_ok=True)
    with open(cluster.lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pg_ctl(cluster: _OwnedCluster) -> Path:
    bindir = _find_bindir(cluster.major_version())
    if bindir is None:
        raise DatabaseUnavailableError(
            f"an owned PostgreSQL cluster exists in {cluster.data}, but no pg_ctl was found "
            "under /usr/lib/postgresql/*/bin or via pg_config; install PostgreSQL "
            "(apt-get install postgresql postgis) or set DATABASE_URL"
        )
    return bindir / "pg_ctl"


def _is_running(cluster: _OwnedCluster) -> bool:
    if not (cluster.data / "postmaster.pid").exists():
        return False
    result = _run(
        [*_run_as_prefix(), str(_pg_ctl(cluster)), "status", "-D", str(cluster.data)],
        cwd=cluster.base,
    )
    return result.returncode == 0


def _initdb(cluster: _OwnedCluster, progress: Progress | None) -> None:
    bindir = _find_bindir()
    if bindir is None:
        raise DatabaseUnavailableError(
            "no PostgreSQL server was found running on this machine and none is installed "
            "(no initdb under /usr/lib/postgresql/*/bin or via pg_config); set DATABASE_URL "
            "to a PostgreSQL server with PostGIS, or install one: "
            "apt-get install postgresql postgis"
        )
    _report(progress, f"creating an owned PostgreSQL cluster in {cluster.data} ({bindir})")
    _prepare_dirs(cluster)
    cmd = [
        *_run_as_prefix(),
        str(bindir / "initdb"),
        "-D",
        str(cluster.data),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
    ]
    result = _run(cmd, cwd=cluster.base)
    if result.returncode != 0:
        raise DatabaseUnavailableError(
            _failure("initdb", result, None)
            + "\nset DATABASE_URL to an existing server, or fix the problem above"
        )


def _start(cluster: _OwnedCluster, port: int, progress: Progress | None) -> None:
    socket_path = cluster.run_dir / f".s.PGSQL.{port}"
    if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
        raise DatabaseUnavailableError(
            f"the owned PostgreSQL's socket path {socket_path} is longer than "
            f"{MAX_SOCKET_PATH} bytes; set SCHOOLMAP_HOME to a shorter path, "
            "or set DATABASE_URL"
        )
    _prepare_dirs(cluster)
    _report(progress, f"starting the owned PostgreSQL in {cluster.data} on port {port}")
    options = f"-p {port} -k {shlex.quote(str(cluster.run_dir))} -c listen_addresses=''"
    cmd = [
        *_run_as_prefix(),
        str(_pg_ctl(cluster)),
        "-D",
        str(cluster.data),
        "-l",
        str(cluster.log),
        "-w",
        "-t",
        str(PG_CTL_TIMEOUT_S),
        "-o",
        options,
        "start",
    ]
    result = _run(cmd, cwd=cluster.base)
    if result.returncode != 0:
        raise DatabaseUnavailableError(
            _failure("starting the owned PostgreSQL", result, cluster.log)
            + "\nset DATABASE_URL to an existing server, or fix the problem above"
        )


def _owned_url(
    settings: DatabaseSettings, *, start_if_missing: bool, progress: Progress | None
) -> str | None:
    """URL of the owned cluster, initialising and/or starting it as needed."""
    cluster = _OwnedCluster.of(settings)
    if not cluster.exists() and not start_if_missing:
        return None
    with _locked(cluster):
        if not cluster.exists():
            _initdb(cluster, progress)
        if _is_running(cluster):
            port = cluster.running_port() or settings.owned_port
            _report(progress, f"the owned PostgreSQL in {cluster.data} is running on port {port}")
        else:
            port = settings.owned_port
            _start(cluster, port, progress)
    if not _accepts(str(cluster.run_dir), port, SUPERUSER):
        raise DatabaseUnavailableError(
            f"the owned PostgreSQL in {cluster.data} is running but refuses connections on "
            f"socket {cluster.run_dir} port {port}; see {cluster.log}, stop it with "
            f"pg_ctl -D {cluster.data} stop, or set DATABASE_URL"
        )
    return _socket_url(SUPERUSER, cluster.run_dir, port, settings.name)


def resolve_database_url(
    settings: DatabaseSettings,
    *,
    start_if_missing: bool = True,
    progress: Callable[[str], None] | None = None,
) -> str:
    """URL of the database to use: DATABASE_URL, a running local server, or an owned one.

    Without `settings.url`, a server on this machine is probed (unix sockets in
    /var/run/postgresql and /tmp, then 127.0.0.1, on `settings.local_port`, as the
    current OS user and as `postgres`). If none answers, the cluster schoolmap owns in
    `settings.home / "postgres"` is started, after being created with initdb when it
    does not exist and `start_if_missing` is true.
    """
    if settings.url:
        return settings.url
    _report(
        progress, f"looking for a PostgreSQL server on this machine (port {settings.local_port})"
    )
    found = _probe_running_server(settings)
    if found is not None:
        url, where = found
        _report(progress, f"using the PostgreSQL server at {where}")
        return url
    owned = _owned_url(settings, start_if_missing=start_if_missing, progress=progress)
    if owned is not None:
        return owned
    tried = ", ".join(
        [f"unix sockets in {d} port {settings.local_port}" for d in SOCKET_DIRS]
        + [f"{LOCAL_HOST}:{settings.local_port}"]
    )
    raise DatabaseUnavailableError(
        f"no PostgreSQL server found (tried {tried}, as users {' and '.join(_probe_users())}) "
        f"and no owned cluster exists in {_OwnedCluster.of(settings).data}. "
        "Set DATABASE_URL to a PostgreSQL server with PostGIS "
        "(e.g. DATABASE_URL=postgresql://user@host:5432/schoolmap), "
        "or install PostgreSQL and PostGIS (apt-get install postgresql postgis) "
        "so schoolmap can start its own"
    )


def stop_owned_server(settings: DatabaseSettings) -> bool:
    """Stop the cluster schoolmap owns (pg_ctl stop -m fast); True if one was running."""
    cluster = _OwnedCluster.of(settings)
    if not cluster.exists():
        return False
    with _locked(cluster):
        if not _is_running(cluster):
            return False
        cmd = [
            *_run_as_prefix(),
            str(_pg_ctl(cluster)),
            "-D",
            str(cluster.data),
            "-m",
            "fast",
            "-w",
            "-t",
            str(PG_CTL_TIMEOUT_S),
            "stop",
        ]
        result = _run(cmd, cwd=cluster.base)
        if result.returncode != 0:
            raise DatabaseUnavailableError(
                _failure("stopping the owned PostgreSQL", result, cluster.log)
            )
    return True


def _connect(dsn: str, shown: str) -> psycopg2.extensions.connection:
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {shown}: {reason}. "
            "Check that the server is running and DATABASE_URL is right"
        ) from exc
    conn.autocommit = True
    return conn


def _server_major(cur: psycopg2.extensions.cursor) -> int:
    cur.execute("SHOW server_version_num")
    row = cur.fetchone()
    num = int(row[0]) if row else 0
    return num // 10000 if num >= 100000 else num // 100


def _check_extensions_available(cur: psycopg2.extensions.cursor, shown: str) -> None:
    cur.execute(
        "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)",
        (list(REQUIRED_EXTENSIONS),),
    )
    available = {row[0] for row in cur.fetchall()}
    if "postgis" not in available:
        major = _server_major(cur)
        raise DatabaseSetupError(
            f"PostGIS is not installed on the PostgreSQL {major} server at {shown}; "
            f"install it with: apt-get install postgresql-{major}-postgis-3 "
            "(on the server's machine), then retry"
        )
    if "pg_trgm" not in available:
        major = _server_major(cur)
        raise DatabaseSetupError(
            f"the pg_trgm extension is not available on the PostgreSQL {major} server at "
            f"{shown}; install the server's contrib modules (apt-get install "
            f"postgresql-contrib or postgresql-{major}), then retry"
        )


def ensure_database(url: str, *, progress: Callable[[str], None] | None = None) -> None:
    """Create the URL's database if missing and enable postgis and pg_trgm in it."""
    shown = mask_password(url)
    try:
        params = psycopg2.extensions.parse_dsn(url)
    except psycopg2.ProgrammingError as exc:
        raise DatabaseUnavailableError(f"invalid database URL {shown}: {exc}") from exc
    target = params.get("dbname") or params.get("user") or _current_user()
    timeout = {} if "connect_timeout" in params else {"connect_timeout": CONNECT_TIMEOUT_S}
    admin_dsn = psycopg2.extensions.make_dsn(url, dbname=MAINTENANCE_DB, **timeout)
    target_dsn = psycopg2.extensions.make_dsn(url, dbname=target, **timeout)

    conn = _connect(admin_dsn, shown)
    try:
        with conn.cursor() as cur:
            _check_extensions_available(cur, shown)
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,))
            if cur.fetchone() is None:
                _report(progress, f"creating database {target}")
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target)))
                except psycopg2.errors.DuplicateDatabase:
                    pass
                except psycopg2.errors.InsufficientPrivilege as exc:
                    raise DatabaseSetupError(
                        f"the user in {shown} may not create database {target}; create it "
                        f"(createdb {shlex.quote(target)}) or grant CREATEDB, then retry"
                    ) from exc
    finally:
        conn.close()

    conn = _connect(target_dsn, shown)
    try:
        with conn.cursor() as cur:
            for extension in REQUIRED_EXTENSIONS:
                cur.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (extension,))
                if cur.fetchone() is not None:
                    continue
                _report(progress, f"enabling extension {extension} in {target}")
                try:
                    cur.execute(
                        sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(
                            sql.Identifier(extension)
                        )
                    )
                except psycopg2.errors.UniqueViolation:
                    pass
                except psycopg2.errors.InsufficientPrivilege as exc:
                    raise DatabaseSetupError(
                        f"the user in {shown} may not create extension {extension} in "
                        f"{target}; run CREATE EXTENSION {extension} there as a superuser"
                    ) from exc
    finally:
        conn.close()
