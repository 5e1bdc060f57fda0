"""Parents' and officers' pages in a real headless Chromium against a served copy of the demo
city: a parent applies, an officer runs, compares and publishes, the parent reads the result."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import (
    ARTEFACTS,
    accessibility_faults,
    call,
    chromium,
    demo_copy_with_users,
    new_page,
    number_shown,
    served,
    shot_into,
    sign_in,
    small_targets,
    token_of,
)

SHOTS = ARTEFACTS / "accounts"
OFFICER = ("canbo.q1", "mat-khau-can-bo-1")
PLANNER = ("quy.hoach", "mat-khau-quy-hoach")
PASSWORD = "mat-khau-phu-huynh"
# A house in Phường Hòa Bình (district 901) that the demo city's address points know exactly.
HOME_ADDRESS = "745 Calmette"
ROUND_NAME = "Lớp 1 Quận Một 2025"
ENROLMENT_CONTACT = "Bộ phận một cửa UBND phường Hòa Bình, 0283 822 1234"


@pytest.fixture(scope="module")
def accounts_db_url(demo_db_url: str) -> Iterator[str]:
    """The demo city copied, with a district-901 officer and a planner."""
    users = [
        {
            "username": OFFICER[0],
            "password": OFFICER[1],
            "role": "district_officer",
            "area": ["901"],
        },
        {"username": PLANNER[0], "password": PLANNER[1], "role": "planner"},
    ]
    with demo_copy_with_users(demo_db_url, "_accounts", users) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(accounts_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(accounts_db_url, demo_home) as base:
        yield base


def applicants_csv(demo_home: Path, count: int) -> bytes:
    """The first `count` grade-1 children (born 2019) of the demo city living in district 901."""
    rows = list(csv.DictReader((demo_home / "demo" / "households.csv").open(encoding="utf-8")))
    chosen = [
        r for r in rows if r["birth_date"].startswith("2019") and r["ward_code"].startswith("900")
    ]
    chosen = [r for r in chosen if int(r["ward_code"]) <= 90005][:count]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["child_id", "birth_date", "lon", "lat", "ward_code", "priority_group"])
    for r in chosen:
        writer.writerow(
            [
                r["child_id"],
                r["birth_date"],
                r["lon"],
                r["lat"],
                r["ward_code"],
                r["priority_group"],
            ]
        )
    return out.getvalue().encode()


def find_home(page: Any, address: str) -> str:
    """The parent's home by its address; an answer the map is not sure of is confirmed as the
    family would (the demo city has two streets named Calmette). The first candidate's text."""
    page.fill("#app-address", address)
    page.click("#app-find")
    page.wait_for_selector("[data-testid=app-candidate]")
    candidate = str(page.locator("[data-testid=app-candidate]").first.text_content())
    if "cần xác nhận" in candidate.lower():
        page.click("[data-testid=app-home-confirm]")
    page.wait_for_selector("[data-testid=app-near-row]", timeout=30_000)
    return candidate


def notice(page: Any, *, click: str | None = None, ok: bool = True) -> str:
    """The officer console's message after an action (clicking `click` first, if given),
    checked to be a success or, with ok=False, a refusal."""
    if click is not None:
        page.click(click)
    page.wait_for_selector("#officer-notice.ok, #officer-notice.error", timeout=60_000)
    text = str(page.text_content("#officer-notice"))
    assert ("ok" if ok else "error") in (page.get_attribute("#officer-notice", "class") or ""), text
    page.evaluate("officer.notice = null; renderNotice()")
    return text


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    """A screenshot of the page as it is, which axe-core must find accessible too."""
    return shot_into(SHOTS, page, name, full_page)


class Scenario:
    """What the steps of the round's story share."""

    parent_user = "me.an.2025"
    application_id = 0
    round_id = 0


