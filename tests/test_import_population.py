"""Population-by-age importer: matching by code or by name, checks, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError
from gis_service.importers.population import PopulationFields, age_columns, import_population
from gis_service.importers.report import no_progress
from gis_service.importers.wards import WardFields, import_wards
from tests.conftest import table_counts
from tests.test_import_wards import FIELDS, two_wards_utm

HEADER = "province,district,code,total,age_0_04,age_05_09,age_10_14,age_15_plus,age_0_04_urban\n"


@pytest.fixture
def district_loaded(db: Connection, tmp_path: Path) -> Connection:
    import_wards(db, two_wards_utm(tmp_path / "w.geojson"), FIELDS, no_progress)
    return db


def write_csv(path: Path, rows: str) -> Path:
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_age_columns_are_recognised() -> None:
    assert age_columns(["age_0_04", "age_05_09", "age_85_plus", "age_0_04_urban", "total"]) == [
        ("age_0_04", 0, 4),
        ("age_05_09", 5, 9),
        ("age_85_plus", 85, None),
    ]


def test_rows_match_by_name_and_province(district_loaded: Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        "Tỉnh Thử,Quận Thử,,20000,1400,1600,1500,15500,1\n"
        "Tỉnh Khác,Quận Thử,,5,1,1,1,2,0\n"
        "Tỉnh Thử,Quận Không Có,,5,1,1,1,2,0\n",
    )
    fields = PopulationFields(name="district", province="province", year=2019)
    report = import_population(district_loaded, path, fields, no_progress)
    assert report.counts["district rows matched"] == 1
    assert report.counts["rows naming units not loaded (skipped)"] == 2
    with district_loaded.cursor() as cur:
        cur.execute(
            "SELECT age_min, age_max, population FROM admin_population_by_age ORDER BY age_min"
        )
        assert cur.fetchall() == [(0, 4, 1400), (5, 9, 1600), (10, 14, 1500), (15, None, 15500)]
        cur.execute(
            "SELECT population FROM admin_population p JOIN admin_units a "
            "ON a.id = p.admin_unit_id WHERE a.level = 'district'"
        )
        assert cur.fetchall() == [(20000,)]
    again = import_population(district_loaded, path, fields, no_progress)
    assert again.counts["age-group figures"] == 4


def test_rows_match_by_code_and_totals_are_checked(
    district_loaded: Connection, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "p.csv", "x,y,980,999,1400,1600,1500,15500,1\n")
    report = import_population(
        district_loaded, path, PopulationFields(code="code", year=2024), no_progress
    )
    assert report.counts["district rows matched"] == 1
    assert any("sum to 20,000 but total is 999" in n for n in report.notes)


@pytest.mark.parametrize(
    ("rows", "fields", "problem"),
    [
        (
            "Tỉnh Thử,Quận Thử,,1,a lot,1,1,1,1\n",
            PopulationFields(name="district", year=2019),
            "line 2: age_0_04 is 'a lot'",
        ),
        ("Tỉnh Thử,Quận Thử,,1,1,1,1,1,1\n", PopulationFields(name="district"), "say the year"),
        (
            "Tỉnh Thử,Quận Thử,,1,1,1,1,1,1\n",
            PopulationFields(name="quan", year=2019),
            "missing column",
        ),
        (
            "Tỉnh X,Quận Y,,1,1,1,1,1,1\n",
            PopulationFields(name="district", year=2019),
            "no row names a loaded district",
        ),
        (
            "Tỉnh Thử,Quận Thử,,1,1,1,1,1,1\nTỉnh Thử,Quận Thử,,1,1,1,1,1,1\n",
            PopulationFields(name="district", year=2019),
            "line 3: the same unit and year",
        ),
    ],
)
def test_bad_rows_are_refused_and_nothing_written(
    district_loaded: Connection, tmp_path: Path, rows: str, fields: PopulationFields, problem: str
) -> None:
    path = write_csv(tmp_path / "p.csv", rows)
    before = table_counts(district_loaded)
    with pytest.raises(ImportFileError, match=problem):
        import_population(district_loaded, path, fields, no_progress)
    assert table_counts(district_loaded) == before


def test_no_units_loaded_says_what_to_import_first(db: Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", "Tỉnh Thử,Quận Thử,,1,1,1,1,1,1\n")
    with pytest.raises(ImportFileError, match="import the ward file first"):
        import_population(db, path, PopulationFields(name="district", year=2019), no_progress)


def test_file_without_age_columns(db: Connection, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("district,total\nQuận Thử,5\n")
    with pytest.raises(ImportFileError, match="no age-group columns"):
        import_population(db, path, PopulationFields(name="district", year=2019), no_progress)


def test_file_not_in_utf8_is_named(db: Connection, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("district,age_0_04\nQuận Thử,5\n".encode("utf-16"))
    with pytest.raises(ImportFileError, match="not UTF-8 text"):
        import_population(db, path, PopulationFields(name="district", year=2019), no_progress)


WARD_HEADER = "code,total,age_0_04,age_05_plus\n"


def test_rows_match_units_of_their_edition_only(db: Connection, tmp_path: Path) -> None:
    import_wards(db, two_wards_utm(tmp_path / "w.geojson"), FIELDS, no_progress)
    # A 2025 unit reusing the code of a 2019 ward (as 26740 is Bến Nghé in 2019 and Phường
    # Sài Gòn in 2025).
    new = two_wards_utm(tmp_path / "n.geojson", ten=["Phường Mới", "Phường Khác"])
    import_wards(
        db,
        new,
        WardFields(
            code="ma",
            name="ten",
            edition="2025",
            province_name="Tỉnh Thử",
            province_code="98",
        ),
        no_progress,
    )
    path = tmp_path / "p.csv"
    path.write_text(WARD_HEADER + "98001,100,10,90\n", encoding="utf-8")
    import_population(db, path, PopulationFields(level="ward", code="code", year=2019), no_progress)
    path.write_text(WARD_HEADER + "98001,200,20,180\n", encoding="utf-8")
    report = import_population(
        db,
        path,
        PopulationFields(level="ward", code="code", year=2026, edition="2025"),
        no_progress,
    )
    assert "edition 2025" in report.notes
    with db.cursor() as cur:
        cur.execute(
            "SELECT a.edition, a.name, b.year, b.population FROM admin_population_by_age b "
            "JOIN admin_units a ON a.id = b.admin_unit_id WHERE b.age_min = 0 ORDER BY 1"
        )
        assert cur.fetchall() == [
            ("2019", "Phường Một", 2019, 10),
            ("2025", "Phường Mới", 2026, 20),
        ]


def test_a_level_the_edition_lacks_is_refused(district_loaded: Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", "Tỉnh Thử,Quận Thử,,1,1,1,1,1,1\n")
    before = table_counts(district_loaded)
    with pytest.raises(ImportFileError, match="the 2025 edition has no district level"):
        import_population(
            district_loaded,
            path,
            PopulationFields(name="district", year=2019, edition="2025"),
            no_progress,
        )
    assert table_counts(district_loaded) == before


def test_a_name_several_units_share_is_not_guessed(db: Connection, tmp_path: Path) -> None:
    import_wards(
        db, two_wards_utm(tmp_path / "w.geojson", ten=["Phường 1", "Phường 1"]), FIELDS, no_progress
    )
    path = tmp_path / "p.csv"
    path.write_text("ward,total,age_0_04,age_05_plus\nPhường 1,100,10,90\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="1 of them name a unit that several 2019 units"):
        import_population(
            db, path, PopulationFields(level="ward", name="ward", year=2019), no_progress
        )
