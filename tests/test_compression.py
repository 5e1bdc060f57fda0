"""Answers a client can take compressed are sent gzipped: the app's script, the GeoJSON
layers, vector tiles; small answers and clients that do not ask go as they are."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import GZIP_FROM_BYTES, create_app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection
from tests.conftest import SingleConnection
from tests.test_tiles import DEMO_LAT, DEMO_LON, tile_of

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture
def client(demo_db: Connection, demo_home: Path) -> Iterator[TestClient]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with TestClient(create_app(settings, pool=SingleConnection(demo_db))) as test_client:
        yield test_client


def sent(client: TestClient, url: str, headers: dict[str, str]) -> tuple[str | None, bytes]:
    """The content encoding and the bytes as they went over the wire (not decoded)."""
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, url
        return response.headers.get("content-encoding"), b"".join(response.iter_raw())


@pytest.mark.parametrize(
    "url",
    ["/web/vendor/maplibre-gl/maplibre-gl.js", "/web/app.js", "/", "/schools", "/wards"],
)
def test_large_answers_go_gzipped_and_unpack_to_the_same_bytes(
    client: TestClient, url: str
) -> None:
    encoding, packed = sent(client, url, GZIP)
    plain_encoding, plain = sent(client, url, PLAIN)
    assert (encoding, plain_encoding) == ("gzip", None)
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 2, (url, len(packed), len(plain))


def test_vector_tiles_go_gzipped(client: TestClient) -> None:
    x, y = tile_of(DEMO_LON, DEMO_LAT, 12)
    encoding, packed = sent(client, f"/tiles/12/{x}/{y}.pbf", GZIP)
    _, plain = sent(client, f"/tiles/12/{x}/{y}.pbf", PLAIN)
    assert len(plain) > GZIP_FROM_BYTES
    assert encoding == "gzip" and gzip.decompress(packed) == plain


def test_small_answers_go_as_they_are(client: TestClient) -> None:
    encoding, body = sent(client, "/health", GZIP)
    assert encoding is None and len(body) < GZIP_FROM_BYTES
