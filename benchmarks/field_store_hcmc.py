"""Distance fields dense and in tiles on the real Ho Chi Minh City 2018 roads: bytes stored and
the time of the round's and a parent's reads, for several tile sizes.

Run: .venv/bin/python benchmarks/field_store_hcmc.py [--copies 3] [--homes 20000]
It builds the motorbike graph of the 2018 OSM extract `--copies` times side by side (each copy
0.75° east of the one before, joined to the next by one road per 0.05° band of latitude, from
the copy's easternmost node in the band to the next copy's westernmost), puts the extract's
916 schools (polygons by their first point) in every copy and makes their length fields cut
at each radius asked (`--radius` metres, repeatable; 100 km and 30 km by default). It prints
the share of node-school pairs within each radius, then for each tile size: the tiles kept of
all, their bytes against the dense table's, the time of `cost_from_points` for `--homes` homes
to every school (the round's read, in blocks of NEAREST_CHUNK) and for one home (a parent's),
and a digest of the costs, the same for every tile size. Needs no database.
Map data © OpenStreetMap contributors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_service.importers.osm import read_extract  # noqa: E402
from gis_service.importers.report import no_progress  # noqa: E402
from gis_service.routing.distances import DistanceFields, compute_fields  # noqa: E402
from gis_service.routing.field_store import FieldTiles  # noqa: E402
from gis_service.routing.graph import RoadGraph, build_graph  # noqa: E402
from gis_service.routing.profiles import default_profile  # noqa: E402
from gis_service.routing.snap import Snapped, Snapper  # noqa: E402

SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
SHIFT_DEG = 0.75
ID_STEP = 10**11
BAND_DEG = 0.05
SIZES = [(n, s) for n in (1024, 2048, 4096, 8192) for s in (16, 32, 64)]


def tiled_graph(data: Path, copies: int) -> RoadGraph:
    """The extract's motorbike graph `copies` times side by side, joined band by band."""
    extract = read_extract(data / "hcmc_osm_2018" / "hcm_2018.osm.pbf", no_progress)
    east: dict[int, tuple[int, float, float]] = {}
    west: dict[int, tuple[int, float, float]] = {}
    for way_nodes, way_coords in zip(extract.way_nodes, extract.way_coords, strict=True):
        for node, (lon, lat) in zip(way_nodes, way_coords, strict=True):
            band = int(lat // BAND_DEG)
            if band not in east or lon > east[band][1]:
                east[band] = (node, lon, lat)
            if band not in west or lon < west[band][1]:
                west[band] = (node, lon, lat)
    ids: list[int] = []
    tags: list[dict[str, str]] = []
    nodes: list[list[int]] = []
    coords: list[list[tuple[float, float]]] = []
    for k in range(copies):
        ids += [i + k * ID_STEP for i in extract.way_ids]
        tags += extract.way_tags
        nodes += [[n + k * ID_STEP for n in way] for way in extract.way_nodes]
        coords += [[(x + SHIFT_DEG * k, y) for x, y in way] for way in extract.way_coords]
    bridge = 9 * ID_STEP
    for k in range(copies - 1):
        for band, (node, lon, lat) in sorted(east.items()):
            other, other_lon, other_lat = west[band]
            bridge += 1
            ids.append(bridge)
            tags.append({"highway": "primary"})
            nodes.append([node + k * ID_STEP, other + (k + 1) * ID_STEP])
            coords.append(
                [(lon + SHIFT_DEG * k, lat), (other_lon + SHIFT_DEG * (k + 1), other_lat)]
            )
    return build_graph(ids, tags, nodes, coords, default_profile("motorbike"))


def school_points(data: Path, copies: int) -> tuple[np.ndarray, np.ndarray]:
    features = json.loads(
        (data / "hcmc_osm_2018" / "hcmc_schools_osm_2018.geojson").read_text(encoding="utf-8")
    )["features"]
    points = []
    for feature in features:
        coords = feature["geometry"]["coordinates"]
        while isinstance(coords[0], list):
            coords = coords[0]
        points.append((float(coords[0]), float(coords[1])))
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    return (
        np.concatenate([lon + SHIFT_DEG * k for k in range(copies)]),
        np.tile(lat, copies),
    )


def seconds(run: object, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--homes", type=int, default=20_000)
    parser.add_argument("--radius", type=float, action="append", default=None)
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()
    graph = tiled_graph(args.data, args.copies)
    lon, lat = school_points(args.data, args.copies)
    rng = np.random.default_rng(1)
    picked = rng.integers(0, graph.n_nodes, args.homes)
    homes = Snapper(graph).snap(
        graph.node_lon[picked] + rng.normal(0, 3e-4, args.homes),
        graph.node_lat[picked] + rng.normal(0, 3e-4, args.homes),
        1000.0,
    )
    one = [
        Snapped(*(np.asarray(getattr(homes, f)[i : i + 1]) for f in Snapped.__dataclass_fields__))
        for i in range(200)
    ]
    print(f"{graph.n_nodes:,} nodes, {len(lon):,} schools, {args.homes:,} homes")
    print(
        f"{'radius km':>10}{'node blk':>9}{'src blk':>8}{'tiles':>8}{'of':>8}{'MB':>8}"
        f"{'dense MB':>9}{'ratio':>7}{'round s':>9}{'home us':>9}  costs"
    )
    for radius in args.radius or [100_000.0, 30_000.0]:
        fields = compute_fields(graph, lon, lat, np.arange(len(lon)), "length", radius)
        by_node = np.ascontiguousarray(fields.dense().T)
        within = float(np.isfinite(by_node).mean())
        print(f"{radius / 1000:>10.0f} km: {within:.1%} of node-school pairs within the radius")
        positions = (fields.tiles.node_position, fields.tiles.source_position)
        for node_block, source_block in SIZES:
            tiles = FieldTiles.from_node_major(by_node, *positions, node_block, source_block)
            sized = DistanceFields(
                fields.weight, radius, fields.source_keys, tiles, fields.source_snap, fields.edges
            )
            costs = sized.cost_from_points(homes)
            digest = hashlib.sha256(costs.tobytes()).hexdigest()[:12]
            del costs
            round_s = seconds(lambda f=sized: f.cost_from_points(homes))
            home_s = seconds(lambda f=sized: [f.cost_from_points(h) for h in one]) / len(one)
            print(
                f"{radius / 1000:>10.0f}{node_block:>9}{source_block:>8}"
                f"{len(tiles.tiles):>8,}{tiles.index.size:>8,}{tiles.nbytes / 1e6:>8.0f}"
                f"{tiles.dense_nbytes / 1e6:>9.0f}{tiles.nbytes / tiles.dense_nbytes:>7.2f}"
                f"{round_s:>9.2f}{home_s * 1e6:>9.0f}  {digest}"
            )
        del by_node, fields


if __name__ == "__main__":
    main()
