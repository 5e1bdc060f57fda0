"""Faults on the real service: the database restarting under traffic, a worker killed, and an
allocation run killed half-way, on a PostgreSQL cluster this module starts and stops itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from benchmarks.load import (
    Ack,
    application_body,
    check_no_loss,
    check_no_phantoms,
    create_parents,
    load_city,
    open_round,
    read_homes,
    serving,
    sign_in,
)
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.identity import installation_key
from gis_service.admissions.lifecycle import set_round_status
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import connect
from gis_service.db.local_server import resolve_database_url, stop_owned_server
from gis_service.importers.report import no_progress

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_PORT = 54401
# Nothing listens here, so the cluster of this module is the one started, never the machine's.
UNUSED_LOCAL_PORT = 54402
HTTP_PORT = 8105
BASE = f"http://127.0.0.1:{HTTP_PORT}"
# A request must be answered within this bound, database or not; a hang fails the test.
REQUEST_BOUND_S = 15.0

pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class OwnCluster:
    """A PostgreSQL cluster started by this module, holding the demo city."""

    settings: DatabaseSettings
    url: str
    home: Path

    def stop(self) -> None:
        assert stop_owned_server(self.settings)

    def start(self) -> None:
        assert resolve_database_url(self.settings) == self.url


@pytest.fixture(scope="module")
def cluster() -> Iterator[OwnCluster]:
    # The server runs as the postgres user, which must reach the folder: not pytest's 0700 one.
    home = Path(tempfile.mkdtemp(prefix="schoolmap-faults-"))
    home.chmod(0o755)
    settings = DatabaseSettings(
        url=None,
        name="schoolmap_faults",
        local_port=UNUSED_LOCAL_PORT,
        owned_port=CLUSTER_PORT,
        home=home,
    )
    try:
        url = resolve_database_url(settings)
        assert f"port={CLUSTER_PORT}" in url and str(home) in url
        load_city(url, home, modes=("motorbike",))
        yield OwnCluster(settings, url, home)
    finally:
        stop_owned_server(settings)
        shutil.rmtree(home, ignore_errors=True)


def counts(url: str, round_id: int) -> tuple[int, int]:
    """(allocation runs, assignments) stored for a round."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM allocation_runs WHERE round_id = %s), "
                "(SELECT count(*) FROM assignments a JOIN allocation_runs r ON r.id = a.run_id "
                "WHERE r.round_id = %s)",
                (round_id, round_id),
            )
            runs, assignments = cur.fetchone()  # type: ignore[misc]
    finally:
        conn.close()
    return int(runs), int(assignments)


def assert_database_away(answer: httpx.Response) -> None:
    """A 503 telling, in Vietnamese and English, that the database is away, and to retry."""
    assert answer.status_code == 503, answer.text
    detail = answer.json()["detail"]
    assert "Cơ sở dữ liệu tạm thời không truy cập được" in detail
    assert "the database is unavailable for now; retry" in detail
    assert answer.headers["retry-after"] == "5"


class Submitter(threading.Thread):
    """Submits applications back to back, keeping what was acknowledged and every status."""

    def __init__(self, token: str, user_id: int, round_id: int, home: Path) -> None:
        super().__init__(daemon=True)
        self.token, self.user_id, self.round_id = token, user_id, round_id
        self.homes = read_homes(home)
        self.acks: list[Ack] = []
        self.statuses: list[int] = []
        self.sent: set[tuple[int, str]] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        import random

        rng = random.Random(self.user_id)
        pending: tuple[str, dict[str, object]] | None = None
        with httpx.Client(base_url=BASE, timeout=REQUEST_BOUND_S) as client:
            while not self.halt.is_set():
                # A request that got no answer is sent again with its key, as a phone would.
                key, body = pending or (
                    str(uuid.uuid4()),
                    application_body(rng.choice(self.homes), rng),
                )
                try:
                    answer = client.post(
                        f"/rounds/{self.round_id}/applications",
                        json=body,
                        headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
                    )
                except httpx.TransportError:
                    self.sent.add((self.user_id, key))
                    self.statuses.append(0)
                    pending = (key, body)
                    continue
                self.sent.add((self.user_id, key))
                pending = (key, body) if answer.status_code >= 500 else None
                self.statuses.append(answer.status_code)
                if answer.status_code == 201:
                    self.acks.append(Ack(self.user_id, key, int(answer.json()["id"])))
                time.sleep(0.02)


