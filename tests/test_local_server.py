"""Finding, starting and preparing local PostgreSQL servers, against real servers."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql

from gis_service.config import DatabaseSettings
from gis_service.db.local_server import (
    ensure_database,
    resolve_database_url,
    stop_owned_server,
)
from gis_service.errors import DatabaseUnavailableError

SOCKET_DIRS = (Path("/var/run/postgresql"), Path("/tmp"))


def _port_is_free(port: int) -> bool:
    if any((d / f".s.PGSQL.{port}").exists() for d in SOCKET_DIRS):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if _port_is_free(port):
            return port
    raise RuntimeError("no free port found")


def _unused_port() -> int:
    """A port where no PostgreSQL listens: 5999 if it is free, else another free one."""
    return 5999 if _port_is_free(5999) else _free_port()


def _unique_name() -> str:
    return f"schoolmap_test_{uuid.uuid4().hex[:12]}"


def _fetch_one(url: str, query: str) -> object:
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            row = cur.fetchone()
            assert row is not None
            return row[0]
    finally:
        conn.close()


def _drop_database(url: str) -> None:
    params = psycopg2.extensions.parse_dsn(url)
    admin = psycopg2.extensions.make_dsn(url, dbname="postgres")
    conn = psycopg2.connect(admin, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(params["dbname"])
                )
            )
    finally:
        conn.close()


def _assert_prepared(url: str) -> None:
    assert str(_fetch_one(url, "SELECT postgis_version()"))
    assert _fetch_one(url, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'") == 1


@pytest.fixture
def shared_home() -> Iterator[Path]:
    """A home directory the postgres OS user can reach (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="schoolmap-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_url_from_settings_is_returned_unchanged(tmp_path: Path) -> None:
    url = "postgresql://someone:secret@db.example.invalid:6543/elsewhere?sslmode=require"
    settings = DatabaseSettings(url=url, home=tmp_path, local_port=_unused_port())
    assert resolve_database_url(settings) == url
    assert not (tmp_path / "postgres").exists()


def test_running_machine_server_is_used(tmp_path: Path) -> None:
    name = _unique_name()
    settings = DatabaseSettings(url=None, home=tmp_path, local_port=5432, name=name)
    # The machine's server on 5432 is part of the test environment: not finding it fails.
    url = resolve_database_url(settings, start_if_missing=False)
    assert not (tmp_path / "postgres").exists()
    assert psycopg2.extensions.parse_dsn(url)["dbname"] == name
    assert psycopg2.extensions.parse_dsn(url)["port"] == "5432"

    messages: list[str] = []
    try:
        ensure_database(url, progress=messages.append)
        _assert_prepared(url)
        assert any(name in m for m in messages)
        ensure_database(url)
    finally:
        _drop_database(url)


def test_owned_cluster_is_created_reused_stopped_and_restarted(shared_home: Path) -> None:
    settings = DatabaseSettings(
        url=None,
        home=shared_home,
        local_port=_unused_port(),
        owned_port=_free_port(),
        name=_unique_name(),
    )
    run_dir = shared_home / "postgres" / "run"
    try:
        messages: list[str] = []
        url = resolve_database_url(settings, progress=messages.append)
        assert (shared_home / "postgres" / "data" / "PG_VERSION").is_file()
        params = psycopg2.extensions.parse_dsn(url)
        assert params["host"] == str(run_dir)
        assert params["port"] == str(settings.owned_port)
        assert params["user"] == "postgres"
        assert params["dbname"] == settings.name
        assert any("creating" in m for m in messages)
        assert any("starting" in m for m in messages)

        ensure_database(url)
        _assert_prepared(url)
        system_id = _fetch_one(url, "SELECT system_identifier FROM pg_control_system()")
        pid = _fetch_one(url, "SELECT pg_backend_pid()")
        assert pid

        messages = []
        assert resolve_database_url(settings, progress=messages.append) == url
        assert not any("creating" in m or "starting" in m for m in messages)
        assert any("running" in m for m in messages)

        assert stop_owned_server(settings) is True
        assert not (run_dir / f".s.PGSQL.{settings.owned_port}").exists()
        assert stop_owned_server(settings) is False

        messages = []
        assert resolve_database_url(settings, progress=messages.append) == url
        assert any("starting" in m for m in messages)
        assert not any("creating" in m for m in messages)
        assert _fetch_one(url, "SELECT system_identifier FROM pg_control_system()") == system_id
        _assert_prepared(url)
    finally:
        stop_owned_server(settings)
    if os.geteuid() == 0:
        assert (shared_home / "postgres" / "data").stat().st_uid != 0


def test_nothing_there_without_starting_raises(tmp_path: Path) -> None:
    settings = DatabaseSettings(url=None, home=tmp_path, local_port=_unused_port())
    with pytest.raises(DatabaseUnavailableError, match="DATABASE_URL") as info:
        resolve_database_url(settings, start_if_missing=False)
    assert str(settings.local_port) in str(info.value)
    assert not (tmp_path / "postgres").exists()


def test_ensure_database_unreachable_server_raises() -> None:
    port = _unused_port()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/schoolmap_unreachable"
    with pytest.raises(DatabaseUnavailableError) as info:
        ensure_database(url)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "hunter2" not in message
    assert "***" in message
