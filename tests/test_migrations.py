"""Migrations on a real PostGIS: schema created once, changes refused, audit log append-only."""

from __future__ import annotations

import os

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

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


def test_unit_editions_keep_what_was_stored_before() -> None:
    """A database of 2019 units, a round and a district officer, made before unit editions,
    keeps all of it: every unit becomes a 2019 unit with its type, the round and the officer's
    area keep their units, and a 2025 unit with a 2019 unit's code can then be added."""
    from psycopg2 import sql

    from gis_service.db.local_server import ensure_database
    from tests.conftest import server_url

    name = "schoolmap_test_editions" + os.environ.get("SCHOOLMAP_TEST_DB_SUFFIX", "")
    url = server_url(name)
    admin = psycopg2.connect(make_dsn(url, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()
    ensure_database(url)
    conn = connect(url)
    try:
        upgrade(conn, up_to=10)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO admin_units (level, code, name, name_folded) VALUES "
                "('province', '79', 'Thành phố Hồ Chí Minh', 'thanh pho ho chi minh') RETURNING id"
            )
            province = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO admin_units (level, code, name, name_folded, parent_id) VALUES "
                "('district', '760', 'Quận 1', 'quan 1', %s) RETURNING id",
                (province,),
            )
            district = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO admin_units (level, code, name, name_folded, parent_id) VALUES "
                "('ward', '26740', 'Phường Bến Nghé', 'phuong ben nghe', %s) RETURNING id",
                (district,),
            )
            ward = cur.fetchone()[0]  # type: ignore[index]
            cur.execute("INSERT INTO admin_population VALUES (%s, 2019, 10633, 'census')", (ward,))
            cur.execute(
                "INSERT INTO rounds (name, grade, school_year, admission_year, area_unit_ids) "
                "VALUES ('Lớp 1 Quận 1', 1, '2025-2026', 2025, %s) RETURNING id",
                ([ward],),
            )
            round_id = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "INSERT INTO users (username, password_hash, role, area_unit_ids) "
                "VALUES ('can.bo.q1', 'x', 'district_officer', %s)",
                ([district],),
            )
        conn.commit()
        assert [m.version for m in upgrade(conn)] == [
            m.version for m in load_migrations() if m.version > 10
        ]
        with conn.cursor() as cur:
            cur.execute(
                "SELECT level, edition, unit_type, short_folded FROM admin_units ORDER BY id"
            )
            assert cur.fetchall() == [
                ("province", "2019", "thanh_pho_tw", "ho chi minh"),
                ("district", "2019", "quan", "1"),
                ("ward", "2019", "phuong", "ben nghe"),
            ]
            cur.execute("SELECT population FROM admin_population WHERE admin_unit_id = %s", (ward,))
            assert cur.fetchone() == (10633,)
            cur.execute("SELECT edition, area_unit_ids FROM rounds WHERE id = %s", (round_id,))
            assert cur.fetchone() == ("2019", [ward])
            cur.execute("SELECT area_unit_ids FROM users WHERE username = 'can.bo.q1'")
            assert cur.fetchone() == ([district],)
            cur.execute(
                "INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded) "
                "VALUES ('2025', 'ward', '26740', 'Phường Sài Gòn', 'phuong sai gon', 'sai gon')"
            )
            with pytest.raises(psycopg2.errors.UniqueViolation):
                cur.execute(
                    "INSERT INTO admin_units (edition, level, code, name, name_folded, "
                    "short_folded) VALUES ('2025', 'ward', '26740', 'x', 'x', 'x')"
                )
        conn.rollback()
    finally:
        conn.close()
