"""Fixtures shared by the API tests: a demo-city connection whose commits are savepoints, and
a TestClient of the app on it (a module may define its own `conn` or `client` instead)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.test_auth import RequestTransactions, api_client, api_connection


@pytest.fixture
def conn(demo_db_url: str) -> Iterator[RequestTransactions]:
    with api_connection(demo_db_url) as connection:
        yield connection


@pytest.fixture
def client(conn: RequestTransactions, demo_home: Path) -> Iterator[TestClient]:
    with api_client(conn, demo_home) as test_client:
        yield test_client
