"""Load benchmark: the real service (several workers) under parents' first-hour traffic.

Starts `schoolmap serve` on loopback against a private database holding the demo city, opens
a grade-1 round, signs in one parent account per client, then drives a mix of public map
requests, "schools near my home" queries and application submissions (some sent twice with
the same Idempotency-Key, as a retrying phone would) at rising concurrency, each for a bounded
time. It prints throughput and p50/p95/p99 latency per request kind, then checks that every
acknowledged submission is in the database exactly once and no retried key made a second one.

    .venv/bin/python benchmarks/load.py                    # 1, 10, 25, 50 clients, 20 s each
    .venv/bin/python benchmarks/load.py --clients 50 --seconds 30 --workers 2

DATABASE_URL names the server; the database `schoolmap_load` on it is dropped and recreated.
Map data © OpenStreetMap contributors (the demo city is synthetic).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import psycopg2
import uvloop
from psycopg2 import sql
from psycopg2.extensions import make_dsn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_client import Answer, HttpError  # noqa: E402
from benchmarks.http_client import Connection as HttpConnection  # noqa: E402
from gis_service.admissions.lifecycle import set_round_status  # noqa: E402
from gis_service.admissions.rounds import create_round  # noqa: E402
from gis_service.auth.roles import PARENT  # noqa: E402
from gis_service.auth.users import create_user  # noqa: E402
from gis_service.db.connection import Connection, connect  # noqa: E402
from gis_service.db.local_server import ensure_database  # noqa: E402
from gis_service.db.migrate import upgrade  # noqa: E402

PASSWORD = "tai-tro-tai-khoan-2025"
SCHOOL_YEAR = "2025-2026"
DEMO_DISTRICT = "901"
# Share of requests per kind; a retry re-sends an acknowledged submission with its key.
MIX = {"map": 0.35, "near": 0.35, "submit": 0.30}
RETRY_SHARE = 0.1
REQUEST_TIMEOUT_S = 30.0
KINDS = ("map", "near", "submit", "retry")


@dataclass(frozen=True)
class Home:
    """A demo household's home and a grade-1 birth date."""

    lon: float
    lat: float
    birth_date: str


@dataclass(frozen=True)
class Parent:
    """A signed-in parent account."""

    user_id: int
    token: str


@dataclass(frozen=True)
class Ack:
    """A submission the service acknowledged (201): its key and the application it made."""

    user_id: int
    idempotency_key: str
    application_id: int


@dataclass(frozen=True)
class City:
    """What the public map of the city asks about: its extent and its schools."""

    bbox: tuple[float, float, float, float]
    school_ids: tuple[int, ...]


