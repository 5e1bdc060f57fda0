"""One child's application to a round: checked, stored, and read back with its result.

The CSV import and a parent's online submission both store applications through
`save_application`, so eligibility and its reasons are decided in one place.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg2.extras import Json

from gis_service import audit
from gis_service.admissions.eligibility import (
    Eligibility,
    Reason,
    check_eligibility,
    check_priority_group,
)
from gis_service.admissions.enrolment import load_notice, next_steps
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.identity import child_id_hash, personal_id
from gis_service.admissions.lifecycle import (
    APPLY_LOCK_SQL,
    Action,
    check_review_window,
    lock_round,
    locked_data,
    may,
    refusal,
    review_window_ended,
)
from gis_service.admissions.residence import ResidenceCheck, ResidenceChecker
from gis_service.admissions.rounds import ROUND_COLUMNS, Round, load_round, round_from_row
from gis_service.admissions.run_store import EXPLANATION_COLUMNS, stored_explanation
from gis_service.db.connection import Connection
from gis_service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from gis_service.school_levels import LEVEL_OF_GRADE


@dataclass(frozen=True)
class ApplicationEntry:
    """What is known of one child when applying; preferences are ranked school ids."""

    child_id: str
    birth_date: date
    lon: float
    lat: float
    address: str | None = None
    ward_hint: str | None = None
    """Ward code given with the application, used only when the home lies in no known ward."""
    priority_group: str | None = None
    preferences: tuple[int, ...] = field(default_factory=tuple)
    stated_unit: str | None = None
    """The unit of residence as the parent's records write it (old or new name, or code),
    checked against the home's unit and listed for the officer when they differ."""


@dataclass(frozen=True)
class SavedApplication:
    """An application as stored, with the eligibility verdict."""

    application_id: int
    applicant_id: int
    child_hash: str
    verdict: Eligibility
    stored_reasons: list[dict[str, str]] = field(default_factory=list)  # as read back (jsonb)
    submitted_at: datetime | None = None
    conflict: tuple[str, ...] = ()
    """Fields an import stated differently from the parent's application it left as it was."""
    priority_group: str | None = None
    priority_status: str | None = None
    sibling_group: str | None = None
    stated_unit: str | None = None
    residence_check: str | None = None
    home_unit: str | None = None
    """The name of the unit the home is in (the round's edition)."""

    @property
    def status(self) -> str:
        """The application's status as stored: eligible or rejected."""
        return "eligible" if self.verdict.eligible else "rejected"


_HOME_WARD = """
    SELECT ARRAY[code, name] FROM admin_units
    WHERE level = 'ward' AND edition = %(edition)s
      AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
    ORDER BY id LIMIT 1
"""

_EARLIER_PLACE = """
    SELECT r.id FROM applicants p
    JOIN assignments x ON x.applicant_id = p.id AND x.school_id IS NOT NULL
    JOIN allocation_runs run ON run.id = x.run_id AND run.published_at IS NOT NULL
    JOIN rounds r ON r.id = run.round_id
    WHERE p.child_id_hash = %(hash)s AND r.grade = %(grade)s
      AND r.school_year = %(year)s AND r.id <> %(round)s
    ORDER BY r.id LIMIT 1
"""

NOT_YOUR_CHILD = (
    "Mã định danh này không dùng được từ tài khoản của bạn. Nếu đây là con của bạn, hãy liên "
    "hệ cán bộ tuyển sinh ở UBND phường/xã (mang giấy khai sinh của trẻ) để được liên kết hồ "
    "sơ của trẻ với tài khoản này. / This identity code cannot be used from your account. If "
    "this is your child, ask the admissions officer at your ward's People's Committee (with "
    "the child's birth certificate) to link the child to this account."
)
"""The one answer to a code this account does not hold, whoever holds it and whatever is
stored about the child: it tells nothing about the child."""

CLAIM_SOURCES = ("import", "parent")
"""Who stated an application's facts: an officer's file (claims count as checked by the
officer) or a parent (a priority claim waits for an officer)."""


