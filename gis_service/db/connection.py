"""Connections, transactions and savepoints on PostgreSQL (psycopg2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import count
from threading import Lock
from typing import Protocol

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from gis_service.errors import DatabaseUnavailableError

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
    """Commit what the block did, or roll all of it back if it raised."""
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


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


class ConnectionPool:
    """A thread-safe pool handing out connections that are rolled back when returned."""

    def __init__(self, url: str, max_connections: int = 10) -> None:
        self.url = url
        self._lock = Lock()
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._max = max_connections

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    # psycopg2 closes a returned connection beyond `minconn`; keeping them all
                    # open spares each request a new connection and PostGIS's first-call cost.
                    self._pool = psycopg2.pool.ThreadedConnectionPool(
                        self._max,
                        self._max,
                        self.url,
                        application_name="schoolmap-api",
                        connect_timeout=5,
                    )
                except psycopg2.OperationalError as exc:
                    raise DatabaseUnavailableError(
                        f"cannot connect to {mask_password(self.url)}: {str(exc).strip()}"
                    ) from exc
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a connection for one request; broken connections are discarded."""
        pool = self._get_pool()
        try:
            conn = pool.getconn()
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailableError(f"database unavailable: {exc}") from exc
        broken = False
        try:
            yield conn
        except psycopg2.OperationalError as exc:
            broken = True
            raise DatabaseUnavailableError(f"database unavailable: {str(exc).strip()}") from exc
        finally:
            if not conn.closed and not broken:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    broken = True
            pool.putconn(conn, close=broken or bool(conn.closed))

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None
