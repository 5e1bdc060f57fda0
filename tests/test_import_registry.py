"""School registry importer: match by code, else by name and distance; add the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError
from gis_service.importers.osm import import_osm
from gis_service.importers.registry import import_registry, name_similarity
from gis_service.importers.report import no_progress
from tests.conftest import table_counts
from tests.osm_fixture import write_hand_made_osm

HEADER = (
    "code,name,levels,ownership,address,ward_code,lon,lat,phone,"
    "grade_1_classes,grade_1_class_size,grade_6_classes,grade_6_class_size\n"
)


def write_registry(path: Path, rows: str) -> Path:
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


@pytest.fixture
def osm_loaded(db: Connection, tmp_path: Path) -> Connection:
    import_osm(db, write_hand_made_osm(tmp_path / "s.osm"), no_progress)
    return db


def test_name_similarity_sees_through_abbreviations() -> None:
    assert name_similarity("Trường TH Lê Văn Thọ", "Trường Tiểu học Lê Văn Thọ") == 1.0
    assert name_similarity("THCS Nguyễn Du", "Trường THCS Nguyễn Du") == 1.0
    assert name_similarity("Trường Tiểu học Lê Văn Thọ", "Trường Tiểu học Lê Lợi") < 0.75
    # Primary and lower-secondary schools often share a namesake and a street.
    assert name_similarity("Trường Tiểu học Nguyễn Du", "Trường THCS Nguyễn Du") == 0.0
    assert name_similarity("Trường Tiểu học và THCS Ánh Sáng", "Trường THCS Ánh Sáng") == 1.0


def test_registry_matches_adds_and_sets_classes(osm_loaded: Connection, tmp_path: Path) -> None:
    rows = (
        # 40 m from the map point, abbreviated name: the same school.
        "99TH0001,Trường TH Lê Văn Thọ,tieu_hoc,public,12 Lê Lợi,,106.62086,10.4505,,5,35,,\n"
        # Same name as a map school but 2 km away: a different (new) school.
        "99TH0002,Trường Tiểu học Lê Văn Thọ 2,tieu_hoc,public,,,106.64,10.4505,,4,35,,\n"
        # A close school with another name is not taken for the map school.
        "99TH0003,Trường Tiểu học Lê Lợi,tieu_hoc,public,,,106.6206,10.4506,,3,30,,\n"
        "99CS0001,THCS Nguyễn Du,thcs,public,,,106.6212,10.4512,,,,8,45\n"
        # A name that really differs from the map's replaces it.
        "99MN0001,Trường Mầm non Hoa Sen 1,mam_non,public,,,106.6212,10.4512,,,,,\n"
    )
    report, matches = import_registry(
        osm_loaded, write_registry(tmp_path / "r.csv", rows), no_progress
    )
    assert report.counts["matched by name and distance"] == 3
    assert report.counts["added as new schools"] == 2
    assert {(m.registry_name, m.map_name) for m in matches} == {
        ("Trường TH Lê Văn Thọ", "Trường Tiểu học Lê Văn Thọ"),
        ("THCS Nguyễn Du", "Trường THCS Nguyễn Du"),
        ("Trường Mầm non Hoa Sen 1", "Trường Mầm non Hoa Sen"),
    }
    assert all(m.distance_m < 100 for m in matches)
    with osm_loaded.cursor() as cur:
        cur.execute(
            "SELECT s.code, s.name, s.osm_id, s.levels_source, g.grade, g.classes, "
            "g.class_size FROM schools s JOIN school_grades g ON g.school_id = s.id "
            "ORDER BY s.code"
        )
        assert cur.fetchall() == [
            ("99CS0001", "Trường THCS Nguyễn Du", 200, "registry", 6, 8, 45),
            # An abbreviation of the map's name keeps the spelled-out name.
            ("99TH0001", "Trường Tiểu học Lê Văn Thọ", 20, "registry", 1, 5, 35),
            ("99TH0002", "Trường Tiểu học Lê Văn Thọ 2", None, "registry", 1, 4, 35),
            ("99TH0003", "Trường Tiểu học Lê Lợi", None, "registry", 1, 3, 30),
        ]
        cur.execute("SELECT name, osm_id FROM schools WHERE code = '99MN0001'")
        assert cur.fetchone() == ("Trường Mầm non Hoa Sen 1", 21)


def test_second_import_matches_by_code_and_changes_nothing(
    osm_loaded: Connection, tmp_path: Path
) -> None:
    path = write_registry(
        tmp_path / "r.csv",
        "99TH0001,Trường TH Lê Văn Thọ,tieu_hoc,public,,,106.62086,10.4505,,"
        "5,35,,\n99TH0009,Trường Tiểu học Mới,tieu_hoc,,,,106.7,10.5,,2,35,,\n",
    )
    import_registry(osm_loaded, path, no_progress)
    counts = table_counts(osm_loaded)
    report, _ = import_registry(osm_loaded, path, no_progress)
    assert report.counts["matched by code"] == 2 and report.counts["added as new schools"] == 0
    assert table_counts(osm_loaded) == counts


def test_osm_reimport_keeps_the_registry_name_and_levels(
    osm_loaded: Connection, tmp_path: Path
) -> None:
    import_registry(
        osm_loaded,
        write_registry(
            tmp_path / "r.csv",
            "99TH0001,Trường TH Lê Văn Thọ,tieu_hoc;thcs,public,,,106.62086,10.4505,,5,35,,\n",
        ),
        no_progress,
    )
    import_osm(osm_loaded, write_hand_made_osm(tmp_path / "again.osm"), no_progress)
    with osm_loaded.cursor() as cur:
        cur.execute("SELECT name, levels, levels_source FROM schools WHERE code = '99TH0001'")
        assert cur.fetchone() == ("Trường Tiểu học Lê Văn Thọ", ["tieu_hoc", "thcs"], "registry")


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (",Trường A,tieu_hoc,,,,106.6,ten,,1,35,,\n", "line 2: lat is 'ten'"),
        (",Trường A,tieu_hoc,,,,206.6,10,,1,35,,\n", "line 2: lon 206.6 is out of range"),
        (",,tieu_hoc,,,,106.6,10,,1,35,,\n", "line 2: name is empty"),
        (",Trường A,university,,,,106.6,10,,1,35,,\n", "unknown school level"),
        (",Trường A,tieu_hoc,semi,,,106.6,10,,1,35,,\n", "ownership 'semi'"),
        (",Trường A,tieu_hoc,,,,106.6,10,,1,,,\n", "grade_1_class_size is empty"),
        (",Trường A,tieu_hoc,,,,106.6,10,,-1,35,,\n", "grade_1_classes is negative"),
        (
            "X1,Trường A,tieu_hoc,,,,106.6,10,,1,35,,\nX1,Trường B,,,,,106.6,10,,,,,\n",
            "line 3: code X1 already used on line 2",
        ),
    ],
)
def test_bad_registry_rows_are_refused(
    osm_loaded: Connection, tmp_path: Path, rows: str, problem: str
) -> None:
    before = table_counts(osm_loaded)
    with pytest.raises(ImportFileError, match=problem):
        import_registry(osm_loaded, write_registry(tmp_path / "r.csv", rows), no_progress)
    assert table_counts(osm_loaded) == before


def test_registry_without_coordinates_columns(db: Connection, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("code,name\nA,Trường A\n")
    with pytest.raises(ImportFileError, match=r"missing column\(s\) lon, lat"):
        import_registry(db, path, no_progress)
