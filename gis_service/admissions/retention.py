"""Retention: delete a finished round's personal data, keeping only its aggregate record."""

from __future__ import annotations

from dataclasses import dataclass

from gis_service import audit
from gis_service.admissions.lifecycle import Action, lock_round
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import InvalidRequestError


@dataclass(frozen=True)
class Purged:
    """What a purge deleted."""

    round_id: int
    applications: int
    assignments: int
    applicants: int


def purge_round(
    conn: Connection,
    round_id: int,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Purged:
    """Delete a published round's applications and assignments, and every applicant left with
    no application in any round; the round becomes archived.

    Kept: the round, its runs with their metrics and hashes (counts, no person), and the audit
    log. A round whose next round is not yet published is refused: that round's seats depend
    on this one's assignments. Once purged, a run can no longer be verified.
    """
    lock_round(conn, round_id, Action.PURGE)
    with savepoint(conn), conn.cursor() as cur:
        cur.execute(
            "SELECT id, status FROM rounds WHERE parent_round_id = %s AND status <> 'archived'",
            (round_id,),
        )
        following = cur.fetchone()
        if following is not None and following[1] != "published":
            raise InvalidRequestError(
                f"round {following[0]}, which follows round {round_id}, is {following[1]}; "
                "finish it first, as its seats depend on this round's assignments"
            )
        cur.execute("SELECT applicant_id FROM applications WHERE round_id = %s", (round_id,))
        applicant_ids = [row[0] for row in cur.fetchall()]
        cur.execute(
            "DELETE FROM assignments x USING allocation_runs r "
            "WHERE x.run_id = r.id AND r.round_id = %s",
            (round_id,),
        )
        assignments = cur.rowcount
        cur.execute("DELETE FROM applications WHERE round_id = %s", (round_id,))
        applications = cur.rowcount
        cur.execute(
            """
            DELETE FROM applicants p WHERE p.id = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.applicant_id = p.id)
              AND NOT EXISTS (SELECT 1 FROM assignments x WHERE x.applicant_id = p.id)
            """,
            (applicant_ids,),
        )
        applicants = cur.rowcount
        cur.execute("UPDATE rounds SET status = 'archived' WHERE id = %s", (round_id,))
        audit.record(
            conn,
            actor=actor,
            action="round.purge",
            target=f"round:{round_id}",
            detail={
                "applications": applications,
                "assignments": assignments,
                "applicants": applicants,
            },
            remote_addr=remote_addr,
        )
    return Purged(round_id, applications, assignments, applicants)
