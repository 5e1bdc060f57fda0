"""Building mode graphs from hand-made ways whose every node, edge and length is known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import dijkstra  # type: ignore[import-untyped]

from gis_service.errors import InvalidRequestError
from gis_service.importers.osm import ExtractContents, read_extract
from gis_service.importers.report import no_progress
from gis_service.routing.graph import RoadGraph, build_graph, to_lonlat, to_utm
from gis_service.routing.profiles import default_profile
from tests.conftest import SHARED_DATA

D1_SAMPLES = SHARED_DATA / "hcmc_d1_osm_samples"

# The helpers here (ways laid out in metres in District 1, the D1 sample graphs) are shared by
# the other routing tests. Local metres are offsets from this UTM 48N point.
ORIGIN_X, ORIGIN_Y = (float(v[0]) for v in to_utm(np.array([106.70]), np.array([10.775])))


def lonlat_of(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of local metre offsets."""
    return to_lonlat(np.asarray(x) + ORIGIN_X, np.asarray(y) + ORIGIN_Y)


@dataclass
class City:
    """Hand-made ways: node positions in local metres, ways as node lists with tags."""

    positions: dict[int, tuple[float, float]] = field(default_factory=dict)
    ways: list[tuple[int, dict[str, str], list[int]]] = field(default_factory=list)

    def node(self, node_id: int, x: float, y: float) -> City:
        self.positions[node_id] = (x, y)
        return self

    def way(self, way_id: int, nodes: list[int], **tags: str) -> City:
        self.ways.append((way_id, {"highway": "residential", **tags}, nodes))
        return self

    def inputs(
        self,
    ) -> tuple[list[int], list[dict[str, str]], list[list[int]], list[list[tuple[float, float]]]]:
        coords = []
        for _, _, nodes in self.ways:
            lon, lat = lonlat_of(
                [self.positions[n][0] for n in nodes], [self.positions[n][1] for n in nodes]
            )
            coords.append(list(zip(lon.tolist(), lat.tolist(), strict=True)))
        return (
            [w[0] for w in self.ways],
            [w[1] for w in self.ways],
            [w[2] for w in self.ways],
            coords,
        )

    def build(self, mode: str, speeds: Mapping[str, float] | None = None) -> RoadGraph:
        return build_graph(*self.inputs(), default_profile(mode, speeds))


@cache
def d1_extract(name: str) -> ExtractContents:
    """One of the District 1 sample extracts (read once per test session)."""
    return read_extract(D1_SAMPLES / name, no_progress)


@cache
def d1_graph(name: str, mode: str) -> RoadGraph:
    extract = d1_extract(name)
    return build_graph(
        extract.way_ids,
        extract.way_tags,
        extract.way_nodes,
        extract.way_coords,
        default_profile(mode),
    )


def node_index(graph: RoadGraph, osm_id: int) -> int:
    return int(np.flatnonzero(graph.node_osm_ids == osm_id)[0])


def node_cost(graph: RoadGraph, a: int, b: int, weight: str = "length") -> float:
    """Cheapest cost between two OSM nodes on the graph (scipy on the graph's matrix)."""
    matrix = graph.matrix("length" if weight == "length" else "time")
    costs = dijkstra(matrix, directed=True, indices=node_index(graph, a))
    return float(costs[node_index(graph, b)])


def edges_by_osm(graph: RoadGraph) -> set[tuple[int, int, int]]:
    """(from OSM node, to OSM node, way id) of every directed edge."""
    ids = graph.node_osm_ids
    return set(
        zip(
            ids[graph.edge_from].tolist(),
            ids[graph.edge_to].tolist(),
            graph.edge_way.tolist(),
            strict=True,
        )
    )


def block(oneway_way_tags: Mapping[str, str] | None = None) -> City:
    """A 100 m square block 1-2-3-4 (counter-clockwise); way 12 runs from 1 to 2."""
    city = City().node(1, 0, 0).node(2, 100, 0).node(3, 100, 100).node(4, 0, 100)
    city.way(12, [1, 2], **(oneway_way_tags or {}))
    return city.way(23, [2, 3]).way(34, [3, 4]).way(41, [4, 1])


def test_a_one_way_street_forces_a_detour_for_motorbikes_but_not_walkers() -> None:
    city = block({"oneway": "yes"})
    motorbike, walk = city.build("motorbike"), city.build("walk")
    assert node_cost(motorbike, 1, 2) == pytest.approx(100, abs=1e-6)
    assert node_cost(motorbike, 2, 1) == pytest.approx(300, abs=1e-6)
    assert node_cost(walk, 2, 1) == pytest.approx(100, abs=1e-6)
    assert (2, 1, 12) not in edges_by_osm(motorbike)
    assert motorbike.n_edges == 7 and walk.n_edges == 8
    # Times follow the speeds: 100 m of residential at 20 km/h is 18 s, walking 80 s.
    assert node_cost(motorbike, 2, 1, "time") == pytest.approx(3 * 18, abs=1e-6)
    assert node_cost(walk, 2, 1, "time") == pytest.approx(80, abs=1e-6)


