"""A city the size of the merged Ho Chi Minh City on this machine: the real 2018 extract of the
old city, its census wards and its schools, tiled side by side (three copies by default), with
375,000 grade-1 and grade-6 applicants placed by ward population.

Run: .venv/bin/python benchmarks/merged_city.py [--copies 3] [--database NAME]
It builds the tiled OSM file and ward file, loads them through the command line as the README
does, gives every primary and lower-secondary school classes enough for its grade's applicants
(5 % spare), then prints: each step's time and peak memory, the distance fields' time and size
on disk, the serving workers' memory (each and in all, resident and proportional, with 2 and 4
workers, once every worker holds the fields), `/schools/near` latencies with 50 clients, and a
grade-1 and a grade-6 round (deferred acceptance and nearest) through the command line.
Map data © OpenStreetMap contributors.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_client import Connection as HttpConnection  # noqa: E402
from benchmarks.load import percentile_ms, serving  # noqa: E402
from benchmarks.officer_path import (  # noqa: E402
    SHARED,
    fresh_database,
    homes_by_population,
    import_census_wards,
    rows,
    run,
    write_applicants,
)
from gis_service.config import DatabaseSettings  # noqa: E402
from gis_service.db.connection import connect  # noqa: E402
from gis_service.db.local_server import resolve_database_url  # noqa: E402
from tests.browser_support import free_port  # noqa: E402

SHIFT_DEG = 0.75
"""How far east each copy lies from the one before: the old city is 0.7° wide."""
ID_STEP = 10**11
"""Added to every OSM id of a copy (2018 ids are below 6 x 10^9)."""
BRIDGE_ID = 9 * 10**11
"""Ids of the roads joining one copy to the next."""
BRIDGED_ROADS = frozenset({"trunk", "primary", "secondary", "tertiary"})
BAND_DEG = 0.05
"""Each band of latitude this high gets one road from a copy to the next (where both have a
main road in it)."""
CODE_STEP = 100_000
"""Added to every ward and district code of a copy."""
APPLICANTS = {1: 200_000, 6: 175_000}
CLASS_SIZE = {1: 35, 6: 45}
SPARE = 1.05
CLIENTS = 50
NEAR_SECONDS = 20.0


class _Copy:
    """Writes one copy of the extract's nodes or ways: ids moved by `k` ID_STEPs, nodes
    `k` SHIFT_DEGs east."""

    def __init__(self, writer: Any, kind: str, k: int) -> None:
        self.writer, self.kind, self.k = writer, kind, k

    def node(self, n: Any) -> None:
        if self.kind == "node":
            import osmium

            moved = osmium.osm.Location(n.location.lon + self.k * SHIFT_DEG, n.location.lat)
            self.writer.add_node(n.replace(id=n.id + self.k * ID_STEP, location=moved))

    def way(self, w: Any) -> None:
        if self.kind == "way":
            refs = [r.ref + self.k * ID_STEP for r in w.nodes]
            self.writer.add_way(w.replace(id=w.id + self.k * ID_STEP, nodes=refs))


class _RoadEnds:
    """The westernmost and easternmost node of the main roads in each band of latitude."""

    def __init__(self) -> None:
        self.refs: set[int] = set()
        self.west: dict[int, tuple[float, int]] = {}
        self.east: dict[int, tuple[float, int]] = {}

    def way(self, w: Any) -> None:
        if w.tags.get("highway") in BRIDGED_ROADS:
            self.refs.update(r.ref for r in w.nodes)

    def node(self, n: Any) -> None:
        if n.id in self.refs:
            band = int(n.location.lat // BAND_DEG)
            lon = n.location.lon
            if band not in self.west or lon < self.west[band][0]:
                self.west[band] = (lon, n.id)
            if band not in self.east or lon > self.east[band][0]:
                self.east[band] = (lon, n.id)


def tile_osm(source: Path, target: Path, copies: int) -> int:
    """The extract `copies` times, each SHIFT_DEG further east with its own ids (all nodes
    first, then all ways; relations left out: the importer reads roads and schools), and in
    every band of latitude a two-way primary road from each copy's easternmost main road to
    the next copy's westernmost, so the copies make one network. Returns the bridges made."""
    import osmium

    ends = _RoadEnds()
    osmium.apply(str(source), osmium.filter.EntityFilter(osmium.osm.WAY), ends)
    osmium.apply(str(source), osmium.filter.EntityFilter(osmium.osm.NODE), ends)
    bands = sorted(set(ends.west) & set(ends.east))
    writer = osmium.SimpleWriter(str(target))
    bridges = 0
    try:
        for kind in ("node", "way"):
            for k in range(copies):
                osmium.apply(str(source), _Copy(writer, kind, k))
        for k in range(copies - 1):
            for band in bands:
                bridges += 1
                writer.add_way(
                    osmium.osm.mutable.Way(
                        id=BRIDGE_ID + bridges,
                        nodes=[
                            ends.east[band][1] + k * ID_STEP,
                            ends.west[band][1] + (k + 1) * ID_STEP,
                        ],
                        tags={"highway": "primary", "name": f"Đường nối {k + 1}-{k + 2}"},
                    )
                )
    finally:
        writer.close()
    return bridges


