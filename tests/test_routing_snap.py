"""Snapping points onto road edges: exact offsets, the distance limit, vectorised = one by one."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis_service.routing.graph import RoadGraph, to_utm
from gis_service.routing.snap import Snapper
from tests.test_routing_graph import ORIGIN_X, ORIGIN_Y, City, block, d1_graph, lonlat_of


def edge_lines(graph: RoadGraph) -> np.ndarray:
    index = np.repeat(np.arange(graph.n_edges), np.diff(graph.geom_offsets))
    return np.asarray(
        shapely.linestrings(np.column_stack([graph.geom_x, graph.geom_y]), indices=index)
    )


def test_offset_is_the_perpendicular_distance_and_positions_are_along_the_edge() -> None:
    # A bent street: 0,0 -> 100,0 -> 100,80 (one edge of 180 m).
    graph = City().node(1, 0, 0).node(2, 100, 0).node(3, 100, 80).way(1, [1, 2, 3]).build("walk")
    snapped = Snapper(graph).snap(*lonlat_of([30, 112, 100, -40], [12, 50, -30, 0]))
    assert snapped.ok.all()
    assert snapped.offset_m == pytest.approx([12, 12, 30, 40], abs=1e-6)
    forward = np.where(graph.node_osm_ids[graph.edge_from[snapped.edge]] == 1, True, False)
    to_start = np.where(forward, snapped.to_from_m, snapped.to_to_m)
    assert to_start == pytest.approx([30, 150, 100, 0], abs=1e-6)
    assert snapped.to_from_m + snapped.to_to_m == pytest.approx([180] * 4, abs=1e-6)
    assert snapped.fraction == pytest.approx(snapped.to_from_m / 180, abs=1e-9)
    assert snapped.x - ORIGIN_X == pytest.approx([30, 100, 100, 0], abs=1e-6)
    assert snapped.y - ORIGIN_Y == pytest.approx([0, 50, 0, 0], abs=1e-6)


def test_a_point_beyond_the_limit_is_not_snapped() -> None:
    graph = block().build("motorbike")
    snapper = Snapper(graph)
    lon, lat = lonlat_of([2100, 50, np.nan], [50, 50, 0])
    snapped = snapper.snap(lon, lat, max_distance_m=1000)
    assert snapped.ok.tolist() == [False, True, False]
    assert snapped.edge[0] == -1 and snapped.edge[2] == -1
    assert np.isinf(snapped.offset_m[0])
    assert snapped.offset_m[1] == pytest.approx(50, abs=1e-6)
    far = snapper.snap(lon[:1], lat[:1], max_distance_m=3000)
    assert far.ok[0] and far.offset_m[0] == pytest.approx(2000, abs=1e-6)


def test_one_point_is_snapped_as_it_is_among_others_far_unknown_and_on_a_short_graph() -> None:
    """One point (a home on the map) takes its own path: the same answer as in a batch for a
    point beyond the limit, one that is not a number, and on a graph of fewer pieces than the
    first candidates asked for."""
    short = City().node(1, 0, 0).node(2, 20, 0).way(1, [1, 2]).build("walk")
    for graph in (block().build("motorbike"), short):
        snapper = Snapper(graph)
        lon, lat = lonlat_of([2100, 50, np.nan, 7, 1000.5], [50, 50, 0, -3, 999])
        together = snapper.snap(lon, lat, max_distance_m=1000)
        for i in range(len(lon)):
            alone = snapper.snap(lon[i : i + 1], lat[i : i + 1], max_distance_m=1000)
            for name in ("edge", "fraction", "offset_m", "to_from_m", "to_to_m", "x", "y"):
                assert np.array_equal(
                    getattr(alone, name), getattr(together, name)[i : i + 1], equal_nan=True
                ), (i, name)
                assert getattr(alone, name).dtype == getattr(together, name).dtype, name


def test_two_way_roads_are_indexed_once_and_one_way_roads_by_their_own_edge() -> None:
    graph = block({"oneway": "-1"}).build("motorbike")
    snapped = Snapper(graph).snap(*lonlat_of([50, 100], [-5, 50]))
    one_way, two_way = (int(e) for e in snapped.edge)
    assert graph.edge_reverse[one_way] == -1
    assert graph.node_osm_ids[graph.edge_from[one_way]] == 2  # oneway=-1 runs from 2 to 1
    assert snapped.to_from_m[0] == pytest.approx(50, abs=1e-6)
    assert two_way < graph.edge_reverse[two_way]


def test_vectorised_snapping_equals_snapping_each_point_and_a_brute_force(
    d1_motorbike: RoadGraph,
) -> None:
    graph = d1_motorbike
    snapper = Snapper(graph)
    rng = np.random.default_rng(5)
    pick = rng.integers(0, graph.n_nodes, 300)
    lon = graph.node_lon[pick] + rng.normal(0, 0.002, 300)
    lat = graph.node_lat[pick] + rng.normal(0, 0.002, 300)
    together = snapper.snap(lon, lat, 400)
    for i in range(300):
        alone = snapper.snap(lon[i : i + 1], lat[i : i + 1], 400)
        for name in ("edge", "fraction", "offset_m", "to_from_m", "to_to_m", "x", "y"):
            assert np.array_equal(
                getattr(alone, name), getattr(together, name)[i : i + 1], equal_nan=True
            ), (i, name)
    lines = edge_lines(graph)
    points = shapely.points(*to_utm(lon, lat))
    nearest = np.min(shapely.distance(points[:, None], lines[None, :]), axis=1)
    assert together.ok.tolist() == (nearest <= 400).tolist()
    ok = together.ok
    assert together.offset_m[ok] == pytest.approx(nearest[ok], abs=1e-6)
    # The snapped point lies on its edge, at its fraction of the way along.
    on_road = shapely.points(together.x[ok], together.y[ok])
    assert shapely.distance(on_road, lines[together.edge[ok]]).max() < 1e-6
    along = shapely.line_locate_point(lines[together.edge[ok]], points[ok])
    assert along == pytest.approx(together.to_from_m[ok], abs=1e-3)


@pytest.fixture(scope="module")
def d1_motorbike() -> RoadGraph:
    return d1_graph("quan1_osmnx_drive_2023.osm.bz2", "motorbike")
