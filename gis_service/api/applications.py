"""Parents' applications over HTTP: submit once per Idempotency-Key, list and read their own,
with the published result and its explanation in Vietnamese and English."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from gis_service.admissions.applications import (
    ApplicationEntry,
    application_view,
    correct_application,
    list_applications,
    submit_application,
    withdraw_application,
)
from gis_service.admissions.residence import MAX_STATED_LENGTH
from gis_service.api.deps import get_connection, json_response
from gis_service.api.rounds import identity_key
from gis_service.api.security import CurrentUser, require_roles, roles_note
from gis_service.auth.roles import PARENT
from gis_service.db.connection import Connection, transaction
from gis_service.errors import InvalidRequestError
from gis_service.geocoding.search import MAX_ADDRESS_UNCERTAINTY_M, AddressPlacer

router = APIRouter(tags=["applications"])

Parent = Annotated[CurrentUser, Depends(require_roles(PARENT))]
Conn = Annotated[Connection, Depends(get_connection)]


class CorrectionIn(BaseModel):
    """What a parent may correct in their application: everything but the child's code."""

    birth_date: date
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    address: str | None = Field(default=None, max_length=300)
    priority_group: str | None = Field(default=None, max_length=40)
    preferences: list[int] = Field(
        default_factory=list, max_length=10, description="ranked school ids (nguyện vọng)"
    )
    stated_unit: str | None = Field(
        default=None,
        max_length=MAX_STATED_LENGTH,
        description="the unit of residence as the family's records write it (a 2025 or 2019 "
        "name, or its code); compared with the unit the home falls in, and a mismatch listed "
        "for the officer",
    )


class ApplicationIn(CorrectionIn):
    """A child's application. The home is lon/lat (a map click) or else an address."""

    child_id: str = Field(
        min_length=1, max_length=32, description="mã định danh; stored only as a keyed hash"
    )
    sibling_child_id: str | None = Field(
        default=None, max_length=32, description="a brother or sister's id code, if any"
    )


def home_from_address(conn: Connection, address: str | None) -> tuple[float, float]:
    """The home's point from its address, when the address is precise enough for distances."""
    if not address or not address.strip():
        raise InvalidRequestError(
            "Cần vị trí nhà: chọn nhà trên bản đồ (lon, lat) hoặc nhập địa chỉ / give the home "
            "as lon and lat (pick it on the map) or as an address"
        )
    placed = AddressPlacer().place(conn, address)
    if placed.point is None:
        raise InvalidRequestError(
            f"Không xác định được nhà trong phạm vi {MAX_ADDRESS_UNCERTAINTY_M} m từ địa chỉ "
            f"“{address}” ({placed.found}): hãy ghi rõ số nhà, đường, phường hoặc chọn nhà trên "
            f"bản đồ / the address “{address}” does not place the home within "
            f"{MAX_ADDRESS_UNCERTAINTY_M} m ({placed.found}): give the house number, street and "
            "ward, or pick the home on the map"
        )
    return placed.point


def entry_of(conn: Connection, body: CorrectionIn, child_id: str) -> ApplicationEntry:
    """What the parent states, with the home placed from its address when no point is given."""
    lon, lat = body.lon, body.lat
    if lon is None or lat is None:
        lon, lat = home_from_address(conn, body.address)
    return ApplicationEntry(
        child_id=child_id,
        birth_date=body.birth_date,
        lon=lon,
        lat=lat,
        address=body.address,
        priority_group=body.priority_group or None,
        preferences=tuple(body.preferences),
        stated_unit=body.stated_unit,
    )


@router.post(
    "/rounds/{round_id}/applications",
    status_code=201,
    summary="Apply for a child to an open round",
    description=roles_note(PARENT)
    + " Send an Idempotency-Key header (any unique text, e.g. a UUID): the same key again "
    "returns the first answer and stores nothing. The answer says whether the child is "
    "eligible and, if not, every reason in Vietnamese and English.",
)
def submit(
    round_id: int,
    body: ApplicationIn,
    request: Request,
    conn: Conn,
    user: Parent,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="unique per application")
    ] = None,
) -> Response:
    if not idempotency_key or not idempotency_key.strip():
        raise InvalidRequestError(
            "Thiếu header Idempotency-Key / send an Idempotency-Key header (e.g. a UUID), so a "
            "repeated request does not apply twice"
        )
    entry = entry_of(conn, body, body.child_id)
    with transaction(conn):
        view, replayed = submit_application(
            conn,
            round_id,
            entry,
            identity_key(request, conn),
            user_id=user.id,
            username=user.username,
            idempotency_key=idempotency_key.strip(),
            sibling_child_id=(body.sibling_child_id or "").strip(),
            remote_addr=user.remote_addr,
        )
    response = json_response(view)
    response.status_code = 201  # a replay answers exactly as the first request did
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get(
    "/applications",
    summary="The signed-in parent's applications, newest first",
    description=roles_note(PARENT),
)
def mine(conn: Conn, user: Parent) -> list[dict[str, Any]]:
    return list_applications(conn, user.id)


@router.get(
    "/applications/{application_id}",
    summary="One of the signed-in parent's applications, with its result once published",
    description=roles_note(PARENT)
    + " Another family's application answers 404, like one that does not exist.",
)
def one(application_id: int, conn: Conn, user: Parent) -> dict[str, Any]:
    return application_view(conn, application_id, user.id)


@router.put(
    "/applications/{application_id}",
    summary="Correct one of the signed-in parent's applications (open or review window)",
    description=roles_note(PARENT)
    + " Judged again as on submission; a changed priority claim waits for an officer again. "
    "Applications the officer imported are corrected by the officer.",
)
def correct(application_id: int, body: CorrectionIn, conn: Conn, user: Parent) -> dict[str, Any]:
    with transaction(conn):
        return correct_application(
            conn,
            application_id,
            entry_of(conn, body, ""),
            user_id=user.id,
            username=user.username,
            remote_addr=user.remote_addr,
        )


@router.post(
    "/applications/{application_id}/withdraw",
    summary="Withdraw one of the signed-in parent's applications (open or review window)",
    description=roles_note(PARENT) + " A run leaves it out; a correction brings it back.",
)
def withdraw(application_id: int, conn: Conn, user: Parent) -> dict[str, Any]:
    with transaction(conn):
        return withdraw_application(
            conn,
            application_id,
            user_id=user.id,
            username=user.username,
            remote_addr=user.remote_addr,
        )
