"""Routing benchmark on the whole Ho Chi Minh City 2018 network: prints a table of sizes and times.

Run: .venv/bin/python benchmarks/routing_hcmc.py [--homes 125000] [--sample 20] [--requests 300]
It uses its own database (schoolmap_bench on the local server, recreated) and the reference
data beside the project (../shared/data, or SCHOOLMAP_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from psycopg2 import sql
from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_service.config import DatabaseSettings  # noqa: E402
from gis_service.db.connection import connect  # noqa: E402
from gis_service.db.local_server import ensure_database, resolve_database_url  # noqa: E402
from gis_service.db.migrate import upgrade  # noqa: E402
from gis_service.importers.osm import import_osm, read_extract  # noqa: E402
from gis_service.importers.report import no_progress  # noqa: E402
from gis_service.importers.wards import WardFields, import_wards  # noqa: E402
from gis_service.routing.distances import compute_fields  # noqa: E402
from gis_service.routing.graph import build_graph  # noqa: E402
from gis_service.routing.profiles import default_profile  # noqa: E402
from gis_service.routing.reference import offset_costs, reference_graph  # noqa: E402
from gis_service.routing.snap import Snapper  # noqa: E402
from gis_service.routing.store import save_network  # noqa: E402

SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
PBF = SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"
WARDS = SHARED / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp"
T = TypeVar("T")
rows: list[tuple[str, str, str]] = []


def timed(label: str, work: Callable[[], T], size: str = "") -> T:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    rows.append((label, size, f"{seconds:8.3f} s"))
    print(f"  {label}: {seconds:.3f} s {size}", file=sys.stderr, flush=True)
    return result


def note(label: str, size: str, value: str) -> None:
    rows.append((label, size, value))
    print(f"  {label}: {value} {size}", file=sys.stderr, flush=True)


def homes_by_population(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random home points inside the 2019 wards, as many per ward as its share of population."""
    wards = gpd.read_file(WARDS).to_crs(32648)
    rng = np.random.default_rng(seed)
    share = wards["Pop_2019"].to_numpy(float)
    per_ward = rng.multinomial(count, share / share.sum())
    xs, ys = [], []
    for geom, n in zip(wards.geometry, per_ward, strict=True):
        minx, miny, maxx, maxy = geom.bounds
        got: list[np.ndarray] = []
        need = int(n)
        while need > 0:
            cx = rng.uniform(minx, maxx, need * 3)
            cy = rng.uniform(miny, maxy, need * 3)
            inside = shapely.contains_xy(geom, cx, cy)
            picked = np.column_stack([cx[inside], cy[inside]])[:need]
            got.append(picked)
            need -= len(picked)
        if got:
            pts = np.vstack(got)
            xs.append(pts[:, 0])
            ys.append(pts[:, 1])
    points = gpd.GeoSeries(
        gpd.points_from_xy(np.concatenate(xs), np.concatenate(ys)), crs=32648
    ).to_crs(4326)
    return points.x.to_numpy(), points.y.to_numpy()


