"""Shared fixtures: real PostGIS test databases, rolled back per test; skipped tests fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from gis_service.config import DatabaseSettings
from gis_service.db.connection import Connection, connect
from gis_service.db.local_server import ensure_database, resolve_database_url
from gis_service.db.migrate import upgrade

if TYPE_CHECKING:
    from tests.round_helpers import DemoRound

# The API tests' `conn` and `client` fixtures.
pytest_plugins = ["tests.api_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A skipped test hides a missing database or data set: the suite must not pass with one.
    if _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(
            f"{len(_skipped)} test(s) skipped; a skipped test fails this suite", red=True
        )


def server_url(dbname: str) -> str:
    """URL of a database on the test server (TEST_DATABASE_URL's server, or the local one)."""
    base = os.environ.get("TEST_DATABASE_URL") or resolve_database_url(
        DatabaseSettings(url=None, name=dbname)
    )
    return make_dsn(base, dbname=dbname)


def recreate_database(dbname: str) -> str:
    """Drop and create a migrated database; return its URL.

    SCHOOLMAP_TEST_DB_SUFFIX, when set, is appended to every test database's name, so two test
    runs on one server never drop each other's databases.
    """
    dbname += os.environ.get("SCHOOLMAP_TEST_DB_SUFFIX", "")
    url = server_url(dbname)
    admin = psycopg2.connect(make_dsn(url, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
        )
    admin.close()
    ensure_database(url)
    conn = connect(url)
    upgrade(conn)
    conn.close()
    return url


@pytest.fixture(scope="session")
def empty_db_url() -> str:
    """A migrated database with no data, shared by the session; tests roll back."""
    return recreate_database("schoolmap_test")


@contextmanager
def rolled_back(url: str) -> Iterator[Connection]:
    """A connection whose one transaction is rolled back at the end, whatever happened."""
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def db(empty_db_url: str) -> Iterator[Connection]:
    """The empty database, in a transaction rolled back after the test."""
    with rolled_back(empty_db_url) as conn:
        yield conn


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SCHOOLMAP_HOME of the demo database: its generated files and network graph files."""
    return tmp_path_factory.mktemp("demo-home")


@pytest.fixture(scope="session")
def demo_db_url(demo_home: Path) -> str:
    """A migrated database holding the demo city and its networks (committed once)."""
    from gis_service.demo import load_demo_city
    from gis_service.importers.report import no_progress
    from gis_service.routing.profiles import MODES, default_profile
    from gis_service.routing.store import build_and_store

    url = recreate_database("schoolmap_test_demo")
    conn = connect(url)
    try:
        load_demo_city(conn, demo_home / "demo", progress=no_progress)
        for mode in MODES:
            build_and_store(conn, default_profile(mode), demo_home, progress=no_progress)
        conn.commit()
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def closed_round(
    demo_db_url: str, demo_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoRound]:
    """A closed grade-1 round of the whole demo city with its applicants, for one module
    (rolled back at its end; a DemoRound of tests.round_helpers)."""
    from tests.round_helpers import demo_round

    with demo_round(demo_db_url, demo_home, tmp_path_factory.mktemp("home")) as made:
        yield made


@pytest.fixture
def demo_db(demo_db_url: str) -> Iterator[Connection]:
    """The demo city, in a transaction rolled back after the test."""
    with rolled_back(demo_db_url) as conn:
        yield conn


class SingleConnection:
    """Lends the test's own connection to the API, so API calls see and undo test data."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        yield self.conn

    def close(self) -> None:
        """The test fixture closes the connection."""


def table_counts(conn: Connection) -> dict[str, int]:
    """Row counts of the tables importers write, to show a failed import changed nothing."""
    tables = [
        "admin_units",
        "admin_population",
        "admin_population_by_age",
        "osm_extracts",
        "road_ways",
        "schools",
        "school_grades",
    ]
    counts = {}
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            counts[table] = cur.fetchone()[0]
    return counts
