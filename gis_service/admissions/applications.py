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
from gis_service.admissions.eligibility import Eligibility, Reason, check_eligibility
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.identity import child_id_hash
from gis_service.admissions.rounds import ROUND_COLUMNS, Round, round_from_row
from gis_service.db.connection import Connection
from gis_service.errors import ConflictError, InvalidRequestError, NotFoundError

LEVEL_OF_GRADE = {1: "tieu_hoc", 6: "thcs"}


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


@dataclass(frozen=True)
class SavedApplication:
    """An application as stored, with the eligibility verdict."""

    application_id: int
    applicant_id: int
    child_hash: str
    verdict: Eligibility
    stored_reasons: list[dict[str, str]] = field(default_factory=list)  # as read back (jsonb)
    submitted_at: datetime | None = None

    @property
    def status(self) -> str:
        """The application's status as stored: eligible or rejected."""
        return "eligible" if self.verdict.eligible else "rejected"


_HOME_WARD = """
    SELECT code FROM admin_units
    WHERE level = 'ward'
      AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
    ORDER BY id LIMIT 1
"""

_EARLIER_PLACE = """
    SELECT ARRAY[s.name, r.id::text] FROM applicants p
    JOIN assignments x ON x.applicant_id = p.id AND x.school_id IS NOT NULL
    JOIN allocation_runs run ON run.id = x.run_id AND run.published_at IS NOT NULL
    JOIN rounds r ON r.id = run.round_id
    JOIN schools s ON s.id = x.school_id
    WHERE p.child_id_hash = %(hash)s AND r.grade = %(grade)s
      AND r.school_year = %(year)s AND r.id <> %(round)s
    ORDER BY r.id LIMIT 1
"""


def home_facts(
    conn: Connection, lon: float, lat: float, hashed: str, the_round: Round
) -> tuple[str | None, Reason | None]:
    """In one query: the ward covering the home, and why the child may not be placed again
    if another published round of the same grade and year already placed it."""
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
            },
        )
        row = cur.fetchone()
    assert row is not None
    ward, earlier = row
    if earlier is None:
        return ward, None
    school, round_id = earlier
    return ward, Reason(
        "already_placed",
        f"Trẻ đã được xếp vào {school} ở đợt tuyển sinh {round_id} (đã công bố); mỗi trẻ chỉ "
        "có một chỗ học.",
        f"The child already has a place at {school} from round {round_id} (published); a "
        "child holds one place only.",
    )


