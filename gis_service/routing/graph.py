"""Directed road graph of one travel mode, built from OSM ways like osmnx's simplified graph."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

from gis_service.errors import InvalidRequestError
from gis_service.routing.profiles import ModeProfile, oneway_direction, usable, way_speed_kmh

Weight = Literal["length", "time"]
WEIGHTS: tuple[Weight, ...] = ("length", "time")
UTM_EPSG = 32648  # UTM zone 48N: metres with < 0.05 % scale error over southern Vietnam
# Two OSM nodes at one spot give a zero-length edge; sparse graphs would read 0 as "no edge".
MIN_EDGE_LENGTH_M = 1e-3

_TO_UTM = Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
_TO_LONLAT = Transformer.from_crs(UTM_EPSG, 4326, always_xy=True)
_ARRAYS = (
    "node_osm_ids",
    "node_lon",
    "node_lat",
    "node_x",
    "node_y",
    "edge_from",
    "edge_to",
    "edge_length_m",
    "edge_time_s",
    "edge_way",
    "edge_reverse",
    "geom_offsets",
    "geom_x",
    "geom_y",
    "geom_lon",
    "geom_lat",
)


def to_utm(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project lon/lat degrees to UTM 48N metres."""
    x, y = _TO_UTM.transform(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


def to_utm_one(lon: float, lat: float) -> tuple[float, float]:
    """`to_utm` of one point, as numbers (the same projection, without array set-up)."""
    x, y = _TO_UTM.transform(lon, lat)
    return float(x), float(y)


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unproject UTM 48N metres to lon/lat degrees."""
    lon, lat = _TO_LONLAT.transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return np.asarray(lon, np.float64), np.asarray(lat, np.float64)


def check_weight(weight: str) -> Weight:
    """The weight name, or InvalidRequestError for an unknown one."""
    for known in WEIGHTS:
        if weight == known:
            return known
    raise InvalidRequestError(f"unknown weight {weight!r}; use one of {', '.join(WEIGHTS)}")


@dataclass(eq=False)
class RoadGraph:
    """Nodes are junctions and way ends; each directed edge carries its shape in UTM and lon/lat.

    `edge_reverse[e]` is the opposite edge of the same two-way stretch of road (same shape,
    reversed), or -1 for a one-way edge.
    """

    mode: str
    node_osm_ids: np.ndarray
    node_lon: np.ndarray
    node_lat: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_length_m: np.ndarray
    edge_time_s: np.ndarray
    edge_way: np.ndarray
    edge_highway: np.ndarray
    geom_offsets: np.ndarray
    geom_x: np.ndarray
    geom_y: np.ndarray
    geom_lon: np.ndarray
    geom_lat: np.ndarray
    profile: ModeProfile
    edge_reverse: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    dropped_nodes: int = 0
    _cheapest: dict[str, tuple[sp.csr_matrix, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False
    )
    _transposed: dict[str, sp.csr_matrix] = field(default_factory=dict, init=False, repr=False)
    _along: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.edge_reverse) != self.n_edges:
            self.edge_reverse = _pair_reverse_edges(self)

    @property
    def n_nodes(self) -> int:
        return len(self.node_osm_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edge_from)

    def edge_cost(self, weight: str) -> np.ndarray:
        """Per-edge cost: metres for "length", seconds for "time"."""
        return self.edge_length_m if check_weight(weight) == "length" else self.edge_time_s

    def matrix(self, weight: Weight) -> sp.csr_matrix:
        """n x n costs; of parallel edges the cheapest is kept (cached per weight)."""
        return self.cheapest_edges(weight)[0]

    def cheapest_edges(self, weight: str) -> tuple[sp.csr_matrix, np.ndarray]:
        """The cost matrix and, aligned with its `.data`, the edge index each entry came from."""
        key = check_weight(weight)
        cached = self._cheapest.get(key)
        if cached is None:
            cost = self.edge_cost(key)
            order = np.lexsort((cost, self.edge_to, self.edge_from))
            src, dst = self.edge_from[order], self.edge_to[order]
            first = np.ones(len(order), dtype=bool)
            first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
            chosen = order[first]
            # Rows sorted by (from, to): the arrays are already the CSR layout.
            indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.edge_from[chosen], minlength=self.n_nodes), out=indptr[1:])
            matrix = sp.csr_matrix(
                (cost[chosen], self.edge_to[chosen].astype(np.int32), indptr),
                shape=(self.n_nodes, self.n_nodes),
            )
            cached = (matrix, chosen)
            self._cheapest[key] = cached
        return cached

    def transposed(self, weight: Weight) -> sp.csr_matrix:
        """`matrix(weight)` transposed, as CSR: searches on it run towards a target (cached)."""
        cached = self._transposed.get(weight)
        if cached is None:
            cached = sp.csr_matrix(self.matrix(weight).T)
            self._transposed[weight] = cached
        return cached

    def geom_along(self) -> np.ndarray:
        """Running distance over all shape points (flat across edges): edge e spans
        `along[geom_offsets[e]] .. along[geom_offsets[e + 1] - 1]` (cached)."""
        if self._along is None:
            step = np.hypot(np.diff(self.geom_x), np.diff(self.geom_y))
            step[self.geom_offsets[1:-1] - 1] = 0.0  # no distance from one edge to the next
            along = np.zeros(len(self.geom_x))
            np.cumsum(step, out=along[1:])
            self._along = along
        return self._along

    def save(self, path: Path) -> None:
        """Write one uncompressed .npz (arrays plus the profile as JSON), replacing atomically."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        # Highway values as codes into their distinct values: 1 byte an edge instead of ~50.
        highways, codes = np.unique(self.edge_highway, return_inverse=True)
        arrays["highway_values"] = highways
        arrays["edge_highway_codes"] = codes.astype(np.uint8 if len(highways) < 256 else np.int32)
        meta = {
            "mode": self.mode,
            "dropped_nodes": self.dropped_nodes,
            "profile": self.profile.as_dict(),
        }
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            np.savez(handle, meta_json=np.array(json.dumps(meta)), **arrays)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> RoadGraph:
        """Read a graph written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta_json"]))
            arrays = {name: data[name] for name in _ARRAYS}
            arrays["edge_highway"] = data["highway_values"][data["edge_highway_codes"]]
        stored = meta["profile"]
        profile = ModeProfile(
            mode=stored["mode"],
            speeds_kmh=stored["speeds_kmh"],
            respect_oneway=bool(stored["respect_oneway"]),
        )
        return cls(
            mode=meta["mode"], profile=profile, dropped_nodes=int(meta["dropped_nodes"]), **arrays
        )


def _pair_reverse_edges(graph: RoadGraph) -> np.ndarray:
    """Find each edge's same-shape opposite (for graphs assembled by hand, not by build_graph)."""
    reverse = np.full(graph.n_edges, -1, dtype=np.int64)
    by_key: dict[tuple[int, int, int], list[int]] = {}
    for e, key in enumerate(
        zip(graph.edge_way.tolist(), graph.edge_from.tolist(), graph.edge_to.tolist(), strict=True)
    ):
        by_key.setdefault(key, []).append(e)
    offsets = graph.geom_offsets
    for e, (way, a, b) in enumerate(
        zip(graph.edge_way.tolist(), graph.edge_from.tolist(), graph.edge_to.tolist(), strict=True)
    ):
        shape = slice(offsets[e], offsets[e + 1])
        for r in by_key.get((way, b, a), []):
            other = slice(offsets[r], offsets[r + 1])
            if (
                r != e
                and np.array_equal(graph.geom_x[shape], graph.geom_x[other][::-1])
                and (np.array_equal(graph.geom_y[shape], graph.geom_y[other][::-1]))
            ):
                reverse[e] = r
                break
    return reverse


@dataclass
class _Ways:
    """The usable ways of a mode, flattened: one row per way-node reference."""

    node: np.ndarray  # OSM node id per reference
    way: np.ndarray  # index into the kept ways per reference
    lon: np.ndarray
    lat: np.ndarray
    starts: np.ndarray  # first reference of each kept way, plus the total at the end
    way_ids: np.ndarray
    speeds_kmh: np.ndarray
    directions: np.ndarray
    highways: np.ndarray


def _flatten_usable_ways(
    way_ids: Sequence[int],
    way_tags: Sequence[Mapping[str, str]],
    way_nodes: Sequence[Sequence[int]],
    way_coords: Sequence[Sequence[tuple[float, float]]],
    profile: ModeProfile,
) -> _Ways:
    """The ways the profile may use, as flat arrays (back-to-back repeated nodes dropped)."""
    if not len(way_ids) == len(way_tags) == len(way_nodes) == len(way_coords):
        raise InvalidRequestError("way_ids, way_tags, way_nodes and way_coords differ in length")
    kept = [
        i for i, tags in enumerate(way_tags) if len(way_nodes[i]) >= 2 and usable(tags, profile)
    ]
    counts = np.fromiter((len(way_nodes[i]) for i in kept), np.int64, len(kept))
    coord_counts = np.fromiter((len(way_coords[i]) for i in kept), np.int64, len(kept))
    if not np.array_equal(counts, coord_counts):
        bad = kept[int(np.flatnonzero(counts != coord_counts)[0])]
        raise InvalidRequestError(
            f"way {way_ids[bad]} has a different number of nodes and coordinates"
        )
    total = int(counts.sum())
    node = np.fromiter(chain.from_iterable(way_nodes[i] for i in kept), np.int64, total)
    flat = chain.from_iterable(chain.from_iterable(way_coords[i] for i in kept))
    lonlat = np.fromiter(flat, np.float64, 2 * total).reshape(-1, 2)
    way = np.repeat(np.arange(len(kept)), counts)
    # A node repeated back to back (a mapping slip) would make a zero-length loop: drop it.
    repeated = np.zeros(total, dtype=bool)
    repeated[1:] = (node[1:] == node[:-1]) & (way[1:] == way[:-1])
    node, way, lonlat = node[~repeated], way[~repeated], lonlat[~repeated]
    counts = np.bincount(way, minlength=len(kept))
    # Ways reduced to a single node carry no road.
    long_enough = counts >= 2
    if not long_enough.all():
        keep_refs = long_enough[way]
        node, lonlat = node[keep_refs], lonlat[keep_refs]
        renumber = np.cumsum(long_enough) - 1
        way = renumber[way[keep_refs]]
        counts = counts[long_enough]
        kept = [i for i, ok in zip(kept, long_enough.tolist(), strict=True) if ok]
    starts = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return _Ways(
        node=node,
        way=way,
        lon=lonlat[:, 0].copy(),
        lat=lonlat[:, 1].copy(),
        starts=starts,
        way_ids=np.fromiter((way_ids[i] for i in kept), np.int64, len(kept)),
        speeds_kmh=np.fromiter(
            (way_speed_kmh(way_tags[i], profile) for i in kept), np.float64, len(kept)
        ),
        directions=np.fromiter(
            (oneway_direction(way_tags[i], profile) for i in kept), np.int8, len(kept)
        ),
        highways=np.array([way_tags[i]["highway"] for i in kept], dtype=str),
    )


def build_graph(
    way_ids: Sequence[int],
    way_tags: Sequence[Mapping[str, str]],
    way_nodes: Sequence[Sequence[int]],
    way_coords: Sequence[Sequence[tuple[float, float]]],
    profile: ModeProfile,
    progress: Callable[[str], None] | None = None,
) -> RoadGraph:
    """The mode's routable graph: junction-to-junction edges, largest strongly connected part."""
    report = progress or (lambda message: None)
    ways = _flatten_usable_ways(way_ids, way_tags, way_nodes, way_coords, profile)
    report(
        f"{profile.mode} graph: {len(ways.way_ids):,} usable ways, "
        f"{len(ways.node):,} node references"
    )
    if len(ways.way_ids) == 0:
        raise InvalidRequestError(f"no way is usable by the {profile.mode} profile")
    x, y = to_utm(ways.lon, ways.lat)

    # Graph nodes: OSM nodes used twice or more (junctions, loops) and every way's ends.
    uniques, inverse, uses = np.unique(ways.node, return_inverse=True, return_counts=True)
    is_split = uses[inverse] >= 2
    is_split[ways.starts[:-1]] = True
    is_split[ways.starts[1:] - 1] = True
    splits = np.flatnonzero(is_split)
    same_way = ways.way[splits[1:]] == ways.way[splits[:-1]]
    seg_start, seg_end = splits[:-1][same_way], splits[1:][same_way]
    seg_way = ways.way[seg_start]

    # Segment lengths on the full shape: cumulative distance along the flattened references.
    step = np.hypot(np.diff(x), np.diff(y))
    step[ways.way[1:] != ways.way[:-1]] = 0.0
    along = np.zeros(len(x))
    np.cumsum(step, out=along[1:])
    seg_length = np.maximum(along[seg_end] - along[seg_start], MIN_EDGE_LENGTH_M)

    # Directed edges: forward and/or backward per segment, a two-way pair side by side.
    direction = ways.directions[seg_way]
    forward, backward = direction >= 0, direction <= 0
    per_segment = forward.astype(np.int64) + backward
    edge_seg = np.repeat(np.arange(len(seg_way)), per_segment)
    first_of_segment = np.ones(len(edge_seg), dtype=bool)
    first_of_segment[1:] = edge_seg[1:] != edge_seg[:-1]
    edge_backward = np.where(first_of_segment, ~forward[edge_seg], True)
    ref_from = np.where(edge_backward, seg_end[edge_seg], seg_start[edge_seg])
    ref_to = np.where(edge_backward, seg_start[edge_seg], seg_end[edge_seg])
    edge_from_all = inverse[ref_from]  # provisional numbering: index into all OSM nodes
    edge_to_all = inverse[ref_to]
    pair = np.full(len(edge_seg), -1, dtype=np.int64)
    two_way_first = np.flatnonzero(first_of_segment & (per_segment[edge_seg] == 2))
    pair[two_way_first] = two_way_first + 1
    pair[two_way_first + 1] = two_way_first

    # Keep the largest strongly connected component, so every node reaches every other.
    used_nodes = np.unique(np.concatenate([edge_from_all, edge_to_all]))
    compact_from = np.searchsorted(used_nodes, edge_from_all)
    compact_to = np.searchsorted(used_nodes, edge_to_all)
    adjacency = sp.csr_matrix(
        (np.ones(len(compact_from)), (compact_from, compact_to)),
        shape=(len(used_nodes), len(used_nodes)),
    )
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    largest = int(np.argmax(np.bincount(labels)))
    keep_node = labels == largest
    keep_edge = keep_node[compact_from] & keep_node[compact_to]
    if not keep_edge.any():
        raise InvalidRequestError(
            f"the ways usable by the {profile.mode} profile form no road that leads anywhere "
            "and back (no strongly connected part with an edge)"
        )
    dropped = int(len(used_nodes) - keep_node.sum())
    report(
        f"{profile.mode} graph: {int(keep_node.sum()):,} nodes in the largest strongly connected "
        f"part, {dropped:,} left out"
    )
    node_refs = np.zeros(len(uniques), dtype=np.int64)  # one reference per OSM node, for coords
    node_refs[inverse] = np.arange(len(inverse))
    kept_nodes = used_nodes[keep_node]
    new_index = np.full(len(used_nodes), -1, dtype=np.int64)
    new_index[keep_node] = np.arange(len(kept_nodes))
    edges = np.flatnonzero(keep_edge)
    edge_renumber = np.full(len(keep_edge), -1, dtype=np.int64)
    edge_renumber[edges] = np.arange(len(edges))
    reverse = pair[edges]
    reverse = np.where(reverse >= 0, edge_renumber[np.maximum(reverse, 0)], -1)

    # Edge shapes: the references from one end to the other, reversed for backward edges.
    ref_a, ref_b, backward_kept = ref_from[edges], ref_to[edges], edge_backward[edges]
    shape_points = np.abs(ref_b - ref_a) + 1
    geom_offsets = np.zeros(len(edges) + 1, dtype=np.int64)
    np.cumsum(shape_points, out=geom_offsets[1:])
    within = np.arange(geom_offsets[-1]) - np.repeat(geom_offsets[:-1], shape_points)
    refs = np.repeat(ref_a, shape_points) + np.where(
        np.repeat(backward_kept, shape_points), -within, within
    )
    seg_kept = edge_seg[edges]
    way_kept = seg_way[seg_kept]
    length = seg_length[seg_kept]
    refs_of_nodes = node_refs[kept_nodes]
    return RoadGraph(
        mode=profile.mode,
        node_osm_ids=uniques[kept_nodes],
        node_lon=ways.lon[refs_of_nodes],
        node_lat=ways.lat[refs_of_nodes],
        node_x=x[refs_of_nodes],
        node_y=y[refs_of_nodes],
        edge_from=new_index[compact_from[edges]].astype(np.int32),
        edge_to=new_index[compact_to[edges]].astype(np.int32),
        edge_length_m=length,
        edge_time_s=length / (ways.speeds_kmh[way_kept] / 3.6),
        edge_way=ways.way_ids[way_kept],
        edge_highway=ways.highways[way_kept],
        geom_offsets=geom_offsets,
        geom_x=x[refs],
        geom_y=y[refs],
        geom_lon=ways.lon[refs],
        geom_lat=ways.lat[refs],
        profile=profile,
        edge_reverse=reverse,
        dropped_nodes=dropped,
    )
