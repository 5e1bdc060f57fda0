"""Admission rounds: create one for a grade, year and area; import its applicants from a CSV."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gis_service import audit
from gis_service.admissions.eligibility import ENTRY_AGE
from gis_service.admissions.identity import child_id_hash
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import (
    ConflictError,
    ImportFileError,
    InvalidRequestError,
    NotFoundError,
)
from gis_service.geocoding.search import MAX_ADDRESS_UNCERTAINTY_M, AddressPlacer
from gis_service.importers.csvfile import read_csv_rows
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress

# Column names accepted for each field of an applicant file (the first found is used).
COLUMNS = {
    "child_id": ("child_id", "ma_dinh_danh"),
    "birth_date": ("birth_date", "ngay_sinh"),
    "lon": ("lon", "longitude"),
    "lat": ("lat", "latitude"),
    "address": ("address", "dia_chi"),
    "ward": ("ward", "ward_code", "ma_phuong"),
    "priority_group": ("priority_group", "doi_tuong_uu_tien"),
    "sibling_id": ("sibling_id", "sibling_of"),
    "preferences": ("preferences", "nguyen_vong"),
}


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


def admission_year_of(school_year: str) -> int:
    """'2025-2026' (or '2025') -> 2025."""
    head = school_year.strip().split("-")[0]
    if not head.isdigit() or len(head) != 4:
        raise InvalidRequestError(f"school year {school_year!r} is not like 2025-2026")
    return int(head)


def create_round(
    conn: Connection,
    *,
    name: str,
    grade: int,
    school_year: str,
    districts: list[str] | None = None,
    wards: list[str] | None = None,
    round_number: int = 1,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Round:
    """A new draft round whose area is the given districts' wards and the given wards."""
    if grade not in ENTRY_AGE:
        raise InvalidRequestError(f"a round admits grade 1 or grade 6, not grade {grade}")
    year = admission_year_of(school_year)
    if not districts and not wards:
        raise InvalidRequestError("give the round's area: one or more districts or wards")
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.id, w.code FROM admin_units w
            LEFT JOIN admin_units d ON d.id = w.parent_id
            WHERE w.level = 'ward' AND (w.code = ANY(%s) OR d.code = ANY(%s))
            ORDER BY w.code
            """,
            (wards or [], districts or []),
        )
        found = cur.fetchall()
        known = {code for _, code in found}
        cur.execute(
            "SELECT code FROM admin_units WHERE level = 'district' AND code = ANY(%s)",
            (districts or [],),
        )
        known_districts = {row[0] for row in cur.fetchall()}
        unknown = sorted(set(wards or []) - known) + sorted(set(districts or []) - known_districts)
        if unknown:
            raise NotFoundError(f"unknown ward or district code(s): {', '.join(unknown)}")
        cur.execute(
            """
            INSERT INTO rounds (name, grade, school_year, admission_year, round_number,
                                area_unit_ids)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING id
            """,
            (name, grade, school_year, year, round_number, [i for i, _ in found]),
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
            "wards": list(created.ward_codes),
        },
        remote_addr=remote_addr,
    )
    return created


ROUND_COLUMNS = """
    r.id, r.name, r.grade, r.school_year, r.admission_year, r.round_number, r.status,
    ARRAY(SELECT code FROM admin_units WHERE id = ANY(r.area_unit_ids) ORDER BY code)
