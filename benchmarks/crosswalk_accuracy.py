"""Crosswalk benchmark on Ho Chi Minh City: road vs area weights, accuracy and the 2019 -> 2025 run.

Run: .venv/bin/python benchmarks/crosswalk_accuracy.py [--database schoolmap_bench_xw]
It recreates its own database on the local server and loads the reference data beside the
project (../shared/data, or SCHOOLMAP_SHARED_DATA): the 2019 census wards (Pop_2009, Pop_2019),
the census age groups per district, the 2018 OSM roads and the 2025 units.

(a) Accuracy: each 2019 district's population (the sum of its wards' census counts) is split
    over its wards by road length and by area, and compared with the census count of each
    ward. Road weights are used for a district only when each of its wards has at least
    MIN_ROAD_M of road (the rule the crosswalk applies per ward); elsewhere area stands in.
(b) The 2019 -> 2025 crosswalk with each weighting: population carried, units reached,
    coverage, pieces and time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from psycopg2 import sql
from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_service.config import DatabaseSettings  # noqa: E402
from gis_service.db.connection import Connection, connect  # noqa: E402
from gis_service.db.local_server import ensure_database, resolve_database_url  # noqa: E402
from gis_service.db.migrate import upgrade  # noqa: E402
from gis_service.importers.osm import import_osm  # noqa: E402
from gis_service.importers.population import PopulationFields, import_population  # noqa: E402
from gis_service.importers.report import no_progress  # noqa: E402
from gis_service.importers.wards import WardFields, import_wards  # noqa: E402
from gis_service.units.crosswalk import (  # noqa: E402
    MIN_ROAD_M,
    ROAD_CLASSES,
    CrosswalkReport,
    run_crosswalk,
    unit_road_lengths,
)
from tests.hcmc_data import HCMC_WARD_FIELDS  # noqa: E402

SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
WARDS_2019 = SHARED / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp"
AGES = SHARED / "vn_census2019" / "district_population_by_age_2019.csv"
PBF = SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"
UNITS_2025 = SHARED / "vn_wards_2025" / "79_ho_chi_minh_wards_2025.geojson"
PROVINCE = "Thành phố Hồ Chí Minh"
"""The 2019 census wards' fields, with their 2009 and 2019 counts."""


