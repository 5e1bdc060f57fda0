"""Privacy: every route refuses the roles it does not declare, and nothing public (API answers,
map tiles) changes when children's applications and homes are stored."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.identity import child_id_hash
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.api.app import create_app
from gis_service.auth import sessions
from gis_service.auth.roles import (
    CITY_ADMIN,
    DISTRICT_OFFICER,
    PARENT,
    PLANNER,
    ROLES,
    SCHOOL_STAFF,
    WARD_OFFICER,
)
from gis_service.auth.users import create_user
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection, ConnectionPool, connect
from gis_service.importers.report import no_progress
from gis_service.planning.zones import ZoneSettings, make_zones
from gis_service.routing.service import RoutingService
from gis_service.units.editions import current_edition
from tests.conftest import SingleConnection
from tests.test_fuzz_api import clone_database

PASSWORD = "mat-khau-rieng-tu-2025"
ANY_SIGNED_IN = frozenset(ROLES)


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every API route of the app, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def declared_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles a route's dependencies admit: None if public, all roles if any sign-in."""
    found: frozenset[str] | None = None
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        call = dependant.call
        name = getattr(call, "__qualname__", "")
        if name == "require_roles.<locals>.dependency" and call is not None:
            cells = dict(zip(call.__code__.co_freevars, call.__closure__ or (), strict=True))
            roles = frozenset(cells["roles"].cell_contents)
            found = roles if found is None else found & roles
        elif name == "current_user" and found is None:
            found = ANY_SIGNED_IN
        stack.extend(dependant.dependencies)
    return found


def concrete(path: str) -> str:
    """The path with every parameter given a plausible value."""
    values = {"{z}": "14", "{x}": "13000", "{y}": "7700", "{relative:path}": "app.js"}
    # Ids of nothing: a role check must come before any lookup, and no account is touched.
    parts = [values.get(p, "999999") if p.startswith("{") else p for p in path.split("/")]
    return "/".join(parts)


@pytest.fixture(scope="module")
def roles_db_url(demo_db_url: str) -> str:
    """A copy of the demo city with one account per role."""
    url = clone_database(demo_db_url, "schoolmap_test_privacy")
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT min(id) FROM schools")
            school_id = int(cur.fetchone()[0])  # type: ignore[index]
            cur.execute("SELECT min(code) FROM admin_units WHERE level = 'ward'")
            ward = str(cur.fetchone()[0])  # type: ignore[index]
        areas = {DISTRICT_OFFICER: ["901"], WARD_OFFICER: [ward]}
        for role in ROLES:
            create_user(
                conn,
                username=f"privacy_{role}",
                password=PASSWORD,
                role=role,
                area=areas.get(role, ()),
                school_id=school_id if role == SCHOOL_STAFF else None,
            )
        conn.commit()
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def role_clients(roles_db_url: str, demo_home: Path) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    conn = connect(roles_db_url)
    try:
        tokens = {
            role: sessions.login(
                conn, f"privacy_{role}", PASSWORD, lifetime=timedelta(hours=1)
            ).token
            for role in ROLES
        }
        conn.commit()
    finally:
        conn.close()
    pool = ConnectionPool(roles_db_url, 4)
    app = create_app(
        Settings(database=DatabaseSettings(url=roles_db_url, home=demo_home)), pool=pool
    )
    with TestClient(app):
        yield app, tokens
    pool.close()


def test_the_declared_roles_are_what_the_issue_asks() -> None:
    routes = {
        (m, r.path): declared_roles(r) for r in api_routes(create_app().routes) for m in r.methods
    }
    # Parents alone submit and read applications; officers alone run and publish.
    assert routes[("POST", "/rounds/{round_id}/applications")] == {PARENT}
    assert routes[("GET", "/applications")] == {PARENT}
    assert PARENT not in (routes[("POST", "/rounds/{round_id}/runs")] or set())
    assert PARENT not in (routes[("POST", "/rounds/{round_id}/runs/{run_id}/publish")] or set())
    assert PARENT not in (routes[("POST", "/rounds/{round_id}/applicants")] or set())
    assert PLANNER not in (routes[("POST", "/rounds/{round_id}/applicants")] or set())
    # The public map reads no personal data and needs no sign-in.
    for public in ("/schools", "/wards", "/schools/near", "/tiles/{z}/{x}/{y}.pbf", "/health"):
        assert routes[("GET", public)] is None, public


