"""Sign-in throttling: after too many failed attempts on an account, or from one address,
within a window, further attempts are refused (429) until the window has passed.

Failures are counted from the audit log, which every worker writes, so the limit holds across
workers and restarts. An account's count starts again after its last successful sign-in.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_service import audit
from gis_service.db.connection import Connection
from gis_service.errors import TooManyAttemptsError


class ThrottleSettings(BaseSettings):
    """Limits on failed sign-ins (SCHOOLMAP_LOGIN_MAX_FAILURES_PER_ACCOUNT, …)."""

    model_config = SettingsConfigDict(env_prefix="SCHOOLMAP_LOGIN_", extra="ignore")

    max_failures_per_account: int = 10
    max_failures_per_address: int = 100
    window_minutes: float = 15.0


_FAILURES = """
    SELECT count(*), EXTRACT(EPOCH FROM (min(at) + make_interval(secs => %(window)s) - now()))
    FROM (
        SELECT at FROM audit_log
        WHERE action = 'user.login_failed' AND {who}
          AND at > now() - make_interval(secs => %(window)s)
          AND at > COALESCE((SELECT max(at) FROM audit_log
                             WHERE action = 'user.login' AND actor = %(name)s), '-infinity')
        ORDER BY at DESC LIMIT %(limit)s
    ) recent
"""


def _count(conn: Connection, who: str, values: dict[str, object]) -> tuple[int, float]:
    with conn.cursor() as cur:
        cur.execute(_FAILURES.format(who=who), values)
        row = cur.fetchone()
    assert row is not None
    return int(row[0]), float(row[1] or 0.0)


def check_sign_in_allowed(
    conn: Connection,
    username: str,
    remote_addr: str | None,
    settings: ThrottleSettings | None = None,
) -> None:
    """Raise TooManyAttemptsError (and log it) if this account or address failed too often."""
    settings = settings or ThrottleSettings()
    window_s = settings.window_minutes * 60.0
    checks = [("actor = %(name)s", settings.max_failures_per_account, "account")]
    if remote_addr is not None:
        checks.append(("remote_addr = %(addr)s", settings.max_failures_per_address, "address"))
    for who, limit, scope in checks:
        values = {"window": window_s, "name": username, "addr": remote_addr, "limit": limit}
        if scope == "address":
            # An address's count does not restart when one of its accounts signs in.
            values["name"] = None
        failures, oldest_expires_in = _count(conn, who, values)
        if failures >= limit:
            retry_after = max(1, int(oldest_expires_in) + 1)
            audit.record(
                conn,
                actor=username,
                action="user.login_throttled",
                detail={"scope": scope, "failures": failures, "retry_after_s": retry_after},
                remote_addr=remote_addr,
            )
            minutes = max(1, round(retry_after / 60))
            raise TooManyAttemptsError(
                f"Đăng nhập sai quá nhiều lần; hãy thử lại sau khoảng {minutes} phút / too many "
                f"failed sign-ins for this {scope}; try again in about {minutes} minutes",
                retry_after,
            )
