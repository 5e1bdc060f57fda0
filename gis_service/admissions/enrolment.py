"""What a family does once the result is out: the round's enrolment notice, set by its officers
(enrolment dates, papers to bring, whom to ask for a review and until when), and the next steps
a parent reads beside the result, in Vietnamese and English, told from that notice.

A round without a notice still gives next steps: they say that the school announces its dates
and papers, and that the ward's admissions officers take requests for a review."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gis_service import audit
from gis_service.admissions.lifecycle import Action, lock_round
from gis_service.admissions.rounds import Round
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.safe_text import check_name

MAX_PAPERS = 12
MAX_PAPER_CHARS = 200
MAX_CONTACT_CHARS = 300
"""Limits of a notice (the database checks the first and the last too)."""


@dataclass(frozen=True)
class EnrolmentNotice:
    """A round's enrolment notice. Dates are days in Vietnam; `enrol_until` and
    `review_requests_until` are the last days (inclusive)."""

    enrol_from: date | None = None
    enrol_until: date | None = None
    papers: tuple[str, ...] = ()
    review_contact: str | None = None
    review_requests_until: date | None = None
    updated_at: datetime | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "enrol_from": self.enrol_from.isoformat() if self.enrol_from else None,
            "enrol_until": self.enrol_until.isoformat() if self.enrol_until else None,
            "papers": list(self.papers),
            "review_contact": self.review_contact,
            "review_requests_until": (
                self.review_requests_until.isoformat() if self.review_requests_until else None
            ),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def day_text(day: date) -> str:
    """A day as Vietnamese (and British English) write it: 01/07/2026."""
    return day.strftime("%d/%m/%Y")


def checked_notice(the_round: Round, notice: EnrolmentNotice) -> EnrolmentNotice:
    """The notice with its texts trimmed, or InvalidRequestError naming what to fix."""
    if (notice.enrol_from is None) != (notice.enrol_until is None):
        raise InvalidRequestError(
            "Hãy nêu cả ngày bắt đầu và ngày kết thúc nhập học (hoặc bỏ trống cả hai) / give "
            "both the first and the last day of enrolment, or neither"
        )
    if notice.enrol_from and notice.enrol_until and notice.enrol_from > notice.enrol_until:
        raise InvalidRequestError(
            f"Ngày bắt đầu nhập học {day_text(notice.enrol_from)} sau ngày kết thúc "
            f"{day_text(notice.enrol_until)}; hãy đổi lại / the first day of enrolment "
            f"({notice.enrol_from}) comes after the last ({notice.enrol_until})"
        )
    year = the_round.admission_year
    for day, vi, en in (
        (notice.enrol_from, "Ngày bắt đầu nhập học", "first day of enrolment"),
        (notice.enrol_until, "Ngày kết thúc nhập học", "last day of enrolment"),
        (notice.review_requests_until, "Hạn đề nghị xem lại", "last day to ask for a review"),
    ):
        if day is not None and day.year != year:
            raise InvalidRequestError(
                f"{vi} {day_text(day)} phải thuộc năm {year}, năm tuyển sinh của đợt "
                f"{the_round.round_id} / the {en} ({day}) must fall in {year}, the round's "
                "admission year"
            )
    papers = tuple(" ".join(p.split()) for p in notice.papers)
    papers = tuple(p for p in papers if p)
    if len(papers) > MAX_PAPERS:
        raise InvalidRequestError(
            f"Tối đa {MAX_PAPERS} loại giấy tờ, có {len(papers)} / at most {MAX_PAPERS} papers, "
            f"got {len(papers)}"
        )
    for number, paper in enumerate(papers, start=1):
        if len(paper) > MAX_PAPER_CHARS:
            raise InvalidRequestError(
                f"Giấy tờ thứ {number} dài {len(paper)} ký tự, tối đa {MAX_PAPER_CHARS} / paper "
                f"{number} is {len(paper)} characters long, at most {MAX_PAPER_CHARS}"
            )
        check_name(paper, f"Giấy tờ thứ {number}", f"paper {number}")
    contact = " ".join((notice.review_contact or "").split()) or None
    if contact is not None:
        if len(contact) > MAX_CONTACT_CHARS:
            raise InvalidRequestError(
                f"Nơi nhận đề nghị xem lại dài {len(contact)} ký tự, tối đa {MAX_CONTACT_CHARS} "
                f"/ the review contact is {len(contact)} characters long, at most "
                f"{MAX_CONTACT_CHARS}"
            )
        check_name(contact, "Nơi nhận đề nghị xem lại", "review contact")
    return EnrolmentNotice(
        notice.enrol_from, notice.enrol_until, papers, contact, notice.review_requests_until
    )


def set_notice(
    conn: Connection,
    round_id: int,
    notice: EnrolmentNotice,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> EnrolmentNotice:
    """Set (replace) the round's enrolment notice; audited. Allowed until the round is
    archived, so dates can be corrected after publication."""
    the_round = lock_round(conn, round_id, Action.NOTICE)
    checked = checked_notice(the_round, notice)
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO round_notices (round_id, enrol_from, enrol_until, papers,
                                       review_contact, review_requests_until, updated_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (round_id) DO UPDATE SET
                enrol_from = EXCLUDED.enrol_from, enrol_until = EXCLUDED.enrol_until,
                papers = EXCLUDED.papers, review_contact = EXCLUDED.review_contact,
                review_requests_until = EXCLUDED.review_requests_until,
                updated_at = now(), updated_by = EXCLUDED.updated_by
            """,
            (
                round_id,
                checked.enrol_from,
                checked.enrol_until,
                list(checked.papers),
                checked.review_contact,
                checked.review_requests_until,
                actor,
            ),
        )
    audit.record(
        conn,
        actor=actor,
        action="round.notice",
        target=f"round:{round_id}",
        detail={k: v for k, v in checked.as_dict().items() if k != "updated_at"},
        remote_addr=remote_addr,
    )
    return load_notice(conn, round_id)


