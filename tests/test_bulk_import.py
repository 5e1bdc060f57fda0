"""The bulk applicant import stores what the row-by-row import stores, field for field, on the
demo city: replacing an earlier import, parents' own applications, children placed by another
published round, homes outside the area or outside every unit, stated units that match,
differ or are unknown."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.applications import ApplicationEntry, save_application
from gis_service.admissions.identity import child_id_hash
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import Round, create_round, load_round
from gis_service.auth.users import create_user
from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.importers.report import ImportReport, no_progress

KEY = b"bulk-test-key"
YEAR = "2025-2026"
HEADER = [
    "child_id",
    "birth_date",
    "lon",
    "lat",
    "ward_code",
    "priority_group",
    "sibling_of",
    "preferences",
    "stated_unit",
]


def rows_of(conn: Connection, query: str, *args: object) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def households(demo_home: Path) -> list[dict[str, str]]:
    with (demo_home / "demo" / "households.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_file(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: row.get(name, "") for name in HEADER})
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def snapshot(conn: Connection, round_id: int) -> dict[str, dict[str, Any]]:
    """Every stored field of the round's applications (but their ids and round), by child."""
    found = rows_of(
        conn,
        "SELECT p.child_id_hash, p.guardian_id, "
        "to_jsonb(a) - 'id' - 'round_id' - 'applicant_id' "
        "FROM applications a JOIN applicants p ON p.id = a.applicant_id WHERE a.round_id = %s",
        round_id,
    )
    return {hashed: {"guardian": guardian, **fields} for hashed, guardian, fields in found}


def conflicts(conn: Connection, round_id: int) -> list[tuple[Any, ...]]:
    return rows_of(
        conn,
        "SELECT p.child_id_hash, c.source_file, c.source_line, c.fields, c.actor "
        "FROM application_conflicts c JOIN applications a ON a.id = c.application_id "
        "JOIN applicants p ON p.id = a.applicant_id WHERE c.round_id = %s "
        "ORDER BY c.id",
        round_id,
    )


def audit_counts(conn: Connection, round_id: int) -> list[Any]:
    return [
        detail
        for (detail,) in rows_of(
            conn,
            "SELECT detail FROM audit_log WHERE action = 'round.import_applicants' "
            "AND target = %s ORDER BY id",
            f"round:{round_id}",
        )
    ]


def place_in_published_round(conn: Connection, children: list[str]) -> int:
    """Another round of the grade and year, published, that placed the children."""
    other = create_round(conn, name="Đợt đã công bố", grade=1, school_year=YEAR, districts=["902"])
    school = rows_of(conn, "SELECT min(id) FROM schools")[0][0]
    run = rows_of(
        conn,
        "INSERT INTO allocation_runs (round_id, mechanism, seed, status, published_at, "
        "round_revision) "
        "VALUES (%s, 'nearest', 1, 'done', now(), 0) RETURNING id",
        other.round_id,
    )[0][0]
    for child in children:
        applicant = rows_of(
            conn,
            "INSERT INTO applicants (child_id_hash) VALUES (%s) "
            "ON CONFLICT (child_id_hash) DO UPDATE SET child_id_hash = EXCLUDED.child_id_hash "
            "RETURNING id",
            child_id_hash(child, KEY),
        )[0][0]
        rows_of(
            conn,
            "INSERT INTO assignments (run_id, applicant_id, school_id) VALUES (%s, %s, %s) "
            "RETURNING run_id",
            run,
            applicant,
            school,
        )
    return other.round_id


def parent_applies(conn: Connection, the_round: Round, parent: int, row: dict[str, str]) -> None:
    codes = [code for code in (row.get("preferences") or "").split(";") if code]
    school_of = dict(rows_of(conn, "SELECT code, id FROM schools WHERE code = ANY(%s)", codes))
    save_application(
        conn,
        the_round,
        ApplicationEntry(
            child_id=row["child_id"],
            birth_date=date.fromisoformat(row["birth_date"]),
            lon=float(row["lon"]),
            lat=float(row["lat"]),
            priority_group=row.get("priority_group") or None,
            stated_unit=row.get("stated_unit") or None,
            preferences=tuple(school_of[code] for code in codes),
        ),
        KEY,
        replace=False,
        guardian_id=parent,
        submitted_by=parent,
    )


