"""The web map's own endpoints: the area reachable from a home, and the app's files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.api.models import Health, SchoolCollection, WardCollection
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection
from gis_service.web_files import WEB_DIR
from tests.browser_support import ARTEFACTS, chromium, served
from tests.conftest import SingleConnection


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
    page = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'(?:src|href)="(https?:)?//', page) == []
    script = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    assert re.findall(r"https?://[^\"'`]+", script) == [
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    ]
    assert "© OpenStreetMap contributors" in script


def test_the_demo_city_reads_its_census_wards_as_before(
    client: TestClient, demo_db: Connection
) -> None:
    """No unit of 1 July 2025 is loaded: the current edition is the 2019 census wards."""
    health = Health.model_validate(client.get("/health").json())
    assert health.edition == "2019" and health.wards_by_edition["2025"] == 0
    assert health.wards == health.wards_by_edition["2019"] > 10
    default = client.get("/wards", params={"simplify": 20})
    named = client.get("/wards", params={"simplify": 20, "edition": "2019"})
    assert default.status_code == named.status_code == 200
    assert default.content == named.content
    collection = WardCollection.model_validate(default.json())
    assert collection.edition == "2019" and collection.numberMatched == health.wards
    for ward in collection.features:
        p = ward.properties
        assert p.edition == "2019" and p.district_code and p.population_source == "census"
        assert p.census_coverage == 1.0 and not p.no_census and p.census_note_vi is None
        assert p.former == [] and p.former_note_vi is None and p.matched_by is None
        assert p.population_latest == p.population["2024"]  # type: ignore[index]
    empty = client.get("/wards", params={"edition": "2025"}).json()
    assert empty["edition"] == "2025" and empty["numberMatched"] == 0
    schools = SchoolCollection.model_validate(client.get("/schools", params={"limit": 5000}).json())
    assert schools.edition == "2019"
    for school in schools.features:
        p = school.properties
        assert set(p.units) <= {"2019"} and p.edition == "2019"
        if p.ward_code:
            assert (p.ward_code, p.district_code) == (
                p.units["2019"].code,
                p.units["2019"].district_code,
            )


def test_demo_wards_are_found_by_name(client: TestClient, demo_db: Connection) -> None:
    with demo_db.cursor() as cur:
        cur.execute("SELECT code, name FROM admin_units WHERE level = 'ward' ORDER BY code LIMIT 1")
        code, name = cur.fetchone()  # type: ignore[misc]
    for query in (name, code, name.upper()):
        found = client.get("/wards", params={"q": query, "geometry": "false"}).json()
        assert found["features"][0]["properties"]["code"] == code, query
        assert found["features"][0]["geometry"] is None
        assert found["features"][0]["properties"]["matched_by"] == "name"


@pytest.fixture(scope="module")
def served_map(demo_db_url: str, demo_home: Path) -> Iterator[tuple[object, str]]:
    """The demo city served, and Debian's Chromium."""
    with served(demo_db_url, demo_home) as base, chromium() as browser:
        yield browser, base


def test_a_ward_found_by_name_filters_the_map_and_shows_its_figures(
    served_map: tuple[object, str],
) -> None:
    browser, base = served_map
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
    # The ward filter lists the units with their type and diacritics.
    options = page.locator("#f-ward option").all_text_contents()
    assert "Phường Thống Nhất" in options and "Xã Nhơn Đức" in options
    page.fill("#search", "thong nhat")
    page.wait_for_selector("[data-testid=unit-result]", timeout=20_000)
    unit = page.locator("[data-testid=unit-result]").first
    assert unit.text_content().startswith("Phường Thống Nhất")
    unit.click()
    page.wait_for_selector("[data-testid=unit-name]")
    assert page.text_content("[data-testid=unit-name]") == "Phường Thống Nhất"
    card = page.text_content("#unit-card") or ""
    assert "Quận Một" in card and "2024:" in card
    assert page.input_value("#f-ward") == "90002"
    assert (page.text_content("#count") or "").startswith("7 / ")
    page.screenshot(path=str(ARTEFACTS / "ward.png"))
    assert errors == []
