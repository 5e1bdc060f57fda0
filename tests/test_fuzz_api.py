"""Bad input over HTTP: every endpoint fuzzed from the OpenAPI spec, anonymous and signed in;
SQL injection in every text parameter; oversized bodies refused with 413."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from gis_service.api.app import create_app
from gis_service.api.deps import MAX_REQUEST_BODY_BYTES
from gis_service.auth import sessions
from gis_service.auth.roles import CITY_ADMIN, DISTRICT_OFFICER, PARENT, PLANNER, SCHOOL_STAFF
from gis_service.auth.users import create_user
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import ConnectionPool, connect

PASSWORD = "mat-khau-kiem-thu-2025"
INJECTIONS = (
    "' OR '1'='1",
    "'; DROP TABLE schools; --",
    "1) UNION SELECT id, username, password_hash FROM users --",
    "\\'; SELECT pg_sleep(0); --",
    "%' AND 1=CAST((SELECT version()) AS int) --",
    "\x00",
)


def clone_database(template_url: str, name: str) -> str:
    """A copy of the template database (the demo city), made fresh for this module."""
    name += os.environ.get("SCHOOLMAP_TEST_DB_SUFFIX", "")
    template = psycopg2.extensions.parse_dsn(template_url)["dbname"]
    admin = psycopg2.connect(make_dsn(template_url, dbname="postgres"))
    admin.autocommit = True
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        # A template must have no other session; another test may hold one for a moment.
        for attempt in range(30):
            try:
                cur.execute(create)
                break
            except psycopg2.errors.ObjectInUse:
                if attempt == 29:
                    raise
                time.sleep(1)
    admin.close()
    return make_dsn(template_url, dbname=name)


@pytest.fixture(scope="module")
def fuzz_db_url(demo_db_url: str) -> str:
    """A copy of the demo city the fuzzer may write to, with one account per role."""
    url = clone_database(demo_db_url, "schoolmap_test_fuzz")
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT min(id) FROM schools")
            school_id = int(cur.fetchone()[0])  # type: ignore[index]
        for role in (PARENT, SCHOOL_STAFF, DISTRICT_OFFICER, CITY_ADMIN, PLANNER):
            create_user(
                conn,
                username=f"fuzz_{role}",
                password=PASSWORD,
                role=role,
                area=["901"] if role == DISTRICT_OFFICER else (),
                school_id=school_id if role == SCHOOL_STAFF else None,
            )
        conn.commit()
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def tokens(fuzz_db_url: str) -> dict[str, str]:
    """A bearer token per role."""
    conn = connect(fuzz_db_url)
    try:
        signed = {
            role: sessions.login(conn, f"fuzz_{role}", PASSWORD, lifetime=timedelta(hours=2)).token
            for role in (PARENT, SCHOOL_STAFF, DISTRICT_OFFICER, CITY_ADMIN, PLANNER)
        }
        conn.commit()
    finally:
        conn.close()
    return signed


@pytest.fixture(scope="module")
def fuzz_app(fuzz_db_url: str, demo_home: Path) -> Iterator[FastAPI]:
    """The app on the fuzz database, started (its lifespan has run) for the module."""
    app_settings = Settings(database=DatabaseSettings(url=fuzz_db_url, home=demo_home))
    pool = ConnectionPool(fuzz_db_url, 4)
    app = create_app(app_settings, pool=pool)
    with TestClient(app):
        yield app
    # schemathesis runs ASGI apps on one event-loop thread it keeps until the interpreter
    # exits; stop it now, so later tests run in a single-threaded process (the routing
    # service forks its workers only then).
    from schemathesis.python import asgi

    asgi._shutdown()
    pool.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def answered_badly(response: Any) -> str | None:
    """Why an answer is wrong (a server error, or a refusal that does not say why), or None."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400 and response.status_code != 405:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = None
        if not detail:
            return f"{response.status_code} without a detail: {response.text[:300]}"
    return None


