"""Request dependencies and helpers shared by the routers."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_service.api.asgi import HttpMiddleware
from gis_service.api.errors import status_for
from gis_service.api.uploads import upload_too_large
from gis_service.db.connection import SERVICE_BUSY, Connection, ConnectionPool, ConnectionSource
from gis_service.db.replica import ReadReplica
from gis_service.errors import (
    DatabaseUnavailableError,
    InvalidRequestError,
    PayloadTooLargeError,
    ServiceBusyError,
)
from gis_service.open_data import EXPORT_MEDIA

# The largest request body the service reads: an application is well under 2 KiB, a login
# less; anything near this is a mistake or an attack, refused before it is parsed.
MAX_REQUEST_BODY_BYTES = 64 * 1024
# The one exception: officers upload a district's applicants as CSV (~60 bytes a child).
MAX_UPLOAD_BODY_BYTES = 50_000_000
UPLOAD_PATHS = re.compile(r"^/rounds/[^/]+/applicants$")

HAS_NUL = (
    "Yêu cầu chứa ký tự NUL (mã 0), không trường nào được chứa ký tự này / the request "
    "contains a NUL character (code 0), which no field may hold"
)
# PostgreSQL text cannot hold NUL: refused here, once, instead of failing deep in a query.
_NUL_IN_URL = (b"%00", b"\x00")
_NUL_IN_BODY = (b"\\u0000", b"\x00")


def too_large(limit: int) -> str:
    """The 413 message for a body over `limit` bytes."""
    kib = limit // 1024
    return (
        f"Nội dung yêu cầu quá lớn (tối đa {kib} KiB) / the request body is larger than the "
        f"{kib} KiB this service accepts here"
    )


# How long a request waits for a free database connection before it is answered 503.
CONNECTION_WAIT_S = 10.0


def connection_gate(app: FastAPI) -> asyncio.Semaphore:
    """The app's gate admitting as many requests to the database as the pool has connections.

    Requests queue here, on the event loop, holding no worker thread: were they to wait inside
    the pool's own (blocking) acquire, every worker thread could be taken by waiters while the
    requests holding connections wait for a thread to finish on, and nothing would move until
    the waiters timed out.
    """
    gate: asyncio.Semaphore | None = getattr(app.state, "connection_gate", None)
    if gate is None:
        gate = asyncio.Semaphore(max(1, int(getattr(app.state, "pool_size", 1))))
        app.state.connection_gate = gate
    return gate


async def get_connection(request: Request) -> AsyncIterator[Connection]:
    """A pooled connection for the length of one request (read-only work is rolled back)."""
    async with lent_connection(request, autocommit=False) as conn:
        yield conn


async def get_read_connection(request: Request) -> AsyncIterator[Connection]:
    """A pooled connection for a public request that only reads: each query is its own
    transaction, so the request makes no BEGIN or ROLLBACK round trips. Nothing it does may
    write. It is the read replica's when one is set and answering (`lent_read_connection`)."""
    async with lent_read_connection(request) as conn:
        yield conn


def file_answer(body: bytes, name: str, format: str) -> Response:
    """A file to download: `name`.`format` (csv or gpkg), with its media type."""
    return Response(
        body,
        media_type=EXPORT_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
    )


ReadConnection = Annotated[Connection, Depends(get_read_connection)]
"""A route's parameter for a connection that only reads."""


@asynccontextmanager
async def lent_connection(request: Request, *, autocommit: bool) -> AsyncIterator[Connection]:
    """A connection from the app's source (the primary) for one request, admitted through
    the gate."""
    source: ConnectionSource = request.app.state.pool
    async with _admitted(connection_gate(request.app)):
        if isinstance(source, ConnectionPool):
            async with _from_pool(source, autocommit=autocommit) as conn:
                yield conn
        else:
            async with _from_source(source) as conn:
                yield conn


# Keys of the request's state (scope["state"]) saying where its public reads may go.
PRIMARY_ONLY = "schoolmap_primary_only"
REPLICA_LOST = "schoolmap_replica_lost"


