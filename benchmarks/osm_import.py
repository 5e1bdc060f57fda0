"""OSM import benchmark on the 2018 Ho Chi Minh City extract: time per step and peak memory,
for the importer and for the reference (row-by-row) importer it replaced, in one process.

Run: .venv/bin/python benchmarks/osm_import.py [--repeat 2] [--database schoolmap_bench_osm]
     [--no-wards]
It uses its own database (recreated; the 2019 wards are loaded once so that placing schools
in wards is measured too) and the reference data beside the project (../shared/data, or
SCHOOLMAP_SHARED_DATA). Every import runs in a transaction that is rolled back.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_service.config import DatabaseSettings  # noqa: E402
from gis_service.db.connection import Connection, connect  # noqa: E402
from gis_service.db.local_server import ensure_database, resolve_database_url  # noqa: E402
from gis_service.db.migrate import upgrade  # noqa: E402
from gis_service.importers import osm as new_osm  # noqa: E402
from gis_service.importers.report import ImportReport, no_progress  # noqa: E402
from gis_service.importers.wards import import_wards  # noqa: E402
from tests import osm_reference_import as old_osm  # noqa: E402
from tests.hcmc_data import HCMC_WARD_FIELDS, HCMC_WARDS_2019  # noqa: E402

SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
PBF = SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"
OLD_BASELINE_S = 21.6
STEPS = (
    ("read_extract", "read the extract"),
    ("file_sha256", "file checksum"),
    ("_copy_road_ways", "road ways"),
    ("_write_streets", "streets"),
    ("_write_addresses", "house numbers"),
    ("_upsert_schools", "schools"),
    ("assign_school_wards", "schools into wards"),
)


def recreate(name: str) -> str:
    base = resolve_database_url(DatabaseSettings(url=None, name=name))
    admin = connect(make_dsn(base, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()
    ensure_database(base)
    conn = connect(base)
    upgrade(conn)
    conn.commit()
    conn.close()
    return base


def rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Sample resident memory every 10 ms; yields [peak growth in bytes] filled at the end."""
    start = rss_bytes()
    peak = [start]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes())
            stop.wait(0.01)

    result = [0]
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result[0] = max(peak[0], rss_bytes()) - start


@contextmanager
def step_timer(module: ModuleType, times: dict[str, float]) -> Iterator[None]:
    """Wrap the module's step functions so each call adds its seconds to `times`."""
    originals = {name: getattr(module, name) for name, _ in STEPS}

    def wrap(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - started

        return timed

    for name, func in originals.items():
        setattr(module, name, wrap(name, func))
    try:
        yield
    finally:
        for name, func in originals.items():
            setattr(module, name, func)


def run_once(url: str, module: ModuleType) -> tuple[float, dict[str, float], int, ImportReport]:
    conn: Connection = connect(url)
    times: dict[str, float] = {}
    try:
        with step_timer(module, times), peak_memory() as peak:
            started = time.perf_counter()
            report = module.import_osm(conn, PBF, no_progress)
            total = time.perf_counter() - started
    finally:
        conn.rollback()
        conn.close()
    return total, times, peak[0], report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--database", default="schoolmap_bench_osm")
    parser.add_argument("--no-wards", action="store_true")
    args = parser.parse_args()
    url = recreate(args.database)
    if not args.no_wards:
        conn = connect(url)
        import_wards(conn, HCMC_WARDS_2019, HCMC_WARD_FIELDS, no_progress)
        conn.commit()
        conn.close()
    runs: dict[str, list[tuple[float, dict[str, float], int]]] = {"reference": [], "new": []}
    counts: dict[str, dict[str, int]] = {}
    for n in range(args.repeat):
        for label, module in (("reference", old_osm), ("new", new_osm)):
            total, times, peak, report = run_once(url, module)
            runs[label].append((total, times, peak))
            counts[label] = {k: v for k, v in report.counts.items() if k != "extract id"}
            print(f"  run {n + 1} {label}: {total:.2f} s", file=sys.stderr, flush=True)
    if counts["reference"] != counts["new"]:
        print("COUNTS DIFFER:", counts, file=sys.stderr)

    def median(label: str, step: str | None = None) -> float:
        if step is None:
            return statistics.median(r[0] for r in runs[label])
        return statistics.median(r[1].get(step, 0.0) for r in runs[label])

    print(
        f"OSM import of {PBF.name} ({os.path.getsize(PBF) / 1e6:.1f} MB), median of {args.repeat}"
    )
    print(f"  {', '.join(f'{k} {v:,}' for k, v in counts['new'].items() if k in _SHOWN)}")
    print(f"{'step':<24}{'reference s':>12}{'new s':>10}{'ratio':>8}")
    for name, label in STEPS:
        old, new = median("reference", name), median("new", name)
        ratio = f"{old / new:7.1f}x" if new > 0 else ""
        print(f"{label:<24}{old:>12.2f}{new:>10.2f}{ratio:>8}")
    old_total, new_total = median("reference"), median("new")
    print(f"{'total':<24}{old_total:>12.2f}{new_total:>10.2f}{old_total / new_total:>7.1f}x")
    peaks = {label: max(r[2] for r in runs[label]) / 2**20 for label in runs}
    print(f"{'peak memory growth MiB':<24}{peaks['reference']:>12.0f}{peaks['new']:>10.0f}")
    print(f"(earlier measured baseline of the reference importer: {OLD_BASELINE_S} s)")


_SHOWN = {
    "objects read",
    "road ways",
    "schools",
    "streets (named roads)",
    "house numbers",
    "house numbers given the nearest road's street",
}


if __name__ == "__main__":
    main()
