"""Back up and restore the whole service state: the database is the system of record, dumped
and restored with PostgreSQL's own tools (`pg_dump`, `pg_restore`); the field cache in
SCHOOLMAP_HOME is derived from it and is rebuilt on first use when missing.

A restore goes into a database that holds no schoolmap schema yet (a new one), then brings the
schema up to this version's migrations, so a dump of an older version restores and upgrades.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from gis_service.db.connection import connect, mask_password
from gis_service.db.local_server import ensure_database
from gis_service.db.migrate import upgrade_database
from gis_service.errors import ConflictError, InvalidRequestError, SchoolmapError


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SchoolmapError(
            f"{name} not found: install the PostgreSQL client tools (Debian: postgresql-client)"
        )
    return found


def _run(command: list[str], url: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = done.stderr.replace(url, mask_password(url)).strip().splitlines()
        raise SchoolmapError(
            f"{Path(command[0]).name} failed for {mask_password(url)}: "
            f"{said[0] if said else f'exit status {done.returncode}'}"
        )


def backup(url: str, path: Path) -> int:
    """Dump the database at `url` into `path` (pg_dump's custom format); its size in bytes."""
    if path.exists() and path.is_dir():
        raise InvalidRequestError(f"{path} is a folder: give the file to write the backup to")
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={path}", url], url)
    return path.stat().st_size


def restore(path: Path, url: str) -> None:
    """Restore a backup into the (new or empty) database at `url`, then apply this version's
    migrations. Refused when that database already holds a schoolmap schema."""
    if not path.is_file():
        raise InvalidRequestError(f"no backup file at {path}")
    ensure_database(url)
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
            held = bool(cur.fetchone()[0])  # type: ignore[index]
        conn.rollback()
    finally:
        conn.close()
    if held:
        raise ConflictError(
            f"{mask_password(url)} already holds a schoolmap database: restore into a new one "
            "(it is created when missing)"
        )
    _run([_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={url}", str(path)], url)
    upgrade_database(url)