def test_backward_one_way_and_roundabout() -> None:
    backward = block({"oneway": "-1"}).build("car")
    assert (2, 1, 12) in edges_by_osm(backward)
    assert (1, 2, 12) not in edges_by_osm(backward)
    roundabout = block({"junction": "roundabout"}).build("car")
    assert (1, 2, 12) in edges_by_osm(roundabout)
    assert (2, 1, 12) not in edges_by_osm(roundabout)


def test_a_motorway_is_for_cars_only() -> None:
    # A 1 km detour on residential streets, or 200 m straight on a motorway.
    city = (
        City()
        .node(1, 0, 0)
        .node(2, 200, 0)
        .node(3, 0, 400)
        .node(4, 200, 400)
        .way(1, [1, 3, 4, 2])
        .way(2, [1, 2], highway="motorway")
    )
    car, motorbike, walk = (city.build(m) for m in ("car", "motorbike", "walk"))
    assert node_cost(car, 1, 2) == pytest.approx(200, abs=1e-6)
    assert node_cost(motorbike, 1, 2) == pytest.approx(1000, abs=1e-6)
    assert node_cost(walk, 1, 2) == pytest.approx(1000, abs=1e-6)
    assert "motorway" not in set(motorbike.edge_highway.tolist())
    assert "motorway" in set(car.edge_highway.tolist())


def test_footways_are_only_walkable_and_alleys_are_not_for_cars() -> None:
    city = block().node(5, 50, -50).way(5, [1, 5, 2], highway="footway")
    city.node(6, 50, 150).way(6, [4, 6, 3], highway="service", service="alley")
    ways = {mode: set(city.build(mode).edge_way.tolist()) for mode in ("walk", "motorbike", "car")}
    assert ways["walk"] == {12, 23, 34, 41, 5, 6}
    assert ways["motorbike"] == {12, 23, 34, 41, 6}
    assert ways["car"] == {12, 23, 34, 41}


def test_a_way_without_junctions_becomes_one_edge_with_its_full_shape() -> None:
    # A zig-zag of 4 segments: 30-40-50 triangles give 50 m each, 200 m in all.
    city = City()
    for i, (x, y) in enumerate([(0, 0), (30, 40), (60, 0), (90, 40), (120, 0)]):
        city.node(i + 1, x, y)
    graph = city.way(7, [1, 2, 3, 4, 5]).build("motorbike")
    assert graph.n_nodes == 2
    assert graph.n_edges == 2
    assert graph.edge_length_m == pytest.approx([200, 200], abs=1e-6)
    assert graph.edge_reverse.tolist() == [1, 0]
    forward = int(np.flatnonzero(graph.node_osm_ids[graph.edge_from] == 1)[0])
    shape = slice(graph.geom_offsets[forward], graph.geom_offsets[forward + 1])
    assert graph.geom_x[shape] - ORIGIN_X == pytest.approx([0, 30, 60, 90, 120], abs=1e-6)
    assert graph.geom_y[shape] - ORIGIN_Y == pytest.approx([0, 40, 0, 40, 0], abs=1e-6)
    backward = graph.edge_reverse[forward]
    back_shape = slice(graph.geom_offsets[backward], graph.geom_offsets[backward + 1])
    assert graph.geom_lon[back_shape].tolist() == graph.geom_lon[shape][::-1].tolist()
    # Graph nodes keep their exact OSM coordinates.
    lon, lat = lonlat_of([0], [0])
    first = node_index(graph, 1)
    assert graph.node_lon[first] == pytest.approx(lon[0], abs=1e-12)
    assert graph.node_lat[first] == pytest.approx(lat[0], abs=1e-12)


def test_two_ways_crossing_at_a_shared_node_split_there() -> None:
    city = City().node(1, 0, 0).node(2, 100, 0).node(3, 250, 0).node(4, 100, -80)
    city.node(5, 100, 120).way(1, [1, 2, 3]).way(2, [4, 2, 5])
    graph = city.build("motorbike")
    assert sorted(graph.node_osm_ids.tolist()) == [1, 2, 3, 4, 5]
    assert edges_by_osm(graph) == {
        (1, 2, 1), (2, 1, 1), (2, 3, 1), (3, 2, 1),
        (4, 2, 2), (2, 4, 2), (2, 5, 2), (5, 2, 2),
    }  # fmt: skip
    lengths = dict(zip(map(tuple, edges_by_osm_list(graph)), graph.edge_length_m, strict=True))
    assert lengths[(2, 3)] == pytest.approx(150, abs=1e-6)
    assert lengths[(4, 2)] == pytest.approx(80, abs=1e-6)


def edges_by_osm_list(graph: RoadGraph) -> list[tuple[int, int]]:
    ids = graph.node_osm_ids
    return list(zip(ids[graph.edge_from].tolist(), ids[graph.edge_to].tolist(), strict=True))


