"""Rounds and applicant import on the demo city: eligibility, reasons, siblings, bad files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gis_service.admissions.applicant_import import import_applicants, sibling_groups
from gis_service.admissions.identity import child_id_hash
from gis_service.admissions.rounds import create_round
from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError, InvalidRequestError, NotFoundError
from gis_service.importers.report import no_progress

KEY = b"test-key"


def district_wards(conn: Connection, district: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT w.code FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
            "WHERE d.code = %s",
            (district,),
        )
        return {row[0] for row in cur.fetchall()}


def test_round_area_from_districts_and_wards(demo_db: Connection) -> None:
    wards = district_wards(demo_db, "901")
    made = create_round(
        demo_db, name="Lớp 1 Quận Một", grade=1, school_year="2025-2026", districts=["901"]
    )
    assert set(made.ward_codes) == wards and made.admission_year == 2025
    assert made.status == "draft"
    with pytest.raises(NotFoundError, match="unknown ward or district code"):
        create_round(demo_db, name="x", grade=1, school_year="2025-2026", districts=["999"])
    with pytest.raises(InvalidRequestError, match="grade 1 or grade 6"):
        create_round(demo_db, name="x", grade=2, school_year="2025-2026", districts=["901"])
    with pytest.raises(InvalidRequestError, match="like 2025-2026"):
        create_round(demo_db, name="x", grade=1, school_year="năm nay", districts=["901"])


def test_demo_households_are_checked_with_reasons(demo_db: Connection, demo_home: Path) -> None:
    households = demo_home / "demo" / "households.csv"
    the_round = create_round(
        demo_db, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901"]
    )
    report = import_applicants(demo_db, the_round.round_id, households, KEY, no_progress)
    with households.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    area = set(the_round.ward_codes)
    expected = sum(1 for r in rows if r["birth_date"].startswith("2019") and r["ward_code"] in area)
    too_old = sum(1 for r in rows if r["birth_date"].startswith("2014"))
    assert report.counts["applicants"] == len(rows)
    assert report.counts["eligible"] == expected > 0
    assert report.counts["reason: too_old"] == too_old
    assert report.counts["reason: outside_area"] == sum(
        1 for r in rows if r["ward_code"] not in area
    )
    pairs = [(r["child_id"], r["sibling_of"]) for r in rows if r["sibling_of"]]
    assert report.counts["sibling groups"] == len(sibling_groups(pairs)) > 0
    with demo_db.cursor() as cur:
        cur.execute(
            "SELECT status, rejection_reasons FROM applications a JOIN applicants p "
            "ON p.id = a.applicant_id WHERE p.child_id_hash = %s",
            (child_id_hash(rows[0]["child_id"], KEY),),
        )
        status, reasons = cur.fetchone()
        cur.execute("SELECT count(*) FROM applicants WHERE child_id_hash LIKE 'DC%%'")
        assert cur.fetchone()[0] == 0  # identity codes are never stored in clear
    assert (status == "eligible") == (reasons == [])
    again = import_applicants(demo_db, the_round.round_id, households, KEY, no_progress)
    assert again.counts == report.counts


def test_sibling_groups_follow_chains_in_any_order() -> None:
    groups = sibling_groups([("c", "b"), ("a", "b"), ("x", "y")])
    assert sorted(groups.values()) == [["a", "b", "c"], ["x", "y"]]
    assert set(groups) == {"a", "x"}
    assert sibling_groups([("x", "y"), ("b", "a"), ("b", "c")]) == groups


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("child_id,birth_date,lon,lat\n,2019-01-01,106.62,10.45\n", "line 2: child_id is empty"),
        ("child_id,birth_date,lon,lat\nA,01/02/2019,106.62,10.45\n", "not YYYY-MM-DD"),
        ("child_id,birth_date,lon,lat\nA,2019-01-01,east,10.45\n", "line 2: lon is 'east'"),
        (
            "child_id,birth_date,lon,lat\nA,2019-01-01,106.62,10.45\na ,2019-02-02,106.62,10.45\n",
            "line 3: the same child as line 2",
        ),
        (
            "child_id,birth_date,lon,lat,preferences\nA,2019-01-01,106.62,10.45,NOPE\n",
            "no school with code NOPE",
        ),
        (
            "child_id,birth_date,address\nA,2019-01-01,Đường Không Có\n",
            "1 home\\(s\\) could not be placed within 300 m",
        ),
        ("child_id,birth_date,lon,lat,address\nA,2019-01-01,,,\n", "neither coordinates"),
        ("child_id,lon,lat\nA,106.62,10.45\n", r"missing column\(s\) birth_date"),
    ],
)
def test_bad_applicant_files_change_nothing(
    demo_db: Connection, tmp_path: Path, content: str, problem: str
) -> None:
    the_round = create_round(demo_db, name="x", grade=1, school_year="2025-2026", districts=["901"])
    path = tmp_path / "a.csv"
    path.write_text(content, encoding="utf-8")
    with demo_db.cursor() as cur:
        cur.execute("SELECT count(*) FROM applicants")
        before = cur.fetchone()[0]
    with pytest.raises(ImportFileError, match=problem):
        import_applicants(demo_db, the_round.round_id, path, KEY, no_progress)
    with demo_db.cursor() as cur:
        cur.execute("SELECT count(*) FROM applicants")
        assert cur.fetchone()[0] == before
