"""Distance fields in tiles: the same costs as one dense table, fewer bytes where a radius cuts."""

from __future__ import annotations

import itertools
import logging
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis_service.admissions.build import _estimate_beyond
from gis_service.errors import FieldsFileError
from gis_service.routing import distances
from gis_service.routing.distances import DistanceFields, compute_fields
from gis_service.routing.field_store import (
    TILES_FORMAT,
    FieldTiles,
    _inconsistency,
    spatial_positions,
)
from gis_service.routing.graph import RoadGraph
from gis_service.routing.service import (
    ESTIMATED_DETOUR,
    SchoolPoints,
    _cached_fields,
    fields_path,
    straight_metres,
)
from gis_service.routing.snap import Snapped, Snapper
from gis_service.routing.store import NetworkRecord
from tests.test_routing_distances import grid_cities, grid_homes
from tests.test_routing_graph import ORIGIN_X, ORIGIN_Y, City, lonlat_of


def dense_costs(
    fields: DistanceFields, snapped: Snapped, rows: np.ndarray | None, dtype: type
) -> np.ndarray:
    """Costs from points as they were read from one dense node-major table (the layout before
    tiles), to compare bit for bit."""
    by_node = np.ascontiguousarray(fields.dense().T)
    homes = fields.edges.links(snapped)
    table = by_node if rows is None else by_node[:, rows]
    costs = table[homes.to_node].astype(dtype, copy=False)
    costs += homes.leave_forward().astype(dtype)[:, None]
    backward = table[homes.from_node].astype(dtype, copy=False)
    backward += homes.leave_backward().astype(dtype)[:, None]
    np.minimum(costs, backward, out=costs)
    sources = fields.edges.links(fields.source_snap)
    target_rows = np.arange(fields.n_sources) if rows is None else rows
    home_rows, pair_cols = distances._same_edge_pairs(homes.edge, sources.edge[target_rows])
    if len(home_rows):
        direct = distances._along_one_edge(homes, home_rows, sources, target_rows[pair_cols])
        costs[home_rows, pair_cols] = np.minimum(costs[home_rows, pair_cols], direct)
    if fields.cutoff is not None:
        costs[costs > fields.cutoff] = np.inf
    return np.asarray(costs)


def dense_nearest(
    fields: DistanceFields, snapped: Snapped, k: int
) -> tuple[np.ndarray, np.ndarray]:
    cost = dense_costs(fields, snapped, None, np.float32)
    width = min(k, fields.n_sources)
    indices = np.full((len(snapped), k), -1, dtype=np.int64)
    costs = np.full((len(snapped), k), np.inf)
    if width and len(snapped):
        best = distances._smallest_columns(cost, width)
        best_cost = np.take_along_axis(cost, best, axis=1)
        indices[:, :width] = np.where(np.isfinite(best_cost), best, -1)
        costs[:, :width] = best_cost
    return indices, costs


def retiled(fields: DistanceFields, node_block: int, source_block: int) -> DistanceFields:
    """The same fields in tiles of other sizes (the same spatial order)."""
    tiles = FieldTiles.from_node_major(
        np.ascontiguousarray(fields.dense().T),
        fields.tiles.node_position,
        fields.tiles.source_position,
        node_block,
        source_block,
    )
    return replace(fields, tiles=tiles)


