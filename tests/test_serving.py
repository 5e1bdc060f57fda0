"""The served app under many connections at once: workers share them, and requests waiting for
a database connection never starve the requests that hold one."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.http_client import Connection as HttpConnection
from benchmarks.load import serving

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]


async def open_and_ask(port: int, count: int, path: str) -> list[int]:
    """Open `count` kept-alive connections at once; each sends one request; statuses."""
    clients = [HttpConnection("127.0.0.1", port, 60.0) for _ in range(count)]
    try:
        answers = await asyncio.gather(*(c.request("GET", path) for c in clients))
        return [a.status for a in answers]
    finally:
        for client in clients:
            await client.close()


def established_by_process(port: int) -> Counter[int]:
    """How many established connections to `port` each server process holds."""
    listing = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    owners: Counter[int] = Counter()
    for line in listing.splitlines():
        if "pid=" in line:
            owners[int(line.split("pid=")[1].split(",")[0])] += 1
    return owners


def test_two_workers_share_connections_opened_all_at_once(
    demo_db_url: str, demo_home: Path
) -> None:
    port = 8121
    count = 40

    async def hold_open() -> Counter[int]:
        clients = [HttpConnection("127.0.0.1", port, 60.0) for _ in range(count)]
        try:
            answers = await asyncio.gather(*(c.request("GET", "/schools?limit=1") for c in clients))
            assert [a.status for a in answers] == [200] * count
            return established_by_process(port)
        finally:
            for client in clients:
                await client.close()

    with serving(demo_db_url, demo_home, port, workers=2):
        # Workers sharing one socket give all 40 to one worker about one time in three.
        spreads = [asyncio.run(hold_open()) for _ in range(4)]
    for owners in spreads:
        assert sum(owners.values()) == count, owners
        assert len(owners) == 2, f"one worker holds every connection: {spreads}"
        # The kernel hashes connections over the two workers' sockets: 40 coin flips.
        assert min(owners.values()) >= 8, spreads


def test_requests_beyond_the_pool_and_the_threads_wait_their_turn(
    demo_db_url: str, demo_home: Path
) -> None:
    """60 requests at once, 2 database connections, 40 worker threads: each is answered.

    Were a request to wait for its connection inside a worker thread, 40 waiters would hold
    every thread while the 2 requests holding connections waited for one, and all would stop
    until the pool's 10 s wait ran out and answered 503.
    """
    port = 8122
    with serving(demo_db_url, demo_home, port, workers=1, pool_max=2):
        statuses = asyncio.run(open_and_ask(port, 60, "/schools?limit=5"))
    assert Counter(statuses) == Counter({200: 60})


def test_serve_says_so_when_the_port_is_taken(demo_db_url: str, demo_home: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "schoolmap"), "serve", "--workers=2", f"--port={port}"],
            env={**os.environ, "DATABASE_URL": demo_db_url, "SCHOOLMAP_HOME": str(demo_home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
