"""Connections, transactions and savepoints on PostgreSQL (psycopg2)."""

from __future__ import annotations

import re
import select
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from itertools import count
from threading import BoundedSemaphore, Lock
from typing import Protocol

import psycopg2
import psycopg2.extensions

from gis_service.errors import DatabaseUnavailableError, SchoolmapError, ServiceBusyError

Connection = psycopg2.extensions.connection

_savepoint_numbers = count(1)


_URI_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")
_PARAM_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def mask_password(url: str) -> str:
    """The URL or DSN with any password replaced by ***, safe to print."""
    return _PARAM_PASSWORD.sub(r"\1***", _URI_PASSWORD.sub(r"\1***@", url))


def connect(url: str, *, application_name: str = "schoolmap") -> Connection:
    """Open a connection, or raise DatabaseUnavailableError saying which server failed."""
    try:
        conn = psycopg2.connect(url, application_name=application_name, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to {mask_password(url)}: {str(exc).strip()}"
        ) from exc
    return conn


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Commit what the block did, or roll all of it back if it raised (a connection the
    server closed has nothing left to roll back, and the block's own error is kept)."""
    try:
        yield conn
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    else:
        conn.commit()


def limit_statement_time(conn: Connection, seconds: float) -> None:
    """Stop any statement of the current transaction running longer than `seconds` (a lock
    wait included): SET LOCAL statement_timeout, undone when the transaction ends."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            (f"{max(1, round(seconds * 1000))}ms",),
        )


@contextmanager
def savepoint(conn: Connection) -> Iterator[Connection]:
    """Run a block atomically inside the current transaction: on error undo only the block."""
    name = f"schoolmap_sp_{next(_savepoint_numbers)}"
    with conn.cursor() as cur:
        cur.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        if not conn.closed:
            with conn.cursor() as cur:
                cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
        raise
    else:
        with conn.cursor() as cur:
            cur.execute(f"RELEASE SAVEPOINT {name}")


class ConnectionSource(Protocol):
    """Anything that lends connections for a request: the pool, or a test's single connection."""

    def connection(self) -> AbstractContextManager[Connection]: ...

    def close(self) -> None: ...


DATABASE_AWAY = (
    "Cơ sở dữ liệu tạm thời không truy cập được; xin thử lại sau ít giây / "
    "the database is unavailable for now; retry in a few seconds"
)
SERVICE_BUSY = (
    "Hệ thống đang quá tải; xin thử lại sau ít giây / the service is busy; retry in a few seconds"
)
STATEMENT_STOPPED = (
    "Cơ sở dữ liệu đã dừng yêu cầu giữa chừng (quá thời gian cho phép, hoặc bị huỷ); phần việc "
    "chưa xong đã được huỷ bỏ / the database stopped the request part-way (it ran over its time "
    "limit, or was cancelled); its unfinished work was rolled back"
)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def looks_alive(conn: Connection) -> bool:
    """Whether an idle connection is still usable, without a round trip to the server.

    An idle connection has nothing to read unless the server has hung up on it (a restart or
    a terminated backend sends an error and closes the socket), so readable means dead.
    """
    if conn.closed:
        return False
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg2.Error):
        return False
    return not readable


@dataclass(frozen=True)
class PoolStats:
    """A pool's connections at one moment: lent to requests, idle in the pool, and the most
    it may hold."""

    in_use: int
    idle: int
    max: int


