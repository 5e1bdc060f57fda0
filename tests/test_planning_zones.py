"""School zones: forecast children admitted by road distance, each school's admission distance
with its interval, the zone of homes within it, and a home's chance before applying."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from allocation.problem import Problem
from allocation.solve import solve
from gis_service.api.app import create_app
from gis_service.cli import app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection, connect
from gis_service.planning.zones import (
    UNCERTAIN,
    UNLIKELY,
    VERY_LIKELY,
    ZoneSettings,
    admit_by_distance,
    chance,
    compute_zones,
    published_run,
    save_zones,
    zones_geojson,
)
from gis_service.routing.distances import ZONE_DETAIL_M, area_within
from gis_service.routing.service import RoutingService
from gis_service.school_levels import LEVEL_OF_GRADE
from tests.browser_support import copy_database, drop_database
from tests.test_auth import (
    RequestScopedSource,
    RequestTransactions,
    add_user,
    api_connection,
    sign_in,
)

INF = np.inf


def test_children_are_admitted_nearest_first_until_the_seats_run_out() -> None:
    # Homes 0, 1, 2 with 2, 1, 2 children; school A 3 seats, school B 5.
    cost = np.array([[100.0, 900.0], [300.0, 400.0], [500.0, 200.0]])
    made = admit_by_distance(np.array([2, 1, 2]), np.array([3, 5]), cost)
    # A takes home 0 (100 m) and home 1 (300 m): full, its last child 300 m away. B takes home 2
    # and is not full.
    assert made.admitted.tolist() == [3, 2]
    assert made.cutoff[0] == 300.0 and np.isnan(made.cutoff[1])
    assert made.unplaced == 0
    # No road to any school: unplaced, never placed anywhere.
    lost = admit_by_distance(np.array([4]), np.array([3, 5]), np.array([[INF, INF]]))
    assert lost.unplaced == lost.no_road == 4 and lost.admitted.tolist() == [0, 0]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_homes=st.integers(1, 7),
    n_schools=st.integers(1, 4),
)
def test_admission_by_distance_is_deferred_acceptance_with_lists_by_distance(
    data: st.DataObject, n_homes: int, n_schools: int
) -> None:
    """Each child alone (one per home), distinct distances: the library's DA, whose lists and
    school priorities are by distance, admits the same children to the same schools."""
    distances = data.draw(
        st.lists(
            st.integers(1, 10_000),
            min_size=n_homes * n_schools,
            max_size=n_homes * n_schools,
            unique=True,
        )
    )
    seats = data.draw(st.lists(st.integers(0, 3), min_size=n_schools, max_size=n_schools))
    cost = np.array(distances, dtype=np.float64).reshape(n_homes, n_schools)
    made = admit_by_distance(np.ones(n_homes, dtype=np.int64), np.array(seats), cost)
    problem = Problem(
        applicant_ids=tuple(f"c{i}" for i in range(n_homes)),
        school_ids=tuple(f"s{s}" for s in range(n_schools)),
        cost=cost.astype(np.int64),
        classes=np.array(seats, dtype=np.int64),
        class_size=np.ones(n_schools, dtype=np.int64),
        tier=np.zeros(n_homes, dtype=np.int64),
    )
    da = solve(problem, "da", explain=False).assignment
    assert made.admitted.tolist() == np.bincount(da[da >= 0], minlength=n_schools).tolist()
    for s in range(n_schools):
        mine = cost[da == s, s]
        if seats[s] and len(mine) == seats[s]:
            assert made.cutoff[s] == mine.max()
        else:
            assert np.isnan(made.cutoff[s])


@given(
    cutoff=st.floats(0, 5000),
    low=st.floats(0, 5000),
    high=st.floats(0, 5000),
    distance=st.floats(0, 10_000),
)
def test_a_home_within_the_whole_interval_is_very_likely(
    cutoff: float, low: float, high: float, distance: float
) -> None:
    low, cutoff, high = sorted((low, cutoff, high))
    said = chance(distance, cutoff, low, high, 2027)
    if distance <= low:
        assert said.label == VERY_LIKELY
    elif distance <= high:
        assert said.label == UNCERTAIN
    else:
        assert said.label == UNLIKELY
    assert "không phải cam kết" in said.vi and "never a promise" in said.en


def test_the_chance_says_how_it_was_estimated() -> None:
    said = chance(800, 1240, 980, 1530, 2027)
    assert said.label == VERY_LIKELY
    assert said.vi == (
        "Ước tính từ dự báo số trẻ năm học 2027–2028 và số chỗ của trường, nếu mọi gia đình "
        "chọn trường gần nhà: dự kiến trường nhận trẻ ở cách trường đến khoảng 1.240 m theo "
        "đường đi (có thể 980 m đến 1.530 m). Đây là ước tính, không phải cam kết."
    )
    assert "up to about 1,240 m away by road (980 m to 1,530 m)" in said.en
    assert chance(1700, 1240, 980, 1530, 2027).label == UNLIKELY
    # A school that would not fill even with many children: every home that asks.
    roomy = chance(9000, None, None, None, 2027)
    assert roomy.label == VERY_LIKELY and "còn chỗ cho mọi trẻ" in roomy.vi
    # Full only when many children come: uncertain beyond its expected reach.
    assert chance(2000, None, 1500, None, 2027).label == UNCERTAIN


@pytest.fixture
def routing(demo_home: Path) -> RoutingService:
    return RoutingService(demo_home)


def test_zones_nest_as_the_admission_distance_grows(
    demo_db: Connection, routing: RoutingService
) -> None:
    net = routing.network(demo_db, "motorbike")
    fields = routing.fields(demo_db, net, LEVEL_OF_GRADE[1], "length")
    row = fields.source_row(0)
    # Across the grid's coarsening too (beyond ZONE_DETAIL_M the cells double).
    budgets = (300, 800, 1500, 3000, ZONE_DETAIL_M, ZONE_DETAIL_M + 1, 2.5 * ZONE_DETAIL_M)
    areas = [area_within(net.graph, row, budget) for budget in budgets]
    for smaller, larger in itertools.pairwise(areas):
        assert larger.area >= smaller.area
        # (Nothing outside but rounding: well under a square metre.)
        assert shapely.difference(smaller, larger).area < 1e-6 * smaller.area
    # Every road node within the distance lies in the zone.
    inside = np.flatnonzero(row <= 1500)
    nodes = shapely.points(net.graph.node_lon[inside], net.graph.node_lat[inside])
    assert shapely.covers(areas[2], nodes).all()
    assert area_within(net.graph, row, -1).is_empty


def test_the_demo_city_s_zones_for_next_year(demo_db: Connection, routing: RoutingService) -> None:
    zones, statement = compute_zones(demo_db, routing, ZoneSettings(grade=1, school_year=2026))
    # The demo city is short of seats for 2026: the children beyond them stay unplaced.
    seats = sum(z.seats for z in zones)
    assert statement["unplaced"] == max(0, statement["children"] - seats) > 0
    assert sum(z.expected_children for z in zones) + statement["unplaced"] == statement["children"]
    assert all(z.expected_children <= z.seats for z in zones)
    full = [z for z in zones if z.cutoff_m is not None]
    assert full, "the demo city has schools that fill"
    for z in full:
        # More children fill a school nearer home, fewer farther (or not at all).
        assert z.cutoff_low_m is not None and z.cutoff_low_m <= z.cutoff_m + 1e-6
        assert z.cutoff_high_m is None or z.cutoff_m <= z.cutoff_high_m + 1e-6
        assert z.zone is not None and not z.zone.is_empty
    run_id = save_zones(
        demo_db, zones, statement, ZoneSettings(grade=1, school_year=2026), publish=True
    )
    assert published_run(demo_db, 1) == run_id
    assert published_run(demo_db, 6) is None
    shown = zones_geojson(demo_db, run_id)
    assert len(shown["features"]) == len(zones)
    props = {f["id"]: f["properties"] for f in shown["features"]}
    for z in full:
        assert props[z.school_id]["cutoff_m"] == pytest.approx(z.cutoff_m, abs=0.1)
        assert 0.0 <= props[z.school_id]["unit_share"] <= 1.0
    assert all(f["geometry"] is None for f in shown["features"] if not f["properties"]["full"])
    # Nothing about any child: forecasts and seats.
    keys = set().union(*(p.keys() for p in props.values()))
    assert not keys & {"applicant_id", "child_id", "lon", "lat", "home"}


@pytest.fixture
def api(demo_db_url: str, demo_home: Path) -> Iterator[tuple[TestClient, RequestTransactions]]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with api_connection(demo_db_url) as conn:
        app = create_app(settings, pool=RequestScopedSource(conn))
        with TestClient(app) as client:
            yield client, conn


def test_planners_publish_zones_and_anyone_reads_them_with_a_home_s_chances(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, conn = api
    none_yet = client.get("/zones", params={"grade": 1})
    assert none_yet.status_code == 404
    assert none_yet.json()["detail"].startswith("Chưa công bố vùng tuyển lớp 1")
    body = {"grade": 1, "school_year": 2026, "publish": True}
    assert client.post("/planning/zones", json=body).status_code == 401
    add_user(conn, "me.an", "parent")
    add_user(conn, "quy.hoach", "planner")
    conn.commit()
    assert (
        client.post("/planning/zones", json=body, headers=sign_in(client, "me.an")).status_code
        == 403
    )
    made = client.post("/planning/zones", json=body, headers=sign_in(client, "quy.hoach"))
    assert made.status_code == 201, made.text
    run = made.json()
    assert run["school_year"] == "2026-2027" and run["published_at"] is not None
    public = client.get("/zones", params={"grade": 1}).json()
    assert public["run"] == run["run"] and len(public["features"]) == len(run["features"])
    # A home at the school that admits the nearest children: very likely there.
    full = [f for f in public["features"] if f["properties"]["full"]]
    tightest = min(full, key=lambda f: f["properties"]["cutoff_low_m"])
    with conn.cursor() as cur:
        cur.execute("SELECT ST_X(geom), ST_Y(geom) FROM schools WHERE id = %s", (tightest["id"],))
        lon, lat = cur.fetchone()  # type: ignore[misc]
    said = client.get("/zones/chances", params={"lon": lon, "lat": lat, "grade": 1}).json()
    mine = next(s for s in said["schools"] if s["school_id"] == tightest["id"])
    assert mine["distance_m"] <= tightest["properties"]["cutoff_low_m"]
    assert mine["chance"]["label"] == VERY_LIKELY
    assert "không phải cam kết" in mine["chance"]["vi"]
    labels = {s["chance"]["label"] for s in said["schools"] if s["chance"]}
    assert labels <= {VERY_LIKELY, UNCERTAIN, UNLIKELY}
    far = [
        s
        for s in said["schools"]
        if s["chance"]
        and s["chance"]["cutoff_high_m"]
        and s["distance_m"] > s["chance"]["cutoff_high_m"]
    ]
    assert all(s["chance"]["label"] == UNLIKELY for s in far)
    # Grade 6 has none published: said so, not an error.
    sixth = client.get("/zones/chances", params={"lon": lon, "lat": lat, "grade": 6})
    assert sixth.status_code == 200
    assert sixth.json()["run"] is None and sixth.json()["schools"] == []
    assert sixth.json()["note"].startswith("Chưa công bố vùng tuyển lớp 6")


def test_the_command_line_makes_the_same_zones(demo_db_url: str, demo_home: Path) -> None:
    url = copy_database(demo_db_url, "_zones_cli")
    try:
        env = {"DATABASE_URL": url, "SCHOOLMAP_HOME": str(demo_home)}
        made = CliRunner().invoke(
            app, ["zones", "--grade", "1", "--year", "2026", "--publish"], env=env
        )
        assert made.exit_code == 0, made.output
        first = made.output.splitlines()[0]
        assert first.startswith("zone run ") and "(published): grade 1, 2026-2027" in first
        assert "children at" in made.output and "without a seat" in made.output
        bad = CliRunner().invoke(app, ["zones", "--grade", "2", "--year", "2026"], env=env)
        # (`schoolmap` prints the domain error on one line and exits 1; the runner keeps it.)
        assert bad.exit_code == 1 and "grade must be 1 or 6" in str(bad.exception)
        conn = connect(url)
        try:
            run_id = published_run(conn, 1)
            assert run_id is not None
            shown = zones_geojson(conn, run_id)
        finally:
            conn.close()
        assert shown["statement"]["method_en"].startswith("The school year's forecast children")
        assert any(f["properties"]["full"] for f in shown["features"])
    finally:
        drop_database(url)
