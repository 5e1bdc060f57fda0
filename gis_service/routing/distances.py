"""Road costs between snapped points: distance fields to many sources, single queries, routes."""

from __future__ import annotations

import itertools
import math
import os
import secrets
import struct
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
import shapely
from scipy.sparse.csgraph import dijkstra  # type: ignore[import-untyped]

from gis_service.errors import FieldsFileError, InvalidRequestError, NotFoundError
from gis_service.executor import Executor, LocalProcesses, configured_executor, default_workers
from gis_service.routing.field_store import (
    SOURCE_BLOCK,
    TILES_FORMAT,
    FieldTiles,
    TileBuilder,
    TileColumns,
    mapped_member,
    positions_of,
    spatial_positions,
)
from gis_service.routing.graph import RoadGraph, check_weight, to_lonlat
from gis_service.routing.snap import Snapped, Snapper

# Every cost runs from a point (a home) to a point (a school), both snapped onto directed edges:
# the straight snap offset at each end, plus the along-edge part from the home to an end of its
# edge, the graph path, and the along-edge part from an end of the school's edge to the school.
# A point can leave (or be reached) through the far end of its edge only where the road is
# two-way, or where it sits right on that end node. Offsets count as metres for "length" and
# at the snapped edge's speed for "time". Unsnapped points (edge -1) cost inf.

FIELD_CHUNK = SOURCE_BLOCK  # sources per Dijkstra call (one block of tiles): bounds the
# float64 block scipy returns
NEAREST_CHUNK = 8192  # homes per block in nearest(): bounds the [homes, sources] block
REACH_BUFFER_M = 50.0


@dataclass
class EdgeCosts:
    """What point-to-graph costs need of a graph for one weight (views, not copies)."""

    edge_from: np.ndarray
    edge_to: np.ndarray
    cost: np.ndarray  # per edge, in the weight's unit
    length_m: np.ndarray
    reverse: np.ndarray  # the two-way partner edge, -1 if one-way

    @classmethod
    def of(cls, graph: RoadGraph, weight: str) -> EdgeCosts:
        return cls(
            edge_from=graph.edge_from,
            edge_to=graph.edge_to,
            cost=graph.edge_cost(weight),
            length_m=graph.edge_length_m,
            reverse=graph.edge_reverse,
        )

    def links(self, snapped: Snapped) -> Links:
        """How each snapped point joins the graph through the ends of its edge."""
        edge = np.asarray(snapped.edge, np.int64)
        if len(edge) and int(edge.max()) >= len(self.cost):
            raise InvalidRequestError("the points were snapped to a different road graph")
        ok = edge >= 0
        safe = np.where(ok, edge, 0)
        cost = self.cost[safe]
        # A snap offset costs what a metre of its edge costs (1 for length, 1/speed for time).
        offset = np.where(ok, snapped.offset_m * (cost / self.length_m[safe]), np.inf)
        along = np.where(ok, snapped.fraction * cost, np.inf)
        return Links(
            ok=ok,
            edge=edge,
            from_node=self.edge_from[safe].astype(np.int64),
            to_node=self.edge_to[safe].astype(np.int64),
            reversible=ok & (self.reverse[safe] >= 0),
            at_from=ok & (snapped.fraction == 0.0),
            at_to=ok & (snapped.fraction == 1.0),
            offset=offset,
            along=along,
            via_from=offset + along,
            via_to=offset + np.where(ok, cost - along, np.inf),
        )


@dataclass
class Links:
    """Snapped points joined to the graph: costs between each point and its edge's two ends.

    `via_from` / `via_to`: offset plus the along-edge cost between the point and edge_from /
    edge_to. Which of them may be used depends on the direction of travel and `reversible`;
    a point snapped right onto an end node (`at_from` / `at_to`, common for points off a
    corner) is at that node, so the one-way rule of its edge does not hold it back there.
    """

    ok: np.ndarray
    edge: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    reversible: np.ndarray
    at_from: np.ndarray
    at_to: np.ndarray
    offset: np.ndarray
    along: np.ndarray  # cost from edge_from to the point along the edge
    via_from: np.ndarray
    via_to: np.ndarray

    def take(self, rows: np.ndarray | slice) -> Links:
        return Links(**{name: getattr(self, name)[rows] for name in _LINK_FIELDS})

    def leave_forward(self) -> np.ndarray:
        """Cost of leaving the point through edge_to (always allowed)."""
        return self.via_to

    def leave_backward(self) -> np.ndarray:
        """Cost of leaving the point through edge_from (on a two-way road, or from that node)."""
        return np.where(self.reversible | self.at_from, self.via_from, np.inf)

    def reach_forward(self) -> np.ndarray:
        """Cost of reaching the point from edge_from (always allowed)."""
        return self.via_from

    def reach_backward(self) -> np.ndarray:
        """Cost of reaching the point from edge_to (on a two-way road, or at that node)."""
        return np.where(self.reversible | self.at_to, self.via_to, np.inf)


_LINK_FIELDS = tuple(Links.__dataclass_fields__)


