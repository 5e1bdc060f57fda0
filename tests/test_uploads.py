"""Large and abandoned applicant uploads: refused early, checked before any write, errors on
the file's real line, work stopped when the client goes or the database says so, memory
given back; and the CLI's one-line answer when the database goes away mid-import."""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg2
import psycopg2.errors
import pytest

from benchmarks.load import serving
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.rounds import create_round
from gis_service.api.deps import MAX_UPLOAD_BODY_BYTES
from gis_service.auth.users import create_user
from gis_service.db.connection import ConnectionPool, connect
from gis_service.demo import load_demo_city
from gis_service.errors import ImportFileError, ServiceBusyError
from gis_service.importers.report import no_progress
from tests.conftest import recreate_database, table_counts
from tests.test_auth import api_client, api_connection

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
PORT = 18753
BASE = f"http://127.0.0.1:{PORT}"
OFFICER = "can.bo.tai.len"
PASSWORD = "mat-khau-tai-len-2025"
KEY = b"upload-test-key"
HEADER = "child_id,birth_date,lon,lat\n"
# The endpoint's limit, and the request-body middleware's (a few MiB above it).
UPLOAD_LIMIT = MAX_UPLOAD_BODY_BYTES
# Rows an import stores in a few seconds here; enough to outlast every check below.
SLOW_ROWS = 20_000
# The bound on what one upload may leave a worker holding.
RSS_BOUND_KB = 150 * 1024
# A worker gives back what a large upload held a second after answering it.
SETTLE_S = 2.0
# How soon an abandoned or stopped import must have ended.
ENDS_WITHIN_S = 5.0


@dataclass(frozen=True)
class City:
    """The demo city in a database of this module, with a city admin who imports files."""

    url: str
    home: Path
    homes: list[tuple[str, str]]


@dataclass(frozen=True)
class Served:
    """`schoolmap serve` with one worker, its process id and an officer's bearer token."""

    pid: int
    headers: dict[str, str]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> City:
    url = recreate_database("schoolmap_test_uploads")
    home = tmp_path_factory.mktemp("uploads-home")
    conn = connect(url)
    try:
        load_demo_city(conn, home / "demo", progress=no_progress)
        create_user(conn, username=OFFICER, password=PASSWORD, role="city_admin", area=[])
        conn.commit()
    finally:
        conn.close()
    with (home / "demo" / "households.csv").open(encoding="utf-8") as handle:
        homes = [(row["lon"], row["lat"]) for row in csv.DictReader(handle)]
    return City(url, home, homes)


@pytest.fixture(scope="module")
def served(city: City) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as patch:
        # So that the memory test's large file passes the row check.
        patch.setenv("SCHOOLMAP_IMPORT_MAX_APPLICANTS", "1000000")
        with serving(city.url, city.home, PORT, workers=1) as process:
            signed = httpx.post(
                f"{BASE}/auth/login", json={"username": OFFICER, "password": PASSWORD}
            )
            signed.raise_for_status()
            token = signed.json()["access_token"]
            yield Served(process.pid, {"Authorization": f"Bearer {token}"})


def rows(city: City, count: int, prefix: str) -> str:
    """`count` applicant rows with distinct children living in the demo city."""
    lines = []
    for i in range(count):
        lon, lat = city.homes[i % len(city.homes)]
        lines.append(f"{prefix}{i:08d},2019-0{1 + i % 9}-1{i % 10},{lon},{lat}\n")
    return "".join(lines)


def new_round(city: City, name: str) -> int:
    conn = connect(city.url)
    try:
        made = create_round(conn, name=name, grade=1, school_year="2025-2026", districts=["901"])
        conn.commit()
    finally:
        conn.close()
    return made.round_id