def tile_wards(source: Path, target: Path, copies: int) -> None:
    """The 2019 census wards `copies` times (lon/lat), each shifted as its roads are, with
    codes and names of its own."""
    import geopandas as gpd
    import pandas as pd

    wards = gpd.read_file(source).to_crs(4326)
    parts = []
    for k in range(copies):
        part = wards.copy()
        part["geometry"] = part.geometry.translate(xoff=k * SHIFT_DEG)
        for column in ("Com_ID", "Dist_ID"):
            part[column] = (part[column].astype(int) + k * CODE_STEP).astype(str)
        if k:
            part["Com_Name"] = part["Com_Name"] + f" ({k + 1})"
            part["Dist_Name"] = part["Dist_Name"] + f" ({k + 1})"
        parts.append(part)
    tiled = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)
    tiled[
        ["Com_ID", "Com_Name", "Level", "Dist_Name", "Dist_ID", "Pop_2009", "Pop_2019", "geometry"]
    ].to_file(target, driver="GeoJSON")


def write_registry(path: Path, schools: list[tuple[str, str, float, float]]) -> dict[int, int]:
    """Every primary and lower-secondary school with classes enough for its grade's
    applicants (SPARE over them), and how many schools each grade has."""
    per_grade = {
        1: sum(1 for _, levels, _, _ in schools if "tieu_hoc" in levels),
        6: sum(1 for _, levels, _, _ in schools if "thcs" in levels),
    }
    classes = {g: math.ceil(APPLICANTS[g] * SPARE / (per_grade[g] * CLASS_SIZE[g])) for g in (1, 6)}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["code", "name", "levels", "lon", "lat", "grade_1_classes", "grade_1_class_size",
             "grade_6_classes", "grade_6_class_size"]
        )  # fmt: skip
        for i, (name, levels, lon, lat) in enumerate(schools):
            one = (classes[1], CLASS_SIZE[1]) if "tieu_hoc" in levels else ("", "")
            six = (classes[6], CLASS_SIZE[6]) if "thcs" in levels else ("", "")
            writer.writerow([f"S{i:05d}", name, levels, lon, lat, *one, *six])
    return per_grade


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def worker_memory(supervisor: int) -> list[dict[str, int]]:
    """Resident, proportional (shared pages split between their users) and private memory of
    each worker process of a `schoolmap serve --workers N`, in kB."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    found = []
    for pid in children:
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0])
        found.append(
            {
                "rss": fields["Rss"],
                "pss": fields["Pss"],
                "private": fields["Private_Clean"] + fields["Private_Dirty"],
            }
        )
    return found


async def near_load(
    port: int, homes: list[tuple[float, float]], clients: int, seconds: float
) -> tuple[list[float], dict[int, int]]:
    """`clients` kept-alive clients asking for the schools near random homes for `seconds`:
    the time of every answer, and how many answers of each status (a home over 1 km from any
    road is outside the network area: 400)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def client(k: int) -> None:
        rng = random.Random(k)
        http = HttpConnection("127.0.0.1", port, 30.0)
        try:
            while time.perf_counter() < stop:
                lon, lat = rng.choice(homes)
                level = rng.choice(("tieu_hoc", "thcs"))
                started = time.perf_counter()
                answer = await http.request(
                    "GET",
                    "/schools/near",
                    params={"lat": lat, "lon": lon, "level": level, "limit": 10},
                )
                latencies.append(time.perf_counter() - started)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
        finally:
            await http.close()

    await asyncio.gather(*(client(k) for k in range(clients)))
    if any(status >= 500 for status in statuses):
        raise SystemExit(f"/schools/near failed: {statuses}")
    return latencies, statuses


