"""What waits for an officer before a round runs: priority claims to verify or reject (with a
note), and imported rows that met a parent's own application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json

from gis_service import audit
from gis_service.admissions.applications import home_facts, judge, reasons_json
from gis_service.admissions.lifecycle import Action, lock_round
from gis_service.db.connection import Connection
from gis_service.errors import ConflictError, InvalidRequestError, NotFoundError
from gis_service.safe_text import check_name

DECISIONS = ("verified", "rejected")
MAX_NOTE_CHARS = 500


@dataclass(frozen=True)
class Claim:
    """A priority claim of one application, as an officer sees it (no home, no identity)."""

    application_id: int
    priority_group: str
    status: str  # pending, verified or rejected
    note: str | None
    checked_by: str | None
    checked_at: datetime | None
    submitted_at: datetime
    by_parent: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "application_id": self.application_id,
            "priority_group": self.priority_group,
            "status": self.status,
            "note": self.note,
            "checked_by": self.checked_by,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "submitted_at": self.submitted_at.isoformat(),
            "by_parent": self.by_parent,
        }


def list_claims(conn: Connection, round_id: int, *, pending_only: bool = False) -> list[Claim]:
    """The round's priority claims, pending ones first, then by application."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT id, priority_group, priority_status, priority_note, priority_checked_by,
                   priority_checked_at, submitted_at, submitted_by IS NOT NULL
            FROM applications
            WHERE round_id = %s AND priority_group IS NOT NULL
              AND (NOT %s OR priority_status = 'pending')
            ORDER BY priority_status <> 'pending', id
            """,
            (round_id, pending_only),
        )
        return [Claim(*row) for row in cur.fetchall()]


def decide_claim(
    conn: Connection,
    round_id: int,
    application_id: int,
    decision: str,
    note: str,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Claim:
    """Verify or reject one application's priority claim, with the officer's note.

    The application is judged again (a verified special case may be up to three years older;
    a verified first-tier group is served first) and the round's revision is bumped, so a run
    made before the decision cannot be published.
    """
    if decision not in DECISIONS:
        raise InvalidRequestError(
            f"Quyết định phải là {' hoặc '.join(DECISIONS)} / the decision is "
            f"{' or '.join(DECISIONS)}, not {decision!r}"
        )
    note = note.strip()
    check_name(note, "Ghi chú", "note")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidRequestError(
            f"Ghi chú tối đa {MAX_NOTE_CHARS} ký tự / a note has at most {MAX_NOTE_CHARS} "
            "characters"
        )
    if not note:
        raise InvalidRequestError(
            "Hãy ghi chú căn cứ xét (giấy tờ đã xem) / write a note of the evidence seen"
        )
    the_round = lock_round(conn, round_id, Action.DECIDE_CLAIM)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.priority_group, a.birth_date, ST_X(a.home), ST_Y(a.home), w.code,
                   p.child_id_hash
            FROM applications a JOIN applicants p ON p.id = a.applicant_id
            LEFT JOIN admin_units w ON w.id = a.ward_id
            WHERE a.id = %s AND a.round_id = %s
            """,
            (application_id, round_id),
        )
        row = cur.fetchone()
        if row is None:
            raise NotFoundError(
                f"Đợt {round_id} không có hồ sơ số {application_id} / round {round_id} has no "
                f"application {application_id}"
            )
        group, born, lon, lat, ward, hashed = row
        if group is None:
            raise ConflictError(
                f"Hồ sơ {application_id} không khai đối tượng ưu tiên / application "
                f"{application_id} claims no priority group"
            )
        _, placed = home_facts(conn, lon, lat, hashed, the_round)
        verdict = judge(
            the_round,
            birth_date=born,
            ward=ward,
            counted_group=group if decision == "verified" else None,
            placed=placed,
        )
        cur.execute(
            """
            UPDATE applications SET priority_status = %s, priority_note = %s,
                priority_checked_by = %s, priority_checked_at = now(), status = %s,
                rejection_reasons = %s
            WHERE id = %s
            """,
            (
                decision,
                note,
                actor,
                "eligible" if verdict.eligible else "rejected",
                Json(reasons_json(verdict)),
                application_id,
            ),
        )
        cur.execute("UPDATE rounds SET revision = revision + 1 WHERE id = %s", (round_id,))
    audit.record(
        conn,
        actor=actor,
        action="application.priority_decide",
        target=f"application:{application_id}",
        detail={"round": round_id, "decision": decision, "group": group},
        remote_addr=remote_addr,
    )
    return next(c for c in list_claims(conn, round_id) if c.application_id == application_id)


@dataclass(frozen=True)
class ImportConflict:
    """An imported row that met a parent's own application: which fields differ."""

    conflict_id: int
    application_id: int
    source_file: str | None
    source_line: int | None
    fields: tuple[str, ...]
    actor: str
    created_at: datetime
    resolved_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.conflict_id,
            "application_id": self.application_id,
            "source_file": self.source_file,
            "source_line": self.source_line,
            "fields": list(self.fields),
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
        }


def list_conflicts(conn: Connection, round_id: int) -> list[ImportConflict]:
    """The round's import conflicts, unresolved first."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT id, application_id, source_file, source_line, fields, actor, created_at,
                   resolved_at
            FROM application_conflicts WHERE round_id = %s
            ORDER BY resolved_at IS NOT NULL, id
            """,
            (round_id,),
        )
        return [
            ImportConflict(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6], r[7])
            for r in cur.fetchall()
        ]
