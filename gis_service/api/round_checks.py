"""What waits for an officer before a round runs, over HTTP: priority claims to decide, import
conflicts to look at, stated units of residence that differ from the home, the review window,
an officer's reasoned change of an application, and children to link to a parent's account."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gis_service.admissions.applications import MIN_REASON_LENGTH, Amendment, amend_application
from gis_service.admissions.claims import (
    DECISIONS,
    MAX_NOTE_CHARS,
    decide_claim,
    list_claims,
    list_conflicts,
)
from gis_service.admissions.enrolment import set_notice
from gis_service.admissions.guardians import link_child
from gis_service.admissions.lifecycle import set_review_until
from gis_service.admissions.residence import MAX_STATED_LENGTH, residence_report
from gis_service.admissions.rounds import load_round
from gis_service.api.deps import json_response
from gis_service.api.rounds import (
    OFFICERS_NOTE,
    Conn,
    NoticeIn,
    Officer,
    RoundOut,
    identity_key,
    round_for,
    round_out,
)
from gis_service.db.connection import transaction

router = APIRouter(tags=["admission rounds"])


class DecisionIn(BaseModel):
    """An officer's decision on a priority claim and the evidence seen."""

    decision: Literal["verified", "rejected"] = Field(description=" or ".join(DECISIONS))
    note: Annotated[str, Field(min_length=1, max_length=MAX_NOTE_CHARS)]


class LinkIn(BaseModel):
    """A child (by identity code) and the parent account that will hold the child's record."""

    child_id: Annotated[str, Field(min_length=1, max_length=40)]
    username: Annotated[str, Field(min_length=1, max_length=100)]


@router.get(
    "/rounds/{round_id}/claims",
    summary="Priority claims of the round's applications, pending ones first",
    description=OFFICERS_NOTE + " A pending claim changes no tier and no age rule in a run.",
)
def claims(round_id: int, conn: Conn, user: Officer, pending: bool = False) -> Response:
    round_for(conn, round_id, user)
    shown: list[dict[str, Any]] = [
        c.as_dict() for c in list_claims(conn, round_id, pending_only=pending)
    ]
    return json_response({"round": round_id, "claims": shown})


@router.post(
    "/rounds/{round_id}/claims/{application_id}",
    summary="Verify or reject one priority claim, with a note of the evidence seen",
    description=OFFICERS_NOTE + " Runs made before the decision can no longer be published.",
)
def decide(
    round_id: int, application_id: int, body: DecisionIn, conn: Conn, user: Officer
) -> Response:
    round_for(conn, round_id, user)
    with transaction(conn):
        decided = decide_claim(
            conn,
            round_id,
            application_id,
            body.decision,
            body.note,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
    return json_response(decided.as_dict())


@router.get(
    "/rounds/{round_id}/conflicts",
    summary="Imported rows that met a parent's own application (the parent's data was kept)",
    description=OFFICERS_NOTE,
)
def conflicts(round_id: int, conn: Conn, user: Officer) -> Response:
    round_for(conn, round_id, user)
    return json_response(
        {"round": round_id, "conflicts": [c.as_dict() for c in list_conflicts(conn, round_id)]}
    )


@router.post(
    "/rounds/{round_id}/guardians",
    summary="Link a child of the round to a parent's account (or move it to another account)",
    description=OFFICERS_NOTE + " Audited; do it only after seeing the child's papers.",
)
def link(round_id: int, body: LinkIn, request: Request, conn: Conn, user: Officer) -> Response:
    round_for(conn, round_id, user)
    with transaction(conn):
        linked = link_child(
            conn,
            round_id,
            body.child_id,
            identity_key(request, conn),
            body.username,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
    return json_response(
        {
            "round": round_id,
            "guardian": linked.guardian,
            "previous_guardian": linked.previous_guardian,
            "new_record": linked.created,
        }
    )


class ReviewUntilIn(BaseModel):
    """The end of the parents' review window (with its time zone); null removes it."""

    review_until: datetime | None


class AmendIn(BaseModel):
    """What an officer changes in an application, and the written reason (kept in the audit
    log). Fields left out stay as they are."""

    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    address: Annotated[str | None, Field(max_length=500)] = None
    stated_unit: Annotated[str | None, Field(max_length=MAX_STATED_LENGTH)] = None
    birth_date: date | None = None
    reason: Annotated[str, Field(min_length=MIN_REASON_LENGTH, max_length=1000)]


@router.get(
    "/rounds/{round_id}/residence",
    summary="Applications whose stated unit of residence differs from the home's unit",
    description=OFFICERS_NOTE
    + " Each with the unit as stated and the unit the home falls in (both named), and the "
    "count per unit of the round's area. A mismatch neither accepts nor rejects anyone.",
)
def residence(round_id: int, conn: Conn, user: Officer) -> Response:
    round_for(conn, round_id, user)
    return json_response(residence_report(conn, round_id))


@router.put(
    "/rounds/{round_id}/review-until",
    response_model=RoundOut,
    summary="Set the end of the parents' review window",
    description=OFFICERS_NOTE + " Audited. After it the applicant data is locked.",
)
def review_until(round_id: int, body: ReviewUntilIn, conn: Conn, user: Officer) -> RoundOut:
    round_for(conn, round_id, user)
    with transaction(conn):
        changed = set_review_until(
            conn, round_id, body.review_until, actor=user.username, remote_addr=user.remote_addr
        )
        return round_out(conn, changed)


@router.put(
    "/rounds/{round_id}/notice",
    response_model=RoundOut,
    summary="Set the round's enrolment notice: enrolment dates, papers, whom to ask for a review",
    description=OFFICERS_NOTE
    + " Audited; replaces the notice before. Allowed until the round is archived, so dates can "
    "be corrected after publication. Parents read it as the next steps beside their result.",
)
def notice(round_id: int, body: NoticeIn, conn: Conn, user: Officer) -> RoundOut:
    round_for(conn, round_id, user)
    with transaction(conn):
        set_notice(conn, round_id, body.notice(), actor=user.username, remote_addr=user.remote_addr)
        return round_out(conn, load_round(conn, round_id))


@router.post(
    "/rounds/{round_id}/applications/{application_id}/amend",
    summary="An officer changes an application's home, stated unit or birth date, with a reason",
    description=OFFICERS_NOTE
    + " Allowed while the round is open, in review or closed, also after the review window; "
    "the reason is written to the audit log; in a closed round earlier runs go stale.",
)
def amend(round_id: int, application_id: int, body: AmendIn, conn: Conn, user: Officer) -> Response:
    round_for(conn, round_id, user)
    with transaction(conn):
        amended = amend_application(
            conn,
            round_id,
            application_id,
            Amendment(
                lon=body.lon,
                lat=body.lat,
                address=body.address,
                stated_unit=body.stated_unit,
                birth_date=body.birth_date,
            ),
            reason=body.reason,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
    return json_response(amended)
