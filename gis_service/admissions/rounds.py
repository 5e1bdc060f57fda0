"""Admission rounds: create one for a grade, year and area; import its applicants from a CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gis_service import audit
from gis_service.db.connection import Connection
from gis_service.errors import (
    InvalidRequestError,
    NotFoundError,
)
from gis_service.safe_text import check_name
from gis_service.school_levels import ENTRY_AGE
from gis_service.units.editions import DISTRICT, LEVELS_OF, edition_or_current
from gis_service.units.lookup import UnitRef, units_by_id


@dataclass(frozen=True)
class Round:
    """A round as stored."""

    round_id: int
    name: str
    grade: int
    school_year: str
    admission_year: int
    round_number: int
    ward_codes: tuple[str, ...]
    status: str
    revision: int = 0
    """Bumped whenever the data a run reads may change while the round takes no applications
    (reopened, a priority claim decided): a run of an older revision cannot be published."""
    edition: str = "2019"
    """The edition of the units the round's area is made of, and in which a home's unit is
    found for the residence rule."""
    area_unit_ids: tuple[int, ...] = ()
    """Ids of the commune-level units of the round's area (unique across editions, unlike
    codes)."""
    review_until: datetime | None = None
    """End of the window in which parents may correct their home and stated unit; after it the
    applicant data is locked and only an officer, with a written reason, changes it."""


FIRST_ADMISSION_YEAR, LAST_ADMISSION_YEAR = 2000, 2200
"""The admission years a round may have (the database's rounds_admission_year_check)."""


def admission_year_of(school_year: str) -> int:
    """'2025-2026' (or '2025') -> 2025."""
    head = school_year.strip().split("-")[0]
    if not head.isdigit() or len(head) != 4:
        raise InvalidRequestError(f"school year {school_year!r} is not like 2025-2026")
    if not FIRST_ADMISSION_YEAR <= int(head) <= LAST_ADMISSION_YEAR:
        raise InvalidRequestError(
            f"Năm học {school_year!r} phải bắt đầu từ {FIRST_ADMISSION_YEAR} đến "
            f"{LAST_ADMISSION_YEAR} / school year {school_year!r} must start between "
            f"{FIRST_ADMISSION_YEAR} and {LAST_ADMISSION_YEAR}"
        )
    return int(head)


def check_deadline(until: datetime | None) -> None:
    """A review deadline must say its time zone: 17:00 means nothing on a server in UTC."""
    if until is not None and until.tzinfo is None:
        raise InvalidRequestError(
            "Hạn rà soát cần có múi giờ, ví dụ 2026-03-03T17:00:00+07:00 / give the review "
            "deadline with its time zone, e.g. 2026-03-03T17:00:00+07:00"
        )


def create_round(
    conn: Connection,
    *,
    name: str,
    grade: int,
    school_year: str,
    districts: list[str] | None = None,
    wards: list[str] | None = None,
    round_number: int = 1,
    edition: str | None = None,
    review_until: datetime | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Round:
    """A new draft round whose area is the given wards (communes) of one unit edition, the
    current one by default, and for the 2019 edition the wards of the given districts."""
    check_name(name, "Tên đợt", "round name")
    if grade not in ENTRY_AGE:
        raise InvalidRequestError(f"a round admits grade 1 or grade 6, not grade {grade}")
    year = admission_year_of(school_year)
    check_deadline(review_until)
    edition = edition_or_current(conn, edition)
    if not districts and not wards:
        raise InvalidRequestError(
            "Hãy nêu địa bàn của đợt: mã phường/xã / give the round's area: ward or commune "
            "codes (or, for the 2019 units, district codes)"
        )
    if districts and DISTRICT not in LEVELS_OF[edition]:
        raise InvalidRequestError(
            f"Bộ đơn vị {edition} không có quận/huyện; hãy nêu mã phường/xã / the {edition} "
            "units have no districts; give ward or commune codes"
        )
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.id, w.code FROM admin_units w
            LEFT JOIN admin_units d ON d.id = w.parent_id AND d.level = 'district'
            WHERE w.level = 'ward' AND w.edition = %s AND (w.code = ANY(%s) OR d.code = ANY(%s))
            ORDER BY w.code
            """,
            (edition, wards or [], districts or []),
        )
        found = cur.fetchall()
        known = {code for _, code in found}
        cur.execute(
            "SELECT code FROM admin_units WHERE level = 'district' AND edition = %s "
            "AND code = ANY(%s)",
            (edition, districts or []),
        )
        known_districts = {row[0] for row in cur.fetchall()}
        unknown = sorted(set(wards or []) - known) + sorted(set(districts or []) - known_districts)
        if unknown:
            raise NotFoundError(
                f"Không có đơn vị mã {', '.join(unknown)} trong bộ đơn vị {edition} / unknown "
                f"ward or district code(s) in the {edition} units: {', '.join(unknown)}"
            )
        if not found:
            raise InvalidRequestError(
                "Địa bàn của đợt không có phường/xã nào / the round's area holds no ward"
            )
        cur.execute(
            """
            INSERT INTO rounds (name, grade, school_year, admission_year, round_number,
                                area_unit_ids, edition, review_until)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
            """,
            (
                name,
                grade,
                school_year,
                year,
                round_number,
                [i for i, _ in found],
                edition,
                review_until,
            ),
        )
        round_id = int(cur.fetchone()[0])  # type: ignore[index]
    created = load_round(conn, round_id)
    audit.record(
        conn,
        actor=actor,
        action="round.create",
        target=f"round:{round_id}",
        detail={
            "name": name,
            "grade": grade,
            "school_year": school_year,
            "round_number": round_number,
            "edition": edition,
            "wards": list(created.ward_codes),
            "review_until": review_until.isoformat() if review_until else None,
        },
        remote_addr=remote_addr,
    )
    return created


ROUND_COLUMNS = """
    r.id, r.name, r.grade, r.school_year, r.admission_year, r.round_number, r.status,
    ARRAY(SELECT code FROM admin_units WHERE id = ANY(r.area_unit_ids) ORDER BY code),
    r.revision, r.edition, r.area_unit_ids, r.review_until
"""
"""The columns of `rounds r` that `round_from_row` reads, for queries that also read others."""


def round_from_row(row: tuple[Any, ...], round_id: int) -> Round:
    """The round in ROUND_COLUMNS' values (all NULL when no round matched: not found)."""
    if row[0] is None:
        raise NotFoundError(f"no round with id {round_id}")
    return Round(
        int(row[0]),
        row[1],
        int(row[2]),
        row[3],
        int(row[4]),
        int(row[5]),
        tuple(row[7]),
        row[6],
        int(row[8]),
        str(row[9]),
        tuple(sorted(int(i) for i in row[10])),
        row[11],
    )


def load_round(conn: Connection, round_id: int) -> Round:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {ROUND_COLUMNS} FROM (SELECT 1) AS one LEFT JOIN rounds r ON r.id = %s",
            (round_id,),
        )
        row = cur.fetchone()
    assert row is not None
    return round_from_row(row, round_id)


def list_rounds(conn: Connection) -> list[Round]:
    """Every round, newest first."""
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM rounds ORDER BY id DESC")
        ids = [int(row[0]) for row in cur.fetchall()]
    return [load_round(conn, round_id) for round_id in ids]


@dataclass(frozen=True)
class RoundCounts:
    """How many applications a round holds, and what waits for an officer."""

    applications: int
    eligible: int
    pending_claims: int  # priority claims no officer has decided yet
    conflicts: int  # imported rows that met a parent's own application, not yet resolved
    residence_mismatches: int = 0
    """Applications whose stated unit differs from the home's unit or names no known unit."""


def count_round(conn: Connection, round_id: int) -> RoundCounts:
    """The round's counts, in one query."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE status = 'eligible'),
                   count(*) FILTER (WHERE priority_status = 'pending'),
                   count(*) FILTER (WHERE residence_check IN ('mismatch', 'unknown_unit')
                                    AND status <> 'withdrawn'),
                   (SELECT count(*) FROM application_conflicts
                    WHERE round_id = %(round)s AND resolved_at IS NULL)
            FROM applications WHERE round_id = %(round)s
            """,
            {"round": round_id},
        )
        row = cur.fetchone()
    assert row is not None
    applications, eligible, pending, mismatches, conflicts = (int(n) for n in row)
    return RoundCounts(applications, eligible, pending, conflicts, mismatches)


def area_units(conn: Connection, the_round: Round) -> list[UnitRef]:
    """The units of the round's area, by name."""
    found = units_by_id(conn, list(the_round.area_unit_ids))
    return sorted(found.values(), key=lambda unit: (unit.name, unit.code))
