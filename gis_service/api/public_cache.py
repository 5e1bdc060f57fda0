"""Public map answers kept by each worker until the data behind them changes.

Schools, wards and tiles change only when data is imported or edited, yet every parent's map
asks for them. An answer is kept under its URL with the public data version it was made at
(`public_data_version`, moved by a trigger on every change to the tables behind these
answers, see migration 0007); it is served again while the version read for the request is
the same, so a change is seen by the very next request, in any worker (with a read replica,
by the next request once the replica has replayed it: see gis_service.db.replica). The version
doubles as the ETag, so a browser revalidating an answer it holds gets a 304 with no body.

Answers about administrative units are made in one edition of them (`?edition=`, else the
current one): their key carries the edition the answer was made in, so an answer made in one
edition is never served for another, even when the current edition moves with no data change
(an edition coming into force on its date).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from gis_service.api.deps import (
    lent_read_connection,
    read_replica,
    reads_on_primary,
    replica_went_away,
)
from gis_service.db.connection import Connection
from gis_service.db.version_reader import VersionReader, public_data_version
from gis_service.errors import DatabaseUnavailableError
from gis_service.units.editions import check_edition, current_edition

MAX_ENTRIES = 4096
MAX_BYTES = 64 * 1024 * 1024
# Answers larger than this are made each time rather than crowd out the rest.
MAX_ENTRY_BYTES = 8 * 1024 * 1024
# Headers of a made answer that are kept with it (content-length is recomputed).
KEPT_HEADERS = ("cache-control",)


@dataclass(frozen=True)
class Kept:
    """One answer as made: its data version, body, media type and kept headers."""

    version: int
    body: bytes
    media_type: str | None
    headers: tuple[tuple[str, str], ...]


class PublicAnswers:
    """A bounded, thread-safe store of public answers keyed by URL, least recently used out."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: str, version: int) -> Kept | None:
        """The answer kept for `key` at `version`, if any."""
        with self._lock:
            kept = self._entries.get(key)
            if kept is None or kept.version != version:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return kept

    def put(self, key: str, kept: Kept) -> None:
        """Keep an answer, dropping the least recently used ones beyond the bounds."""
        if len(kept.body) > MAX_ENTRY_BYTES:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = kept
            self._bytes += len(kept.body)
            while self._entries and (
                len(self._entries) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.body)

    def __len__(self) -> int:
        return len(self._entries)


def public_answers(request: Request) -> PublicAnswers:
    """The app's store (made with the app)."""
    store: PublicAnswers = request.app.state.public_answers
    return store


def request_key(request: Request) -> str:
    """The URL path with its query parameters in a canonical order."""
    query = sorted(request.query_params.multi_items())
    return request.url.path + "?" + "&".join(f"{k}={v}" for k, v in query)


