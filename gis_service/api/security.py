"""Who is calling: bearer-token sign-in and the role (and area) checks every endpoint states."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gis_service.api.deps import get_connection
from gis_service.auth.roles import AREA_OFFICERS, CITY_ADMIN, ROLE_NAMES_VI, ROLES
from gis_service.auth.sessions import resolve_token
from gis_service.auth.users import AreaUnit, area_wards
from gis_service.db.connection import Connection
from gis_service.errors import NotAuthenticatedError, PermissionDeniedError

# auto_error=False: a missing token is reported through the domain errors, as a 401.
_bearer = HTTPBearer(auto_error=False, description="token from POST /auth/login")

NO_TOKEN = (
    "Cần đăng nhập: gửi header 'Authorization: Bearer <token>' lấy từ POST /auth/login / "
    "sign in first: send 'Authorization: Bearer <token>' from POST /auth/login"
)


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in account of a request."""

    id: int
    username: str
    role: str
    area_wards: tuple[AreaUnit, ...]
    """Every commune-level unit of an officer's area (empty for other roles)."""
    school_id: int | None
    session_id: int
    remote_addr: str | None

    @property
    def area_ward_codes(self) -> tuple[str, ...]:
        return tuple(unit.code for unit in self.area_wards)

    @property
    def area_names(self) -> str:
        """The area as a person reads it: unit names, not codes."""
        return ", ".join(unit.name for unit in self.area_wards)

    def may_act_on(self, unit_ids: Collection[int]) -> bool:
        """Whether an area of units (by id: codes repeat across unit editions) lies inside
        this account's area (a city admin: always)."""
        if self.role == CITY_ADMIN:
            return True
        if self.role in AREA_OFFICERS:
            return set(unit_ids) <= {unit.id for unit in self.area_wards}
        return False


def client_address(request: Request) -> str | None:
    """The caller's address as the server sees it, for the audit log."""
    return request.client.host if request.client else None


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token of the request, or a 401 saying how to sign in."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticatedError(NO_TOKEN)
    return credentials.credentials


def current_user(
    request: Request,
    conn: Annotated[Connection, Depends(get_connection)],
    token: Annotated[str, Depends(bearer_token)],
) -> CurrentUser:
    """The account behind the request's token (401 without a live session)."""
    found = resolve_token(conn, token)
    wards = area_wards(conn, found.user_id) if found.role in AREA_OFFICERS else ()
    return CurrentUser(
        found.user_id,
        found.username,
        found.role,
        wards,
        found.school_id,
        found.session_id,
        client_address(request),
    )


def require_roles(*roles: str) -> Callable[..., Awaitable[CurrentUser]]:
    """A dependency giving the signed-in user when their role is one of `roles`, else a 403."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {ROLES}")
    allowed = ", ".join(roles)
    allowed_vi = ", ".join(ROLE_NAMES_VI[r] for r in roles)

    # async: a check this small would cost more as a trip to a worker thread than it does.
    async def dependency(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
        if user.role not in roles:
            raise PermissionDeniedError(
                f"Chỉ {allowed_vi} được làm việc này / only roles {allowed} may do this; "
                f"you are signed in as {user.role}"
            )
        return user

    return dependency


def roles_note(*roles: str) -> str:
    """The sentence every endpoint's description carries, naming who may call it."""
    return f"Roles: {', '.join(roles)}."
