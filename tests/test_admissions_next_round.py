"""Round 2 on the demo city: children left and seats left after a published round 1."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gis_service import audit
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.next_round import open_next_round
from gis_service.admissions.rounds import create_round
from gis_service.admissions.runs import publish_run, run_round
from gis_service.admissions.seats import seats_taken_before
from gis_service.db.connection import Connection
from gis_service.errors import ConflictError
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.conftest import rolled_back


@dataclass
class FirstRound:
    conn: Connection
    routing: RoutingService
    round_id: int
    run_id: int
    households: list[dict[str, str]]
    area: set[str]


@pytest.fixture(scope="module")
def first(
    demo_db_url: str, demo_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstRound]:
    """Round 1 for grade 1 in district 901 with two classes per primary school, run (the
    schools near the district fill up; seats are left farther out)."""
    households = demo_home / "demo" / "households.csv"
    with rolled_back(demo_db_url) as conn:
        with conn.cursor() as cur:
            cur.execute("UPDATE school_grades SET classes = 2 WHERE grade = 1 AND classes > 0")
        made = create_round(
            conn, name="Lớp 1 Quận 901", grade=1, school_year="2025-2026", districts=["901"]
        )
        import_applicants(conn, made.round_id, households, b"k", no_progress)
        set_round_status(conn, made.round_id, "open")
        set_round_status(conn, made.round_id, "closed")
        routing = RoutingService(tmp_path_factory.mktemp("home"))
        run = run_round(conn, routing, made.round_id, "nearest", seed=4)
        with households.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        yield FirstRound(conn, routing, made.round_id, run.run_id, rows, set(made.ward_codes))


def count(conn: Connection, query: str, *args: object) -> int:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return int(cur.fetchone()[0])


def test_only_a_published_round_has_a_next_round(first: FirstRound) -> None:
    with pytest.raises(ConflictError, match="needs a round that is published"):
        open_next_round(first.conn, first.round_id)
    publish_run(first.conn, first.run_id)


def test_round_two_takes_the_children_left_and_drops_the_residence_rule(
    first: FirstRound,
) -> None:
    placed_in_one = count(
        first.conn,
        "SELECT count(*) FROM assignments WHERE run_id = %s AND school_id IS NOT NULL",
        first.run_id,
    )
    eligible_in_one = count(
        first.conn,
        "SELECT count(*) FROM applications WHERE round_id = %s AND status = 'eligible'",
        first.round_id,
    )
    assert 0 < placed_in_one <= eligible_in_one
    made = open_next_round(first.conn, first.round_id, actor="officer-q1")
    born_2019 = [r for r in first.households if r["birth_date"].startswith("2019")]
    outside = sum(1 for r in born_2019 if r["ward_code"] not in first.area)
    assert made.the_round.round_number == 2
    assert made.carried == len(first.households) - placed_in_one
    assert made.newly_eligible == outside
    assert made.eligible == outside + eligible_in_one - placed_in_one
    # Nobody placed in round 1 is in round 2.
    assert (
        count(
            first.conn,
            """
            SELECT count(*) FROM applications a JOIN assignments x
              ON x.applicant_id = a.applicant_id AND x.run_id = %s AND x.school_id IS NOT NULL
            WHERE a.round_id = %s""",
            first.run_id,
            made.the_round.round_id,
        )
        == 0
    )
    logged = audit.entries(first.conn, target=f"round:{made.the_round.round_id}")
    assert [(e.action, e.actor) for e in logged] == [("round.open_next", "officer-q1")]
    assert logged[0].detail["newly_eligible"] == outside
    with pytest.raises(ConflictError, match="already has a next round"):
        open_next_round(first.conn, first.round_id)


def test_round_two_fills_only_the_seats_left(first: FirstRound) -> None:
    with first.conn.cursor() as cur:
        cur.execute("SELECT id FROM rounds WHERE parent_round_id = %s", (first.round_id,))
        second = int(cur.fetchone()[0])
    taken = seats_taken_before(first.conn, second)
    assert sum(taken.values()) == count(
        first.conn,
        "SELECT count(*) FROM assignments WHERE run_id = %s AND school_id IS NOT NULL",
        first.run_id,
    )
    set_round_status(first.conn, second, "open")
    set_round_status(first.conn, second, "closed")
    run = run_round(first.conn, first.routing, second, "nearest", seed=4)
    assert run.metrics["placed"] > 0
    # Over both rounds, no school gives more seats than its classes hold.
    over = count(
        first.conn,
        """
        SELECT count(*) FROM (
            SELECT x.school_id, count(*) AS used FROM assignments x
            WHERE x.run_id IN (%s, %s) AND x.school_id IS NOT NULL GROUP BY 1) u
        JOIN school_grades g ON g.school_id = u.school_id AND g.grade = 1
        WHERE u.used > g.classes * g.class_size""",
        first.run_id,
        run.run_id,
    )
    assert over == 0
    full_after_one = [s for s, n in taken.items() if n >= 70]
    assert full_after_one, "round 1 filled some schools"
    assert (
        count(
            first.conn,
            "SELECT count(*) FROM assignments WHERE run_id = %s AND school_id = ANY(%s)",
            run.run_id,
            full_after_one,
        )
        == 0
    )


def test_a_child_placed_in_round_one_is_refused_if_imported_again(
    first: FirstRound, demo_home: Path
) -> None:
    """Regression: re-importing the district's file into round 2 placed children twice."""
    with first.conn.cursor() as cur:
        cur.execute("SELECT id FROM rounds WHERE parent_round_id = %s", (first.round_id,))
        second = int(cur.fetchone()[0])
    placed_in_one = count(
        first.conn,
        "SELECT count(*) FROM assignments WHERE run_id = %s AND school_id IS NOT NULL",
        first.run_id,
    )
    set_round_status(first.conn, second, "open")  # reopened for late applicants
    report = import_applicants(
        first.conn, second, demo_home / "demo" / "households.csv", b"k", no_progress
    )
    assert report.counts["reason: already_placed"] == placed_in_one
    refused = count(
        first.conn,
        """
        SELECT count(*) FROM applications a JOIN assignments x
          ON x.applicant_id = a.applicant_id AND x.run_id = %s AND x.school_id IS NOT NULL
        WHERE a.round_id = %s AND a.status = 'rejected'
          AND a.rejection_reasons @> '[{"code": "already_placed"}]'""",
        first.run_id,
        second,
    )
    assert refused == placed_in_one
    # The round-1 round itself is not affected: its own placements are its own.
    with first.conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM applications WHERE round_id = %s AND status = 'eligible'",
            (first.round_id,),
        )
        assert cur.fetchone()[0] > 0
