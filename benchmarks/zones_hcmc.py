"""School zones on the real Ho Chi Minh City data, through the command line and the API.

Run: .venv/bin/python benchmarks/zones_hcmc.py [--year 2027] [--database NAME]
It loads a fresh database (default schoolmap_bench_zones) the way the README does (the 2019
census wards with their 2009 and 2019 counts, the census age groups per district, the yearly
district series, the 2018 OSM extract), gives each of the extract's primary schools 18 grade-1
classes of 35 (as benchmarks/officer_path.py does), builds the motorbike network and the
primary schools' fields, then times `schoolmap zones --grade 1 --year YEAR --publish` and
prints what it found. Then, with `schoolmap serve`, the time of `GET /zones` and of
`GET /zones/chances` at homes spread over the city, and of GDAL's OAPIF driver (as QGIS uses
it) reading every OGC API – Features layer, with the first page of each and a bbox page.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.officer_path import (  # noqa: E402
    CLASS_SIZE,
    CLASSES,
    SCHOOLMAP,
    SHARED,
    fresh_database,
    import_census_wards,
    rows,
    run,
    write_registry,
)
from gis_service.db.connection import connect  # noqa: E402
from tests.browser_support import free_port  # noqa: E402
from tests.hcmc_data import primary_schools  # noqa: E402

AGES = "district_population_by_age_2019.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=2027)
    parser.add_argument("--database", default="schoolmap_bench_zones")
    parser.add_argument("--homes", type=int, default=200, help="homes asked for their chances")
    args = parser.parse_args()
    url = fresh_database(args.database)
    work = Path(tempfile.mkdtemp(prefix="zones-hcmc-"))
    env = {**os.environ, "DATABASE_URL": url, "SCHOOLMAP_HOME": str(work / "home")}
    census = SHARED / "hcmc_cityscope_pop2019"
    run("db upgrade", env, "db", "upgrade")
    import_census_wards(env)
    run(
        "import population",
        env,
        "import", "population", str(SHARED / "vn_census2019" / AGES),
        "--edition", "2019", "--level", "district", "--name-field", "district",
        "--province-field", "province", "--year", "2019",
    )  # fmt: skip
    run(
        "forecast import-series",
        env,
        "forecast", "import-series", str(census / "Population_District_Level.shp"),
        "--level", "district", "--code-field", "Dist_ID",
    )  # fmt: skip
    run("import osm", env, "import", "osm", str(SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"))
    conn = connect(url)
    primary = primary_schools(conn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM admin_units "
            "WHERE edition = '2019' AND level = 'ward' ORDER BY code) x"
        )
        centres = cur.fetchall()
    conn.close()
    registry = write_registry(work / "registry.csv", primary)
    run("import schools", env, "import", "schools", str(registry))
    run("network build motorbike", env, "network", "build", "--mode", "motorbike")
    run("network fields", env, "network", "fields", "--mode", "motorbike", "--level", "tieu_hoc")
    first = len(rows)
    made = run(
        "zones (grade 1)",
        env,
        "zones", "--grade", "1", "--year", str(args.year), "--publish",
        "--geojson", str(work / "zones.geojson"),
    )  # fmt: skip

    print(f"\n{len(primary)} primary schools x {CLASSES} x {CLASS_SIZE}; school year {args.year}")
    print(f"{'step':<28}{'time':>10}{'peak MB':>10}")
    for label, seconds, peak, _ in rows:
        shown_peak = "" if peak != peak else f"{peak:.0f}"
        print(f"{label:<28}{seconds:9.2f}s{shown_peak:>10}")
    print("\n" + "\n".join(made.strip().splitlines()[:4]))
    zones = json.loads((work / "zones.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in zones["features"]]
    full = [p for p in props if p["full"]]
    widths = [
        p["cutoff_high_m"] - p["cutoff_low_m"]
        for p in full
        if p["cutoff_high_m"] is not None and p["cutoff_low_m"] is not None
    ]
    print(
        f"zones: {len(props)} schools, {len(full)} full; interval width median "
        f"{statistics.median(widths):,.0f} m"
        if widths
        else "no interval"
    )
    print(
        f"zones file {(work / 'zones.geojson').stat().st_size / 1e6:.1f} MB; zones step "
        f"{rows[first][1]:.1f} s"
    )
    served(env, centres[: args.homes])


def served(env: dict[str, str], homes: list[tuple[float, float]]) -> None:
    """`schoolmap serve`: the published zones and a home's chances, timed one by one."""
    port = free_port()
    server = subprocess.Popen(
        [SCHOOLMAP, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)

        def timed(path: str) -> tuple[float, bytes]:
            started = time.perf_counter()
            with urllib.request.urlopen(base + path, timeout=120) as answer:
                body = answer.read()
            return time.perf_counter() - started, body

        first, body = timed("/zones?grade=1")
        again, _ = timed("/zones?grade=1&simplify_m=10")
        print(
            f"\nGET /zones: {first * 1000:.0f} ms ({len(body) / 1e6:.1f} MB), simplified "
            f"{again * 1000:.0f} ms"
        )
        timed(f"/zones/chances?lon={homes[0][0]}&lat={homes[0][1]}&grade=1")  # warm
        times, labels = [], {"very_likely": 0, "uncertain": 0, "unlikely": 0}
        for lon, lat in homes:
            seconds, body = timed(f"/zones/chances?lon={lon}&lat={lat}&grade=1&limit=10")
            times.append(seconds * 1000)
            for school in json.loads(body)["schools"]:
                if school["chance"]:
                    labels[school["chance"]["label"]] += 1
        times.sort()
        print(
            f"GET /zones/chances at {len(times)} ward centres: median {times[len(times) // 2]:.1f} "
            f"ms, p95 {times[int(len(times) * 0.95)]:.1f} ms; labels of the 10 nearest: {labels}"
        )
        ogc_layers(base, timed)
    finally:
        server.terminate()
        server.wait(timeout=20)


def ogc_layers(base: str, timed: Callable[[str], tuple[float, bytes]]) -> None:
    """Every OGC API – Features layer read whole by GDAL (1,000 features a page), and the time
    of a first page of 100 and of a bbox page (the city centre, about 2 x 2 km)."""
    import pyogrio

    started = time.perf_counter()
    layers = [name for name, _ in pyogrio.list_layers(f"OAPIF:{base}")]
    print(
        f"\nOGC API – Features: {len(layers)} layers listed by GDAL in "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    print(f"{'layer':<18}{'features':>9}{'GDAL read':>11}{'page 100':>10}{'bbox page':>11}")
    for name in layers:
        started = time.perf_counter()
        frame = pyogrio.read_dataframe(f"OAPIF:{base}", layer=name, PAGE_SIZE=1000)
        whole = time.perf_counter() - started
        page = statistics.median(timed(f"/collections/{name}/items?limit=100")[0] for _ in range(5))
        box = statistics.median(
            timed(f"/collections/{name}/items?bbox=106.69,10.77,106.71,10.79")[0] for _ in range(5)
        )
        print(f"{name:<18}{len(frame):>9}{whole:>10.2f}s{page * 1000:>8.0f}ms{box * 1000:>9.0f}ms")


if __name__ == "__main__":
    main()
