"""A city-wide round on the real Ho Chi Minh City data at reduced size: 10,000 children placed
by ward population anywhere in their wards, many far from a road mapped in 2018 (Củ Chi, Cần
Giờ, Bình Chánh): every child is placed while seats are free, and every estimated distance is
flagged, listed and explained."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.estimated import estimated_homes
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.admissions.run_store import EXPLANATION_COLUMNS, stored_explanation
from gis_service.admissions.runs import run_round
from gis_service.db.connection import Connection, connect
from gis_service.importers.osm import import_osm
from gis_service.importers.report import no_progress
from gis_service.routing.profiles import default_profile
from gis_service.routing.service import ESTIMATED_DETOUR, MAX_SNAP_M, RoutingService
from gis_service.routing.store import build_and_store
from tests.conftest import SHARED_DATA, recreate_database, rolled_back
from tests.hcmc_data import load_hcmc_wards_2019, register_primary_schools

pytestmark = pytest.mark.hcmc

CHILDREN = 10_000
CLASSES, CLASS_SIZE = 2, 35


@dataclass(frozen=True)
class City:
    url: str
    home: Path
    schools: int


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    """The 2019 wards and census, the 2018 roads and schools, a registry giving every primary
    school two grade-1 classes, and the motorbike network (committed once)."""
    home = tmp_path_factory.mktemp("city-home")
    url = recreate_database("schoolmap_test_city_round")
    conn = connect(url)
    try:
        load_hcmc_wards_2019(conn)
        import_osm(conn, SHARED_DATA / "hcmc_osm_2018" / "hcm_2018.osm.pbf", no_progress)
        schools = register_primary_schools(conn, home / "registry.csv", CLASSES, CLASS_SIZE)
        build_and_store(conn, default_profile("motorbike"), home, progress=no_progress)
        conn.commit()
    finally:
        conn.close()
    return City(url, home, schools)


def applicants_by_population(conn: Connection, path: Path) -> None:
    """CHILDREN homes at random points of the wards, as many per ward as its 2019 share."""
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH share AS (
                SELECT w.id, w.geom, p.population::float / sum(p.population) OVER () AS s
                FROM admin_units w JOIN admin_units d ON d.id = w.parent_id
                JOIN admin_population p ON p.admin_unit_id = w.id AND p.year = 2019
                WHERE w.level = 'ward'
            )
            SELECT ST_X(pt.geom), ST_Y(pt.geom)
            FROM share, LATERAL ST_Dump(ST_GeneratePoints(
                share.geom, GREATEST(1, round(share.s * %s)::int), share.id)) AS pt
            ORDER BY share.id, pt.path
            """,
            (CHILDREN,),
        )
        homes = cur.fetchall()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["child_id", "birth_date", "lon", "lat"])
        for i, (lon, lat) in enumerate(homes):
            writer.writerow([f"0792{i:08d}", "2020-06-01", lon, lat])


@dataclass(frozen=True)
class Round:
    conn: Connection
    routing: RoutingService
    round_id: int
    children: int
    far: set[int]
    """Applications whose home is farther than MAX_SNAP_M from every road of the network, as
    PostGIS measures it (the snapper's own distance is not used to choose them)."""


@pytest.fixture(scope="module")
def city_round(city: City, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Round]:
    with rolled_back(city.url) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT code FROM admin_units WHERE level = 'district' ORDER BY code")
            districts = [row[0] for row in cur.fetchall()]
        made = create_round(
            conn, name="Lớp 1 toàn thành phố", grade=1, school_year="2026-2027", districts=districts
        )
        path = tmp_path_factory.mktemp("applicants") / "applicants.csv"
        applicants_by_population(conn, path)
        report = import_applicants(conn, made.round_id, path, b"city", no_progress)
        set_round_status(conn, made.round_id, "open")
        set_round_status(conn, made.round_id, "closed")
        with conn.cursor() as cur:
            cur.execute(
                """
                SELECT a.id FROM applications a, LATERAL (
                    SELECT min(ST_Distance(near.geom::geography, a.home::geography)) AS metres
                    FROM (SELECT e.geom FROM road_edges e
                          WHERE e.network_id = (SELECT max(id) FROM road_networks)
                          ORDER BY e.geom <-> a.home LIMIT 8) near) road
                WHERE a.round_id = %s AND a.status = 'eligible' AND road.metres > %s
                """,
                (made.round_id, MAX_SNAP_M + 1),
            )
            far = {int(row[0]) for row in cur.fetchall()}
        yield Round(conn, RoutingService(city.home), made.round_id, report.counts["eligible"], far)


