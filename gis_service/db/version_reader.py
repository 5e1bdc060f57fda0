"""The public data version read on the event loop, one query shared by the requests that wait.

Every public map request needs the current `public_data_version` to know whether a kept
answer still holds. Read through the pool, that is a worker thread and a pooled connection per
request; here it is one non-blocking psycopg2 connection polled by the event loop, and requests
arriving together share a query. Sharing keeps "a change is seen by the very next request":
a request waits only for a query that began after it arrived (one already under way may have
read its snapshot before a change the request's client saw committed), so each answer is at
least as new as the request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg2
import psycopg2.extensions

from gis_service.db.connection import DATABASE_AWAY, Connection, first_line, looks_alive
from gis_service.errors import DatabaseUnavailableError

VERSION_SQL = "SELECT version FROM public_data_version"

# How long one query (or connecting) may take before the database counts as away.
QUERY_TIMEOUT_S = 10.0


def version_of(row: tuple[Any, ...] | None) -> int:
    """The version in VERSION_SQL's row."""
    if row is None:
        raise RuntimeError("public_data_version has no row: run `schoolmap db upgrade`")
    return int(row[0])


def public_data_version(conn: Connection) -> int:
    """The version of the data behind public answers, as this (blocking) connection sees it."""
    with conn.cursor() as cur:
        cur.execute(VERSION_SQL)
        return version_of(cur.fetchone())


class VersionReader:
    """Reads `public_data_version` for the requests of one event loop."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = QUERY_TIMEOUT_S,
        application_name: str = "schoolmap-version",
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.application_name = application_name
        self.queries = 0  # queries sent, for tests and curiosity
        self._conn: Any = None
        self._running: asyncio.Future[int] | None = None
        self._queued: asyncio.Future[int] | None = None

    async def current(self) -> int:
        """The version as of a snapshot taken after this call began."""
        if self._running is None:
            # Nothing under way: a query starts now, after this request arrived.
            self._running = _started(self._run())
            return await asyncio.shield(self._running)
        # A query is under way but may predate this request: wait for the next one, which
        # starts when it ends and serves everyone who arrived meanwhile.
        if self._queued is None:
            self._queued = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._queued)

    async def _run(self) -> int:
        try:
            return await self._read()
        finally:
            queued, self._queued = self._queued, None
            self._running = None
            if queued is not None:
                self._running = _started(self._run())
                self._running.add_done_callback(lambda done: _settle(queued, done))

    async def _read(self) -> int:
        try:
            return await asyncio.wait_for(self._query(), self.timeout_s)
        except (psycopg2.Error, TimeoutError, OSError) as exc:
            self.close()
            raise DatabaseUnavailableError(f"{DATABASE_AWAY} ({first_line(exc)})") from exc

    async def _query(self) -> int:
        if self._conn is not None and not looks_alive(self._conn):
            self.close()  # the server ended it (a restart): open a new one
        if self._conn is None:
            conn = psycopg2.connect(self.url, async_=1, application_name=self.application_name)
            try:
                await _ready(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        cur = self._conn.cursor()
        try:
            self.queries += 1
            cur.execute(VERSION_SQL)
            await _ready(self._conn)
            row = cur.fetchone()
        finally:
            cur.close()
        return version_of(row)

    def close(self) -> None:
        """Close the connection (a later read opens another)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.close()


def _started(query: Any) -> asyncio.Future[int]:
    """A task for a query whose outcome is always retrieved (its waiters may all be gone)."""
    task: asyncio.Future[int] = asyncio.ensure_future(query)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


def _settle(target: asyncio.Future[int], done: asyncio.Future[int]) -> None:
    """Pass a finished query's outcome to the requests that waited for it."""
    if target.done():
        return
    if done.cancelled():
        target.cancel()
    elif done.exception() is not None:
        target.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        target.set_result(done.result())


async def _ready(conn: Any) -> None:
    """Poll a non-blocking connection until its current operation is done."""
    loop = asyncio.get_running_loop()
    while True:
        state = conn.poll()
        fd = conn.fileno()  # connecting may move to another socket
        if state == psycopg2.extensions.POLL_OK:
            return
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(waiter: asyncio.Future[None] = waiter) -> None:
            if not waiter.done():
                waiter.set_result(None)

        if state == psycopg2.extensions.POLL_READ:
            watch, unwatch = loop.add_reader, loop.remove_reader
        elif state == psycopg2.extensions.POLL_WRITE:
            watch, unwatch = loop.add_writer, loop.remove_writer
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        watch(fd, wake)
        try:
            await waiter
        finally:
            unwatch(fd)