def warm(port: int, homes: list[tuple[float, float]], workers: int) -> None:
    """Every worker loads both levels' fields: many fresh connections spread over them."""
    import urllib.request

    for i in range(12 * workers):
        lon, lat = homes[i * 97 % len(homes)]
        for level in ("tieu_hoc", "thcs"):
            url = f"http://127.0.0.1:{port}/schools/near?lat={lat}&lon={lon}&level={level}"
            with urllib.request.urlopen(url, timeout=600) as answer:
                answer.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--database", default="schoolmap_bench_merged")
    parser.add_argument(
        "--serve-only",
        type=Path,
        metavar="WORK",
        help="only the serving part, over the database and the work folder of an earlier run",
    )
    args = parser.parse_args()
    if args.serve_only:
        url = make_dsn(
            resolve_database_url(DatabaseSettings(url=None, name=args.database)),
            dbname=args.database,
        )
        homes = [read_homes(args.serve_only / f"applicants-{g}.csv") for g in (1, 6)]
        serve(url, args.serve_only / "home", homes[0] + homes[1])
        return
    url = fresh_database(args.database)
    work = Path(tempfile.mkdtemp(prefix="merged-city-"))
    home = work / "home"
    env = {**os.environ, "DATABASE_URL": url, "SCHOOLMAP_HOME": str(home)}
    started = time.perf_counter()
    bridges = tile_osm(
        SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf", work / "city.osm.pbf", args.copies
    )
    tile_wards(
        SHARED / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp",
        work / "wards.geojson",
        args.copies,
    )
    print(f"  tiling the files: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    run("db upgrade", env, "db", "upgrade")
    import_census_wards(env, work / "wards.geojson")
    run("import osm", env, "import", "osm", str(work / "city.osm.pbf"))
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT name, array_to_string(levels, ','), ST_X(geom), ST_Y(geom) FROM schools "
            "WHERE levels && ARRAY['tieu_hoc', 'thcs'] AND name IS NOT NULL ORDER BY osm_id"
        )
        schools = cur.fetchall()
        cur.execute("SELECT count(*) FROM schools")
        all_schools = cur.fetchone()[0]  # type: ignore[index]
        cur.execute("SELECT code FROM admin_units WHERE level = 'ward' ORDER BY code")
        wards = [row[0] for row in cur.fetchall()]
    homes = {g: homes_by_population(conn, APPLICANTS[g], g) for g in (1, 6)}
    conn.close()
    per_grade = write_registry(work / "registry.csv", schools)
    for g, born in ((1, "2020-06-01"), (6, "2015-06-01")):
        write_applicants(work / f"applicants-{g}.csv", homes[g], f"0{g}9", born)
    run("import schools", env, "import", "schools", str(work / "registry.csv"))
    run("network build motorbike", env, "network", "build", "--mode", "motorbike")
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT node_count FROM road_networks WHERE mode = 'motorbike' ORDER BY id DESC LIMIT 1"
        )
        nodes = cur.fetchone()[0]  # type: ignore[index]
    conn.close()
    fields_started = len(rows)
    for level in ("tieu_hoc", "thcs"):
        run(f"network fields {level}", env, "network", "fields", "--mode", "motorbike",
            "--level", level)  # fmt: skip
    fields_seconds = sum(r[1] for r in rows[fields_started:])
    fields_mb = folder_mb(home / "fields")
    outcomes = {}
    for g in (1, 6):
        flags = [flag for code in wards for flag in ("--ward", code)]
        made = run(
            f"grade {g}: round create",
            env,
            "round", "create", "--name", f"Lớp {g} toàn thành phố", "--grade", str(g),
            "--year", "2026-2027", *flags,
        )  # fmt: skip
        round_id = made.split(":")[0].split()[-1]
        run(f"grade {g}: import-applicants", env, "round", "import-applicants", round_id,
            str(work / f"applicants-{g}.csv"))  # fmt: skip
        run(f"grade {g}: open", env, "round", "open", round_id)
        run(f"grade {g}: close", env, "round", "close", round_id)
        for mechanism in ("da", "nearest"):
            said = run(f"grade {g}: run {mechanism}", env, "round", "run", round_id,
                       "--mechanism", mechanism, "--seed", "1")  # fmt: skip
            outcomes[(g, mechanism)] = [
                line.strip()
                for line in said.splitlines()
                if line.strip().startswith(("unassigned", "share_at_nearest", "mean_cost"))
            ]

    print(
        f"\n{args.copies} copies of old Ho Chi Minh City: {all_schools:,} schools "
        f"({per_grade[1]} with grade 1, {per_grade[6]} with grade 6), {nodes:,} motorbike "
        f"road nodes ({bridges} roads join the copies), {len(wards)} wards, "
        f"{sum(len(h) for h in homes.values()):,} applicants "
        f"({len(homes[1]):,} grade 1, {len(homes[6]):,} grade 6)"
    )
    print(f"{'step':<34}{'time':>10}{'peak MB':>10}")
    for label, seconds, peak, _ in rows:
        shown_peak = "" if peak != peak else f"{peak:.0f}"
        print(f"{label:<34}{seconds:9.2f}s{shown_peak:>10}")
    print(
        f"\ndistance fields (length and time, both levels): {fields_seconds:.1f} s, "
        f"{fields_mb:,.0f} MB on disk"
    )
    for (g, mechanism), lines in outcomes.items():
        print(f"grade {g} {mechanism}: " + "; ".join(lines))

    serve(url, home, homes[1] + homes[6])


