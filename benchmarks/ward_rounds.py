"""A city's ward rounds allocated at once: `schoolmap round run-many` on local processes and on a
two-worker Dask cluster, over the database of an earlier city benchmark.

Since 2025 each ward admits its own children, so admission day is many ward rounds, not one
city round. This takes the most populous 2019 census wards of the database, makes one grade-1
round per ward through the command line (its children at random points of the ward, about one
in 75 residents, as many as the census has six-year-olds), and runs them all with
`round run` one round at a time (the baseline), then with `round run-many`: on this machine's
processes, and with SCHOOLMAP_DASK_SCHEDULER set to a local two-worker cluster. It prints the
rounds, children and seconds of each way, and checks that every round's three runs placed
every child the same (their output hashes).

Run: .venv/bin/python benchmarks/ward_rounds.py --database schoolmap_bench_merged \\
         --home /tmp/merged-city-XXXX/home [--wards 60]
(`--home` is the SCHOOLMAP_HOME of that benchmark, holding its network and fields.)
Map data © OpenStreetMap contributors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.officer_path import rows, run, write_applicants  # noqa: E402
from gis_service.config import DatabaseSettings  # noqa: E402
from gis_service.db.connection import connect  # noqa: E402
from gis_service.db.local_server import resolve_database_url  # noqa: E402
from tests.dask_cluster import local_cluster  # noqa: E402

CHILDREN_PER_RESIDENT = 1 / 75


def ward_homes(url: str, count: int) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """The `count` most populous 2019 wards: code, name and their children's homes."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.id, w.code, w.name, p.population FROM admin_units w
            JOIN admin_population p ON p.admin_unit_id = w.id AND p.year = 2019
            WHERE w.edition = '2019' AND w.level = 'ward'
            ORDER BY p.population DESC, w.code LIMIT %s
            """,
            (count,),
        )
        wards = cur.fetchall()
        found = []
        for ward_id, code, name, population in wards:
            cur.execute(
                "SELECT ST_X(pt.geom), ST_Y(pt.geom) FROM admin_units w, "
                "LATERAL ST_Dump(ST_GeneratePoints(w.geom, %s, %s)) pt WHERE w.id = %s "
                "ORDER BY pt.path",
                (max(10, round(population * CHILDREN_PER_RESIDENT)), ward_id, ward_id),
            )
            found.append((code, name, [(float(x), float(y)) for x, y in cur.fetchall()]))
    conn.close()
    return found


def output_hashes(url: str, round_ids: list[int]) -> list[list[str]]:
    """Per round, the output hashes of its runs, oldest first."""
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT round_id, array_agg(output_hash ORDER BY id) FROM allocation_runs "
            "WHERE round_id = ANY(%s) GROUP BY round_id ORDER BY round_id",
            (round_ids,),
        )
        found = [list(r[1]) for r in cur.fetchall()]
    conn.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="schoolmap_bench_merged")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--wards", type=int, default=60)
    parser.add_argument(
        "--year", default="2027-2028", help="the rounds' school year (one not used before)"
    )
    args = parser.parse_args()
    admitted = int(args.year[:4])
    born = f"{admitted - 6}-06-01"
    url = make_dsn(
        resolve_database_url(DatabaseSettings(url=None, name=args.database)), dbname=args.database
    )
    env = {**os.environ, "DATABASE_URL": url, "SCHOOLMAP_HOME": str(args.home)}
    env.pop("SCHOOLMAP_DASK_SCHEDULER", None)
    work = Path(tempfile.mkdtemp(prefix="ward-rounds-"))
    wards = ward_homes(url, args.wards)
    round_ids = []
    started = time.perf_counter()
    for k, (code, name, homes) in enumerate(wards):
        path = write_applicants(work / f"{code}.csv", homes, f"{admitted % 10}{k:03d}", born)
        made = run(f"create {code}", env, "round", "create", "--name", f"Lớp 1 {name}",
                   "--grade", "1", "--year", args.year, "--ward", code)  # fmt: skip
        round_id = made.split(":")[0].split()[-1]
        run(f"import {code}", env, "round", "import-applicants", round_id, str(path))
        run(f"open {code}", env, "round", "open", round_id)
        run(f"close {code}", env, "round", "close", round_id)
        round_ids.append(int(round_id))
    made_s = time.perf_counter() - started
    children = sum(len(h) for _, _, h in wards)
    one_by_one = time.perf_counter()
    for round_id in round_ids:
        run(f"run {round_id}", env, "round", "run", str(round_id), "--mechanism", "da",
            "--seed", "1")  # fmt: skip
    one_by_one_s = time.perf_counter() - one_by_one
    many = (
        "round",
        "run-many",
        *("--year", args.year, "--grade", "1", "--mechanism", "da"),
        "--seed",
        "1",
    )
    run("run-many, local processes", env, *many)
    with local_cluster(ROOT, workers=2) as cluster:
        run("run-many, Dask (2 workers)", {**env, "SCHOOLMAP_DASK_SCHEDULER": cluster.address},
            *many)  # fmt: skip
    hashes = output_hashes(url, round_ids)
    same = sum(1 for h in hashes if len(h) == 3 and len(set(h)) == 1)
    sizes = sorted(len(h) for _, _, h in wards)
    print(
        f"\n{len(wards)} ward rounds of grade 1, {children:,} children "
        f"({sizes[0]}-{sizes[-1]} a ward), made through the command line in {made_s:.0f} s"
    )
    print(f"{'allocating every round':<34}{'time':>10}{'peak MB':>10}")
    print(f"{'round run, one round at a time':<34}{one_by_one_s:9.2f}s")
    for label, seconds, peak, _ in rows[-2:]:
        shown_peak = "" if peak != peak else f"{peak:.0f}"
        print(f"{label:<34}{seconds:9.2f}s{shown_peak:>10}")
    print(f"rounds whose three runs placed every child the same: {same} of {len(round_ids)}")
    if same != len(round_ids):
        raise SystemExit("the three ways placed some round's children differently")


if __name__ == "__main__":
    main()