def build_files(
    conn: Connection, demo_home: Path, folder: Path
) -> tuple[Path, Path, list[dict[str, str]]]:
    """Two files for the same round (the second a corrected one) and a few of its rows that
    parents also send themselves."""
    rows = households(demo_home)[:700]
    units = dict(rows_of(conn, "SELECT code, name FROM admin_units WHERE level = 'ward'"))
    codes = sorted(units)
    schools = [
        code
        for (code,) in rows_of(
            conn, "SELECT code FROM schools WHERE code IS NOT NULL ORDER BY id LIMIT 5"
        )
    ]
    for i, row in enumerate(rows):
        home = row["ward_code"]
        if i % 7 == 0:
            row["stated_unit"] = units.get(home, "")  # its home's unit, by name
        elif i % 7 == 1 and home in units:
            row["stated_unit"] = units[codes[(codes.index(home) + 1) % len(codes)]]
        elif i % 7 == 2:
            row["stated_unit"] = "Phường Không Có Thật"
        elif i % 7 == 3:
            row["stated_unit"] = home  # its home's unit, by code
        if i % 5 == 0:
            row["preferences"] = ";".join(schools[: 1 + i % 3])
        if i % 11 == 0:
            row["ward_code"] = ""
    far = [
        # Homes in no unit at all: a hint in the area, a hint outside it, and none.
        {
            "child_id": "FAR0001",
            "birth_date": "2019-02-01",
            "lon": "105.1",
            "lat": "9.2",
            "ward_code": rows[1]["ward_code"],
            "stated_unit": units[codes[0]],
        },
        {
            "child_id": "FAR0002",
            "birth_date": "2019-02-01",
            "lon": "105.1",
            "lat": "9.3",
            "ward_code": "99999",
        },
        {
            "child_id": "FAR0003",
            "birth_date": "2016-02-01",
            "lon": "105.2",
            "lat": "9.2",
            "priority_group": "khuyet_tat",
            "stated_unit": codes[1],
        },
    ]
    first = rows + far
    # The corrected file: some children moved or born otherwise, some left out, one new.
    second = [dict(row) for row in first[20:]]
    for i, row in enumerate(second[:40]):
        if i % 2:
            row["birth_date"] = "2018-06-01" if i % 4 == 1 else "2020-06-01"
        row["lon"] = f"{float(row['lon']) + 0.003:.7f}"
        if i % 3:
            row["stated_unit"] = ""
    second.append(
        {
            "child_id": "NEW0001",
            "birth_date": "2019-09-09",
            "lon": rows[0]["lon"],
            "lat": rows[0]["lat"],
            "stated_unit": units[codes[2]],
        }
    )
    (folder / "first").mkdir()
    (folder / "second").mkdir()
    return (
        write_file(folder / "first" / "applicants.csv", first),
        write_file(folder / "second" / "applicants.csv", second),
        second[50:53],
    )