def poll(what: str, check: object, tries: int = 120, pause: float = 0.5) -> None:
    """Call `check` until it returns true, a bounded number of times."""
    assert callable(check)
    for _ in range(tries):
        if check():
            return
        time.sleep(pause)
    raise AssertionError(f"{what} did not happen after {tries} tries")


def test_database_restart_answers_503_then_recovers_with_no_submission_lost(
    cluster: OwnCluster,
) -> None:
    conn = connect(cluster.url)
    try:
        round_id = open_round(conn, "Sự cố CSDL / database restart")
        [username] = create_parents(conn, 1, "restart")
    finally:
        conn.close()
    home = read_homes(cluster.home)[0]
    near = {"lat": home.lat, "lon": home.lon, "level": "tieu_hoc", "limit": 3}
    with (
        serving(cluster.url, cluster.home, HTTP_PORT, workers=2),
        httpx.Client(base_url=BASE, timeout=REQUEST_BOUND_S) as client,
    ):
        [parent] = sign_in(BASE, [username])
        assert client.get("/schools/near", params=near).status_code == 200
        submitter = Submitter(parent.token, parent.user_id, round_id, cluster.home)
        submitter.start()
        poll("a first acknowledged submission", lambda: len(submitter.acks) >= 5)

        cluster.stop()
        # Several requests per worker: each must see the database gone, none may hang or 500.
        for _ in range(6):
            for path, params in (("/health", None), ("/schools", {"limit": 5}), ("/wards", None)):
                assert_database_away(client.get(path, params=params))
            assert_database_away(client.get("/schools/near", params=near))
        acked_while_down = len(submitter.acks)
        time.sleep(1.0)
        assert len(submitter.acks) == acked_while_down, "acknowledged with no database"

        cluster.start()
        poll("the service answering again", lambda: client.get("/health").status_code == 200)
        # Every worker recovers on its own: many requests in a row, all answered.
        for _ in range(20):
            assert client.get("/schools/near", params=near).status_code == 200
            assert client.get("/schools", params={"limit": 5}).status_code == 200
        poll("submissions acknowledged again", lambda: len(submitter.acks) > acked_while_down + 5)
        submitter.halt.set()
        submitter.join(timeout=REQUEST_BOUND_S + 5)

    assert set(submitter.statuses) <= {201, 503}, sorted(set(submitter.statuses))
    assert 503 in submitter.statuses
    conn = connect(cluster.url)
    try:
        assert check_no_loss(conn, round_id, submitter.acks) == []
        assert check_no_phantoms(conn, round_id, submitter.sent) == []
    finally:
        conn.close()


def worker_pids(supervisor: int) -> list[int]:
    """The uvicorn worker processes under the serve command's supervisor process."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    workers = []
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        # uvicorn starts workers with multiprocessing's spawn: their command names it.
        if b"spawn_main" in command:
            workers.append(int(pid))
    return workers


def test_a_killed_worker_does_not_stop_the_service_or_lose_a_submission(
    cluster: OwnCluster,
) -> None:
    conn = connect(cluster.url)
    try:
        round_id = open_round(conn, "Tiến trình bị dừng / killed worker")
        [username] = create_parents(conn, 1, "worker")
    finally:
        conn.close()
    with serving(cluster.url, cluster.home, HTTP_PORT, workers=2) as process:
        poll("two workers", lambda: len(worker_pids(process.pid)) == 2)
        [parent] = sign_in(BASE, [username])
        submitter = Submitter(parent.token, parent.user_id, round_id, cluster.home)
        submitter.start()
        poll("a first acknowledged submission", lambda: len(submitter.acks) >= 5)
        victim = worker_pids(process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        # Fresh connections each time, so the kernel hands them to whichever worker lives.
        for _ in range(20):
            answer = httpx.get(f"{BASE}/schools", params={"limit": 3}, timeout=REQUEST_BOUND_S)
            assert answer.status_code == 200
        poll(
            "the supervisor replacing the killed worker",
            lambda: len(worker_pids(process.pid)) == 2 and victim not in worker_pids(process.pid),
        )
        assert httpx.get(f"{BASE}/health", timeout=REQUEST_BOUND_S).status_code == 200
        acked = len(submitter.acks)
        poll("submissions acknowledged after the kill", lambda: len(submitter.acks) > acked + 5)
        submitter.halt.set()
        submitter.join(timeout=REQUEST_BOUND_S + 5)
    assert set(submitter.statuses) <= {0, 201}, sorted(set(submitter.statuses))
    conn = connect(cluster.url)
    try:
        assert check_no_loss(conn, round_id, submitter.acks) == []
        assert check_no_phantoms(conn, round_id, submitter.sent) == []
    finally:
        conn.close()


def run_transaction_state(url: str) -> str | None:
    """The state of the `schoolmap round run` connection, if it has one."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT state FROM pg_stat_activity WHERE application_name = 'schoolmap' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def stored_runs_are_whole(url: str, round_id: int) -> None:
    """Every stored run of the round has an assignment for each eligible applicant."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                SELECT r.id, (SELECT count(*) FROM assignments a WHERE a.run_id = r.id),
                       (SELECT count(*) FROM applications p
                        WHERE p.round_id = r.round_id AND p.status = 'eligible')
                FROM allocation_runs r WHERE r.round_id = %s
                """,
                (round_id,),
            )
            for run_id, assigned, eligible in cur.fetchall():
                assert assigned == eligible > 0, f"run {run_id}: {assigned} of {eligible}"
    finally:
        conn.close()


