"""Distance fields, single queries, routes and isochrones: known answers and networkx."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gis_service.errors import InvalidRequestError, NotFoundError
from gis_service.routing import distances
from gis_service.routing.distances import (
    DistanceFields,
    Route,
    compute_fields,
    point_to_points,
    reachable_area,
    route,
)
from gis_service.routing.graph import RoadGraph, to_utm
from gis_service.routing.reference import (
    reference_costs,
    reference_fields,
)
from gis_service.routing.snap import Snapped, Snapper
from tests.conftest import ROOT
from tests.test_routing_graph import ORIGIN_X, ORIGIN_Y, City, block, d1_graph, lonlat_of

# networkx is the reference: a graph built from the same edge arrays, with the snapped points
# inserted as real nodes that split their edges (and the reverse edge of a two-way road).
LENGTH_TOLERANCE = {"length": 1.0, "time": 0.1}  # metres, seconds


def assert_costs_equal(ours: np.ndarray, reference: np.ndarray, tolerance: float) -> None:
    assert (np.isfinite(ours) == np.isfinite(reference)).all()
    finite = np.isfinite(reference)
    assert np.abs(ours[finite] - reference[finite]).max(initial=0.0) <= tolerance


def check_against_networkx(
    graph: RoadGraph, weight: str, homes: Snapped, school_lonlat: tuple[np.ndarray, np.ndarray]
) -> DistanceFields:
    """Fields, cost_from_points, point_to_points, route and nearest all agree with networkx."""
    lon, lat = school_lonlat
    fields = compute_fields(graph, lon, lat, np.arange(len(lon)) + 100, weight)
    schools = fields.source_snap
    tolerance = LENGTH_TOLERANCE[weight]
    assert_costs_equal(
        fields.dense().astype(np.float64), reference_fields(graph, weight, schools), tolerance
    )
    reference = reference_costs(graph, weight, homes, schools)
    ours = fields.cost_from_points(homes)
    assert_costs_equal(ours, reference, tolerance)
    single = np.array(
        [point_to_points(graph, homes.take([h]), schools, weight) for h in range(len(homes))]
    )
    assert_costs_equal(single, ours, 1e-3)
    some = np.array([1, len(lon) - 1])
    assert_costs_equal(fields.cost_from_points(homes, some), ours[:, some], 0.0)
    for h, s in list(zip(*np.nonzero(np.isfinite(ours)), strict=True))[:: max(1, ours.size // 40)]:
        found = route(graph, homes.take([h]), schools.take([s]), weight)
        assert (found.length_m if weight == "length" else found.time_s) == pytest.approx(
            ours[h, s], abs=tolerance
        )
        assert_shape_matches(found, homes.take([h]), schools.take([s]))
    k = min(5, len(lon))
    rows, costs = fields.nearest(homes, k)
    ordered = np.sort(ours, axis=1)[:, :k]
    assert_costs_equal(costs, ordered, 0.01 * tolerance)
    finite = np.isfinite(costs)
    assert (rows[~finite] == -1).all()
    chosen = np.take_along_axis(ours, np.maximum(rows, 0), axis=1)
    assert np.abs(chosen[finite] - costs[finite]).max(initial=0) <= 0.01 * tolerance
    return fields


def assert_shape_matches(found: Route, home: Snapped, school: Snapped) -> None:
    """The route's shape runs from snap point to snap point and is as long as its road part."""
    x, y = to_utm(found.lon, found.lat)
    assert (x[0], y[0]) == pytest.approx((home.x[0], home.y[0]), abs=1e-3)
    assert (x[-1], y[-1]) == pytest.approx((school.x[0], school.y[0]), abs=1e-3)
    on_road = float(np.hypot(np.diff(x), np.diff(y)).sum())
    offsets = float(home.offset_m[0] + school.offset_m[0])
    assert on_road == pytest.approx(found.length_m - offsets, abs=0.05)


def snap_xy(graph: RoadGraph, x: list[float], y: list[float]) -> Snapped:
    return Snapper(graph).snap(*lonlat_of(x, y))


# The 100 m block 1 (0,0) - 2 (100,0) - 3 (100,100) - 4 (0,100); way 12 is one-way 1 -> 2.
HOME_ON_ONE_WAY = (30.0, -10.0)  # 30 m from node 1 on the one-way, 10 m off it
AHEAD_ON_ONE_WAY = (70.0, 10.0)
ON_WEST_SIDE = (-10.0, 50.0)