def test_a_node_used_twice_by_one_way_splits_it_and_repeated_nodes_are_dropped() -> None:
    # A lollipop: 1 - 2, then a loop 2 - 3 - 4 - 2; node 3 is written twice in a row.
    city = City().node(1, -100, 0).node(2, 0, 0).node(3, 100, 50).node(4, 100, -50)
    graph = city.way(9, [1, 2, 3, 3, 4, 2]).build("motorbike")
    assert sorted(graph.node_osm_ids.tolist()) == [1, 2]
    lengths = sorted(graph.edge_length_m.tolist())
    loop = 2 * float(np.hypot(100, 50)) + 100
    assert lengths == pytest.approx([100, 100, loop, loop], abs=1e-6)


def test_only_the_largest_strongly_connected_part_is_kept() -> None:
    # The block, plus an unconnected street and a one-way spur that cannot be left.
    city = block().node(10, 500, 500).node(11, 600, 500).way(100, [10, 11])
    city.node(20, -100, 0).way(200, [1, 20], oneway="yes")
    graph = city.build("motorbike")
    assert sorted(graph.node_osm_ids.tolist()) == [1, 2, 3, 4]
    assert graph.dropped_nodes == 3
    matrix = graph.matrix("length")
    costs = dijkstra(matrix, directed=True)
    assert np.isfinite(costs).all()


def test_parallel_edges_keep_the_cheapest_in_the_matrix() -> None:
    city = block().node(5, 50, 30).way(5, [1, 5, 2])  # a second, longer way from 1 to 2
    graph = city.build("motorbike")
    assert graph.n_edges == 10
    matrix = graph.matrix("length")
    a, b = node_index(graph, 1), node_index(graph, 2)
    assert matrix[a, b] == pytest.approx(100, abs=1e-6)
    assert matrix.nnz == 8
    _, chosen = graph.cheapest_edges("length")
    assert set(graph.edge_way[chosen].tolist()) == {12, 23, 34, 41}
    assert graph.matrix("length") is matrix  # cached


def test_reverse_pairs_are_found_for_graphs_assembled_by_hand() -> None:
    graph = block({"oneway": "yes"}).node(5, 50, 30).way(5, [1, 5, 2]).build("motorbike")
    fields = {name: getattr(graph, name) for name in SAVED_FIELDS if name != "edge_reverse"}
    rebuilt = RoadGraph(mode=graph.mode, profile=graph.profile, **fields)
    assert rebuilt.edge_reverse.tolist() == graph.edge_reverse.tolist()
    assert (graph.edge_reverse == -1).sum() == 1


SAVED_FIELDS = (
    "node_osm_ids", "node_lon", "node_lat", "node_x", "node_y", "edge_from", "edge_to",
    "edge_length_m", "edge_time_s", "edge_way", "edge_highway", "edge_reverse", "geom_offsets",
    "geom_x", "geom_y", "geom_lon", "geom_lat",
)  # fmt: skip


def test_save_and_load_round_trip_exactly(tmp_path: Path) -> None:
    graph = block({"oneway": "yes"}).node(5, 50, 30).way(5, [1, 5, 2]).build("car", {"primary": 9})
    path = tmp_path / "car.npz"
    graph.save(path)
    loaded = RoadGraph.load(path)
    for name in SAVED_FIELDS:
        original, again = getattr(graph, name), getattr(loaded, name)
        assert again.dtype == original.dtype, name
        assert np.array_equal(again, original), name
    assert loaded.mode == "car"
    assert loaded.dropped_nodes == graph.dropped_nodes
    assert loaded.profile == graph.profile
    assert loaded.profile.params_hash() == graph.profile.params_hash()
    assert (loaded.matrix("time") != graph.matrix("time")).nnz == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["car.npz"]


def test_bad_inputs_are_invalid_requests() -> None:
    ids, tags, nodes, coords = block().inputs()
    with pytest.raises(InvalidRequestError, match="differ in length"):
        build_graph(ids, tags[:-1], nodes, coords, default_profile("walk"))
    with pytest.raises(InvalidRequestError, match="number of nodes"):
        build_graph(ids, tags, nodes, [c[:1] for c in coords], default_profile("walk"))
    with pytest.raises(InvalidRequestError, match="no way is usable"):
        build_graph(ids, [{"highway": "footway"}] * 4, nodes, coords, default_profile("car"))
    one_way_only = [{"highway": "residential", "oneway": "yes"}]
    with pytest.raises(InvalidRequestError, match="strongly connected"):
        build_graph(ids[:1], one_way_only, nodes[:1], coords[:1], default_profile("car"))
    with pytest.raises(InvalidRequestError, match="unknown weight"):
        block().build("car").matrix("hops")  # type: ignore[arg-type]


def test_progress_is_reported_through_the_callback() -> None:
    messages: list[str] = []
    build_graph(*block().inputs(), default_profile("walk"), messages.append)
    assert any("largest strongly connected" in m for m in messages)