def home_facts(
    conn: Connection, lon: float, lat: float, hashed: str, the_round: Round
) -> tuple[tuple[str, str] | None, Reason | None]:
    """In one query: the unit of the round's edition covering the home (code, name), and why
    the child may not be placed again if another published round of the same grade and year
    already placed it."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT ({_HOME_WARD}), ({_EARLIER_PLACE})",
            {
                "lon": lon,
                "lat": lat,
                "hash": hashed,
                "grade": the_round.grade,
                "year": the_round.school_year,
                "round": the_round.round_id,
                "edition": the_round.edition,
            },
        )
        row = cur.fetchone()
    assert row is not None
    ward, earlier_round = row
    return (
        None if ward is None else (ward[0], ward[1]),
        None if earlier_round is None else already_placed(earlier_round),
    )


def already_placed(round_id: int) -> Reason:
    """Why a child placed by another published round of the grade and year is not placed
    again (naming no school: the place is the family's to tell)."""
    return Reason(
        "already_placed",
        f"Trẻ đã có chỗ học từ đợt tuyển sinh {round_id} (đã công bố); mỗi trẻ chỉ có một chỗ học.",
        f"The child already has a place from round {round_id} (published); a child "
        "holds one place only.",
    )


def judge(
    the_round: Round,
    *,
    birth_date: date,
    ward: str | None,
    counted_group: str | None,
    placed: Reason | None,
    ward_name: str | None = None,
) -> Eligibility:
    """The verdict on an application's facts; only a verified priority claim counts."""
    verdict = check_eligibility(
        grade=the_round.grade,
        admission_year=the_round.admission_year,
        birth_date=birth_date,
        ward_code=ward,
        ward_name=ward_name,
        area_ward_codes=the_round.ward_codes,
        priority_group=counted_group,
        residence_required=the_round.round_number == 1,
    )
    return verdict if placed is None else Eligibility((*verdict.reasons, placed))


def _judge_entry(
    conn: Connection, the_round: Round, entry: ApplicationEntry, hashed: str, claim: str | None
) -> tuple[str | None, str | None, Eligibility]:
    """The home's unit (code and name, in the round's edition) and the verdict on what a parent or a
    file states; the claimed group counts only when `claim` is verified."""
    found, placed = home_facts(conn, entry.lon, entry.lat, hashed, the_round)
    ward, name = found if found else (entry.ward_hint, None)
    group = check_priority_group(entry.priority_group) if claim == "verified" else None
    verdict = judge(
        the_round,
        birth_date=entry.birth_date,
        ward=ward,
        counted_group=group,
        placed=placed,
        ward_name=name,
    )
    return ward, name, verdict


def reasons_json(verdict: Eligibility) -> list[dict[str, str]]:
    """The verdict's reasons as stored (jsonb)."""
    return [{"code": r.code, "vi": r.vi, "en": r.en} for r in verdict.reasons]


def _child_record(
    conn: Connection, hashed: str, *, guardian_id: int | None, sibling_group: str | None
) -> tuple[int, str | None]:
    """The child's record, made if new and then held by `guardian_id`, and its sibling group.

    A parent may only use a record their account holds (PermissionDeniedError with the one
    answer that tells nothing about the child); an officer's import may use any.
    """
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO applicants (child_id_hash, sibling_group, guardian_id) "
            "VALUES (%s, %s, %s) ON CONFLICT (child_id_hash) DO NOTHING RETURNING id",
            (hashed, sibling_group, guardian_id),
        )
        made = cur.fetchone()
        if made is not None:
            return int(made[0]), sibling_group
        cur.execute(
            "SELECT id, guardian_id, sibling_group FROM applicants WHERE child_id_hash = %s "
            "FOR UPDATE",
            (hashed,),
        )
        applicant_id, holder, group = cur.fetchone()  # type: ignore[misc]
        if guardian_id is not None:
            if holder != guardian_id:
                raise PermissionDeniedError(NOT_YOUR_CHILD)
            if sibling_group is not None and group != sibling_group:
                cur.execute(
                    "UPDATE applicants SET sibling_group = %s WHERE id = %s",
                    (sibling_group, applicant_id),
                )
                group = sibling_group
    return int(applicant_id), group


_INSERT = """
    INSERT INTO applications (round_id, applicant_id, preferences, status, rejection_reasons,
                              source_line, submitted_by, idempotency_key, request_hash,
                              birth_date, home, home_address, ward_id, priority_group,
                              priority_status, sibling_group, stated_unit, stated_unit_id,
                              residence_check, stated_unit_distance_m)
"""
_VALUES = """
    %(round)s, %(applicant)s, %(preferences)s, %(status)s, %(reasons)s, %(line)s, %(by)s,
    %(key)s, %(hash)s, %(born)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
    %(address)s, (SELECT id FROM admin_units
                  WHERE level = 'ward' AND edition = %(edition)s AND code = %(ward)s),
    %(group)s, %(claim)s, %(sibling)s, %(stated)s, %(stated_id)s, %(residence)s,
    %(stated_distance)s
"""
IMPORT_OVERWRITE = """
    ON CONFLICT (round_id, applicant_id) DO UPDATE SET
        preferences = EXCLUDED.preferences, status = EXCLUDED.status,
        rejection_reasons = EXCLUDED.rejection_reasons,
        source_line = EXCLUDED.source_line, birth_date = EXCLUDED.birth_date,
        home = EXCLUDED.home, home_address = EXCLUDED.home_address,
        ward_id = EXCLUDED.ward_id, priority_group = EXCLUDED.priority_group,
        priority_status = EXCLUDED.priority_status, priority_note = NULL,
        priority_checked_by = NULL, priority_checked_at = NULL,
        sibling_group = NULL, stated_unit = EXCLUDED.stated_unit,
        stated_unit_id = EXCLUDED.stated_unit_id,
        residence_check = EXCLUDED.residence_check,
        stated_unit_distance_m = EXCLUDED.stated_unit_distance_m
    WHERE applications.submitted_by IS NULL
"""
"""How an officer's import overwrites the child's earlier imported application in the round,
never a parent's own (whose row the statement does not return); both import paths use it."""

