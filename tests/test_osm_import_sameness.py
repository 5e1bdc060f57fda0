"""The bulk-loading OSM importer stores what the reference (row-by-row) importer stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from gis_service.db.connection import Connection
from gis_service.importers.osm import ADDRESS_STREET_DEG, import_osm
from gis_service.importers.report import ImportReport, no_progress
from tests import osm_reference_import
from tests.conftest import SHARED_DATA
from tests.osm_fixture import write_hand_made_osm

Importer = Callable[[Connection, Path, Any], ImportReport]

# House numbers around the fixture's road grid (106.62-106.6218 E, 10.45-10.4518 N): two with
# no street beside a named road, one with no street far from any road, one whose street folds
# to nothing, and a building outline with a number and no street.
_ADDRESS_NODES = """
  <node id="40" lat="10.4502" lon="106.6203" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="addr:housenumber" v="5"/>
  </node>
  <node id="41" lat="10.4509" lon="106.6211" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="addr:housenumber" v="7A"/>
  </node>
  <node id="42" lat="10.4600" lon="106.6300" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="addr:housenumber" v="9"/>
  </node>
  <node id="43" lat="10.4503" lon="106.6204" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="addr:housenumber" v="11"/><tag k="addr:street" v="-"/>
  </node>
  <node id="44" lat="10.4504" lon="106.6205" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="addr:housenumber" v="13/2"/><tag k="addr:street" v="Lê Lợi"/>
  </node>
"""


def _write_fixture_with_addresses(path: Path) -> Path:
    written = write_hand_made_osm(path)
    text = written.read_text(encoding="utf-8")
    head, tail = text.split("</osm>")
    written.write_text(head + _ADDRESS_NODES + "</osm>" + tail, encoding="utf-8")
    return written


_WARD_BOXES = [
    (106.6195, 10.4510, 106.6215, 10.4520),
    (106.6206, 10.4508, 106.6230, 10.4520),
    (107.0, 11.0, 107.1, 11.1),
]


def _add_wards(conn: Connection) -> None:
    """Two overlapping wards over part of the fixture (the lower id wins where both cover)
    and one far away."""
    with conn.cursor() as cur:
        for n, (x0, y0, x1, y1) in enumerate(_WARD_BOXES):
            code = f"W{n + 1}"
            cur.execute(
                "INSERT INTO admin_units (level, code, name, name_folded, short_folded, edition, "
                "geom) VALUES ('ward', %s, %s, %s, %s, '2019', "
                "ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4326)))",
                (code, code, code.lower(), code.lower(), x0, y0, x1, y1),
            )


def _snapshot(conn: Connection) -> dict[str, Any]:
    """The stored rows of every table the importer writes, without generated ids and times."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT osm_id, highway, name, oneway, tags, node_ids, ST_AsBinary(geom) "
            "FROM road_ways ORDER BY osm_id"
        )
        ways = cur.fetchall()
        cur.execute(
            "SELECT osm_type, osm_id, code, name, name_folded, levels, levels_source, ownership, "
            "address, phone, website, ward_id, ST_X(geom), ST_Y(geom), source, tags "
            "FROM schools ORDER BY osm_type, osm_id"
        )
        schools = cur.fetchall()
        cur.execute(
            "SELECT osm_type, osm_id, housenumber, street, number_key, street_key, street_source, "
            "ST_X(geom), ST_Y(geom) FROM addresses ORDER BY osm_type, osm_id"
        )
        addresses = cur.fetchall()
        cur.execute(
            "SELECT street_key, name, round(length_m::numeric, 3), "
            "ST_AsText(ST_Normalize(geom)) FROM streets ORDER BY 1, 2, 3, 4"
        )
        streets = cur.fetchall()
        cur.execute("SELECT source, extract_date, way_count, school_count FROM osm_extracts")
        extracts = cur.fetchall()
        # House numbers that lie exactly as far from two differently named roads: either name
        # is right (the reference took whichever its index scan met first).
        cur.execute(
            """
            SELECT a.osm_type, a.osm_id, array_agg(DISTINCT r.name)
            FROM addresses a
            JOIN road_ways r ON r.extract_id = a.extract_id AND r.name IS NOT NULL
                AND ST_DWithin(r.geom, a.geom, %s)
            WHERE a.street_source = 'nearest_road'
              AND ST_Distance(r.geom, a.geom) = (
                  SELECT min(ST_Distance(r2.geom, a.geom)) FROM road_ways r2
                  WHERE r2.extract_id = a.extract_id AND r2.name IS NOT NULL
                    AND ST_DWithin(r2.geom, a.geom, %s))
            GROUP BY 1, 2 HAVING count(DISTINCT r.name) > 1
            """,
            (ADDRESS_STREET_DEG, ADDRESS_STREET_DEG),
        )
        tied = {(t, i): set(names) for t, i, names in cur.fetchall()}
    return {
        "ways": [row[:-1] for row in ways],
        "way_coords": [shapely.get_coordinates(shapely.from_wkb(bytes(r[-1]))) for r in ways],
        "schools": schools,
        "addresses": addresses,
        "streets": streets,
        "extracts": extracts,
        "tied": tied,
    }


