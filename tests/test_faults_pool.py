"""The connection pool under faults: connections the server dropped are replaced before they
are lent, a busy pool makes callers wait (then 503) instead of failing, and a broken
connection in a request is a DatabaseUnavailableError."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gis_service.api import deps
from gis_service.api.app import create_app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import ConnectionPool, connect
from gis_service.errors import DatabaseUnavailableError, ServiceBusyError


def backend_pids(pool: ConnectionPool, count: int) -> list[int]:
    """Open `count` connections at once, note their server pids, and give them back."""
    pids: list[int] = []
    contexts = [pool.connection() for _ in range(count)]
    conns = [c.__enter__() for c in contexts]
    for conn in conns:
        pids.append(conn.get_backend_pid())
    for context in reversed(contexts):
        context.__exit__(None, None, None)
    return pids


def terminate(url: str, pids: list[int]) -> None:
    """What a database restart does to every session: the server ends it."""
    admin = connect(url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
    admin.close()


def test_connections_the_server_ended_are_replaced_before_they_are_lent(
    empty_db_url: str,
) -> None:
    pool = ConnectionPool(empty_db_url, 3)
    try:
        old = backend_pids(pool, 3)
        terminate(empty_db_url, old)
        time.sleep(0.2)  # the server's goodbye reaches the sockets
        for _ in range(6):
            with pool.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                assert cur.fetchone()[0] not in old  # type: ignore[index]
    finally:
        pool.close()


def test_a_connection_lost_inside_a_request_is_database_unavailable(empty_db_url: str) -> None:
    pool = ConnectionPool(empty_db_url, 2)
    try:
        with (
            pytest.raises(DatabaseUnavailableError, match="the database is unavailable"),
            pool.connection() as conn,
            conn.cursor() as cur,
        ):
            terminate(empty_db_url, [conn.get_backend_pid()])
            cur.execute("SELECT 1")
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        pool.close()


def test_more_callers_than_connections_wait_their_turn(empty_db_url: str) -> None:
    pool = ConnectionPool(empty_db_url, 2, wait_timeout_s=30)
    answered: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        try:
            with pool.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(0.05), 1")
                answered.append(cur.fetchone()[1])  # type: ignore[index]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()
    assert failures == [] and answered == [1] * 12


def test_a_pool_busy_for_too_long_answers_busy(empty_db_url: str) -> None:
    pool = ConnectionPool(empty_db_url, 1, wait_timeout_s=0.2)
    try:
        with (
            pool.connection(),
            pytest.raises(ServiceBusyError, match="the service is busy"),
            pool.connection(),
        ):
            pass
    finally:
        pool.close()


def test_a_database_that_is_not_there_is_unavailable() -> None:
    pool = ConnectionPool("postgresql://nobody@127.0.0.1:1/none", 1)
    with (
        pytest.raises(DatabaseUnavailableError, match="Cơ sở dữ liệu tạm thời"),
        pool.connection(),
    ):
        pass


def test_an_idle_connection_is_lent_at_once_and_a_read_one_comes_back_as_it_went(
    empty_db_url: str,
) -> None:
    pool = ConnectionPool(empty_db_url, 2)
    try:
        assert pool.lend_idle() is None  # nothing idle yet: the caller must wait in a thread
        first = pool.lend()
        assert pool.give_back(first, None) is None
        conn = pool.lend_idle(autocommit=True)
        assert conn is first and conn.autocommit
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        # A read in autocommit leaves no transaction: giving it back makes no round trip.
        assert pool.returns_at_once(conn)
        assert pool.give_back(conn, None) is None
        again = pool.lend_idle()
        assert again is first and not again.autocommit
        with again.cursor() as cur:
            cur.execute("SELECT 1")
        # Outside autocommit the read opened a transaction, which giving back rolls back.
        assert not pool.returns_at_once(again)
        pool.give_back(again, None)
        assert pool.returns_at_once(first)
    finally:
        pool.close()


def test_a_pool_lends_no_more_at_once_than_it_has_slots(empty_db_url: str) -> None:
    pool = ConnectionPool(empty_db_url, 1, wait_timeout_s=0.2)
    try:
        pool.give_back(pool.lend(), None)
        held = pool.lend_idle()
        assert held is not None
        assert pool.lend_idle() is None
        with pytest.raises(ServiceBusyError):
            pool.lend()
        pool.give_back(held, None)
    finally:
        pool.close()


def test_a_dead_idle_connection_is_not_lent_at_once(empty_db_url: str) -> None:
    pool = ConnectionPool(empty_db_url, 2)
    try:
        old = backend_pids(pool, 2)
        terminate(empty_db_url, old)
        time.sleep(0.2)
        assert pool.lend_idle() is None
        with pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] not in old  # type: ignore[index]
    finally:
        pool.close()


def test_a_public_read_takes_its_connection_without_a_worker_thread(
    demo_db_url: str, demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lending an idle connection and taking back one with no open transaction cannot block,
    so a public read spends no thread hand-offs on them and leaves the pool as it found it."""
    hand_offs: list[str] = []
    real = deps.run_in_threadpool

    async def counted(func: Any, *args: Any) -> Any:
        hand_offs.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args)

    monkeypatch.setattr(deps, "run_in_threadpool", counted)
    pool = ConnectionPool(demo_db_url, 2)
    app = create_app(Settings(database=DatabaseSettings(url=demo_db_url, home=demo_home)), pool)
    try:
        with TestClient(app) as client:
            assert client.get("/schools", params={"limit": 1}).status_code == 200
            hand_offs.clear()
            for _ in range(3):
                assert client.get("/schools", params={"limit": 1}).status_code == 200
                assert client.get("/wards", params={"limit": 1}).status_code == 200
            assert hand_offs == []
            conn = pool.lend_idle()
            assert conn is not None and not conn.autocommit
            pool.give_back(conn, None)
    finally:
        pool.close()