_STILL_OPEN = """
    SELECT 1 FROM rounds WHERE id = %(round)s AND status = 'open'
        AND (review_until IS NULL OR review_until > now())
"""
"""A parent's application is stored only while its round is open and its review window has
not ended, read when it is stored."""


def save_application(
    conn: Connection,
    the_round: Round,
    entry: ApplicationEntry,
    key: bytes,
    *,
    replace: bool,
    source_line: int | None = None,
    source_file: str | None = None,
    guardian_id: int | None = None,
    submitted_by: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    sibling_group: str | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    residence: ResidenceChecker | None = None,
) -> SavedApplication:
    """Check one child against the round and store the application with the facts it was
    judged on.

    A parent's submission (`guardian_id` given) may only use a child record the account
    holds; a second application of the child to the round is refused. An officer's import
    (`replace`) overwrites the child's earlier imported application in the round (a corrected
    file), but never a parent's own: the parent's data stays and the differing fields are
    listed for the officer as a conflict. A priority claim from an import counts as checked;
    a parent's waits for an officer's decision.
    """
    hashed = child_id_hash(entry.child_id, key)
    group = check_priority_group(entry.priority_group)
    claim_status = None if group is None else ("pending" if guardian_id else "verified")
    ward, ward_name, verdict = _judge_entry(conn, the_round, entry, hashed, claim_status)
    stated = (residence or ResidenceChecker(conn)).check(entry.stated_unit, entry.lon, entry.lat)
    status = "eligible" if verdict.eligible else "rejected"
    applicant_id, sibling = _child_record(
        conn, hashed, guardian_id=guardian_id, sibling_group=sibling_group
    )
    with conn.cursor() as cur:
        values = {
            "round": the_round.round_id,
            "applicant": applicant_id,
            "preferences": list(entry.preferences),
            "status": status,
            "reasons": Json(reasons_json(verdict)),
            "line": source_line,
            "by": submitted_by,
            "key": idempotency_key,
            "hash": request_hash,
            "born": entry.birth_date,
            "lon": entry.lon,
            "lat": entry.lat,
            "address": entry.address,
            "ward": ward,
            "group": group,
            "claim": claim_status,
            # An import names sibling groups from its whole file once every row is stored.
            "sibling": None if replace else sibling,
            "edition": the_round.edition,
            **_residence_values(stated),
        }
        if replace:
            cur.execute(
                f"{_INSERT} VALUES ({_VALUES})" + IMPORT_OVERWRITE + " RETURNING id",
                values,
            )
            written = cur.fetchone()
            if written is None:
                return _keep_parents_application(
                    conn, the_round, applicant_id, hashed, values, source_file, actor
                )
            return SavedApplication(
                int(written[0]),
                applicant_id,
                hashed,
                verdict,
                stated_unit=stated.stated,
                residence_check=stated.check,
            )
        # A clash on either unique key stores nothing and returns no row, without the
        # savepoint a caught unique violation would need; so does a round no longer open.
        cur.execute(
            f"{_INSERT} SELECT {_VALUES} WHERE EXISTS ({_STILL_OPEN}) "
            "ON CONFLICT DO NOTHING RETURNING id, rejection_reasons, submitted_at",
            values,
        )
        inserted = cur.fetchone()
        if inserted is None:
            raise _clash(conn, the_round, idempotency_key)
        application_id, stored_reasons, submitted_at = inserted
        return SavedApplication(
            int(application_id),
            applicant_id,
            hashed,
            verdict,
            stored_reasons,
            submitted_at,
            priority_group=group,
            priority_status=claim_status,
            sibling_group=sibling,
            stated_unit=stated.stated,
            residence_check=stated.check,
            home_unit=ward_name,
        )


def _residence_values(stated: ResidenceCheck) -> dict[str, Any]:
    return {
        "stated": stated.stated,
        "stated_id": stated.stated_unit_id,
        "residence": stated.check,
        "stated_distance": stated.distance_m,
    }