def save_application(
    conn: Connection,
    the_round: Round,
    entry: ApplicationEntry,
    key: bytes,
    *,
    replace: bool,
    source_line: int | None = None,
    guardian_id: int | None = None,
    submitted_by: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    sibling_group: str | None = None,
) -> SavedApplication:
    """Check one child against the round and store the child and the application.

    With `replace`, an application of the same child to the round is overwritten (a corrected
    file imported again); without it, a second application is refused.
    """
    hashed = child_id_hash(entry.child_id, key)
    ward, placed = home_facts(conn, entry.lon, entry.lat, hashed, the_round)
    ward = ward or entry.ward_hint
    verdict = check_eligibility(
        grade=the_round.grade,
        admission_year=the_round.admission_year,
        birth_date=entry.birth_date,
        ward_code=ward,
        area_ward_codes=the_round.ward_codes,
        priority_group=entry.priority_group,
        residence_required=the_round.round_number == 1,
    )
    if placed is not None:
        verdict = Eligibility((*verdict.reasons, placed))
    status = "eligible" if verdict.eligible else "rejected"
    reasons = [{"code": r.code, "vi": r.vi, "en": r.en} for r in verdict.reasons]
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO applicants (child_id_hash, birth_date, home, home_address, ward_id,
                                    priority_group, sibling_group, guardian_id)
            VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s,
                    (SELECT id FROM admin_units WHERE level = 'ward' AND code = %s), %s, %s, %s)
            ON CONFLICT (child_id_hash) DO UPDATE SET birth_date = EXCLUDED.birth_date,
                home = EXCLUDED.home, home_address = EXCLUDED.home_address,
                ward_id = EXCLUDED.ward_id, priority_group = EXCLUDED.priority_group,
                sibling_group = EXCLUDED.sibling_group,
                guardian_id = COALESCE(applicants.guardian_id, EXCLUDED.guardian_id)
            RETURNING id
            """,
            (
                hashed,
                entry.birth_date,
                entry.lon,
                entry.lat,
                entry.address,
                ward,
                entry.priority_group,
                sibling_group,
                guardian_id,
            ),
        )
        applicant_id = int(cur.fetchone()[0])  # type: ignore[index]
        values = (
            the_round.round_id,
            applicant_id,
            list(entry.preferences),
            status,
            Json(reasons),
            source_line,
            submitted_by,
            idempotency_key,
            request_hash,
        )
        insert = """
            INSERT INTO applications (round_id, applicant_id, preferences, status,
                                      rejection_reasons, source_line, submitted_by,
                                      idempotency_key, request_hash)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        """
        if replace:
            cur.execute(
                insert
                + """
                ON CONFLICT (round_id, applicant_id) DO UPDATE SET
                    preferences = EXCLUDED.preferences, status = EXCLUDED.status,
                    rejection_reasons = EXCLUDED.rejection_reasons,
                    source_line = EXCLUDED.source_line
                RETURNING id
                """,
                values,
            )
            application_id = int(cur.fetchone()[0])  # type: ignore[index]
        else:
            # A clash on either unique key stores nothing and returns no row, without the
            # savepoint a caught unique violation would need.
            cur.execute(
                insert + " ON CONFLICT DO NOTHING RETURNING id, rejection_reasons, submitted_at",
                values,
            )
            inserted = cur.fetchone()
            if inserted is None:
                raise _clash(conn, the_round.round_id, idempotency_key)
            application_id, stored_reasons, submitted_at = inserted
            return SavedApplication(
                int(application_id),
                applicant_id,
                hashed,
                verdict,
                stored_reasons,
                submitted_at,
            )
    return SavedApplication(application_id, applicant_id, hashed, verdict)


def _clash(conn: Connection, round_id: int, idempotency_key: str | None) -> ConflictError:
    """Why an application was not inserted: its key is taken, or the child already applied."""
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


def sibling_group_for(conn: Connection, own_hash: str, sibling_hash: str) -> str:
    """The sibling group two children share: an existing one, else named like the import's."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT sibling_group FROM applicants WHERE child_id_hash = ANY(%s) "
            "AND sibling_group IS NOT NULL ORDER BY child_id_hash LIMIT 1",
            ([own_hash, sibling_hash],),
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
    nothing; the same key with a different request is refused.
    """
    stored_key = f"{user_id}:{idempotency_key}"
    fingerprint = request_fingerprint(round_id, entry, key, sibling_child_id)
    own_hash = child_id_hash(entry.child_id, key)
    with conn.cursor() as cur:
        # One round trip: an earlier request with this key, the child's account, the round.
        cur.execute(
            f"""
            SELECT (SELECT ARRAY[id::text, request_hash] FROM applications
                    WHERE idempotency_key = %s),
                   (SELECT guardian_id FROM applicants WHERE child_id_hash = %s),
                   {ROUND_COLUMNS}
            FROM (SELECT 1) AS one LEFT JOIN rounds r ON r.id = %s
            """,
            (stored_key, own_hash, round_id),
        )
        earlier, holder_id, *round_row = cur.fetchone()  # type: ignore[misc]
    if earlier is not None:
        if earlier[1] != fingerprint:
            raise ConflictError(
                "Idempotency-Key này đã dùng cho một hồ sơ khác; hãy dùng khóa mới / this "
                "Idempotency-Key was used for a different application; use a new key"
            )
        return application_view(conn, int(earlier[0]), user_id), True
    the_round = round_from_row(tuple(round_row), round_id)
    if the_round.status != "open":
        raise ConflictError(
            f"Đợt {round_id} không nhận hồ sơ (trạng thái: {the_round.status}) / round "
            f"{round_id} is not open for applications (it is {the_round.status})"
        )
    check_preferences(conn, the_round.grade, entry.preferences)
    if holder_id is not None and holder_id != user_id:
        raise ConflictError(
            "Mã định danh của trẻ đã được một tài khoản khác đăng ký; hãy liên hệ nhà trường / "
            "this child's id code is registered by another account; contact the school office"
        )
    group = None
    if sibling_child_id:
        sibling_hash = child_id_hash(sibling_child_id, key)
        if sibling_hash == own_hash:
            raise InvalidRequestError(
                "Mã anh/chị/em trùng mã của trẻ / the sibling's id code is the child's own"
            )
        group = sibling_group_for(conn, own_hash, sibling_hash)
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
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE applicants SET sibling_group = %s "
                "WHERE child_id_hash = %s AND sibling_group IS NULL",
                (group, child_id_hash(sibling_child_id, key)),
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
        entry.priority_group,
        group,
    )
    return _view(conn, row, with_result=False), False


_VIEW = """
    SELECT a.id, a.round_id, r.name, r.grade, r.school_year, r.status, a.status,
           a.rejection_reasons, a.preferences, a.submitted_at, p.id, p.birth_date,
           ST_X(p.home), ST_Y(p.home), p.home_address, p.priority_group, p.sibling_group
    FROM applications a
    JOIN rounds r ON r.id = a.round_id
    JOIN applicants p ON p.id = a.applicant_id