@pytest.mark.parametrize(
    ("mode", "start", "end", "expected"),
    [
        ("motorbike", HOME_ON_ONE_WAY, AHEAD_ON_ONE_WAY, 40 + 20),
        ("motorbike", AHEAD_ON_ONE_WAY, HOME_ON_ONE_WAY, 30 + 300 + 30 + 20),
        ("walk", AHEAD_ON_ONE_WAY, HOME_ON_ONE_WAY, 40 + 20),
        ("motorbike", HOME_ON_ONE_WAY, ON_WEST_SIDE, 70 + 200 + 50 + 20),
        ("walk", HOME_ON_ONE_WAY, ON_WEST_SIDE, 30 + 50 + 20),
        ("motorbike", ON_WEST_SIDE, HOME_ON_ONE_WAY, 50 + 30 + 20),
        ("motorbike", (50.0, 50.0), (50.0, 50.0), 100),
    ],
)
def test_known_costs_respect_one_way_at_both_ends(
    mode: str, start: tuple[float, float], end: tuple[float, float], expected: float
) -> None:
    graph = block({"oneway": "yes"}).build(mode)
    home = snap_xy(graph, [start[0]], [start[1]])
    lon, lat = lonlat_of([end[0]], [end[1]])
    fields = compute_fields(graph, lon, lat, np.array([7]))
    assert fields.cost_from_points(home)[0, 0] == pytest.approx(expected, abs=1e-6)
    assert point_to_points(graph, home, fields.source_snap, "length")[0] == pytest.approx(
        expected, abs=1e-6
    )
    assert route(graph, home, fields.source_snap, "length").length_m == pytest.approx(
        expected, abs=1e-6
    )
    speed = 20 / 3.6 if mode == "motorbike" else 4.5 / 3.6
    timed = compute_fields(graph, lon, lat, np.array([7]), "time")
    assert timed.cost_from_points(home)[0, 0] == pytest.approx(expected / speed, abs=1e-6)


def test_a_route_follows_the_roads_from_snap_point_to_snap_point() -> None:
    graph = block({"oneway": "yes"}).build("motorbike")
    home = snap_xy(graph, [HOME_ON_ONE_WAY[0]], [HOME_ON_ONE_WAY[1]])
    school = snap_xy(graph, [ON_WEST_SIDE[0]], [ON_WEST_SIDE[1]])
    found = route(graph, home, school, "length")
    assert graph.node_osm_ids[found.nodes].tolist() == [2, 3, 4]
    x, y = to_utm(found.lon, found.lat)
    assert x - ORIGIN_X == pytest.approx([30, 100, 100, 0, 0], abs=1e-6)
    assert y - ORIGIN_Y == pytest.approx([0, 0, 100, 100, 50], abs=1e-6)
    assert found.length_m == pytest.approx(340, abs=1e-6)
    assert found.time_s == pytest.approx(340 / (20 / 3.6), abs=1e-6)
    assert graph.edge_way[found.edges].tolist() == [23, 34]
    # Same edge, ahead: straight along it; behind on a one-way: around the block.
    ahead = snap_xy(graph, [AHEAD_ON_ONE_WAY[0]], [AHEAD_ON_ONE_WAY[1]])
    direct = route(graph, home, ahead, "length")
    assert direct.nodes.tolist() == [] and direct.length_m == pytest.approx(60, abs=1e-6)
    assert to_utm(direct.lon, direct.lat)[0] - ORIGIN_X == pytest.approx([30, 70], abs=1e-6)
    around = route(graph, ahead, home, "time")
    assert graph.node_osm_ids[around.nodes].tolist() == [2, 3, 4, 1]
    assert around.length_m == pytest.approx(380, abs=1e-6)


def test_unsnapped_points_cost_inf_and_cannot_be_routed() -> None:
    graph = block().build("car")
    points = snap_xy(graph, [50, 5000], [-10, 0])
    assert points.ok.tolist() == [True, False]
    fields = compute_fields(graph, *lonlat_of([50, 5000], [110, 0]), np.array([1, 2]))
    costs = fields.cost_from_points(points)
    assert np.isfinite(costs[0, 0]) and np.isinf(costs[0, 1]) and np.isinf(costs[1]).all()
    assert np.isinf(point_to_points(graph, points.take([1]), fields.source_snap, "time")).all()
    rows, nearest_costs = fields.nearest(points, 3)
    assert rows.tolist() == [[0, -1, -1], [-1, -1, -1]]
    assert nearest_costs[0, 0] == pytest.approx(50 + 100 + 50 + 20, abs=1e-4)
    with pytest.raises(NotFoundError, match="too far"):
        route(graph, points.take([1]), points.take([0]), "length")
    with pytest.raises(InvalidRequestError, match="exactly one"):
        point_to_points(graph, points, points, "length")
    with pytest.raises(InvalidRequestError, match="unknown weight"):
        compute_fields(graph, *lonlat_of([0], [0]), np.array([1]), "hops")
    with pytest.raises(InvalidRequestError, match="at least 1"):
        fields.nearest(points, 0)


