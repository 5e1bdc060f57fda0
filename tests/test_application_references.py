"""An application's round and home unit hold as foreign keys held them (migration 0015), with
one check per statement instead of one per row, and the same locks on what they name."""

from __future__ import annotations

from pathlib import Path

import psycopg2.errors
import pytest

from gis_service.db.connection import Connection, savepoint
from gis_service.routing.service import RoutingService
from tests.conftest import rolled_back
from tests.round_helpers import one
from tests.test_export_reasons import one_school_ranked_run


@pytest.fixture(scope="module")
def routing(demo_home: Path) -> RoutingService:
    return RoutingService(demo_home)


def a_round_with_applications(conn: Connection, demo_home: Path, routing: RoutingService) -> int:
    run_id = one_school_ranked_run(conn, demo_home, routing)
    return int(one(conn, "SELECT round_id FROM allocation_runs WHERE id = %s", run_id))


def copy_of_an_application(conn: Connection, round_id: int, changed: dict[str, object]) -> None:
    """Insert a copy of one of the round's applications for another child, with some columns
    changed."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO applicants (child_id_hash) VALUES ('copy-of-an-application') RETURNING id"
        )
        changed = {"applicant_id": cur.fetchone()[0], **changed}  # type: ignore[index]
        columns = ["round_id", "applicant_id", "preferences", "status", "birth_date", "home"]
        columns.append("ward_id")
        values = [f"%({c})s" if c in changed else c for c in columns]
        cur.execute(
            f"INSERT INTO applications ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM applications WHERE round_id = %(round)s LIMIT 1",
            {"round": round_id, **changed},
        )


@pytest.mark.parametrize(("column", "missing"), [("round_id", "round"), ("ward_id", "unit")])
def test_an_application_naming_nothing_is_refused(
    demo_db: Connection, demo_home: Path, routing: RoutingService, column: str, missing: str
) -> None:
    round_id = a_round_with_applications(demo_db, demo_home, routing)
    table = {"round_id": "rounds", "ward_id": "admin_units"}[column]
    nowhere = one(demo_db, f"SELECT coalesce(max(id), 0) + 1000 FROM {table}")
    refused = pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"names {missing} {nowhere}")
    with refused, savepoint(demo_db):
        copy_of_an_application(demo_db, round_id, {column: nowhere})
    # Moving an existing application onto nothing is refused as well.
    with refused, savepoint(demo_db), demo_db.cursor() as cur:
        cur.execute(
            f"UPDATE applications SET {column} = %s WHERE round_id = %s", (nowhere, round_id)
        )
    # Without a home unit is allowed, as the key allowed NULL.
    with savepoint(demo_db):
        copy_of_an_application(demo_db, round_id, {"ward_id": None})


def test_deleting_a_round_deletes_its_applications(
    demo_db: Connection, demo_home: Path, routing: RoutingService
) -> None:
    round_id = a_round_with_applications(demo_db, demo_home, routing)
    assert one(demo_db, "SELECT count(*) FROM applications WHERE round_id = %s", round_id) > 0
    others = one(demo_db, "SELECT count(*) FROM applications WHERE round_id <> %s", round_id)
    with demo_db.cursor() as cur:
        cur.execute("DELETE FROM allocation_runs WHERE round_id = %s", (round_id,))
        cur.execute("DELETE FROM rounds WHERE id = %s", (round_id,))
    assert one(demo_db, "SELECT count(*) FROM applications WHERE round_id = %s", round_id) == 0
    assert one(demo_db, "SELECT count(*) FROM applications WHERE round_id <> %s", round_id) == (
        others
    )


def test_a_home_unit_of_an_application_cannot_be_deleted(
    demo_db: Connection, demo_home: Path, routing: RoutingService
) -> None:
    round_id = a_round_with_applications(demo_db, demo_home, routing)
    unit = one(
        demo_db,
        "SELECT ward_id FROM applications WHERE round_id = %s AND ward_id IS NOT NULL LIMIT 1",
        round_id,
    )
    refused = pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"unit {unit} is the home")
    with demo_db.cursor() as cur:
        # Everything else pointing at the unit lets go first, so only the applications hold it.
        cur.execute(
            "SELECT c.conrelid::regclass::text, a.attname, a.attnotnull FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.contype = 'f' AND c.confrelid = 'admin_units'::regclass"
        )
        for table, column, required in cur.fetchall():
            let_go = (
                "DELETE FROM {0} WHERE {1} = %s"
                if required
                else ("UPDATE {0} SET {1} = NULL WHERE {1} = %s")
            )
            cur.execute(let_go.format(table, column), (unit,))
    with refused, savepoint(demo_db), demo_db.cursor() as cur:
        cur.execute("DELETE FROM admin_units WHERE id = %s", (unit,))
    with refused, savepoint(demo_db), demo_db.cursor() as cur:
        cur.execute("UPDATE admin_units SET id = id + 100000 WHERE id = %s", (unit,))
    assert one(demo_db, "SELECT count(*) FROM admin_units WHERE id = %s", unit) == 1


def test_a_round_being_applied_to_cannot_be_deleted_until_the_applications_land(
    demo_db_url: str,
) -> None:
    """As with the foreign key, the inserting transaction holds the round it names: another
    transaction deleting that round waits, instead of leaving the applications orphaned."""
    with rolled_back(demo_db_url) as writer, rolled_back(demo_db_url) as deleter:
        with writer.cursor() as cur:
            cur.execute(
                "INSERT INTO rounds (name, grade, school_year, area_unit_ids, edition) "
                "SELECT 'giữ', 1, '2030-2031', ARRAY[min(id)], min(edition) FROM admin_units "
                "RETURNING id"
            )
            round_id = cur.fetchone()[0]  # type: ignore[index]
        writer.commit()
        try:
            with writer.cursor() as cur:
                cur.execute("INSERT INTO applicants (child_id_hash) VALUES ('held') RETURNING id")
                child = cur.fetchone()[0]  # type: ignore[index]
                cur.execute(
                    "INSERT INTO applications (round_id, applicant_id, status, birth_date, home) "
                    "VALUES (%s, %s, 'eligible', '2024-01-01', "
                    "ST_SetSRID(ST_MakePoint(106.7, 10.8), 4326))",
                    (round_id, child),
                )
            with deleter.cursor() as cur:
                cur.execute("SET lock_timeout = '300ms'")
                with pytest.raises(psycopg2.errors.LockNotAvailable):
                    cur.execute("DELETE FROM rounds WHERE id = %s", (round_id,))
        finally:
            deleter.rollback()
            writer.rollback()
            with writer.cursor() as cur:
                cur.execute("DELETE FROM rounds WHERE id = %s", (round_id,))
            writer.commit()