def bench_database(name: str) -> str:
    """A new, migrated database of that name on the local server."""
    base = resolve_database_url(DatabaseSettings(url=None, name=name))
    admin = connect(make_dsn(base, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()
    ensure_database(base)
    conn = connect(base)
    upgrade(conn)
    conn.close()
    return base


def load(conn: Connection) -> list[tuple[str, str]]:
    """Import the four data sets; return (step, seconds) rows."""
    steps: list[tuple[str, str]] = []

    def timed(label: str, work: object) -> None:
        started = time.perf_counter()
        work()  # type: ignore[operator]
        seconds = time.perf_counter() - started
        steps.append((label, f"{seconds:.1f} s"))
        print(f"  {label}: {seconds:.1f} s", file=sys.stderr, flush=True)

    timed(
        "2019 wards (Pop_2009, Pop_2019)",
        lambda: import_wards(
            conn,
            WARDS_2019,
            HCMC_WARD_FIELDS,
            no_progress,
        ),
    )
    timed(
        "district age groups 2019",
        lambda: import_population(
            conn,
            AGES,
            PopulationFields(name="district", province="province", year=2019),
            no_progress,
        ),
    )
    timed("2018 OSM roads", lambda: import_osm(conn, PBF, no_progress))
    timed(
        "2025 units",
        lambda: import_wards(
            conn,
            UNITS_2025,
            WardFields(edition="2025", province_name=PROVINCE, province_code="79"),
            no_progress,
        ),
    )
    conn.commit()
    return steps


def table(head: list[str], body: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*head))
    print("  ".join("-" * w for w in widths))
    for row in body:
        print(line.format(*row))
    print()


def accuracy(conn: Connection) -> None:
    """(a) District totals split over wards by road length and by area, against the census."""
    roads = unit_road_lengths(conn, "2019")
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.id, w.parent_id, p.population, ST_Area(ST_Transform(w.geom, 32648))
            FROM admin_units w JOIN admin_population p ON p.admin_unit_id = w.id AND p.year = 2019
            WHERE w.edition = '2019' AND w.level = 'ward'
            """
        )
        wards = [(int(i), int(d), int(p), float(a)) for i, d, p, a in cur.fetchall()]
    by_district: dict[int, list[tuple[int, int, float, float]]] = defaultdict(list)
    for ward, district, population, area in wards:
        by_district[district].append((ward, population, area, roads.get(ward, 0.0)))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT d.id, p.population FROM admin_units d JOIN admin_population p "
            "ON p.admin_unit_id = d.id AND p.year = 2019 WHERE d.edition = '2019' "
            "AND d.level = 'district'"
        )
        census_districts = {int(d): int(p) for d, p in cur.fetchall()}
    gaps = [
        abs(census_districts.get(d, 0) - sum(p for _, p, _, _ in members))
        for d, members in by_district.items()
    ]
    errors: dict[str, list[float]] = defaultdict(list)
    misplaced: dict[str, float] = defaultdict(float)
    road_districts = 0
    for members in by_district.values():
        total = sum(p for _, p, _, _ in members)
        with_roads = all(r >= MIN_ROAD_M for *_, r in members)
        road_districts += with_roads
        methods = {
            "area": [a for _, _, a, _ in members],
            "roads (area where a ward lacks roads)": [
                r if with_roads else a for _, _, a, r in members
            ],
        }
        if with_roads:
            methods["area, districts with roads"] = methods["area"]
            methods["roads, districts with roads"] = [r for *_, r in members]
        for method, weights in methods.items():
            scale = total / sum(weights)
            for (_, population, _, _), weight in zip(members, weights, strict=True):
                estimate = weight * scale
                misplaced[method] += abs(estimate - population) / 2
                if population > 0:
                    errors[method].append(100 * abs(estimate - population) / population)
    body = []
    for method, values in errors.items():
        within = sum(1 for e in values if e <= 20) / len(values)
        body.append(
            [
                method,
                f"{len(values)}",
                f"{statistics.median(values):.1f}%",
                f"{statistics.fmean(values):.1f}%",
                f"{100 * within:.0f}%",
                f"{misplaced[method]:,.0f}",
            ]
        )
    print(
        f"(a) 2019 district populations split over their wards, against the census "
        f"({len(by_district)} districts, {road_districts} with at least {MIN_ROAD_M:,.0f} m of "
        f"road in every ward; roads: {', '.join(ROAD_CLASSES)})"
    )
    table(["weights", "wards", "median APE", "mean APE", "within 20%", "people misplaced"], body)
    print(
        "APE: absolute percentage error of a ward's estimate against its census count; people "
        "misplaced: half the sum of absolute errors. A district's total is the sum of its "
        "wards' counts; the census age table's district totals differ from it by at most "
        f"{max(gaps):,} people.\n"
    )


def crosswalks(conn: Connection) -> None:
    """(b) The 2019 -> 2025 crosswalk with each weighting."""
    reports: dict[str, CrosswalkReport] = {}
    placed: dict[str, dict[int, int]] = {}
    for weights in ("roads", "area"):
        reports[weights] = run_crosswalk(conn, "2019", "2025", weights, no_progress)
        conn.commit()
        with conn.cursor() as cur:
            cur.execute(
                "SELECT p.admin_unit_id, p.population FROM admin_population p "
                "JOIN admin_units u ON u.id = p.admin_unit_id "
                "WHERE u.edition = '2025' AND p.year = 2019"
            )
            placed[weights] = {int(u): int(n) for u, n in cur.fetchall()}
    body = []
    for weights, report in reports.items():
        c = next(c for c in report.carried if c.kind == "population" and c.year == 2019)
        ages = next(c for c in report.carried if c.kind == "age groups" and c.year == 2019)
        body.append(
            [
                weights,
                f"{c.carried:,}",
                f"{c.total:,}",
                f"{100 * c.share:.2f}%",
                f"{100 * ages.share:.2f}%",
                f"{report.units_with_population}/{report.target_units}",
                "/".join(str(report.coverage.get(k, 0)) for k in ("none", "partial", "full")),
                "/".join(str(report.pieces_by_basis.get(k, 0)) for k in ("roads", "area")),
                f"{report.seconds:.1f} s",
            ]
        )
    print("(b) crosswalk of the 2019 census wards onto the 2025 units of HCMC (population 2019)")
    table(
        [
            "weights",
            "carried",
            "total",
            "share",
            "age groups",
            "units reached",
            "coverage none/partial/full",
            "pieces roads/area",
            "time",
        ],
        body,
    )
    placed_total = sum(placed["roads"].values())
    units = set(placed["roads"]) | set(placed["area"])
    moved = sum(abs(placed["roads"].get(u, 0) - placed["area"].get(u, 0)) for u in units) / 2
    largest = max(units, key=lambda u: abs(placed["roads"].get(u, 0) - placed["area"].get(u, 0)))
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM admin_units WHERE id = %s", (largest,))
        name = cur.fetchone()[0]  # type: ignore[index]
    print(
        f"people placed in another 2025 unit by road weights than by area weights: {moved:,.0f} "
        f"({100 * moved / placed_total:.1f}% of the population carried); most "
        f"in {name}: {placed['area'].get(largest, 0):,} by area, "
        f"{placed['roads'].get(largest, 0):,} by roads"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="schoolmap_bench_xw")
    args = parser.parse_args(argv)
    print(f"loading HCMC into {args.database} ...", file=sys.stderr, flush=True)
    conn = connect(bench_database(args.database))
    try:
        steps = load(conn)
        print()
        table(["load step", "time"], [list(s) for s in steps])
        accuracy(conn)
        conn.rollback()
        crosswalks(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
