"""A run's export and a parent's result explain each child in Vietnamese, schools by name and
code, with the English beside it; a family that ranked one school never reads "2nd choice"."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.applications import published_result
from gis_service.admissions.explain_vi import WHY_VI, explain_vi
from gis_service.admissions.exports import export_run
from gis_service.admissions.rounds import create_round
from gis_service.admissions.run_store import EXPLANATION_COLUMNS, stored_explanation
from gis_service.admissions.runs import run_round
from gis_service.db.connection import Connection
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.test_export_safety import households_in


@pytest.fixture(scope="module")
def routing(demo_home: Path) -> RoutingService:
    return RoutingService(demo_home)


INTERNAL = re.compile(r"nhóm ưu tiên \d|\btier\b|\bDA\b|\bschool \d|trường số \d", re.IGNORECASE)


def one_school_ranked_run(conn: Connection, demo_home: Path, routing: RoutingService) -> int:
    """A deferred-acceptance run where every family ranked the same school, of two seats."""
    path = demo_home / "ranked-one.csv"
    path.write_text(households_in(conn, demo_home, "901", 40), encoding="utf-8")
    made = create_round(
        conn, name="Lớp 1 Quận 901", grade=1, school_year="2025-2026", districts=["901"]
    )
    import_applicants(conn, made.round_id, path, b"k", no_progress)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT s.id FROM schools s JOIN school_grades g ON g.school_id = s.id "
            "WHERE g.grade = 1 AND g.classes > 0 AND 'tieu_hoc' = ANY(s.levels) ORDER BY s.id "
            "LIMIT 1"
        )
        school = cur.fetchone()[0]  # type: ignore[index]
        cur.execute(
            "UPDATE school_grades SET classes = 1, class_size = 2 WHERE school_id = %s "
            "AND grade = 1",
            (school,),
        )
        cur.execute(
            "UPDATE applications SET preferences = ARRAY[%s]::integer[] WHERE round_id = %s",
            (school, made.round_id),
        )
        cur.execute("UPDATE rounds SET status = 'closed' WHERE id = %s", (made.round_id,))
    return run_round(conn, routing, made.round_id, "da", seed=3).run_id


def test_export_reasons_are_vietnamese_with_names_and_codes(
    demo_db: Connection, demo_home: Path, routing: RoutingService, tmp_path: Path
) -> None:
    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    export_run(demo_db, run_id, tmp_path / "run.csv", None)
    content = (tmp_path / "run.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert rows and {"reason", "reason_en", "passed_over"} <= set(rows[0])
    with demo_db.cursor() as cur:
        cur.execute("SELECT name, code FROM schools WHERE code IS NOT NULL")
        known = cur.fetchall()
    codes = {code for _, code in known}
    elsewhere = 0
    for row in rows:
        assert row["reason"].startswith(("Con được xếp", "Con chưa", "Con không")), row["reason"]
        assert row["reason_en"].startswith(("Placed at", "Not placed")), row["reason_en"]
        for text in (row["reason"], row["reason_en"]):
            assert not INTERNAL.search(text), text
            assert "2nd choice" not in text and "nguyện vọng 2" not in text
        if row["school_name"]:
            assert f"{row['school_name']} (mã {row['school_code']})" in row["reason"]
        # Grouped by why, in Vietnamese words; each school by its code and distance.
        for group in filter(None, row["passed_over"].split("; ")):
            why, schools = group.split(": ", 1)
            assert why in WHY_VI.values(), group
            for item in schools.split(", "):
                assert re.fullmatch(r"(\S+) \((\d{1,3}(\.\d{3})*) m\)", item), item
                assert item.split(" (")[0] in codes, item
        if "không phải trường gia đình đăng ký nguyện vọng" in row["reason"]:
            elsewhere += 1
            assert "not one of the schools you ranked" in row["reason_en"]
    # Two seats at the ranked school: every other child placed was placed elsewhere.
    placed = [row for row in rows if row["school_name"]]
    assert elsewhere == len(placed) - 2 > 0


def test_a_parent_who_ranked_one_school_reads_where_the_child_went(
    demo_db: Connection, demo_home: Path, routing: RoutingService
) -> None:
    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    with demo_db.cursor() as cur:
        cur.execute("UPDATE allocation_runs SET published_at = now() WHERE id = %s", (run_id,))
        cur.execute(
            "SELECT run.round_id, x.applicant_id, a.preferences FROM assignments x "
            "JOIN allocation_runs run ON run.id = x.run_id "
            "JOIN applications a ON a.round_id = run.round_id AND a.applicant_id = x.applicant_id "
            "WHERE x.run_id = %s AND x.school_id IS NOT NULL AND x.school_id <> a.preferences[1] "
            "ORDER BY x.applicant_id LIMIT 1",
            (run_id,),
        )
        round_id, applicant, preferences = cur.fetchone()  # type: ignore[misc]
    result = published_result(demo_db, round_id, applicant, list(preferences))
    assert result is not None
    vi, en = result["explanation"]["vi"], result["explanation"]["en"]
    assert vi.startswith(f"Con được xếp vào {result['school']['name']}, cách nhà ")
    assert "Đây không phải trường gia đình đăng ký nguyện vọng" in vi
    assert en.startswith(f"Placed at {result['school']['name']}, ")
    assert "It is not one of the schools you ranked" in en
    assert "choice" not in en.replace("order of choices", "")
    ranked = [p for p in result["explanation"]["passed_over"] if p["school_id"] == preferences[0]]
    assert len(ranked) == 1 and ranked[0]["vi"] and ranked[0]["en"]
    for text in (vi, en, ranked[0]["vi"], ranked[0]["en"]):
        assert not INTERNAL.search(text), text


def test_a_brief_summary_names_three_schools_and_counts_the_rest() -> None:
    """The CSV's summary names the first schools of a list and counts the others (the next
    column lists them all); the parent's full text names every one."""
    passed = [
        {"school_id": 10 + k, "cost": 500 + k, "why": "full", "cutoff": {}, "ranked": False}
        for k in range(5)
    ]
    explanation = {"school_id": 99, "cost": 900, "ranked": 0, "choice": None, "passed_over": passed}
    names = {10 + k: f"Trường {k}" for k in range(5)} | {99: "Trường Xa"}
    brief = explain_vi(explanation, "da", names, brief=True)
    assert brief["summary"].endswith(
        "Các trường gần nhà hơn đều đã hết chỗ: Trường 0, Trường 1, Trường 2, và 2 trường khác."
    )
    assert brief["summary_en"].endswith(
        "The nearer schools were all full: Trường 0, Trường 1, Trường 2, and 2 more."
    )
    assert brief["passed_over"] == [] and brief["text"] == brief["summary"]
    full = explain_vi(explanation, "da", names)
    assert "Trường 3, Trường 4." in full["summary"] and len(full["passed_over"]) == 5


