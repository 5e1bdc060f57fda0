"""Road networks in PostGIS (versioned nodes and edges) and their cached graph files."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from psycopg2.extras import Json

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import NetworkNotBuiltError
from gis_service.importers.report import ProgressCallback, print_progress
from gis_service.routing.graph import RoadGraph, build_graph
from gis_service.routing.profiles import ModeProfile


@dataclass(frozen=True)
class RoadWays:
    """The usable input of a network build: one extract's highway ways."""

    extract_id: int
    way_ids: list[int]
    way_tags: list[dict[str, str]]
    way_nodes: list[list[int]]
    way_coords: list[list[tuple[float, float]]]


@dataclass(frozen=True)
class NetworkRecord:
    """A built network's row: what it was built from and with."""

    network_id: int
    extract_id: int
    mode: str
    params_hash: str
    parameters: dict[str, Any]
    node_count: int
    edge_count: int


def latest_extract_id(conn: Connection) -> int:
    """The newest imported OSM extract, or NotFoundError saying to import one."""
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM osm_extracts ORDER BY imported_at DESC, id DESC LIMIT 1")
        row = cur.fetchone()
    if row is None:
        raise NetworkNotBuiltError("no OSM extract is loaded; run `schoolmap import osm PATH`")
    return int(row[0])


