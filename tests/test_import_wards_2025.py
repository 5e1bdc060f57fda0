"""The 2025 two-tier units of HCMC, Hà Nội and Hưng Yên beside the 2019 census units."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pytest

from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.importers.report import ImportReport, no_progress
from gis_service.importers.wards import WardFields, import_wards
from gis_service.units.lookup import resolve_unit
from tests.conftest import SHARED_DATA, recreate_database, rolled_back, table_counts
from tests.hcmc_data import HCMC_UNITS_2025, load_hcmc_wards_2019

pytestmark = pytest.mark.hcmc

WARDS_2025 = SHARED_DATA / "vn_wards_2025"
HANOI_2025 = WARDS_2025 / "01_ha_noi_wards_2025.geojson"
HUNG_YEN_2025 = WARDS_2025 / "33_hung_yen_wards_2025.geojson"
PROVINCES = {
    "79": ("Thành phố Hồ Chí Minh", HCMC_UNITS_2025),
    "01": ("Thành phố Hà Nội", HANOI_2025),
    "33": ("Tỉnh Hưng Yên", HUNG_YEN_2025),
}


def fields_2025(code: str, name: str | None = None, **overrides: object) -> WardFields:
    fields = WardFields(
        edition="2025", province_code=code, province_name=name or PROVINCES[code][0]
    )
    for key, value in overrides.items():
        setattr(fields, key, value)
    return fields


@dataclass
class Loaded:
    conn: Connection
    reports: dict[str, ImportReport]


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    """HCMC's 2019 census wards, then the 2025 units of three provinces, in a database of
    their own (the open transaction holds the public data version row) and rolled back."""
    with rolled_back(recreate_database("schoolmap_test_wards_2025")) as conn:
        reports = {"2019": load_hcmc_wards_2019(conn)}
        for code, (_, path) in PROVINCES.items():
            reports[code] = import_wards(conn, path, fields_2025(code), no_progress)
        yield Loaded(conn, reports)


def rows(conn: Connection, query: str, *args: object) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def unit_types(conn: Connection, province: str) -> dict[object, object]:
    return dict(
        rows(
            conn,
            "SELECT w.unit_type, count(*) FROM admin_units w "
            "JOIN admin_units p ON p.id = w.parent_id "
            "WHERE w.edition = '2025' AND w.level = 'ward' AND p.code = %s GROUP BY 1",
            province,
        )
    )


def test_each_province_has_its_units_with_types(loaded: Loaded) -> None:
    counts = {code: loaded.reports[code].counts for code in PROVINCES}
    assert {code: c["wards"] for code, c in counts.items()} == {"79": 168, "01": 126, "33": 104}
    assert all(c["districts"] == 0 and c["provinces"] == 1 for c in counts.values())
    assert unit_types(loaded.conn, "79") == {"phuong": 113, "xa": 54, "dac_khu": 1}
    assert unit_types(loaded.conn, "01") == {"phuong": 51, "xa": 75}
    assert unit_types(loaded.conn, "33") == {"phuong": 11, "xa": 93}


def test_full_names_keep_their_diacritics(loaded: Loaded) -> None:
    names = dict(
        rows(
            loaded.conn,
            "SELECT code, name FROM admin_units WHERE edition = '2025' AND level = 'ward' "
            "AND code IN ('26740', '26732', '00004', '11953')",
        )
    )
    assert names == {
        "26740": "Phường Sài Gòn",
        "26732": "Đặc khu Côn Đảo",
        "00004": "Phường Ba Đình",
        "11953": "Phường Phố Hiến",
    }


def test_units_hang_from_their_province_of_the_same_edition(loaded: Loaded) -> None:
    provinces = rows(
        loaded.conn,
        "SELECT edition, code, name FROM admin_units WHERE level = 'province' ORDER BY 1, 2",
    )
    assert provinces == [
        ("2019", "79", "Thành phố Hồ Chí Minh"),
        ("2025", "01", "Thành phố Hà Nội"),
        ("2025", "33", "Tỉnh Hưng Yên"),
        ("2025", "79", "Thành phố Hồ Chí Minh"),
    ]
    parents = rows(
        loaded.conn,
        "SELECT p.level, p.edition, count(*) FROM admin_units w "
        "JOIN admin_units p ON p.id = w.parent_id "
        "WHERE w.edition = '2025' AND w.level = 'ward' GROUP BY 1, 2",
    )
    assert parents == [("province", "2025", 398)]
    assert rows(
        loaded.conn,
        "SELECT count(*) FROM admin_units WHERE edition = '2025' AND level = 'district'",
    ) == [(0,)]


def test_same_code_in_both_editions_lives_side_by_side(loaded: Loaded) -> None:
    found = resolve_unit(loaded.conn, "26740")
    assert [(u.edition, u.name, u.district_name) for u in found] == [
        ("2025", "Phường Sài Gòn", None),
        ("2019", "Ben Nghe", "District 1"),
    ]
    # The 2019 ward keeps its census population; the 2025 unit has none of its own.
    population = rows(
        loaded.conn,
        "SELECT a.edition, p.year, p.population FROM admin_population p "
        "JOIN admin_units a ON a.id = p.admin_unit_id WHERE a.code = '26740' ORDER BY 1, 2",
    )
    assert population == [("2019", 2009, 13580), ("2019", 2019, 10633)]
    assert loaded.reports["2019"].counts["wards"] == 322


def test_importing_again_changes_nothing(loaded: Loaded) -> None:
    query = "SELECT id, code, name, parent_id FROM admin_units WHERE edition = '2025' ORDER BY id"
    before_units = rows(loaded.conn, query)
    before = table_counts(loaded.conn)
    again = import_wards(loaded.conn, HCMC_UNITS_2025, fields_2025("79"), no_progress)
    assert again.counts["wards added"] == 0 and again.counts["wards updated"] == 168
    assert table_counts(loaded.conn) == before
    assert rows(loaded.conn, query) == before_units


def without_full_names(tmp_path: Path) -> Path:
    frame = gpd.read_file(HUNG_YEN_2025).head(3).drop(columns=["fullName"])
    path = tmp_path / "no_full_name.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


@pytest.mark.parametrize(
    ("path", "fields", "problem"),
    [
        # A neighbour's file under the code of the province already loaded.
        (
            HUNG_YEN_2025,
            fields_2025("01", "Tỉnh Hưng Yên"),
            "the file's units lie outside Thành phố Hà Nội \\(code 01, edition 2025\\)",
        ),
        (
            HANOI_2025,
            fields_2025("33", "Thành phố Hà Nội"),
            "the file's units lie outside Tỉnh Hưng Yên \\(code 33, edition 2025\\)",
        ),
        # A far-away province's file: its units lie hundreds of kilometres off.
        (HANOI_2025, fields_2025("79"), "the file's units lie 1\\d\\d\\d km from Thành phố Hồ"),
        (HCMC_UNITS_2025, fields_2025("79", district="name"), "the 2025 edition has no districts"),
        (None, fields_2025("33"), "missing field\\(s\\) fullName"),
    ],
)
def test_bad_or_mismatching_files_change_nothing(
    loaded: Loaded, tmp_path: Path, path: Path | None, fields: WardFields, problem: str
) -> None:
    before = table_counts(loaded.conn)
    names = rows(loaded.conn, "SELECT id, name, parent_id FROM admin_units ORDER BY id")
    with pytest.raises(ImportFileError, match=problem):
        import_wards(loaded.conn, path or without_full_names(tmp_path), fields, no_progress)
    assert table_counts(loaded.conn) == before
    assert rows(loaded.conn, "SELECT id, name, parent_id FROM admin_units ORDER BY id") == names


def test_unknown_edition_is_refused(loaded: Loaded) -> None:
    before = table_counts(loaded.conn)
    fields = fields_2025("79", edition="2024")
    with pytest.raises(
        InvalidRequestError, match="no unit edition '2024'; editions are 2019, 2025"
    ):
        import_wards(loaded.conn, HCMC_UNITS_2025, fields, no_progress)
    assert table_counts(loaded.conn) == before


def test_a_province_may_come_in_adjacent_parts_under_its_own_name(
    db: Connection, tmp_path: Path
) -> None:
    frame = gpd.read_file(HUNG_YEN_2025)
    west = (
        frame.geometry.representative_point().x < frame.geometry.representative_point().x.median()
    )
    frame[west].to_file(tmp_path / "west.geojson", driver="GeoJSON")
    frame[~west].to_file(tmp_path / "east.geojson", driver="GeoJSON")
    import_wards(db, tmp_path / "west.geojson", fields_2025("33"), no_progress)
    before = table_counts(db)
    with pytest.raises(
        ImportFileError, match="the file is of another province \\(Tỉnh Thái Bình\\)"
    ):
        import_wards(
            db, tmp_path / "east.geojson", fields_2025("33", "Tỉnh Thái Bình"), no_progress
        )
    assert table_counts(db) == before
    east = import_wards(db, tmp_path / "east.geojson", fields_2025("33"), no_progress)
    assert east.counts["wards added"] == int((~west).sum())
    assert unit_types(db, "33") == {"phuong": 11, "xa": 93}
