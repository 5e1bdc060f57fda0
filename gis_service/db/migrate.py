"""Versioned schema migrations: numbered SQL files applied once each, in order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from gis_service.db.connection import Connection, connect, transaction
from gis_service.errors import DatabaseSetupError

# Any constant works; it only has to be the same for every schoolmap process.
_MIGRATION_LOCK_KEY = 7_302_118_001


@dataclass(frozen=True)
class Migration:
    """One migration file: its version (the number prefix), name and SQL."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    folder = resources.files("gis_service.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        number, _, rest = entry.name.partition("_")
        found.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise DatabaseSetupError(f"two migrations share a version number: {versions}")
    return found


def _ensure_table(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """
        )


def applied_versions(conn: Connection) -> dict[int, str]:
    """Version -> checksum of the migrations this database has (empty for a new database)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = cur.fetchone()
        if not row or not row[0]:
            return {}
        cur.execute("SELECT version, checksum FROM schema_migrations")
        return {int(v): str(c) for v, c in cur.fetchall()}


def pending_migrations(conn: Connection) -> list[Migration]:
    """Migrations not yet applied; raises if an applied one was changed since."""
    applied = applied_versions(conn)
    pending = []
    for migration in load_migrations():
        checksum = applied.get(migration.version)
        if checksum is None:
            pending.append(migration)
        elif checksum != migration.checksum:
            raise DatabaseSetupError(
                f"migration {migration.version:04d}_{migration.name} was changed after it was "
                "applied to this database; add a new migration instead of editing an old one"
            )
    return pending


def upgrade(conn: Connection, up_to: int | None = None) -> list[Migration]:
    """Apply every pending migration (up to version `up_to`, when given), each in its own
    transaction; return those applied."""
    done: list[Migration] = []
    with transaction(conn), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
    try:
        with transaction(conn):
            _ensure_table(conn)
        for migration in pending_migrations(conn):
            if up_to is not None and migration.version > up_to:
                break
            with transaction(conn), conn.cursor() as cur:
                cur.execute(migration.sql)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration)
    finally:
        with transaction(conn), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
    return done


def require_current_schema(conn: Connection) -> None:
    """Raise with the fix if the database lacks migrations this code needs."""
    pending = pending_migrations(conn)
    if pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
        raise DatabaseSetupError(
            f"the database schema is out of date (pending: {names}); run `schoolmap db upgrade`"
        )


def upgrade_database(url: str) -> list[Migration]:
    """Apply every pending migration to the database at `url`; return those applied."""
    conn = connect(url)
    try:
        applied = upgrade(conn)
        conn.commit()
        return applied
    finally:
        conn.close()
