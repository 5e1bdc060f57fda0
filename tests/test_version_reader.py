"""The public data version read on the event loop: requests share queries, yet each sees a
version at least as new as itself; the database going away is a 503 and comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import ConnectionPool, connect
from gis_service.db.version_reader import VersionReader, public_data_version
from gis_service.errors import DatabaseUnavailableError


class Scripted(VersionReader):
    """A reader whose queries are slow and numbered: query k answers k."""

    def __init__(self) -> None:
        super().__init__("unused")
        self.started: list[float] = []

    async def _query(self) -> int:
        self.started.append(asyncio.get_running_loop().time())
        number = len(self.started)
        await asyncio.sleep(0.05)
        return number


def test_requests_during_a_query_wait_for_one_that_began_after_them() -> None:
    async def scenario() -> tuple[list[int], list[float], list[float]]:
        reader = Scripted()
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(reader.current())
        await asyncio.sleep(0.01)  # the first query is under way
        arrived = []
        later = []
        for _ in range(20):
            arrived.append(loop.time())
            later.append(asyncio.ensure_future(reader.current()))
            await asyncio.sleep(0.001)
        answers = await asyncio.gather(first, *later)
        return answers, arrived, reader.started

    answers, arrived, started = asyncio.run(scenario())
    # Twenty-one requests, two queries: the first answers the first request only; the
    # others share the second, which began after the last of them arrived.
    assert answers == [1] + [2] * 20
    assert len(started) == 2
    assert started[1] >= max(arrived)


def test_a_failed_query_fails_its_waiters_and_the_next_one_is_tried_afresh() -> None:
    class FailingOnce(Scripted):
        async def _query(self) -> int:
            number = await super()._query()
            if number == 1:
                raise OSError("connection reset")
            return number

    async def scenario() -> tuple[BaseException | int, int]:
        reader = FailingOnce()
        first = await asyncio.gather(reader.current(), return_exceptions=True)
        return first[0], await reader.current()

    failed, after = asyncio.run(scenario())
    assert isinstance(failed, DatabaseUnavailableError)
    assert "the database is unavailable" in str(failed)
    assert after == 2


def test_the_reader_sees_what_the_database_says_and_a_change_at_once(empty_db_url: str) -> None:
    admin = connect(empty_db_url)
    admin.autocommit = True

    async def read(reader: VersionReader, count: int) -> list[int]:
        return list(await asyncio.gather(*(reader.current() for _ in range(count))))

    try:
        reader = VersionReader(empty_db_url)
        seen = asyncio.run(read(reader, 50))
        assert seen == [public_data_version(admin)] * 50
        assert reader.queries <= 2, "fifty requests at once share their queries"
        with admin.cursor() as cur:
            # What a statement trigger on the public tables does for every change.
            cur.execute(
                "UPDATE public_data_version SET version = nextval('public_data_version_seq')"
            )
        # The reader's connection belongs to one loop: open a new one for the next.
        reader.close()
        assert asyncio.run(read(reader, 1)) == [public_data_version(admin)] != seen[:1]
        reader.close()
    finally:
        admin.close()


def test_a_reader_whose_session_the_server_ended_reconnects(empty_db_url: str) -> None:
    admin = connect(empty_db_url)
    admin.autocommit = True

    async def twice(reader: VersionReader) -> tuple[int, int]:
        first = await reader.current()
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'schoolmap-version' AND pid <> pg_backend_pid()"
            )
        await asyncio.sleep(0.2)  # the server's goodbye reaches the socket
        return first, await reader.current()

    try:
        reader = VersionReader(empty_db_url)
        first, second = asyncio.run(twice(reader))
        assert first == second
        reader.close()
    finally:
        admin.close()


def test_a_database_that_is_not_there_is_unavailable() -> None:
    reader = VersionReader("postgresql://nobody@127.0.0.1:1/none", timeout_s=5)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError, match="the database is unavailable"):
        asyncio.run(reader.current())
    assert time.monotonic() - started < 5


def test_kept_answers_take_no_pooled_connection_and_see_a_change_at_once(
    demo_db_url: str, demo_home: Path
) -> None:
    pool = ConnectionPool(demo_db_url, 2)
    lent: list[str] = []
    real_idle, real_lend = pool.lend_idle, pool.lend

    def counted_idle(*, autocommit: bool = False) -> object:
        lent.append("idle")
        return real_idle(autocommit=autocommit)

    def counted_lend(*, autocommit: bool = False) -> object:
        lent.append("lend")
        return real_lend(autocommit=autocommit)

    pool.lend_idle = counted_idle  # type: ignore[method-assign,assignment]
    pool.lend = counted_lend  # type: ignore[method-assign,assignment]
    app = create_app(Settings(database=DatabaseSettings(url=demo_db_url, home=demo_home)), pool)
    writer = connect(demo_db_url)
    try:
        with TestClient(app) as client:
            school = client.get("/schools", params={"limit": 1}).json()["features"][0]
            path = f"/schools/{school['id']}"
            name = client.get(path).json()["properties"]["name"]
            lent.clear()
            for _ in range(3):
                assert client.get(path).json()["properties"]["name"] == name
            assert lent == [], "a kept answer is served without a pooled connection"
            with writer.cursor() as cur:
                cur.execute(
                    "UPDATE schools SET name = name || ' (mới)' WHERE id = %s", (school["id"],)
                )
            writer.commit()
            assert client.get(path).json()["properties"]["name"] == name + " (mới)"
            assert lent, "a changed school is read again"
            home = {"lon": school["geometry"]["coordinates"][0] + 0.003, "level": "tieu_hoc"}
            home["lat"] = school["geometry"]["coordinates"][1] - 0.002
            near = client.get("/schools/near", params=home)
            assert near.status_code == 200 and near.json()["numberReturned"] > 0
            lent.clear()
            assert client.get("/schools/near", params=home).content == near.content
            assert lent == [], "a near-home answer at a version the worker holds needs no database"
    finally:
        with writer.cursor() as cur:
            cur.execute("UPDATE schools SET name = %s WHERE id = %s", (name, school["id"]))
        writer.commit()
        writer.close()
        pool.close()
