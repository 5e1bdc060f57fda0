"""Public map answers kept by each worker until the data behind them changes.

Schools, wards and tiles change only when data is imported or edited, yet every parent's map
asks for them. An answer is kept under its URL with the public data version it was made at
(`public_data_version`, moved by a trigger on every change to the tables behind these
answers, see migration 0007); it is served again while the version read for the request is
the same, so a change is seen by the very next request, in any worker. The version doubles as
the ETag, so a browser revalidating an answer it holds gets a 304 with no body.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response

from gis_service.db.connection import Connection

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


def public_data_version(conn: Connection) -> int:
    """The version of the data behind public answers, as this connection sees it."""
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM public_data_version")
        row = cur.fetchone()
    if row is None:
        raise RuntimeError("public_data_version has no row: run `schoolmap db upgrade`")
    return int(row[0])


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


def _answer(kept: Kept, etag: str, request: Request) -> Response:
    headers = {**dict(kept.headers), "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(kept.body, media_type=kept.media_type, headers=headers)


def cached_answer(request: Request, conn: Connection, make: Callable[[], Response]) -> Response:
    """The kept answer to this request if the public data has not changed since, else a new
    one made by `make` and kept. Errors raised by `make` are not kept."""
    store = public_answers(request)
    key = request_key(request)
    version = public_data_version(conn)
    etag = f'W/"{version}"'
    kept = store.get(key, version)
    if kept is None:
        made = make()
        if made.status_code != 200:
            return made
        kept = Kept(
            version,
            bytes(made.body),
            made.media_type,
            tuple((k, v) for k, v in made.headers.items() if k in KEPT_HEADERS),
        )
        store.put(key, kept)
    return _answer(kept, etag, request)