def _keep_parents_application(
    conn: Connection,
    the_round: Round,
    applicant_id: int,
    hashed: str,
    values: dict[str, Any],
    source_file: str | None,
    actor: str,
) -> SavedApplication:
    """An import met the parent's own application of the child in the round: keep it, and
    list the fields the file states differently for the officer."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.id, a.status, a.rejection_reasons, a.birth_date, ST_X(a.home),
                   ST_Y(a.home), a.home_address, w.code, a.priority_group, a.preferences,
                   a.stated_unit
            FROM applications a LEFT JOIN admin_units w ON w.id = a.ward_id
            WHERE a.round_id = %s AND a.applicant_id = %s
            """,
            (the_round.round_id, applicant_id),
        )
        row = cur.fetchone()
        assert row is not None
        (application_id, status, reasons, born, lon, lat, address, ward, group, preferences) = row[
            :10
        ]
        stated_unit = row[10]
        stated = {
            "birth_date": (born, values["born"]),
            "home": (
                (round(lon, 6), round(lat, 6)),
                (round(values["lon"], 6), round(values["lat"], 6)),
            ),
            "address": (address, values["address"]),
            "ward": (ward, values["ward"]),
            "priority_group": (group, values["group"]),
            "preferences": (list(preferences), values["preferences"]),
            "stated_unit": (stated_unit, values["stated"]),
        }
        differ = [name for name, (kept, filed) in stated.items() if kept != filed]
        if differ:
            cur.execute(
                "INSERT INTO application_conflicts (round_id, application_id, source_file, "
                "source_line, fields, actor) VALUES (%s, %s, %s, %s, %s, %s)",
                (the_round.round_id, application_id, source_file, values["line"], differ, actor),
            )
    kept_reasons = tuple(Reason(r["code"], r["vi"], r["en"]) for r in reasons)
    assert (status == "eligible") == (not kept_reasons)
    return SavedApplication(
        int(application_id),
        applicant_id,
        hashed,
        Eligibility(kept_reasons),
        conflict=tuple(differ),
    )


def _clash(conn: Connection, the_round: Round, idempotency_key: str | None) -> ConflictError:
    """Why an application was not inserted: the round closed while it waited, its key is
    taken, or the child already applied."""
    round_id = the_round.round_id
    now = load_round(conn, round_id)
    if not may(Action.APPLY, now.status):
        return refusal(Action.APPLY, now)
    if review_window_ended(now):
        return locked_data(now)
    if idempotency_key is not None:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM applications WHERE idempotency_key = %s", (idempotency_key,))
            if cur.fetchone() is not None:
                return ConflictError(
                    "Yêu cầu cùng Idempotency-Key đang được xử lý; hãy gửi lại / a request "
                    "with this Idempotency-Key is being handled; send it again"
                )
    return ConflictError(
        f"Trẻ này đã có hồ sơ trong đợt {round_id} / this child already "
        f"has an application in round {round_id}"
    )


def request_fingerprint(round_id: int, entry: ApplicationEntry, key: bytes, sibling: str) -> str:
    """A hash of what was asked, to tell a repeated request from a reused key."""
    data = asdict(entry)
    data["child_id"] = child_id_hash(entry.child_id, key)
    data["birth_date"] = entry.birth_date.isoformat()
    data["preferences"] = list(entry.preferences)
    data["sibling"] = child_id_hash(sibling, key) if sibling else ""
    data["round"] = round_id
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def check_preferences(conn: Connection, grade: int, school_ids: tuple[int, ...]) -> None:
    """Every ranked school exists, is listed once and teaches the round's level."""
    if not school_ids:
        return
    if len(set(school_ids)) != len(school_ids):
        raise InvalidRequestError("Mỗi trường chỉ ghi một lần / list each school only once")
    level = LEVEL_OF_GRADE[grade]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, %s = ANY(levels) FROM schools WHERE id = ANY(%s)",
            (level, list(school_ids)),
        )
        found = dict(cur.fetchall())
    for school_id in school_ids:
        if school_id not in found:
            raise InvalidRequestError(f"Không có trường số {school_id} / no school {school_id}")
        if not found[school_id]:
            raise InvalidRequestError(
                f"Trường số {school_id} không dạy lớp {grade} / school {school_id} does not "
                f"teach grade {grade} ({level})"
            )


