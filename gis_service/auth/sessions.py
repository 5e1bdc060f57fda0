"""Sign-in sessions: a random bearer token per login, stored only as a hash, with an expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_service import audit
from gis_service.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from gis_service.auth.throttle import check_sign_in_allowed
from gis_service.auth.users import normalise_username
from gis_service.db.connection import Connection
from gis_service.errors import NotAuthenticatedError, PermissionDeniedError

WRONG_CREDENTIALS = "Tên đăng nhập hoặc mật khẩu không đúng / the username or password is wrong"
INVALID_TOKEN = (
    "Phiên đăng nhập không hợp lệ, đã hết hạn hoặc đã đăng xuất; hãy đăng nhập lại / "
    "the sign-in token is unknown, expired or signed out; sign in again at POST /auth/login"
)
DISABLED = (
    "Tài khoản đã bị khóa; hãy liên hệ quản trị viên / "
    "this account is disabled; ask an administrator"
)


class SessionSettings(BaseSettings):
    """How long a sign-in lasts (SCHOOLMAP_SESSION_HOURS)."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_SESSION_", extra="ignore")

    hours: float = 12.0


@dataclass(frozen=True)
class SignedIn:
    """A new session: the token to give the client (never stored) and when it expires."""

    token: str
    expires_at: datetime
    user_id: int
    username: str
    role: str


@dataclass(frozen=True)
class SessionUser:
    """Who a valid token belongs to."""

    session_id: int
    user_id: int
    username: str
    role: str
    school_id: int | None


def token_hash(token: str) -> str:
    """The stored form of a token; tokens are 256 random bits, so a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def login(
    conn: Connection,
    username: str,
    password: str,
    *,
    lifetime: timedelta,
    remote_addr: str | None = None,
) -> SignedIn:
    """Check the password and open a session; every attempt is written to the audit log.

    A wrong password and an unknown username get the same error (and take the same time), so
    the answer does not tell which part was wrong. The caller commits even when this raises,
    so failed attempts stay in the log.
    """
    name = normalise_username(username)
    # Refused before the password is checked, so a throttled attacker learns nothing more.
    check_sign_in_allowed(conn, name, remote_addr)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, password_hash, role, disabled FROM users WHERE username = %s", (name,)
        )
        row = cur.fetchone()
    if row is None:
        verify_password(dummy_hash(), password)
        _failed(conn, name, "unknown user", remote_addr)
        raise NotAuthenticatedError(WRONG_CREDENTIALS)
    user_id, stored, role, disabled = row
    if not verify_password(stored, password):
        _failed(conn, name, "wrong password", remote_addr)
        raise NotAuthenticatedError(WRONG_CREDENTIALS)
    if disabled:
        _failed(conn, name, "account disabled", remote_addr)
        raise PermissionDeniedError(DISABLED)
    token = secrets.token_urlsafe(32)
    with conn.cursor() as cur:
        if needs_rehash(stored):
            cur.execute(
                "UPDATE users SET password_hash = %s WHERE id = %s",
                (hash_password(password), user_id),
            )
        cur.execute(
            """
            INSERT INTO sessions (user_id, token_hash, expires_at, remote_addr)
            VALUES (%s, %s, now() + %s, %s) RETURNING id, expires_at
            """,
            (user_id, token_hash(token), lifetime, remote_addr),
        )
        session_id, expires_at = cur.fetchone()  # type: ignore[misc]
    audit.record(
        conn,
        actor=name,
        action="user.login",
        target=f"user:{user_id}",
        detail={"session": session_id},
        remote_addr=remote_addr,
    )
    return SignedIn(token, expires_at, int(user_id), name, role)


def _failed(conn: Connection, name: str, why: str, remote_addr: str | None) -> None:
    audit.record(
        conn,
        actor=name,
        action="user.login_failed",
        target=None,
        detail={"username": name, "why": why},
        remote_addr=remote_addr,
    )


def resolve_token(conn: Connection, token: str) -> SessionUser:
    """The account of a live session, or NotAuthenticatedError; a disabled account is refused."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT s.id, u.id, u.username, u.role, u.school_id, u.disabled
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = %s AND s.revoked_at IS NULL AND s.expires_at > now()
            """,
            (token_hash(token),),
        )
        row = cur.fetchone()
    if row is None:
        raise NotAuthenticatedError(INVALID_TOKEN)
    session_id, user_id, username, role, school_id, disabled = row
    if disabled:
        raise PermissionDeniedError(DISABLED)
    return SessionUser(int(session_id), int(user_id), username, role, school_id)


def logout(conn: Connection, token: str, *, actor: str, remote_addr: str | None = None) -> None:
    """Revoke the session of a token, so it is refused from now on."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE sessions SET revoked_at = now() WHERE token_hash = %s AND revoked_at IS NULL "
            "RETURNING id",
            (token_hash(token),),
        )
        row = cur.fetchone()
    if row is None:
        raise NotAuthenticatedError(INVALID_TOKEN)
    audit.record(
        conn,
        actor=actor,
        action="user.logout",
        target=f"session:{row[0]}",
        remote_addr=remote_addr,
    )