def fuzz_operation(
    operation: Any, headers: dict[str, str], examples: int, problems: list[str]
) -> None:
    """Call one operation with generated requests, noting every bad answer."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.generate],
    )
    def call(case: Any) -> None:
        why = answered_badly(case.call(headers=headers))
        if why:
            problems.append(f"{operation.label}: {why}")

    call()


def fuzz_every_operation(api_schema: Any, headers: dict[str, str], examples: int) -> list[str]:
    """Call every operation with generated requests; return what went wrong, per operation."""
    problems: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        fuzz_operation(operation, headers, examples, problems)
    return sorted(set(problems))


def test_every_endpoint_anonymous_answers_without_server_errors(api_schema: Any) -> None:
    assert fuzz_every_operation(api_schema, {}, examples=8) == []


@pytest.mark.parametrize("role", [CITY_ADMIN, PARENT, DISTRICT_OFFICER])
def test_every_endpoint_signed_in_answers_without_server_errors(
    api_schema: Any, tokens: dict[str, str], role: str
) -> None:
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    assert fuzz_every_operation(api_schema, headers, examples=6) == []


def text_parameters(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, name) of every string query parameter in the OpenAPI spec."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                kinds = {parameter.get("schema", {}).get("type")} | {
                    option.get("type") for option in parameter.get("schema", {}).get("anyOf", [])
                }
                if parameter["in"] == "query" and "string" in kinds:
                    found.append((method.upper(), path, parameter["name"]))
    return found


def row_counts(url: str) -> dict[str, int]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            counts = {}
            for table in ("schools", "users", "admin_units", "rounds", "applications"):
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                counts[table] = int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()
    return counts


def test_sql_injection_in_every_text_parameter_is_refused(
    fuzz_app: FastAPI, fuzz_db_url: str, tokens: dict[str, str]
) -> None:
    targets = text_parameters(fuzz_app)
    assert ("GET", "/schools", "q") in targets
    before = row_counts(fuzz_db_url)
    client = TestClient(fuzz_app)
    headers = {"Authorization": f"Bearer {tokens[CITY_ADMIN]}"}
    for method, path, name in targets:
        # Path parameters get a plain id; the injection goes in the text parameter.
        concrete = path
        for part in path.split("/"):
            if part.startswith("{"):
                concrete = concrete.replace(part, "1")
        for attack in INJECTIONS:
            answer = client.request(method, concrete, params={name: attack}, headers=headers)
            assert answer.status_code < 500, (method, concrete, name, attack, answer.text)
    for attack in INJECTIONS:
        login = client.post("/auth/login", json={"username": attack, "password": attack})
        found = client.get("/schools", params={"q": attack})
        if "\x00" in attack:
            assert login.status_code == found.status_code == 400
            assert "NUL" in found.json()["detail"]
            continue
        assert login.status_code in (401, 422), login.text
        assert found.status_code == 200 and found.json()["numberMatched"] == 0
    # A name search treats quotes as text: the whole table is not returned.
    assert row_counts(fuzz_db_url) == before


def test_oversized_bodies_are_refused_with_413(fuzz_app: FastAPI) -> None:
    client = TestClient(fuzz_app)
    big = b'{"username": "' + b"a" * MAX_REQUEST_BODY_BYTES + b'", "password": "x"}'
    declared = client.post("/auth/login", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert "quá lớn" in declared.json()["detail"] and "64 KiB" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    streamed = client.post(
        "/rounds/1/applications",
        content=chunks(),
        headers={"content-type": "application/json", "Idempotency-Key": "k"},
    )
    assert streamed.status_code == 413
    # An applicants' CSV may be larger; it is then judged on its merits (here: who sends it).
    upload = client.post(
        "/rounds/1/applicants",
        content=b"child_id,birth_date,lon,lat\n" * 5000,
        headers={"content-type": "text/csv"},
    )
    assert upload.status_code == 401
    # Under the limit the request is read and judged on its merits.
    small = client.post("/auth/login", json={"username": "a" * 1000, "password": "x"})
    assert small.status_code in (401, 422)