def sibling_group_for(conn: Connection, own_hash: str, sibling_hash: str, user_id: int) -> str:
    """The sibling group two children share: an existing one of a child this account holds,
    else named like the import's."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT sibling_group FROM applicants WHERE child_id_hash = ANY(%s) "
            "AND sibling_group IS NOT NULL AND guardian_id = %s "
            "ORDER BY child_id_hash LIMIT 1",
            ([own_hash, sibling_hash], user_id),
        )
        row = cur.fetchone()
    return row[0] if row else min(own_hash, sibling_hash)[:16]


def submit_application(
    conn: Connection,
    round_id: int,
    entry: ApplicationEntry,
    key: bytes,
    *,
    user_id: int,
    username: str,
    idempotency_key: str,
    sibling_child_id: str = "",
    remote_addr: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """A parent's application to an open round; returns its view and whether it was a replay.

    The same Idempotency-Key again returns the application the first request made and stores
    nothing; the same key with a different request is refused. The child's (and a sibling's)
    personal identification number must have its 12 digits.
    """
    personal_id(entry.child_id)
    if sibling_child_id.strip():
        personal_id(sibling_child_id, "của anh/chị/em", "the brother's or sister's")
    stored_key = f"{user_id}:{idempotency_key}"
    fingerprint = request_fingerprint(round_id, entry, key, sibling_child_id)
    own_hash = child_id_hash(entry.child_id, key)
    with conn.cursor() as cur:
        # One round trip: an earlier request with this key, who holds the child's record, and
        # the round, whose applications lock is taken (shared) so it cannot close while this
        # application is stored. The status read here may predate a close this statement
        # waited for: the insert itself checks the round is still open.
        cur.execute(
            f"""
            SELECT (SELECT ARRAY[id::text, request_hash] FROM applications
                    WHERE idempotency_key = %s),
                   (SELECT ARRAY[coalesce(guardian_id, 0)] FROM applicants
                    WHERE child_id_hash = %s),
                   {ROUND_COLUMNS}, {APPLY_LOCK_SQL}
            FROM rounds r WHERE r.id = %s
            """,
            (stored_key, own_hash, round_id),
        )
        found = cur.fetchone()
    if found is None:
        raise NotFoundError(f"Không có đợt tuyển sinh số {round_id} / no round with id {round_id}")
    earlier, holder, *round_row, _ = found
    if earlier is not None:
        if earlier[1] != fingerprint:
            raise ConflictError(
                "Idempotency-Key này đã dùng cho một hồ sơ khác; hãy dùng khóa mới / this "
                "Idempotency-Key was used for a different application; use a new key"
            )
        return application_view(conn, int(earlier[0]), user_id), True
    the_round = round_from_row(tuple(round_row), round_id)
    if not may(Action.APPLY, the_round.status):
        raise refusal(Action.APPLY, the_round)
    check_review_window(the_round, Action.APPLY)
    check_preferences(conn, the_round.grade, entry.preferences)
    if holder is not None and holder[0] != user_id:
        raise PermissionDeniedError(NOT_YOUR_CHILD)
    group = None
    if sibling_child_id:
        sibling_hash = child_id_hash(sibling_child_id, key)
        if sibling_hash == own_hash:
            raise InvalidRequestError(
                "Mã anh/chị/em trùng mã của trẻ / the sibling's id code is the child's own"
            )
        group = sibling_group_for(conn, own_hash, sibling_hash, user_id)
    saved = save_application(
        conn,
        the_round,
        entry,
        key,
        replace=False,
        guardian_id=user_id,
        submitted_by=user_id,
        idempotency_key=stored_key,
        request_hash=fingerprint,
        sibling_group=group,
    )
    if group is not None:
        # The sibling's record joins the group only if this account holds it too: a family
        # never changes another family's child.
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE applicants SET sibling_group = %s WHERE child_id_hash = %s "
                "AND sibling_group IS NULL AND guardian_id = %s",
                (group, child_id_hash(sibling_child_id, key), user_id),
            )
    audit.record(
        conn,
        actor=username,
        action="application.submit",
        target=f"application:{saved.application_id}",
        detail={
            "round": round_id,
            "eligible": saved.verdict.eligible,
            "reasons": [r.code for r in saved.verdict.reasons],
        },
        remote_addr=remote_addr,
    )
    # The view is made from what was just stored, as application_view would read it back.
    # The round is open, so it has no published run: the new application has no result yet.
    row = (
        saved.application_id,
        the_round.round_id,
        the_round.name,
        the_round.grade,
        the_round.school_year,
        the_round.status,
        saved.status,
        saved.stored_reasons,
        list(entry.preferences),
        saved.submitted_at,
        saved.applicant_id,
        entry.birth_date,
        entry.lon,
        entry.lat,
        entry.address,
        saved.priority_group,
        saved.sibling_group,
        saved.priority_status,
        saved.stated_unit,
        saved.residence_check,
        the_round.review_until,
        saved.home_unit,
    )
    return _view(conn, row, with_result=False), False


_VIEW = """
    SELECT a.id, a.round_id, r.name, r.grade, r.school_year, r.status, a.status,
           a.rejection_reasons, a.preferences, a.submitted_at, p.id, a.birth_date,
           ST_X(a.home), ST_Y(a.home), a.home_address, a.priority_group, a.sibling_group,
           a.priority_status, a.stated_unit, a.residence_check, r.review_until, hw.name
    FROM applications a
    LEFT JOIN admin_units hw ON hw.id = a.ward_id
    JOIN rounds r ON r.id = a.round_id
    JOIN applicants p ON p.id = a.applicant_id