def run_command(round_id: int) -> list[str]:
    return [
        str(ROOT / ".venv/bin/schoolmap"),
        *("round", "run", str(round_id), "--mechanism", "da", "--seed", "7"),
    ]


def start_run(cluster: OwnCluster, round_id: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start `schoolmap round run`; return it once its transaction is open, and the time."""
    env = {**os.environ, "DATABASE_URL": cluster.url, "SCHOOLMAP_HOME": str(cluster.home)}
    run = subprocess.Popen(
        run_command(round_id), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # Looked for often (a short transaction on a fast machine) and long enough (a slow start on
    # a busy one).
    poll(
        "the run's transaction",
        lambda: run_transaction_state(cluster.url) == "idle in transaction",
        tries=6000,
        pause=0.005,
    )
    return run, time.monotonic()


def test_a_run_killed_half_way_leaves_no_partial_results(cluster: OwnCluster) -> None:
    conn = connect(cluster.url)
    try:
        round_id = open_round(conn, "Chạy bị dừng / killed run")
        key = installation_key(Settings(database=DatabaseSettings(home=cluster.home)))
        import_applicants(
            conn, round_id, cluster.home / "demo" / "households.csv", key, no_progress
        )
        set_round_status(conn, round_id, "closed")
        conn.commit()
    finally:
        conn.close()

    # A run left alone: how long its transaction stays open, and what it stores.
    run, opened = start_run(cluster, round_id)
    poll(
        "the run committing",
        lambda: run_transaction_state(cluster.url) != "idle in transaction",
        tries=6000,
        pause=0.01,
    )
    window = time.monotonic() - opened
    assert run.wait(timeout=120) == 0, run.communicate()[0].decode()
    assert counts(cluster.url, round_id)[0] == 1
    stored_runs_are_whole(cluster.url, round_id)
    before = counts(cluster.url, round_id)

    # Runs killed at several points of that window store nothing at all.
    for fraction in (0.0, 0.3, 0.6, 0.9):
        wait = fraction * window
        for _ in range(4):
            run, opened = start_run(cluster, round_id)
            time.sleep(max(0.0, opened + wait - time.monotonic()))
            # Frozen first, so what it was doing when killed is known for sure.
            run.send_signal(signal.SIGSTOP)
            state_when_killed = run_transaction_state(cluster.url)
            run.kill()
            output = run.communicate(timeout=30)[0].decode()
            # On a busy machine the run may finish before the signal reaches it.
            finished = run.returncode == 0
            assert finished or run.returncode == -signal.SIGKILL, output
            poll(
                "the killed run's session ending",
                lambda: run_transaction_state(cluster.url) is None,
            )
            if state_when_killed == "idle in transaction" and not finished:
                break
            # The run got past its commit on a busy machine: try again a little earlier.
            stored_runs_are_whole(cluster.url, round_id)
            before = counts(cluster.url, round_id)
            wait /= 2
        else:
            raise AssertionError(f"no run was killed inside its transaction at {fraction}")
        assert counts(cluster.url, round_id) == before
    stored_runs_are_whole(cluster.url, round_id)