@dataclass
class Tally:
    """What one load step saw: latencies per kind, statuses, acknowledgements."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    acks: list[Ack] = field(default_factory=list)
    attempted: set[tuple[int, str]] = field(default_factory=set)
    replay_mismatches: int = 0
    transport_errors: int = 0


# ----------------------------------------------------------------- database and service set-up


def load_city(url: str, home: Path, modes: Sequence[str] = ("motorbike", "walk")) -> None:
    """A fresh migrated database holding the demo city and the road networks of `modes`."""
    from gis_service.demo import load_demo_city
    from gis_service.importers.report import no_progress
    from gis_service.routing.profiles import default_profile
    from gis_service.routing.store import build_and_store

    ensure_database(url)
    conn = connect(url)
    try:
        upgrade(conn)
        load_demo_city(conn, home / "demo", progress=no_progress)
        for mode in modes:
            build_and_store(conn, default_profile(mode), home, progress=no_progress)
        conn.commit()
    finally:
        conn.close()


def recreate(url: str) -> None:
    """Drop the URL's database so it is built again from nothing."""
    dbname = psycopg2.extensions.parse_dsn(url)["dbname"]
    admin = psycopg2.connect(make_dsn(url, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
    admin.close()


def open_round(conn: Connection, name: str) -> int:
    """A grade-1 round over the demo's first district, open for applications."""
    made = create_round(
        conn, name=name, grade=1, school_year=SCHOOL_YEAR, districts=[DEMO_DISTRICT]
    )
    set_round_status(conn, made.round_id, "open")
    conn.commit()
    return made.round_id


def create_parents(conn: Connection, count: int, prefix: str) -> list[str]:
    """`count` parent accounts; returns their usernames."""
    names = [f"{prefix}{i:04d}" for i in range(count)]
    for name in names:
        create_user(conn, username=name, password=PASSWORD, role=PARENT)
    conn.commit()
    return names


def read_homes(home: Path) -> list[Home]:
    """The demo households' homes, with birth dates fit for grade 1 in 2025."""
    with open(home / "demo" / "households.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    homes = [
        Home(float(r["lon"]), float(r["lat"]), r["birth_date"])
        for r in rows
        if r["birth_date"].startswith("2019")
    ]
    if not homes:
        raise SystemExit(f"no grade-1 households in {home / 'demo' / 'households.csv'}")
    return homes


def sign_in(base: str, usernames: Iterable[str]) -> list[Parent]:
    """Log every parent in through the API."""
    parents = []
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        for name in usernames:
            answer = client.post("/auth/login", json={"username": name, "password": PASSWORD})
            answer.raise_for_status()
            token = answer.json()["access_token"]
            me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            me.raise_for_status()
            parents.append(Parent(int(me.json()["id"]), token))
    return parents


@contextmanager
def serving(
    url: str, home: Path, port: int, workers: int, pool_max: int = 10
) -> Iterator[subprocess.Popen[bytes]]:
    """`schoolmap serve` on 127.0.0.1:port with `workers` processes, until the block ends."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SCHOOLMAP_HOME": str(home),
        "SCHOOLMAP_DB_POOL_MAX": str(pool_max),
    }
    log = open(home / f"serve-{port}.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "schoolmap"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_healthy(
            f"http://127.0.0.1:{port}", process, home / f"serve-{port}.log", workers=workers
        )
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` (each worker has its own, SO_REUSEPORT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def wait_until_healthy(
    base: str,
    process: subprocess.Popen[bytes],
    log: Path,
    timeout_s: float = 90,
    workers: int = 1,
) -> None:
    """Poll /health until it answers 200 and every worker listens (a worker still starting
    takes no connections, so the first would get them all); fail with the server's log if
    that never happens."""
    deadline = time.monotonic() + timeout_s
    port = int(base.rsplit(":", 1)[1])
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited ({process.returncode}):\n{log.read_text()}")
        try:
            healthy = httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and listening_sockets(port) >= workers:
            return
        time.sleep(0.3)
    raise RuntimeError(f"the service did not become healthy in {timeout_s} s:\n{log.read_text()}")


# ----------------------------------------------------------------------------- the traffic


def child_code(rng: random.Random) -> str:
    """A fresh 12-character identity code (the real ones are 12 digits)."""
    return "".join(rng.choice("0123456789") for _ in range(12))


def application_body(home: Home, rng: random.Random) -> dict[str, object]:
    """An application for a new child at a demo home, jittered a few metres."""
    return {
        "child_id": child_code(rng),
        "birth_date": home.birth_date,
        "lon": round(home.lon + rng.uniform(-2e-4, 2e-4), 7),
        "lat": round(home.lat + rng.uniform(-2e-4, 2e-4), 7),
    }


async def one_client(
    client: HttpConnection,
    parent: Parent,
    round_id: int,
    homes: Sequence[Home],
    city: City,
    stop_at: float,
    rng: random.Random,
    tally: Tally,
    mix: Mapping[str, float] = MIX,
) -> None:
    """Send requests back to back on one kept-alive connection until `stop_at`, recording each."""
    auth = {"Authorization": f"Bearer {parent.token}"}
    kinds = list(mix)
    weights = [mix[k] for k in kinds]
    sent: list[tuple[str, dict[str, object], int]] = []
    while time.monotonic() < stop_at:
        kind = rng.choices(kinds, weights)[0]
        if kind == "submit" and sent and rng.random() < RETRY_SHARE:
            kind = "retry"
        home = rng.choice(homes)
        started = time.perf_counter()
        try:
            if kind == "map":
                answer = await map_request(client, city, rng)
            elif kind == "near":
                answer = await client.request(
                    "GET",
                    "/schools/near",
                    params={"lat": home.lat, "lon": home.lon, "level": "tieu_hoc", "limit": 5},
                )
            else:
                if kind == "retry":
                    key, body, first_id = rng.choice(sent)
                else:
                    key, body, first_id = str(uuid.uuid4()), application_body(home, rng), 0
                    tally.attempted.add((parent.user_id, key))
                answer = await client.request(
                    "POST",
                    f"/rounds/{round_id}/applications",
                    json_body=body,
                    headers={**auth, "Idempotency-Key": key},
                )
                if answer.status == 201:
                    app_id = int(answer.json()["id"])
                    if kind == "retry" and app_id != first_id:
                        tally.replay_mismatches += 1
                    if kind == "submit":
                        tally.acks.append(Ack(parent.user_id, key, app_id))
                        sent.append((key, body, app_id))
        except HttpError:
            tally.transport_errors += 1
            tally.statuses[kind][0] += 1
            continue
        tally.latencies[kind].append(time.perf_counter() - started)
        tally.statuses[kind][answer.status] += 1


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The Web Mercator tile x, y holding a point at a zoom."""
    side = 1 << zoom
    x = int((lon + 180.0) / 360.0 * side)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * side)
    return min(max(x, 0), side - 1), min(max(y, 0), side - 1)


async def map_request(client: HttpConnection, city: City, rng: random.Random) -> Answer:
    """One request of the public map page, as the web app makes them: a vector tile of the
    city at a zoom a parent looks at, a school's card, or the list of all schools (loaded
    once per page)."""
    choice = rng.random()
    if choice < 0.5:
        zoom = rng.randint(12, 16)
        min_lon, min_lat, max_lon, max_lat = city.bbox
        x, y = tile_of(rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat), zoom)
        return await client.request("GET", f"/tiles/{zoom}/{x}/{y}.pbf")
    if choice < 0.85:
        return await client.request("GET", f"/schools/{rng.choice(city.school_ids)}")
    return await client.request("GET", "/schools", params={"limit": 5000})


