"""The parents' review window and the stated unit of residence in a real headless Chromium,
against a served copy of the demo city: an officer creates a round with a review deadline, a
parent states a unit that contradicts the home and is told the officer will check it, the
officer sees both names and amends the application with a reason, and after the deadline the
parent's page offers no change and says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import chromium, demo_copy_with_users, served
from tests.test_web_accounts_e2e import (
    HOME_ADDRESS,
    PASSWORD,
    call,
    find_home,
    new_page,
    notice,
    shot,
    sign_in,
    token_of,
)

OFFICER = ("canbo.quan1", "mat-khau-can-bo-quan")
WARD_OFFICER = ("canbo.hoabinh", "mat-khau-can-bo-phuong")
ADMIN = ("quantri.so", "mat-khau-quan-tri-so")
PARENT = "ba.minh.2026"
ROUND_NAME = "Lớp 1 bốn phường Quận Một"
# The browser's time zone: the deadline typed is Vietnamese time, sent with its offset.
ZONE = "Asia/Ho_Chi_Minh"
NEXT_YEAR = date.today().year + 1
DEADLINE_TYPED = f"{NEXT_YEAR}-03-03T17:00"
DEADLINE_SHOWN = f"03/03/{NEXT_YEAR} 17:00"
DEADLINE_UTC = datetime(NEXT_YEAR, 3, 3, 10, 0, tzinfo=UTC)
PAST_TYPED = f"{date.today().year - 1}-03-03T08:30"
PAST_SHOWN = f"03/03/{date.today().year - 1} 08:30"
# 745 Calmette lies in Phường Hòa Bình; the family's papers name another ward of the district.
HOME_WARD = "Phường Hòa Bình"
STATED_WARD = "Phường Thống Nhất"
LEFT_OUT_WARD = "Phường Phú Hòa"


@pytest.fixture(scope="module")
def ward_db_url(demo_db_url: str) -> Iterator[str]:
    """The demo city copied, with a district-901 officer, a ward officer of one 2019 ward and a
    city admin."""
    users = [
        {
            "username": OFFICER[0],
            "password": OFFICER[1],
            "role": "district_officer",
            "area": ["901"],
        },
        {
            "username": WARD_OFFICER[0],
            "password": WARD_OFFICER[1],
            "role": "ward_officer",
            "area": ["90001"],
        },
        {"username": ADMIN[0], "password": ADMIN[1], "role": "city_admin"},
    ]
    with demo_copy_with_users(demo_db_url, "_wardrounds", users) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(ward_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(ward_db_url, demo_home) as base:
        yield base


class Story:
    """What the steps share."""

    round_id = 0
    application_id = 0


def page_in_vietnam(browser: Any, server: str, width: int = 1280, height: int = 860) -> Any:
    return new_page(browser, server, width=width, height=height, timezone_id=ZONE)


def open_round_of_officer(page: Any, round_id: int) -> None:
    page.click(f"tr[data-round='{round_id}']")
    page.wait_for_selector(f"[data-testid=round-title]:has-text('#{round_id}')")


def test_officer_creates_a_round_with_a_review_deadline(browser: Any, server: str) -> None:
    page = page_in_vietnam(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    page.wait_for_selector("[data-testid=area-picker]", state="attached")
    page.click("#round-create summary")
    page.fill("#round-form input[name=name]", ROUND_NAME)
    page.fill("#round-form input[name=school_year]", "2026-2027")
    # One ward of the district is left out: the whole-district box is no longer ticked.
    page.locator("#round-area label", has_text=LEFT_OUT_WARD).locator("input").uncheck()
    assert not page.is_checked("#round-area input[name=district][value='901']")
    assert page.evaluate("document.querySelector('#round-area input[name=district]').indeterminate")
    # No ward at all is refused before anything is sent.
    page.click("#round-area button[data-pick=none]")
    page.click("#round-form button[type=submit]")
    page.wait_for_selector("#round-form-message.error")
    assert "ít nhất một phường/xã" in str(page.text_content("#round-form-message"))
    page.click("#round-area button[data-pick=all]")
    page.locator("#round-area label", has_text=LEFT_OUT_WARD).locator("input").uncheck()
    page.fill("#round-form input[name=review_until]", DEADLINE_TYPED)
    assert "UTC+07:00" in str(page.text_content("#round-form"))
    page.click("#round-form button[type=submit]")
    notice(page)
    page.wait_for_selector("[data-testid=round-title]")
    Story.round_id = int(page.evaluate("officer.roundId"))
    # The round names its edition, its four wards and the deadline as typed, window open.
    assert "2019" in str(page.text_content("[data-testid=round-edition]"))
    area = str(page.text_content("[data-testid=round-area]"))
    assert HOME_WARD in area and STATED_WARD in area and LEFT_OUT_WARD not in area
    assert area.count("Phường") == 4 and "90001" not in area
    deadline = str(page.text_content("[data-testid=review-deadline]"))
    assert DEADLINE_SHOWN in deadline and "đang trong thời gian" in deadline
    assert page.input_value("#deadline-form input[name=review_until]") == DEADLINE_TYPED
    # The service holds the moment typed, in Vietnamese time.
    token = token_of(server, *OFFICER)
    status, stored = call(server, "GET", f"/rounds/{Story.round_id}", token)
    assert status == 200
    assert datetime.fromisoformat(stored["review_until"]) == DEADLINE_UTC
    assert stored["review_window_open"] is True
    page.click("#round-detail button[data-do=open]")
    notice(page)
    page.wait_for_selector("#round-detail button[data-do=close]")
    # The map's ward labels are names of the round's units.
    page.wait_for_selector("#officer-map[data-drawn=demand]", timeout=30_000)
    labels = [str(x) for x in page.locator("[data-testid=ward-count]").all_text_contents()]
    assert len(labels) == 4 and any(label.startswith(HOME_WARD) for label in labels)
    shot(page, "ward-round-created")
    assert page.errors == []


def test_parent_states_a_unit_that_differs_from_the_home(browser: Any, server: str) -> None:
    page = page_in_vietnam(browser, server)
    page.goto(server + "/#/parent")
    page.wait_for_selector("[data-testid=signin-form]")
    page.fill("input[name=username]", PARENT)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[data-action=register]")
    page.wait_for_selector("#application-form")
    page.wait_for_function("parentPage.roundsLoaded")
    assert ROUND_NAME in str(page.text_content("#app-round"))
    # The chosen round's review deadline is said before applying.
    assert DEADLINE_SHOWN in str(page.text_content("[data-testid=round-deadline]"))
    hint = str(page.text_content("#app-stated-hint"))
    assert "tên cũ" in hint and "tên mới" in hint
    page.fill("input[name=child_id]", "079219000456")
    page.fill("input[name=birth_date]", "2020-05-20")
    find_home(page, HOME_ADDRESS)
    page.fill("#application-form input[name=stated_unit]", STATED_WARD)
    page.click("#app-submit")
    page.click("#app-confirm")
    page.wait_for_selector(".acc-focus [data-testid=residence-note]", timeout=30_000)
    Story.application_id = int(str(page.evaluate("location.hash")).rsplit("/", 1)[1])
    card = ".acc-focus"
    assert STATED_WARD in str(page.text_content(f"{card} [data-testid=stated-unit]"))
    note = str(page.text_content(f"{card} [data-testid=residence-note]"))
    assert STATED_WARD in note and "Cán bộ tuyển sinh sẽ kiểm tra lại" in note
    assert "không bị loại" in note
    assert DEADLINE_SHOWN in str(page.text_content(f"{card} [data-testid=review-deadline]"))
    token = page.evaluate("session.read().access_token")
    status, answer = call(server, "GET", f"/applications/{Story.application_id}", token)
    assert status == 200 and answer["residence_check"] == "mismatch"
    assert answer["stated_unit"] == STATED_WARD

    # A correction naming no known unit: the note says so.
    page.click(f"{card} button[data-app-do=edit]")
    form = f"{card} [data-testid=correction-form]"
    page.wait_for_selector(form)
    assert page.input_value(f"{form} input[name=stated_unit]") == STATED_WARD
    page.fill(f"{form} input[name=stated_unit]", "Phường Không Tồn Tại")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{card} [data-testid=app-action-message].ok")
    assert "Đã lưu hồ sơ" in str(page.text_content(f"{card} [data-testid=app-action-message]"))
    note = str(page.text_content(f"{card} [data-testid=residence-note]"))
    assert "Không tìm thấy phường/xã nào tên “Phường Không Tồn Tại”" in note
    # And back to the ward the papers name, written without its type word or diacritics.
    page.click(f"{card} button[data-app-do=edit]")
    page.wait_for_selector(form)
    page.fill(f"{form} input[name=stated_unit]", "thong nhat")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{card} [data-testid=residence-note]:has-text('khác với')")
    status, answer = call(server, "GET", f"/applications/{Story.application_id}", token)
    assert answer["residence_check"] == "mismatch" and answer["stated_unit"] == "thong nhat"
    # Nothing else changed: the home, the birth date and the child's eligibility.
    assert answer["status"] == "eligible" and answer["birth_date"] == "2020-05-20"
    shot(page, "ward-parent-mismatch", full_page=True)
    assert page.errors == []


def test_officer_sees_the_mismatch_and_amends_it(browser: Any, server: str) -> None:
    page = page_in_vietnam(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    open_round_of_officer(page, Story.round_id)
    row = f"[data-testid=mismatch-row][data-application='{Story.application_id}']"
    page.wait_for_selector(row)
    assert "1 hồ sơ" in str(page.text_content("[data-testid=residence-count]"))
    stated = str(page.text_content(f"{row} [data-testid=mismatch-stated]"))
    home = str(page.text_content(f"{row} [data-testid=mismatch-home]"))
    assert f"{STATED_WARD} (Quận Một)" in stated and "“thong nhat”" in stated
    assert f"{HOME_WARD} (Quận Một)" in home
    # How far the home lies outside the unit the family stated, from the residence report.
    assert "nhà cách đơn vị đã khai" in home or "nhà sát ranh giới" in home
    page.click(f"{row} button[data-do=amend]")
    form = "#amend-form"
    page.wait_for_selector(form)
    # A reason shorter than 10 characters is refused before anything is sent.
    page.fill(f"{form} input[name=stated_unit]", HOME_WARD)
    page.fill(f"{form} textarea[name=reason]", "giấy tờ")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} [data-testid=amend-message].error")
    assert "ít nhất 10 ký tự" in str(page.text_content(f"{form} [data-testid=amend-message]"))
    token = token_of(server, *OFFICER)
    status, report = call(server, "GET", f"/rounds/{Story.round_id}/residence", token)
    assert status == 200 and report["mismatched"] == 1
    page.fill(f"{form} textarea[name=reason]", "Đã xem giấy xác nhận cư trú số 123/XN-CA")
    page.click(f"{form} button[type=submit]")
    text = notice(page)
    assert f"Đã sửa hồ sơ số {Story.application_id}" in text
    assert "đơn vị cư trú" in text and "khớp nơi ở" in text
    page.wait_for_selector("[data-testid=amend-result]")
    assert page.locator("[data-testid=mismatch-row]").count() == 0
    assert "Không có hồ sơ nào" in str(page.text_content("[data-testid=residence-count]"))
    status, report = call(server, "GET", f"/rounds/{Story.round_id}/residence", token)
    assert report["mismatched"] == 0 and report["matched"] == 1
    # An application number the round does not have: the service's answer is shown.
    page.click("#round-detail button[data-do=amend-any]")
    page.wait_for_selector(f"{form} input[name=application]")
    page.fill(f"{form} input[name=application]", "999999")
    page.fill(f"{form} input[name=lon]", "106.7")
    page.fill(f"{form} textarea[name=reason]", "Kiểm tra theo đơn của phụ huynh")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} [data-testid=amend-message].error")
    assert "cả kinh độ và vĩ độ" in str(page.text_content(f"{form} [data-testid=amend-message]"))
    page.fill(f"{form} input[name=lat]", "10.77")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} [data-testid=amend-message]:has-text('999999')")
    message = str(page.text_content(f"{form} [data-testid=amend-message]"))
    assert "không có hồ sơ số 999999" in message and "[object Object]" not in message
    shot(page, "ward-officer-amended")
    assert page.errors == []


def test_officer_console_fits_a_phone_and_works_by_keyboard(browser: Any, server: str) -> None:
    page = page_in_vietnam(browser, server, width=390, height=844)
    page.goto(server + "/#/officer")
    sign_in(page, *OFFICER)
    row = f"tr[data-round='{Story.round_id}']"
    page.wait_for_selector(row)
    page.focus(row)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=residence]")
    page.click("#round-detail button[data-do=amend-any]")
    page.wait_for_selector("#amend-form")
    page.click("#round-create summary")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.getElementById('officer-content').scrollWidth") <= 390
    shot(page, "ward-officer-phone", full_page=True)
    assert page.errors == []


def test_after_the_deadline_the_parent_cannot_change_the_application(
    browser: Any, server: str
) -> None:
    # The parent opens the correction form while the window is still open.
    parent = page_in_vietnam(browser, server, width=390, height=844)
    parent.goto(server + f"/#/parent/{Story.application_id}")
    sign_in(parent, PARENT, PASSWORD)
    card = ".acc-focus"
    parent.wait_for_selector(f"{card} button[data-app-do=edit]")
    assert HOME_WARD in str(parent.text_content(f"{card} [data-testid=stated-unit]"))
    assert parent.locator(f"{card} [data-testid=residence-note]").count() == 0
    parent.click(f"{card} button[data-app-do=edit]")
    parent.wait_for_selector(f"{card} [data-testid=correction-form]")

    # The officer moves the deadline into the past, after a confirmation that says so.
    officer = page_in_vietnam(browser, server)
    officer.goto(server + "/#/officer")
    sign_in(officer, *OFFICER)
    open_round_of_officer(officer, Story.round_id)
    assert officer.locator("#applicants-file").count() == 1
    officer.fill("#deadline-form input[name=review_until]", PAST_TYPED)
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    officer.once("dialog", answer)
    officer.click("#deadline-form button[type=submit]")
    assert PAST_SHOWN in notice(officer)
    assert PAST_SHOWN in asked[0] and "đã qua" in asked[0]
    deadline = str(officer.text_content("[data-testid=review-deadline]"))
    assert PAST_SHOWN in deadline and "đã hết hạn" in deadline
    # No more parents' data comes in without a reason: the import is gone.
    assert officer.locator("#applicants-file").count() == 0
    assert officer.errors == []

    # The parent's open form is refused by the service, with its own words.
    form = f"{card} [data-testid=correction-form]"
    parent.fill(f"{form} input[name=stated_unit]", STATED_WARD)
    parent.click(f"{form} button[type=submit]")
    parent.wait_for_selector(f"{form} [data-testid=correction-message].error")
    refused = str(parent.text_content(f"{form} [data-testid=correction-message]"))
    assert "Đã hết hạn rà soát dữ liệu" in refused and "[object Object]" not in refused
    # Read again, the page offers no change and says why, and takes no new application.
    parent.reload()
    parent.wait_for_selector(f"{card} [data-testid=locked-note]")
    locked = str(parent.text_content(f"{card} [data-testid=locked-note]"))
    assert f"Đã hết hạn rà soát dữ liệu ({PAST_SHOWN})" in locked
    assert "liên hệ cán bộ tuyển sinh" in locked
    assert parent.locator("button[data-app-do]").count() == 0
    parent.wait_for_function("parentPage.roundsLoaded")
    assert parent.is_visible("#app-no-round") and not parent.is_visible("#application-form")
    assert parent.evaluate("document.documentElement.scrollWidth") <= 390
    shot(parent, "ward-parent-locked", full_page=True)
    token = parent.evaluate("session.read().access_token")
    status, stored = call(server, "GET", f"/applications/{Story.application_id}", token)
    assert status == 200 and stored["stated_unit"] == HOME_WARD
    assert parent.errors == []


def test_a_ward_officer_works_on_their_own_ward_by_name(browser: Any, server: str) -> None:
    page = page_in_vietnam(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *WARD_OFFICER)
    assert "cán bộ tuyển sinh phường/xã" in str(page.text_content("[data-testid=signed-in]"))
    page.wait_for_selector("[data-testid=area-picker]", state="attached")
    assert str(page.text_content("#officer-area")) == f"Địa bàn: {HOME_WARD}"
    # The district officer's round reaches beyond this ward: it is not listed.
    assert page.locator(f"tr[data-round='{Story.round_id}']").count() == 0
    page.click("#round-create summary")
    # One unit, by name; no district to pick.
    assert page.locator("#round-area input[name=district]").count() == 0
    assert page.locator("#round-area input[name=unit]:checked").count() == 1
    assert HOME_WARD in str(page.text_content("#round-area"))
    page.fill("#round-form input[name=name]", "Lớp 6 Phường Hòa Bình")
    page.select_option("#round-form select[name=grade]", "6")
    page.fill("#round-form input[name=school_year]", "2026-2027")
    page.click("#round-form button[type=submit]")
    notice(page)
    page.wait_for_selector("[data-testid=round-area]")
    assert str(page.text_content("[data-testid=round-area]")) == f"{HOME_WARD} (Quận Một)"
    assert "chưa đặt" in str(page.text_content("[data-testid=review-deadline]"))
    page.click("#lang")
    page.wait_for_selector("[data-testid=area-picker]", state="attached")
    page.wait_for_selector("[data-testid=round-title]")
    assert "ward/commune admissions officer" in str(page.text_content("[data-testid=signed-in]"))
    assert "not set" in str(page.text_content("[data-testid=review-deadline]"))
    page.evaluate("localStorage.clear()")
    assert page.errors == []


def test_a_city_admin_gives_the_area_by_codes_and_reads_it_by_name(
    browser: Any, server: str
) -> None:
    page = page_in_vietnam(browser, server)
    page.goto(server + "/#/officer")
    sign_in(page, *ADMIN)
    # No area of their own: the whole city, and codes of a chosen edition for a new round.
    page.wait_for_selector("#round-area select[name=edition]", state="attached")
    assert str(page.text_content("#officer-area")) == "Địa bàn: toàn thành phố"
    page.click("#round-create summary")
    page.fill("#round-form input[name=name]", "Lớp 1 Phường An Khánh")
    page.fill("#round-form input[name=school_year]", "2026-2027")
    page.select_option("#round-area select[name=edition]", "2019")
    page.fill("#round-area input[name=wards]", "90006")
    page.click("#round-form button[type=submit]")
    notice(page)
    page.wait_for_selector("[data-testid=round-area]")
    assert str(page.text_content("[data-testid=round-area]")) == "Phường An Khánh (Quận Hai)"
    # Every round of the city is listed, the district officer's among them.
    assert page.locator(f"tr[data-round='{Story.round_id}']").count() == 1
    assert page.errors == []
