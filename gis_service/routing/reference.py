"""networkx reference answers for checking the fast routing code (tests and benchmarks).

Points are inserted into a networkx graph as real nodes that split their edges (and the reverse
edge of a two-way road), so its plain Dijkstra answers what the fast code computes cleverly.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import networkx as nx
import numpy as np

from gis_service.routing.graph import RoadGraph
from gis_service.routing.snap import Snapped


def concat(*parts: Snapped) -> Snapped:
    return Snapped(
        **{
            name: np.concatenate([getattr(p, name) for p in parts])
            for name in Snapped.__dataclass_fields__
        }
    )


def offset_costs(graph: RoadGraph, snapped: Snapped, weight: str) -> np.ndarray:
    edge = np.maximum(snapped.edge, 0)
    per_metre = graph.edge_cost(weight)[edge] / graph.edge_length_m[edge]
    return np.asarray(snapped.offset_m * per_metre)


def reference_graph(graph: RoadGraph, weight: str, points: Snapped) -> nx.MultiDiGraph:
    """networkx graph of the edge arrays with point i inserted as node ("p", i)."""
    cost = graph.edge_cost(weight)
    reference = nx.MultiDiGraph()
    reference.add_nodes_from(range(graph.n_nodes))
    for e, (a, b) in enumerate(zip(graph.edge_from.tolist(), graph.edge_to.tolist(), strict=True)):
        reference.add_edge(a, b, key=e, weight=float(cost[e]))
    on_edge: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(points.ok).tolist():
        on_edge[int(points.edge[i])].append(i)
    for e, rows in on_edge.items():
        rows.sort(key=lambda i: float(points.fraction[i]))
        a, b = int(graph.edge_from[e]), int(graph.edge_to[e])
        chain: list[object] = [a, *(("p", i) for i in rows), b]
        at = [0.0, *(float(points.fraction[i]) for i in rows), 1.0]
        reference.remove_edge(a, b, key=e)
        for (u, fu), (v, fv) in itertools.pairwise(zip(chain, at, strict=True)):
            reference.add_edge(u, v, weight=(fv - fu) * float(cost[e]))
        back = int(graph.edge_reverse[e])
        for i in rows:  # a point right on an end node of a one-way edge is at that node
            if back < 0 and points.fraction[i] == 0.0:
                reference.add_edge(("p", i), a, weight=0.0)
            if back < 0 and points.fraction[i] == 1.0:
                reference.add_edge(b, ("p", i), weight=0.0)
        if back >= 0:
            reference.remove_edge(b, a, key=back)
            for (u, fu), (v, fv) in itertools.pairwise(zip(chain, at, strict=True)):
                reference.add_edge(v, u, weight=(fv - fu) * float(cost[back]))
    return reference


def reference_costs(graph: RoadGraph, weight: str, homes: Snapped, schools: Snapped) -> np.ndarray:
    """Brute-force [homes, schools] costs with every point inserted into the graph."""
    points = concat(homes, schools)
    reference = reference_graph(graph, weight, points)
    offsets = offset_costs(graph, points, weight)
    n_homes = len(homes)
    costs = np.full((n_homes, len(schools)), np.inf)
    for h in np.flatnonzero(homes.ok).tolist():
        found = nx.single_source_dijkstra_path_length(reference, ("p", h))
        for s in range(len(schools)):
            key = ("p", n_homes + s)
            if key in found:
                costs[h, s] = offsets[h] + found[key] + offsets[n_homes + s]
    return costs


def reference_fields(graph: RoadGraph, weight: str, schools: Snapped) -> np.ndarray:
    """Brute-force [schools, nodes] costs from every node to each school."""
    reversed_graph = reference_graph(graph, weight, schools).reverse(copy=False)
    offsets = offset_costs(graph, schools, weight)
    fields = np.full((len(schools), graph.n_nodes), np.inf)
    for s in np.flatnonzero(schools.ok).tolist():
        found = nx.single_source_dijkstra_path_length(reversed_graph, ("p", s))
        for node in range(graph.n_nodes):
            if node in found:
                fields[s, node] = found[node] + offsets[s]
    return fields
