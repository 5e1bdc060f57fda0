"""Deleting a finished round's personal data: what goes, what stays, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis_service import audit
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.next_round import open_next_round
from gis_service.admissions.retention import purge_round
from gis_service.admissions.rounds import create_round
from gis_service.admissions.runs import publish_run, run_round, verify_run
from gis_service.db.connection import Connection
from gis_service.errors import ConflictError, InvalidRequestError
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.conftest import rolled_back


def count(conn: Connection, query: str, *args: object) -> int:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return int(cur.fetchone()[0])


def test_a_published_round_is_purged_to_its_aggregate_record(
    demo_db_url: str, demo_home: Path, tmp_path: Path
) -> None:
    routing = RoutingService(tmp_path)
    with rolled_back(demo_db_url) as conn:
        made = create_round(conn, name="Lớp 6", grade=6, school_year="2025-2026", districts=["902"])
        import_applicants(
            conn, made.round_id, demo_home / "demo" / "households.csv", b"k", no_progress
        )
        applicants = count(conn, "SELECT count(*) FROM applicants")
        set_round_status(conn, made.round_id, "open")
        set_round_status(conn, made.round_id, "closed")
        run = run_round(conn, routing, made.round_id, "nearest", seed=3)
        with pytest.raises(ConflictError, match="needs a round that is published"):
            purge_round(conn, made.round_id)
        publish_run(conn, run.run_id)
        second = open_next_round(conn, made.round_id)
        with pytest.raises(InvalidRequestError, match="finish it first"):
            purge_round(conn, made.round_id)
        set_round_status(conn, second.the_round.round_id, "open")
        set_round_status(conn, second.the_round.round_id, "closed")
        second_run = run_round(conn, routing, second.the_round.round_id, "nearest", seed=3)
        publish_run(conn, second_run.run_id)

        purged = purge_round(conn, made.round_id, actor="admin", remote_addr="10.1.1.1")
        assert purged.applications == 5500
        assert purged.assignments == run.metrics["applicants"]
        # Children carried into round 2 keep their applicant row until round 2 is purged.
        assert purged.applicants == applicants - second.carried
        assert (
            count(conn, "SELECT count(*) FROM applications WHERE round_id = %s", made.round_id) == 0
        )
        assert (
            count(
                conn,
                "SELECT count(*) FROM allocation_runs WHERE id = %s AND metrics ? 'mean_cost' "
                "AND output_hash IS NOT NULL",
                run.run_id,
            )
            == 1
        )
        with pytest.raises(InvalidRequestError, match="can no longer be solved again"):
            verify_run(conn, routing, run.run_id)
        with pytest.raises(ConflictError, match="it is archived"):
            run_round(conn, routing, made.round_id, "da", seed=3)
        logged = audit.entries(conn, action_prefix="round.purge")
        assert [(e.actor, e.target, e.remote_addr) for e in logged] == [
            ("admin", f"round:{made.round_id}", "10.1.1.1")
        ]

        again = purge_round(conn, second.the_round.round_id)
        assert again.applicants == second.carried
        assert count(conn, "SELECT count(*) FROM applicants") == 0