def bench_database() -> str:
    base = resolve_database_url(DatabaseSettings(url=None, name="schoolmap_bench"))
    admin = connect(make_dsn(base, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier("schoolmap_bench")
            )
        )
    admin.close()
    ensure_database(base)
    return base


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_latencies(
    url: str, lons: np.ndarray, lats: np.ndarray, requests: int, home: Path
) -> np.ndarray:
    """p50/p95 of GET /schools/near against `schoolmap serve` (loopback, bounded count)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SCHOOLMAP_HOME": str(home)}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "schoolmap"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the service did not start") from None
                time.sleep(0.3)
        latencies = []
        for i in range(requests + 10):
            query = f"/schools/near?lat={lats[i]:.6f}&lon={lons[i]:.6f}&level=tieu_hoc&limit=10"
            started = time.perf_counter()
            with urllib.request.urlopen(base + query, timeout=30) as response:
                body = json.loads(response.read())
            elapsed = time.perf_counter() - started
            assert body["type"] == "FeatureCollection"
            if i >= 10:  # the first requests warm the caches
                latencies.append(elapsed * 1000)
        return np.array(latencies)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=125_000)
    parser.add_argument("--sample", type=int, default=20, help="schools compared with networkx")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2019)
    args = parser.parse_args(argv)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print("reading and building (motorbike) ...", file=sys.stderr)
    extract = timed(
        "read PBF (osmium)",
        lambda: read_extract(PBF, no_progress),
        f"{PBF.stat().st_size / 1e6:.1f} MB",
    )
    profile = default_profile("motorbike")
    graph = timed(
        "build motorbike graph",
        lambda: build_graph(
            extract.way_ids, extract.way_tags, extract.way_nodes, extract.way_coords, profile
        ),
    )
    note(
        "motorbike graph",
        f"{graph.n_nodes:,} nodes, {graph.n_edges:,} edges",
        f"{graph.dropped_nodes:,} dropped",
    )
    for mode in ("walk", "car"):
        other = build_graph(
            extract.way_ids,
            extract.way_tags,
            extract.way_nodes,
            extract.way_coords,
            default_profile(mode),
        )
        note(f"{mode} graph", f"{other.n_nodes:,} nodes, {other.n_edges:,} edges", "")

    url = bench_database()
    conn = connect(url)
    upgrade(conn)
    timed(
        "import wards (PostGIS)",
        lambda: import_wards(
            conn,
            WARDS,
            WardFields(
                code="Com_ID",
                name="Com_Name",
                district="Dist_Name",
                district_code="Dist_ID",
                population=["Pop_2019"],
                province_name="Thành phố Hồ Chí Minh",
                province_code="79",
            ),
            no_progress,
        ),
    )
    report = timed(
        "import OSM roads and schools (PostGIS)", lambda: import_osm(conn, PBF, no_progress)
    )
    extract_id = report.counts["extract id"]
    record = timed(
        "store motorbike network in PostGIS",
        lambda: save_network(conn, graph, extract_id, no_progress),
    )
    conn.commit()
    home_dir = Path(tempfile.mkdtemp(prefix="schoolmap-bench-"))
    from gis_service.routing.store import cache_path

    cached = cache_path(home_dir, record)
    cached.parent.mkdir(parents=True)
    timed("write graph file", lambda: graph.save(cached), "")
    note("graph file size", "", f"{cached.stat().st_size / 1e6:.1f} MB")
    from gis_service.routing.graph import RoadGraph

    timed("load graph file", lambda: RoadGraph.load(cached))

    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM schools "
            "WHERE levels && ARRAY['tieu_hoc'] ORDER BY id"
        )
        primary = np.array(cur.fetchall())
        cur.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM schools "
            "WHERE levels && ARRAY['tieu_hoc', 'thcs'] ORDER BY id"
        )
        entry = np.array(cur.fetchall())
    note("primary schools (tieu_hoc)", f"{len(primary)}", "")
    note("schools with grade 1 or 6 (tieu_hoc or thcs)", f"{len(entry)}", "")

    lons, lats = timed(
        "place homes by 2019 ward population",
        lambda: homes_by_population(args.homes, args.seed),
        f"{args.homes:,}",
    )
    snapper = timed("spatial index of edges", lambda: Snapper(graph))
    homes = timed("snap homes", lambda: snapper.snap(lons, lats, 1000.0), f"{len(lons):,}")
    note("homes farther than 1 km from a road", "", f"{int((~homes.ok).sum()):,}")

    sources = entry
    fields = timed(
        "distance fields, no cutoff",
        lambda: compute_fields(
            graph, sources[:, 1], sources[:, 2], sources[:, 0].astype(np.int64), "length", None
        ),
        f"{len(sources)} schools",
    )
    timed(
        "distance fields, 7 km cutoff",
        lambda: compute_fields(
            graph, sources[:, 1], sources[:, 2], sources[:, 0].astype(np.int64), "length", 7000.0
        ),
        f"{len(sources)} schools",
    )
    nearest_idx, nearest_cost = timed(
        "nearest 20 schools for every home",
        lambda: fields.nearest(homes, 20),
        f"{len(lons):,} x 20",
    )
    seconds_of = {
        label: float(value.split()[0]) for label, _, value in rows if value.endswith(" s")
    }
    note(
        "network build from the PBF (read + build)",
        "target < 8 s",
        f"{seconds_of['read PBF (osmium)'] + seconds_of['build motorbike graph']:8.3f} s",
    )
    fields_and_lookups = (
        seconds_of["distance fields, no cutoff"] + seconds_of["nearest 20 schools for every home"]
    )
    note(
        "all fields + nearest 20 for every home",
        "target < 5 s",
        f"{fields_and_lookups:8.3f} s",
    )

    # networkx on the same graph: the fields of a sample of schools, to every node, with each
    # school inserted as a real node on its road.
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(sources), size=min(args.sample, len(sources)), replace=False))
    snap = fields.source_snap
    sample = snap.take(pick)
    reverse = timed(
        "networkx graph with the sampled schools inserted",
        lambda: reference_graph(graph, "length", sample).reverse(copy=False),
    )
    offsets = offset_costs(graph, sample, "length")
    worst = 0.0
    compared = 0
    started = time.perf_counter()
    found_all = [nx.single_source_dijkstra_path_length(reverse, ("p", s)) for s in range(len(pick))]
    nx_seconds = time.perf_counter() - started
    for s, found in enumerate(found_all):
        ours = fields.source_row(pick[s])
        reference = np.full(graph.n_nodes, np.inf)
        nodes = [n for n in found if isinstance(n, int)]
        reference[nodes] = np.array([found[n] for n in nodes]) + offsets[s]
        both = np.isfinite(reference) & np.isfinite(ours)
        assert (np.isfinite(reference) == np.isfinite(ours)).all()
        worst = max(worst, float(np.abs(ours[both] - reference[both]).max(initial=0.0)))
        compared += int(both.sum())
    note(f"networkx: {len(pick)} school fields (Dijkstra only)", "", f"{nx_seconds:8.3f} s")
    fields_seconds = next(
        float(r[2].split()[0]) for r in rows if r[0] == "distance fields, no cutoff"
    )
    per_school_ours = fields_seconds / len(sources)
    note(
        "networkx / ours, per school field",
        "",
        f"{(nx_seconds / len(pick)) / per_school_ours:8.1f} x",
    )
    note(
        "networkx, all fields (extrapolated)",
        f"{len(sources)} schools",
        f"{nx_seconds / len(pick) * len(sources):8.1f} s",
    )
    note("largest difference vs networkx", f"{compared:,} node-school pairs", f"{worst:.4f} m")

    args_pg = (record.network_id, pick, snap, graph, fields)
    pg_rows = pgrouting_compare(conn, *args_pg)
    for label, size, value in pg_rows:
        note(label, size, value)

    latencies = service_latencies(url, lons[homes.ok], lats[homes.ok], args.requests, home_dir)
    note(
        "/schools/near p50", f"{len(latencies)} requests", f"{np.percentile(latencies, 50):.1f} ms"
    )
    note(
        "/schools/near p95", f"{len(latencies)} requests", f"{np.percentile(latencies, 95):.1f} ms"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    note("peak memory (RSS)", "", f"{peak / 1024:.0f} MB (was {peak_before / 1024:.0f} MB)")
    _ = nearest_idx, nearest_cost

    width = max(len(r[0]) for r in rows)
    size_width = max(len(r[1]) for r in rows)
    print(f"\n{'step':<{width}}  {'size':<{size_width}}  result")
    print(f"{'-' * width}  {'-' * size_width}  ------")
    for label, size, value in rows:
        print(f"{label:<{width}}  {size:<{size_width}}  {value.strip()}")


def pgrouting_compare(
    conn: Any, network_id: int, pick: np.ndarray, snap: Any, graph: Any, fields: Any
) -> list[tuple[str, str, str]]:
    """pgr_dijkstraCost from sampled nodes to the sampled schools' edge ends, vs our fields."""
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
        conn.commit()
        rng = np.random.default_rng(7)
        starts = rng.choice(graph.n_nodes, size=50, replace=False)
        targets = [int(graph.edge_from[int(snap.edge[r])]) for r in pick]
        edges_sql = (
            "SELECT edge_id AS id, source_node AS source, target_node AS target, "
            f"length_m AS cost FROM road_edges WHERE network_id = {int(network_id)}"
        )
        started = time.perf_counter()
        cur.execute(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost(%s, %s::bigint[], "
            "%s::bigint[], directed := true)",
            (edges_sql, graph.node_osm_ids[starts].tolist(), graph.node_osm_ids[targets].tolist()),
        )
        found = cur.fetchall()
        seconds = time.perf_counter() - started
    index = {int(osm): i for i, osm in enumerate(graph.node_osm_ids.tolist())}
    matrix = graph.matrix("length")
    from scipy.sparse.csgraph import dijkstra

    started = time.perf_counter()
    ours = dijkstra(matrix, directed=True, indices=starts)
    our_seconds = time.perf_counter() - started
    worst = 0.0
    for start, end, cost in found:
        row = int(np.flatnonzero(starts == index[int(start)])[0])
        worst = max(worst, abs(float(ours[row, index[int(end)]]) - float(cost)))
    return [
        (
            "pgRouting pgr_dijkstraCost",
            f"{len(starts)} x {len(targets)} pairs",
            f"{seconds:8.3f} s",
        ),
        (
            "ours (scipy) for the same sources",
            f"{len(starts)} full fields",
            f"{our_seconds:8.3f} s",
        ),
        ("pgRouting / ours", "", f"{seconds / our_seconds:8.1f} x"),
        ("largest difference vs pgRouting", f"{len(found)} pairs", f"{worst:.3f} m"),
    ]


if __name__ == "__main__":
    main()
