"""Running, comparing, publishing and exporting allocation runs of a demo-city round."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg2.errors
import pytest

from allocation.errors import ProblemError
from gis_service import audit
from gis_service.admissions.exports import export_run
from gis_service.admissions.run_changes import changes_between
from gis_service.admissions.runs import (
    compare_runs,
    publish_run,
    run_round,
    verify_run,
)
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ConflictError, NotFoundError
from tests.round_helpers import DemoRound

Loaded = DemoRound


def count(conn: Connection, query: str, *args: object) -> int:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return int(cur.fetchone()[0])


def test_runs_are_stored_whole_and_reproducible(closed_round: Loaded) -> None:
    first = run_round(
        closed_round.conn,
        closed_round.routing,
        closed_round.round_id,
        "nearest",
        seed=11,
    )
    again = run_round(
        closed_round.conn,
        closed_round.routing,
        closed_round.round_id,
        "nearest",
        seed=11,
    )
    assert first.run_id != again.run_id
    assert (first.input_hash, first.output_hash) == (again.input_hash, again.output_hash)
    assert first.status == "optimal"
    stored = count(
        closed_round.conn, "SELECT count(*) FROM assignments WHERE run_id = %s", first.run_id
    )
    assert stored == first.metrics["applicants"] == 3000
    placed = count(
        closed_round.conn,
        "SELECT count(*) FROM assignments WHERE run_id = %s AND school_id IS NOT NULL",
        first.run_id,
    )
    assert placed == first.metrics["placed"]
    # No school over its seats, counted from the stored rows.
    assert (
        count(
            closed_round.conn,
            """
        SELECT count(*) FROM (SELECT x.school_id, count(*) AS used FROM assignments x
            WHERE x.run_id = %s AND x.school_id IS NOT NULL GROUP BY 1) u
        JOIN school_grades g ON g.school_id = u.school_id AND g.grade = 1
        WHERE u.used > g.classes * g.class_size""",
            first.run_id,
        )
        == 0
    )


def test_a_failed_run_leaves_earlier_runs_intact(closed_round: Loaded) -> None:
    before = count(closed_round.conn, "SELECT count(*) FROM assignments")
    runs = count(closed_round.conn, "SELECT count(*) FROM allocation_runs")
    with pytest.raises(ProblemError, match="unknown mechanism"):
        run_round(
            closed_round.conn,
            closed_round.routing,
            closed_round.round_id,
            "lottery",
            seed=1,
        )
    assert count(closed_round.conn, "SELECT count(*) FROM assignments") == before
    assert count(closed_round.conn, "SELECT count(*) FROM allocation_runs") == runs


def test_mechanisms_side_by_side(closed_round: Loaded) -> None:
    runs = {
        m: run_round(closed_round.conn, closed_round.routing, closed_round.round_id, m, seed=3)
        for m in ("nearest", "da", "greedy")
    }
    table = compare_runs(closed_round.conn, [r.run_id for r in runs.values()])
    by_mechanism = {row["mechanism"]: row for row in table}
    assert [row["run"] for row in table] == [r.run_id for r in runs.values()]
    assert by_mechanism["nearest"]["mean_cost"] <= by_mechanism["greedy"]["mean_cost"]
    assert by_mechanism["da"]["children_with_justified_envy"] == 0
    assert all(row["classes_over_size"] == 0 for row in table)
    # Who changes school from the nearest run to deferred acceptance, counted three ways.
    moved = changes_between(closed_round.conn, runs["nearest"].run_id, runs["da"].run_id)
    differ = count(
        closed_round.conn,
        "SELECT count(*) FROM assignments x JOIN assignments y ON y.applicant_id = x.applicant_id"
        " AND y.run_id = %s WHERE x.run_id = %s AND x.school_id IS DISTINCT FROM y.school_id",
        runs["da"].run_id,
        runs["nearest"].run_id,
    )
    assert moved["changed"] == differ == len(moved["children_changed"]) > 0
    assert sum(moved["by_unit"].values()) == differ
    assert sum(r["leaving"] for r in moved["by_school"]) == differ
    assert sum(r["arriving"] for r in moved["by_school"]) == differ
    assert all(m["from_school"] != m["to_school"] for m in moved["children_changed"])
    assert changes_between(closed_round.conn, runs["da"].run_id, runs["da"].run_id)["changed"] == 0


def test_runs_and_publication_are_in_the_audit_log(closed_round: Loaded) -> None:
    run = run_round(
        closed_round.conn,
        closed_round.routing,
        closed_round.round_id,
        "greedy",
        seed=8,
        actor="officer-q1",
        remote_addr="10.0.0.7",
    )
    logged = audit.entries(closed_round.conn, target=f"run:{run.run_id}")
    assert [(e.actor, e.action, e.remote_addr) for e in logged] == [
        ("officer-q1", "round.run", "10.0.0.7")
    ]
    assert logged[0].detail["output_hash"] == run.output_hash
    assert logged[0].detail["seed"] == 8
    created = audit.entries(closed_round.conn, target=f"round:{closed_round.round_id}")
    assert [e.action for e in created] == [
        "round.create",
        "round.import_applicants",
        "round.open",
        "round.close",
    ]
    assert (created[1].detail["applicants"], created[1].detail["eligible"]) == (5500, 3000)
    with savepoint(closed_round.conn), closed_round.conn.cursor() as cur:
        cur.execute("SAVEPOINT before_tamper")
        with pytest.raises(psycopg2.errors.RaiseException, match="append-only"):
            cur.execute(
                "UPDATE audit_log SET actor = 'someone else' WHERE id = %s", (logged[0].id,)
            )
        cur.execute("ROLLBACK TO SAVEPOINT before_tamper")


def test_a_stored_run_verifies_and_a_changed_input_is_named(closed_round: Loaded) -> None:
    run = run_round(closed_round.conn, closed_round.routing, closed_round.round_id, "da", seed=21)
    verified = verify_run(closed_round.conn, closed_round.routing, run.run_id)
    assert verified.ok and verified.problems == ()
    assert (verified.input_hash, verified.output_hash) == (run.input_hash, run.output_hash)
    with savepoint(closed_round.conn), closed_round.conn.cursor() as cur:
        cur.execute("SAVEPOINT change_seats")
        cur.execute(
            "UPDATE school_grades SET classes = classes + 1 "
            "WHERE grade = 1 AND school_id = (SELECT min(school_id) FROM school_grades "
            "WHERE grade = 1 AND classes > 0)"
        )
        changed = verify_run(closed_round.conn, closed_round.routing, run.run_id)
        cur.execute("ROLLBACK TO SAVEPOINT change_seats")
    assert not changed.ok and not changed.same_input and changed.output_hash is None
    assert "changed since the run" in changed.problems[0]
    with pytest.raises(NotFoundError, match="no run with id 999999"):
        verify_run(closed_round.conn, closed_round.routing, 999999)


def test_a_run_its_check_and_its_export_report_each_step(
    closed_round: Loaded, tmp_path: Path
) -> None:
    """The officer sees what a long step is doing: the problem's size, the time the last run
    of the mechanism took, and the children stored and exported."""
    said: list[str] = []
    first = run_round(closed_round.conn, closed_round.routing, closed_round.round_id, "da", seed=5)
    run = run_round(
        closed_round.conn,
        closed_round.routing,
        closed_round.round_id,
        "da",
        seed=5,
        progress=said.append,
    )
    assert said[0].startswith("dựng bài toán")
    assert said[1].startswith("  3,000 trẻ / children × ") and "xong / done" in said[1]
    assert said[2].startswith("xếp trường / allocating (da), lần trước mất khoảng ")
    assert said[-1].startswith("lưu kết quả / storing, trẻ / children: 3,000 (xong / done, ")
    said.clear()
    assert verify_run(
        closed_round.conn, closed_round.routing, first.run_id, progress=said.append
    ).ok
    assert said[0].startswith("dựng bài toán") and said[2].startswith("xếp trường")
    said.clear()
    export_run(closed_round.conn, run.run_id, tmp_path / "run.csv", None, progress=said.append)
    assert said[-1].startswith("xuất / exporting, trẻ / children: 3,000 (xong / done, ")


def test_publish_once_then_export(closed_round: Loaded, tmp_path: Path) -> None:
    run = run_round(closed_round.conn, closed_round.routing, closed_round.round_id, "da", seed=5)
    publish_run(closed_round.conn, run.run_id, actor="officer-q1")
    actions = [
        (e.action, e.actor) for e in audit.entries(closed_round.conn, target=f"run:{run.run_id}")
    ]
    assert actions == [("round.run", "system"), ("round.publish", "officer-q1")]
    published = audit.entries(closed_round.conn, action_prefix="round.publish")[-1]
    assert published.detail == {
        "round": closed_round.round_id,
        "output_hash": run.output_hash,
        "refused_elsewhere": 0,
    }
    with pytest.raises(ConflictError, match="it is published"):
        publish_run(closed_round.conn, run.run_id)
    with pytest.raises(ConflictError, match="it is published"):
        run_round(
            closed_round.conn,
            closed_round.routing,
            closed_round.round_id,
            "nearest",
            seed=5,
        )
    written = export_run(closed_round.conn, run.run_id, tmp_path / "r.csv", tmp_path / "r.geojson")
    assert written == 3000
    with (tmp_path / "r.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3000 and all(r["reason"] for r in rows)
    placed = [r for r in rows if r["school_id"]]
    assert all(int(r["distance_m"]) >= 0 for r in placed)
    features = json.loads((tmp_path / "r.geojson").read_text(encoding="utf-8"))["features"]
    assert len(features) == 3000
    assert {"reason", "passed_over"} <= set(features[0]["properties"]["explanation"])
