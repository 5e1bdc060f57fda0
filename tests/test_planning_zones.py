"""School zones: forecast children admitted by road distance, each school's admission distance
with its interval, the zone of homes within it, and a home's chance before applying."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.problem import Problem
from allocation.solve import solve
from gis_service.db.connection import Connection
from gis_service.planning.gap import LEVEL_OF_GRADE
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
from gis_service.routing.distances import area_within
from gis_service.routing.service import RoutingService

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
    assert lost.unplaced == 4 and lost.admitted.tolist() == [0, 0]


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
    row = fields.to_source[0]
    areas = [area_within(net.graph, row, budget) for budget in (300, 800, 1500, 3000)]
    for smaller, larger in itertools.pairwise(areas):
        assert larger.area > smaller.area
        assert shapely.difference(smaller, larger).area < 1e-12
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