async def drive(
    base: str,
    parents: Sequence[Parent],
    round_id: int,
    homes: Sequence[Home],
    city: City,
    seconds: float,
    seed: int,
    mix: Mapping[str, float] = MIX,
) -> tuple[Tally, float]:
    """Run one client (one kept-alive connection) per parent for `seconds`; returns the tally
    and the wall time."""
    tally = Tally()
    address = urlsplit(base)
    clients = [
        HttpConnection(address.hostname or "127.0.0.1", address.port or 80, REQUEST_TIMEOUT_S)
        for _ in parents
    ]
    started = time.monotonic()
    stop_at = started + seconds
    try:
        await asyncio.gather(
            *(
                one_client(
                    clients[i],
                    p,
                    round_id,
                    homes,
                    city,
                    stop_at,
                    random.Random(seed * 1000 + i),
                    tally,
                    mix,
                )
                for i, p in enumerate(parents)
            )
        )
        wall = time.monotonic() - started
    finally:
        for client in clients:
            await client.close()
    return tally, wall


def drive_step(
    base: str,
    parents: Sequence[Parent],
    round_id: int,
    homes: Sequence[Home],
    city: City,
    seconds: float,
    seed: int,
    mix: Mapping[str, float] = MIX,
) -> tuple[Tally, float]:
    """`drive` on uvloop, the event loop the service itself runs on."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(drive(base, parents, round_id, homes, city, seconds, seed, mix))


# ------------------------------------------------------------------------------ the checks


def check_no_loss(conn: Connection, round_id: int, acks: Sequence[Ack]) -> list[str]:
    """Problems with the acknowledged submissions; empty when none was lost or duplicated.

    Every acknowledged submission must be stored exactly once, under its own key, as the
    application the acknowledgement named; no key may hold two applications.
    """
    problems = []
    with conn.cursor() as cur:
        cur.execute(
            "SELECT idempotency_key, id FROM applications "
            "WHERE round_id = %s AND idempotency_key IS NOT NULL",
            (round_id,),
        )
        stored: dict[str, list[int]] = defaultdict(list)
        for key, app_id in cur.fetchall():
            stored[key].append(int(app_id))
    acked_ids: dict[int, str] = {}
    for ack in acks:
        key = f"{ack.user_id}:{ack.idempotency_key}"
        rows = stored.get(key, [])
        if not rows:
            problems.append(f"lost: application {ack.application_id} (key {key}) is not stored")
        elif len(rows) > 1:
            problems.append(f"duplicated: key {key} holds applications {rows}")
        elif rows[0] != ack.application_id:
            problems.append(
                f"wrong: key {key} was acknowledged as {ack.application_id}, stored as {rows[0]}"
            )
        if ack.application_id in acked_ids and acked_ids[ack.application_id] != key:
            problems.append(
                f"duplicated: application {ack.application_id} acknowledged for two keys"
            )
        acked_ids[ack.application_id] = key
    return problems


def check_no_phantoms(
    conn: Connection, round_id: int, attempted: set[tuple[int, str]]
) -> list[str]:
    """Problems if the round holds an online application no client ever sent."""
    wanted = {f"{user}:{key}" for user, key in attempted}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT idempotency_key FROM applications "
            "WHERE round_id = %s AND idempotency_key IS NOT NULL",
            (round_id,),
        )
        extra = [key for (key,) in cur.fetchall() if key not in wanted]
    return [f"phantom: application under key {key} was never sent" for key in extra]


# ------------------------------------------------------------------------------ the report


def percentile_ms(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1000) if values else float("nan")


def table(clients: int, tally: Tally, wall: float) -> list[str]:
    """Rows of the results table for one concurrency step."""
    rows = []
    for kind in KINDS:
        lat = tally.latencies.get(kind, [])
        statuses = tally.statuses.get(kind, {})
        total = sum(statuses.values())
        if not total:
            continue
        ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
        bad = ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()) if not 200 <= s < 300)
        rows.append(
            f"{clients:>7} {kind:<7} {total:>7} {ok / wall:>8.1f} "
            f"{percentile_ms(lat, 50):>7.1f} {percentile_ms(lat, 95):>7.1f} "
            f"{percentile_ms(lat, 99):>7.1f}  {bad or '-'}"
        )
    return rows


HEADER = (
    f"{'clients':>7} {'kind':<7} {'sent':>7} {'ok/s':>8} "
    f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  errors"
)


def read_city(conn: Connection) -> City:
    """The extent of the city's schools and their ids."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom) AS e FROM schools) s"
        )
        row = cur.fetchone()
        cur.execute("SELECT id FROM schools ORDER BY id")
        ids = tuple(int(r[0]) for r in cur.fetchall())
    assert row is not None and ids, "the city has no schools"
    return City((float(row[0]), float(row[1]), float(row[2]), float(row[3])), ids)


