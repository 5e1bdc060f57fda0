"""Applicants whose file gives an address instead of coordinates: placed by the geocoder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.rounds import create_round
from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError
from gis_service.importers.report import no_progress
from tests.conftest import table_counts


def house_addresses(conn: Connection, n: int) -> list[tuple[str, float, float, str]]:
    """n demo-city house numbers with unique number and street: text, point and ward code."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.housenumber || ' ' || a.street || ', ' || w.name, ST_X(a.geom),
                   ST_Y(a.geom), w.code
            FROM addresses a JOIN admin_units w ON w.level = 'ward' AND ST_Covers(w.geom, a.geom)
            WHERE a.street_source = 'tag' AND a.housenumber ~ '^[0-9]+$'
              AND (SELECT count(*) FROM addresses b
                   WHERE b.street_key = a.street_key AND b.number_key = a.number_key) = 1
            ORDER BY a.osm_id LIMIT %s
            """,
            (n,),
        )
        return [(text, lon, lat, code) for text, lon, lat, code in cur.fetchall()]


def write_file(path: Path, addresses: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["child_id", "birth_date", "address"])
        for k, address in enumerate(addresses):
            writer.writerow([f"DC9{k:06d}", "2019-05-01", address])
    return path


def homes(conn: Connection, round_id: int) -> dict[str, tuple[float, float, str]]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT a.home_address, ST_X(a.home), ST_Y(a.home), w.code FROM applications a "
            "LEFT JOIN admin_units w ON w.id = a.ward_id WHERE a.round_id = %s",
            (round_id,),
        )
        return {row[0]: (row[1], row[2], row[3]) for row in cur.fetchall()}


def test_homes_are_placed_from_house_numbers(demo_db: Connection, tmp_path: Path) -> None:
    known = house_addresses(demo_db, 25)
    assert len(known) == 25
    the_round = create_round(
        demo_db, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901", "902", "903"]
    )
    path = write_file(tmp_path / "by_address.csv", [text for text, *_ in known])
    report = import_applicants(demo_db, the_round.round_id, path, b"k", no_progress)
    assert report.counts["applicants"] == 25
    assert report.counts["home from address: house"] == 25
    assert report.counts["eligible"] == 25
    placed = homes(demo_db, the_round.round_id)
    for text, lon, lat, ward in known:
        got_lon, got_lat, got_ward = placed[text]
        assert (round(got_lon, 6), round(got_lat, 6)) == (round(lon, 6), round(lat, 6))
        assert got_ward == ward


def test_an_address_too_vague_stops_the_file_and_names_the_lines(
    demo_db: Connection, tmp_path: Path
) -> None:
    known = house_addresses(demo_db, 3)
    the_round = create_round(
        demo_db, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901"]
    )
    path = write_file(
        tmp_path / "vague.csv",
        [known[0][0], "Đường Không Có Thật", known[1][0], "Phường " + known[2][3] + "x"],
    )
    before = table_counts(demo_db)
    with pytest.raises(ImportFileError) as caught:
        import_applicants(demo_db, the_round.round_id, path, b"k", no_progress)
    message = str(caught.value)
    assert "2 home(s) could not be placed within 300 m" in message
    assert "line 3 'Đường Không Có Thật' (not found)" in message
    assert "line 5" in message and "line 2" not in message
    assert table_counts(demo_db) == before
