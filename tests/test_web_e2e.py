"""The public map in a real headless Chromium (Debian's), against a served demo city."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_support import (
    ARTEFACTS,
    accessibility_faults,
    chromium,
    new_page,
    number_shown,
    served,
    small_targets,
)


@pytest.fixture(scope="module")
def server(demo_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(demo_db_url, demo_home) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def open_map(
    browser: object, server: str, width: int = 1280, height: int = 800, path: str = "/"
) -> object:
    page = new_page(browser, server, width, height)
    page.goto(server + path)
    page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
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
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
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
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
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
        number_shown(rows.nth(i).locator("td").nth(1).text_content()) for i in range(rows.count())
    ]
    straight = [
        number_shown(rows.nth(i).locator("td").nth(2).text_content()) for i in range(rows.count())
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
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
    assert page.errors == []


def test_phone_screen_and_english(browser: object, server: str) -> None:
    page = open_map(browser, server, width=390, height=844)
    page.click("#lang")
    assert page.text_content("h1") == "School map"
    page.mouse.click(195, 300)  # drop a pin on the map
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTEFACTS / "phone.png"), full_page=True)
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_on_a_phone_text_is_16_px_and_every_control_a_finger_wide(
    browser: object, server: str
) -> None:
    page = open_map(browser, server, width=390, height=844)
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "16px"
    assert page.evaluate("getComputedStyle(document.querySelector('#search')).fontSize") == "16px"
    assert not (small := small_targets(page)), "\n".join(small)
    page.fill("#home-address", "24 Le Loi")
    page.click("#home-form button")
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    assert not (small := small_targets(page)), "\n".join(small)
    for view in ("parent", "officer"):
        page.goto(f"{server}/#/{view}")
        page.wait_for_selector(f"#view-{view} form", timeout=20_000)
        assert not (small := small_targets(page)), f"{view}: " + "\n".join(small)
    assert page.errors == []


def test_numbers_distances_times_and_dates_are_written_as_each_language_writes_them(
    browser: object, server: str
) -> None:
    page = open_map(browser, server)
    shown = (
        "[kmText(270), kmText(12400), minutesText(0.5), minutesText(3.46), numberText(1036),"
        " dateText('2019-05-10'), dateText('2026-12-05T18:30:00Z')]"
    )
    # 18:30 UTC on 5 December is already 6 December in Vietnam.
    assert page.evaluate(shown) == [
        "0,27", "12,4", "dưới 1 phút", "3,5 phút", "1.036", "10/05/2019", "06/12/2026",
    ]  # fmt: skip
    page.click("#lang")
    assert page.evaluate(shown) == [
        "0.27", "12.4", "under a minute", "3.5 min", "1,036", "10/05/2019", "06/12/2026",
    ]  # fmt: skip
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_the_home_and_the_school_chosen_are_in_a_link_to_share(
    browser: object, server: str
) -> None:
    page = open_map(browser, server)
    page.fill("#home-address", "24 Le Loi")
    page.click("#home-form button")
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    rows = page.locator("[data-testid=near-row]")
    second = int(str(rows.nth(1).get_attribute("data-id")))
    rows.nth(1).click()
    page.wait_for_function(f"state.chosen === {second} && state.route !== null")
    link = str(page.evaluate("location.href"))
    assert "#/map?home=" in link and f"&school={second}" in link and "level=tieu_hoc" in link
    home = page.evaluate("[state.home.lon, state.home.lat]")
    # The link opened elsewhere shows the same home, list and school.
    other = open_map(browser, server, width=390, path="/#" + link.split("#", 1)[1])
    other.wait_for_function(f"state.chosen === {second} && state.route !== null", timeout=30_000)
    assert other.evaluate("[state.home.lon, state.home.lat]") == [
        round(home[0], 6),
        round(home[1], 6),
    ]
    assert other.locator("[data-testid=near-row]").count() == rows.count()
    # A link that does not read as one is ignored.
    odd = open_map(browser, server, path="/#/map?home=abc,9999&school=<b>")
    assert odd.evaluate("state.home") is None
    assert page.errors == [] and other.errors == [] and odd.errors == []


def test_a_pin_outside_the_city_is_told_in_the_chosen_language_with_what_to_do(
    browser: object, server: str
) -> None:
    page = open_map(browser, server)
    page.evaluate("setHome(105.2, 9.2, 'x')")  # far from every road of the demo city
    page.wait_for_selector("#near td:has-text('Lỗi')", timeout=20_000)
    said = str(page.text_content("#near"))
    assert "ngoài vùng có đường của thành phố" in said and "hãy đặt ghim" in said
    assert "outside the network" not in said and "[object Object]" not in said
    page.click("#lang")
    page.evaluate("setHome(105.2, 9.2, 'x')")
    page.wait_for_selector("#near td:has-text('outside the network area')", timeout=20_000)
    said = str(page.text_content("#near"))
    assert "drop the pin on the home" in said and "ngoài vùng" not in said
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_my_location_places_the_home_where_the_device_is(browser: object, server: str) -> None:
    from tests.test_tiles import DEMO_LAT, DEMO_LON

    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844},
        geolocation={"longitude": DEMO_LON, "latitude": DEMO_LAT, "accuracy": 30},
        permissions=["geolocation"],
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
    page.click("#home-here")
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    assert page.evaluate("[state.home.lon, state.home.lat]") == [DEMO_LON, DEMO_LAT]
    assert "#/map?home=" in str(page.evaluate("location.href"))
    context.close()
    # Refused by the family: it is told what else to do.
    refused = browser.new_context()  # type: ignore[attr-defined]
    page = refused.new_page()
    page.goto(server + "/")
    page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
    page.click("#home-here")
    page.wait_for_selector("#home-status:has-text('nhập địa chỉ')", timeout=20_000)
    assert page.evaluate("state.home") is None
    refused.close()
    assert errors == []


def test_an_unsure_address_waits_for_the_family_and_errors_say_what_to_do(
    browser: object, server: str
) -> None:
    page = open_map(browser, server, width=390, height=844)
    # Suggestions come while typing, and none is taken before the family picks one.
    page.type("#home-address", "745 Calmett", delay=30)
    page.wait_for_selector("[data-testid=address-candidate]", timeout=20_000)
    assert page.evaluate("state.home") is None
    # A street alone is not a home: shown with its circle, never taken silently.
    page.fill("#home-address", "Le Loi")
    page.click("#home-form button[type=submit]")
    page.wait_for_selector("[data-testid=home-confirm]", timeout=20_000)
    status = str(page.text_content("#home-status"))
    assert "Cần xác nhận" in status and "vòng tròn" in status and "kéo ghim" in status
    assert page.evaluate("state.home") is None and page.evaluate("state.pending") is not None
    assert page.locator("[data-testid=near-row]").count() == 0
    page.click("[data-testid=home-confirm]")
    page.wait_for_selector("[data-testid=near-row]", timeout=30_000)
    assert page.evaluate("state.home") is not None
    # Nothing found: what to try instead; far too long: the limit and what to type.
    page.fill("#home-address", "xyzzy qwerty plugh")
    page.click("#home-form button[type=submit]")
    page.wait_for_selector("[data-testid=address-hint]", timeout=20_000)
    assert "ghim" in str(page.text_content("[data-testid=address-hint]"))
    page.fill("#home-address", "12 Lê Lợi " * 440)
    page.click("#home-form button[type=submit]")
    page.wait_for_selector("#home-candidates li:has-text('Lỗi')", timeout=20_000)
    said = str(page.text_content("#home-candidates"))
    assert "quá giới hạn 300 ký tự" in said and "[object Object]" not in said
    assert "The address is" not in said  # one language at a time
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
    # The same in English: the confirmation, nothing found, far too long.
    page.click("#lang")
    page.fill("#home-address", "Le Loi")
    page.click("#home-form button[type=submit]")
    page.wait_for_selector("[data-testid=home-confirm]:has-text('Yes, my home is here')")
    status = str(page.text_content("#home-status"))
    assert "Please confirm" in status and "circle" in status and "drag the pin" in status
    assert "vòng tròn" not in status
    page.fill("#home-address", "xyzzy qwerty plugh")
    page.click("#home-form button[type=submit]")
    page.wait_for_selector("[data-testid=address-hint]:has-text('drop a pin')", timeout=20_000)
    assert "ghim" not in str(page.text_content("[data-testid=address-hint]"))
    page.fill("#home-address", "12 Lê Lợi " * 440)
    page.click("#home-form button[type=submit]")
    page.wait_for_selector("#home-candidates li:has-text('over the limit of 300')", timeout=20_000)
    said = str(page.text_content("#home-candidates"))
    assert "quá giới hạn" not in said and "[object Object]" not in said
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
    page.evaluate("localStorage.clear()")
    assert page.errors == []
