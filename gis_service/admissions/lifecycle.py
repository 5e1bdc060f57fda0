"""A round's life: its states, which actions each state allows, and the locked check every
door (CLI, API, web) goes through before acting.

    draft -> open -> review -> closed -> (runs) -> published -> next round (round 2) / archived
              ^                  |
              +---- reopen ------+

The check reads the round's row under a PostgreSQL row lock, so it and the action that follows
are one atomic step: an action that changes the round's state takes the row exclusively
(FOR UPDATE), one that only needs the state to hold while it works takes it shared
(FOR SHARE). Parents' applications, many at once, hold instead a shared transaction-level
advisory lock of the round (`APPLY_LOCK_SQL`), which writes nothing to the row, and every
exclusive action takes the same lock exclusively: a round cannot close under a submission
still in flight, and a submission that waited for a close sees the round closed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

from gis_service import audit
from gis_service.admissions.rounds import (
    ROUND_COLUMNS,
    Round,
    check_deadline,
    load_round,
    round_from_row,
)
from gis_service.db.connection import Connection
from gis_service.errors import ConflictError, InvalidRequestError


class Action(StrEnum):
    """What officers and parents do to a round."""

    IMPORT = "import"  # an officer adds applicants from a file
    APPLY = "apply"  # a parent submits an application
    EDIT = "edit"  # a parent corrects or withdraws an application
    AMEND = "amend"  # an officer changes an application's facts, with a written reason
    SCHEDULE = "schedule"  # an officer sets the end of the parents' review window
    NOTICE = "notice"  # an officer sets the enrolment dates, papers and whom to ask for a review
    DECIDE_CLAIM = "decide_claim"  # an officer verifies or rejects a priority claim
    OPEN = "open"  # open for applications (or reopen a closed round)
    REVIEW = "review"  # stop new applications; parents check their data
    CLOSE = "close"  # lock the data for allocation
    RUN = "run"  # allocate with a mechanism and store the run
    PUBLISH = "publish"  # make one run the round's result
    NEXT = "next"  # open round 2 for the seats left
    PURGE = "purge"  # delete the personal data of a finished round


DRAFT, OPEN, REVIEW, CLOSED, PUBLISHED, ARCHIVED = (
    "draft",
    "open",
    "review",
    "closed",
    "published",
    "archived",
)
STATES = (DRAFT, OPEN, REVIEW, CLOSED, PUBLISHED, ARCHIVED)

ALLOWED: dict[Action, frozenset[str]] = {
    Action.IMPORT: frozenset({DRAFT, OPEN, REVIEW}),
    Action.APPLY: frozenset({OPEN}),
    Action.EDIT: frozenset({OPEN, REVIEW}),
    Action.AMEND: frozenset({DRAFT, OPEN, REVIEW, CLOSED}),
    Action.SCHEDULE: frozenset({DRAFT, OPEN, REVIEW}),
    Action.NOTICE: frozenset({DRAFT, OPEN, REVIEW, CLOSED, PUBLISHED}),
    Action.DECIDE_CLAIM: frozenset({DRAFT, OPEN, REVIEW, CLOSED}),
    Action.OPEN: frozenset({DRAFT, CLOSED}),
    Action.REVIEW: frozenset({OPEN}),
    Action.CLOSE: frozenset({OPEN, REVIEW}),
    Action.RUN: frozenset({CLOSED}),
    Action.PUBLISH: frozenset({CLOSED}),
    Action.NEXT: frozenset({PUBLISHED}),
    Action.PURGE: frozenset({PUBLISHED}),
}
"""The states in which each action is allowed."""

MOVES_TO: dict[Action, str] = {
    Action.OPEN: OPEN,
    Action.REVIEW: REVIEW,
    Action.CLOSE: CLOSED,
    Action.PUBLISH: PUBLISHED,
    Action.PURGE: ARCHIVED,
}
"""The state an action leaves the round in, for actions that change it."""

_EXCLUSIVE = frozenset({*MOVES_TO, Action.NEXT, Action.DECIDE_CLAIM, Action.AMEND, Action.SCHEDULE})
"""Actions that take the round's row exclusively: they change the state, or the data a run
reads while the round is closed."""

_STATE_VI = {
    DRAFT: "nháp",
    OPEN: "đang nhận hồ sơ",
    REVIEW: "đang cho phụ huynh kiểm tra dữ liệu",
    CLOSED: "đã khóa dữ liệu",
    PUBLISHED: "đã công bố kết quả",
    ARCHIVED: "đã lưu trữ (đã xóa dữ liệu cá nhân)",
}
_ACTION_VI = {
    Action.IMPORT: "nhập danh sách trẻ",
    Action.APPLY: "nộp hồ sơ",
    Action.EDIT: "sửa hoặc rút hồ sơ",
    Action.AMEND: "cán bộ sửa dữ liệu hồ sơ",
    Action.SCHEDULE: "đặt hạn rà soát dữ liệu",
    Action.NOTICE: "đặt thông báo nhập học",
    Action.DECIDE_CLAIM: "xét đối tượng ưu tiên",
    Action.OPEN: "mở nhận hồ sơ",
    Action.REVIEW: "chuyển sang kiểm tra dữ liệu",
    Action.CLOSE: "khóa dữ liệu",
    Action.RUN: "chạy xếp trường",
    Action.PUBLISH: "công bố kết quả",
    Action.NEXT: "mở đợt tiếp theo",
    Action.PURGE: "xóa dữ liệu cá nhân",
}
_ACTION_EN = {
    Action.IMPORT: "import applicants into",
    Action.APPLY: "apply to",
    Action.EDIT: "change an application of",
    Action.AMEND: "amend an application of",
    Action.SCHEDULE: "set the review deadline of",
    Action.NOTICE: "set the enrolment notice of",
    Action.DECIDE_CLAIM: "decide a priority claim of",
    Action.OPEN: "open",
    Action.REVIEW: "start the review window of",
    Action.CLOSE: "close",
    Action.RUN: "run",
    Action.PUBLISH: "publish a run of",
    Action.NEXT: "open the next round after",
    Action.PURGE: "purge",
}


_ROUND_LOCK_SPACE = 7302
"""First key of the rounds' advisory locks (the second is the round's id)."""

APPLY_LOCK_SQL = f"pg_advisory_xact_lock_shared({_ROUND_LOCK_SPACE}, r.id)"
"""An expression, over `rounds r`, that takes the round's shared lock for applications."""


