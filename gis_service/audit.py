"""The append-only audit log: who did what to which thing, when and from where."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gis_service.db.connection import Connection

SYSTEM_ACTOR = "system"
"""Actor recorded for work done from the command line without a signed-in user."""


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log as stored."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    remote_addr: str | None


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> int:
    """Append one entry in the caller's transaction (it stands or falls with the change).

    `action` is a dotted verb such as "round.run" or "user.login"; `target` names the thing
    acted on ("round:3", "run:12"). Returns the entry's id.
    """
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO audit_log (actor, action, target, detail, remote_addr)
            VALUES (%s, %s, %s, %s::jsonb, %s) RETURNING id
            """,
            (actor, action, target, json.dumps(detail or {}, ensure_ascii=False), remote_addr),
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def entries(
    conn: Connection,
    *,
    action_prefix: str | None = None,
    target: str | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Entries, oldest first, optionally only actions starting with a prefix or one target."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT id, at, actor, action, target, detail, remote_addr FROM audit_log
            WHERE (%(prefix)s IS NULL OR action LIKE %(prefix)s || '%%')
              AND (%(target)s IS NULL OR target = %(target)s)
            ORDER BY id LIMIT %(limit)s
            """,
            {"prefix": action_prefix, "target": target, "limit": limit},
        )
        return [AuditEntry(*row) for row in cur.fetchall()]
