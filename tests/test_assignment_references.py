"""An assignment's run, child and school hold as foreign keys held them (migration 0013), with
one check per statement instead of one per row."""

from __future__ import annotations

from pathlib import Path

import psycopg2.errors
import pytest

from gis_service.db.connection import Connection, savepoint
from gis_service.routing.service import RoutingService
from tests.round_helpers import one
from tests.test_export_reasons import one_school_ranked_run


@pytest.fixture(scope="module")
def routing(demo_home: Path) -> RoutingService:
    return RoutingService(demo_home)


def copy_of_a_row(conn: Connection, run: int, changed: dict[str, object]) -> None:
    """Insert a copy of one of the run's assignment rows with some columns changed."""
    columns = ["run_id", "applicant_id", "school_id", "cost", "explanation"]
    values = [f"%({c})s" if c in changed else c for c in columns]
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO assignments ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM assignments WHERE run_id = %(run)s "
            "AND school_id IS NOT NULL LIMIT 1",
            {"run": run, **changed},
        )


@pytest.mark.parametrize(
    ("column", "missing"),
    [("run_id", "run"), ("applicant_id", "applicant"), ("school_id", "school")],
)
def test_an_assignment_naming_nothing_is_refused(
    demo_db: Connection, demo_home: Path, routing: RoutingService, column: str, missing: str
) -> None:
    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    nowhere = one(demo_db, f"SELECT coalesce(max(id), 0) + 1000 FROM {TABLE[column]}")
    # A child the run did not place, so the copy does not repeat the row's key.
    other_child = one(
        demo_db,
        "SELECT min(id) FROM applicants p WHERE NOT EXISTS "
        "(SELECT 1 FROM assignments x WHERE x.run_id = %s AND x.applicant_id = p.id)",
        run_id,
    )
    changed: dict[str, object] = {"applicant_id": other_child, column: nowhere}
    refused = pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"names {missing} {nowhere}")
    with refused, savepoint(demo_db):
        copy_of_a_row(demo_db, run_id, changed)


TABLE = {"run_id": "allocation_runs", "applicant_id": "applicants", "school_id": "schools"}


def test_deleting_a_run_or_a_child_deletes_their_assignments(
    demo_db: Connection, demo_home: Path, routing: RoutingService
) -> None:
    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    child = one(demo_db, "SELECT applicant_id FROM assignments WHERE run_id = %s LIMIT 1", run_id)
    before = one(demo_db, "SELECT count(*) FROM assignments WHERE run_id = %s", run_id)
    with demo_db.cursor() as cur:
        cur.execute("DELETE FROM applicants WHERE id = %s", (child,))
    assert one(demo_db, "SELECT count(*) FROM assignments WHERE applicant_id = %s", child) == 0
    assert one(demo_db, "SELECT count(*) FROM assignments WHERE run_id = %s", run_id) == before - 1
    with demo_db.cursor() as cur:
        cur.execute("DELETE FROM allocation_runs WHERE id = %s", (run_id,))
    assert one(demo_db, "SELECT count(*) FROM assignments WHERE run_id = %s", run_id) == 0


def test_a_school_a_run_placed_children_at_cannot_be_deleted(
    demo_db: Connection, demo_home: Path, routing: RoutingService
) -> None:
    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    school = one(
        demo_db,
        "SELECT school_id FROM assignments WHERE run_id = %s AND school_id IS NOT NULL LIMIT 1",
        run_id,
    )
    refused = pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"school {school} is named")
    with refused, savepoint(demo_db), demo_db.cursor() as cur:
        cur.execute("DELETE FROM school_grades WHERE school_id = %s", (school,))
        cur.execute("DELETE FROM schools WHERE id = %s", (school,))
    assert one(demo_db, "SELECT count(*) FROM schools WHERE id = %s", school) == 1