def load_notice(conn: Connection, round_id: int) -> EnrolmentNotice:
    """The round's notice; an empty one when its officers have set none."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT enrol_from, enrol_until, papers, review_contact, review_requests_until, "
            "updated_at FROM round_notices WHERE round_id = %s",
            (round_id,),
        )
        row = cur.fetchone()
    if row is None:
        return EnrolmentNotice()
    return EnrolmentNotice(row[0], row[1], tuple(row[2]), row[3], row[4], row[5])


def next_steps(
    notice: EnrolmentNotice, school_name: str | None, application_id: int
) -> list[dict[str, str]]:
    """What the family does next, each step {kind, vi, en}: enrol (when a school was given),
    papers to bring, and how to ask for a review. Told from the notice where it says."""
    steps: list[dict[str, str]] = []
    if school_name is not None:
        if notice.enrol_from and notice.enrol_until:
            first, last = day_text(notice.enrol_from), day_text(notice.enrol_until)
            steps.append(
                {
                    "kind": "enrol",
                    "vi": f"Làm thủ tục nhập học tại {school_name} từ ngày {first} đến hết ngày "
                    f"{last}.",
                    "en": f"Enrol at {school_name} from {first} to {last} (inclusive).",
                }
            )
        else:
            steps.append(
                {
                    "kind": "enrol",
                    "vi": f"Làm thủ tục nhập học tại {school_name} theo lịch trường thông báo.",
                    "en": f"Enrol at {school_name} on the dates the school announces.",
                }
            )
        if notice.papers:
            steps.append(
                {
                    "kind": "papers",
                    "vi": "Mang theo: " + "; ".join(notice.papers) + ".",
                    "en": "Bring (as the round's notice lists them): "
                    + "; ".join(notice.papers)
                    + ".",
                }
            )
        else:
            steps.append(
                {
                    "kind": "papers",
                    "vi": "Mang theo giấy tờ trường yêu cầu (thường gồm giấy khai sinh và mã "
                    "định danh cá nhân của con).",
                    "en": "Bring the papers the school asks for (usually the child's birth "
                    "certificate and personal identification number).",
                }
            )
    whom_vi = notice.review_contact or "cán bộ tuyển sinh của phường/xã"
    whom_en = notice.review_contact or "the admissions officers of your ward or commune"
    until = notice.review_requests_until
    steps.append(
        {
            "kind": "review",
            "vi": "Nếu thấy kết quả chưa đúng (sai nơi ở, sai ngày sinh, bị bỏ sót nguyện vọng), "
            f"hãy liên hệ {whom_vi}"
            + (f" trước hết ngày {day_text(until)}" if until else "")
            + f", nêu số hồ sơ {application_id} và điều cần xem lại.",
            "en": "If the result looks wrong (home, birth date, a choice left out), contact "
            f"{whom_en}"
            + (f" by {day_text(until)}" if until else "")
            + f", giving application number {application_id} and what to check.",
        }
    )
    return steps