def read_replica(request: Request) -> ReadReplica | None:
    """The app's read replica, if this request's public reads may go to it: one is set, it
    has not failed lately, and the request has read nothing from the primary yet."""
    replica: ReadReplica | None = getattr(request.app.state, "read_replica", None)
    if (
        replica is None
        or not replica.answering()
        or request.scope.get("state", {}).get(PRIMARY_ONLY)
    ):
        return None
    return replica


def reads_on_primary(request: Request) -> None:
    """Keep the rest of this request's public reads on the primary: it read the public data
    version there, and data read on a replica later could be older than that version."""
    request.scope.setdefault("state", {})[PRIMARY_ONLY] = True


def replica_went_away(request: Request, replica: ReadReplica, error: BaseException) -> None:
    """The replica failed this request: it and the next requests for a while read on the
    primary."""
    replica.went_away(error)
    reads_on_primary(request)


@asynccontextmanager
async def lent_read_connection(request: Request) -> AsyncIterator[Connection]:
    """A connection for public reads only (each query its own transaction): the read
    replica's when `read_replica` allows, else the primary's.

    A replica that cannot lend one (it refuses or times out connecting, its idle connections
    were dropped and new ones fail) sends this request, and reads for a while, to the
    primary. A replica connection lost part-way raises DatabaseUnavailableError as usual,
    and marks the request so that `RetryOnPrimary` answers it again from the primary.
    """
    replica = read_replica(request)
    if replica is not None:
        async with _admitted(replica.gate):
            try:
                conn = await _lend(replica.pool, autocommit=True)
            except DatabaseUnavailableError as exc:
                replica_went_away(request, replica, exc)
            else:
                try:
                    async with _lent(replica.pool, conn) as lent:
                        yield lent
                except DatabaseUnavailableError as exc:
                    replica_went_away(request, replica, exc)
                    request.scope["state"][REPLICA_LOST] = True
                    raise
                return
    async with lent_connection(request, autocommit=True) as conn:
        yield conn


@asynccontextmanager
async def _admitted(gate: asyncio.Semaphore) -> AsyncIterator[None]:
    """Through a connection gate, or ServiceBusyError after CONNECTION_WAIT_S."""
    try:
        await asyncio.wait_for(gate.acquire(), timeout=CONNECTION_WAIT_S)
    except TimeoutError:
        raise ServiceBusyError(SERVICE_BUSY) from None
    try:
        yield
    finally:
        gate.release()


async def _lend(pool: ConnectionPool, *, autocommit: bool) -> Connection:
    """A connection of the pool: on the event loop when one is idle, else in a worker thread
    (waiting for a slot or opening a connection)."""
    conn = pool.lend_idle(autocommit=autocommit)
    if conn is None:
        conn = await run_in_threadpool(partial(pool.lend, autocommit=autocommit))
    return conn


@asynccontextmanager
async def _from_pool(pool: ConnectionPool, *, autocommit: bool) -> AsyncIterator[Connection]:
    """Lend and take back on the event loop when that cannot block (an idle connection, no
    transaction left to roll back), else in a worker thread."""
    conn = await _lend(pool, autocommit=autocommit)
    async with _lent(pool, conn) as lent:
        yield lent


@asynccontextmanager
async def _lent(pool: ConnectionPool, conn: Connection) -> AsyncIterator[Connection]:
    """A connection lent by `pool`, given back when the block ends."""
    try:
        yield conn
    except BaseException as exc:
        # The pool sees the request's error: a broken connection is discarded and reported
        # as the database being away.
        replacement = await _give_back(pool, conn, exc)
        if replacement is not None:
            raise replacement from exc
        raise
    await _give_back(pool, conn, None)


async def _give_back(
    pool: ConnectionPool, conn: Connection, error: BaseException | None
) -> BaseException | None:
    if pool.returns_at_once(conn):
        return pool.give_back(conn, error)
    return await run_in_threadpool(pool.give_back, conn, error)


@asynccontextmanager
async def _from_source(source: ConnectionSource) -> AsyncIterator[Connection]:
    """Any other source (a test's single connection), entered and left in a worker thread."""
    lending = source.connection()
    conn = await run_in_threadpool(lending.__enter__)
    try:
        yield conn
    except BaseException as exc:
        if not await run_in_threadpool(lending.__exit__, type(exc), exc, exc.__traceback__):
            raise
    else:
        await run_in_threadpool(lending.__exit__, None, None, None)