"""
"""The columns of `rounds r` that `round_from_row` reads, for queries that also read others."""


def round_from_row(row: tuple[Any, ...], round_id: int) -> Round:
    """The round in ROUND_COLUMNS' values (all NULL when no round matched: not found)."""
    if row[0] is None:
        raise NotFoundError(f"no round with id {round_id}")
    return Round(
        int(row[0]), row[1], int(row[2]), row[3], int(row[4]), int(row[5]), tuple(row[7]), row[6]
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


# Which status a round may move to from which: officers open a draft (or reopen a closed
# round) for applications, and close an open one before running it.
TRANSITIONS = {"open": ("draft", "closed"), "closed": ("open",)}


def set_round_status(
    conn: Connection,
    round_id: int,
    status: str,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> Round:
    """Open a round for applications or close it, from the states that allow it."""
    if status not in TRANSITIONS:
        raise InvalidRequestError(f"a round can be set open or closed, not {status!r}")
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM rounds WHERE id = %s FOR UPDATE", (round_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no round with id {round_id}")
        if row[0] not in TRANSITIONS[status]:
            raise ConflictError(
                f"Đợt {round_id} đang ở trạng thái {row[0]}, không chuyển sang {status} được / "
                f"round {round_id} is {row[0]}; only a {' or '.join(TRANSITIONS[status])} round "
                f"can be made {status}"
            )
        stamp = "opens_at" if status == "open" else "closes_at"
        cur.execute(
            f"UPDATE rounds SET status = %s, {stamp} = now() WHERE id = %s", (status, round_id)
        )
    audit.record(
        conn,
        actor=actor,
        action=f"round.{'open' if status == 'open' else 'close'}",
        target=f"round:{round_id}",
        detail={"from": row[0]},
        remote_addr=remote_addr,
    )
    return load_round(conn, round_id)


def _field(row: dict[str, str], header: set[str], name: str) -> str:
    for column in COLUMNS[name]:
        if column in header:
            return (row.get(column) or "").strip()
    return ""


def _coordinate(path: Path, line: int, text: str, name: str, bound: float) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ImportFileError(path, f"line {line}: {name} is {text!r}, not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise ImportFileError(path, f"line {line}: {name} {value} is out of range")
    return value


def import_applicants(
    conn: Connection,
    round_id: int,
    path: Path,
    key: bytes,
    progress: ProgressCallback = print_progress,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> ImportReport:
    """Add a round's applicants and their applications, each checked for eligibility.

    Rows that break the file (no id, a bad date or coordinate, a repeated child) stop the
    import with the line named; applicants who are simply not eligible are kept as rejected
    applications with every reason, so officers and parents can see why.
    """
    # Imported here: the shared per-child code reads rounds through this module.
    from gis_service.admissions.applications import ApplicationEntry, save_application

    report = ImportReport("applicants", str(path))
    the_round = load_round(conn, round_id)
    header_list, rows = read_csv_rows(path)
    header = set(header_list)
    missing = [
        name for name in ("child_id", "birth_date") if not any(c in header for c in COLUMNS[name])
    ]
    if missing:
        raise ImportFileError(path, f"missing column(s) {', '.join(missing)}")
    if not any(c in header for c in COLUMNS["lon"]) and not any(
        c in header for c in COLUMNS["address"]
    ):
        raise ImportFileError(path, "give each home as lon and lat columns (or an address)")
    with conn.cursor() as cur:
        cur.execute("SELECT code, id FROM schools WHERE code IS NOT NULL")
        school_by_code = {code: sid for code, sid in cur.fetchall()}
    seen: dict[str, int] = {}
    sibling_pairs: list[tuple[str, str]] = []
    reasons_count: Counter[str] = Counter()
    eligible = 0
    homes = AddressPlacer()
    unplaced: list[str] = []
    from_address: Counter[str] = Counter()
    progress(f"checking {len(rows):,} applicants")
    with savepoint(conn), conn.cursor() as cur:
        for line, row in enumerate(rows, start=2):
            child = _field(row, header, "child_id")
            if not child:
                raise ImportFileError(path, f"line {line}: child_id is empty")
            hashed = child_id_hash(child, key)
            if hashed in seen:
                raise ImportFileError(path, f"line {line}: the same child as line {seen[hashed]}")
            seen[hashed] = line
            birth_text = _field(row, header, "birth_date")
            try:
                born = date.fromisoformat(birth_text)
            except ValueError:
                raise ImportFileError(
                    path, f"line {line}: birth_date {birth_text!r} is not YYYY-MM-DD"
                ) from None
            lon = _coordinate(path, line, _field(row, header, "lon"), "lon", 180.0)
            lat = _coordinate(path, line, _field(row, header, "lat"), "lat", 90.0)
            if lon is None or lat is None:
                address = _field(row, header, "address")
                if not address:
                    raise ImportFileError(
                        path,
                        f"line {line}: the home has neither coordinates (lon, lat) nor an address",
                    )
                placed = homes.place(conn, address)
                if placed.point is None:
                    unplaced.append(f"line {line} {address!r} ({placed.found})")
                    continue
                lon, lat = placed.point
                from_address[placed.precision or "unknown"] += 1
            preferences = []
            for code in filter(
                None, (p.strip() for p in _field(row, header, "preferences").split(";"))
            ):
                if code not in school_by_code:
                    raise ImportFileError(path, f"line {line}: no school with code {code}")
                preferences.append(school_by_code[code])
            entry = ApplicationEntry(
                child_id=child,
                birth_date=born,
                lon=lon,
                lat=lat,
                address=_field(row, header, "address") or None,
                ward_hint=_field(row, header, "ward") or None,
                priority_group=_field(row, header, "priority_group") or None,
                preferences=tuple(preferences),
            )
            verdict = save_application(
                conn, the_round, entry, key, replace=True, source_line=line
            ).verdict
            sibling = _field(row, header, "sibling_id")
            if sibling:
                sibling_pairs.append((hashed, child_id_hash(sibling, key)))
            eligible += verdict.eligible
            reasons_count.update(r.code for r in verdict.reasons)
        if unplaced:
            shown = "; ".join(unplaced[:10]) + ("; …" if len(unplaced) > 10 else "")
            raise ImportFileError(
                path,
                f"{len(unplaced)} home(s) could not be placed within "
                f"{MAX_ADDRESS_UNCERTAINTY_M} m from their address: {shown}. Give lon and lat "
                "for these lines, or a fuller address (house number, street, ward)",
            )
        groups = sibling_groups(sibling_pairs)
        for group_id, members in groups.items():
            cur.execute(
                "UPDATE applicants SET sibling_group = %s WHERE child_id_hash = ANY(%s)",
                (group_id, members),
            )
    report.counts = {
        "applicants": len(rows),
        "eligible": eligible,
        "not eligible": len(rows) - eligible,
        "sibling groups": len(groups),
    }
    report.counts.update({f"reason: {code}": n for code, n in sorted(reasons_count.items())})
    report.counts.update(
        {f"home from address: {precision}": n for precision, n in sorted(from_address.items())}
    )
    audit.record(
        conn,
        actor=actor,
        action="round.import_applicants",
        target=f"round:{round_id}",
        detail={"file": path.name, **report.counts},
        remote_addr=remote_addr,
    )
    return report.finish()


def sibling_groups(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Children linked by sibling pairs, directly or through others, as groups.

    A group is named by the first 16 characters of its smallest member hash, so the name does
    not depend on the order of the file.
    """
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[str, list[str]] = {}
    for child in parent:
        members.setdefault(root(child), []).append(child)
    return {name[:16]: sorted(group) for name, group in members.items()}