"""


def list_applications(conn: Connection, owner_id: int) -> list[dict[str, Any]]:
    """Every application of the children a parent's account holds, newest first, each with its
    result if published."""
    with conn.cursor() as cur:
        cur.execute(_VIEW + " WHERE p.guardian_id = %s ORDER BY a.id DESC", (owner_id,))
        rows = cur.fetchall()
    return [_view(conn, row) for row in rows]


def application_view(
    conn: Connection, application_id: int, owner_id: int, *, with_result: bool = True
) -> dict[str, Any]:
    """One of a parent's applications; another family's is reported as not existing.

    Without `with_result` the published result is not looked up (the caller knows there is
    none) and is given as None.
    """
    with conn.cursor() as cur:
        cur.execute(_VIEW + " WHERE a.id = %s AND p.guardian_id = %s", (application_id, owner_id))
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(
            f"Không có hồ sơ số {application_id} của tài khoản này / you have no application "
            f"with id {application_id}"
        )
    return _view(conn, row, with_result=with_result)


def _view(conn: Connection, row: tuple[Any, ...], *, with_result: bool = True) -> dict[str, Any]:
    (
        application_id,
        round_id,
        round_name,
        grade,
        school_year,
        round_status,
        status,
        reasons,
        preferences,
        submitted_at,
        applicant_id,
        birth_date,
        lon,
        lat,
        address,
        priority_group,
        sibling_group,
        priority_status,
        stated_unit,
        residence_check,
        review_until,
        home_unit,
    ) = row
    return {
        "id": application_id,
        "round": {
            "id": round_id,
            "name": round_name,
            "grade": grade,
            "school_year": school_year,
            "status": round_status,
            "review_until": review_until.isoformat() if review_until else None,
        },
        "status": status,
        "reasons": reasons,
        "preferences": list(preferences),
        "submitted_at": submitted_at.isoformat(),
        "birth_date": birth_date.isoformat(),
        "home": {
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "address": address,
            "unit": home_unit,
        },
        "priority_group": priority_group,
        "priority_status": priority_status,
        "has_sibling": sibling_group is not None,
        "stated_unit": stated_unit,
        "residence_check": residence_check,
        "result": (
            _with_next_steps(
                conn,
                published_result(conn, round_id, applicant_id, list(preferences)),
                round_id,
                application_id,
            )
            if with_result
            else None
        ),
    }


def _with_next_steps(
    conn: Connection, result: dict[str, Any] | None, round_id: int, application_id: int
) -> dict[str, Any] | None:
    """The published result with what the family does next, from the round's notice."""
    if result is None:
        return None
    school = result["school"]
    steps = next_steps(load_notice(conn, round_id), school and school["name"], application_id)
    return {**result, "next_steps": steps}


_SCHOOL_BY_ID = re.compile(r"\bschool (\d+)\b")


def with_school_names(sentence: str, names: Mapping[int, str]) -> str:
    """The allocation library names schools by id ("school 19"); parents read their names."""
    return _SCHOOL_BY_ID.sub(lambda found: names.get(int(found.group(1)), found.group(0)), sentence)