def _answer(kept: Kept, request: Request) -> Response:
    etag = f'W/"{kept.version}"'
    headers = {**dict(kept.headers), "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(kept.body, media_type=kept.media_type, headers=headers)


def _keep(store: PublicAnswers, key: str, version: int, made: Response) -> Kept:
    kept = Kept(
        version,
        bytes(made.body),
        made.media_type,
        tuple((k, v) for k, v in made.headers.items() if k in KEPT_HEADERS),
    )
    store.put(key, kept)
    return kept


def edition_key(request: Request, edition: str) -> str:
    """The key of an answer made in an edition of the administrative units."""
    return f"{request_key(request)}#edition={edition}"


def cached_answer(
    request: Request, conn: Connection, make: Callable[[], Response], key: str | None = None
) -> Response:
    """The kept answer to this request (under `key`, else its URL) if the public data has not
    changed since, else a new one made by `make` and kept. Errors raised by `make` are not
    kept."""
    store = public_answers(request)
    key = key or request_key(request)
    version = public_data_version(conn)
    kept = store.get(key, version)
    if kept is None:
        made = make()
        if made.status_code != 200:
            return made
        kept = _keep(store, key, version, made)
    return _answer(kept, request)


async def current_version(request: Request) -> int:
    """The public data version for this request: from the app's VersionReader on the event
    loop, or else through a lent connection of the app's source (a test's transaction)."""
    reader: VersionReader | None = getattr(request.app.state, "version_reader", None)
    if reader is not None:
        return await _read_version(request, reader)
    async with lent_read_connection(request) as conn:
        return await run_in_threadpool(public_data_version, conn)


async def _read_version(request: Request, primary: VersionReader) -> int:
    """The version, read where the request's data will be read (see gis_service.db.replica).

    On the read replica when it answers: the data read after it, on the replica or else on
    the primary (never behind the replica), is at least as new. Read on the primary, the
    request's data must be read there too, as the replica may not have reached the version.
    """
    replica = read_replica(request)
    if replica is not None:
        try:
            return await replica.version_reader.current()
        except DatabaseUnavailableError as exc:
            replica_went_away(request, replica, exc)
    reads_on_primary(request)
    return await primary.current()


async def public_answer(request: Request, make: Callable[[Connection], Response]) -> Response:
    """`cached_answer` for an async endpoint; `make` runs in a worker thread on a lent
    read-only connection, and only when no kept answer holds.

    With the app's VersionReader (a real pool) the version is read on the event loop, so a
    kept answer costs no worker thread and no pooled connection. Any other connection source
    (a test's transaction) is asked for the version itself, as it sees the data.
    """
    reader: VersionReader | None = getattr(request.app.state, "version_reader", None)
    if reader is None:
        async with lent_read_connection(request) as conn:
            return await run_in_threadpool(cached_answer, request, conn, partial(make, conn))
    store = public_answers(request)
    key = request_key(request)
    version = await _read_version(request, reader)
    kept = store.get(key, version)
    if kept is None:
        # The data is read after the version: an answer newer than its version is only made
        # again once more, never an older answer kept as new.
        async with lent_read_connection(request) as conn:
            made = await run_in_threadpool(make, conn)
        if made.status_code != 200:
            return made
        kept = _keep(store, key, version, made)
    return _answer(kept, request)


@dataclass(frozen=True)
class KnownEdition:
    """The current edition as read at one public data version on one day."""

    version: int
    day: date
    edition: str


def _known_current_edition(request: Request, version: int) -> str | None:
    known: KnownEdition | None = getattr(request.app.state, "current_edition", None)
    if known is not None and known.version == version and known.day == date.today():
        return known.edition
    return None


def _read_current_edition(request: Request, conn: Connection, version: int) -> str:
    """The current edition, read once per public data version and day by each worker: it moves
    only with the units loaded (which move the version) or an edition's start date."""
    edition = _known_current_edition(request, version)
    if edition is None:
        edition = current_edition(conn)
        request.app.state.current_edition = KnownEdition(version, date.today(), edition)
    return edition


async def public_answer_in_edition(
    request: Request, asked: str | None, make: Callable[[Connection, str], Response]
) -> Response:
    """`public_answer` for an answer about administrative units: made by `make(conn, edition)`
    in the edition asked for (checked: a 400 naming the editions otherwise), else in the
    current one, and kept under a key naming that edition."""
    chosen = check_edition(asked) if asked else None
    reader: VersionReader | None = getattr(request.app.state, "version_reader", None)
    if reader is None:
        async with lent_read_connection(request) as conn:

            def answer() -> Response:
                version = public_data_version(conn)
                edition = chosen or _read_current_edition(request, conn, version)
                return cached_answer(
                    request, conn, partial(make, conn, edition), edition_key(request, edition)
                )

            return await run_in_threadpool(answer)
    store = public_answers(request)
    version = await _read_version(request, reader)
    known = chosen or _known_current_edition(request, version)
    kept = store.get(edition_key(request, known), version) if known else None
    if kept is None:
        async with lent_read_connection(request) as conn:

            def made_now() -> tuple[str, Response]:
                edition = chosen or _read_current_edition(request, conn, version)
                return edition, make(conn, edition)

            edition, made = await run_in_threadpool(made_now)
        if made.status_code != 200:
            return made
        kept = _keep(store, edition_key(request, edition), version, made)
    return _answer(kept, request)
