"""Backups that restore: the whole service state dumped, restored into a new database, and
found the same: the same public answers and a stored run that verifies with its hashes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from psycopg2.extensions import make_dsn, parse_dsn
from typer.testing import CliRunner

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.admissions.runs import run_round, verify_run
from gis_service.api.app import create_app
from gis_service.cli import app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import connect
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.browser_support import copy_database, drop_database
from tests.conftest import SingleConnection, table_counts

PUBLIC = (
    "/schools?limit=5000",
    "/wards",
    "/planning/forecast?years=2026-2027&grade=1",
    "/open-data/units?format=csv",
)


def public_answers(url: str, home: Path) -> dict[str, bytes]:
    conn = connect(url)
    try:
        settings = Settings(database=DatabaseSettings(home=home))
        with TestClient(create_app(settings, pool=SingleConnection(conn))) as client:
            return {path: client.get(path).content for path in PUBLIC}
    finally:
        conn.close()


def test_a_backup_restores_into_a_new_database_with_the_same_answers_and_runs(
    demo_db_url: str, demo_home: Path, tmp_path: Path
) -> None:
    source = copy_database(demo_db_url, "_backup_source")
    target = make_dsn(source, dbname=parse_dsn(source)["dbname"] + "_restored")
    drop_database(target)
    routing = RoutingService(demo_home)
    try:
        conn = connect(source)
        try:
            made = create_round(
                conn, name="Lớp 1 sao lưu", grade=1, school_year="2025-2026", districts=["901"]
            )
            households = demo_home / "demo" / "households.csv"
            import_applicants(conn, made.round_id, households, b"k" * 32, no_progress)
            set_round_status(conn, made.round_id, "open")
            set_round_status(conn, made.round_id, "closed")
            conn.commit()
            ran = run_round(conn, routing, made.round_id, "da", seed=2025)
            conn.commit()
            counted = table_counts(conn)
        finally:
            conn.close()
        before = public_answers(source, demo_home)

        dump = tmp_path / "schoolmap.backup"
        saved = CliRunner().invoke(app, ["db", "backup", str(dump)], env={"DATABASE_URL": source})
        assert saved.exit_code == 0, saved.output
        assert f"backed up to {dump}" in saved.output and dump.stat().st_size > 100_000
        restored = CliRunner().invoke(
            app, ["db", "restore", str(dump)], env={"DATABASE_URL": target}
        )
        assert restored.exit_code == 0, restored.output

        conn = connect(target)
        try:
            assert table_counts(conn) == counted
            checked = verify_run(conn, routing, ran.run_id)
        finally:
            conn.close()
        assert checked.same_input and checked.same_output and not checked.problems
        assert checked.output_hash == checked.stored_output_hash
        assert public_answers(target, demo_home) == before
        # A database that already holds the service is never restored over.
        again = CliRunner().invoke(app, ["db", "restore", str(dump)], env={"DATABASE_URL": target})
        assert again.exit_code == 1 and "already holds a schoolmap database" in str(again.exception)
        missing = CliRunner().invoke(
            app, ["db", "restore", str(tmp_path / "none")], env={"DATABASE_URL": target}
        )
        assert "no backup file at" in str(missing.exception)
    finally:
        drop_database(target)
        drop_database(source)