def load_road_ways(conn: Connection, extract_id: int) -> RoadWays:
    """Every highway way of an extract with its node ids and coordinates."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT osm_id, tags, node_ids, ST_AsBinary(geom) FROM road_ways "
            "WHERE extract_id = %s ORDER BY osm_id",
            (extract_id,),
        )
        rows = cur.fetchall()
    lines = shapely.from_wkb([bytes(r[3]) for r in rows])
    coords, index = shapely.get_coordinates(lines, return_index=True)
    bounds = np.searchsorted(index, np.arange(len(rows) + 1))
    way_coords = [
        [(float(x), float(y)) for x, y in coords[bounds[i] : bounds[i + 1]]]
        for i in range(len(rows))
    ]
    return RoadWays(
        extract_id=extract_id,
        way_ids=[int(r[0]) for r in rows],
        way_tags=[dict(r[1]) for r in rows],
        way_nodes=[list(r[2]) for r in rows],
        way_coords=way_coords,
    )


def _copy_rows(conn: Connection, table: str, columns: str, rows: io.StringIO) -> None:
    rows.seek(0)
    with conn.cursor() as cur:
        cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", rows)


def _edge_wkb_hex(graph: RoadGraph) -> np.ndarray:
    counts = np.diff(graph.geom_offsets)
    index = np.repeat(np.arange(graph.n_edges), counts)
    lines = shapely.linestrings(np.column_stack([graph.geom_lon, graph.geom_lat]), indices=index)
    return np.asarray(shapely.to_wkb(lines, hex=True, include_srid=False))


def save_network(
    conn: Connection, graph: RoadGraph, extract_id: int, progress: ProgressCallback = print_progress
) -> NetworkRecord:
    """Store a built graph as this extract's network for its mode and parameters (replacing it)."""
    profile = graph.profile
    with savepoint(conn), conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO road_networks (extract_id, mode, parameters, params_hash, node_count,
                                       edge_count)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (extract_id, mode, params_hash) DO UPDATE SET
                node_count = EXCLUDED.node_count, edge_count = EXCLUDED.edge_count,
                built_at = now()
            RETURNING id
            """,
            (
                extract_id,
                profile.mode,
                Json(profile.as_dict()),
                profile.params_hash(),
                graph.n_nodes,
                graph.n_edges,
            ),
        )
        network_id = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("DELETE FROM road_edges WHERE network_id = %s", (network_id,))
        cur.execute("DELETE FROM road_nodes WHERE network_id = %s", (network_id,))
        progress(f"storing {graph.n_nodes:,} nodes and {graph.n_edges:,} edges in PostGIS")
        # CSV only as COPY's input to PostgreSQL, never opened by people: no cell neutralising.
        nodes = io.StringIO()
        writer = csv.writer(nodes)
        for osm_id, lon, lat in zip(
            graph.node_osm_ids.tolist(),
            graph.node_lon.tolist(),
            graph.node_lat.tolist(),
            strict=True,
        ):
            writer.writerow([network_id, osm_id, f"SRID=4326;POINT({lon:.7f} {lat:.7f})"])
        _copy_rows(conn, "road_nodes", "network_id, node_id, geom", nodes)
        edges = io.StringIO()
        writer = csv.writer(edges)
        hexes = _edge_wkb_hex(graph)
        for e, (a, b, way, highway, length, seconds) in enumerate(
            zip(
                graph.node_osm_ids[graph.edge_from].tolist(),
                graph.node_osm_ids[graph.edge_to].tolist(),
                graph.edge_way.tolist(),
                graph.edge_highway.tolist(),
                graph.edge_length_m.tolist(),
                graph.edge_time_s.tolist(),
                strict=True,
            )
        ):
            writer.writerow(
                [network_id, e, a, b, way, highway, f"{length:.3f}", f"{seconds:.3f}", hexes[e]]
            )
        cur.execute(
            "CREATE TEMP TABLE road_edges_load (LIKE road_edges INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        cur.execute("ALTER TABLE road_edges_load ALTER COLUMN geom TYPE text")
        _copy_rows(
            conn,
            "road_edges_load",
            "network_id, edge_id, source_node, target_node, osm_way_id, highway, length_m, "
            "time_s, geom",
            edges,
        )
        cur.execute(
            """
            INSERT INTO road_edges (network_id, edge_id, source_node, target_node, osm_way_id,
                                    highway, length_m, time_s, geom)
            SELECT network_id, edge_id, source_node, target_node, osm_way_id, highway, length_m,
                   time_s, ST_SetSRID(ST_GeomFromWKB(decode(geom, 'hex')), 4326)
            FROM road_edges_load
            """
        )
        cur.execute("DROP TABLE road_edges_load")
    return NetworkRecord(
        network_id,
        extract_id,
        profile.mode,
        profile.params_hash(),
        profile.as_dict(),
        graph.n_nodes,
        graph.n_edges,
    )


def latest_network(conn: Connection, mode: str) -> NetworkRecord:
    """The newest network of a mode, or NetworkNotBuiltError naming the command to build it."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT id, extract_id, mode, params_hash, parameters, node_count, edge_count
            FROM road_networks WHERE mode = %s ORDER BY built_at DESC, id DESC LIMIT 1
            """,
            (mode,),
        )
        row = cur.fetchone()
    if row is None:
        raise NetworkNotBuiltError(
            f"no {mode} network is built; run `schoolmap network build --mode {mode}`"
        )
    return NetworkRecord(
        int(row[0]), int(row[1]), row[2], row[3], dict(row[4]), int(row[5]), int(row[6])
    )


def cache_path(home: Path, record: NetworkRecord) -> Path:
    """Where the graph file of a network lives; its name carries the version."""
    return home / "networks" / f"{record.mode}-{record.network_id}-{record.params_hash[:12]}.npz"


def build_and_store(
    conn: Connection,
    profile: ModeProfile,
    home: Path,
    extract_id: int | None = None,
    progress: ProgressCallback = print_progress,
) -> tuple[NetworkRecord, RoadGraph, dict[str, float]]:
    """Build a mode's network from an extract's ways, store it, cache its graph file."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    extract = extract_id if extract_id is not None else latest_extract_id(conn)
    ways = load_road_ways(conn, extract)
    timings["read ways from PostGIS"] = time.perf_counter() - started
    if not ways.way_ids:
        raise NetworkNotBuiltError(f"extract {extract} has no road ways")
    started = time.perf_counter()
    graph = build_graph(
        ways.way_ids, ways.way_tags, ways.way_nodes, ways.way_coords, profile, progress
    )
    timings["build graph"] = time.perf_counter() - started
    started = time.perf_counter()
    record = save_network(conn, graph, extract, progress)
    timings["store in PostGIS"] = time.perf_counter() - started
    started = time.perf_counter()
    path = cache_path(home, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph.save(path)
    timings["write graph file"] = time.perf_counter() - started
    return record, graph, timings


def load_graph(conn: Connection, mode: str, home: Path) -> tuple[NetworkRecord, RoadGraph]:
    """The newest network of a mode from its graph file (rebuilt from its ways if missing)."""
    record = latest_network(conn, mode)
    path = cache_path(home, record)
    if path.is_file():
        return record, RoadGraph.load(path)
    ways = load_road_ways(conn, record.extract_id)
    from gis_service.routing.profiles import default_profile

    speeds = record.parameters.get("speeds_kmh")
    profile = default_profile(mode, speeds if isinstance(speeds, dict) else None)
    graph = build_graph(ways.way_ids, ways.way_tags, ways.way_nodes, ways.way_coords, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph.save(path)
    return record, graph