def may(action: Action, status: str) -> bool:
    """Whether a round in `status` allows `action`."""
    return status in ALLOWED[action]


def refusal(action: Action, the_round: Round) -> ConflictError:
    """The error for an action the round's state does not allow, saying which states do."""
    allowed = [s for s in STATES if s in ALLOWED[action]]
    return ConflictError(
        f"Không thể {_ACTION_VI[action]}: đợt {the_round.round_id} đang ở trạng thái "
        f"{_STATE_VI.get(the_round.status, the_round.status)}; chỉ làm được khi đợt "
        f"{' hoặc '.join(_STATE_VI[s] for s in allowed)}. / Cannot "
        f"{_ACTION_EN[action]} round {the_round.round_id}: it is {the_round.status}; this "
        f"needs a round that is {' or '.join(allowed)}."
    )


def lock_round(conn: Connection, round_id: int, action: Action) -> Round:
    """The round, locked for `action` until the transaction ends; refused (ConflictError) if
    its state does not allow the action, NotFoundError if there is no such round."""
    strength = "UPDATE" if action in _EXCLUSIVE else "SHARE"
    with conn.cursor() as cur:
        if action in _EXCLUSIVE:
            # Waits for applications in flight (they hold the shared form), and makes new ones
            # wait until this transaction ends.
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_ROUND_LOCK_SPACE, round_id))
        # A locking read returns the row as the last transaction holding it left it.
        cur.execute(
            f"SELECT {ROUND_COLUMNS} FROM rounds r WHERE r.id = %s FOR {strength} OF r",
            (round_id,),
        )
        row = cur.fetchone()
    the_round = round_from_row(row or (None,), round_id)
    if not may(action, the_round.status):
        raise refusal(action, the_round)
    check_review_window(the_round, action)
    return the_round


VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""Vietnam's clock (UTC+7, no daylight saving): deadlines are shown to people in it."""

PARENT_CHANGES = frozenset({Action.APPLY, Action.EDIT, Action.IMPORT})
"""Actions that change the applicant data without a written reason: none is allowed once the
round's review window has ended (`review_until`)."""


def review_window_ended(the_round: Round, now: datetime | None = None) -> bool:
    """Whether the round's review window has ended, so its applicant data is locked."""
    if the_round.review_until is None:
        return False
    return (now or datetime.now(UTC)) >= the_round.review_until


def locked_data(the_round: Round) -> ConflictError:
    """The error for a change without a reason after the review window."""
    until = the_round.review_until
    shown = until.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M") if until else ""
    return ConflictError(
        f"Đã hết hạn rà soát dữ liệu của đợt {the_round.round_id} ({shown} giờ Việt Nam): dữ "
        "liệu đã khóa; "
        "muốn sửa, hãy liên hệ cán bộ tuyển sinh (cán bộ sửa kèm lý do bằng văn bản). / The "
        f"review window of round {the_round.round_id} ended ({until.isoformat() if until else ''})"
        ": its applicant data is locked; an admissions officer may change it, with a written "
        "reason."
    )


def check_review_window(the_round: Round, action: Action) -> None:
    """Refuse a change without a reason once the review window has ended."""
    if action in PARENT_CHANGES and review_window_ended(the_round):
        raise locked_data(the_round)


def set_review_until(
    conn: Connection,
    round_id: int,
    until: datetime | None,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Round:
    """Set (or clear, with None) the end of the round's review window; audited."""
    check_deadline(until)
    before = lock_round(conn, round_id, Action.SCHEDULE)
    with conn.cursor() as cur:
        cur.execute("UPDATE rounds SET review_until = %s WHERE id = %s", (until, round_id))
    audit.record(
        conn,
        actor=actor,
        action="round.review_until",
        target=f"round:{round_id}",
        detail={
            "from": before.review_until.isoformat() if before.review_until else None,
            "to": until.isoformat() if until else None,
        },
        remote_addr=remote_addr,
    )
    return load_round(conn, round_id)


_ACTION_OF_STATUS = {OPEN: Action.OPEN, REVIEW: Action.REVIEW, CLOSED: Action.CLOSE}
_STAMP_OF_STATUS = {OPEN: "opens_at", REVIEW: "review_at", CLOSED: "closes_at"}


def set_round_status(
    conn: Connection,
    round_id: int,
    status: str,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Round:
    """Open a round for applications, start its review window, or close it for allocation.

    Reopening a closed round bumps its revision: runs made before can no longer be published,
    as applications sent after them would have no result.
    """
    if status not in _ACTION_OF_STATUS:
        raise InvalidRequestError(
            f"Trạng thái {status!r} không đặt trực tiếp được / a round can be set "
            f"{', '.join(_ACTION_OF_STATUS)}, not {status!r}"
        )
    before = lock_round(conn, round_id, _ACTION_OF_STATUS[status])
    bump = 1 if before.status == CLOSED else 0
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE rounds SET status = %s, {_STAMP_OF_STATUS[status]} = now(), "
            "revision = revision + %s WHERE id = %s",
            (status, bump, round_id),
        )
    audit.record(
        conn,
        actor=actor,
        action=f"round.{_ACTION_OF_STATUS[status].value}",
        target=f"round:{round_id}",
        detail={"from": before.status, "revision": before.revision + bump},
        remote_addr=remote_addr,
    )
    return load_round(conn, round_id)
