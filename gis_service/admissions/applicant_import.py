"""Applicants from an officer's CSV file: each row checked and stored as an application."""

from __future__ import annotations

import math
import threading
from collections import Counter
from datetime import date
from pathlib import Path

from gis_service import audit
from gis_service.admissions.applicant_file import ABANDONED, COLUMNS, check_applicant_file
from gis_service.admissions.applications import ApplicationEntry, save_application
from gis_service.admissions.bulk_import import BulkOutcome, Estimate, ParsedRows, store_rows
from gis_service.admissions.eligibility import check_priority_group
from gis_service.admissions.identity import child_id_hasher
from gis_service.admissions.lifecycle import Action, lock_round
from gis_service.admissions.residence import ResidenceChecker, clean_stated_unit
from gis_service.admissions.rounds import Round
from gis_service.config import ImportSettings
from gis_service.db.connection import Connection, limit_statement_time, savepoint
from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.geocoding.search import MAX_ADDRESS_UNCERTAINTY_M, AddressPlacer
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress


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
    limits: ImportSettings | None = None,
    stop: threading.Event | None = None,
    source_name: str | None = None,
    row_by_row: bool = False,
) -> ImportReport:
    """Add a round's applicants and their applications, each checked for eligibility.

    Rows that break the file (no id, a bad date or coordinate, a repeated child) stop the
    import with the line named; applicants who are simply not eligible are kept as rejected
    applications with every reason, so officers and parents can see why.

    The file is checked in one streaming pass before the round is locked or anything is
    written (`limits`: the most rows, and the longest one statement may run; from the
    environment when not given), then read again one row at a time and checked row by row;
    the rows are then stored with a few set-based statements (`bulk_import`), or one at a
    time through `save_application` with `row_by_row` (the same result, much slower). Setting
    `stop` from another thread ends the import at the next row or step with
    InvalidRequestError. `source_name` is the file's name as the officer knows it (an
    upload's), for the conflicts listed.
    """
    report = ImportReport("applicants", str(path))
    limits = limits or ImportSettings()
    # Checked before the round is locked: a wrong file costs no lock, no write, one pass.
    rows = check_applicant_file(path, limits.max_applicants, stop)
    limit_statement_time(conn, limits.statement_timeout_s)
    the_round = lock_round(conn, round_id, Action.IMPORT)
    header = set(rows.header)
    with conn.cursor() as cur:
        cur.execute("SELECT code, id FROM schools WHERE code IS NOT NULL")
        school_by_code = {code: sid for code, sid in cur.fetchall()}
    seen: dict[str, int] = {}
    sibling_pairs: list[tuple[str, str]] = []
    homes = AddressPlacer()
    unplaced: list[str] = []
    from_address: Counter[str] = Counter()
    parsed = ParsedRows()
    entries: list[tuple[int, ApplicationEntry]] = []
    progress(f"checking {len(rows):,} applicants")
    estimate = Estimate(progress, "đọc tệp / reading the file", len(rows))
    hashed_id = child_id_hasher(key)
    # Each field's column in this file, found once (a file may name it in either language).
    present = [
        (name, next(c for c in columns if c in header))
        for name, columns in COLUMNS.items()
        if any(c in header for c in columns)
    ]
    with savepoint(conn), conn.cursor() as cur:
        for line, row in rows:
            given = {name: (row.get(column) or "").strip() for name, column in present}
            child = given.get("child_id", "")
            if not child:
                raise ImportFileError(path, f"line {line}: child_id is empty")
            hashed = hashed_id(child)
            if hashed in seen:
                raise ImportFileError(path, f"line {line}: the same child as line {seen[hashed]}")
            seen[hashed] = line
            if len(seen) % 10_000 == 0:
                estimate.at(len(seen))
            birth_text = given.get("birth_date", "")
            try:
                born = date.fromisoformat(birth_text)
            except ValueError:
                raise ImportFileError(
                    path, f"line {line}: birth_date {birth_text!r} is not YYYY-MM-DD"
                ) from None
            lon = _coordinate(path, line, given.get("lon", ""), "lon", 180.0)
            lat = _coordinate(path, line, given.get("lat", ""), "lat", 90.0)
            address = given.get("address") or None
            if lon is None or lat is None:
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
            for code in filter(None, (p.strip() for p in given.get("preferences", "").split(";"))):
                if code not in school_by_code:
                    raise ImportFileError(path, f"line {line}: no school with code {code}")
                preferences.append(school_by_code[code])
            group = _priority_group(path, line, given.get("priority_group", ""))
            stated = _stated_unit(path, line, given.get("stated_unit", ""))
            ward_hint = given.get("ward") or None
            if row_by_row:
                entry = ApplicationEntry(
                    child_id=child,
                    birth_date=born,
                    lon=lon,
                    lat=lat,
                    address=address,
                    ward_hint=ward_hint,
                    priority_group=group,
                    preferences=tuple(preferences),
                    stated_unit=stated,
                )
                entries.append((line, entry))
            else:
                parsed.add(
                    hashed=hashed,
                    line=line,
                    born=born,
                    lon=lon,
                    lat=lat,
                    address=address,
                    ward_hint=ward_hint,
                    group=group,
                    preferences=preferences,
                    stated=stated,
                )
            sibling = given.get("sibling_id")
            if sibling:
                sibling_pairs.append((hashed, hashed_id(sibling)))
        if unplaced:
            shown = "; ".join(unplaced[:10]) + ("; …" if len(unplaced) > 10 else "")
            raise ImportFileError(
                path,
                f"{len(unplaced)} home(s) could not be placed within "
                f"{MAX_ADDRESS_UNCERTAINTY_M} m from their address: {shown}. Give lon and lat "
                "for these lines, or a fuller address (house number, street, ward)",
            )
        source_file = source_name or path.name
        if row_by_row:
            outcome = _store_row_by_row(
                conn, the_round, entries, key, source_file=source_file, actor=actor, stop=stop
            )
        else:
            outcome = store_rows(
                conn,
                the_round,
                parsed,
                source_file=source_file,
                actor=actor,
                progress=progress,
                stop=stop,
                abandoned=ABANDONED,
            )
        groups = sibling_groups(sibling_pairs)
        if groups:
            # The file's groups hold for this round's applications it stored; a parent's own
            # application and other rounds keep theirs.
            names = [name for name, members in groups.items() for _ in members]
            members = [member for group in groups.values() for member in group]
            cur.execute(
                "UPDATE applications a SET sibling_group = g.name "
                "FROM applicants p, unnest(%s::text[], %s::text[]) AS g(name, member) "
                "WHERE p.child_id_hash = g.member AND p.id = a.applicant_id "
                "AND a.round_id = %s AND a.submitted_by IS NULL",
                (names, members, round_id),
            )
    eligible = outcome.eligible
    report.counts = {
        "applicants": len(rows),
        "eligible": eligible,
        "not eligible": len(rows) - eligible,
        "sibling groups": len(groups),
        "conflicts with parents' applications": outcome.conflicts,
    }
    report.counts.update(
        {f"stated unit: {check}": n for check, n in sorted(outcome.residence.items())}
    )
    report.counts.update({f"reason: {code}": n for code, n in sorted(outcome.reasons.items())})
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


