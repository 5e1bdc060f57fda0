"""A round's enrolment notice: its officers set the enrolment dates, the papers to bring and
whom to ask for a review; a parent reads them as next steps beside the published result."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gis_service.admissions.enrolment import (
    MAX_PAPERS,
    EnrolmentNotice,
    checked_notice,
    next_steps,
)
from gis_service.admissions.rounds import Round
from gis_service.errors import InvalidRequestError
from tests.test_api_applications import Setting
from tests.test_auth import RequestTransactions, add_user, sign_in

ROUND_2025 = Round(7, "Lớp 1", 1, "2025-2026", 2025, 1, (), "open")
FULL = EnrolmentNotice(
    date(2025, 7, 1),
    date(2025, 7, 15),
    ("Bản sao giấy khai sinh", "Giấy xác nhận thông tin cư trú"),
    "Phòng Văn hóa - Xã hội phường Bến Thành, 0283 822 1234",
    date(2025, 7, 10),
)


def steps_by_kind(steps: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {step["kind"]: step for step in steps}


def test_the_next_steps_tell_the_notice_in_both_languages() -> None:
    steps = steps_by_kind(next_steps(FULL, "Trường Tiểu học Lê Văn Tám", 42))
    assert list(steps) == ["enrol", "papers", "review"]
    assert steps["enrol"]["vi"] == (
        "Làm thủ tục nhập học tại Trường Tiểu học Lê Văn Tám từ ngày 01/07/2025 đến hết ngày "
        "15/07/2025."
    )
    assert "from 01/07/2025 to 15/07/2025" in steps["enrol"]["en"]
    assert steps["papers"]["vi"] == (
        "Mang theo: Bản sao giấy khai sinh; Giấy xác nhận thông tin cư trú."
    )
    assert "Phòng Văn hóa - Xã hội phường Bến Thành, 0283 822 1234" in steps["review"]["vi"]
    assert "trước hết ngày 10/07/2025" in steps["review"]["vi"]
    assert "số hồ sơ 42" in steps["review"]["vi"]
    assert "by 10/07/2025" in steps["review"]["en"] and "number 42" in steps["review"]["en"]


def test_without_a_notice_the_steps_say_who_announces_and_whom_to_ask() -> None:
    steps = steps_by_kind(next_steps(EnrolmentNotice(), "Trường Tiểu học Hòa Bình", 5))
    assert "theo lịch trường thông báo" in steps["enrol"]["vi"]
    assert "giấy khai sinh" in steps["papers"]["vi"]
    assert "cán bộ tuyển sinh của phường/xã" in steps["review"]["vi"]
    assert "trước hết ngày" not in steps["review"]["vi"]
    # A child given no school has nothing to enrol in, but may still ask for a review.
    assert [s["kind"] for s in next_steps(FULL, None, 5)] == ["review"]


@pytest.mark.parametrize(
    ("notice", "says"),
    [
        (EnrolmentNotice(enrol_from=date(2025, 7, 1)), "cả ngày bắt đầu và ngày kết thúc"),
        (
            EnrolmentNotice(date(2025, 7, 15), date(2025, 7, 1)),
            "Ngày bắt đầu nhập học 15/07/2025 sau ngày kết thúc 01/07/2025",
        ),
        (
            EnrolmentNotice(date(2026, 7, 1), date(2026, 7, 15)),
            "phải thuộc năm 2025, năm tuyển sinh của đợt 7",
        ),
        (
            EnrolmentNotice(review_requests_until=date(2024, 12, 31)),
            "Hạn đề nghị xem lại 31/12/2024 phải thuộc năm 2025",
        ),
        (EnrolmentNotice(papers=("x",) * (MAX_PAPERS + 1)), f"Tối đa {MAX_PAPERS} loại giấy tờ"),
        (EnrolmentNotice(papers=("Sổ hộ khẩu\u202e",)), "Giấy tờ thứ 1 có ký tự điều khiển U+202E"),
        (EnrolmentNotice(review_contact="x" * 301), "dài 301 ký tự, tối đa 300"),
    ],
)
def test_a_notice_that_cannot_be_right_is_refused_saying_what_to_fix(
    notice: EnrolmentNotice, says: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        checked_notice(ROUND_2025, notice)
    assert says in str(refused.value)


def test_papers_and_contact_are_trimmed_and_empty_lines_dropped() -> None:
    notice = EnrolmentNotice(papers=("  Bản sao   giấy khai sinh ", "", "   "), review_contact="  ")
    checked = checked_notice(ROUND_2025, notice)
    assert checked.papers == ("Bản sao giấy khai sinh",)
    assert checked.review_contact is None


NOTICE_BODY = {
    "enrol_from": "2025-07-01",
    "enrol_until": "2025-07-15",
    "papers": ["Bản sao giấy khai sinh", "Giấy xác nhận thông tin cư trú"],
    "review_contact": "Phòng Văn hóa - Xã hội phường, 0283 822 1234",
    "review_requests_until": "2025-07-10",
}


@pytest.fixture
def setting(client: TestClient, conn: RequestTransactions) -> Setting:
    made = Setting(client, conn)
    conn.commit()
    return made


def test_officers_set_the_notice_and_parents_read_it_as_next_steps(
    setting: Setting, conn: RequestTransactions
) -> None:
    client, officer = setting.client, setting.officer
    submitted = setting.submit(setting.an, "a", setting.body())
    assert submitted.status_code == 201, submitted.text
    application_id = submitted.json()["id"]
    # Before any notice the round says so with empty fields.
    before = client.get(f"/rounds/{setting.round_id}", headers=officer).json()["notice"]
    assert before["enrol_from"] is None and before["papers"] == []

    put = client.put(f"/rounds/{setting.round_id}/notice", json=NOTICE_BODY, headers=officer)
    assert put.status_code == 200, put.text
    assert {k: put.json()["notice"][k] for k in NOTICE_BODY} == NOTICE_BODY
    assert "notice" in put.json()["actions"]
    # A parent reads the same notice with the round.
    seen = client.get(f"/rounds/{setting.round_id}", headers=setting.an).json()["notice"]
    assert seen["papers"] == NOTICE_BODY["papers"]
    # Audited, with what was set.
    with conn.cursor() as cur:
        cur.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'round.notice' AND target = %s",
            (f"round:{setting.round_id}",),
        )
        actor, detail = cur.fetchone()  # type: ignore[misc]
    assert actor == "can.bo" and detail["enrol_until"] == "2025-07-15"

    for step in ("close",):
        client.post(f"/rounds/{setting.round_id}/{step}", headers=officer).raise_for_status()
    run = client.post(
        f"/rounds/{setting.round_id}/runs", json={"mechanism": "da", "seed": 1}, headers=officer
    )
    assert run.status_code == 201, run.text
    client.post(
        f"/rounds/{setting.round_id}/runs/{run.json()['id']}/publish", headers=officer
    ).raise_for_status()
    # After publication the dates can still be corrected, and the parent reads the new ones.
    moved = {**NOTICE_BODY, "enrol_until": "2025-07-20"}
    assert (
        client.put(f"/rounds/{setting.round_id}/notice", json=moved, headers=officer).status_code
        == 200
    )
    result = client.get(f"/applications/{application_id}", headers=setting.an).json()["result"]
    school = result["school"]["name"]
    steps = steps_by_kind(result["next_steps"])
    assert steps["enrol"]["vi"] == (
        f"Làm thủ tục nhập học tại {school} từ ngày 01/07/2025 đến hết ngày 20/07/2025."
    )
    assert steps["papers"]["vi"].startswith("Mang theo: Bản sao giấy khai sinh;")
    assert f"số hồ sơ {application_id}" in steps["review"]["vi"]
    assert "0283 822 1234" in steps["review"]["en"]


def test_only_the_rounds_officers_set_the_notice_and_bad_ones_are_refused(
    setting: Setting, conn: RequestTransactions
) -> None:
    client = setting.client
    add_user(conn, "can.bo.903", "district_officer", area=["903"])
    conn.commit()
    outsider = sign_in(client, "can.bo.903")
    url = f"/rounds/{setting.round_id}/notice"
    assert client.put(url, json=NOTICE_BODY, headers=outsider).status_code == 403
    assert client.put(url, json=NOTICE_BODY, headers=setting.an).status_code == 403
    assert client.put(url, json=NOTICE_BODY).status_code == 401
    wrong: dict[str, Any] = {**NOTICE_BODY, "enrol_from": "2025-08-01"}
    refused = client.put(url, json=wrong, headers=setting.officer)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("Ngày bắt đầu nhập học 01/08/2025 sau ngày kết thúc")
    too_long = client.put(url, json={**NOTICE_BODY, "papers": ["x" * 201]}, headers=setting.officer)
    assert too_long.status_code == 422
    # Nothing was stored by the refused requests.
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM round_notices WHERE round_id = %s", (setting.round_id,))
        assert cur.fetchone() == (0,)
