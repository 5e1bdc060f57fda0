"""The public map in a real headless Chromium (Debian's), against a served demo city."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_support import ARTEFACTS, chromium, served


@pytest.fixture(scope="module")
def server(demo_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(demo_db_url, demo_home) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def open_map(browser: object, server: str, width: int = 1280, height: int = 800) -> object:
    page = browser.new_page(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda request: (
            errors.append(f"off-site request {request.url}")
            if not request.url.startswith((server, "data:", "blob:"))
            else None
        ),
    )
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
    page.errors = errors
    return page


def test_map_loads_and_shows_every_school(browser: object, server: str) -> None:
    page = open_map(browser, server)
    shown = page.text_content("#count")
    with urllib.request.urlopen(server + "/schools?limit=1") as response:
        import json

        total = json.load(response)["numberMatched"]
    assert shown is not None and f"{total} / {total}" in shown
    # Zoomed out to the whole city, schools are clustered, and counts add up.
    page.wait_for_selector("[data-testid=cluster]", timeout=20_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTEFACTS / "map.png"))
    assert "© OpenStreetMap contributors" in page.text_content(".maplibregl-ctrl-attrib")
    # The vector tiles came from our own server and drew roads.
    rendered = page.evaluate("map.queryRenderedFeatures({layers: ['roads-major']}).length")
    assert rendered > 0
    assert page.errors == []


def test_search_finds_a_school_without_diacritics(browser: object, server: str) -> None:
    page = open_map(browser, server)
    page.fill("#search", "tieu hoc le van tho")
    page.wait_for_selector("[data-testid=search-result]")
    results = page.locator("[data-testid=search-result]")
    assert results.count() == 1
    assert "Trường Tiểu học Lê Văn Thọ" in results.first.text_content()
    results.first.click()
    page.wait_for_selector("[data-testid=card-name]")
    assert page.text_content("[data-testid=card-name]") == "Trường Tiểu học Lê Văn Thọ"
    # The card shows the entry grade's classes and seats.
    assert page.locator(".card tr.entry").count() == 1
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTEFACTS / "search.png"))
    assert page.errors == []


def test_from_my_home_lists_schools_by_road_and_draws_the_route(
    browser: object, server: str
) -> None:
    page = open_map(browser, server)
    page.fill("#home-address", "24 Le Loi")
    page.click("#home-form button")
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    # The address resolved between two known numbers, and says how far off it may be.
    candidate = page.text_content("[data-testid=address-candidate]")
    assert "24 Lê Lợi" in candidate and "ước lượng theo số nhà" in candidate
    # 24 is 0.7 of the way from 17 to 27: the home may be as far as 27, its lot behind it.
    assert "sai số ~74 m" in candidate
    rows = page.locator("[data-testid=near-row]")
    assert rows.count() >= 3
    road = [
        float(rows.nth(i).locator("td").nth(1).text_content().split()[0])
        for i in range(rows.count())
    ]
    straight = [
        float(rows.nth(i).locator("td").nth(2).text_content().split()[0])
        for i in range(rows.count())
    ]
    assert road == sorted(road)
    assert all(r + 0.01 >= s for r, s in zip(road, straight, strict=True))
    page.wait_for_function("state.route !== null", timeout=20_000)
    length = page.evaluate("state.route.properties.length_m")
    assert abs(length / 1000 - road[0]) < 0.02
    page.click("#reach-btn")
    page.wait_for_function("state.reach !== null", timeout=20_000)
    assert page.evaluate("state.reach.properties.area_km2") > 0
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTEFACTS / "home.png"))
    assert page.errors == []


def test_phone_screen_and_english(browser: object, server: str) -> None:
    page = open_map(browser, server, width=390, height=844)
    page.click("#lang")
    assert page.text_content("h1") == "School map"
    page.mouse.click(195, 300)  # drop a pin on the map
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTEFACTS / "phone.png"), full_page=True)
    page.evaluate("localStorage.clear()")
    assert page.errors == []