@dataclass
class Outcome:
    """What a load run left: where, which round, what was sent and acknowledged, problems."""

    url: str
    round_id: int
    acks: list[Ack]
    attempted: set[tuple[int, str]]
    problems: list[str]


def run_load(
    url: str,
    home: Path,
    clients: Sequence[int],
    seconds: float,
    *,
    workers: int = 2,
    pool_max: int = 10,
    port: int = 8106,
    seed: int = 2025,
    mix: Mapping[str, float] = MIX,
) -> Outcome:
    """Build the database, serve it, drive each concurrency step, print the table, check."""
    shares = ", ".join(f"{kind} {weight / sum(mix.values()):.0%}" for kind, weight in mix.items())
    print(f"database {url}, home {home}, {workers} workers, port {port}; mix: {shares}")
    started = time.monotonic()
    recreate(url)
    load_city(url, home)
    conn = connect(url)
    try:
        round_id = open_round(conn, "Tải thử / load test")
        usernames = create_parents(conn, max(clients), "phuhuynh")
        city = read_city(conn)
    finally:
        conn.close()
    homes = read_homes(home)
    print(
        f"set-up {time.monotonic() - started:.1f} s: demo city, round {round_id}, "
        f"{len(usernames)} parents, {len(homes)} grade-1 homes"
    )
    base = f"http://127.0.0.1:{port}"
    acks: list[Ack] = []
    attempted: set[tuple[int, str]] = set()
    mismatches = server_errors = 0
    print(f"\n{HEADER}", flush=True)
    with serving(url, home, port, workers, pool_max):
        parents = sign_in(base, usernames)
        for step, count in enumerate(clients):
            tally, wall = drive_step(
                base, parents[:count], round_id, homes, city, seconds, seed + step, mix
            )
            for row in table(count, tally, wall):
                print(row, flush=True)
            acks += tally.acks
            attempted |= tally.attempted
            mismatches += tally.replay_mismatches
            server_errors += sum(
                n for kind in tally.statuses.values() for s, n in kind.items() if s >= 500
            )
    conn = connect(url)
    try:
        problems = check_no_loss(conn, round_id, acks) + check_no_phantoms(
            conn, round_id, attempted
        )
    finally:
        conn.close()
    if mismatches:
        problems.append(f"{mismatches} retries answered with a different application")
    if server_errors:
        problems.append(f"{server_errors} requests answered with a server error (5xx)")
    print(
        f"\nacknowledged submissions: {len(acks)}; sent: {len(attempted)}; "
        f"problems: {len(problems)}"
    )
    for problem in problems[:20]:
        print(f"  {problem}")
    print("no submission lost or duplicated, no server error" if not problems else "PROBLEMS")
    return Outcome(url, round_id, acks, attempted, problems)