def test_every_route_refuses_every_role_it_does_not_declare(
    role_clients: tuple[FastAPI, dict[str, str]],
) -> None:
    app, tokens = role_clients
    client = TestClient(app)
    checked = 0
    # Signing out last: it ends the session the other calls use.
    routes = sorted(api_routes(app.routes), key=lambda r: r.path == "/auth/logout")
    for route in routes:
        roles = declared_roles(route)
        if roles is None:
            continue
        for method in route.methods:
            path = concrete(route.path)
            anonymous = client.request(method, path, json={})
            assert anonymous.status_code == 401, (method, route.path, anonymous.text)
            assert "đăng nhập" in anonymous.json()["detail"].lower()
            for role, token in tokens.items():
                answer = client.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {token}"}
                )
                if role in roles:
                    assert answer.status_code != 401, (method, route.path, role, answer.text)
                    assert "only roles" not in answer.text, (method, route.path, role)
                else:
                    assert answer.status_code == 403, (method, route.path, role, answer.text)
                    assert "only roles" in answer.json()["detail"]
            checked += 1
    assert checked >= 15


# ----------------------------------------------------------------- public answers and tiles


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 1 << zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def public_requests(conn: Connection) -> list[str]:
    """A request for every public GET route, over the demo city."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM schools WHERE 'tieu_hoc' = ANY(levels) "
            "ORDER BY id LIMIT 1"
        )
        school, lon, lat = cur.fetchone()  # type: ignore[misc]
    requests = [
        "/health",
        "/schools",
        "/schools?limit=5000&q=truong",
        f"/schools/{school}",
        "/wards",
        "/wards?simplify=0",
        f"/schools/near?lat={lat}&lon={lon}&level=tieu_hoc&limit=50",
        f"/route?from={lat},{lon}&to_school={school}",
        "/zones?grade=1",
        # (The GeoPackages hold the same rows, with a time stamp of their making.)
        "/open-data/schools?format=csv",
        "/open-data/units?format=csv",
        f"/zones/chances?lat={lat}&lon={lon}&grade=1",
        f"/schools/{school}/reach?minutes=10",
        f"/reach?lat={lat}&lon={lon}&minutes=10",
        "/geocode?q=Phường",
        "/planning/forecast?years=2026-2028&grade=1",
        "/planning/forecast?years=2026&grade=1&geojson=true",
        "/planning/gap?grade=1&year=2026",
        "/planning/years",
        # The CSV export (the GeoPackage holds the same figures, with a time stamp of its making).
        "/planning/export?grade=1&year=2026&format=csv",
        "/tiles/style.json",
        "/tiles/tiles.json",
        "/fonts/DejaVu%20Sans%20Book/0-255.pbf",
        # OGC API – Features: every public layer, whole.
        "/conformance",
        "/collections",
        "/collections/truong_hoc",
        f"/collections/truong_hoc/items/{school}",
        *(
            f"/collections/{layer}/items?limit=10000"
            for layer in ("truong_hoc", "vung_tuyen_lop1", "du_bao_lop1", "du_bao_lop6")
        ),
        f"/collections/don_vi_{current_edition(conn)}/items?limit=10000",
    ]
    for zoom in (12, 14, 16):
        x, y = tile_of(lon, lat, zoom)
        requests += [
            f"/tiles/{zoom}/{x + dx}/{y + dy}.pbf" for dx in (-1, 0, 1) for dy in (-1, 0, 1)
        ]
    return requests


def answers(client: TestClient, requests: list[str]) -> dict[str, tuple[int, bytes]]:
    return {r: (a.status_code, a.content) for r in requests for a in [client.get(r)]}


def store_children(conn: Connection, home: Path) -> list[tuple[str, float, float]]:
    """A round's worth of applicants from the demo households: (id code, lon, lat) of each."""
    made = create_round(
        conn, name="Riêng tư / privacy", grade=1, school_year="2025-2026", districts=["901"]
    )
    households = home / "demo" / "households.csv"
    import_applicants(conn, made.round_id, households, b"p" * 32, no_progress)
    set_round_status(conn, made.round_id, "open")
    lines = households.read_text(encoding="utf-8").splitlines()[1:]
    return [(f.split(",")[0], float(f.split(",")[3]), float(f.split(",")[4])) for f in lines]