def published_result(
    conn: Connection, round_id: int, applicant_id: int, preferences: list[int]
) -> dict[str, Any] | None:
    """The child's place in the round's published run, explained; None before publication."""
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT r.id, r.mechanism, r.published_at, x.school_id, x.cost, r.passed_kinds,
                   {EXPLANATION_COLUMNS}
            FROM allocation_runs r
            JOIN assignments x ON x.run_id = r.id AND x.applicant_id = %s
            WHERE r.round_id = %s AND r.published_at IS NOT NULL
            """,
            (applicant_id, round_id),
        )
        row = cur.fetchone()
        if row is None:
            return None
        run_id, mechanism, published_at, school_id, cost, kinds = row[:6]
        explanation = stored_explanation(row[6:], school_id, cost, kinds)
        named = [school_id] + [p.get("school_id") for p in explanation.get("passed_over", [])]
        cur.execute(
            "SELECT id, name, code, address, phone, ST_X(geom), ST_Y(geom) FROM schools "
            "WHERE id = ANY(%s)",
            ([s for s in named if s is not None],),
        )
        schools = {r[0]: r for r in cur.fetchall()}
    names = {sid: r[1] for sid, r in schools.items()}
    vietnamese = explain_vi(explanation, mechanism, names, preferences)
    return {
        "run": run_id,
        "mechanism": mechanism,
        "published_at": published_at.isoformat(),
        "school": (
            {
                "id": school_id,
                "name": schools[school_id][1],
                "code": schools[school_id][2],
                "address": schools[school_id][3],
                "phone": schools[school_id][4],
                "lon": schools[school_id][5],
                "lat": schools[school_id][6],
            }
            if school_id is not None
            else None
        ),
        "distance_m": cost,
        "explanation": {
            # Both told from the same stored facts, so the English says what the Vietnamese says.
            "vi": vietnamese["summary"],
            "en": vietnamese["summary_en"],
            "passed_over": [
                {
                    "school_id": entry.get("school_id"),
                    "school_name": names.get(entry.get("school_id")),
                    "distance_m": entry.get("cost"),
                    "why": entry.get("why"),
                    "cutoff": entry.get("cutoff"),
                    "vi": sentence,
                    "en": english,
                }
                for entry, sentence, english in zip(
                    explanation.get("passed_over", []),
                    vietnamese["passed_over"],
                    vietnamese["passed_over_en"],
                    strict=True,
                )
            ],
        },
    }


def _own_submission(
    conn: Connection, application_id: int, owner_id: int
) -> tuple[int, str, str | None, str | None]:
    """The round, child hash and priority claim of an application the parent submitted for a
    child their account holds; another family's answers as not existing."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT a.round_id, p.child_id_hash, a.priority_group, a.priority_status, "
            "a.submitted_by FROM applications a JOIN applicants p ON p.id = a.applicant_id "
            "WHERE a.id = %s AND p.guardian_id = %s",
            (application_id, owner_id),
        )
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(
            f"Không có hồ sơ số {application_id} của tài khoản này / you have no application "
            f"with id {application_id}"
        )
    round_id, hashed, group, claim, submitted_by = row
    if submitted_by != owner_id:
        raise ConflictError(
            "Hồ sơ này do cán bộ tuyển sinh nhập; muốn sửa, hãy liên hệ cán bộ tuyển sinh / this "
            "application was entered by the admissions officer; ask them to correct it"
        )
    return int(round_id), hashed, group, claim


_REWRITE_FACTS = """
    UPDATE applications SET birth_date = %(born)s,
        home = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
        home_address = %(address)s,
        ward_id = (SELECT id FROM admin_units
                   WHERE level = 'ward' AND edition = %(edition)s AND code = %(ward)s),
        stated_unit = %(stated)s, stated_unit_id = %(stated_id)s,
        residence_check = %(residence)s, stated_unit_distance_m = %(stated_distance)s, {more}
        status = %(status)s, rejection_reasons = %(reasons)s
    WHERE id = %(id)s
"""
"""An application's facts rewritten after they were judged again (`more`: other columns)."""


def _fact_values(
    application_id: int,
    the_round: Round,
    entry: ApplicationEntry,
    ward: str | None,
    stated: ResidenceCheck,
) -> dict[str, Any]:
    return {
        "id": application_id,
        "born": entry.birth_date,
        "lon": entry.lon,
        "lat": entry.lat,
        "address": entry.address,
        "edition": the_round.edition,
        "ward": ward,
        **_residence_values(stated),
    }


