"""The web map's own endpoints: the area reachable from a home, and the app's files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection
from tests.conftest import ROOT, SingleConnection


@pytest.fixture
def client(demo_db: Connection, demo_home: Path) -> Iterator[TestClient]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with TestClient(create_app(settings, pool=SingleConnection(demo_db))) as test_client:
        yield test_client


def a_school(conn: Connection) -> tuple[int, float, float]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM schools WHERE name = %s",
            ("Trường Tiểu học Lê Văn Thọ",),
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0]), float(row[1]), float(row[2])


def test_reach_from_a_home_holds_the_home_and_grows_with_time(
    client: TestClient, demo_db: Connection
) -> None:
    _, lon, lat = a_school(demo_db)
    areas = {}
    for mode, minutes in (("motorbike", 5), ("motorbike", 10), ("walk", 10)):
        response = client.get(
            "/reach", params={"lat": lat, "lon": lon, "mode": mode, "minutes": minutes}
        )
        assert response.status_code == 200
        feature = response.json()
        shape = shapely.geometry.shape(feature["geometry"])
        assert shape.covers(shapely.Point(lon, lat))
        areas[mode, minutes] = feature["properties"]["area_km2"]
    assert areas["walk", 10] < areas["motorbike", 5] < areas["motorbike", 10]


def test_reach_from_a_school_s_own_point_is_the_school_s_reach(
    client: TestClient, demo_db: Connection
) -> None:
    school_id, lon, lat = a_school(demo_db)
    home = client.get("/reach", params={"lat": lat, "lon": lon, "minutes": 7}).json()
    school = client.get(f"/schools/{school_id}/reach", params={"minutes": 7}).json()
    assert home["properties"]["area_km2"] == school["properties"]["area_km2"]
    assert home["geometry"] == school["geometry"]


def test_reach_from_outside_the_network_says_so(client: TestClient) -> None:
    response = client.get("/reach", params={"lat": 10.0, "lon": 106.0})
    assert response.status_code == 422
    assert "outside the network area" in response.json()["detail"]
    assert (
        client.get("/reach", params={"lat": 10.45, "lon": 106.62, "mode": "boat"}).status_code
        == 422
    )
    assert (
        client.get("/reach", params={"lat": 10.45, "lon": 106.62, "minutes": 0}).status_code == 422
    )


def test_app_files_are_served_and_nothing_else(client: TestClient) -> None:
    script = client.get("/web/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    library = client.get("/web/vendor/maplibre-gl/maplibre-gl.js")
    assert library.status_code == 200 and len(library.content) > 500_000
    for bad in ("../pyproject.toml", "%2e%2e/pyproject.toml", "node_modules/x.js", "missing.js"):
        assert client.get(f"/web/{bad}").status_code == 404, bad


def test_the_page_needs_no_other_server() -> None:
    """Every script and style the page loads is ours; the OSM raster is the one, optional, link."""
    page = (ROOT / "web" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'(?:src|href)="(https?:)?//', page) == []
    script = (ROOT / "web" / "app.js").read_text(encoding="utf-8")
    assert re.findall(r"https?://[^\"'`]+", script) == [
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    ]
    assert "© OpenStreetMap contributors" in script
