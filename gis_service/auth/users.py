"""User accounts: create them with a role and an area or school, find and list them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2.errors

from gis_service import audit
from gis_service.auth.passwords import check_new_password, hash_password
from gis_service.auth.roles import AREA_OFFICERS, DISTRICT_OFFICER, ROLES, SCHOOL_STAFF
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ConflictError, InvalidRequestError, NotFoundError
from gis_service.units.editions import EDITION_2019, edition_or_current

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")


@dataclass(frozen=True)
class User:
    """An account as stored, without its password hash; area as district/ward codes."""

    id: int
    username: str
    role: str
    area_codes: tuple[str, ...]
    school_id: int | None
    disabled: bool
    created_at: datetime
    area_edition: str | None = None
    """The unit edition the area's codes belong to."""


def normalise_username(username: str) -> str:
    """Usernames are compared in lower case without surrounding spaces."""
    return username.strip().lower()


def check_username(username: str) -> str:
    """The normalised username, or an error saying what a username may contain."""
    name = normalise_username(username)
    if not USERNAME.match(name):
        raise InvalidRequestError(
            "Tên đăng nhập gồm 3–64 ký tự a-z, 0-9, dấu . _ @ - / "
            f"a username has 3–64 characters a-z, 0-9, '.', '_', '@' or '-'; got {username!r}"
        )
    return name


def area_unit_ids(
    conn: Connection, codes: Sequence[str], role: str, edition: str | None = None
) -> list[int]:
    """Ids of an officer's area: a district officer's 2019 districts and wards, a ward
    officer's communes and wards of `edition` (the current one by default); an unknown code
    is an error."""
    if role == DISTRICT_OFFICER:
        edition, levels = EDITION_2019, ["district", "ward"]
    else:
        edition, levels = edition_or_current(conn, edition), ["ward"]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT code, id FROM admin_units WHERE edition = %s AND level = ANY(%s) "
            "AND code = ANY(%s) ORDER BY level, code",
            (edition, levels, list(codes)),
        )
        found = cur.fetchall()
    unknown = sorted(set(codes) - {code for code, _ in found})
    if unknown:
        kinds = "quận/huyện hoặc phường/xã" if role == DISTRICT_OFFICER else "phường/xã"
        raise NotFoundError(
            f"Không có {kinds} mã {', '.join(unknown)} trong bộ đơn vị {edition} / unknown "
            f"code(s) in the {edition} units: {', '.join(unknown)}"
        )
    return [unit_id for _, unit_id in found]


def create_user(
    conn: Connection,
    *,
    username: str,
    password: str,
    role: str,
    area: Sequence[str] = (),
    school_id: int | None = None,
    edition: str | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> User:
    """A new account; officers need an area (a district officer 2019 district or ward codes,
    a ward officer ward or commune codes of `edition`, the current one by default), school
    staff a school."""
    name = check_username(username)
    if role not in ROLES:
        raise InvalidRequestError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if role in AREA_OFFICERS and not area:
        raise InvalidRequestError(
            "Cán bộ tuyển sinh cần địa bàn: mã phường/xã (hoặc quận/huyện) / an admissions "
            "officer needs an area: ward or commune codes (district codes for district officers)"
        )
    if role not in AREA_OFFICERS and area:
        raise InvalidRequestError(f"only admissions officers have an area, not role {role}")
    if role == SCHOOL_STAFF and school_id is None:
        raise InvalidRequestError("school staff need the id of their school")
    if role != SCHOOL_STAFF and school_id is not None:
        raise InvalidRequestError(f"only school staff belong to a school, not role {role}")
    check_new_password(password)
    unit_ids = area_unit_ids(conn, area, role, edition) if area else []
    if school_id is not None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM schools WHERE id = %s", (school_id,))
            if cur.fetchone() is None:
                raise NotFoundError(f"no school with id {school_id}")
    try:
        with savepoint(conn), conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO users (username, password_hash, role, area_unit_ids, school_id)
                VALUES (%s, %s, %s, %s, %s) RETURNING id
                """,
                (name, hash_password(password), role, unit_ids, school_id),
            )
            user_id = int(cur.fetchone()[0])  # type: ignore[index]
    except psycopg2.errors.UniqueViolation:
        raise ConflictError(
            f"Tên đăng nhập {name!r} đã có người dùng / the username {name!r} is taken"
        ) from None
    audit.record(
        conn,
        actor=actor,
        action="user.create",
        target=f"user:{user_id}",
        detail={"username": name, "role": role, "area": sorted(area), "school_id": school_id},
        remote_addr=remote_addr,
    )
    return load_user(conn, user_id)


_SELECT = """
    SELECT u.id, u.username, u.role,
           ARRAY(SELECT code FROM admin_units WHERE id = ANY(u.area_unit_ids) ORDER BY code),
           u.school_id, u.disabled, u.created_at,
           (SELECT min(edition) FROM admin_units WHERE id = ANY(u.area_unit_ids))
    FROM users u
"""


def load_user(conn: Connection, user_id: int) -> User:
    """One account by id."""
    with conn.cursor() as cur:
        cur.execute(_SELECT + " WHERE u.id = %s", (user_id,))
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(f"no user with id {user_id}")
    return _user(row)


def list_users(conn: Connection) -> list[User]:
    """Every account, by username."""
    with conn.cursor() as cur:
        cur.execute(_SELECT + " ORDER BY u.username")
        return [_user(row) for row in cur.fetchall()]


def _user(row: tuple[Any, ...]) -> User:
    user_id, username, role, codes, school_id, disabled, created_at, edition = row
    return User(
        int(user_id),
        str(username),
        str(role),
        tuple(codes),
        int(school_id) if school_id is not None else None,
        bool(disabled),
        created_at,
        edition,
    )


@dataclass(frozen=True)
class AreaUnit:
    """A commune-level unit of an officer's area."""

    id: int
    edition: str
    code: str
    name: str


def area_wards(conn: Connection, user_id: int) -> tuple[AreaUnit, ...]:
    """Every commune-level unit of an account's area: its wards and the wards of its
    districts, by code."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT DISTINCT w.id, w.edition, w.code, w.name FROM users u
            JOIN admin_units w ON w.level = 'ward'
                AND (w.id = ANY(u.area_unit_ids) OR w.parent_id = ANY(u.area_unit_ids))
            WHERE u.id = %s ORDER BY w.code
            """,
            (user_id,),
        )
        return tuple(AreaUnit(int(r[0]), r[1], r[2], r[3]) for r in cur.fetchall())