def json_text(payload: Any) -> str:
    """JSON as the service writes it: compact, non-ASCII characters as they are."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def json_response(payload: Any) -> Response:
    """JSON already shaped by PostgreSQL, sent without re-validation."""
    return Response(json_text(payload), media_type="application/json")


def feature_collection(total: int, features: list[Any]) -> Response:
    """A GeoJSON FeatureCollection page: the features and how many matched in all."""
    return json_response(
        {
            "type": "FeatureCollection",
            "numberMatched": total,
            "numberReturned": len(features),
            "features": features,
        }
    )


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """'minLon,minLat,maxLon,maxLat' checked, or None."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidRequestError(
            f"bbox must be four numbers minLon,minLat,maxLon,maxLat; got {text!r}"
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidRequestError(
            f"bbox must be four numbers minLon,minLat,maxLon,maxLat; got {text!r}"
        )
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidRequestError(
            f"bbox {text!r} is not minLon,minLat,maxLon,maxLat within -180..180 and -90..90"
        )
    return min_lon, min_lat, max_lon, max_lat


class RequestBodyLimit(HttpMiddleware):
    """ASGI middleware answering 413 to a body over the limit, declared or streamed, and 400
    to a request carrying a NUL character in its URL or body."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = scope["method"] == "POST" and UPLOAD_PATHS.match(scope.get("path", ""))
        limit = MAX_UPLOAD_BODY_BYTES if upload else MAX_REQUEST_BODY_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, PayloadTooLargeError(too_large(limit)))
            return
        url = bytes(scope.get("raw_path") or b"") + b"?" + bytes(scope.get("query_string") or b"")
        if any(nul in url for nul in _NUL_IN_URL):
            await _refuse(send, InvalidRequestError(HAS_NUL))
            return
        if upload:
            # Uploads stream to their endpoint, which writes them to a file as they arrive;
            # the count here still ends any body over the limit, whoever reads it.
            await self.app(scope, _counted(receive, limit, upload_too_large(limit)), send)
            return
        # Read the whole (bounded) body first, so a chunked body over the limit is refused
        # before any handler runs, then hand it on unchanged.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, PayloadTooLargeError(too_large(limit)))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if any(nul in body for nul in _NUL_IN_BODY):
            await _refuse(send, InvalidRequestError(HAS_NUL))
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _counted(receive: Receive, limit: int, error: PayloadTooLargeError) -> Receive:
    """`receive`, raising `error` (413) once the body passes `limit` bytes."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise error
        return message

    return counted


async def _refuse(send: Send, error: InvalidRequestError | PayloadTooLargeError) -> None:
    """Answer with the error's status and message, as the domain error handler would."""
    payload = json.dumps({"detail": str(error)}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_for(error),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RetryOnPrimary:
    """ASGI middleware answering a GET or HEAD again, from the primary, when the read replica
    dropped the request's connection part-way and nothing of the answer was sent yet: the
    replica going away costs the request time, never an error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        received: list[Message] = []
        held: list[Message] = []

        async def recording() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received.append(message)
            return message

        async def holding(message: Message) -> None:
            if held or (
                message["type"] == "http.response.start"
                and message["status"] >= 500
                and state.get(REPLICA_LOST)
            ):
                held.append(message)  # the replica's failure, answered again below
                return
            await send(message)

        await self.app(scope, recording, holding)
        if not held:
            return
        replayed = list(received)

        async def replaying() -> Message:
            return replayed.pop(0) if replayed else await receive()

        again = {**scope, "state": {**state, PRIMARY_ONLY: True, REPLICA_LOST: False}}
        await self.app(again, replaying, send)


def retry_reads_on_primary(app: FastAPI) -> None:
    """Answer public reads the read replica failed part-way again from the primary."""
    app.add_middleware(RetryOnPrimary)


def limit_request_bodies(app: FastAPI) -> None:
    """Refuse bodies over MAX_REQUEST_BODY_BYTES (uploads: MAX_UPLOAD_BODY_BYTES) with a 413,
    and a NUL character anywhere in a request with a 400."""
    app.add_middleware(RequestBodyLimit)
