"""Distance fields with and without their radius on the real Ho Chi Minh City data: the same
city round (deferred acceptance and nearest) run on both, with the fields' time and size.

Run: .venv/bin/python benchmarks/field_radius_hcmc.py [--applicants 125000] [--database NAME]
It loads a fresh database (default schoolmap_bench_radius) as benchmarks/officer_path.py does
(2019 census wards, the 2018 OSM extract, every primary school with 18 grade-1 classes of 35,
the applicants by 2019 ward population at random points of their wards), then, once with whole
fields and once with the radius of routing.service.FIELD_RADIUS_M, makes the primary schools'
length fields and runs the round with both mechanisms, and prints whether each run's outcome
(its output hash) is the same, with the farthest placement each run made.
Map data © OpenStreetMap contributors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.officer_path import (  # noqa: E402
    SHARED,
    fresh_database,
    homes_by_population,
    import_census_wards,
    run,
    write_applicants,
    write_registry,
)
from gis_service.admissions.runs import run_round  # noqa: E402
from gis_service.db.connection import connect  # noqa: E402
from gis_service.routing import service  # noqa: E402
from gis_service.routing.service import RoutingService  # noqa: E402
from tests.hcmc_data import primary_schools  # noqa: E402

MECHANISMS = ("da", "nearest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=125_000)
    parser.add_argument("--database", default="schoolmap_bench_radius")
    args = parser.parse_args()
    url = fresh_database(args.database)
    work = Path(tempfile.mkdtemp(prefix="field-radius-"))
    env = {**os.environ, "DATABASE_URL": url, "SCHOOLMAP_HOME": str(work / "home")}
    run("db upgrade", env, "db", "upgrade")
    import_census_wards(env)
    run("import osm", env, "import", "osm", str(SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"))
    conn = connect(url)
    primary = primary_schools(conn)
    homes = homes_by_population(conn, args.applicants)
    with conn.cursor() as cur:
        cur.execute("SELECT code FROM admin_units WHERE level = 'ward' ORDER BY code")
        wards = [row[0] for row in cur.fetchall()]
    conn.close()
    applicants = write_applicants(work / "applicants.csv", homes)
    run("import schools", env, "import", "schools", str(write_registry(work / "r.csv", primary)))
    run("network build motorbike", env, "network", "build", "--mode", "motorbike")
    made = run(
        "round create",
        env,
        "round", "create", "--name", "Lớp 1 toàn thành phố", "--grade", "1",
        "--year", "2026-2027", *[flag for code in wards for flag in ("--ward", code)],
    )  # fmt: skip
    round_id = int(made.split(":")[0].split()[-1])
    run("round import-applicants", env, "round", "import-applicants", str(round_id),
        str(applicants))  # fmt: skip
    run("round open", env, "round", "open", str(round_id))
    run("round close", env, "round", "close", str(round_id))

    radius = dict(service.FIELD_RADIUS_M)
    outcome: dict[tuple[str, str], tuple[str, int, int, int]] = {}
    fields_rows = []
    conn = connect(url)
    try:
        for label, radii in (("whole", {}), ("radius", radius)):
            service.FIELD_RADIUS_M = radii
            routing = RoutingService(work / f"home-{label}")
            net = routing.network(conn, "motorbike")
            started = time.perf_counter()
            fields = routing.fields(conn, net, "tieu_hoc", "length")
            seconds = time.perf_counter() - started
            size = sum(p.stat().st_size for p in (work / f"home-{label}" / "fields").iterdir())
            reached = float((fields.dense() < float("inf")).mean())
            fields_rows.append((label, fields.cutoff, seconds, size / 1e6, reached))
            for mechanism in MECHANISMS:
                done = run_round(conn, routing, round_id, mechanism, seed=1)
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT max(cost) FROM assignments WHERE run_id = %s", (done.run_id,)
                    )
                    farthest = int(cur.fetchone()[0])  # type: ignore[index]
                outcome[(label, mechanism)] = (
                    done.output_hash,
                    farthest,
                    int(done.metrics["unassigned"]),
                    int(done.metrics.get("beyond_radius_homes", 0)),
                )
                conn.commit()
    finally:
        conn.close()
        service.FIELD_RADIUS_M = radius

    print(f"\n{len(homes):,} applicants, {len(primary)} primary schools, {len(wards)} wards")
    print(f"{'fields':<8}{'radius m':>10}{'time':>9}{'MB':>8}{'pairs within':>14}")
    for label, cutoff, seconds, mb, reached in fields_rows:
        shown = "none" if cutoff is None else f"{cutoff:,.0f}"
        print(f"{label:<8}{shown:>10}{seconds:>8.1f}s{mb:>8.0f}{reached:>13.1%}")
    print(
        f"\n{'mechanism':<10}{'same outcome':>14}{'farthest m':>12}{'unassigned':>12}"
        f"{'beyond radius':>15}"
    )
    for mechanism in MECHANISMS:
        whole, cut = outcome[("whole", mechanism)], outcome[("radius", mechanism)]
        print(
            f"{mechanism:<10}{whole[0] == cut[0]!s:>14}{whole[1]:>12,}{whole[2]:>12,}{cut[3]:>15,}"
        )


if __name__ == "__main__":
    main()
