"""Distance fields kept in tiles: only the blocks of nodes x sources that hold a finite cost."""

from __future__ import annotations

import mmap
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gis_service.errors import FieldsFileError

# A field table is node-major, [n_nodes, n_sources]. Nodes are put in a spatial order (the
# Morton key of their UTM position) and sources in the order of the node at their road, both
# cut in blocks; a tile is one node block x one source block, stored only if any cost in it is
# finite, so the nodes a school's radius never reaches (another town, the far side of a
# province) cost nothing on disk. Sizes measured with benchmarks/field_store_hcmc.py (HCMC 2018
# in three copies, 167,342 nodes, 2,748 schools; tiles' bytes / dense bytes at 100 km and 30 km):
#   nodes x sources   1024x16  1024x32  2048x32  2048x64  4096x32  8192x32  8192x64
#   100 km              0.66     0.68     0.70     0.72     0.73     0.77     0.79
#   30 km               0.34     0.35     0.35     0.36     0.36     0.39     0.40
# The round's read of 20,000 homes took 0.55-0.7 s and one home's about 0.1 ms at every size
# in the runs no other work on the machine slowed (the differences were within its noise).
# Smaller node blocks follow the edge of a radius more closely, but the index (read whole by
# every worker, one entry per node block x source block) doubles with each halving: 2,048 x 32
# keeps within 1-4 % of the smallest sizes measured with half to a quarter of their index (a
# national table of 2 million nodes x 25,000 schools: 764,000 entries, 6 MB), and a tile row
# is 32 float32, 128 bytes (two cache lines) to copy.
NODE_BLOCK = 2048
SOURCE_BLOCK = 32
TILES_FORMAT = "tiles1"
"""The name of this layout, written in every file and in the name of every cached fields
file: a file without it, or with another, is never read as tiles. (The tile size is read from
the file's tiles.)"""

_MORTON_BITS = 16


