"""Sign-in endpoints (login, logout, me), parents' self-registration and user management."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from gis_service.api.deps import get_connection
from gis_service.api.security import (
    CurrentUser,
    bearer_token,
    client_address,
    current_user,
    require_roles,
    roles_note,
)
from gis_service.auth import sessions
from gis_service.auth.roles import CITY_ADMIN, PARENT, ROLES
from gis_service.auth.users import User, create_user, list_users, load_user
from gis_service.db.connection import Connection, transaction
from gis_service.errors import SchoolmapError

router = APIRouter(tags=["accounts"])

ANY_ROLE = roles_note(*ROLES)


class Credentials(BaseModel):
    """A username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    """A bearer token for the Authorization header, and when it stops working."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    username: str
    role: str


class UserOut(BaseModel):
    """An account as shown (never its password hash)."""

    id: int
    username: str
    role: str
    area: list[str] = Field(description="district and ward codes of an officer's area")
    school_id: int | None
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            area=list(user.area_codes),
            school_id=user.school_id,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class AreaUnitOut(BaseModel):
    """A commune-level unit of an officer's area."""

    id: int
    edition: str
    code: str
    name: str


class MeOut(UserOut):
    """The signed-in account, with every ward of an officer's area."""

    area_ward_codes: list[str]
    area_units: list[AreaUnitOut]


class NewUser(Credentials):
    """An account a city admin creates."""

    role: str = Field(description=", ".join(ROLES))
    area: list[str] = Field(
        default_factory=list,
        description="a district officer's 2019 district or ward codes; a ward officer's ward "
        "or commune codes of `edition`",
    )
    edition: str | None = Field(
        default=None, description="unit edition of a ward officer's codes (default: current)"
    )
    school_id: int | None = None


@router.post(
    "/auth/login",
    response_model=TokenOut,
    summary="Sign in: a bearer token for the Authorization header",
    description="Public. A wrong username or password gets 401 (without saying which), a "
    "disabled account 403. Every attempt is written to the audit log.",
)
def login(
    body: Credentials, request: Request, conn: Annotated[Connection, Depends(get_connection)]
) -> TokenOut:
    lifetime = timedelta(hours=sessions.SessionSettings().hours)
    try:
        signed = sessions.login(
            conn,
            body.username,
            body.password,
            lifetime=lifetime,
            remote_addr=client_address(request),
        )
    except SchoolmapError:
        conn.commit()  # a refused attempt stays in the audit log
        raise
    conn.commit()
    return TokenOut(
        access_token=signed.token,
        expires_at=signed.expires_at,
        username=signed.username,
        role=signed.role,
    )


@router.post(
    "/auth/logout",
    status_code=204,
    summary="Sign out: the token stops working",
    description=ANY_ROLE,
)
def logout(
    conn: Annotated[Connection, Depends(get_connection)],
    user: Annotated[CurrentUser, Depends(current_user)],
    token: Annotated[str, Depends(bearer_token)],
) -> None:
    with transaction(conn):
        sessions.logout(conn, token, actor=user.username, remote_addr=user.remote_addr)


@router.get("/auth/me", response_model=MeOut, summary="The signed-in account", description=ANY_ROLE)
def me(
    conn: Annotated[Connection, Depends(get_connection)],
    user: Annotated[CurrentUser, Depends(current_user)],
) -> MeOut:
    shown = UserOut.of(load_user(conn, user.id))
    return MeOut(
        **shown.model_dump(),
        area_ward_codes=list(user.area_ward_codes),
        area_units=[AreaUnitOut(**vars(unit)) for unit in user.area_wards],
    )


@router.post(
    "/auth/register",
    response_model=UserOut,
    status_code=201,
    summary="A parent opens an account",
    description="Public; makes a parent account only (other roles are created by a city "
    "admin with POST /users). Written to the audit log.",
)
def register(
    body: Credentials, request: Request, conn: Annotated[Connection, Depends(get_connection)]
) -> UserOut:
    with transaction(conn):
        made = create_user(
            conn,
            username=body.username,
            password=body.password,
            role=PARENT,
            actor=body.username.strip().lower(),
            remote_addr=client_address(request),
        )
    return UserOut.of(made)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    summary="Create an account with any role",
    description=roles_note(CITY_ADMIN)
    + " District officers need `area` (district or ward codes), school staff `school_id`.",
)
def create_account(
    body: NewUser,
    conn: Annotated[Connection, Depends(get_connection)],
    user: Annotated[CurrentUser, Depends(require_roles(CITY_ADMIN))],
) -> UserOut:
    with transaction(conn):
        made = create_user(
            conn,
            username=body.username,
            password=body.password,
            role=body.role,
            area=body.area,
            school_id=body.school_id,
            edition=body.edition,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
    return UserOut.of(made)


@router.get(
    "/users",
    response_model=list[UserOut],
    summary="Every account",
    description=roles_note(CITY_ADMIN),
)
def accounts(
    conn: Annotated[Connection, Depends(get_connection)],
    user: Annotated[CurrentUser, Depends(require_roles(CITY_ADMIN))],
) -> list[UserOut]:
    return [UserOut.of(u) for u in list_users(conn)]