def test_public_answers_and_tiles_do_not_change_when_children_are_stored(
    demo_db: Connection, demo_home: Path
) -> None:
    app = create_app(
        Settings(database=DatabaseSettings(home=demo_home)), pool=SingleConnection(demo_db)
    )
    routes = {
        r.path for r in api_routes(app.routes) if declared_roles(r) is None and "GET" in r.methods
    }
    # Published school zones (forecasts and seats), for their public routes.
    make_zones(demo_db, RoutingService(demo_home), ZoneSettings(1, 2026), publish=True)
    requests = public_requests(demo_db)
    covered = {r.split("?")[0] for r in requests}
    templates = {
        "/schools/{school_id}",
        "/schools/{school_id}/reach",
        "/tiles/{z}/{x}/{y}.pbf",
        "/fonts/{fontstack}/{glyph_range}.pbf",
        "/collections/{collection_id}",
        "/collections/{collection_id}/items",
        "/collections/{collection_id}/items/{feature_id}",
    }
    # /metrics answers only to its own token (404 with none set, as here), never the public.
    missing = routes - covered - templates - {"/", "/web/{relative:path}", "/planner", "/metrics"}
    assert not missing, f"public routes this test does not call yet: {sorted(missing)}"
    with TestClient(app) as client:
        before = answers(client, requests)
        assert all(status == 200 for status, _ in before.values()), {
            r: s for r, (s, _) in before.items() if s != 200
        }
        children = store_children(demo_db, demo_home)
        with demo_db.cursor() as cur:
            cur.execute("SELECT count(*) FROM applicants")
            assert cur.fetchone()[0] >= len(children) > 1000  # type: ignore[index]
        after = answers(client, requests)
    changed = [r for r in requests if before[r] != after[r]]
    assert changed == [], f"public answers that depend on children's data: {changed}"
    everything = b"".join(body for _, body in after.values())
    for child_id, _, _ in children[:500]:
        assert child_id.encode() not in everything
        assert child_id_hash(child_id, b"p" * 32).encode() not in everything


def test_the_identity_code_is_stored_only_as_a_keyed_hash(
    demo_db: Connection, demo_home: Path
) -> None:
    children = store_children(demo_db, demo_home)
    with demo_db.cursor() as cur:
        cur.execute("SELECT child_id_hash FROM applicants")
        stored = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT to_jsonb(a)::text FROM applicants a")
        rows = " ".join(row[0] for row in cur.fetchall())
    some = [c for c, _, _ in children[:200]]
    assert {child_id_hash(c, b"p" * 32) for c in some} <= stored
    assert not any(c in rows for c in some)
    # A different key gives different hashes: the stored values cannot be looked up without it.
    assert not {child_id_hash(c, b"q" * 32) for c in some} & stored


# --------------------------------------------------------------- aggregated views, k = 10

SMALLEST_GROUP = 10


def test_the_demand_map_reveals_no_group_under_ten_by_subtraction(
    demo_db: Connection, demo_home: Path
) -> None:
    """A hidden small group must not be recoverable from two shown counts of the same ward:
    eligible children minus placed children is the group of children not placed there."""
    from gis_service.admissions.runs import run_round
    from gis_service.routing.service import RoutingService

    made = create_round(
        demo_db,
        name="Nhóm nhỏ / small groups",
        grade=1,
        school_year="2025-2026",
        districts=["901"],
    )
    import_applicants(
        demo_db, made.round_id, demo_home / "demo" / "households.csv", b"p" * 32, no_progress
    )
    with demo_db.cursor() as cur:
        # Seats for all but five of the eligible children: five are left out, in some wards.
        cur.execute(
            "SELECT count(*) FROM applications WHERE round_id = %s AND status = 'eligible'",
            (made.round_id,),
        )
        eligible = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("SELECT school_id FROM school_grades WHERE grade = 1 ORDER BY school_id")
        schools = [row[0] for row in cur.fetchall()]
        seats = eligible - 5
        for i, school in enumerate(schools):
            size = seats // len(schools) + (seats % len(schools) if i == 0 else 0)
            cur.execute(
                "UPDATE school_grades SET classes = 1, class_size = %s "
                "WHERE grade = 1 AND school_id = %s",
                (size, school),
            )
    set_round_status(demo_db, made.round_id, "open")
    set_round_status(demo_db, made.round_id, "closed")
    run = run_round(demo_db, RoutingService(demo_home), made.round_id, "nearest", seed=1)
    create_user(demo_db, username="k_admin", password=PASSWORD, role=CITY_ADMIN)
    token = sessions.login(demo_db, "k_admin", PASSWORD, lifetime=timedelta(hours=1)).token
    app = create_app(
        Settings(database=DatabaseSettings(home=demo_home)), pool=SingleConnection(demo_db)
    )
    with TestClient(app) as client:
        answer = client.get(
            f"/rounds/{made.round_id}/demand",
            params={"run": run.run_id},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    revealed = []
    for feature in answer.json()["features"]:
        shown = feature["properties"]
        for whole, part in (("eligible", "placed"), ("placed", "beyond_norm")):
            if shown[whole] is not None and shown[part] is not None:
                rest = shown[whole] - shown[part]
                if 0 < rest < SMALLEST_GROUP:
                    revealed.append(f"ward {shown['ward']}: {whole} - {part} = {rest}")
    assert revealed == [], f"groups under {SMALLEST_GROUP} recoverable: {revealed}"
