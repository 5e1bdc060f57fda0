"""Migrations on a real PostGIS: schema created once, changes refused, audit log append-only."""

from __future__ import annotations

import psycopg2
import pytest

from gis_service.db.connection import Connection, connect
from gis_service.db.migrate import (
    Migration,
    load_migrations,
    pending_migrations,
    require_current_schema,
    upgrade,
)
from gis_service.errors import DatabaseSetupError

TABLES = {
    "admin_units",
    "admin_population",
    "admin_population_by_age",
    "schools",
    "school_grades",
    "osm_extracts",
    "road_ways",
    "road_networks",
    "road_nodes",
    "road_edges",
    "users",
    "rounds",
    "applicants",
    "applications",
    "allocation_runs",
    "assignments",
    "audit_log",
    "schema_migrations",
}


def test_schema_has_every_table_and_postgis(db: Connection) -> None:
    with db.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT postgis_lib_version()")
        assert cur.fetchone()[0].startswith("3.")
        cur.execute("SELECT Find_SRID('public', 'schools', 'geom')")
        assert cur.fetchone()[0] == 4326
    assert tables >= TABLES


def test_second_upgrade_applies_nothing(empty_db_url: str) -> None:
    conn = connect(empty_db_url)
    try:
        assert upgrade(conn) == []
        assert pending_migrations(conn) == []
        require_current_schema(conn)
    finally:
        conn.close()


def test_migration_versions_are_numbered_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


def test_an_edited_applied_migration_is_refused(
    db: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = load_migrations()
    edited = [Migration(m.version, m.name, m.sql + "\n-- edited") for m in original]
    monkeypatch.setattr("gis_service.db.migrate.load_migrations", lambda: edited)
    with pytest.raises(DatabaseSetupError, match="changed after it was applied"):
        pending_migrations(db)


def test_a_new_database_reports_pending_migrations(db: Connection) -> None:
    with db.cursor() as cur:
        cur.execute("CREATE SCHEMA empty_probe")
        cur.execute("SET search_path TO empty_probe")
    with pytest.raises(DatabaseSetupError, match="schoolmap db upgrade"):
        require_current_schema(db)


def test_audit_log_is_append_only(db: Connection) -> None:
    with db.cursor() as cur:
        cur.execute("INSERT INTO audit_log (actor, action) VALUES ('tester', 'login')")
        cur.execute("SAVEPOINT before_update")
        with pytest.raises(psycopg2.errors.RaiseException, match="append-only"):
            cur.execute("UPDATE audit_log SET actor = 'someone else'")
        cur.execute("ROLLBACK TO SAVEPOINT before_update")
        with pytest.raises(psycopg2.errors.RaiseException, match="append-only"):
            cur.execute("DELETE FROM audit_log")


def test_school_levels_are_constrained(db: Connection) -> None:
    with db.cursor() as cur, pytest.raises(psycopg2.errors.CheckViolation):
        cur.execute(
            "INSERT INTO schools (name, name_folded, levels, geom, source) VALUES "
            "('x', 'x', ARRAY['college'], ST_SetSRID(ST_MakePoint(106, 10), 4326), 'test')"
        )