def test_officer_creates_and_opens_a_round(browser: Any, server: str) -> None:
    page = new_page(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    # The area is named, never given as bare codes.
    page.wait_for_selector("[data-testid=area-picker]", state="attached")
    area = str(page.text_content("#officer-area"))
    assert "Quận Một" in area and "Phường Hòa Bình" in area
    assert "901" not in area
    page.click("#round-create summary")
    page.fill("#round-form input[name=name]", ROUND_NAME)
    page.select_option("#round-form select[name=grade]", "1")
    page.fill("#round-form input[name=school_year]", "2025-2026")
    # The new round's area: the officer's whole district, every ward of it ticked.
    assert page.is_checked("#round-area input[name=district][value='901']")
    units = page.locator("#round-area input[name=unit]")
    assert units.count() == 5
    assert all(units.nth(i).is_checked() for i in range(5))
    assert "Cả Quận Một" in str(page.text_content("#round-area"))
    page.click("#round-form button[type=submit]")
    notice(page)
    page.wait_for_selector("[data-testid=round-title]")
    Scenario.round_id = int(page.evaluate("officer.roundId"))
    page.click("#round-detail button[data-do=open]")
    notice(page)
    page.wait_for_selector("#round-detail button[data-do=close]")
    assert "đang nhận hồ sơ" in str(page.text_content("[data-testid=round-title]"))
    # Ward demand is drawn as soon as a round is chosen: polygons only.
    page.wait_for_selector("#officer-map[data-drawn=demand]", timeout=30_000)
    kinds = page.evaluate("[...new Set(officer.demand.features.map((f) => f.geometry.type))]")
    assert set(kinds) <= {"Polygon", "MultiPolygon"}
    in_area = page.evaluate("officer.demand.features.filter((f) => f.properties.in_area).length")
    assert in_area == 5  # district 901's wards
    labels = page.locator("[data-testid=ward-count]")
    assert labels.count() == in_area
    # No applications yet: every ward says "<10" children, and its seats, under its name.
    texts = [str(labels.nth(i).text_content()) for i in range(in_area)]
    assert all("<10 trẻ ·" in text and text.startswith("Phường ") for text in texts)
    # The round names its whole area and says it has no review deadline yet.
    shown_area = str(page.text_content("[data-testid=round-area]"))
    assert shown_area.count("Phường") == 5 and "Quận Một" in shown_area
    assert "chưa đặt" in str(page.text_content("[data-testid=review-deadline]"))
    shot(page, "officer-open")
    assert page.errors == []


def test_the_parent_form_checks_before_sending_and_keeps_a_draft_across_a_reload(
    browser: Any, server: str
) -> None:
    page = new_page(browser, server, width=390, height=844)
    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(request.url) if request.method == "POST" else None,
    )
    page.goto(server + "/#/parent")
    page.wait_for_selector("[data-testid=signin-form]")
    page.fill("input[name=username]", "me.nhap.do")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[data-action=register]")
    page.wait_for_selector("#application-form")
    page.wait_for_function("parentPage.roundsLoaded")
    message = "#app-message"
    page.fill("input[name=child_id]", "abc!!")
    page.click("#app-submit")
    assert "gồm 12 chữ số" in str(page.text_content(message))
    assert page.get_attribute("input[name=child_id]", "aria-invalid") == "true"
    page.fill("input[name=child_id]", "079 219 000 777")
    page.fill("input[name=birth_date]", "2017-02-02")
    page.click("#app-submit")
    assert "Lớp 1 năm 2025 nhận trẻ sinh năm 2019" in str(page.text_content(message))
    page.fill("input[name=birth_date]", "2019-02-02")
    page.click("#app-submit")
    assert "Hãy chọn nơi ở" in str(page.text_content(message))
    # A street alone waits for the family to confirm it or move the pin; until then no home.
    page.fill("#app-address", "Calmette")
    page.click("#app-find")
    page.wait_for_selector("[data-testid=app-home-confirm]", timeout=20_000)
    assert "Cần xác nhận" in str(page.text_content("#app-home-status"))
    page.click("#app-submit")
    assert "Hãy chọn nơi ở" in str(page.text_content(message))
    # Nothing was sent for any of these but the account's creation.
    assert [url for url in sent if "/applications" in url] == []
    find_home(page, HOME_ADDRESS)
    page.locator("[data-testid=app-near-row] button[data-choose]").first.click()
    chosen = page.evaluate("parentPage.choices")
    # A reload keeps what was filled in (this tab only).
    page.reload()
    page.wait_for_selector("#application-form")
    page.wait_for_function("parentPage.roundsLoaded")
    assert page.input_value("input[name=child_id]") == "079 219 000 777"
    assert page.input_value("input[name=birth_date]") == "2019-02-02"
    assert page.input_value("#app-address") == HOME_ADDRESS
    assert page.evaluate("parentPage.choices") == chosen
    assert page.is_visible("#app-home-status")
    assert "khôi phục" in str(page.text_content(message))
    page.wait_for_selector("[data-testid=app-near-row]", timeout=30_000)
    named = str(page.evaluate("parentPage.near[0].properties.name"))
    assert named in str(page.text_content("[data-testid=app-choice]"))
    page.click("#app-submit")
    page.wait_for_selector("[data-testid=app-summary] #app-confirm")
    assert page.text_content("[data-testid=summary-child]") == "079219000777"
    assert page.text_content("[data-testid=summary-birth]") == "02/02/2019"
    assert named in str(page.text_content("[data-testid=summary-choices]"))
    assert not page.is_visible("#app-submit")
    shot(page, "parent-summary-phone", full_page=True)
    page.click("#app-back")
    assert not page.is_visible("[data-testid=app-summary]") and page.is_visible("#app-submit")
    assert [url for url in sent if "/applications" in url] == []
    # Signing out forgets the draft.
    page.click(".acc-signout")
    page.wait_for_selector("[data-testid=signin-form]")
    assert page.evaluate("sessionStorage.getItem('schoolmap.parent.draft')") is None
    assert page.errors == []


