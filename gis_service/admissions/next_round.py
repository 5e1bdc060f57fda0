"""Round 2 and later: the seats a published round left, offered to the children it left."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from psycopg2.extras import Json

from gis_service import audit
from gis_service.admissions.applications import reasons_json
from gis_service.admissions.eligibility import check_eligibility
from gis_service.admissions.lifecycle import Action, lock_round
from gis_service.admissions.rounds import Round, load_round
from gis_service.admissions.seats import seats_taken_before
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ConflictError
from gis_service.safe_text import check_name


@dataclass(frozen=True)
class NextRound:
    """The new round and what was carried into it."""

    the_round: Round
    carried: int  # applications of unplaced children copied into the new round
    eligible: int  # of those, eligible in the new round
    newly_eligible: int  # refused before (e.g. lived outside the area), eligible now
    seats_left: int  # seats at the round's schools not taken by earlier published rounds


def published_run_of(conn: Connection, round_id: int) -> int | None:
    """The id of the round's published run, if it has one."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM allocation_runs WHERE round_id = %s AND published_at IS NOT NULL",
            (round_id,),
        )
        row = cur.fetchone()
    return None if row is None else int(row[0])


def open_next_round(
    conn: Connection,
    round_id: int,
    *,
    name: str | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> NextRound:
    """Open the round that follows a published one, for the same grade, year and area.

    Every child of the earlier round who was not placed (refused or unplaced) is carried over
    with the same preferences, and checked again: later rounds do not require residence in the
    area, so a child refused only for living outside it becomes eligible. Children placed
    earlier are not carried. New applicants may still be imported into the new round.
    """
    if name is not None:
        check_name(name, "Tên đợt", "round name")
    earlier = lock_round(conn, round_id, Action.NEXT)
    run_id = published_run_of(conn, round_id)
    assert run_id is not None  # a published round has its published run
    with savepoint(conn), conn.cursor() as cur:
        cur.execute("SELECT id FROM rounds WHERE parent_round_id = %s", (round_id,))
        already = cur.fetchone()
        if already is not None:
            raise ConflictError(
                f"Đợt {round_id} đã có đợt tiếp theo: đợt {already[0]} / round {round_id} "
                f"already has a next round: round {already[0]}"
            )
        number = earlier.round_number + 1
        cur.execute(
            """
            INSERT INTO rounds (name, grade, school_year, admission_year, round_number,
                                area_unit_ids, parent_round_id, edition)
            SELECT %s, grade, school_year, admission_year, %s, area_unit_ids, id, edition
            FROM rounds WHERE id = %s RETURNING id
            """,
            (name or f"{earlier.name} — đợt {number}", number, round_id),
        )
        new_id = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute(
            """
            SELECT a.id, a.status, a.birth_date, w.code, a.priority_group, a.priority_status
            FROM applications a
            LEFT JOIN admin_units w ON w.id = a.ward_id
            LEFT JOIN assignments x ON x.run_id = %s AND x.applicant_id = a.applicant_id
            WHERE a.round_id = %s AND a.status IN ('eligible', 'rejected')
              AND x.school_id IS NULL
            ORDER BY a.id
            """,
            (run_id, round_id),
        )
        left = cur.fetchall()
        counts: Counter[str] = Counter()
        for application_id, status, born, ward, group, claim in left:
            verdict = check_eligibility(
                grade=earlier.grade,
                admission_year=earlier.admission_year,
                birth_date=born,
                ward_code=ward,
                area_ward_codes=earlier.ward_codes,
                priority_group=group if claim == "verified" else None,
                residence_required=False,
            )
            # The application is carried with the facts it was judged on, its claim and the
            # officer's decision on it.
            cur.execute(
                """
                INSERT INTO applications (round_id, applicant_id, preferences, status,
                    rejection_reasons, source_line, birth_date, home, home_address, ward_id,
                    priority_group, priority_status, priority_note, priority_checked_by,
                    priority_checked_at, sibling_group, stated_unit, stated_unit_id,
                    residence_check, stated_unit_distance_m)
                SELECT %s, applicant_id, preferences, %s, %s, source_line, birth_date, home,
                       home_address, ward_id, priority_group, priority_status, priority_note,
                       priority_checked_by, priority_checked_at, sibling_group, stated_unit,
                       stated_unit_id, residence_check, stated_unit_distance_m
                FROM applications WHERE id = %s
                """,
                (
                    new_id,
                    "eligible" if verdict.eligible else "rejected",
                    Json(reasons_json(verdict)),
                    application_id,
                ),
            )
            counts["eligible"] += verdict.eligible
            counts["newly_eligible"] += verdict.eligible and status == "rejected"
        seats_left = _seats_left(conn, new_id, earlier.grade)
        audit.record(
            conn,
            actor=actor,
            action="round.open_next",
            target=f"round:{new_id}",
            detail={
                "after_round": round_id,
                "published_run": run_id,
                "carried": len(left),
                "eligible": counts["eligible"],
                "newly_eligible": counts["newly_eligible"],
                "seats_left": seats_left,
            },
            remote_addr=remote_addr,
        )
    return NextRound(
        load_round(conn, new_id),
        carried=len(left),
        eligible=counts["eligible"],
        newly_eligible=counts["newly_eligible"],
        seats_left=seats_left,
    )


def _seats_left(conn: Connection, round_id: int, grade: int) -> int:
    """Seats of the grade at every school, less those given by earlier published rounds."""
    taken = seats_taken_before(conn, round_id)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT school_id, classes * class_size FROM school_grades WHERE grade = %s",
            (grade,),
        )
        return sum(max(0, int(seats) - taken.get(int(s), 0)) for s, seats in cur.fetchall())
