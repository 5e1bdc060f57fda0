"""Who answers for a child's record: an officer links a child to a parent's account, or moves
it from one account to another, after seeing the papers; every change is audited."""

from __future__ import annotations

from dataclasses import dataclass

from gis_service import audit
from gis_service.admissions.identity import child_id_hash
from gis_service.auth.roles import PARENT
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, NotFoundError


@dataclass(frozen=True)
class Link:
    """The child's record and the accounts that held it before and hold it now."""

    applicant_id: int
    previous_guardian: str | None
    guardian: str
    created: bool  # the child had no record yet


def link_child(
    conn: Connection,
    round_id: int,
    child_id: str,
    key: bytes,
    username: str,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Link:
    """Make `username` (a parent account) the holder of the child's record.

    The child must have an application in the round (the officer acts within a round of
    their area), or no record at all yet (it is then made, held by the account).
    """
    hashed = child_id_hash(child_id, key)
    with conn.cursor() as cur:
        cur.execute("SELECT id, role FROM users WHERE username = %s", (username,))
        account = cur.fetchone()
        if account is None or account[1] != PARENT:
            raise InvalidRequestError(
                f"Không có tài khoản phụ huynh {username!r} / no parent account {username!r}"
            )
        user_id = int(account[0])
        cur.execute(
            """
            SELECT p.id, u.username,
                   EXISTS (SELECT 1 FROM applications a
                           WHERE a.applicant_id = p.id AND a.round_id = %s)
            FROM applicants p LEFT JOIN users u ON u.id = p.guardian_id
            WHERE p.child_id_hash = %s FOR UPDATE OF p
            """,
            (round_id, hashed),
        )
        found = cur.fetchone()
        if found is None:
            cur.execute(
                "INSERT INTO applicants (child_id_hash, guardian_id) VALUES (%s, %s) "
                "ON CONFLICT (child_id_hash) DO NOTHING RETURNING id",
                (hashed, user_id),
            )
            made = cur.fetchone()
            if made is None:  # made by another request a moment ago: link it as found
                return link_child(
                    conn, round_id, child_id, key, username, actor=actor, remote_addr=remote_addr
                )
            link = Link(int(made[0]), None, username, created=True)
        else:
            applicant_id, previous, in_round = found
            if not in_round:
                raise NotFoundError(
                    f"Đợt {round_id} không có hồ sơ của trẻ có mã này / round {round_id} has no "
                    "application of a child with this code"
                )
            cur.execute(
                "UPDATE applicants SET guardian_id = %s WHERE id = %s", (user_id, applicant_id)
            )
            link = Link(int(applicant_id), previous, username, created=False)
    audit.record(
        conn,
        actor=actor,
        action="child.link",
        target=f"applicant:{link.applicant_id}",
        detail={
            "round": round_id,
            "from": link.previous_guardian,
            "to": link.guardian,
            "new_record": link.created,
        },
        remote_addr=remote_addr,
    )
    return link