def test_runs_stored_before_the_arrays_read_the_same(
    demo_db: Connection, demo_home: Path, routing: RoutingService, tmp_path: Path
) -> None:
    """A run stored with one JSON object per school passed over (before migration 0012) is
    exported, word for word, as the same run stored as arrays."""
    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    export_run(demo_db, run_id, tmp_path / "arrays.csv", None)
    with demo_db.cursor() as cur:
        cur.execute(
            f"SELECT x.applicant_id, x.school_id, x.cost, r.passed_kinds, {EXPLANATION_COLUMNS} "
            "FROM assignments x JOIN allocation_runs r ON r.id = x.run_id WHERE x.run_id = %s",
            (run_id,),
        )
        rows = cur.fetchall()
        assert rows and any(row[4] for row in rows)  # some children passed schools over
        for applicant, school, cost, kinds, *columns in rows:
            told = stored_explanation(columns, school, cost, kinds)
            told["passed_over"] = [dict(entry) for entry in told["passed_over"]]
            cur.execute(
                "UPDATE assignments SET explanation = %s, passed_school = NULL, "
                "passed_cost = NULL, passed_kind = NULL, passed_fields = NULL "
                "WHERE run_id = %s AND applicant_id = %s",
                (json.dumps(told, ensure_ascii=False), run_id, applicant),
            )
        cur.execute("UPDATE allocation_runs SET passed_kinds = NULL WHERE id = %s", (run_id,))
    export_run(demo_db, run_id, tmp_path / "json.csv", None)
    arrays = (tmp_path / "arrays.csv").read_text(encoding="utf-8-sig")
    assert (tmp_path / "json.csv").read_text(encoding="utf-8-sig") == arrays


def test_a_run_not_yet_committed_exports_in_parts_as_in_one(
    demo_db: Connection,
    demo_home: Path,
    routing: RoutingService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Other processes cannot see a run the caller has not committed: each of their parts
    comes back short and is written by the caller, so the files are still whole."""
    from gis_service.admissions import exports

    run_id = one_school_ranked_run(demo_db, demo_home, routing)
    export_run(demo_db, run_id, tmp_path / "one.csv", tmp_path / "one.geojson")
    monkeypatch.setattr(exports, "PARALLEL_FROM", 1)
    said: list[str] = []
    export_run(
        demo_db,
        run_id,
        tmp_path / "parts.csv",
        tmp_path / "parts.geojson",
        workers=3,
        progress=said.append,
    )
    assert any("exporting in 3 parts at once" in line for line in said), said
    assert [line for line in said if "written here" in line] == [
        line for line in said if line.startswith(("phần 2 viết lại", "phần 3 viết lại"))
    ]
    assert len([line for line in said if "written here" in line]) == 2
    for suffix in ("csv", "geojson"):
        one = (tmp_path / f"one.{suffix}").read_bytes()
        assert one == (tmp_path / f"parts.{suffix}").read_bytes()
    json.loads((tmp_path / "parts.geojson").read_text(encoding="utf-8"))
