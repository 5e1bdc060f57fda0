"""The whole Ho Chi Minh City 2018 extract: graph sizes (golden), build speed, field checks."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

from gis_service.importers.osm import ExtractContents, read_extract
from gis_service.importers.report import no_progress
from gis_service.routing.distances import compute_fields, point_to_points
from gis_service.routing.graph import RoadGraph, build_graph
from gis_service.routing.profiles import default_profile
from gis_service.routing.snap import Snapper
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.hcmc

# Measured on hcm_2018.osm.pbf (33,021 highway ways): nodes, edges, nodes outside the
# largest strongly connected part. osmnx's simplified drive graph has 51,439 nodes; ours
# keeps alleys (hẻm) for motorbikes and splits where two ways meet end to end.
GOLDEN = {
    "motorbike": (55_404, 140_110, 1_701),
    "car": (36_840, 92_316, 1_975),
    "walk": (57_133, 154_700, 2_158),
}


@pytest.fixture(scope="module")
def extract() -> ExtractContents:
    return read_extract(SHARED_DATA / "hcmc_osm_2018" / "hcm_2018.osm.pbf", no_progress)


def build(extract: ExtractContents, mode: str) -> RoadGraph:
    return build_graph(
        extract.way_ids, extract.way_tags, extract.way_nodes, extract.way_coords,
        default_profile(mode),
    )  # fmt: skip


@pytest.fixture(scope="module")
def motorbike(extract: ExtractContents) -> RoadGraph:
    return build(extract, "motorbike")


def test_motorbike_graph_builds_fast_and_is_strongly_connected(extract: ExtractContents) -> None:
    started = time.perf_counter()
    graph = build(extract, "motorbike")
    seconds = time.perf_counter() - started
    assert seconds < 3.0, f"building took {seconds:.2f} s"
    assert 50_000 <= graph.n_nodes <= 56_000
    assert (graph.n_nodes, graph.n_edges, graph.dropped_nodes) == GOLDEN["motorbike"]
    count, _ = connected_components(graph.matrix("length"), directed=True, connection="strong")
    assert count == 1
    assert "motorway" not in set(graph.edge_highway.tolist())
    # UTM lengths agree with geodesic ones to ~0.1 % in Vietnam.
    from pyproj import Geod

    rng = np.random.default_rng(1)
    geod = Geod(ellps="WGS84")
    for e in rng.integers(0, graph.n_edges, 200).tolist():
        shape = slice(graph.geom_offsets[e], graph.geom_offsets[e + 1])
        geodesic = geod.line_length(graph.geom_lon[shape], graph.geom_lat[shape])
        assert graph.edge_length_m[e] == pytest.approx(geodesic, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("mode", ["car", "walk"])
def test_other_modes_have_their_golden_sizes(extract: ExtractContents, mode: str) -> None:
    graph = build(extract, mode)
    assert (graph.n_nodes, graph.n_edges, graph.dropped_nodes) == GOLDEN[mode]


def test_fields_match_networkx_and_single_queries_are_fast(motorbike: RoadGraph) -> None:
    graph = motorbike
    rng = np.random.default_rng(437)
    pick = rng.integers(0, graph.n_nodes, 40)
    lon = graph.node_lon[pick] + rng.normal(0, 0.001, 40)
    lat = graph.node_lat[pick] + rng.normal(0, 0.001, 40)
    snapper = Snapper(graph)
    fields = compute_fields(graph, lon, lat, np.arange(40), snapper=snapper)
    # Two fields against networkx on the reversed graph, at every node.
    reverse = nx.DiGraph()
    for a, b, w in zip(
        graph.edge_from.tolist(), graph.edge_to.tolist(), graph.edge_length_m.tolist(), strict=True
    ):
        if not reverse.has_edge(b, a) or reverse[b][a]["weight"] > w:
            reverse.add_edge(b, a, weight=w)
    snap = fields.source_snap
    for row in (0, 17):
        e = int(snap.edge[row])
        entries = [(int(graph.edge_from[e]), snap.to_from_m[row])]
        if graph.edge_reverse[e] >= 0 or snap.fraction[row] == 1.0:
            entries.append((int(graph.edge_to[e]), snap.to_to_m[row]))
        expected = np.full(graph.n_nodes, np.inf)
        for start, along in entries:
            found = nx.single_source_dijkstra_path_length(reverse, start)
            costs = np.full(graph.n_nodes, np.inf)
            costs[list(found)] = list(found.values())
            expected = np.minimum(expected, costs + along + snap.offset_m[row])
        assert np.abs(fields.source_row(row) - expected).max() < 1.0
    homes = snapper.snap(lon[::-1] + 0.002, lat[::-1])
    timings = []
    for h in range(len(homes)):
        started = time.perf_counter()
        single = point_to_points(graph, homes.take([h]), snap, "length", 10_000.0)
        timings.append(time.perf_counter() - started)
        expected_row = fields.cost_from_points(homes.take([h]))[0]
        within = expected_row <= 10_000
        assert np.abs(single[within] - expected_row[within]).max(initial=0) < 0.01
        assert np.isinf(single[~within]).all()
    assert float(np.median(timings)) < 0.020