def assert_same_bytes(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.dtype == reference.dtype and ours.shape == reference.shape
    assert np.ascontiguousarray(ours).tobytes() == np.ascontiguousarray(reference).tobytes()


def sub_block(table: np.ndarray, tiles: FieldTiles, b: int, s: int) -> np.ndarray:
    """The costs of node block b and source block s of a node-major table."""
    node_block, source_block = tiles.tiles.shape[1:]
    nodes = np.flatnonzero(tiles.node_position // node_block == b)
    sources = np.flatnonzero(tiles.source_position // source_block == s)
    return np.asarray(table[np.ix_(nodes, sources)])


# A street 0 - 100 - 200 - 300 m (nodes 1-4), schools at both ends, cut at 150 m.
def street_fields(node_block: int, source_block: int) -> tuple[RoadGraph, DistanceFields]:
    city = City().node(1, 0, 0).node(2, 100, 0).node(3, 200, 0).node(4, 300, 0)
    graph = city.way(1, [1, 2]).way(2, [2, 3]).way(3, [3, 4]).build("walk")
    fields = compute_fields(graph, *lonlat_of([0, 300], [0, 0]), np.array([7, 9]), cutoff=150.0)
    return graph, retiled(fields, node_block, source_block)


def test_a_street_s_tiles_keep_only_the_blocks_within_the_cutoff() -> None:
    graph, fields = street_fields(2, 1)
    along = np.argsort(graph.node_x)  # the street's nodes west to east
    assert np.array_equal(fields.tiles.node_position[along], [0, 1, 2, 3])
    # Nodes {0 m, 100 m} and {200 m, 300 m}; the west school first: each school's own half only.
    assert fields.tiles.index.tolist() == [[0, -1], [-1, 1]]
    assert fields.tiles.nbytes == 2 * 2 * 1 * 4 < fields.tiles.dense_nbytes == 4 * 2 * 4
    inf = np.inf
    assert fields.source_row(0)[along].tolist() == pytest.approx([0, 100, inf, inf], abs=1e-4)
    assert fields.source_row(1)[along].tolist() == pytest.approx([inf, inf, 100, 0], abs=1e-4)
    homes = Snapper(graph).snap(*lonlat_of([50, 250, 140], [10, -10, 0]))
    costs = fields.cost_from_points(homes)
    assert costs[0, 0] == pytest.approx(10 + 50) and costs[1, 1] == pytest.approx(10 + 50)
    assert np.isinf(costs[0, 1]) and np.isinf(costs[1, 0])
    # 140 m to the west school past the 100 m node; to the east one 60 m to the 200 m node, whose
    # tile is kept, and 100 m from there: 160 m, beyond the cutoff.
    assert costs[2].tolist() == pytest.approx([140, np.inf])
    indices, nearest = fields.nearest(homes, 2)
    assert indices.tolist() == [[0, -1], [1, -1], [0, -1]]
    assert nearest[:, 0] == pytest.approx([60, 60, 140])  # (float32 sums)
    assert_same_bytes(costs, dense_costs(fields, homes, None, np.float64))


@st.composite
def tables(draw: st.DrawFn) -> tuple[np.ndarray, int, int, np.random.Generator]:
    n_nodes, n_sources = draw(st.integers(0, 40)), draw(st.integers(0, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    table = (rng.random((n_nodes, n_sources)) * 1000).astype(np.float32)
    unreached = draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    table[rng.random(table.shape) < unreached] = np.inf
    return table, draw(st.integers(1, 8)), draw(st.integers(1, 4)), rng


@settings(max_examples=150, deadline=None)
@given(drawn=tables())
def test_tiles_hold_exactly_the_table_and_only_its_reached_blocks(
    drawn: tuple[np.ndarray, int, int, np.random.Generator],
) -> None:
    table, node_block, source_block, rng = drawn
    n_nodes, n_sources = table.shape
    tiles = FieldTiles.from_node_major(
        table, rng.permutation(n_nodes), rng.permutation(n_sources), node_block, source_block
    )
    assert _inconsistency(tiles) is None
    assert_same_bytes(tiles.dense(), table.T)
    for s in range(n_sources):
        assert_same_bytes(tiles.source_row(s), table[:, s])
    nodes = rng.integers(0, max(n_nodes, 1), 7) if n_nodes else np.empty(0, np.int64)
    for sources in (None, rng.integers(0, max(n_sources, 1), 5 if n_sources else 0)):
        wanted = np.arange(n_sources) if sources is None else sources
        assert_same_bytes(tiles.gather(nodes, tiles.columns(sources)), table[nodes][:, wanted])
    for b, s in itertools.product(*(range(n) for n in tiles.index.shape)):
        reached = bool(np.isfinite(sub_block(table, tiles, b, s)).any())
        assert (tiles.index[b, s] >= 0) == reached
    assert len(tiles.tiles) == int((tiles.index >= 0).sum())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    city=grid_cities(),
    seed=st.integers(0, 2**32 - 1),
    weight=st.sampled_from(["length", "time"]),
    cutoff=st.one_of(st.none(), st.floats(0.0, 1200.0)),
    node_block=st.integers(1, 6),
    source_block=st.integers(1, 4),
)
def test_costs_and_nearest_from_tiles_are_those_of_the_dense_table(
    city: City,
    seed: int,
    weight: str,
    cutoff: float | None,
    node_block: int,
    source_block: int,
) -> None:
    grid = grid_homes(city, seed, 15)
    graph, homes, rng = grid.graph, grid.homes, grid.rng
    schools = grid.points(6)
    if cutoff is not None and weight == "time":
        cutoff /= 5.0
    made = compute_fields(graph, *schools, np.arange(6) + 50, weight, cutoff, workers=1)
    for fields in (made, retiled(made, node_block, source_block)):
        assert_same_bytes(
            fields.cost_from_points(homes), dense_costs(fields, homes, None, np.float64)
        )
        rows = rng.integers(0, 6, int(rng.integers(1, 8)))  # any order, repeats too
        assert_same_bytes(
            fields.cost_from_points(homes, rows), dense_costs(fields, homes, rows, np.float64)
        )
        for k in (1, 3, 8):
            for ours, reference in zip(
                fields.nearest(homes, k), dense_nearest(fields, homes, k), strict=True
            ):
                assert_same_bytes(ours, reference)
    assert_same_bytes(retiled(made, node_block, source_block).dense(), made.dense())


def test_spatial_positions_keep_neighbours_together() -> None:
    x = np.array([0.0, 10_000.0, 1.0, 10_001.0, 2.0, 10_002.0])
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    position = spatial_positions(x, y)
    assert sorted(position[[0, 2, 4]].tolist()) == [0, 1, 2]  # the western three first
    assert sorted(position.tolist()) == list(range(6))
    assert len(spatial_positions(np.empty(0), np.empty(0))) == 0


TOWN_GAP_M = 20_000.0
RADIUS_M = 2_000.0


def two_towns() -> tuple[RoadGraph, DistanceFields]:
    """Two 4 x 4 grid towns (100 m blocks) 20 km apart, joined by one road; two schools in each,
    fields cut at 2 km; tiles of 4 nodes x 2 schools."""
    city = City()
    for town, (r, c) in itertools.product(range(2), itertools.product(range(4), range(4))):
        city.node(100 * town + 10 * r + c, town * TOWN_GAP_M + 100 * c, 100 * r)
    way = 1
    for town, r, c in itertools.product(range(2), range(4), range(4)):
        here = 100 * town + 10 * r + c
        for there, inside in ((here + 1, c < 3), (here + 10, r < 3)):
            if inside:
                city.way(way, [here, there])
                way += 1
    city.way(way, [3, 100], highway="primary")  # the east corner of one to the west of the other
    graph = city.build("motorbike")
    x = [50, 250, TOWN_GAP_M + 50, TOWN_GAP_M + 250]
    fields = compute_fields(graph, *lonlat_of(x, [100, 200, 100, 200]), np.arange(4) + 1)
    cut = compute_fields(
        graph, *lonlat_of(x, [100, 200, 100, 200]), np.arange(4) + 1, cutoff=RADIUS_M
    )
    assert np.isfinite(fields.dense()).all()  # (uncut, every school reaches every node)
    return graph, retiled(cut, 4, 2)


def test_two_far_towns_store_only_their_own_tiles_and_round_trip_mapped(
    tmp_path: Path,
) -> None:
    graph, fields = two_towns()
    tiles = fields.tiles
    town = (graph.node_x - ORIGIN_X > TOWN_GAP_M / 2).astype(int)
    source_town = np.array([0, 0, 1, 1])
    assert tiles.index.shape == (8, 2)
    for b, s in itertools.product(range(8), range(2)):
        block_towns = set(town[tiles.node_position // 4 == b].tolist())
        schools_town = set(source_town[tiles.source_position // 2 == s].tolist())
        assert len(block_towns) == len(schools_town) == 1, "each block lies in one town"
        assert (tiles.index[b, s] >= 0) == (block_towns == schools_town)
    assert len(tiles.tiles) == 8 and tiles.nbytes == tiles.dense_nbytes // 2
    # Homes in the west town: the east town's schools are beyond the radius (no tile read).
    homes = Snapper(graph).snap(*lonlat_of([20, 150, 310], [30, 90, 250]))
    costs = fields.cost_from_points(homes)
    assert np.isfinite(costs[:, :2]).all() and np.isinf(costs[:, 2:]).all()
    assert_same_bytes(costs, dense_costs(fields, homes, None, np.float64))
    # The beyond-radius path then prices them by the straight line, as a round does.
    lon, lat = lonlat_of(homes.x - ORIGIN_X, homes.y - ORIGIN_Y)
    points = SchoolPoints(
        "f",
        np.arange(4) + 1,
        *lonlat_of([50, 250, 20_050, 20_250], [100, 200] * 2),
        fields.source_snap,
    )
    applications = [(i, 0, float(lon[i]), float(lat[i])) for i in range(3)]
    estimated = costs.copy()
    _estimate_beyond(estimated, homes.ok, RADIUS_M, applications, points.ids, points)
    assert_same_bytes(estimated[:, :2], costs[:, :2])
    for i in range(3):
        straight = straight_metres(lon[i], lat[i], points.lon[2:], points.lat[2:])
        assert estimated[i, 2:] == pytest.approx(straight * ESTIMATED_DETOUR)
        assert (estimated[i, 2:] > RADIUS_M).all()
    # Saved and loaded: the tiles are the file's pages, the index read whole, the same costs.
    path = tmp_path / "fields.npz"
    fields.save(path)
    with zipfile.ZipFile(path) as archive:
        stored = archive.getinfo("tiles.npy").file_size
        assert "to_source.npy" not in archive.namelist()
    assert 0 < stored - tiles.nbytes <= 1024, "the kept tiles and a .npy header, nothing more"
    loaded = DistanceFields.load(path)
    assert not loaded.tiles.tiles.flags.writeable and not loaded.tiles.tiles.flags.owndata
    assert loaded.tiles.index.flags.writeable  # (read into memory, not mapped)
    assert_same_bytes(loaded.cost_from_points(homes), costs)
    assert_same_bytes(loaded.dense(), fields.dense())
    for k in (1, 4):
        for ours, theirs in zip(loaded.nearest(homes, k), fields.nearest(homes, k), strict=True):
            assert_same_bytes(ours, theirs)


def _rewritten(path: Path, target: Path, change: dict[str, np.ndarray | None]) -> Path:
    """The .npz at `path` with some members replaced (None: dropped), written to `target`."""
    with np.load(path) as data:
        members = {name: data[name] for name in data.files}
    for name, value in change.items():
        if value is None:
            members.pop(name)
        else:
            members[name] = value
    with target.open("wb") as handle:
        np.savez(handle, **members)
    return target


def test_a_file_of_another_layout_or_damaged_is_refused_and_the_service_recomputes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, fields = two_towns()
    good = tmp_path / "good.npz"
    fields.save(good)
    index = fields.tiles.index
    dense = fields.dense()
    # The dense layout of earlier versions: to_source [n_sources, n_nodes], no layout member.
    old = _rewritten(
        good,
        tmp_path / "old.npz",
        {"layout": None, "tiles": None, "tile_index": None, "to_source": dense},
    )
    with pytest.raises(FieldsFileError, match=r"định dạng.*layout 'dense"):
        DistanceFields.load(old)
    other = _rewritten(good, tmp_path / "other.npz", {"layout": np.array("tiles-0")})
    with pytest.raises(FieldsFileError, match="'tiles-0'"):
        DistanceFields.load(other)
    damaged = {
        "a slot out of range": np.where(index == 0, len(fields.tiles.tiles), index),
        "a slot named twice": np.where(index == 1, 0, index),
        "a tile dropped": np.where(index == 0, -1, index),
        "the wrong shape": index[:-1],
        "a slot below -1": np.where(index == -1, -2, index),
        "slots as fractions": index + 0.5,
    }
    for problem, bad_index in damaged.items():
        bad = _rewritten(good, tmp_path / "bad.npz", {"tile_index": bad_index})
        with pytest.raises(FieldsFileError, match=r"bị hỏng.*damaged"):
            DistanceFields.load(bad)
            pytest.fail(f"read with {problem}")
    positions = fields.tiles.node_position.copy()
    positions[0] = positions[1]
    bad = _rewritten(good, tmp_path / "bad.npz", {"node_position": positions})
    with pytest.raises(FieldsFileError, match="node positions"):
        DistanceFields.load(bad)
    flat = _rewritten(good, tmp_path / "flat.npz", {"tiles": fields.tiles.tiles[:, :, 0]})
    with pytest.raises(FieldsFileError, match="damaged"):
        DistanceFields.load(flat)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(FieldsFileError, match="damaged"):
        DistanceFields.load(truncated)
    # The service's cache: its files are named by the layout, so earlier files are not found,
    # and a file that cannot be read is no cached fields (it computes them again).
    record = NetworkRecord(1, 1, "motorbike", "0" * 64, {}, 10, 20)
    assert f"-{TILES_FORMAT}-" in fields_path(tmp_path, record, ("tieu_hoc", "length"), "s").name
    with caplog.at_level(logging.WARNING, logger="gis_service.routing.service"):
        assert _cached_fields(old) is None
    assert "old.npz" in caplog.text
    assert _cached_fields(tmp_path / "missing.npz") is None
    cached = _cached_fields(good)
    assert cached is not None
    assert_same_bytes(cached.dense(), dense)