def parse_mix(text: str) -> dict[str, float]:
    """'kind=weight,…' over the kinds map, near and submit, weights positive."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in MIX:
            raise argparse.ArgumentTypeError(f"unknown kind {kind!r}; kinds are {', '.join(MIX)}")
        try:
            mix[kind] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not kind=weight") from None
        if not mix[kind] > 0:
            raise argparse.ArgumentTypeError(f"the weight of {kind} must be positive")
    return mix


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 25, 50])
    parser.add_argument("--seconds", type=float, default=20.0, help="per concurrency step")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-max", type=int, default=10, help="connections per worker")
    parser.add_argument("--port", type=int, default=8106)
    parser.add_argument("--database", default="schoolmap_load")
    parser.add_argument("--home", type=Path, help="SCHOOLMAP_HOME (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=MIX,
        help="request kinds and their weights, e.g. submit=1 or map=35,near=35,submit=30",
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600 or max(args.clients) > 200:
        parser.error("keep it bounded: at most 600 s per step and 200 clients")
    base_url = (
        os.environ.get("DATABASE_URL") or "postgresql://root@/postgres?host=/var/run/postgresql"
    )
    outcome = run_load(
        make_dsn(base_url, dbname=args.database),
        args.home or Path(tempfile.mkdtemp(prefix="schoolmap-load-")),
        args.clients,
        args.seconds,
        workers=args.workers,
        pool_max=args.pool_max,
        port=args.port,
        seed=args.seed,
        mix=args.mix,
    )
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
