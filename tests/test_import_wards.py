"""Ward importer: any CRS, population by year, districts from wards, and bad files refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import LineString, box

from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError
from gis_service.importers.osm import import_osm
from gis_service.importers.report import no_progress
from gis_service.importers.wards import WardFields, import_wards
from tests.conftest import table_counts
from tests.osm_fixture import write_hand_made_osm

FIELDS = WardFields(
    code="ma",
    name="ten",
    district="quan",
    district_code="ma_quan",
    population=["Pop_2019", "Pop_2024"],
    province_name="Tỉnh Thử",
    province_code="98",
)


def two_wards_utm(path: Path, **overrides: Any) -> Path:
    """Two 1 km x 1 km wards side by side in UTM 48N, one district, written as GeoJSON."""
    x0, y0 = 677_000.0, 1_155_500.0  # about 106.62 E, 10.45 N
    frame = gpd.GeoDataFrame(
        {
            "ma": ["98001", "98002"],
            "ten": ["Phường Một", "Phường Hai"],
            "quan": ["Quận Thử", "Quận Thử"],
            "ma_quan": ["980", "980"],
            "Pop_2019": [12000, 8000],
            "Pop_2024": [12500, 8100],
        },
        geometry=[box(x0, y0, x0 + 1000, y0 + 1000), box(x0 + 1000, y0, x0 + 2000, y0 + 1000)],
        crs="EPSG:32648",
    )
    for key, value in overrides.items():
        frame[key] = value
    frame.to_file(path, driver="GeoJSON")
    return path


def test_utm_wards_are_stored_in_wgs84_with_population(db: Connection, tmp_path: Path) -> None:
    report = import_wards(db, two_wards_utm(tmp_path / "w.geojson"), FIELDS, no_progress)
    assert report.counts["wards"] == 2 and report.counts["districts"] == 1
    assert "population 2019: 20,000" in report.notes
    with db.cursor() as cur:
        cur.execute(
            "SELECT code, ST_Area(geom::geography), ST_SRID(geom) FROM admin_units "
            "WHERE level = 'ward' ORDER BY code"
        )
        wards = cur.fetchall()
        cur.execute(
            "SELECT d.code, d.name, ST_Area(d.geom::geography), p.code "
            "FROM admin_units d JOIN admin_units p ON p.id = d.parent_id "
            "WHERE d.level = 'district'"
        )
        districts = cur.fetchall()
    # UTM's scale factor makes 1 km x 1 km on the grid 1.00002 km2 on the ellipsoid.
    assert [(c, srid) for c, _, srid in wards] == [("98001", 4326), ("98002", 4326)]
    assert [area for _, area, _ in wards] == pytest.approx([1e6, 1e6], rel=1e-4)
    assert [(c, n, p) for c, n, _, p in districts] == [("980", "Quận Thử", "98")]
    assert districts[0][2] == pytest.approx(2e6, rel=1e-4)
    with db.cursor() as cur:
        cur.execute(
            "SELECT a.code, p.year, p.population FROM admin_population p "
            "JOIN admin_units a ON a.id = p.admin_unit_id ORDER BY 1, 2"
        )
        assert cur.fetchall() == [
            ("98001", 2019, 12000),
            ("98001", 2024, 12500),
            ("98002", 2019, 8000),
            ("98002", 2024, 8100),
        ]


def test_reimport_is_idempotent_and_places_schools(db: Connection, tmp_path: Path) -> None:
    import_osm(db, write_hand_made_osm(tmp_path / "s.osm"), no_progress)
    path = two_wards_utm(tmp_path / "w.geojson")
    first = import_wards(db, path, FIELDS, no_progress)
    counts = table_counts(db)
    second = import_wards(db, path, FIELDS, no_progress)
    assert table_counts(db) == counts
    assert first.counts["wards added"] == 2 and second.counts["wards updated"] == 2
    # All five hand-made schools lie in the first ward (106.620-106.629 E).
    with db.cursor() as cur:
        cur.execute("SELECT DISTINCT w.code FROM schools s JOIN admin_units w ON w.id = s.ward_id")
        assert cur.fetchall() == [("98001",)]
    assert first.counts["schools placed in a ward"] == 5


def test_shapefile_without_prj_needs_a_crs(db: Connection, tmp_path: Path) -> None:
    frame = gpd.read_file(two_wards_utm(tmp_path / "w.geojson"))
    shp = tmp_path / "w.shp"
    frame.to_file(shp)
    shp.with_suffix(".prj").unlink()
    before = table_counts(db)
    with pytest.raises(ImportFileError, match="unknown CRS"):
        import_wards(db, shp, FIELDS, no_progress)
    assert table_counts(db) == before
    fields = WardFields(**{**FIELDS.__dict__, "crs": "EPSG:32648"})
    assert import_wards(db, shp, fields, no_progress).counts["wards"] == 2


def test_missing_field_lists_what_the_file_has(db: Connection, tmp_path: Path) -> None:
    fields = WardFields(**{**FIELDS.__dict__, "population": ["Pop_2020"]})
    with pytest.raises(ImportFileError, match=r"missing field\(s\) Pop_2020; the file has: ma"):
        import_wards(db, two_wards_utm(tmp_path / "w.geojson"), fields, no_progress)


def test_bad_population_value_names_the_ward(db: Connection, tmp_path: Path) -> None:
    path = two_wards_utm(tmp_path / "w.geojson", Pop_2019=["12000", "nhiều"])
    before = table_counts(db)
    with pytest.raises(ImportFileError, match=r"98002.*Pop_2019 is 'nhiều'"):
        import_wards(db, path, FIELDS, no_progress)
    assert table_counts(db) == before


def _geojson(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(code: str, geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"code": code, "name": f"Phường {code}"},
    }


@pytest.mark.parametrize(
    ("features", "problem"),
    [
        ([_feature("1", None)], "has no geometry"),
        ([_feature("1", LineString([(106, 10), (106.1, 10)]).__geo_interface__)], "not a polygon"),
        (
            [
                _feature("1", box(106, 10, 106.1, 10.1).__geo_interface__),
                _feature("1", box(106.1, 10, 106.2, 10.1).__geo_interface__),
            ],
            "ward codes repeat: 1",
        ),
        ([], "no features"),
    ],
)
def test_broken_geometry_and_duplicates_are_refused(
    db: Connection, tmp_path: Path, features: list[dict[str, Any]], problem: str
) -> None:
    path = _geojson(tmp_path / "bad.geojson", features)
    before = table_counts(db)
    with pytest.raises(ImportFileError, match=problem) as caught:
        import_wards(db, path, WardFields(), no_progress)
    assert str(path) in str(caught.value)
    assert table_counts(db) == before


def test_self_intersecting_ward_is_repaired_and_noted(db: Connection, tmp_path: Path) -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[106, 10], [106.1, 10.1], [106.1, 10], [106, 10.1], [106, 10]]],
    }
    path = _geojson(tmp_path / "bowtie.geojson", [_feature("7", bowtie)])
    report = import_wards(db, path, WardFields(), no_progress)
    assert report.counts["wards"] == 1
    assert any("repaired" in note for note in report.notes)
    with db.cursor() as cur:
        cur.execute("SELECT ST_IsValid(geom), ST_Area(geom) > 0 FROM admin_units WHERE code = '7'")
        assert cur.fetchone() == (True, True)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("w.csv", b"a,b", "unknown format"),
        ("w.geojson", b"", "the file is empty"),
        ("w.geojson", b'{"type": "FeatureCollection", "features": [', "cannot read the file"),
    ],
)
def test_unreadable_files_are_refused(
    db: Connection, tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=problem):
        import_wards(db, path, WardFields(), no_progress)
