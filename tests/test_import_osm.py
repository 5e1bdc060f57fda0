"""OSM importer on a hand-made extract and on broken files; PostGIS rolled back per test."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path

import pytest

from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError
from gis_service.importers.osm import import_osm
from gis_service.importers.report import no_progress
from tests.conftest import SHARED_DATA, table_counts
from tests.osm_fixture import EXPECTED_ROAD_WAYS, EXPECTED_SCHOOLS, write_hand_made_osm


def test_hand_made_extract_gives_known_roads_and_schools(db: Connection, tmp_path: Path) -> None:
    report = import_osm(db, write_hand_made_osm(tmp_path / "small.osm"), no_progress)
    assert report.counts["road ways"] == EXPECTED_ROAD_WAYS
    assert report.counts["road ways cut at the extract edge"] == 1
    assert report.counts["schools"] == len(EXPECTED_SCHOOLS)
    with db.cursor() as cur:
        cur.execute("SELECT osm_type, osm_id, name, levels, levels_source, ownership FROM schools")
        found = {(t, i): (n, lv, src, own) for t, i, n, lv, src, own in cur.fetchall()}
        cur.execute(
            "SELECT osm_id, highway, oneway, node_ids, ST_NPoints(geom), "
            "round(ST_Length(geom::geography)) FROM road_ways ORDER BY osm_id"
        )
        ways = {row[0]: row[1:] for row in cur.fetchall()}
        cur.execute("SELECT extract_date FROM osm_extracts")
        newest = cur.fetchone()[0]
        cur.execute("SELECT ST_X(geom), ST_Y(geom) FROM schools WHERE osm_id = 200")
        x, y = cur.fetchone()
    assert found == EXPECTED_SCHOOLS
    assert set(ways) == {100, 101, 102, 103, 104, 106}
    assert ways[101][:2] == ("tertiary", "yes")
    assert ways[100][2] == [1, 2, 3]
    # Way 106 lost its missing node 999 and keeps the two it has.
    assert ways[106][2] == [8, 5] and ways[106][3] == 2
    # 200 m of road along a latitude: 2 x 0.0009 degrees of longitude at 10.45 N.
    assert ways[100][4] == pytest.approx(197, abs=1)
    assert newest.isoformat().startswith("2025-01-02T03:04:05")
    # A school drawn as an area is placed inside it.
    assert 106.6210 < x < 106.6214 and 10.4510 < y < 10.4514


def test_reimport_is_idempotent(db: Connection, tmp_path: Path) -> None:
    path = write_hand_made_osm(tmp_path / "small.osm")
    import_osm(db, path, no_progress)
    first = table_counts(db)
    again = import_osm(db, path, no_progress)
    assert table_counts(db) == first
    assert again.counts["schools added"] == 0
    assert again.counts["schools updated"] == len(EXPECTED_SCHOOLS)


def test_bz2_and_pbf_read_like_xml(db: Connection, tmp_path: Path) -> None:
    xml = write_hand_made_osm(tmp_path / "small.osm")
    packed = tmp_path / "small.osm.bz2"
    packed.write_bytes(bz2.compress(xml.read_bytes()))
    report = import_osm(db, packed, no_progress)
    assert report.counts["road ways"] == EXPECTED_ROAD_WAYS
    assert report.counts["schools"] == len(EXPECTED_SCHOOLS)


def test_district1_pbf_sample(db: Connection) -> None:
    report = import_osm(
        db, SHARED_DATA / "hcmc_d1_osm_samples" / "velos_district1_2026.osm.pbf", no_progress
    )
    assert report.counts["road ways"] == 2570
    assert report.counts["schools"] == 53
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM schools WHERE name = 'Trường Tiểu học Nguyễn Thái Học'")
        assert cur.fetchone()[0] == 1
    # House numbers and streets for the geocoder (figures measured on this sample).
    assert report.counts["house numbers"] == 1282
    assert report.counts["house numbers given the nearest road's street"] == 19
    assert report.counts["house numbers without a street near (skipped)"] == 1
    assert report.counts["streets (named roads)"] == 389
    with db.cursor() as cur:
        cur.execute("SELECT street_source, count(*) FROM addresses GROUP BY 1 ORDER BY 1")
        assert cur.fetchall() == [("nearest_road", 19), ("tag", 1263)]
        cur.execute("SELECT housenumber, street FROM addresses WHERE number_key = '11bis'")
        assert cur.fetchall() == [("11BIS", "Nguyễn Thị Minh Khai")]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("roads.txt", b"hello", "unknown format"),
        ("empty.osm", b"", "the file is empty"),
        ("garbage.osm.pbf", b"\x00\x00\x00\x0dnot a pbf at all" * 10, "corrupt"),
        ("broken.osm", b"<osm version='0.6'><node id='1' lat='1' lon='1'>", "corrupt"),
        ("no_data.osm", b"<?xml version='1.0'?><osm version='0.6'></osm>", "no OSM objects"),
    ],
)
def test_bad_files_fail_cleanly_and_change_nothing(
    db: Connection, tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    before = table_counts(db)
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=problem) as caught:
        import_osm(db, path, no_progress)
    assert str(path) in str(caught.value)
    assert table_counts(db) == before


def test_truncated_pbf_fails_and_changes_nothing(db: Connection, tmp_path: Path) -> None:
    source = SHARED_DATA / "hcmc_d1_osm_samples" / "velos_district1_2026.osm.pbf"
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    before = table_counts(db)
    with pytest.raises(ImportFileError, match="truncated or corrupt"):
        import_osm(db, cut, no_progress)
    assert table_counts(db) == before


def test_missing_file_is_named(db: Connection, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        import_osm(db, tmp_path / "nowhere.osm.pbf", no_progress)


def test_failure_after_writing_rolls_back_the_import(
    db: Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in the last step (after roads are written) leaves nothing behind."""
    path = write_hand_made_osm(tmp_path / "small.osm")
    shutil.copy(path, tmp_path / "copy.osm")
    before = table_counts(db)

    def fail(conn: Connection) -> int:
        raise ImportFileError(path, "simulated failure in the last step")

    monkeypatch.setattr("gis_service.importers.osm.assign_school_wards", fail)
    with pytest.raises(ImportFileError, match="simulated"):
        import_osm(db, path, no_progress)
    assert table_counts(db) == before