@pytest.mark.parametrize("mechanism", ["da", "nearest"])
def test_every_child_is_placed_while_seats_are_free(city_round: Round, mechanism: str) -> None:
    run = run_round(city_round.conn, city_round.routing, city_round.round_id, mechanism, seed=2026)
    assert city_round.children > 9_000
    # Homes beyond the roads of 2018 are there, in number, and none is left out.
    assert len(city_round.far) > 100
    assert run.metrics["unassigned"] == 0
    assert run.metrics["estimated_homes"] >= len(city_round.far)
    assert run.metrics["estimated_homes_placed"] == run.metrics["estimated_homes"]
    listed = estimated_homes(city_round.conn, run.run_id)
    flagged = {child["application_id"] for child in listed}
    # Every home PostGIS finds beyond 1 km of the network is flagged; a flagged home is never
    # nearer than 1 km to it (the two measures differ by at most a few metres at the edge).
    assert city_round.far <= flagged
    assert all(child["road_offset_m"] > MAX_SNAP_M for child in listed)
    assert all(child["detour"] == ESTIMATED_DETOUR for child in listed)
    assert all(child["school_name"] and child["distance_m"] > 0 for child in listed)
    with city_round.conn.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FILTER (WHERE x.explanation ? 'estimated'),
                   count(*) FILTER (WHERE x.school_id IS NULL)
            FROM assignments x WHERE x.run_id = %s
            """,
            (run.run_id,),
        )
        explained, unplaced = cur.fetchone()  # type: ignore[misc]
        assert (explained, unplaced) == (len(flagged), 0)
        # No child reads that she is not eligible: every one was placed, and says so.
        cur.execute(
            f"SELECT x.school_id, x.cost, r.passed_kinds, {EXPLANATION_COLUMNS} "
            "FROM assignments x JOIN allocation_runs r ON r.id = x.run_id WHERE x.run_id = %s",
            (run.run_id,),
        )
        for school_id, cost, kinds, *columns in cur.fetchall():
            summary = explain_vi(
                stored_explanation(columns, school_id, cost, kinds), mechanism, {}, brief=True
            )["summary"]
            assert summary.startswith("Con được xếp vào") and "không thuộc diện" not in summary
    # The parent of such a child reads why the distances are estimated, and by how much.
    with city_round.conn.cursor() as cur:
        cur.execute(
            f"SELECT x.school_id, x.cost, r.passed_kinds, {EXPLANATION_COLUMNS} "
            "FROM assignments x JOIN allocation_runs r ON r.id = x.run_id "
            "JOIN applications a ON a.round_id = r.round_id AND a.applicant_id = x.applicant_id "
            "WHERE x.run_id = %s AND a.id = %s",
            (run.run_id, listed[0]["application_id"]),
        )
        school_id, cost, kinds, *columns = cur.fetchone()  # type: ignore[misc]
    told = explain_vi(stored_explanation(columns, school_id, cost, kinds), mechanism, {}, ())
    assert told["summary"].startswith("Con được xếp vào")
    offset = f"{listed[0]['road_offset_m']:,}".replace(",", ".")
    assert "các khoảng cách ở đây là ước tính" in told["summary"]
    assert f"Nhà cách con đường gần nhất có trên bản đồ {offset}" in told["summary"]


def test_a_city_run_exports_in_parts_as_in_one(
    city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed run written by two processes at once gives the same files, byte for byte,
    as one process writing it alone."""
    from gis_service.admissions import exports

    conn = connect(city.url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT code FROM admin_units WHERE level = 'district' ORDER BY code")
            districts = [row[0] for row in cur.fetchall()]
        # Another key than the module's rolled-back round: no child of both to wait on.
        made = create_round(
            conn, name="Lớp 1 (xuất)", grade=1, school_year="2026-2027", districts=districts
        )
        path = tmp_path / "applicants.csv"
        applicants_by_population(conn, path)
        import_applicants(conn, made.round_id, path, b"parts", no_progress)
        set_round_status(conn, made.round_id, "open")
        set_round_status(conn, made.round_id, "closed")
        run_id = run_round(conn, RoutingService(city.home), made.round_id, "nearest", seed=1).run_id
        conn.commit()
        one = (tmp_path / "one.csv", tmp_path / "one.geojson")
        assert exports.export_run(conn, run_id, *one, workers=1) > 9_000
        conn.rollback()
        monkeypatch.setattr(exports, "PARALLEL_FROM", 1_000)
        said: list[str] = []
        parts = (tmp_path / "parts.csv", tmp_path / "parts.geojson")
        exports.export_run(conn, run_id, *parts, workers=2, progress=said.append)
        conn.rollback()
    finally:
        conn.close()
    assert any("exporting in 2 parts at once" in line for line in said), said
    assert not any("written here" in line for line in said), said
    assert one[0].read_bytes() == parts[0].read_bytes()
    assert one[1].read_bytes() == parts[1].read_bytes()
    # No part file is left beside the outputs.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["applicants.csv", "one.csv", "one.geojson", "parts.csv", "parts.geojson"]
    )