def spatial_positions(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each point's position (int64) when points are sorted by the Morton key of their cell in
    a grid of 2^16 square cells across the longer side of their bounding box: points close in
    the order are close on the ground."""
    n = len(x)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    axes = (np.asarray(x, np.float64), np.asarray(y, np.float64))
    # Square cells (one scale for both axes), so a block is as compact one way as the other.
    span = max(float(values.max() - values.min()) for values in axes)
    scale = (2**_MORTON_BITS - 1) / span if span > 0 else 0.0
    cells = []
    for values in axes:
        cell = np.clip(np.floor((values - values.min()) * scale), 0, 2**_MORTON_BITS - 1)
        cells.append(_spread_bits(cell.astype(np.uint64)))
    key = cells[0] | (cells[1] << np.uint64(1))
    order = np.argsort(key, kind="stable")
    return positions_of(order)


def _spread_bits(value: np.ndarray) -> np.ndarray:
    """The 16 low bits of each value moved to the even bit positions."""
    value = value & np.uint64(0xFFFF)
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        value = (value | (value << np.uint64(shift))) & np.uint64(mask)
    return value


def positions_of(order: np.ndarray) -> np.ndarray:
    """Each item's position in `order` (a permutation of 0 .. n-1), int64."""
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = np.arange(len(order))
    return positions


@dataclass(frozen=True)
class TileColumns:
    """Which source blocks a set of sources lies in, and where each source's cost is in the
    row those blocks' tile rows make side by side (made once, used for every block of homes)."""

    blocks: np.ndarray  # source blocks to read, ascending
    take: np.ndarray  # per asked source, its column among len(blocks) * SOURCE_BLOCK
    identity: bool  # take is 0, 1, 2, ... (no reordering needed, only the padding cut off)


@dataclass
class FieldTiles:
    """A node-major float32 table [n_nodes, n_sources] of costs (inf = not reached), in tiles.

    `node_position[v]` / `source_position[s]`: the row / column of node v / source s in the
    spatial order; position p is in block p // block size, at p % block size within it.
    `index[node block, source block]` is the tile's slot in `tiles` [n_tiles, node block size,
    source block size], or -1 when every cost of that tile is inf (then it is not stored).
    `tiles` may be a read-only memory map; everything here only reads it.
    """

    node_position: np.ndarray
    source_position: np.ndarray
    index: np.ndarray
    tiles: np.ndarray

    def __post_init__(self) -> None:
        # Integers read as int64 (small arrays), so slot x block size never overflows; any
        # other type is left for `check` to refuse.
        self.node_position = _as_int64(self.node_position)
        self.source_position = _as_int64(self.source_position)
        self.index = _as_int64(self.index)
        self._node_block = int(self.tiles.shape[1])
        self._source_block = int(self.tiles.shape[2])
        # The tile rows as one 2-D table: a node's row of a tile is row slot * block + offset.
        self._rows = self.tiles.reshape(-1, self._source_block)
        self._all_columns = self._plan(self.source_position)

    @property
    def n_nodes(self) -> int:
        return len(self.node_position)

    @property
    def n_sources(self) -> int:
        return len(self.source_position)

    @property
    def nbytes(self) -> int:
        """Bytes of the stored tiles (what the file maps)."""
        return int(self.tiles.nbytes)

    @property
    def dense_nbytes(self) -> int:
        """Bytes the same table takes dense (float32 for every node and source)."""
        return 4 * self.n_nodes * self.n_sources

    @classmethod
    def from_node_major(
        cls,
        by_node: np.ndarray,
        node_position: np.ndarray,
        source_position: np.ndarray,
        node_block: int = NODE_BLOCK,
        source_block: int = SOURCE_BLOCK,
    ) -> FieldTiles:
        """The tiles of a dense node-major table (float32 [n_nodes, n_sources])."""
        builder = TileBuilder(node_position, source_position, node_block, source_block)
        at_position = np.argsort(np.asarray(source_position, np.int64))
        for block, start in enumerate(range(0, len(at_position), source_block)):
            builder.add(block, by_node[:, at_position[start : start + source_block]])
        return builder.tiles()

    def columns(self, sources: np.ndarray | None = None) -> TileColumns:
        """The plan to read the sources `sources` (all, in order, when None)."""
        if sources is None:
            return self._all_columns
        return self._plan(self.source_position[sources])

    def _plan(self, position: np.ndarray) -> TileColumns:
        block = position // self._source_block
        blocks = np.unique(block)
        take = np.searchsorted(blocks, block) * self._source_block + position % self._source_block
        identity = bool(np.array_equal(take, np.arange(len(take))))
        return TileColumns(blocks, take, identity)

    def gather(self, nodes: np.ndarray, columns: TileColumns) -> np.ndarray:
        """Costs float32 [len(nodes), len(columns.take)] from the nodes to the planned sources.

        Only the tiles of the nodes' blocks are read, one row of each: a few nodes read a few
        pages of the (mapped) tiles.
        """
        position = self.node_position[nodes]
        slots = self.index[(position // self._node_block)[:, None], columns.blocks]
        rows = (slots * self._node_block + (position % self._node_block)[:, None]).ravel()
        if len(rows) == 0 or slots.min() >= 0:
            side_by_side = self._rows.take(rows, axis=0)
        else:
            present = rows >= 0
            side_by_side = np.full((len(rows), self._source_block), np.inf, dtype=np.float32)
            side_by_side[present] = self._rows.take(rows[present], axis=0)
        side_by_side = side_by_side.reshape(len(nodes), len(columns.blocks) * self._source_block)
        if columns.identity:
            return side_by_side[:, : len(columns.take)]
        return side_by_side.take(columns.take, axis=1)

    def source_row(self, source: int) -> np.ndarray:
        """Costs float32 [n_nodes] from every node to one source, in the graph's node order."""
        block, column = divmod(int(self.source_position[source]), self._source_block)
        slots = self.index[:, block]
        ordered = np.full((len(slots), self._node_block), np.inf, dtype=np.float32)
        present = np.flatnonzero(slots >= 0)
        ordered[present] = self.tiles[slots[present], :, column]
        return np.asarray(ordered.reshape(-1)[self.node_position])

    def dense(self) -> np.ndarray:
        """Every cost as one dense float32 [n_sources, n_nodes] table (a transposed view of a
        node-major one): materialises the whole table in memory, for tests and tools, never
        for serving."""
        node_block, source_block = self._node_block, self._source_block
        n_node_blocks, n_source_blocks = self.index.shape
        shape = (n_node_blocks * node_block, n_source_blocks * source_block)
        ordered = np.full(shape, np.inf, dtype=np.float32)
        blocks = ordered.reshape(n_node_blocks, node_block, n_source_blocks, source_block)
        for b, s in np.argwhere(self.index >= 0).tolist():
            blocks[b, :, s, :] = self.tiles[self.index[b, s]]
        by_node = ordered[self.node_position]
        del ordered, blocks
        return np.asarray(by_node[:, self.source_position].T)

    def check(self, what: str) -> None:
        """Raise FieldsFileError unless the index and positions fit the tiles exactly."""
        problem = _inconsistency(self)
        if problem is not None:
            raise FieldsFileError(
                f"Tệp trường khoảng cách {what} bị hỏng ({problem}); hãy xoá để tính lại / the "
                f"distance-fields file {what} is damaged ({problem}); delete it to recompute"
            )


class TileBuilder:
    """Tiles made one block of sources at a time, as a field computation returns them: the
    dense table is never held whole."""

    def __init__(
        self,
        node_position: np.ndarray,
        source_position: np.ndarray,
        node_block: int = NODE_BLOCK,
        source_block: int = SOURCE_BLOCK,
    ) -> None:
        self._node_position = np.asarray(node_position, np.int64)
        self._source_position = np.asarray(source_position, np.int64)
        self._node_block, self._source_block = node_block, source_block
        self._node_at = np.argsort(self._node_position)
        shape = (-(-len(self._node_at) // node_block), -(-len(source_position) // source_block))
        self._index = np.full(shape, -1, dtype=np.int64)
        self._kept: list[np.ndarray] = []
        self._count = 0

    def add(self, source_block: int, costs: np.ndarray) -> None:
        """The costs float32 [n_nodes, k] (nodes in the graph's order) of the k <= source block
        size sources at positions source_block x size onwards (a last block may be short: the
        rest of it is inf)."""
        n_node_blocks = self._index.shape[0]
        ordered = np.full(
            (n_node_blocks * self._node_block, self._source_block), np.inf, dtype=np.float32
        )
        ordered[: len(self._node_at), : costs.shape[1]] = costs[self._node_at]
        blocks = ordered.reshape(n_node_blocks, self._node_block, self._source_block)
        reached = np.flatnonzero(np.isfinite(blocks).any(axis=(1, 2)))
        self._index[reached, source_block] = self._count + np.arange(len(reached))
        kept = _own_mapping((len(reached), self._node_block, self._source_block))
        np.take(blocks, reached, axis=0, out=kept)
        self._kept.append(kept)
        self._count += len(reached)

    def tiles(self) -> FieldTiles:
        """The tiles added, one source block after another."""
        tiles = np.empty((self._count, self._node_block, self._source_block), dtype=np.float32)
        start = 0
        # Each block's tiles are given back to the system once copied (each has a mapping of
        # its own): the memory held stays about the tiles' size once, not twice (the new
        # array's pages are only taken as they are written).
        while self._kept:
            kept = self._kept.pop(0)
            tiles[start : start + len(kept)] = kept
            start += len(kept)
        return FieldTiles(self._node_position, self._source_position, self._index, tiles)


def _own_mapping(shape: tuple[int, int, int]) -> np.ndarray:
    """An uninitialised float32 array in anonymous memory of its own, unmapped (given back to
    the system, not kept by the allocator) as soon as it is let go."""
    size = 4 * shape[0] * shape[1] * shape[2]
    if size == 0:
        return np.empty(shape, dtype=np.float32)
    return np.ndarray(shape, dtype=np.float32, buffer=mmap.mmap(-1, size))


def _as_int64(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        return values
    return values.astype(np.int64, copy=False)


def _is_permutation(values: np.ndarray) -> bool:
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        return False
    if len(values) == 0:
        return True
    if int(values.min()) < 0 or int(values.max()) >= len(values):
        return False
    return bool((np.bincount(values, minlength=len(values)) == 1).all())


def _inconsistency(store: FieldTiles) -> str | None:
    """What does not fit in a store read from a file, or None."""
    tiles, index = store.tiles, store.index
    if tiles.ndim != 3 or tiles.dtype != np.float32 or min(tiles.shape[1:], default=0) < 1:
        return f"tiles of shape {tiles.shape} and type {tiles.dtype}"
    if not _is_permutation(store.node_position):
        return "node positions are not a permutation"
    if not _is_permutation(store.source_position):
        return "source positions are not a permutation"
    expected = (-(-store.n_nodes // tiles.shape[1]), -(-store.n_sources // tiles.shape[2]))
    if index.ndim != 2 or index.shape != expected or not np.issubdtype(index.dtype, np.integer):
        return f"an index of shape {index.shape}, not {expected}"
    slots = index[index >= 0]
    if (index < -1).any() or len(slots) != len(tiles) or not _is_permutation(slots):
        return f"an index that does not name each of the {len(tiles)} tiles once"
    return None


def mapped_member(path: Path, name: str) -> np.ndarray:
    """A read-only memory map of array `name` of an uncompressed .npz (as np.savez writes),
    read ahead by the kernel.

    The member's bytes are an .npy file stored whole in the zip: its data starts after the zip
    entry's local header and the .npy header, and is mapped from there.
    """
    with zipfile.ZipFile(path) as archive:
        entry = archive.getinfo(f"{name}.npy")
    if entry.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path.name}: {name} is compressed, so it cannot be mapped")
    with path.open("rb") as handle:
        handle.seek(entry.header_offset)
        local = handle.read(_ZIP_LOCAL_HEADER.size)
        magic, *_, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack(local)
        if magic != _ZIP_LOCAL_MAGIC:
            raise ValueError(f"{path.name}: no zip entry header for {name}")
        handle.seek(entry.header_offset + _ZIP_LOCAL_HEADER.size + name_length + extra_length)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"{path.name}: {name} is in .npy format {version}, not 1.0 or 2.0")
        offset = handle.tell()
    if dtype.hasobject:
        raise ValueError(f"{path.name}: {name} holds objects")
    with path.open("rb") as handle:
        pages = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    # Read ahead now, in the background: the first homes asked for after a start would
    # otherwise each wait on the disk for their rows.
    if hasattr(mmap, "MADV_WILLNEED"):
        pages.madvise(mmap.MADV_WILLNEED)
    if fortran_order:
        return np.ndarray(shape, dtype=dtype, buffer=pages, offset=offset, order="F")
    return np.ndarray(shape, dtype=dtype, buffer=pages, offset=offset, order="C")


# A zip entry's local header: signature, versions, flags, method, time, date, crc, sizes,
# then the lengths of the name and of the extra field that follow it.
_ZIP_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_ZIP_LOCAL_MAGIC = b"PK\x03\x04"