def _import_both(conn: Connection, path: Path) -> tuple[Any, Any, ImportReport, ImportReport]:
    """Import with the reference code, snapshot, undo; then the same with the new code."""
    results = []
    for importer in (osm_reference_import.import_osm, import_osm):
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT sameness")
        report = importer(conn, path, no_progress)
        results.append((_snapshot(conn), report))
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT sameness")
    (old, old_report), (new, new_report) = results
    return old, new, old_report, new_report


def _assert_same(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert new["ways"] == old["ways"]
    assert len(new["way_coords"]) == len(old["way_coords"])
    for before, after in zip(old["way_coords"], new["way_coords"], strict=True):
        assert before.shape == after.shape
        assert np.abs(before - after).max() <= 1e-7
    assert new["schools"] == old["schools"]
    assert new["tied"] == old["tied"]
    assert len(new["addresses"]) == len(old["addresses"])
    for before, after in zip(old["addresses"], new["addresses"], strict=True):
        names = new["tied"].get(before[:2])
        if before != after and names:
            # Same house number, another of the equally near roads.
            unchanged = (0, 1, 2, 4, 6, 7, 8)  # all but street and street_key
            assert [before[k] for k in unchanged] == [after[k] for k in unchanged]
            assert {before[3], after[3]} <= names
        else:
            assert before == after
    assert new["streets"] == old["streets"]
    assert new["extracts"] == old["extracts"]


def _same_counts(old: ImportReport, new: ImportReport) -> None:
    assert {k: v for k, v in new.counts.items() if k != "extract id"} == {
        k: v for k, v in old.counts.items() if k != "extract id"
    }
    assert new.notes == old.notes


def test_hand_made_extract_stores_the_same(db: Connection, tmp_path: Path) -> None:
    _add_wards(db)
    path = _write_fixture_with_addresses(tmp_path / "small.osm")
    old, new, old_report, new_report = _import_both(db, path)
    _assert_same(old, new)
    _same_counts(old_report, new_report)
    # The fixture exercises every way a house number is kept or dropped.
    sources = sorted(row[6] for row in new["addresses"])
    assert "nearest_road" in sources and "tag" in sources
    assert new_report.counts["house numbers without a street near (skipped)"] >= 2
    assert new_report.counts["house numbers given the nearest road's street"] >= 1
    # Some schools lie in both fixture wards (the lower id is kept), one in none.
    assert None in [row[11] for row in new["schools"]]
    in_both = [
        row
        for row in new["schools"]
        if all(x0 <= row[12] <= x1 and y0 <= row[13] <= y1 for x0, y0, x1, y1 in _WARD_BOXES[:2])
    ]
    assert in_both


def test_reimport_stores_the_same(db: Connection, tmp_path: Path) -> None:
    """A second import over the first gives the same tables as with the reference code."""
    path = _write_fixture_with_addresses(tmp_path / "small.osm")
    osm_reference_import.import_osm(db, path, no_progress)
    old, new, old_report, new_report = _import_both(db, path)
    _assert_same(old, new)
    _same_counts(old_report, new_report)
    assert new_report.counts["schools added"] == 0


def test_district1_sample_stores_the_same(db: Connection) -> None:
    path = SHARED_DATA / "hcmc_d1_osm_samples" / "velos_district1_2026.osm.pbf"
    old, new, old_report, new_report = _import_both(db, path)
    _assert_same(old, new)
    _same_counts(old_report, new_report)
    assert len(new["addresses"]) == 1282


@pytest.mark.hcmc
def test_hcmc_extract_stores_the_same(db: Connection) -> None:
    """The whole 2018 city: 33,021 road ways, 919 schools, 20,684 house numbers, 10,004 streets."""
    path = SHARED_DATA / "hcmc_osm_2018" / "hcm_2018.osm.pbf"
    old, new, old_report, new_report = _import_both(db, path)
    _assert_same(old, new)
    _same_counts(old_report, new_report)
    assert len(new["ways"]) == 33_021 and len(new["addresses"]) == 20_684