def read_homes(path: Path) -> list[tuple[float, float]]:
    with path.open(encoding="utf-8") as handle:
        return [(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(handle)]


def serve(url: str, home: Path, everyone: list[tuple[float, float]]) -> None:
    """Serving workers' memory once each holds both levels' fields, and /schools/near with
    CLIENTS clients, for 2 and 4 workers."""
    print(
        f"\n{'workers':>8}{'RSS each MB':>22}{'PSS total MB':>14}{'private MB':>12}"
        f"{'near p50':>10}{'p95':>8}{'p99':>8}{'req/s':>8}"
    )
    answered: dict[int, int] = {}
    for workers in (2, 4):
        port = free_port()
        with serving(url, home, port, workers) as process:
            warm(port, everyone, workers)
            memory = worker_memory(process.pid)
            latencies, statuses = asyncio.run(near_load(port, everyone, CLIENTS, NEAR_SECONDS))
        for status, n in statuses.items():
            answered[status] = answered.get(status, 0) + n
        each = "/".join(f"{m['rss'] / 1024:.0f}" for m in memory)
        pss = sum(m["pss"] for m in memory) / 1024
        private = sum(m["private"] for m in memory) / 1024
        print(
            f"{workers:>8}{each:>22}{pss:>14.0f}{private:>12.0f}"
            f"{percentile_ms(latencies, 50):>8.1f}ms{percentile_ms(latencies, 95):>6.1f}ms"
            f"{percentile_ms(latencies, 99):>6.1f}ms{len(latencies) / NEAR_SECONDS:>8.0f}"
        )
    print(
        f"({CLIENTS} clients for {NEAR_SECONDS:.0f} s each, half primary, half lower "
        f"secondary; answers by status: {answered})"
    )


if __name__ == "__main__":
    main()