def correct_application(
    conn: Connection,
    application_id: int,
    entry: ApplicationEntry,
    *,
    user_id: int,
    username: str,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """A parent corrects their own application while the round is open or in review: the
    facts are judged again as on submission (a withdrawn application comes back). The child's
    code cannot change; a changed priority claim waits for an officer again."""
    round_id, hashed, old_group, old_claim = _own_submission(conn, application_id, user_id)
    the_round = lock_round(conn, round_id, Action.EDIT)
    check_preferences(conn, the_round.grade, entry.preferences)
    group = check_priority_group(entry.priority_group)
    claim = None if group is None else (old_claim if group == old_group else "pending")
    ward, _, verdict = _judge_entry(conn, the_round, entry, hashed, claim)
    stated = ResidenceChecker(conn).check(entry.stated_unit, entry.lon, entry.lat)
    with conn.cursor() as cur:
        cur.execute(
            _REWRITE_FACTS.format(
                more="""
                priority_group = %(group)s, priority_status = %(claim)s,
                priority_note = CASE WHEN %(kept)s THEN priority_note END,
                priority_checked_by = CASE WHEN %(kept)s THEN priority_checked_by END,
                priority_checked_at = CASE WHEN %(kept)s THEN priority_checked_at END,
                preferences = %(preferences)s,"""
            ),
            {
                **_fact_values(application_id, the_round, entry, ward, stated),
                "status": "eligible" if verdict.eligible else "rejected",
                "reasons": Json(reasons_json(verdict)),
                "group": group,
                "claim": claim,
                "kept": group is not None and group == old_group,
                "preferences": list(entry.preferences),
            },
        )
    audit.record(
        conn,
        actor=username,
        action="application.edit",
        target=f"application:{application_id}",
        detail={
            "round": round_id,
            "eligible": verdict.eligible,
            "reasons": [r.code for r in verdict.reasons],
        },
        remote_addr=remote_addr,
    )
    return application_view(conn, application_id, user_id, with_result=False)


def withdraw_application(
    conn: Connection,
    application_id: int,
    *,
    user_id: int,
    username: str,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """A parent withdraws their own application while the round is open or in review; a run
    leaves it out. A correction brings it back."""
    round_id, _, _, _ = _own_submission(conn, application_id, user_id)
    lock_round(conn, round_id, Action.EDIT)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE applications SET status = 'withdrawn', rejection_reasons = '[]' WHERE id = %s",
            (application_id,),
        )
    audit.record(
        conn,
        actor=username,
        action="application.withdraw",
        target=f"application:{application_id}",
        detail={"round": round_id},
        remote_addr=remote_addr,
    )
    return application_view(conn, application_id, user_id, with_result=False)


MIN_REASON_LENGTH = 10


@dataclass(frozen=True)
class Amendment:
    """What an officer changes in an application; None leaves a fact as it is."""

    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    stated_unit: str | None = None
    birth_date: date | None = None


def amend_application(
    conn: Connection,
    round_id: int,
    application_id: int,
    change: Amendment,
    *,
    reason: str,
    actor: str,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """An officer changes an application's home, stated unit or birth date, with a written
    reason kept in the audit log; allowed while the round is draft, open, in review or closed, also
    after the review window (that is what it is for). The facts are judged again; in a closed
    round earlier runs go stale."""
    written = " ".join((reason or "").split())
    if len(written) < MIN_REASON_LENGTH:
        raise InvalidRequestError(
            f"Cần ghi lý do sửa (ít nhất {MIN_REASON_LENGTH} ký tự, ví dụ số văn bản, giấy tờ "
            f"đã xem) / give a written reason for the change (at least {MIN_REASON_LENGTH} "
            "characters, e.g. the document seen)"
        )
    if (change.lon is None) != (change.lat is None):
        raise InvalidRequestError("Cần cả kinh độ và vĩ độ / give both lon and lat")
    the_round = lock_round(conn, round_id, Action.AMEND)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT p.child_id_hash, a.birth_date, ST_X(a.home), ST_Y(a.home), a.home_address,
                   a.stated_unit, a.priority_group, a.priority_status, a.preferences, a.status
            FROM applications a JOIN applicants p ON p.id = a.applicant_id
            WHERE a.id = %s AND a.round_id = %s FOR UPDATE OF a
            """,
            (application_id, round_id),
        )
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(
            f"Đợt {round_id} không có hồ sơ số {application_id} / round {round_id} has no "
            f"application {application_id}"
        )
    hashed, born, lon, lat, address, stated, group, claim, preferences, status = row
    moved = change.lon is not None and change.lat is not None
    entry = ApplicationEntry(
        child_id="",
        birth_date=change.birth_date or born,
        lon=change.lon if moved else lon,  # type: ignore[arg-type]
        lat=change.lat if moved else lat,  # type: ignore[arg-type]
        address=change.address if change.address is not None else address,
        priority_group=group,
        preferences=tuple(preferences),
        stated_unit=change.stated_unit if change.stated_unit is not None else stated,
    )
    changed = [
        name
        for name, new, old in (
            ("birth_date", entry.birth_date, born),
            ("home", (entry.lon, entry.lat), (lon, lat)),
            ("address", entry.address, address),
            ("stated_unit", entry.stated_unit, stated),
        )
        if new != old
    ]
    if not changed:
        raise InvalidRequestError("Không có gì thay đổi / nothing to change")
    ward, _, verdict = _judge_entry(conn, the_round, entry, hashed, claim)
    checked = ResidenceChecker(conn).check(entry.stated_unit, entry.lon, entry.lat)
    judged = "eligible" if verdict.eligible else "rejected"
    new_status = status if status == "withdrawn" else judged
    with conn.cursor() as cur:
        cur.execute(
            _REWRITE_FACTS.format(more=""),
            {
                **_fact_values(application_id, the_round, entry, ward, checked),
                "status": new_status,
                "reasons": Json([] if new_status == "withdrawn" else reasons_json(verdict)),
            },
        )
        if the_round.status == "closed":
            # The data a run reads changed: runs made before cannot be published.
            cur.execute("UPDATE rounds SET revision = revision + 1 WHERE id = %s", (round_id,))
    audit.record(
        conn,
        actor=actor,
        action="application.amend",
        target=f"application:{application_id}",
        detail={
            "round": round_id,
            "fields": changed,
            "reason": written,
            "after_review_window": review_window_ended(the_round),
            "eligible": verdict.eligible,
        },
        remote_addr=remote_addr,
    )
    return {
        "id": application_id,
        "round_id": round_id,
        "changed": changed,
        "status": new_status,
        "reasons": reasons_json(verdict),
        "residence_check": checked.check,
    }