def _store_row_by_row(
    conn: Connection,
    the_round: Round,
    entries: list[tuple[int, ApplicationEntry]],
    key: bytes,
    *,
    source_file: str,
    actor: str,
    stop: threading.Event | None,
) -> BulkOutcome:
    """Each checked row stored on its own through `save_application` (the reference the bulk
    path is compared with)."""
    outcome = BulkOutcome()
    residence = ResidenceChecker(conn)
    for line, entry in entries:
        if stop is not None and stop.is_set():
            raise InvalidRequestError(ABANDONED)
        saved = save_application(
            conn,
            the_round,
            entry,
            key,
            replace=True,
            source_line=line,
            source_file=source_file,
            actor=actor,
            residence=residence,
        )
        if saved.residence_check:
            outcome.residence[saved.residence_check] += 1
        outcome.conflicts += bool(saved.conflict)
        outcome.eligible += saved.verdict.eligible
        outcome.reasons.update(r.code for r in saved.verdict.reasons)
    return outcome


def _stated_unit(path: Path, line: int, text: str) -> str | None:
    try:
        return clean_stated_unit(text)
    except InvalidRequestError as exc:
        raise ImportFileError(path, f"line {line}: {exc}") from None


def _priority_group(path: Path, line: int, text: str) -> str | None:
    """The row's claimed priority group, one of the listed groups or none."""
    try:
        return check_priority_group(text)
    except InvalidRequestError as exc:
        raise ImportFileError(path, f"line {line}: {exc}") from None


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