def test_bulk_and_row_by_row_imports_store_the_same(
    demo_db: Connection, demo_home: Path, tmp_path: Path
) -> None:
    conn = demo_db
    first, second, parents_rows = build_files(conn, demo_home, tmp_path)
    placed = [parents_rows[0]["child_id"], "FAR0001", households(demo_home)[30]["child_id"]]
    place_in_published_round(conn, placed)
    parent = create_user(conn, username="me.lan", password="mat-khau-du-dai-1", role="parent").id
    for row in parents_rows:  # the parent's account holds the children (linked by an officer)
        rows_of(
            conn,
            "INSERT INTO applicants (child_id_hash, guardian_id) VALUES (%s, %s) "
            "ON CONFLICT (child_id_hash) DO UPDATE SET guardian_id = EXCLUDED.guardian_id "
            "RETURNING id",
            child_id_hash(row["child_id"], KEY),
            parent,
        )
    reference, bulk = (
        create_round(conn, name=name, grade=1, school_year=YEAR, districts=["901"])
        for name in ("Từng dòng", "Cả tệp")
    )
    reports: dict[int, list[ImportReport]] = {}
    for made, row_by_row in ((reference, True), (bulk, False)):
        set_round_status(conn, made.round_id, "open")
        opened = load_round(conn, made.round_id)
        # Parents send their own: one as the files have it, two with other facts.
        parent_applies(conn, opened, parent, parents_rows[0])
        parent_applies(conn, opened, parent, {**parents_rows[1], "birth_date": "2019-01-01"})
        parent_applies(conn, opened, parent, {**parents_rows[2], "stated_unit": "Phường Khác"})
        reports[made.round_id] = [
            import_applicants(conn, made.round_id, path, KEY, no_progress, row_by_row=row_by_row)
            for path in (first, second)
        ]
    before, after = snapshot(conn, reference.round_id), snapshot(conn, bulk.round_id)
    assert before.keys() == after.keys()
    for child, fields in before.items():
        assert after[child] == fields, child
    assert conflicts(conn, bulk.round_id) == conflicts(conn, reference.round_id)
    assert [r.counts for r in reports[bulk.round_id]] == [
        r.counts for r in reports[reference.round_id]
    ]
    assert audit_counts(conn, bulk.round_id) == audit_counts(conn, reference.round_id)
    # The comparison meets every case it is meant to.
    counts = reports[bulk.round_id][1].counts
    stored = list(after.values())
    assert counts["conflicts with parents' applications"] == 2
    assert len(conflicts(conn, bulk.round_id)) == 4  # two from each file
    for key in (
        "reason: already_placed",
        "reason: outside_area",
        "reason: too_young",
        "reason: too_old",
        "stated unit: match",
        "stated unit: mismatch",
        "stated unit: unknown_unit",
    ):
        assert counts[key] > 0, key
    assert counts["sibling groups"] > 0
    assert any(f["ward_id"] is None for f in stored)
    assert any(f["priority_status"] == "verified" for f in stored)
    assert any(f["preferences"] for f in stored)
    assert any(f["submitted_by"] == parent for f in stored)
    assert {f["guardian"] for f in stored} == {None, parent}
    assert any(f["stated_unit_distance_m"] not in (None, 0) for f in stored)
    # The corrected file replaced the first: children it left out keep the first's rows.
    assert len(after) == len(households(demo_home)[:700]) + 3 + 1


def test_a_bad_row_stops_the_bulk_import_with_its_line_and_stores_nothing(
    demo_db: Connection, tmp_path: Path
) -> None:
    made = create_round(demo_db, name="Lỗi", grade=1, school_year=YEAR, districts=["901"])
    rows = [
        {"child_id": f"C{i:04d}", "birth_date": "2019-01-01", "lon": "106.6", "lat": "10.45"}
        for i in range(5)
    ]
    rows[3]["stated_unit"] = "x" * 300
    path = write_file(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportFileError, match="line 5"):
        import_applicants(demo_db, made.round_id, path, KEY, no_progress)
    assert rows_of(demo_db, "SELECT count(*) FROM applications")[0][0] == 0
    rows[3]["stated_unit"] = ""
    stop = threading.Event()
    stop.set()
    with pytest.raises(InvalidRequestError, match="abandoned"):
        import_applicants(demo_db, made.round_id, path, KEY, no_progress, stop=stop)


def test_two_large_imports_at_once_do_not_wait_for_each_others_statistics(
    demo_db_url: str, demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large import refreshes the planner's statistics in its transaction; a second large
    import into another round meanwhile must not wait for the first to end (ANALYZE waits for
    ANALYZE), only skip its own refresh. Regression: the second import waited until the
    first's transaction ended, and was cancelled at its statement time limit."""
    from gis_service.admissions import bulk_import
    from gis_service.config import ImportSettings
    from tests.conftest import rolled_back
    from tests.test_export_safety import households_in

    monkeypatch.setattr(bulk_import, "_ANALYZE_FROM", 1)
    limits = ImportSettings(statement_timeout_s=5)
    with rolled_back(demo_db_url) as first, rolled_back(demo_db_url) as second:
        reports = []
        for conn, district in ((first, "901"), (second, "902")):
            path = tmp_path / f"{district}.csv"
            path.write_text(households_in(conn, demo_home, district, 60), encoding="utf-8")
            made = create_round(
                conn, name=f"Quận {district}", grade=1, school_year=YEAR, districts=[district]
            )
            # The first stays open, holding what its ANALYZE took, while the second imports.
            reports.append(
                import_applicants(conn, made.round_id, path, KEY, no_progress, limits=limits)
            )
    assert [r.counts["applicants"] for r in reports] == [60, 60]