def test_a_cutoff_makes_farther_costs_inf_and_keeps_the_rest_exact() -> None:
    graph = d1_graph("velos_district1_2026.osm.pbf", "motorbike")
    rng = np.random.default_rng(3)
    pick = rng.integers(0, graph.n_nodes, 60)
    lon, lat = graph.node_lon[pick], graph.node_lat[pick]
    full = compute_fields(graph, lon[:20], lat[:20], np.arange(20))
    cut = compute_fields(graph, lon[:20], lat[:20], np.arange(20), cutoff=1500.0)
    within = full.dense() <= 1500
    assert within.any() and (~within).any()
    assert np.array_equal(cut.dense()[within], full.dense()[within])
    assert np.isinf(cut.dense()[~within]).all()
    homes = Snapper(graph).snap(lon[20:] + 0.0004, lat[20:])
    ours, reference = cut.cost_from_points(homes), full.cost_from_points(homes)
    assert np.array_equal(np.isfinite(ours), reference <= 1500)
    for h in range(len(homes)):
        single = point_to_points(graph, homes.take([h]), cut.source_snap, "length", 1500.0)
        assert_costs_equal(single, ours[h], 1e-3)


def test_fields_save_load_round_trip_exactly_and_workers_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int] = []

    class CountedPool(distances.ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(kwargs["max_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(distances, "ProcessPoolExecutor", CountedPool)
    graph = d1_graph("quan1_osmnx_drive_2023.osm.bz2", "car")
    rng = np.random.default_rng(11)
    pick = rng.integers(0, graph.n_nodes, 70)
    lon = graph.node_lon[pick] + rng.normal(0, 0.0005, 70)
    lat = graph.node_lat[pick] + rng.normal(0, 0.0005, 70)
    messages: list[str] = []
    fields = compute_fields(
        graph, lon, lat, pick.astype(np.int64), "time", 600.0, 500.0, messages.append, workers=2
    )
    assert messages[0] == "distance fields: 0/70" and messages[-1] == "distance fields: 70/70"
    assert pools == [2], "three blocks of sources over two worker processes"
    alone = compute_fields(graph, lon, lat, pick.astype(np.int64), "time", 600.0, 500.0, workers=1)
    assert np.array_equal(alone.dense(), fields.dense())
    path = tmp_path / "fields.npz"
    fields.save(path)
    loaded = DistanceFields.load(path)
    assert loaded.weight == "time" and loaded.cutoff == 600.0
    assert np.array_equal(loaded.source_keys, fields.source_keys)
    assert loaded.dense().dtype == np.float32
    assert np.array_equal(loaded.dense(), fields.dense())
    for name in Snapped.__dataclass_fields__:
        assert np.array_equal(
            getattr(loaded.source_snap, name), getattr(fields.source_snap, name), equal_nan=True
        )
    homes = Snapper(graph).snap(lon + 0.001, lat)
    assert np.array_equal(loaded.cost_from_points(homes), fields.cost_from_points(homes))
    no_cutoff = tmp_path / "none.npz"
    compute_fields(graph, lon[:2], lat[:2], pick[:2]).save(no_cutoff)
    assert DistanceFields.load(no_cutoff).cutoff is None


@pytest.mark.parametrize(
    ("name", "mode", "weight"),
    [
        ("quan1_osmnx_drive_2023.osm.bz2", "motorbike", "length"),
        ("velos_district1_2026.osm.pbf", "motorbike", "time"),
        ("velos_district1_2026.osm.pbf", "walk", "length"),
    ],
)
def test_district_1_samples_agree_with_networkx(name: str, mode: str, weight: str) -> None:
    graph = d1_graph(name, mode)
    rng = np.random.default_rng(2026)
    west, south = graph.node_lon.min(), graph.node_lat.min()
    east, north = graph.node_lon.max(), graph.node_lat.max()
    homes = Snapper(graph).snap(rng.uniform(west, east, 200), rng.uniform(south, north, 200))
    schools = (rng.uniform(west, east, 12), rng.uniform(south, north, 12))
    # Two schools exactly on graph nodes: their fields are plain node-to-node costs.
    on_nodes = rng.integers(0, graph.n_nodes, 2)
    school_lon = np.concatenate([schools[0], graph.node_lon[on_nodes]])
    school_lat = np.concatenate([schools[1], graph.node_lat[on_nodes]])
    fields = check_against_networkx(graph, weight, homes, (school_lon, school_lat))
    plain = nx.DiGraph()
    cost = graph.edge_cost(weight)
    for a, b, c in zip(
        graph.edge_from.tolist(), graph.edge_to.tolist(), cost.tolist(), strict=True
    ):
        if not plain.has_edge(b, a) or plain[b][a]["weight"] > c:
            plain.add_edge(b, a, weight=c)  # reversed: costs from every node to the target
    for row, node in zip((12, 13), on_nodes.tolist(), strict=True):
        found = nx.single_source_dijkstra_path_length(plain, node)
        expected = np.array([found.get(v, np.inf) for v in range(graph.n_nodes)])
        assert_costs_equal(
            fields.source_row(row).astype(np.float64), expected, LENGTH_TOLERANCE[weight]
        )


@st.composite
def grid_cities(draw: st.DrawFn) -> City:
    """Random grids of short streets: some missing, some one-way either way, some bent."""
    rows, cols = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    spacing = draw(st.floats(40, 250))
    city = City()
    for r, c in itertools.product(range(rows), range(cols)):
        city.node(r * cols + c + 1, c * spacing, r * spacing)
    way_id = 1
    for r, c in itertools.product(range(rows), range(cols)):
        here = r * cols + c + 1
        for there, inside in ((here + 1, c + 1 < cols), (here + cols, r + 1 < rows)):
            kind = draw(st.sampled_from(["two-way", "two-way", "forward", "backward", "none"]))
            if not inside or kind == "none":
                continue
            nodes = [here, there]
            if draw(st.booleans()):  # a bend: a shape point that is not a junction
                bend = 10_000 + way_id
                (x0, y0), (x1, y1) = city.positions[here], city.positions[there]
                city.node(bend, (x0 + x1) / 2 + (y1 - y0) * 0.3, (y0 + y1) / 2 + (x1 - x0) * 0.3)
                nodes = [here, bend, there]
            tags = {"highway": draw(st.sampled_from(["residential", "primary", "service"]))}
            if kind != "two-way":
                tags["oneway"] = "yes" if kind == "forward" else "-1"
            city.way(way_id, nodes, **tags)
            way_id += 1
    return city


@dataclass(frozen=True)
class GridHomes:
    """A random grid city's graph, its span (metres east and north) and homes snapped on it."""

    graph: RoadGraph
    rng: np.random.Generator
    span_x: float
    span_y: float
    homes: Snapped

    def points(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` random points (lon, lat) over the city and 60 m around it."""
        xs, ys = self.rng.uniform(-60, self.span_x, n), self.rng.uniform(-60, self.span_y, n)
        return lonlat_of(xs, ys)


def grid_homes(city: City, seed: int, n_homes: int) -> GridHomes:
    """The city's motorbike graph with `n_homes` random homes snapped within 300 m (hypothesis
    skips a city with no usable graph: every street one-way with no way back, or none)."""
    try:
        graph = city.build("motorbike")
    except InvalidRequestError:
        assume(False)
        raise
    rng = np.random.default_rng(seed)
    span_x = max(x for x, _ in city.positions.values()) + 60
    span_y = max(y for _, y in city.positions.values()) + 60
    xs, ys = rng.uniform(-60, span_x, n_homes), rng.uniform(-60, span_y, n_homes)
    return GridHomes(graph, rng, span_x, span_y, Snapper(graph).snap(*lonlat_of(xs, ys), 300))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    city=grid_cities(), seed=st.integers(0, 2**32 - 1), weight=st.sampled_from(["length", "time"])
)
def test_random_grids_agree_with_networkx(city: City, seed: int, weight: str) -> None:
    grid = grid_homes(city, seed, 12)
    graph, homes = grid.graph, grid.homes
    schools = grid.points(3)
    # One school on the first home's edge, so the same-edge case comes up often.
    if homes.ok[0]:
        near_lon, near_lat = lonlat_of([homes.x[0] - ORIGIN_X + 1], [homes.y[0] - ORIGIN_Y])
        schools = (np.append(schools[0], near_lon), np.append(schools[1], near_lat))
    check_against_networkx(graph, weight, homes, schools)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    city=grid_cities(),
    seed=st.integers(0, 2**32 - 1),
    weight=st.sampled_from(["length", "time"]),
    cutoff=st.sampled_from([None, 150.0, 400.0]),
)
def test_one_home_costs_what_it_costs_among_many(
    city: City, seed: int, weight: str, cutoff: float | None
) -> None:
    """A near-home question costs one home on its own path: bit for bit the row it gets when
    costed with others, to every source, to some sources, and as its nearest sources."""
    grid = grid_homes(city, seed, 12)
    graph, homes = grid.graph, grid.homes
    lon, lat = grid.points(5)
    # Sources on the homes' own edges, on either side of them (and twice on one edge).
    for i in np.flatnonzero(homes.ok)[:3]:
        for dx in (1.5, -2.0):
            near_lon, near_lat = lonlat_of([homes.x[i] - ORIGIN_X + dx], [homes.y[i] - ORIGIN_Y])
            lon, lat = np.append(lon, near_lon), np.append(lat, near_lat)
    fields = compute_fields(graph, lon, lat, np.arange(len(lon)), weight, cutoff, workers=1)
    together = fields.cost_from_points(homes)
    rows = np.array([len(lon) - 1, 0, 2], dtype=np.int64)
    some = fields.cost_from_points(homes, rows)
    best_rows, best_costs = fields.nearest(homes, 3)
    for i in range(len(homes)):
        alone = homes.take([i])
        assert fields.cost_from_points(alone).tobytes() == together[i : i + 1].tobytes(), i
        assert fields.cost_from_points(alone, rows).tobytes() == some[i : i + 1].tobytes(), i
        one_rows, one_costs = fields.nearest(alone, 3)
        assert one_rows.tolist() == best_rows[i : i + 1].tolist(), i
        assert one_costs.tobytes() == best_costs[i : i + 1].tobytes(), i


def test_reachable_area_on_a_straight_street() -> None:
    city = City().node(1, 0, 0).node(2, 1000, 0).way(1, [1, 2])
    graph = city.build("walk")  # 4.5 km/h = 1.25 m/s
    home = snap_xy(graph, [500], [25])
    area = reachable_area(graph, home, 100.0)  # 20 s to walk to the road, 80 s along it
    x0, y0, x1, y1 = shapely.bounds(shapely.transform(area, utm_local))
    assert (x0, x1) == pytest.approx((400 - 50, 600 + 50), abs=0.01)
    assert (y0, y1) == pytest.approx((-50, 50), abs=0.01)
    local = shapely.transform(area, utm_local)
    assert local.area == pytest.approx(200 * 100 + np.pi * 50**2, rel=0.03)
    assert shapely.is_empty(reachable_area(graph, home, 15.0))


def test_reachable_area_follows_one_way_streets() -> None:
    graph = block({"oneway": "yes"}).build("motorbike")  # 20 km/h
    home = snap_xy(graph, [30], [-5])
    area = shapely.transform(reachable_area(graph, home, 10.0), utm_local)
    reach = 10 * 20 / 3.6 - 5  # 5 m of the budget go to reaching the road
    x0, _, x1, _ = shapely.bounds(area)
    assert (x0, x1) == pytest.approx((30 - 50, 30 + reach + 50), abs=0.01)
    # Around the corner once the budget allows it.
    wide = shapely.transform(reachable_area(graph, home, 40.0), utm_local)
    assert wide.contains(shapely.Point(100, 80)) and not wide.contains(shapely.Point(0, 80))


def utm_local(coords: np.ndarray) -> np.ndarray:
    x, y = to_utm(coords[:, 0], coords[:, 1])
    return np.column_stack([x - ORIGIN_X, y - ORIGIN_Y])


def test_workers_saving_the_same_fields_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    """Regression: every writer used one '.partial' name, so a second writer's rename found
    its file already moved (a 500 on /schools/near while two workers filled the cache)."""
    graph = d1_graph("quan1_osmnx_drive_2023.osm.bz2", "car")
    pick = np.arange(0, graph.n_nodes, max(1, graph.n_nodes // 12))[:12]
    fields = compute_fields(
        graph,
        graph.node_lon[pick],
        graph.node_lat[pick],
        pick.astype(np.int64),
        "length",
        None,
        500.0,
        workers=1,
    )
    path = tmp_path / "fields.npz"
    writers = 8
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def save() -> None:
        barrier.wait()
        try:
            fields.save(path)
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=save) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [p.name for p in tmp_path.iterdir()] == ["fields.npz"], "partial files left"
    assert np.array_equal(DistanceFields.load(path).dense(), fields.dense())


MAPPED_FIELDS_MB = 64
_HOLD_FIELDS = """
import sys
from pathlib import Path

import numpy as np

from gis_service.routing.distances import DistanceFields
from gis_service.routing.snap import Snapped

SNAPPED = Snapped.__dataclass_fields__

def memory_kb() -> dict[str, int]:
    lines = Path("/proc/self/status").read_text().splitlines()
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in lines) if "Rss" in k}


def mapped_kb(path: str) -> int:
    # Resident kB of the mappings of the file at `path`.
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:
            inside = line.rstrip().endswith(path)
        elif inside and head[0] == "Rss:":
            total += int(head[1])
    return total


before = memory_kb()
fields = DistanceFields.load(Path(sys.argv[1]))
if sys.argv[2] == "all":
    total = 0.0
    for tile in fields.tiles.tiles:  # every page read (tile by tile: no copy of them all)
        total += float(tile[np.isfinite(tile)].sum(dtype=np.float64))
    total += float(fields.source_row(0).sum(dtype=np.float64))
elif sys.argv[2] == "column":  # one school's field at every node: a page of every node block
    total = float(fields.source_row(0).sum(dtype=np.float64))
else:
    # One home's costs to a few schools, as a parent's "near" asks for travel times.
    home = Snapped(*(np.asarray(getattr(fields.source_snap, f)[:1]) for f in SNAPPED))
    total = float(fields.cost_from_points(home, np.arange(10))[0].sum())
after = memory_kb()
print(after["RssAnon"] - before["RssAnon"], after["RssFile"] - before["RssFile"], total)
print(mapped_kb(sys.argv[1]))
"""


def test_loaded_fields_are_mapped_so_workers_share_one_copy(tmp_path: Path) -> None:
    """Loaded fields are pages of the file (shared by every process through the page cache),
    not a copy of a process's own: reading them all grows its file-backed memory, not its
    private memory, and the numbers read are the ones saved."""
    graph = d1_graph("quan1_osmnx_drive_2023.osm.bz2", "car")
    pick = np.arange(0, graph.n_nodes, max(1, graph.n_nodes // 80))[:80]
    small = compute_fields(
        graph, graph.node_lon[pick], graph.node_lat[pick], pick.astype(np.int64), workers=1
    )
    n_nodes = MAPPED_FIELDS_MB * 2**20 // (4 * len(pick))
    rng = np.random.default_rng(5)
    by_node = rng.random((n_nodes, len(pick)), dtype=np.float32)
    big = DistanceFields.from_node_major(
        small.weight, None, small.source_keys, by_node, small.source_snap, small.edges
    )
    path = tmp_path / "fields.npz"
    big.save(path)
    loaded = DistanceFields.load(path)
    mapped = loaded.tiles.tiles
    assert not mapped.flags.writeable and not mapped.flags.owndata
    assert np.array_equal(loaded.dense(), by_node.T)
    expected = float(np.sum(by_node, dtype=np.float64)) + float(by_node[:, 0].sum())
    size_kb = by_node.nbytes // 1024
    # A few costs read a few pages (a regression: they once read a column of every node).
    # Counted in the fields' own file: the kernel maps the pages around a fault, as much as
    # a whole large page-cache folio (1-2 MB), so the home's two tile rows (the ten schools
    # are in one block) map a few MB at most, while a column of every node maps nearly all
    # the tiles of its block of schools (a third of the file here).
    mapped_kb = {}
    for read in ("few", "column"):
        out = subprocess.run(
            [sys.executable, "-c", _HOLD_FIELDS, str(path), read],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        ).stdout
        mapped_kb[read] = int(out.split()[3])
    assert len(loaded.tiles.columns(np.arange(10)).blocks) == 1
    assert mapped_kb["few"] < 0.1 * size_kb < 0.25 * size_kb < mapped_kb["column"]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _HOLD_FIELDS, str(path), "all"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(2)
    ]
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        anon_kb, file_kb, total, _ = out.split()
        assert float(total) == pytest.approx(expected, rel=1e-9)
        assert int(file_kb) > 0.9 * size_kb, "the fields were read from the file's pages"
        assert int(anon_kb) < 0.1 * size_kb, "and not copied into the worker's own memory"
