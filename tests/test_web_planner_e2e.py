"""The planner's page in a real headless Chromium against a served copy of the demo city: the
forecast chart for the area and a unit, the map's legend and base map, the forecast's years,
popups that never outlive their data, exports, the shared sign-in, scenarios compared, English
and a phone. The steps are one story: run the whole module."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyogrio
import pytest

from tests.browser_support import (
    ARTEFACTS,
    accessibility_faults,
    call,
    chromium,
    demo_copy_with_users,
    new_page,
    served,
    shot_into,
    sign_in,
    small_targets,
)

SHOTS = ARTEFACTS / "planner"
PLANNER = ("quy.hoach.so", "mat-khau-quy-hoach-so")
PARENT = ("me.lan.2026", "mat-khau-phu-huynh-lan")
SHORT_WARD = "Phường Hòa Bình"  # the demo city's ward built short of grade-1 seats
UNITS = 14  # wards of the demo city


@pytest.fixture(scope="module")
def planner_db_url(demo_db_url: str) -> Iterator[str]:
    """The demo city copied, with a planner and a parent."""
    users = [
        {"username": PLANNER[0], "password": PLANNER[1], "role": "planner"},
        {"username": PARENT[0], "password": PARENT[1], "role": "parent"},
    ]
    with demo_copy_with_users(demo_db_url, "_planner_page", users) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(planner_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(planner_db_url, demo_home) as base:
        yield base


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    return shot_into(SHOTS, page, name, full_page)


def chart_years(server: str) -> list[int]:
    """The years the page charts: from this year (within the forecast's years), 15 at most."""
    status, years = call(server, "GET", "/planning/years")
    assert status == 200, years
    first = min(max(date.today().year, years["first"]), years["last"])
    return list(range(first, min(years["last"], first + 14) + 1))


def open_planner(browser: Any, server: str, width: int = 1280, height: int = 900) -> Any:
    page = new_page(browser, server, width=width, height=height)
    page.goto(server + "/planner")
    page.wait_for_function("planner.drawn >= 1", timeout=60_000)
    return page


def drawn(page: Any, before: int) -> None:
    page.wait_for_function(f"planner.drawn > {before}", timeout=60_000)


def popups(page: Any) -> int:
    return int(page.locator(".maplibregl-popup").count())


def click_unit_on_map(page: Any, name: str) -> int:
    """Click the map inside a unit (a point on its surface, from its outline); its id."""
    page.wait_for_function("planner.map.loaded() && !planner.map.isMoving()", timeout=30_000)
    found = page.evaluate(
        """(name) => {
          const f = planner.gap.wards.features.find((w) => w.properties.unit_label === name);
          const ring = f.geometry.type === "Polygon" ? f.geometry.coordinates[0]
            : f.geometry.coordinates[0][0];
          const lon = ring.reduce((s, c) => s + c[0], 0) / ring.length;
          const lat = ring.reduce((s, c) => s + c[1], 0) / ring.length;
          const at = planner.map.project([lon, lat]);
          return {id: f.id, x: at.x, y: at.y};
        }""",
        name,
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + found["x"], box["y"] + found["y"])
    return int(found["id"])


def test_the_area_chart_the_legend_and_the_base_map(browser: Any, server: str) -> None:
    page = open_planner(browser, server)
    years = chart_years(server)
    # The area's forecast over the years: the band, the line, a point a year, years on the axis.
    chart = page.locator("#chart svg.chart")
    assert page.get_attribute("#chart", "data-unit") == "area"
    assert page.locator("#chart path.chart-band").count() == 1
    assert page.locator("#chart path.chart-line").count() == 1
    assert page.locator("#chart circle.chart-point").count() == len(years)
    axis = page.locator("#chart text.chart-x").all_text_contents()
    assert str(years[0]) in axis and str(years[-1]) in axis
    assert "Trẻ vào lớp 1: cả khu vực" in str(chart.locator("title").first.text_content())
    assert page.locator("#chart text.chart-label").all_text_contents() == [
        "Năm học (năm bắt đầu)",
        "Số trẻ",
    ]
    # Its text alternative: the described chart and a table of every year with its band.
    assert "khoảng dự báo 80 %" in str(page.text_content("#forecast-chart-desc"))
    assert page.locator("#chart-table tbody tr").count() == len(years)
    assert page.locator("#chart-table thead th").all_text_contents() == [
        "Năm học",
        "Dự báo",
        "thấp (80 %)",
        "cao (80 %)",
    ]
    # The area's first year agrees with the forecast summed over the units with figures.
    status, forecast = call(server, "GET", f"/planning/forecast?years={years[0]}&grade=1")
    assert status == 200
    total = sum(r["children"] for r in forecast["rows"] if r["children"] is not None)
    first_row = page.locator("#chart-table tbody tr").first.locator("td").first
    assert first_row.text_content() == f"{total:,}".replace(",", ".")
    # The classes the entrants need against those the schools have, and the people, each
    # over the years with its interval.
    classes = page.locator("#chart-classes svg.chart")
    assert "Lớp 1 cần và hiện có: Cả khu vực" in str(classes.locator("title").first.text_content())
    assert page.locator("#chart-classes path.chart-line").count() == 2
    assert page.locator("#chart-classes path.chart-band").count() == 1
    available = page.evaluate("planner.gap.metrics.classes_available")
    assert f"hiện có {available} lớp" in str(page.text_content("#classes-chart-desc"))
    needed = sum(r["classes_needed"] for r in forecast["rows"] if r["classes_needed"] is not None)
    assert f"cần từ {needed} đến" in str(page.text_content("#classes-chart-desc"))
    assert page.locator("#chart-people path.chart-band").count() == 1
    assert page.locator("#chart-people circle.chart-point").count() == len(years)
    people = sum(r["population"] for r in forecast["rows"] if r["population"] is not None)
    assert f"là {people:,} người".replace(",", ".") in str(page.text_content("#people-chart-desc"))
    # The legend: the colour scale with its numbers and unit, the grey class, the markers.
    assert page.text_content("[data-testid=legend-title]") == "Trẻ vượt sĩ số (trẻ)"
    ticks = page.locator("[data-testid=legend-ticks] span").all_text_contents()
    top = max(
        f["properties"]["children_over_size"] or 0
        for f in page.evaluate("planner.gap.wards.features")
    )
    assert ticks[0] == "0" and ticks[-1] == f"{top:,}".replace(",", ".") and len(ticks) == 4
    legend = str(page.text_content("#legend"))
    assert "Không có số liệu điều tra 2019" in legend and "Trường thiếu lớp" in legend
    # The base map is our own vector tiles, under the figures.
    page.wait_for_function(
        "planner.map.getSource('city') && planner.map.isSourceLoaded('city')", timeout=30_000
    )
    layers = page.evaluate("planner.map.getStyle().layers.map((l) => l.id)")
    assert layers.index("roads-major") < layers.index("gap-fill")
    # One language: Vietnamese, with no English beside it.
    assert page.evaluate("document.documentElement.lang") == "vi"
    text = str(page.text_content("body"))
    assert "/ Show" not in text and "School planning" not in text
    assert page.text_content("h1") == "Quy hoạch trường lớp"
    # Nobody is signed in: the page says so and what a planner's account is for.
    assert page.text_content("[data-testid=signed-out]") == "Chưa đăng nhập"
    assert "cần tài khoản cán bộ quy hoạch" in str(page.text_content("#tools"))
    page.wait_for_timeout(800)
    shot(page, "area")
    assert page.errors == []


def test_a_unit_is_charted_from_the_map_and_by_keyboard_and_popups_never_go_stale(
    browser: Any, server: str
) -> None:
    page = open_planner(browser, server)
    years = chart_years(server)
    page.wait_for_function("planner.mapReady")
    unit = click_unit_on_map(page, SHORT_WARD)
    page.wait_for_selector(".maplibregl-popup")
    assert SHORT_WARD in str(page.text_content(".maplibregl-popup"))
    assert page.get_attribute("#chart", "data-unit") == str(unit)
    title = str(page.locator("#chart svg title").first.text_content())
    assert title == f"Trẻ vào lớp 1: {SHORT_WARD} (Quận Một)"
    assert page.locator("#chart path.chart-band").count() == 1
    assert page.locator("#chart circle.chart-point").count() == len(years)
    assert page.is_visible("#chart-area")
    shot(page, "unit-from-map")
    # Another layer of the map: the popup of the earlier one is closed.
    page.select_option("#layer", "children")
    assert popups(page) == 0
    assert page.text_content("[data-testid=legend-title]") == "Số trẻ vào lớp (trẻ)"
    # New data (grade 6): the popup opened on grade 1 is closed, the unit still charted.
    click_unit_on_map(page, SHORT_WARD)
    page.wait_for_selector(".maplibregl-popup")
    before = page.evaluate("planner.drawn")
    page.select_option("#grade", "6")
    drawn(page, before)
    assert popups(page) == 0
    assert f"Trẻ vào lớp 6: {SHORT_WARD}" in str(page.text_content("#chart svg title"))
    # Back to the whole area, then a unit by keyboard: its row focused, Enter.
    page.click("#chart-area")
    assert page.get_attribute("#chart", "data-unit") == "area"
    row = page.locator("#wards tbody tr[tabindex='0']").nth(1)
    other = int(str(row.get_attribute("data-unit")))
    row.focus()
    page.keyboard.press("Enter")
    assert page.get_attribute("#chart", "data-unit") == str(other)
    assert "chosen" in str(row.get_attribute("class"))
    assert page.evaluate("document.activeElement.dataset.unit") == str(other)
    assert page.errors == []


def test_years_beyond_the_forecasts_horizon_are_refused_and_said(browser: Any, server: str) -> None:
    page = open_planner(browser, server)
    status, years = call(server, "GET", "/planning/years")
    assert status == 200
    # The year box takes the forecast's own years, as the service states them.
    assert page.get_attribute("#year", "min") == str(years["first"])
    assert page.get_attribute("#year", "max") == str(years["last"])
    assert f"{years['first']}–{years['last']}" in str(page.text_content("#year-note"))
    page.wait_for_function("planner.mapReady")
    click_unit_on_map(page, SHORT_WARD)
    page.wait_for_selector(".maplibregl-popup")
    page.fill("#year", "2050")
    page.click("#query button[type=submit]")
    page.wait_for_selector("#query-error:not(:empty)")
    said = str(page.text_content("#query-error"))
    assert f"năm học 2050 quá xa: chỉ dự báo năm học {years['first']}–{years['last']}" in said
    assert " / " not in said  # the Vietnamese part only
    assert page.get_attribute("#year", "aria-invalid") == "true"
    # Nothing of the earlier year stays on the page as if it were 2050's.
    assert popups(page) == 0
    assert page.locator("#wards tbody tr").count() == 0
    assert page.get_attribute("#export-csv", "aria-disabled") == "true"
    shot(page, "year-refused")
    # The service refuses it alike, Vietnamese first.
    status, answer = call(server, "GET", "/planning/gap?grade=1&year=2050")
    assert status == 400 and answer["detail"].startswith("năm học 2050 quá xa")
    before = page.evaluate("planner.drawn")
    page.fill("#year", str(years["last"]))
    page.click("#query button[type=submit]")
    drawn(page, before)
    assert page.text_content("#query-error") == ""
    assert page.get_attribute("#year", "aria-invalid") is None
    assert page.errors == []


def test_the_ward_table_downloads_as_csv_and_geopackage(
    browser: Any, server: str, tmp_path: Path
) -> None:
    page = open_planner(browser, server)
    shown = page.locator("#wards tbody tr").count()
    with page.expect_download() as csv_download:
        page.click("#export-csv")
    assert csv_download.value.suggested_filename == "thieu_cho_lop1_2026.csv"
    data = Path(csv_download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads Vietnamese intact
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == UNITS and shown == sum(1 for r in rows if r["children"])
    short = next(r for r in rows if r["unit_label"] == SHORT_WARD)
    first_row = page.locator("#wards tbody tr").first
    assert SHORT_WARD in str(first_row.text_content())
    assert str(first_row.locator("td").nth(3).text_content()) == short["children_over_size"]
    with page.expect_download() as gpkg_download:
        page.click("#export-gpkg")
    path = tmp_path / str(gpkg_download.value.suggested_filename)
    gpkg_download.value.save_as(path)
    info = pyogrio.read_info(path)
    assert info["features"] == UNITS and info["crs"] == "EPSG:4326"
    frame = pyogrio.read_dataframe(path)
    assert SHORT_WARD in set(frame["unit_label"])
    assert page.errors == []


def test_a_parent_is_told_what_needs_a_planners_account(browser: Any, server: str) -> None:
    page = open_planner(browser, server)
    sign_in(page, *PARENT)
    assert f"Đã đăng nhập: {PARENT[0]} (phụ huynh)" in str(
        page.text_content("[data-testid=signed-in]")
    )
    note = str(page.text_content("[data-testid=not-planner]"))
    assert "không có quyền quy hoạch" in note and "cán bộ quy hoạch" in note
    shot(page, "not-a-planner")
    page.click("#tools .acc-signout")
    page.wait_for_selector("[data-testid=signed-out]")
    assert page.evaluate("sessionStorage.getItem('schoolmap-token')") is None
    assert page.locator("#tools [data-testid=signin-form]").count() == 1
    assert page.errors == []


def test_a_planner_saves_proposes_and_compares_scenarios(browser: Any, server: str) -> None:
    page = open_planner(browser, server)
    sign_in(page, *PLANNER)
    assert f"Đã đăng nhập: {PLANNER[0]} (cán bộ quy hoạch)" in str(
        page.text_content("#who [data-testid=signed-in]")
    )
    page.wait_for_selector("#scenario-form")
    assert "Lớp 1, năm học 2026–2027" in str(page.text_content("#scenario-settings"))
    page.fill("#scenario-form input[name=name]", "Hiện trạng 2026")
    page.click("#scenario-form button[type=submit]")
    page.wait_for_selector("#tools-message.ok")
    assert page.locator("[data-testid=scenario]").count() == 1
    # One new school where the children are, saved with the next scenario.
    page.fill("#k", "1")
    page.fill("#minutes", "5")
    page.click("#site-form button[type=submit]")
    page.wait_for_selector("[data-testid=site]", timeout=60_000)
    sites = "async () => (await planner.map.getSource('gap-sites').getData()).features.length"
    assert page.evaluate(sites) == 1
    assert "Địa điểm trường mới đề xuất" in str(page.text_content("#legend"))
    page.fill("#scenario-form input[name=name]", "Thêm một trường")
    assert page.is_checked("#scenario-form input[name=sites]")
    page.click("#scenario-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('[data-testid=scenario]').length === 2")
    listed = str(page.text_content("#scenario-list"))
    # Dates are shown as in Viet Nam (UTC+7): from 17:00 UTC it is already tomorrow there.
    today_vn = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    assert "1 trường mới" in listed and today_vn in listed
    # One picked is not a comparison; two are.
    page.locator("#scenario-list input[type=checkbox]").first.check()
    page.click("#compare")
    assert "từ 2 đến 6" in str(page.text_content("#compare-message"))
    page.locator("#scenario-list input[type=checkbox]").nth(1).check()
    page.click("#compare")
    page.wait_for_selector("[data-testid=compare-table]", timeout=120_000)
    table = page.locator("[data-testid=compare-table]")
    assert table.locator("thead th").count() == 3
    short = table.locator("tr[data-metric=classes_short]")
    assert "Lớp thiếu" in str(short.locator("th").text_content())
    assert "số lớp phải mở thêm" in str(short.locator(".why").text_content())
    values = [int(v) for v in short.locator("td").all_text_contents()]
    assert values[1] < values[0]
    assert table.locator(".why").count() == table.locator("tbody tr").count()
    shot(page, "scenarios-compared", full_page=True)
    page.click("#who .acc-signout")
    page.wait_for_selector("[data-testid=signed-out]")
    assert page.locator("#scenario-form").count() == 0
    assert page.errors == []


def test_a_planner_publishes_zones_and_a_family_sees_its_chances_on_a_phone(
    browser: Any, server: str
) -> None:
    page = open_planner(browser, server)
    assert "Chưa công bố vùng tuyển lớp 1" in str(page.text_content("[data-testid=zones-none]"))
    sign_in(page, *PLANNER)
    page.click("#zones-make")
    page.wait_for_selector("[data-testid=zones-summary]", timeout=120_000)
    assert "Đã công bố vùng tuyển năm học 2026" in str(
        page.text_content("[data-testid=zones-message]")
    )
    summary = str(page.text_content("[data-testid=zones-summary]"))
    assert summary.startswith("Năm học 2026-2027:") and "dự kiến hết chỗ" in summary
    drawn = "async () => (await planner.map.getSource('zones').getData()).features.length"
    status, published = call(server, "GET", "/zones?grade=1")
    assert status == 200
    full = [f for f in published["features"] if f["properties"]["full"]]
    assert page.evaluate(drawn) == len(full) > 0
    assert "Vùng tuyển dự kiến của trường" in str(page.text_content("#legend"))
    shot(page, "zones", full_page=True)
    # Hidden and shown again from its box.
    page.uncheck("#zones-shown")
    assert page.evaluate(drawn) == 0
    page.check("#zones-shown")
    assert page.evaluate(drawn) == len(full)
    assert page.errors == []

    # A family on a phone, at the school that fills nearest to home: very likely there.
    tightest = min(full, key=lambda f: f["properties"]["cutoff_low_m"])
    status, school = call(server, "GET", f"/schools/{tightest['id']}")
    lon, lat = school["geometry"]["coordinates"]
    family = new_page(browser, server, width=390, height=844)
    family.goto(server + f"/#/map?home={lon:.6f},{lat:.6f}&level=tieu_hoc")
    family.wait_for_selector("[data-testid=chance]", timeout=60_000)
    row = family.locator(f"[data-testid=near-row][data-id='{tightest['id']}']")
    assert row.locator("[data-testid=chance]").get_attribute("data-chance") == "very_likely"
    assert "Rất có khả năng được nhận" in str(row.text_content())
    row.click()
    note = str(family.text_content("[data-testid=chance-note]"))
    assert "Đây là ước tính, không phải cam kết." in note and "never a promise" not in note
    labels = set(
        family.locator("[data-testid=chance]").evaluate_all(
            "(all) => all.map((el) => el.dataset.chance)"
        )
    )
    assert labels <= {"very_likely", "uncertain", "unlikely"}
    assert family.evaluate("document.documentElement.scrollWidth") <= 390
    assert not (small := small_targets(family)), "\n".join(small)
    assert not (faults := accessibility_faults(family)), "\n".join(faults)
    shot(family, "chances-phone", full_page=True)
    family.click("#lang")
    family.wait_for_selector("[data-testid=chance]:has-text('Very likely admitted')")
    family.locator(f"[data-testid=near-row][data-id='{tightest['id']}']").click()
    note = str(family.text_content("[data-testid=chance-note]"))
    assert "An estimate, never a promise." in note and "cam kết" not in note
    family.evaluate("localStorage.clear()")
    assert family.errors == []


def test_english_on_a_phone(browser: Any, server: str) -> None:
    page = new_page(browser, server, width=390, height=844)
    page.goto(server + "/planner")
    page.evaluate("localStorage.setItem('schoolmap.lang', 'en')")
    page.reload()
    page.wait_for_function("planner.drawn >= 1", timeout=60_000)
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.text_content("#chart-heading") == "Forecast by year"
    assert "Grade-1 entrants: whole area" in str(page.text_content("#chart svg title"))
    assert page.text_content("[data-testid=legend-title]") == "Children over class size (children)"
    assert "No 2019 census figures" in str(page.text_content("#legend"))
    assert page.text_content("#lang") == "VI"
    text = str(page.text_content("#panel"))
    assert "Dự báo theo năm" not in text and "Năm học" not in text
    # Numbers as English writes them.
    cells = page.locator("#chart-table tbody tr").first.locator("td").all_text_contents()
    assert all("." not in c for c in cells) and any("," in c for c in cells)
    # Nothing wider than the phone; 16 px text; fingers' targets; accessible.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('panel').scrollWidth") <= 390
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "16px"
    assert page.evaluate("getComputedStyle(document.querySelector('#wards td')).fontSize") == "16px"
    assert not (small := small_targets(page)), "\n".join(small)
    # Every unit's children with their 80 % interval under them.
    first = page.locator("#wards tbody tr").first.locator("td").nth(1)
    assert first.locator(".sub").get_attribute("title") == "80 % prediction interval"
    # The zones published earlier in the story, in English.
    summary = str(page.text_content("[data-testid=zones-summary]"))
    assert summary.startswith("2026-2027:") and "expected to fill" in summary
    sign_in(page, *PLANNER)
    page.wait_for_selector("#scenario-form")
    assert "Signed in: quy.hoach.so (planner)" in str(page.text_content("#who"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not (small := small_targets(page)), "\n".join(small)
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
    page.wait_for_timeout(800)
    shot(page, "phone-en", full_page=True)
    page.evaluate("localStorage.clear()")
    assert page.errors == []
