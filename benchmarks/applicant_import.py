"""Applicant import benchmark on real Ho Chi Minh City data: prints time and peak memory per
file size, for the bulk path (the `schoolmap round import-applicants` command) and the
row-by-row path, with and without a stated unit of residence.

Run: PYTHONPATH=. .venv/bin/python benchmarks/applicant_import.py [--sizes 10000 125000]
     [--row-by-row-sizes 10000 125000] [--database URL]
Without --database it builds its own database (schoolmap_bench_applicants on the local server,
recreated) as the README's "Loading a real city" does: the 2025 units, the 2019 wards, the
2018 OSM extract of the city, a registry of its primary schools, and one grade-1 round over
every 2025 unit per import. Homes are road nodes (vertices of the extract's roads), drawn at
random with a fixed seed. Data © OpenStreetMap contributors.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from psycopg2 import sql
from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_service.config import DatabaseSettings  # noqa: E402
from gis_service.db.connection import Connection, connect  # noqa: E402
from gis_service.db.local_server import ensure_database, resolve_database_url  # noqa: E402
from gis_service.db.migrate import upgrade_database  # noqa: E402

SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATABASE = "schoolmap_bench_applicants"
SCHOOL_YEAR = "2026-2027"
SEED = 2026
CLI = [
    sys.executable,
    "-c",
    "import sys; from gis_service.cli import main; sys.argv[0] = 'schoolmap'; main()",
]
"""`schoolmap` of this checkout (the installed script may run another one's code)."""

_ROW_BY_ROW = """
import sys
from pathlib import Path
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.identity import installation_key
from gis_service.cli import run_import
from gis_service.config import Settings
from gis_service.importers.report import print_progress
key = installation_key(Settings())
round_id, path = int(sys.argv[1]), Path(sys.argv[2])
run_import(lambda conn: import_applicants(
    conn, round_id, path, key, print_progress, row_by_row=True))
"""
"""The same command's work (one transaction, the installation key, the printed report) with
the row-by-row path, which the command line does not offer."""


def schoolmap(env: dict[str, str], *args: str) -> str:
    """Run the command line; its standard output."""
    done = subprocess.run(
        [*CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"schoolmap {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def measured(env: dict[str, str], command: list[str]) -> tuple[float, float, str]:
    """Run a command; wall seconds, its peak resident memory (MiB) and its output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{text}")
    return seconds, usage.ru_maxrss / 1024, text


def fresh_database() -> str:
    base = resolve_database_url(DatabaseSettings(url=None, name=DATABASE))
    admin = connect(make_dsn(base, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
    admin.close()
    ensure_database(base)
    return base


def load_city(url: str, env: dict[str, str], work: Path) -> None:
    """The README's steps for HCMC: units of both editions, roads and schools, a registry."""
    upgrade_database(url)
    steps = [
        (
            "import",
            "wards",
            str(SHARED / "vn_wards_2025" / "79_ho_chi_minh_wards_2025.geojson"),
            "--edition",
            "2025",
            "--province-code",
            "79",
            "--province-name",
            "Thành phố Hồ Chí Minh",
        ),
        (
            "import",
            "wards",
            str(SHARED / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp"),
            "--edition",
            "2019",
            "--code-field",
            "Com_ID",
            "--name-field",
            "Com_Name",
            "--type-field",
            "Level",
            "--district-field",
            "Dist_Name",
            "--district-code-field",
            "Dist_ID",
            "--province-name",
            "Thành phố Hồ Chí Minh",
            "--province-code",
            "79",
            "--population-field",
            "Pop_2019",
        ),
        ("import", "osm", str(SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf")),
    ]
    for step in steps:
        started = time.perf_counter()
        schoolmap(env, *step)
        print(f"  {' '.join(step[:2])}: {time.perf_counter() - started:.0f} s", flush=True)
    registry = work / "registry.csv"
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT name, ST_X(geom), ST_Y(geom) FROM schools "
                "WHERE 'tieu_hoc' = ANY(levels) AND name IS NOT NULL ORDER BY id"
            )
            schools = cur.fetchall()
    finally:
        conn.close()
    with registry.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["code", "name", "lon", "lat", "levels", "grade_1_classes", "grade_1_class_size"]
        )
        for n, (name, lon, lat) in enumerate(schools, 1):
            writer.writerow([f"TH{n:04d}", name, lon, lat, "tieu_hoc", 4, 35])
    schoolmap(env, "import", "schools", str(registry))
    print(f"  registry: {len(schools)} primary schools", flush=True)


def homes(url: str, count: int) -> list[tuple[float, float, str, str]]:
    """`count` road nodes at random (lon, lat), each with its 2025 unit's name, and the 2019
    ward's name where one covers it (units tested one at a time against all the homes)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT setseed(0.2026)")
            cur.execute(
                "CREATE TEMPORARY TABLE drawn AS SELECT row_number() OVER () AS n, pt FROM ("
                "SELECT pt FROM (SELECT (ST_DumpPoints(geom)).geom AS pt FROM road_ways) s "
                "ORDER BY random() LIMIT %s) d",
                (count,),
            )
            cur.execute("CREATE INDEX ON drawn USING gist (pt)")
            cur.execute("ANALYZE drawn")
            names: dict[str, dict[int, str]] = {}
            for edition in ("2025", "2019"):
                cur.execute(
                    "SELECT DISTINCT ON (h.n) h.n, u.name FROM admin_units u CROSS JOIN LATERAL "
                    "(SELECT d.n FROM drawn d WHERE ST_Covers(u.geom, d.pt) OFFSET 0) h "
                    "WHERE u.edition = %s AND u.level = 'ward' ORDER BY h.n, u.id",
                    (edition,),
                )
                names[edition] = dict(cur.fetchall())
            cur.execute("SELECT n, ST_X(pt), ST_Y(pt) FROM drawn ORDER BY n")
            return [
                (float(x), float(y), names["2025"].get(n, ""), names["2019"].get(n, ""))
                for n, x, y in cur.fetchall()
            ]
    finally:
        conn.rollback()
        conn.close()


def write_file(
    path: Path, drawn: list[tuple[float, float, str, str]], size: int, stated: bool
) -> None:
    """An officer's file of `size` children; the stated unit (when asked) is mostly the home's
    2025 unit, else its 2019 ward, a neighbour's unit, or a name no unit has."""
    chooser = random.Random(SEED + size)
    stater = random.Random(SEED - size)  # its own draws: the same children either way
    units = sorted({unit for _, _, unit, _ in drawn if unit})
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["child_id", "birth_date", "lon", "lat"] + (["stated_unit"] if stated else [])
        )
        for n in range(size):
            lon, lat, unit, ward = drawn[n % len(drawn)]
            year = 2020 if chooser.random() < 0.97 else chooser.choice((2019, 2021))
            row = [f"BM{n:09d}", f"{year}-{1 + n % 12:02d}-{1 + n % 28:02d}", lon, lat]
            if stated:
                draw = stater.random()
                if draw < 0.85:
                    row.append(unit)
                elif draw < 0.93:
                    row.append(ward or unit)
                elif draw < 0.98:
                    row.append(stater.choice(units))
                else:
                    row.append("Phường Không Có")
            writer.writerow(row)


def new_round(env: dict[str, str], codes: list[str], name: str) -> int:
    out = schoolmap(
        env,
        "round",
        "create",
        "--name",
        name,
        "--grade",
        "1",
        "--year",
        SCHOOL_YEAR,
        "--edition",
        "2025",
        *[arg for code in codes for arg in ("--ward", code)],
    )
    found = re.search(r"round (\d+)", out)
    if found is None:
        raise SystemExit(f"no round id in: {out}")
    return int(found.group(1))


def unit_codes(url: str) -> list[str]:
    conn: Connection = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT code FROM admin_units WHERE edition = '2025' AND level = 'ward' "
                "ORDER BY code"
            )
            return [code for (code,) in cur.fetchall()]
    finally:
        conn.close()


def differences(url: str, one: int, other: int) -> int:
    """How many children's applications differ between two rounds (any stored field but the
    ids and the round)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                WITH a AS (SELECT applicant_id,
                                  to_jsonb(x) - 'id' - 'round_id' - 'submitted_at' AS f
                           FROM applications x WHERE round_id = %s),
                     b AS (SELECT applicant_id,
                                  to_jsonb(x) - 'id' - 'round_id' - 'submitted_at' AS f
                           FROM applications x WHERE round_id = %s)
                SELECT count(*) FROM a FULL JOIN b USING (applicant_id)
                WHERE a.f IS DISTINCT FROM b.f
                """,
                (one, other),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return int(row[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 125_000])
    parser.add_argument(
        "--row-by-row-sizes",
        type=int,
        nargs="*",
        default=None,
        help="sizes also imported row by row (default: every size)",
    )
    parser.add_argument("--database", help="a database already loaded by an earlier run")
    args = parser.parse_args(argv)
    old_sizes = set(args.sizes if args.row_by_row_sizes is None else args.row_by_row_sizes)
    with tempfile.TemporaryDirectory(prefix="bench-applicants-") as folder:
        work = Path(folder)
        url = args.database
        env = {
            **os.environ,
            "SCHOOLMAP_HOME": str(work / "home"),
            "SCHOOLMAP_SECRET_KEY": "benchmark-key",
            "PYTHONPATH": str(ROOT),
        }
        if url is None:
            url = fresh_database()
            env["DATABASE_URL"] = url
            print(f"loading Ho Chi Minh City into {DATABASE}", flush=True)
            load_city(url, env, work)
            print(f"  reuse it with --database {url}", flush=True)
        env["DATABASE_URL"] = url
        codes = unit_codes(url)
        drawn = homes(url, max(args.sizes))
        print(f"{len(drawn):,} homes on road nodes; rounds over {len(codes)} units\n", flush=True)
        rows = []
        for size in sorted(args.sizes):
            for stated in (False, True):
                path = work / f"applicants_{size}_{int(stated)}.csv"
                write_file(path, drawn, size, stated)
                paths: list[tuple[str, str | None]] = [("bulk (CLI)", None)]
                if size in old_sizes:
                    paths.append(("row by row", _ROW_BY_ROW))
                times: dict[str, float] = {}
                rounds: dict[str, int] = {}
                for label, script in paths:
                    round_id = new_round(env, codes, f"Benchmark {size} {label}")
                    rounds[label] = round_id
                    command = (
                        [*CLI, "round", "import-applicants"]
                        if script is None
                        else [sys.executable, "-c", script]
                    ) + [str(round_id), str(path)]
                    seconds, peak, output = measured(env, command)
                    times[label] = seconds
                    eligible = re.search(r"  eligible: ([\d,]+)", output)
                    rows.append(
                        (
                            f"{size:,}",
                            "yes" if stated else "no",
                            label,
                            f"{seconds:.1f}",
                            f"{size / seconds:,.0f}",
                            f"{peak:,.0f}",
                            eligible.group(1) if eligible else "?",
                        )
                    )
                    print("  ".join(rows[-1]), flush=True)
                if len(times) == 2:
                    ratio = times["row by row"] / times["bulk (CLI)"]
                    differ = differences(url, rounds["bulk (CLI)"], rounds["row by row"])
                    print(
                        f"  row by row / bulk: {ratio:.1f}x; applications that differ: {differ}",
                        flush=True,
                    )
        header = ("rows", "stated unit", "path", "seconds", "rows/s", "peak MiB", "eligible")
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        print()
        for row in [header, *rows]:
            print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