def _same_edge_pairs(
    home_edges: np.ndarray, target_edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All (home row, target row) pairs snapped to the same edge."""
    order = np.argsort(target_edges, kind="stable")
    ordered = target_edges[order]
    low = np.searchsorted(ordered, home_edges, "left")
    high = np.searchsorted(ordered, home_edges, "right")
    counts = np.where(home_edges >= 0, high - low, 0)
    homes = np.repeat(np.arange(len(home_edges)), counts)
    starts = np.repeat(low, counts) + (
        np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    return homes, order[starts]


def _along_one_edge(
    home: Links, home_rows: np.ndarray, target: Links, rows: np.ndarray
) -> np.ndarray:
    """Cost from homes to targets on the same edge, travelling along it (inf if against one-way)."""
    ahead = target.along[rows] - home.along[home_rows]
    along = np.where(ahead >= 0, ahead, np.where(home.reversible[home_rows], -ahead, np.inf))
    return np.asarray(home.offset[home_rows] + target.offset[rows] + along)


def _smallest_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Per row of non-negative float32 values, the columns of the k smallest, ascending (ties:
    lower column first).

    np.partition of float32 values is many times faster than np.argpartition, so find each
    row's k-th value first, then sort only the few candidates at or below it.
    """
    n, width = values.shape
    kth = np.partition(values, k - 1, axis=1)[:, k - 1 : k]
    flat = np.flatnonzero(values <= kth)
    rows, cols = np.divmod(flat, width)
    # Non-negative floats order like their bit patterns: one integer key sorts by row, then
    # value; the stable sort keeps candidates of equal value in column order.
    bits = values.ravel()[flat].view(np.uint32).astype(np.uint64)
    order = np.argsort((rows.astype(np.uint64) << np.uint64(32)) | bits, kind="stable")
    rows, cols = rows[order], cols[order]
    counts = np.bincount(rows, minlength=n)
    rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.asarray(cols[rank < k].reshape(n, k))


def _with_virtual_rows(
    matrix: sp.csr_matrix, nodes: np.ndarray, costs: np.ndarray
) -> sp.csr_matrix:
    """The matrix plus one virtual node per row of `nodes`/`costs` (k x 2), with edges to them.

    Virtual nodes get no incoming edges, so one search per virtual node gives exact costs from
    a point on an edge; they are numbered n, n + 1, ... after the graph's own nodes.
    """
    n = matrix.shape[0]
    costs = np.array(costs, dtype=np.float64)
    loop = nodes[:, 0] == nodes[:, 1]
    costs[loop, 0] = np.minimum(costs[loop, 0], costs[loop, 1])
    costs[loop, 1] = np.inf
    usable = np.isfinite(costs)
    indptr = np.concatenate([matrix.indptr, matrix.indptr[-1] + np.cumsum(usable.sum(axis=1))])
    indices = np.concatenate([matrix.indices, nodes[usable].astype(matrix.indices.dtype)])
    data = np.concatenate([matrix.data, costs[usable]])
    size = n + len(nodes)
    return sp.csr_matrix((data, indices, indptr.astype(matrix.indptr.dtype)), shape=(size, size))


def _search_limit(cutoff: float | None) -> float:
    if cutoff is None:
        return np.inf
    if not cutoff >= 0:
        raise InvalidRequestError(f"cutoff must be a non-negative number, got {cutoff!r}")
    return float(cutoff)


@dataclass
class DistanceFields:
    """Cost from every graph node TO each source (home -> school direction), inf beyond cutoff.

    The cost from node v to source s includes the source's own snap offset and its along-edge
    part, so a point's cost to source s is its own offset and along-edge part plus the field
    at the end of its edge. The costs are kept in `tiles` (see routing.field_store: only the
    blocks of nodes a source's cutoff reaches are stored). `source_snap` and `edges` are kept
    so homes can be costed without the graph.
    """

    weight: str
    cutoff: float | None
    source_keys: np.ndarray
    tiles: FieldTiles
    source_snap: Snapped
    edges: EdgeCosts
    _sources: Links = field(init=False, repr=False)
    _sources_by_edge: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._sources = self.edges.links(self.source_snap)
        order = np.argsort(self._sources.edge, kind="stable")
        self._sources_by_edge = (order, self._sources.edge[order])

    @classmethod
    def from_node_major(
        cls,
        weight: str,
        cutoff: float | None,
        source_keys: np.ndarray,
        by_node: np.ndarray,
        source_snap: Snapped,
        edges: EdgeCosts,
        node_position: np.ndarray | None = None,
    ) -> DistanceFields:
        """Fields from a dense node-major float32 table [n_nodes, n_sources], tiled.

        `node_position`: each node's place in a spatial order (field_store.spatial_positions
        of the graph's nodes); the nodes' own order when None. Sources are ordered by the
        position of the node at the end of their road, unsnapped sources last.
        """
        if node_position is None:
            node_position = np.arange(by_node.shape[0], dtype=np.int64)
        source_position = _source_positions(edges.links(source_snap), node_position)
        tiles = FieldTiles.from_node_major(
            np.asarray(by_node, dtype=np.float32), node_position, source_position
        )
        return cls(weight, cutoff, np.asarray(source_keys), tiles, source_snap, edges)

    @property
    def n_sources(self) -> int:
        return len(self.source_keys)

    @property
    def n_nodes(self) -> int:
        return self.tiles.n_nodes

    def source_row(self, source: int) -> np.ndarray:
        """Costs float32 [n_nodes] from every node to the source of row `source`."""
        return self.tiles.source_row(source)

    def dense(self) -> np.ndarray:
        """All costs as float32 [n_sources, n_nodes]: materialises every field in memory, so
        only for tests and tools (serving reads rows of homes' nodes, never this)."""
        return self.tiles.dense()

    def _costs(
        self, homes: Links, rows: np.ndarray | None, columns: TileColumns, dtype: type
    ) -> np.ndarray:
        """Costs from homes to the sources `rows` (all when None); `columns` is the tiles' plan
        for those sources, made once for all blocks of homes."""
        if len(homes.edge) == 1:
            return self._costs_of_one(homes, rows, columns, dtype)
        # The rows of the homes' nodes in the tiles they lie in: a few homes read a few tile
        # rows of the (mapped) fields, never a column of every node.
        n = len(homes.edge)
        both = self.tiles.gather(np.concatenate([homes.to_node, homes.from_node]), columns)
        costs: np.ndarray = both[:n].astype(dtype, copy=False)
        costs += homes.leave_forward().astype(dtype)[:, None]
        backward: np.ndarray = both[n:].astype(dtype, copy=False)
        backward += homes.leave_backward().astype(dtype)[:, None]
        np.minimum(costs, backward, out=costs)
        target_rows = np.arange(self.n_sources) if rows is None else rows
        home_rows, pair_cols = _same_edge_pairs(homes.edge, self._sources.edge[target_rows])
        if len(home_rows):
            direct = _along_one_edge(homes, home_rows, self._sources, target_rows[pair_cols])
            costs[home_rows, pair_cols] = np.minimum(costs[home_rows, pair_cols], direct)
        if self.cutoff is not None:
            costs[costs > self.cutoff] = np.inf
        return costs

    def _costs_of_one(
        self, home: Links, rows: np.ndarray | None, columns: TileColumns, dtype: type
    ) -> np.ndarray:
        """`_costs` of one home (a near-home question), the same sums in the same order on
        rows instead of [1, n] blocks, and the sources sharing the home's edge found in an
        index made once rather than by sorting every source's edge again."""
        ahead, behind = self.tiles.gather(
            np.array([home.to_node[0], home.from_node[0]], dtype=np.int64), columns
        )
        costs = ahead.astype(dtype)
        costs += dtype(home.leave_forward()[0])
        backward = behind.astype(dtype)
        backward += dtype(home.leave_backward()[0])
        np.minimum(costs, backward, out=costs)
        edge = int(home.edge[0])
        if edge >= 0:
            order, ordered = self._sources_by_edge
            on_edge = order[
                np.searchsorted(ordered, edge, "left") : np.searchsorted(ordered, edge, "right")
            ]
            if rows is None or not len(on_edge):
                pair_cols = target_rows = on_edge
            else:
                pair_cols = np.flatnonzero(np.isin(rows, on_edge))
                target_rows = rows[pair_cols]
            if len(pair_cols):
                direct = _along_one_edge(
                    home, np.zeros(len(pair_cols), dtype=np.int64), self._sources, target_rows
                )
                costs[pair_cols] = np.minimum(costs[pair_cols], direct)
        if self.cutoff is not None:
            costs[costs > self.cutoff] = np.inf
        return costs[None, :]

    def cost_from_points(
        self, snapped: Snapped, source_rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Exact costs [n_points, n_sources (or len(source_rows))] from points to sources."""
        rows = None if source_rows is None else np.asarray(source_rows, np.int64)
        columns = self.tiles.columns(rows)
        links = self.edges.links(snapped)
        n = len(snapped)
        if n <= NEAREST_CHUNK:
            return self._costs(links, rows, columns, np.float64)
        # Block by block (the same numbers): a city's 100,000+ homes by 200+ schools is a
        # matrix the gathers and sums would otherwise sweep through memory several times.
        out = np.empty((n, len(columns.take)), dtype=np.float64)
        for start in range(0, n, NEAREST_CHUNK):
            block = slice(start, min(start + NEAREST_CHUNK, n))
            out[block] = self._costs(links.take(block), rows, columns, np.float64)
        return out

    def nearest(self, snapped: Snapped, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the k cheapest sources of every point and their costs, cheapest first.

        Where fewer than k sources are reachable the rest are -1 with cost inf.
        """
        if k < 1:
            raise InvalidRequestError(f"k must be at least 1, got {k}")
        n = len(snapped)
        indices = np.empty((n, k), dtype=np.int64)
        costs = np.empty((n, k))
        width = min(k, self.n_sources)
        links = self.edges.links(snapped)
        columns = self.tiles.columns()

        def fill(start: int) -> None:
            block = slice(start, min(start + NEAREST_CHUNK, n))
            cost = self._costs(links.take(block), None, columns, np.float32)
            indices[block, width:] = -1
            costs[block, width:] = np.inf
            if width:
                best = _smallest_columns(cost, width)
                best_cost = np.take_along_axis(cost, best, axis=1)
                indices[block, :width] = np.where(np.isfinite(best_cost), best, -1)
                costs[block, :width] = best_cost

        starts = range(0, n, NEAREST_CHUNK)
        if len(starts) <= 1:
            for start in starts:
                fill(start)
        else:
            # Blocks are independent and numpy releases the GIL in gathers, sums, partitions.
            with ThreadPoolExecutor(max_workers=_default_workers()) as pool:
                list(pool.map(fill, starts))
        return indices, costs

    def save(self, path: Path) -> None:
        """One uncompressed .npz holding the tiles, their index and what costing points needs.

        Written under a name of this writer's own, then moved into place: service workers
        computing the same fields at once each replace the file whole, never each other's
        half-written file.
        """
        partial = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(6)}.partial")
        snap = self.source_snap
        try:
            with partial.open("wb") as handle:
                np.savez(
                    handle,
                    layout=np.array(TILES_FORMAT),
                    weight=np.array(self.weight),
                    cutoff=np.array(np.nan if self.cutoff is None else self.cutoff),
                    source_keys=self.source_keys,
                    node_position=self.tiles.node_position,
                    source_position=self.tiles.source_position,
                    tile_index=self.tiles.index,
                    tiles=self.tiles.tiles,
                    **{f"snap_{name}": getattr(snap, name) for name in _SNAP_FIELDS},
                    **{f"edges_{name}": getattr(self.edges, name) for name in _EDGE_FIELDS},
                )
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> DistanceFields:
        """Read fields written by `save`, the tiles memory-mapped (read-only): every process
        loading the same file shares one copy of them in the page cache, however many serving
        workers there are, and reads only the pages it touches. The index is read whole.

        A file in another layout (dense fields of an earlier version) or one whose index does
        not fit its tiles raises FieldsFileError: it is never read as fields.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                layout = str(data["layout"]) if "layout" in data.files else "dense (no layout)"
                if layout != TILES_FORMAT:
                    raise FieldsFileError(
                        f"Tệp trường khoảng cách {path.name} ở định dạng {layout!r} của một "
                        f"phiên bản khác; hãy xoá để tính lại / the distance-fields file "
                        f"{path.name} is in layout {layout!r}, not {TILES_FORMAT!r}; delete "
                        "it to recompute"
                    )
                cutoff = float(data["cutoff"])
                small = {
                    "weight": str(data["weight"]),
                    "source_keys": data["source_keys"],
                    "source_snap": Snapped(**{name: data[f"snap_{name}"] for name in _SNAP_FIELDS}),
                    "edges": EdgeCosts(**{name: data[f"edges_{name}"] for name in _EDGE_FIELDS}),
                }
                positions = (data["node_position"], data["source_position"], data["tile_index"])
            tiles = FieldTiles(*positions, mapped_member(path, "tiles"))
        except (
            zipfile.BadZipFile,
            KeyError,
            IndexError,
            ValueError,
            EOFError,
            TypeError,
            struct.error,
        ) as error:
            raise FieldsFileError(
                f"Tệp trường khoảng cách {path.name} bị hỏng ({error}); hãy xoá để tính lại / "
                f"the distance-fields file {path.name} is damaged ({error}); delete it to "
                "recompute"
            ) from error
        tiles.check(path.name)
        if len(small["source_keys"]) != tiles.n_sources:
            tiles_problem = f"{len(small['source_keys'])} sources named, {tiles.n_sources} tiled"
            raise FieldsFileError(
                f"Tệp trường khoảng cách {path.name} bị hỏng ({tiles_problem}) / the "
                f"distance-fields file {path.name} is damaged ({tiles_problem})"
            )
        return cls(cutoff=None if np.isnan(cutoff) else cutoff, tiles=tiles, **small)


_SNAP_FIELDS = tuple(Snapped.__dataclass_fields__)
_EDGE_FIELDS = tuple(EdgeCosts.__dataclass_fields__)


def _field_block(
    matrix: sp.csr_matrix, starts: np.ndarray, limit: float, n_nodes: int
) -> np.ndarray:
    found = dijkstra(matrix, directed=True, indices=starts, limit=limit)
    return np.asarray(found[:, :n_nodes], dtype=np.float32)


@dataclass(frozen=True)
class FieldSearch:
    """What every block of a field computation shares: the search graph (sent to each worker
    once), the search limit and the graph's node count."""

    matrix: sp.csr_matrix
    limit: float
    n_nodes: int


def _worker_field_block(search: FieldSearch, starts: np.ndarray) -> np.ndarray:
    """One block of sources (their virtual nodes), as an executor runs it anywhere."""
    return _field_block(search.matrix, starts, search.limit, search.n_nodes)


def _default_workers() -> int:
    return default_workers()


def compute_fields(
    graph: RoadGraph,
    source_lon: np.ndarray,
    source_lat: np.ndarray,
    source_keys: np.ndarray,
    weight: str = "length",
    cutoff: float | None = None,
    max_snap_m: float = 1000.0,
    progress: Callable[[str], None] | None = None,
    *,
    snapper: Snapper | None = None,
    workers: int | None = None,
    access: Callable[[Snapped], Snapped] | None = None,
    executor: Executor | None = None,
) -> DistanceFields:
    """Fields from every node to each source: one reverse Dijkstra per source.

    `access` may change how each source is joined to its road once snapped (the service
    counts a school off the mapped roads at an estimated detour, see routing.service).

    Each source is a virtual node joined to the ends of its edge (one-way respected) on the
    transposed graph; sources are searched in blocks, run by `executor`. By default that is
    `workers` forked processes when `workers` is given, else the Dask cluster of
    SCHOOLMAP_DASK_SCHEDULER when set (see config.ClusterSettings), else as many forked
    processes as usable CPUs (scipy's Dijkstra holds the GIL, so threads would not help).
    Forking only happens in a single-threaded process (a CLI or batch job, not a server);
    otherwise, or with workers=1, the blocks run here. Every executor gives the same fields.
    A source farther than `max_snap_m` from a road is unreachable (its field is all inf).
    """
    key = check_weight(weight)
    limit = _search_limit(cutoff)
    keys = np.asarray(source_keys, dtype=np.int64)
    lon = np.atleast_1d(np.asarray(source_lon, np.float64))
    lat = np.atleast_1d(np.asarray(source_lat, np.float64))
    if not len(keys) == len(lon) == len(lat):
        raise InvalidRequestError("source_lon, source_lat and source_keys differ in length")
    report = progress or (lambda message: None)
    snap = (snapper or Snapper(graph)).snap(lon, lat, max_snap_m)
    if access is not None:
        snap = access(snap)
    edges = EdgeCosts.of(graph, key)
    sources = edges.links(snap)
    # On the transposed graph a virtual source reaches the nodes that reach it in reality.
    nodes = np.column_stack([sources.from_node, sources.to_node])
    costs = np.column_stack([sources.reach_forward(), sources.reach_backward()])
    search = _with_virtual_rows(graph.transposed(key), nodes, costs)
    n = graph.n_nodes
    # Sources in the tiles' order (unsnapped ones last, all inf): each block of FIELD_CHUNK
    # searched is one block of tiles, kept as it comes (the dense table is never made).
    node_position = spatial_positions(graph.node_x, graph.node_y)
    source_position = _source_positions(sources, node_position)
    at_position = np.argsort(source_position)
    snapped = at_position[: int(sources.ok.sum())]
    blocks = [snapped[i : i + FIELD_CHUNK] for i in range(0, len(snapped), FIELD_CHUNK)]
    tiles = TileBuilder(node_position, source_position)
    done = 0
    report(f"distance fields: 0/{len(keys)}")
    # `ProcessPoolExecutor` is looked up here, when called. A caller naming `workers` (1 for a
    # few sources, where a cluster would cost more than it saves) runs on this machine.
    local = LocalProcesses(workers, ProcessPoolExecutor)
    runner = executor or (local if workers is not None else configured_executor(local=local))
    results = runner.map_blocks(
        _worker_field_block, [n + b for b in blocks], shared=FieldSearch(search, limit, n)
    )
    for block, (rows, found) in enumerate(zip(blocks, results, strict=True)):
        tiles.add(block, found.T)
        done += len(rows)
        report(f"distance fields: {done}/{len(keys)}")
    return DistanceFields(key, cutoff, keys, tiles.tiles(), snap, edges)


def _source_positions(sources: Links, node_position: np.ndarray) -> np.ndarray:
    """Each source's position in the tiles: in the order of the node at the end of its road
    (so sources near each other share blocks), unsnapped sources last, ties in row order."""
    n_nodes = len(node_position)
    at = np.where(sources.ok, node_position[np.where(sources.ok, sources.to_node, 0)], n_nodes)
    return positions_of(np.argsort(at, kind="stable"))


def _one_point(snapped: Snapped, what: str) -> Snapped:
    if len(snapped) != 1:
        raise InvalidRequestError(f"{what} must be exactly one snapped point, got {len(snapped)}")
    return snapped


def _search_from(
    graph: RoadGraph, home: Links, weight: str, limit: float, predecessors: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Forward Dijkstra from one snapped point; costs to every node (and the virtual start)."""
    key = check_weight(weight)
    nodes = np.column_stack([home.to_node, home.from_node])
    costs = np.column_stack([home.leave_forward(), home.leave_backward()])
    search = _with_virtual_rows(graph.matrix(key), nodes, costs)
    start = graph.n_nodes
    if predecessors:
        dist, pred = dijkstra(
            search, directed=True, indices=start, limit=limit, return_predecessors=True
        )
        return np.asarray(dist), np.asarray(pred)
    return np.asarray(dijkstra(search, directed=True, indices=start, limit=limit)), None


def _direct_costs(home: Links, targets: Links) -> np.ndarray:
    """Cost from the one home straight along its edge to each target on that edge, else inf."""
    costs = np.full(len(targets.edge), np.inf)
    _, rows = _same_edge_pairs(home.edge, targets.edge)
    if len(rows):
        costs[rows] = _along_one_edge(home, np.zeros(len(rows), dtype=np.int64), targets, rows)
    return costs


def _costs_to_targets(dist: np.ndarray, home: Links, targets: Links) -> np.ndarray:
    via_graph = np.minimum(
        dist[targets.from_node] + targets.reach_forward(),
        dist[targets.to_node] + targets.reach_backward(),
    )
    return np.asarray(np.minimum(via_graph, _direct_costs(home, targets)))


def point_to_points(
    graph: RoadGraph, from_snap: Snapped, to_snap: Snapped, weight: str, cutoff: float | None = None
) -> np.ndarray:
    """Costs from one snapped point to many: the same semantics as `cost_from_points`."""
    limit = _search_limit(cutoff)
    edges = EdgeCosts.of(graph, weight)
    home = edges.links(_one_point(from_snap, "from_snap"))
    targets = edges.links(to_snap)
    if not home.ok[0]:
        return np.full(len(to_snap), np.inf)
    dist, _ = _search_from(graph, home, weight, limit)
    costs = _costs_to_targets(dist, home, targets)
    costs[costs > limit] = np.inf
    return costs


@dataclass
class Route:
    """One route: costs include both snap offsets; the shape runs snap point to snap point."""

    length_m: float
    time_s: float
    nodes: np.ndarray  # graph node indices passed, in order
    edges: np.ndarray  # whole edges travelled between the first and last node
    lon: np.ndarray
    lat: np.ndarray


def _pieces(
    graph: RoadGraph, edges: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parts of edge shapes between fractions start <= end: (x, y, lon, lat, piece index).

    Each part is its cut end points with the shape points strictly between them.
    """
    along = graph.geom_along()
    first = graph.geom_offsets[edges]
    last = graph.geom_offsets[edges + 1] - 1
    base = along[first]
    span = along[last] - base
    at_start, at_end = base + start * span, base + end * span

    def cut(at: np.ndarray, segment: np.ndarray) -> tuple[np.ndarray, ...]:
        segment = np.clip(segment, first, last - 1)
        width = along[segment + 1] - along[segment]
        t = np.divide(at - along[segment], width, out=np.zeros_like(at), where=width > 0)
        t = np.clip(t, 0.0, 1.0)
        x = graph.geom_x[segment] + t * (graph.geom_x[segment + 1] - graph.geom_x[segment])
        y = graph.geom_y[segment] + t * (graph.geom_y[segment + 1] - graph.geom_y[segment])
        # Shape points keep their OSM lon/lat; points cut between them are unprojected.
        vertex = np.where(t >= 1.0, segment + 1, segment)
        lon, lat = graph.geom_lon[vertex], graph.geom_lat[vertex]
        between = (t > 0.0) & (t < 1.0)
        lon[between], lat[between] = to_lonlat(x[between], y[between])
        return x, y, lon, lat

    inner_lo = np.clip(np.searchsorted(along, at_start, "right"), first + 1, last)
    inner_hi = np.clip(np.searchsorted(along, at_end, "left"), inner_lo, last)
    head = cut(at_start, inner_lo - 1)
    tail = cut(at_end, inner_hi - 1)
    counts = inner_hi - inner_lo + 2
    offsets = np.cumsum(counts) - counts
    piece = np.repeat(np.arange(len(edges)), counts)
    position = np.arange(int(counts.sum())) - offsets[piece]
    # Position 0 is the head and the last the tail (overwritten below); between: inner points.
    vertex = np.clip(inner_lo[piece] + position - 1, 0, max(len(along) - 1, 0))
    columns = []
    for values, head_values, tail_values in zip(
        (graph.geom_x, graph.geom_y, graph.geom_lon, graph.geom_lat), head, tail, strict=True
    ):
        column = values[vertex]
        column[offsets] = head_values
        column[offsets + counts - 1] = tail_values
        columns.append(column)
    return columns[0], columns[1], columns[2], columns[3], piece


def _snapped_links(graph: RoadGraph, snapped: Snapped, weight: str, what: str) -> Links:
    links = EdgeCosts.of(graph, weight).links(_one_point(snapped, what))
    if not links.ok[0]:
        raise NotFoundError(
            f"the {what} point is too far from any road of the {graph.mode} network"
        )
    return links


def route(graph: RoadGraph, from_snap: Snapped, to_snap: Snapped, weight: str) -> Route:
    """The cheapest route between two snapped points, with its shape in lon/lat."""
    home = _snapped_links(graph, from_snap, weight, "start")
    school = _snapped_links(graph, to_snap, weight, "destination")
    dist, pred = _search_from(graph, home, weight, np.inf, predecessors=True)
    assert pred is not None
    options = [
        float(dist[school.from_node[0]] + school.reach_forward()[0]),
        float(dist[school.to_node[0]] + school.reach_backward()[0]),
        float(_direct_costs(home, school)[0]),
    ]
    best = int(np.argmin(options))
    if not np.isfinite(options[best]):
        raise NotFoundError("no route joins the two points on the road network")
    e_home, e_school = int(home.edge[0]), int(school.edge[0])
    f_home, f_school = float(from_snap.fraction[0]), float(to_snap.fraction[0])
    r_home, r_school = int(graph.edge_reverse[e_home]), int(graph.edge_reverse[e_school])
    piece_edges: list[int] = []
    piece_start: list[float] = []
    piece_end: list[float] = []

    def add(edge: int, start: float, end: float) -> None:
        piece_edges.append(edge)
        piece_start.append(start)
        piece_end.append(end)

    nodes: list[int] = []
    if best == 2:  # home and school on one edge: straight along it
        if f_school >= f_home:
            add(e_home, f_home, f_school)
        else:
            add(r_home, 1.0 - f_home, 1.0 - f_school)
    else:
        node = int(school.from_node[0] if best == 0 else school.to_node[0])
        while node != graph.n_nodes:
            nodes.append(node)
            node = int(pred[node])
        nodes.reverse()
        leaves_forward = nodes[0] == home.to_node[0] and (
            nodes[0] != home.from_node[0] or home.leave_forward()[0] <= home.leave_backward()[0]
        )
        if leaves_forward:
            add(e_home, f_home, 1.0)
        elif r_home >= 0:
            add(r_home, 1.0 - f_home, 1.0)
        else:  # on a one-way edge, right at its start node
            add(e_home, 0.0, 0.0)
        matrix, chosen = graph.cheapest_edges(weight)
        for a, b in itertools.pairwise(nodes):
            row = slice(matrix.indptr[a], matrix.indptr[a + 1])
            add(int(chosen[row][matrix.indices[row] == b][0]), 0.0, 1.0)
        if best == 0:
            add(e_school, 0.0, f_school)
        elif r_school >= 0:
            add(r_school, 0.0, 1.0 - f_school)
        else:  # on a one-way edge, right at its end node
            add(e_school, 1.0, 1.0)
    edge_array = np.array(piece_edges, dtype=np.int64)
    share = np.array(piece_end) - np.array(piece_start)
    length = float(np.sum(share * graph.edge_length_m[edge_array]))
    seconds = float(np.sum(share * graph.edge_time_s[edge_array]))
    for e, offset in ((e_home, from_snap.offset_m[0]), (e_school, to_snap.offset_m[0])):
        length += float(offset)
        seconds += float(offset * graph.edge_time_s[e] / graph.edge_length_m[e])
    _, _, lon, lat, piece = _pieces(graph, edge_array, np.array(piece_start), np.array(piece_end))
    # Each piece starts where the previous ended: drop the repeated point.
    keep = np.ones(len(piece), dtype=bool)
    keep[np.flatnonzero(np.diff(piece)) + 1] = False
    return Route(
        length_m=length,
        time_s=seconds,
        nodes=np.array(nodes, dtype=np.int64),
        edges=edge_array[1:-1] if best != 2 else np.empty(0, np.int64),
        lon=lon[keep],
        lat=lat[keep],
    )


def reachable_area(
    graph: RoadGraph, from_snap: Snapped, seconds: float
) -> shapely.Polygon | shapely.MultiPolygon:
    """Isochrone in lon/lat: roads (and parts of roads) reached within `seconds`, buffered."""
    home = _snapped_links(graph, from_snap, "time", "start")
    limit = _search_limit(seconds)
    dist, _ = _search_from(graph, home, "time", limit)
    time = graph.edge_time_s
    e_home, f_home = int(home.edge[0]), float(from_snap.fraction[0])
    budget = limit - float(home.offset[0])
    if budget <= 0:
        return shapely.Polygon()
    starts = dist[graph.edge_from]
    reached = np.flatnonzero(starts < limit)
    reach = np.minimum(1.0, (limit - starts[reached]) / time[reached])
    # Of a two-way pair reached in full both ways, one shape is enough.
    partner = graph.edge_reverse[reached]
    whole = reach >= 1.0
    full = np.zeros(graph.n_edges, dtype=bool)
    full[reached[whole]] = True
    twin = whole & (partner >= 0) & (partner < reached) & full[np.maximum(partner, 0)]
    edges = [reached[~twin]]
    start = [np.zeros(int((~twin).sum()))]
    end = [reach[~twin]]
    share = budget / time[e_home]
    edges.append(np.array([e_home]))
    start.append(np.array([f_home]))
    end.append(np.array([min(1.0, f_home + share)]))
    if graph.edge_reverse[e_home] >= 0:  # (at the start node of a one-way edge: no piece)
        edges.append(np.array([graph.edge_reverse[e_home]]))
        start.append(np.array([1.0 - f_home]))
        end.append(np.array([min(1.0, 1.0 - f_home + share)]))
    return _buffered_pieces(
        graph, np.concatenate(edges), np.concatenate(start), np.concatenate(end)
    )


ZONE_CELL_M = 50.0
"""The finest grid an `area_within` is drawn on: cells of this side, in UTM metres."""
ZONE_DETAIL_M = 5000.0
"""Budgets up to this are drawn on the finest grid; each doubling beyond doubles the cell."""


def zone_cell_m(budget: float) -> float:
    """The side of the cells a budget's area is drawn with: ZONE_CELL_M, doubled for each
    doubling of the budget beyond ZONE_DETAIL_M (so a large area keeps a bounded number of
    cells, and every grid's cells are whole blocks of the finer ones)."""
    if budget <= ZONE_DETAIL_M:
        return ZONE_CELL_M
    return ZONE_CELL_M * 2.0 ** math.ceil(math.log2(budget / ZONE_DETAIL_M))


def area_within(
    graph: RoadGraph, node_cost: np.ndarray, budget: float
) -> shapely.Polygon | shapely.MultiPolygon:
    """The area from which a place is within `budget` metres by road, in lon/lat: the cells of
    a grid (`zone_cell_m(budget)`) that the roads (and parts of roads) within the budget cross,
    and the cells around them. `node_cost[v]` is the road metres from node v to the place (a
    length field's row; inf where unreached); a point along an edge u -> v costs the rest of
    the edge plus node_cost[v], and a two-way road's other direction is its partner edge.

    Drawn on a grid (not buffered piece by piece, which takes minutes for a city's schools)
    whose cells only grow in whole blocks as the budget grows, the area grows with the budget:
    each budget's area holds a smaller one's."""
    cell_m = zone_cell_m(budget)
    cost = np.asarray(node_cost, dtype=np.float64)
    if len(cost) != graph.n_nodes:
        raise InvalidRequestError(
            f"node costs for {len(cost)} nodes, the graph has {graph.n_nodes}"
        )
    length = graph.edge_length_m
    at_end = cost[graph.edge_to]
    left = budget - at_end
    reached = np.flatnonzero(np.isfinite(at_end) & (left >= 0))
    if len(reached) == 0:
        return shapely.Polygon()
    span = np.divide(
        left[reached], length[reached], out=np.ones(len(reached)), where=length[reached] > 0
    )
    start = np.clip(1.0 - span, 0.0, 1.0)
    x, y, _, _, piece = _pieces(graph, reached, start, np.ones(len(reached)))
    # Points along every piece at most half a cell apart, then their cells and the cells around.
    same = piece[1:] == piece[:-1]
    x0, y0, x1, y1 = x[:-1][same], y[:-1][same], x[1:][same], y[1:][same]
    steps = np.maximum(1, np.ceil(np.hypot(x1 - x0, y1 - y0) / (cell_m / 2))).astype(np.int64)
    segment = np.repeat(np.arange(len(steps)), steps + 1)
    offsets = np.cumsum(steps + 1) - (steps + 1)
    t = (np.arange(len(segment)) - offsets[segment]) / steps[segment]
    px = np.concatenate([x0[segment] + t * (x1 - x0)[segment], x])
    py = np.concatenate([y0[segment] + t * (y1 - y0)[segment], y])
    # A cell as one number (column * height + row, counted from the corner) sorts fast.
    column = np.floor(px / cell_m).astype(np.int64)
    row = np.floor(py / cell_m).astype(np.int64)
    first_column, first_row = int(column.min()) - 1, int(row.min()) - 1
    height = int(row.max()) - first_row + 2
    key = np.unique((column - first_column) * height + (row - first_row))
    around = np.array([dx * height + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)], np.int64)
    key = np.unique((key[:, None] + around[None, :]).ravel())
    column, row = key // height + first_column, key % height + first_row
    boxes = shapely.box(column * cell_m, row * cell_m, (column + 1) * cell_m, (row + 1) * cell_m)
    # Joined cell by cell; straight runs of cell corners kept as one edge.
    area = shapely.simplify(shapely.coverage_union_all(boxes), 0.0, preserve_topology=True)
    return _unprojected(area)


def _buffered_pieces(
    graph: RoadGraph, edges: np.ndarray, start: np.ndarray, end: np.ndarray
) -> shapely.Polygon | shapely.MultiPolygon:
    """Parts of edges buffered by REACH_BUFFER_M and joined, in lon/lat."""
    x, y, _, _, piece = _pieces(graph, edges, start, end)
    lines = shapely.linestrings(np.column_stack([x, y]), indices=piece)
    # Buffering each piece and then unioning is ~100x faster than buffering one multi-line.
    area = shapely.union_all(shapely.buffer(lines, REACH_BUFFER_M, quad_segs=4))
    return _unprojected(area)


def _unprojected(area: shapely.Geometry) -> shapely.Polygon | shapely.MultiPolygon:
    """An area in UTM metres as lon/lat."""

    def unproject(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_lonlat(xy[:, 0], xy[:, 1]))

    result = shapely.transform(area, unproject)
    assert isinstance(result, shapely.Polygon | shapely.MultiPolygon)
    return result