class ConnectionPool:
    """A thread-safe pool lending connections that are rolled back when returned.

    It survives a database restart: connections the server dropped are found and discarded
    before they are lent, a request whose connection breaks gets DatabaseUnavailableError
    (HTTP 503) and every idle connection of that generation is dropped, and new connections
    are opened as soon as the server answers again. Callers beyond `max_connections` wait up
    to `wait_timeout_s`, then get ServiceBusyError (HTTP 503) rather than an error.
    """

    def __init__(
        self,
        url: str,
        max_connections: int = 10,
        *,
        wait_timeout_s: float = 10.0,
        application_name: str = "schoolmap-api",
        connect_timeout_s: int = 5,
    ) -> None:
        self.url = url
        self._max = max_connections
        self._wait_timeout_s = wait_timeout_s
        self.application_name = application_name
        self._connect_timeout_s = connect_timeout_s
        self._slots = BoundedSemaphore(max_connections)
        self._lock = Lock()
        self._idle: list[Connection] = []
        self._lent = 0
        self._closed = False

    def stats(self) -> PoolStats:
        """How many connections are lent and idle now, and the most the pool may hold."""
        with self._lock:
            return PoolStats(in_use=self._lent, idle=len(self._idle), max=self._max)

    def _open(self) -> Connection:
        try:
            return psycopg2.connect(
                self.url,
                application_name=self.application_name,
                connect_timeout=self._connect_timeout_s,
            )
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailableError(
                f"{DATABASE_AWAY} (cannot connect: {first_line(exc)})"
            ) from exc

    def _take(self) -> Connection:
        """An idle live connection, else a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open()
            if looks_alive(conn):
                return conn
            self._drop_idle()
            _close_quietly(conn)

    def _drop_idle(self) -> None:
        """Close every idle connection: after one was found dead, the others are suspect."""
        with self._lock:
            stale, self._idle = self._idle, []
        for conn in stale:
            _close_quietly(conn)

    def _give_back(self, conn: Connection, broken: bool) -> None:
        if not broken and not conn.closed:
            try:
                conn.rollback()
                if conn.autocommit:
                    conn.autocommit = False
            except psycopg2.Error:
                broken = True
        if broken or conn.closed:
            _close_quietly(conn)
            self._drop_idle()
            return
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def lend_idle(self, *, autocommit: bool = False) -> Connection | None:
        """An idle live connection lent at once, or None when that would mean waiting.

        Nothing here blocks (no slot to wait for, no connection to open, no round trip), so an
        event loop may call it. With `autocommit`, each statement is its own transaction: a
        read-only request then makes one round trip per query, with no BEGIN and no ROLLBACK.
        """
        if not self._slots.acquire(blocking=False):
            return None
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or not looks_alive(conn):
            self._slots.release()
            if conn is not None:
                self._drop_idle()
                _close_quietly(conn)
            return None
        if autocommit:
            conn.autocommit = True
        with self._lock:
            self._lent += 1
        return conn

    def lend(self, *, autocommit: bool = False) -> Connection:
        """A connection for one request, waiting for a slot and opening one if none is idle
        (`autocommit` as in `lend_idle`)."""
        if not self._slots.acquire(timeout=self._wait_timeout_s):
            raise ServiceBusyError(SERVICE_BUSY)
        try:
            conn = self._take()
        except BaseException:
            self._slots.release()
            raise
        conn.autocommit = autocommit
        with self._lock:
            self._lent += 1
        return conn

    @staticmethod
    def returns_at_once(conn: Connection) -> bool:
        """Whether giving `conn` back makes no round trip (no transaction is left open)."""
        return bool(conn.closed) or (
            conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        )

    def give_back(self, conn: Connection, error: BaseException | None) -> BaseException | None:
        """Take back a lent connection, rolled back; `error` is what the borrower raised.

        Returns the error to raise in its place when the connection broke (the database is
        away) or the server stopped a statement (a time limit, pg_cancel_backend), else None.
        A broken connection is discarded with every idle one; after a stopped statement the
        connection is sound, and is rolled back and kept.
        """
        with self._lock:
            self._lent -= 1
        stopped = isinstance(error, psycopg2.extensions.QueryCanceledError)
        broken = not stopped and isinstance(
            error, psycopg2.OperationalError | psycopg2.InterfaceError
        )
        try:
            self._give_back(conn, broken)
        finally:
            self._slots.release()
        if error is None or not (broken or stopped):
            return None
        replacement: SchoolmapError = (
            ServiceBusyError(f"{STATEMENT_STOPPED} ({first_line(error)})")
            if stopped
            else DatabaseUnavailableError(f"{DATABASE_AWAY} ({first_line(error)})")
        )
        replacement.__cause__ = error
        return replacement

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a connection for one request; broken connections are discarded."""
        conn = self.lend()
        try:
            yield conn
        except BaseException as exc:
            replacement = self.give_back(conn, exc)
            if replacement is not None:
                raise replacement from exc
            raise
        else:
            self.give_back(conn, None)

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            self._closed = True
        self._drop_idle()


def _close_quietly(conn: Connection) -> None:
    with suppress(psycopg2.Error):
        conn.close()
