"""Public reads from a streaming replica: a real primary and hot standby (pg_basebackup -R)
on free ports; public answers come from the standby and keep to its data version, a parent's
own application from the primary at once, and reads carry on from the primary while the
standby is down, then go back to it."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse

from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.api.app import create_app
from gis_service.api.deps import PRIMARY_ONLY, REPLICA_LOST, RetryOnPrimary
from gis_service.auth.users import create_user
from gis_service.config import DatabaseSettings, SecuritySettings, Settings
from gis_service.db.connection import connect
from gis_service.db.local_server import (
    _find_bindir,
    _is_root,
    _run_as_prefix,
    _server_user_ids,
    ensure_database,
)
from gis_service.db.migrate import upgrade_database
from gis_service.db.replica import REPLICA_APPLICATION, ReadReplica
from gis_service.demo import load_demo_city
from gis_service.importers.report import no_progress
from tests.test_api_applications import point_in

PASSWORD = "mật-khẩu-đủ-dài-2025"
WAIT_S = 20.0
# Public reads tried while the standby is down or back: each must answer, none with a 5xx.
PUBLIC_READS = (
    "/schools?limit=5",
    "/wards?limit=5",
    "/tiles/12/3258/1911.pbf",
    "/open-data/schools?format=csv",
    "/collections",
    "/planning/years",
    "/zones?grade=1",
    "/geocode?q=12 Đường Số 3",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """One PostgreSQL server of the test, run by the user PostgreSQL accepts (never root)."""

    bindir: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/schoolmap"

    def run(self, *args: str) -> None:
        result = subprocess.run(
            [*_run_as_prefix(), *args], cwd=self.data.parent, capture_output=True, text=True
        )
        if result.returncode != 0:
            log = self.data.with_suffix(".log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{shlex.join(args)} failed: {result.stderr}\n{tail}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {shlex.quote(str(self.data.parent))} "
            "-c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=replica "
            "-c max_wal_senders=4 -c wal_receiver_status_interval=1"
        )
        log = str(self.data.with_suffix(".log"))
        pg_ctl = str(self.bindir / "pg_ctl")
        self.run(pg_ctl, "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def query(self, sql: str, *args: object) -> Any:
        """The first value of one statement's first row, run in its own connection."""
        conn = psycopg2.connect(self.url, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, args)
                row = cur.fetchone() if cur.description else None
            return None if row is None else row[0]
        finally:
            conn.close()