def query(city: City, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = connect(city.url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def counts(city: City) -> dict[str, int]:
    """Row counts of the tables importers write (see conftest.table_counts)."""
    conn = connect(city.url)
    try:
        return table_counts(conn)
    finally:
        conn.close()


def stored(city: City, round_id: int) -> int:
    """Applications stored for the round."""
    [(count,)] = query(city, "SELECT count(*) FROM applications WHERE round_id = %s", round_id)
    return int(count)  # type: ignore[call-overload]


def open_transactions(city: City, application: str = "schoolmap-api") -> list[int]:
    """Backends of `application` on the city's database inside a transaction."""
    found = query(
        city,
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
        "AND datname = current_database() AND xact_start IS NOT NULL "
        "AND pid <> pg_backend_pid()",
        application,
    )
    return [int(pid) for (pid,) in found]  # type: ignore[call-overload]


def wait_for(what: str, check: Callable[[], bool], within_s: float) -> float:
    """Seconds until `check` holds, polled; fails if it does not within `within_s`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"{what}: not within {within_s} s")
        time.sleep(0.05)
    return time.monotonic() - started


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def upload_head(served: Served, round_id: int, length: int | None) -> bytes:
    """The request line and headers of an upload; chunked when `length` is None."""
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST /rounds/{round_id}/applicants?filename=big.csv HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{PORT}\r\nAuthorization: {served.headers['Authorization']}\r\n"
        f"Content-Type: text/csv\r\n{framing}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket) -> tuple[int, str]:
    """The status and body of an HTTP answer on a raw socket (read until it is complete)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(fields.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), body.decode("utf-8", "replace")


def test_an_oversized_upload_is_refused_with_413_and_stores_nothing(
    city: City, served: Served
) -> None:
    round_id = new_round(city, "Tệp quá lớn / oversized")
    before = counts(city)
    # Declared over the service's bound: refused before a byte of the body is sent.
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as sock:
        sock.sendall(upload_head(served, round_id, UPLOAD_LIMIT + 1))
        status, detail = read_answer(sock)
    assert status == 413, detail
    # Streamed (chunked, no length) past the limit: refused with 413 as soon as the count
    # passes it (the server may stop reading), and nothing written.
    body = (HEADER + rows(city, 1000, "Q")).encode()
    piece = body * (2 * UPLOAD_LIMIT // len(body) + 1)
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        sock.sendall(upload_head(served, round_id, None))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for at in range(0, len(piece), 1 << 20):
                part = piece[at : at + (1 << 20)]
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        status, detail = read_answer(sock)
    print(f"\n{len(piece):,} bytes streamed: {status} {detail[:160]}")
    assert status == 413, detail
    assert "50.000.000 byte" in detail and "larger than the 50,000,000 bytes" in detail
    assert stored(city, round_id) == 0
    assert counts(city) == before
    assert httpx.get(f"{BASE}/health").status_code == 200


def test_too_many_rows_are_refused_before_any_write(
    city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHOOLMAP_IMPORT_MAX_APPLICANTS", "1000")
    round_id = new_round(city, "Quá nhiều dòng / too many rows")
    path = tmp_path / "many.csv"
    path.write_text(HEADER + rows(city, 1001, "M"), encoding="utf-8")
    too_many = "the file has more than 1,000 rows"

    # The domain, in a read-only transaction: any write (or the round's lock) would fail.
    conn = connect(city.url)
    try:
        before = table_counts(conn)
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
        with pytest.raises(ImportFileError, match=too_many):
            import_applicants(conn, round_id, path, KEY, no_progress)
        conn.rollback()
    finally:
        conn.close()

    # The API names the uploaded file.
    with api_connection(city.url) as api_conn, api_client(api_conn, city.home) as client:
        token = client.post("/auth/login", json={"username": OFFICER, "password": PASSWORD})
        answer = client.post(
            f"/rounds/{round_id}/applicants?filename=q901.csv",
            content=path.read_bytes(),
            headers={
                "Authorization": f"Bearer {token.json()['access_token']}",
                "Content-Type": "text/csv",
            },
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"].startswith("q901.csv: tệp có hơn 1.000 hồ sơ")
        assert too_many in answer.json()["detail"]

    # The CLI.
    done = subprocess.run(
        [str(ROOT / ".venv/bin/schoolmap"), "round", "import-applicants", str(round_id), str(path)],
        env={**os.environ, "DATABASE_URL": city.url, "SCHOOLMAP_HOME": str(city.home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert too_many in done.stderr and "Traceback" not in done.stderr
    assert stored(city, round_id) == 0
    assert counts(city) == before


def test_an_error_after_many_blank_lines_names_the_real_line(city: City, tmp_path: Path) -> None:
    round_id = new_round(city, "Dòng trống / blank lines")
    good = rows(city, 2, "B")
    multi_line = 'B90000000,2019-01-01,106.62,10.45,"Số 1\nđường Một"\n'
    text = (
        "child_id,birth_date,lon,lat,address\n"
        + good.replace("\n", ",\n")
        + "\n" * 1_000_000
        + multi_line
        + "\n\n"
        + "B90000001,02/03/2019,106.62,10.45,\n"
    )
    # Line 1 the header, 2-3 the rows, then a million blank lines, a row on two lines and
    # two more blank lines: the broken row is on line 1,000,008.
    path = tmp_path / "blank.csv"
    path.write_text(text, encoding="utf-8")
    conn = connect(city.url)
    try:
        with pytest.raises(
            ImportFileError, match="line 1000008: birth_date '02/03/2019' is not YYYY-MM-DD"
        ):
            import_applicants(conn, round_id, path, KEY, no_progress)
        conn.rollback()
        # A repeated child is named with the line of its first row, the row's first line.
        path.write_text(text.replace("B90000001,02/03/2019", "B90000000,2019-02-03"), "utf-8")
        with pytest.raises(ImportFileError, match="line 1000008: the same child as line 1000004"):
            import_applicants(conn, round_id, path, KEY, no_progress)
        conn.rollback()
    finally:
        conn.close()
    assert stored(city, round_id) == 0


def test_an_abandoned_upload_ends_its_work_and_stores_nothing(city: City, served: Served) -> None:
    body = (HEADER + rows(city, SLOW_ROWS, "A")).encode()

    # The whole body sent, then the client leaves while the import runs.
    round_id = new_round(city, "Bỏ dở khi đang nhập / left while importing")
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        sock.sendall(upload_head(served, round_id, len(body)) + body)
        wait_for("the import's transaction", lambda: bool(open_transactions(city)), 20)
        time.sleep(0.5)
    ended = wait_for("the abandoned import ending", lambda: not open_transactions(city), 5)
    print(f"\nan abandoned import ended {ended:.2f} s after its client left")
    assert ended < ENDS_WITHIN_S

    # Half the body sent (whole lines), then the client leaves: the cut file is not imported.
    cut_round = new_round(city, "Bỏ dở khi đang gửi / left while sending")
    half = body[: body.index(b"\n", len(body) // 2) + 1]
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as sock:
        sock.sendall(upload_head(served, cut_round, len(body)) + half)
        time.sleep(0.5)
    time.sleep(2.0)
    assert open_transactions(city) == []

    time.sleep(1.0)
    assert stored(city, round_id) == 0
    assert stored(city, cut_round) == 0
    assert httpx.get(f"{BASE}/health").status_code == 200


def test_pg_cancel_backend_stops_an_import_and_the_service_keeps_its_connection(
    city: City, served: Served
) -> None:
    round_id = new_round(city, "Huỷ trên máy chủ / cancelled on the server")
    body = (HEADER + rows(city, SLOW_ROWS, "C")).encode()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            httpx.post,
            f"{BASE}/rounds/{round_id}/applicants",
            content=body,
            headers={**served.headers, "Content-Type": "text/csv"},
            timeout=120,
        )
        wait_for("the import's transaction", lambda: bool(open_transactions(city)), 20)
        time.sleep(0.3)
        [pid] = open_transactions(city)
        started = time.monotonic()
        # PostgreSQL ignores a cancel that arrives between two statements: send until one
        # lands in a statement.
        while not answer.done() and time.monotonic() - started < ENDS_WITHIN_S:
            query(city, "SELECT pg_cancel_backend(%s)", pid)
            time.sleep(0.1)
        response = answer.result(timeout=30)
    print(f"\ncancelled: {response.status_code} after {time.monotonic() - started:.2f} s")
    assert response.status_code == 503, response.text
    assert "the database stopped the request part-way" in response.json()["detail"]
    assert "canceling statement due to user request" in response.json()["detail"]
    assert open_transactions(city) == []
    assert stored(city, round_id) == 0
    # A cancelled statement leaves a sound connection: the pool keeps it.
    assert query(city, "SELECT state FROM pg_stat_activity WHERE pid = %s", pid) == [("idle",)]


def test_a_statement_of_an_import_runs_no_longer_than_its_timeout(
    city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHOOLMAP_IMPORT_STATEMENT_TIMEOUT_S", "0.5")
    round_id = new_round(city, "Chờ khoá / lock wait")
    path = tmp_path / "few.csv"
    path.write_text(HEADER + rows(city, 3, "T"), encoding="utf-8")
    locker = connect(city.url)
    conn = connect(city.url)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            import_applicants(conn, round_id, path, KEY, no_progress)
        except BaseException as exc:
            outcome.append(exc)

    try:
        with locker.cursor() as cur:
            # Another session holds the applicants: the import's first insert must wait.
            cur.execute("LOCK TABLE applicants IN EXCLUSIVE MODE")
        worker = threading.Thread(target=run, daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(timeout=10)
        waited = time.monotonic() - started
        finished = not worker.is_alive()
    finally:
        locker.rollback()
        locker.close()
    worker.join(timeout=60)
    conn.rollback()
    conn.close()
    assert finished, "the import waited for the lock with no time limit"
    assert waited < ENDS_WITHIN_S
    assert outcome and isinstance(outcome[0], psycopg2.errors.QueryCanceled), outcome
    assert "statement timeout" in str(outcome[0])


def test_the_pool_keeps_a_connection_whose_statement_was_stopped(city: City) -> None:
    pool = ConnectionPool(city.url, 2)
    try:
        conn = pool.lend()
        pid = conn.get_backend_pid()
        with pytest.raises(psycopg2.errors.QueryCanceled) as stopped, conn.cursor() as cur:
            cur.execute("SET statement_timeout = '50ms'; SELECT pg_sleep(1)")
        replacement = pool.give_back(conn, stopped.value)
        assert isinstance(replacement, ServiceBusyError)
        assert "the database stopped the request part-way" in str(replacement)
        again = pool.lend()
        assert again.get_backend_pid() == pid
        pool.give_back(again, None)
    finally:
        pool.close()


class PeakRss(threading.Thread):
    """The highest RSS a process reaches while it runs, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = rss_kb(pid)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            self.peak = max(self.peak, rss_kb(self.pid))


def test_a_worker_holds_one_row_at_a_time_and_gives_the_memory_back(
    city: City, served: Served
) -> None:
    round_id = new_round(city, "Bộ nhớ / memory")
    headers = {**served.headers, "Content-Type": "text/csv"}
    url = f"{BASE}/rounds/{round_id}/applicants"
    warm = httpx.post(url, content=HEADER + rows(city, 50, "W"), headers=headers, timeout=60)
    assert warm.status_code == 200, warm.text
    level = rss_kb(served.pid)
    # 888,889 rows (39 MB); row 992 is broken, so ~1,000 rows are imported before the error.
    big = HEADER + rows(city, 888_889, "R")
    big = big.replace("R00000991,2019-02-11,", "R00000991,11/02/2019,", 1)
    assert len(big) > 35_000_000
    sampler = PeakRss(served.pid)
    sampler.start()
    refused = httpx.post(url, content=big, headers=headers, timeout=120)
    sampler.halt.set()
    sampler.join()
    assert refused.status_code == 400 and "line 993: birth_date '11/02/2019'" in refused.text
    del big
    time.sleep(SETTLE_S)
    after_large = rss_kb(served.pid)
    # An import that stores its rows.
    imported = httpx.post(url, content=HEADER + rows(city, 2000, "S"), headers=headers, timeout=120)
    assert imported.status_code == 200, imported.text
    time.sleep(SETTLE_S)
    after_import = rss_kb(served.pid)
    print(
        f"\nworker RSS: {level / 1024:.0f} MB before, at most {sampler.peak / 1024:.0f} MB "
        f"during the 39 MB upload, {after_large / 1024:.0f} MB {SETTLE_S:.0f} s after it, "
        f"{after_import / 1024:.0f} MB {SETTLE_S:.0f} s after a 2,000-row import"
    )
    assert sampler.peak - level < RSS_BOUND_KB
    assert after_large - level < RSS_BOUND_KB
    assert after_import - level < RSS_BOUND_KB
    assert stored(city, round_id) == 2050


def test_the_cli_says_in_one_line_when_the_database_goes_away_mid_import(
    city: City, tmp_path: Path
) -> None:
    round_id = new_round(city, "Mất CSDL / database lost")
    path = tmp_path / "slow.csv"
    path.write_text(HEADER + rows(city, SLOW_ROWS, "L"), encoding="utf-8")
    command = subprocess.Popen(
        [str(ROOT / ".venv/bin/schoolmap"), "round", "import-applicants", str(round_id), str(path)],
        env={**os.environ, "DATABASE_URL": city.url, "SCHOOLMAP_HOME": str(city.home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The backend seen in a transaction is the CLI's one connection: it is ended even if
        # that transaction (the import or a short one before it) has just finished.
        seen: list[int] = []

        def in_transaction() -> bool:
            seen[:] = open_transactions(city, "schoolmap")
            return bool(seen)

        wait_for("the CLI's import", in_transaction, 30)
        query(city, "SELECT pg_terminate_backend(%s)", seen[0])
        _, err = command.communicate(timeout=30)
    finally:
        if command.poll() is None:
            command.kill()
    print(f"\nstderr:\n{err}")
    assert command.returncode == 1
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [err.strip().splitlines()[-1]]
    assert errors[0].startswith("error: mất kết nối tới cơ sở dữ liệu")
    assert "the connection to the database was lost" in errors[0]
    assert "check that PostgreSQL is running, then run the command again" in errors[0]
    assert stored(city, round_id) == 0