def test_the_parent_form_says_what_to_fix_in_english(browser: Any, server: str) -> None:
    page = new_page(browser, server)
    page.goto(server + "/#/parent")
    page.evaluate("localStorage.setItem('schoolmap.lang', 'en')")
    page.reload()
    page.wait_for_selector("[data-testid=signin-form]")
    page.fill("input[name=username]", "me.nhap.en")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[data-action=register]")
    page.wait_for_selector("#application-form")
    page.wait_for_function("parentPage.roundsLoaded")
    message = "#app-message"
    page.fill("input[name=child_id]", "abc!!")
    page.click("#app-submit")
    said = str(page.text_content(message))
    assert "has 12 digits" in said and "chữ số" not in said
    page.fill("input[name=child_id]", "079219000778")
    page.fill("input[name=birth_date]", "2017-02-02")
    page.click("#app-submit")
    said = str(page.text_content(message))
    assert "2019" in said and "born" in said and "nhận trẻ" not in said
    page.fill("input[name=birth_date]", "2019-02-02")
    page.click("#app-submit")
    assert "Choose the home" in str(page.text_content(message))
    page.fill("#app-address", "xyzzy qwerty plugh")
    page.click("#app-find")
    page.wait_for_selector("[data-testid=app-address-hint]:has-text('drop a pin')", timeout=20_000)
    assert "ghim" not in str(page.text_content("#app-candidates"))
    page.fill("#app-address", "12 Lê Lợi " * 440)
    page.click("#app-find")
    page.wait_for_selector("#app-candidates li:has-text('over the limit of 300')", timeout=20_000)
    said = str(page.text_content("#app-candidates"))
    assert "quá giới hạn" not in said and "[object Object]" not in said
    assert not (faults := accessibility_faults(page)), "\n".join(faults)
    page.click(".acc-signout")
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_parent_registers_finds_schools_and_submits(browser: Any, server: str) -> None:
    page = new_page(browser, server)
    page.goto(server + "/#/parent")
    page.wait_for_selector("[data-testid=signin-form]")
    page.fill("input[name=username]", Scenario.parent_user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[data-action=register]")
    page.wait_for_selector("#application-form")
    assert Scenario.parent_user in str(page.text_content("[data-testid=signed-in]"))
    # The open round is offered.
    page.wait_for_function("parentPage.roundsLoaded")
    assert ROUND_NAME in str(page.text_content("#app-round"))
    page.fill("input[name=child_id]", "079219000123")
    page.fill("input[name=birth_date]", "2019-03-15")
    candidate = find_home(page, HOME_ADDRESS)
    assert "745 Calmette" in candidate and "đúng số nhà" in candidate and "sai số ~" in candidate
    rows = page.locator("[data-testid=app-near-row]")
    assert rows.count() >= 3
    road = [
        number_shown(str(rows.nth(i).locator("td").nth(1).text_content()))
        for i in range(rows.count())
    ]
    assert road == sorted(road)
    # Rank the second-nearest school first, then the nearest.
    second = str(page.evaluate("parentPage.near[1].properties.name"))
    rows.nth(1).locator("button[data-choose]").click()
    rows.nth(0).locator("button[data-choose]").click()
    choices = page.locator("[data-testid=app-choice]")
    assert choices.count() == 2
    assert " ".join(str(choices.first.text_content()).split()).startswith(f"1. {second}")
    page.wait_for_selector("#parent-map[data-ready=yes]", timeout=30_000)
    page.wait_for_timeout(800)
    shot(page, "parent-apply", full_page=True)
    page.click("#app-submit")
    # Read once more, then sent.
    page.wait_for_selector("[data-testid=app-summary] #app-confirm")
    assert page.text_content("[data-testid=summary-child]") == "079219000123"
    assert page.text_content("[data-testid=summary-birth]") == "15/03/2019"
    assert str(page.text_content("[data-testid=summary-choices] li")).startswith(second)
    assert page.is_visible("[data-testid=app-summary] #parent-map")
    shot(page, "parent-summary", full_page=True)
    page.click("#app-confirm")
    page.wait_for_selector("[data-testid=application]", timeout=30_000)
    page.wait_for_selector(".acc-focus [data-testid=application-status]")
    assert "Hợp lệ" in str(page.text_content(".acc-focus [data-testid=application-status]"))
    Scenario.application_id = int(str(page.evaluate("location.hash")).rsplit("/", 1)[1])
    assert "Đã nộp hồ sơ" in str(page.text_content("#app-message"))
    shot(page, "parent-submitted", full_page=True)
    assert page.errors == []


def test_officer_imports_runs_compares_and_publishes(
    browser: Any, server: str, demo_home: Path, tmp_path: Path
) -> None:
    page = new_page(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    page.click(f"tr[data-round='{Scenario.round_id}']")
    page.wait_for_selector("#round-detail button[data-do=close]")
    # The officer's list goes in while the round is open; then the data is locked to run.
    upload = tmp_path / "hoc-sinh-lop-1.csv"
    upload.write_bytes(applicants_csv(demo_home, 300))
    page.set_input_files("#applicants-file", str(upload))
    page.click("#round-detail button[data-do=import]")
    assert "Đã nhập: hồ sơ 300, hợp lệ 300" in notice(page)
    title = str(page.text_content("#round-detail"))
    assert "Hồ sơ 301" in title
    assert page.locator("#run-form").count() == 0
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#round-detail button[data-do=close]")
    notice(page)
    # The officer was told first what closing stops, and how to undo it.
    assert "không nộp, sửa hay rút hồ sơ được nữa" in asked[0] and "mở lại" in asked[0]
    page.wait_for_selector("#run-form")
    assert page.locator("#applicants-file").count() == 0
    for mechanism in ("nearest", "da"):
        page.select_option("#run-form select[name=mechanism]", mechanism)
        page.fill("#run-form input[name=seed]", "2025")
        page.click("#run-form button[type=submit]")
        notice(page)
    runs = page.locator("[data-testid=run-row]")
    assert runs.count() == 2
    page.click("#round-detail button[data-do=compare]")
    page.wait_for_selector("[data-testid=compare-table]")
    table = page.locator("[data-testid=compare-table]")
    assert table.locator("tr").first.locator("th").count() == 3  # metric + two runs
    placed = table.locator("tr[data-metric=placed] td")
    assert placed.count() == 3
    # Both runs place every eligible child (the district has seats for them).
    eligible = int(page.evaluate("currentRound().eligible"))
    assert [int(str(placed.nth(i).text_content())) for i in (1, 2)] == [eligible, eligible]
    # Each number says what it means; envy counts children, and deferred acceptance has none.
    envy = table.locator("tr[data-metric=children_with_justified_envy] td")
    assert "mỗi phụ huynh tự kiểm tra được" in str(envy.first.text_content())
    assert str(envy.nth(2).text_content()) == "0"
    # Two runs: who would change school between them, by unit and by school.
    nearest_run, da_first = page.evaluate("officer.runs.map((run) => run.id)")
    changes = page.evaluate("officer.changes")
    assert str(page.text_content("[data-testid=changes-title]")).startswith(
        f"Trẻ đổi trường giữa lần {min(nearest_run, da_first)} và lần {max(nearest_run, da_first)}"
    )
    assert sum(changes["by_unit"].values()) == changes["changed"] > 0
    assert page.locator("[data-testid=changes-list] [data-testid=change-row]").count() == min(
        changes["changed"], 200
    )
    # The drawn run is aggregated per school and per ward; no layer holds a point per child.
    da_run = int(page.evaluate("officer.runs[1].id"))
    page.click(f"button[data-do=map][data-run='{da_run}']")
    page.wait_for_selector(f"#officer-map[data-drawn=run-{da_run}]", timeout=30_000)
    # Counts come aggregated from the service: a school with fewer than 10 children says so
    # (null), never how many.
    per_school = page.evaluate("[...officer.perSchool.values()].map((e) => e.placed)")
    assert all(n is None or n >= 10 for n in per_school)
    assert eligible / 2 < sum(n or 0 for n in per_school) <= eligible
    assert len(per_school) < eligible / 5
    drawn = page.evaluate("officer.drawnSchools.map((f) => f.geometry.type)")
    assert drawn == ["Point"] * len(per_school)
    assert page.locator("[data-testid=school-count]").count() == len(per_school)
    # A school's popup for one run closes when another run is drawn.
    page.evaluate("schoolPopup(officer.drawnSchools[0])")
    page.wait_for_selector(".maplibregl-popup")
    page.click(f"button[data-do=map][data-run='{nearest_run}']")
    page.wait_for_selector(f"#officer-map[data-drawn=run-{nearest_run}]", timeout=30_000)
    assert page.locator(".maplibregl-popup").count() == 0
    page.click(f"button[data-do=map][data-run='{da_run}']")
    page.wait_for_selector(f"#officer-map[data-drawn=run-{da_run}]", timeout=30_000)
    beyond = int(str(table.locator("tr[data-metric=beyond_norm] td").nth(2).text_content()))
    shown_beyond = page.evaluate("[...officer.perSchool.values()].map((e) => e.beyond)")
    assert all(n is None or n >= 10 for n in shown_beyond)
    assert sum(n or 0 for n in shown_beyond) <= beyond
    page.wait_for_timeout(1000)
    shot(page, "officer-compare")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"button[data-do=publish][data-run='{da_run}']")
    notice(page)
    page.wait_for_selector("#round-detail button[data-do=next]")
    assert "đã công bố" in str(page.text_content("[data-testid=round-title]"))
    # The enrolment notice parents will read beside their result: a wrong one is refused
    # saying what to fix, then the right one is kept.
    assert "Chưa có thông báo" in str(page.text_content("[data-testid=notice-facts]"))
    page.fill("#notice-form input[name=enrol_from]", "2025-07-20")
    page.fill("#notice-form input[name=enrol_until]", "2025-07-10")
    refused = notice(page, click="#notice-form button", ok=False)
    assert "sau ngày kết thúc 10/07/2025" in refused
    page.fill("#notice-form input[name=enrol_from]", "2025-07-01")
    page.fill("#notice-form input[name=enrol_until]", "2025-07-15")
    page.fill("#notice-form textarea[name=papers]", "Bản sao giấy khai sinh\n\nẢnh 3x4 (2 ảnh)")
    page.fill("#notice-form input[name=review_contact]", ENROLMENT_CONTACT)
    page.fill("#notice-form input[name=review_requests_until]", "2025-07-10")
    assert "Đã lưu thông báo nhập học" in notice(page, click="#notice-form button")
    facts = str(page.text_content("[data-testid=notice-facts]"))
    assert "01/07/2025 – 15/07/2025" in facts and "Bản sao giấy khai sinh; Ảnh 3x4" in facts
    # The verification solves the run again: same hashes.
    page.click(f"button[data-do=verify][data-run='{da_run}']")
    assert "Khớp" in notice(page)
    with page.expect_download() as download:
        page.click(f"button[data-do=export][data-run='{da_run}']")
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert exported[0].startswith("applicant_id,") and len(exported) == eligible + 1
    page.wait_for_timeout(800)
    shot(page, "officer-published")
    assert page.errors == []


def test_parent_sees_the_result_explained(browser: Any, server: str) -> None:
    page = new_page(browser, server)
    page.goto(server + f"/#/parent/{Scenario.application_id}")
    sign_in(page, Scenario.parent_user, PASSWORD)
    page.wait_for_selector(".acc-focus [data-testid=result-school]", timeout=30_000)
    token = page.evaluate("session.read().access_token")
    status, answer = call(server, "GET", f"/applications/{Scenario.application_id}", token)
    assert status == 200
    result = answer["result"]
    assert result is not None and result["mechanism"] == "da"
    school = str(page.text_content(".acc-focus [data-testid=result-school]"))
    assert result["school"]["name"] in school
    explanation = str(page.text_content(".acc-focus [data-testid=explanation]"))
    assert result["explanation"]["vi"] in explanation
    assert result["explanation"]["en"] not in explanation  # one language at a time
    # The first choice is the school given, or the explanation says why not.
    first_choice = answer["preferences"][0]
    assert result["school"]["id"] == first_choice or any(
        p["school_id"] == first_choice for p in result["explanation"]["passed_over"]
    )
    # Only the opened application is shown: the list of others is left out.
    assert not page.is_visible("#app-list")
    # What to do next: how far and how long, the way there on the map, the school's phone,
    # and the round's notice: enrolment dates, papers, whom to ask for a review and until when.
    page.wait_for_selector(".acc-focus [data-testid=result-times][data-filled=true]")
    times = str(page.text_content(".acc-focus [data-testid=result-times]"))
    assert re.fullmatch(r"Khoảng cách [\d,]+ km · xe máy .*phút · đi bộ .*phút", times), times
    steps = str(page.text_content(".acc-focus [data-testid=next-steps]"))
    assert "từ ngày 01/07/2025 đến hết ngày 15/07/2025" in steps
    assert "Mang theo: Bản sao giấy khai sinh; Ảnh 3x4 (2 ảnh)." in steps
    assert f"liên hệ {ENROLMENT_CONTACT} trước hết ngày 10/07/2025" in steps
    assert f"số hồ sơ {Scenario.application_id}" in steps
    page.wait_for_timeout(500)
    shot(page, "parent-result", full_page=True)
    if result["school"]["phone"]:
        assert result["school"]["phone"] in steps
    page.click(".acc-focus [data-testid=result-route]")
    page.wait_for_function(
        f"state.chosen === {result['school']['id']} && state.route !== null", timeout=30_000
    )
    assert page.locator("[data-testid=near-row]").count() > 0
    page.go_back()
    page.wait_for_selector(".acc-focus [data-testid=result-school]")
    # A child left without a school is told so, with every listed school's reason.
    unplaced = {
        **answer,
        "result": {
            **result,
            "school": None,
            "distance_m": None,
            "explanation": {
                "vi": "Con chưa được xếp vào trường nào trong đợt này.",
                "en": "Not placed: no school on your list could take you.",
                "passed_over": [
                    {**p, "why": "full", "cutoff": {"cost": 677, "tier": 1}}
                    for p in result["explanation"]["passed_over"]
                ]
                + [
                    {
                        "school_id": first_choice,
                        "school_name": "Trường thử",
                        "distance_m": 1117,
                        "why": "full",
                        "cutoff": {"cost": 677, "tier": 1},
                        "vi": "Trường thử (cách nhà 1.117 m) đã hết chỗ.",
                    }
                ],
            },
        },
    }
    html = page.evaluate("(a) => applicationCard(a)", unplaced)
    assert "Chưa được xếp trường trong đợt này." in html
    assert "Con chưa được xếp vào trường nào trong đợt này." in html
    assert "Trường thử (cách nhà 1.117 m) đã hết chỗ." in html
    # One language at a time: the English waits for EN.
    assert "the last child it admitted" not in html and "Not placed" not in html
    assert "result-school" not in html
    page.click("#lang")
    page.wait_for_selector(".acc-focus [data-testid=result-school]")
    assert page.text_content("#views a[href='#/parent']") == "My child's application"
    english = str(page.text_content(".acc-focus [data-testid=explanation] .acc-explain"))
    assert english == result["explanation"]["en"]
    assert "Con được xếp" not in str(page.text_content(".acc-focus"))
    html = page.evaluate("(a) => applicationCard(a)", unplaced)
    assert "Trường thử (1.12 km): full; the last child it admitted lived 677 m away." in html
    assert "đã hết chỗ" not in html
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_parent_on_a_phone_in_english(browser: Any, server: str) -> None:
    page = new_page(browser, server, width=390, height=844)
    page.goto(server + "/#/parent")
    page.evaluate("localStorage.setItem('schoolmap.lang', 'en')")
    page.reload()
    sign_in(page, Scenario.parent_user, PASSWORD)
    page.wait_for_selector("[data-testid=result-school]", timeout=30_000)
    assert page.text_content("#parent-apply h2") == "Apply for my child"
    # The round is published: no round takes applications, and the form says so instead.
    assert page.is_visible("#app-no-round") and not page.is_visible("#application-form")
    # Nothing is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('view-parent').scrollWidth") <= 390
    assert not (small := small_targets(page)), "\n".join(small)
    shot(page, "parent-phone-en", full_page=True)
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_officer_console_on_a_phone(browser: Any, server: str) -> None:
    page = new_page(browser, server, width=390, height=844)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    page.click(f"tr[data-round='{Scenario.round_id}']")
    page.wait_for_selector("[data-testid=run-row]")
    page.wait_for_selector("#officer-map[data-drawn^=run]", timeout=30_000)
    # Nothing is wider than the phone, neither the page nor the console's own scrolling box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('officer-content').scrollWidth") <= 390
    assert not (small := small_targets(page)), "\n".join(small)
    page.wait_for_timeout(1000)
    shot(page, "officer-phone", full_page=True)
    assert page.errors == []


def test_a_parent_cannot_open_another_familys_application(browser: Any, server: str) -> None:
    status, _ = call(
        server, "POST", "/auth/register", body={"username": "bo.binh.2025", "password": PASSWORD}
    )
    assert status == 201
    other = token_of(server, "bo.binh.2025", PASSWORD)
    # Another family's application answers 404, as one that does not exist.
    status, mine = call(server, "GET", f"/applications/{Scenario.application_id}", other)
    assert status == 404
    assert "không có hồ sơ" in mine["detail"].lower() or "no application" in mine["detail"]
    # In the browser, the address of the first family's application says so too.
    page = new_page(browser, server)
    page.goto(server + f"/#/parent/{Scenario.application_id}")
    sign_in(page, "bo.binh.2025", PASSWORD)
    page.wait_for_selector("[data-testid=application-error]")
    assert "404" in str(page.text_content("[data-testid=application-error]"))
    assert page.locator("[data-testid=result-school]").count() == 0
    shot(page, "parent-not-theirs")
    # An officer is refused the parents' endpoint altogether; nobody signed in is refused too.
    officer = token_of(server, *OFFICER)
    assert call(server, "GET", f"/applications/{Scenario.application_id}", officer)[0] == 403
    assert call(server, "GET", f"/applications/{Scenario.application_id}")[0] == 401
    assert page.errors == []


def test_officer_opens_round_two(browser: Any, server: str) -> None:
    page = new_page(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    page.click(f"tr[data-round='{Scenario.round_id}']")
    page.wait_for_selector("#round-detail button[data-do=next]")
    page.click("#round-detail button[data-do=next]")
    text = notice(page)
    assert "Đã mở đợt" in text
    new_round = int(page.evaluate("officer.roundId"))
    assert new_round != Scenario.round_id
    assert page.locator("[data-testid=officer-round]").count() == 2
    assert page.errors == []


def test_planner_page_uses_the_same_sign_in(browser: Any, server: str) -> None:
    page = new_page(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *PLANNER)
    # A planner is no admissions officer: the console says so and offers to sign out.
    assert "cán bộ tuyển sinh" in str(page.text_content(".acc-signin"))
    page.goto(server + "/web/planner.html")
    page.wait_for_timeout(3000)
    assert page.evaluate("sessionStorage.getItem('schoolmap-token')")
    shot(page, "planner")