@dataclass
class Pair:
    """A primary holding the demo city and its hot standby."""

    primary: Cluster
    standby: Cluster
    home: Path

    def caught_up(self) -> None:
        """Wait until the standby has replayed everything the primary has written."""
        lsn = self.primary.query("SELECT pg_current_wal_lsn()::text")
        wait_for(
            lambda: self.standby.query("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn),
            "the standby to catch up",
        )

    def pause_replay(self) -> None:
        self.standby.query("SELECT pg_wal_replay_pause()")
        wait_for(
            lambda: self.standby.query("SELECT pg_get_wal_replay_pause_state()") == "paused",
            "replay to pause",
        )

    def resume_replay(self) -> None:
        self.standby.query("SELECT pg_wal_replay_resume()")


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    bindir = _find_bindir()
    assert bindir is not None, "PostgreSQL's initdb and pg_ctl are needed (scripts/setup.sh)"
    assert (bindir / "pg_basebackup").is_file(), f"no pg_basebackup in {bindir}"
    base = Path(tempfile.mkdtemp(prefix="schoolmap-replica-"))
    started: list[Cluster] = []
    try:
        if _is_root():
            # The servers run as the postgres user: the folder is theirs.
            base.chmod(0o755)
            uid, gid = _server_user_ids()
            shutil.chown(base, uid, gid)
        primary = Cluster(bindir, base / "primary", _free_port())
        primary.run(
            str(bindir / "initdb"),
            "-D",
            str(primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        primary.start()
        started.append(primary)
        standby = Cluster(bindir, base / "standby", _free_port())
        primary.run(
            str(bindir / "pg_basebackup"),
            "-D",
            str(standby.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
        )
        standby.start()
        started.append(standby)
        ensure_database(primary.url)
        upgrade_database(primary.url)
        home = base / "home"
        conn = connect(primary.url)
        try:
            load_demo_city(conn, home / "demo", progress=no_progress)
            conn.commit()
        finally:
            conn.close()
        made = Pair(primary, standby, home)
        made.caught_up()
        yield made
    finally:
        for cluster in reversed(started):
            if cluster.is_running():
                with contextlib.suppress(RuntimeError):
                    cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def client(pair: Pair) -> Iterator[TestClient]:
    settings = Settings(
        database=DatabaseSettings(
            url=pair.primary.url,
            read_url=pair.standby.url,
            home=pair.home,
            pool_max=4,
            read_retry_s=0.5,
        ),
        security=SecuritySettings(secret_key="replica-test-key"),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def replica_of(client: TestClient) -> ReadReplica:
    app: Any = client.app
    replica: ReadReplica = app.state.read_replica
    return replica


def on_primary(pair: Pair, sql: str, *args: object) -> Any:
    """Run one statement on the primary and commit it."""
    return pair.primary.query(sql, *args)


def school_name(client: TestClient, school_id: int) -> str:
    answer = client.get(f"/schools/{school_id}")
    assert answer.status_code == 200, answer.text
    name: str = answer.json()["properties"]["name"]
    return name


def rename(pair: Pair, school_id: int, name: str) -> None:
    on_primary(pair, "UPDATE schools SET name = %s WHERE id = %s", name, school_id)


def first_school(pair: Pair) -> int:
    return int(on_primary(pair, "SELECT min(id) FROM schools"))


def test_public_reads_come_from_the_standby_and_a_parents_application_from_the_primary(
    pair: Pair, client: TestClient
) -> None:
    school = first_school(pair)
    before = school_name(client, school)
    # Only the standby's own connections can be there: the primary's pool never connects to it.
    assert pair.standby.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", REPLICA_APPLICATION
    )
    assert not pair.primary.query(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", REPLICA_APPLICATION
    )
    pair.pause_replay()
    try:
        rename(pair, school, "Trường chỉ có trên máy chính")
        primary_version = on_primary(pair, "SELECT version FROM public_data_version")
        standby_version = pair.standby.query("SELECT version FROM public_data_version")
        assert primary_version > standby_version
        # The primary holds the new name; the paused standby does not: the answer is the
        # standby's, kept under the standby's version (its ETag), not the primary's.
        for path in (f"/schools/{school}", f"/schools?q={before}&limit=5"):
            answer = client.get(path)
            assert answer.status_code == 200, answer.text
            assert "chỉ có trên máy chính" not in answer.text
            assert answer.headers["etag"] == f'W/"{standby_version}"'
        assert school_name(client, school) == before
        for path in PUBLIC_READS:
            answer = client.get(path)
            assert answer.status_code < 500, (path, answer.status_code, answer.text)

        # A parent's application is written to and read from the primary: seen at once,
        # though the standby has not replayed it.
        conn = connect(pair.primary.url)
        try:
            made = create_round(
                conn, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901"]
            )
            set_round_status(conn, made.round_id, "open")
            create_user(conn, username="me.an", password=PASSWORD, role="parent")
            lon, lat = point_in(conn, "901")
            conn.commit()
        finally:
            conn.close()
        login = client.post("/auth/login", json={"username": "me.an", "password": PASSWORD})
        assert login.status_code == 200, login.text
        parent = {"Authorization": f"Bearer {login.json()['access_token']}"}
        body = {"child_id": "079219000001", "birth_date": "2019-06-01", "lon": lon, "lat": lat}
        submitted = client.post(
            f"/rounds/{made.round_id}/applications",
            json=body,
            headers={**parent, "Idempotency-Key": "replica-1"},
        )
        assert submitted.status_code == 201, submitted.text
        mine = client.get("/applications", headers=parent)
        assert mine.status_code == 200, mine.text
        application_id = submitted.json()["id"]
        assert [a["id"] for a in mine.json()] == [application_id]
        one = client.get(f"/applications/{application_id}", headers=parent)
        assert one.status_code == 200 and one.json()["id"] == application_id
        assert not pair.standby.query("SELECT count(*) FROM applications")
    finally:
        pair.resume_replay()
    # Once the standby replays the change, its version moves and the answer is made again.
    wait_for(
        lambda: school_name(client, school) == "Trường chỉ có trên máy chính",
        "the replayed name",
    )
    rename(pair, school, before)
    pair.caught_up()


def test_reads_go_to_the_primary_while_the_standby_is_down_and_back_once_it_answers(
    pair: Pair, client: TestClient
) -> None:
    school = first_school(pair)
    replica = replica_of(client)
    assert school_name(client, school) == pair.standby.query(
        "SELECT name FROM schools WHERE id = %s", school
    )
    failures = replica.failures
    pair.standby.stop()
    try:
        rename(pair, school, "Trường khi máy phụ tắt")
        for path in (f"/schools/{school}", *PUBLIC_READS):
            started = time.monotonic()
            answer = client.get(path)
            assert answer.status_code < 500, (path, answer.status_code, answer.text)
            assert time.monotonic() - started < 3.0, f"{path} waited on the dead standby"
        assert school_name(client, school) == "Trường khi máy phụ tắt"  # the primary's
        assert replica.failures > failures
        time.sleep(replica.retry_after_s)  # the standby is tried again, and is still down
        assert school_name(client, school) == "Trường khi máy phụ tắt"
    finally:
        pair.standby.start()
    pair.caught_up()
    pair.pause_replay()
    try:
        rename(pair, school, "Trường chỉ có trên máy chính")
        # Within a retry interval the standby is asked again, and its (older) name is the
        # answer: reads are back on it.
        wait_for(
            lambda: school_name(client, school) == "Trường khi máy phụ tắt",
            "reads to return to the standby",
            timeout_s=5 * replica.retry_after_s + 5,
        )
        for path in PUBLIC_READS:
            answer = client.get(path)
            assert answer.status_code < 500, (path, answer.status_code, answer.text)
    finally:
        pair.resume_replay()


def test_a_read_the_replica_dropped_part_way_is_answered_again_from_the_primary() -> None:
    """The replica's connection lost mid-request: the 503 it caused is never sent; the request
    is run again with its reads on the primary."""
    runs: list[bool] = []
    app = FastAPI()

    @app.get("/schools")
    def schools(request: Request) -> JSONResponse:
        state = request.scope["state"]
        runs.append(bool(state.get(PRIMARY_ONLY)))
        if not state.get(PRIMARY_ONLY):
            state[REPLICA_LOST] = True
            return JSONResponse({"detail": "the database is unavailable"}, status_code=503)
        return JSONResponse({"from": "primary"})

    @app.post("/schools")
    def write(request: Request) -> JSONResponse:
        request.scope["state"][REPLICA_LOST] = True
        return JSONResponse({"detail": "the database is unavailable"}, status_code=503)

    app.add_middleware(RetryOnPrimary)
    with TestClient(app) as test_client:
        answer = test_client.get("/schools")
        assert answer.status_code == 200 and answer.json() == {"from": "primary"}
        assert runs == [False, True]
        # Only reads are answered again; a write's error is the client's to see.
        assert test_client.post("/schools").status_code == 503


def test_a_replica_connection_lost_part_way_is_answered_from_the_primary(
    pair: Pair, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replica's pooled connections die in a way the pool cannot see before it lends one
    (here: its liveness check is made to pass); the request's query fails on the replica, and
    the answer still comes, from the primary."""
    school = first_school(pair)
    replica = replica_of(client)
    wait_for(replica.answering, "the replica to be tried again")
    assert client.get(f"/schools/{school}?warm=1").status_code == 200
    monkeypatch.setattr("gis_service.db.connection.looks_alive", lambda conn: True)
    ended = pair.standby.query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
        REPLICA_APPLICATION,
    )
    assert ended
    wait_for(
        lambda: (
            not pair.standby.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                REPLICA_APPLICATION,
            )
        ),
        "the replica's connections to end",
    )
    failures = replica.failures
    answer = client.get(f"/schools/{school}?part-way=1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["properties"]["name"] == pair.primary.query(
        "SELECT name FROM schools WHERE id = %s", school
    )
    assert replica.failures > failures