"""


def list_applications(conn: Connection, owner_id: int) -> list[dict[str, Any]]:
    """Every application a parent submitted, newest first, each with its result if published."""
    with conn.cursor() as cur:
        cur.execute(_VIEW + " WHERE a.submitted_by = %s ORDER BY a.id DESC", (owner_id,))
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
        cur.execute(_VIEW + " WHERE a.id = %s AND a.submitted_by = %s", (application_id, owner_id))
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
    ) = row
    return {
        "id": application_id,
        "round": {
            "id": round_id,
            "name": round_name,
            "grade": grade,
            "school_year": school_year,
            "status": round_status,
        },
        "status": status,
        "reasons": reasons,
        "preferences": list(preferences),
        "submitted_at": submitted_at.isoformat(),
        "birth_date": birth_date.isoformat(),
        "home": {"lon": round(lon, 7), "lat": round(lat, 7), "address": address},
        "priority_group": priority_group,
        "has_sibling": sibling_group is not None,
        "result": (
            published_result(conn, round_id, applicant_id, list(preferences))
            if with_result
            else None
        ),
    }


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
            """
            SELECT r.id, r.mechanism, r.published_at, x.school_id, x.cost, x.explanation
            FROM allocation_runs r
            JOIN assignments x ON x.run_id = r.id AND x.applicant_id = %s
            WHERE r.round_id = %s AND r.published_at IS NOT NULL
            """,
            (applicant_id, round_id),
        )
        row = cur.fetchone()
        if row is None:
            return None
        run_id, mechanism, published_at, school_id, cost, explanation = row
        named = [school_id] + [p.get("school_id") for p in explanation.get("passed_over", [])]
        cur.execute(
            "SELECT id, name, code, address FROM schools WHERE id = ANY(%s)",
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
            }
            if school_id is not None
            else None
        ),
        "distance_m": cost,
        "explanation": {
            "vi": vietnamese["summary"],
            "en": with_school_names(str(explanation.get("reason") or ""), names),
            "passed_over": [
                {
                    "school_id": entry.get("school_id"),
                    "school_name": names.get(entry.get("school_id")),
                    "distance_m": entry.get("cost"),
                    "why": entry.get("why"),
                    "cutoff": entry.get("cutoff"),
                    "vi": sentence,
                }
                for entry, sentence in zip(
                    explanation.get("passed_over", []), vietnamese["passed_over"], strict=True
                )
            ],
        },
    }
