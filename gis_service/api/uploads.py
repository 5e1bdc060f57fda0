"""Uploads streamed to a file within a size limit, and work on them that ends when the client
goes away."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from gis_service.admissions.applicant_file import ABANDONED
from gis_service.config import ImportSettings
from gis_service.errors import InvalidRequestError, PayloadTooLargeError

T = TypeVar("T")

# After an upload at least this large, the worker hands the memory it freed back to the system.
LARGE_UPLOAD_BYTES = 1_000_000


def upload_too_large(limit: int) -> PayloadTooLargeError:
    """The 413 error for a file over `limit` bytes."""
    vi = f"{limit:,}".replace(",", ".")
    return PayloadTooLargeError(
        f"Tệp lớn hơn {vi} byte cho phép; hãy chia tệp theo quận hoặc phường / the file is "
        f"larger than the {limit:,} bytes accepted; split it by district or ward"
    )


def import_limits(request: Request) -> ImportSettings:
    """The app's import settings, read from the environment once."""
    limits: ImportSettings | None = getattr(request.app.state, "import_settings", None)
    if limits is None:
        limits = ImportSettings()
        request.app.state.import_settings = limits
    return limits


async def receive_to_file(request: Request, path: Path, limit: int) -> int:
    """Write the request body to `path` as it arrives; return its size.

    A body declared or found larger than `limit` is refused (413) as soon as that is known,
    without reading the rest; a client that disconnects before the whole body has arrived
    ends the request (nothing of a cut body is ever imported).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise upload_too_large(limit)
    size = 0
    try:
        with path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise upload_too_large(limit)
                handle.write(chunk)
    except ClientDisconnect:
        raise InvalidRequestError(ABANDONED) from None
    # A body cut short by a disconnect may be handed on as if whole: its length, or the
    # connection's state, tells.
    cut = declared is not None and declared.isdigit() and int(declared) != size
    if cut or await request.is_disconnected():
        raise InvalidRequestError(ABANDONED)
    return size


async def run_while_connected(request: Request, work: Callable[[threading.Event], T]) -> T:
    """Run `work(stop)` in a worker thread; `stop` is set as soon as the client disconnects,
    and `work` is expected to end promptly then (checking it between steps)."""
    stop = threading.Event()
    watcher = asyncio.ensure_future(_watch_disconnect(request, stop))
    try:
        return await run_in_threadpool(work, stop)
    finally:
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher


async def _watch_disconnect(request: Request, stop: threading.Event) -> None:
    """Wait, on the event loop, for the client to disconnect; then set `stop`."""
    while not stop.is_set():
        message = await request.receive()
        if message["type"] == "http.disconnect":
            stop.set()
