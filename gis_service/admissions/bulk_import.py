"""An applicant file stored with a few set-based statements: rows copied into a temporary
table, homes' units, earlier places and stated units found in one query each, verdicts
decided in Python by the same rules, applications written by one INSERT … ON CONFLICT."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg2.errors

from gis_service.admissions.applications import (
    IMPORT_OVERWRITE,
    already_placed,
    judge,
    reasons_json,
)
from gis_service.admissions.eligibility import Eligibility
from gis_service.admissions.residence import MATCH, MISMATCH, UNKNOWN_UNIT, ResidenceCheck
from gis_service.admissions.rounds import Round
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import InvalidRequestError
from gis_service.importers.report import ProgressCallback
from gis_service.units.lookup import resolve_unit


@dataclass
class ParsedRows:
    """The checked rows of a file, column by column, in the file's order."""

    hashes: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    births: list[date] = field(default_factory=list)
    lons: list[float] = field(default_factory=list)
    lats: list[float] = field(default_factory=list)
    addresses: list[str | None] = field(default_factory=list)
    ward_hints: list[str | None] = field(default_factory=list)
    groups: list[str | None] = field(default_factory=list)
    preferences: list[list[int]] = field(default_factory=list)
    stated: list[str | None] = field(default_factory=list)

    def add(
        self,
        *,
        hashed: str,
        line: int,
        born: date,
        lon: float,
        lat: float,
        address: str | None,
        ward_hint: str | None,
        group: str | None,
        preferences: list[int],
        stated: str | None,
    ) -> None:
        self.hashes.append(hashed)
        self.lines.append(line)
        self.births.append(born)
        self.lons.append(lon)
        self.lats.append(lat)
        self.addresses.append(address)
        self.ward_hints.append(ward_hint)
        self.groups.append(group)
        self.preferences.append(preferences)
        self.stated.append(stated)

    def __len__(self) -> int:
        return len(self.hashes)


@dataclass
class BulkOutcome:
    """What the stored rows add to the import's report."""

    eligible: int = 0
    conflicts: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    residence: Counter[str] = field(default_factory=Counter)


class Estimate:
    """Progress of a long step with the time left, at most every `every` seconds."""

    def __init__(
        self, progress: ProgressCallback, label: str, total: int, every: float = 2.0
    ) -> None:
        self.progress = progress
        self.label = label
        self.total = total
        self.every = every
        self.started = self._last = time.perf_counter()

    def at(self, done: int) -> None:
        now = time.perf_counter()
        if now - self._last < self.every or done <= 0:
            return
        self._last = now
        left = (now - self.started) / done * max(self.total - done, 0)
        self.progress(
            f"{self.label}: {done:,}/{self.total:,}, còn khoảng {left:.0f} s / "
            f"about {left:.0f} s left"
        )


_ROWS_TABLE = """
    CREATE TEMPORARY TABLE import_rows (
        n integer PRIMARY KEY, hash text NOT NULL, line integer NOT NULL, born date NOT NULL,
        lon double precision NOT NULL, lat double precision NOT NULL, address text,
        ward_hint text, grp text, prefs integer[] NOT NULL, stated text,
        pt geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326))
            STORED
    ) ON COMMIT DROP
"""
_COPY_ROWS = (
    "COPY import_rows (n, hash, line, born, lon, lat, address, ward_hint, grp, prefs, stated) "
    "FROM STDIN WITH (FORMAT csv)"
)

_HOME_UNITS = """
    SELECT DISTINCT ON (h.n) h.n, u.code, u.name
    FROM admin_units u
    CROSS JOIN LATERAL (SELECT i.n FROM import_rows i WHERE ST_Covers(u.geom, i.pt) OFFSET 0) h
    WHERE u.level = 'ward' AND u.edition = %(edition)s
    ORDER BY h.n, u.id
"""
"""The unit of the round's edition covering each home (the lowest id when several do), as
`home_facts` finds it one home at a time. Unit by unit (OFFSET 0 keeps the subquery apart),
so each unit's polygon is prepared once for all the homes it is tested against."""

_EARLIER_PLACES = """
    SELECT i.n, min(r.id) FROM import_rows i
    JOIN applicants p ON p.child_id_hash = i.hash
    JOIN assignments x ON x.applicant_id = p.id AND x.school_id IS NOT NULL
    JOIN allocation_runs run ON run.id = x.run_id AND run.published_at IS NOT NULL
    JOIN rounds r ON r.id = run.round_id
    WHERE r.grade = %(grade)s AND r.school_year = %(year)s AND r.id <> %(round)s
    GROUP BY i.n
"""

_STATED_DISTANCES = """
    SELECT d.n, c.unit_id, c.rank, d.metres
    FROM unnest(%(texts)s::text[], %(units)s::integer[], %(ranks)s::integer[])
         AS c(stated, unit_id, rank)
    JOIN admin_units u ON u.id = c.unit_id
    CROSS JOIN LATERAL (
        SELECT i.n, CASE WHEN ST_Covers(u.geom, i.pt) THEN 0
                         ELSE ST_Distance(u.geom::geography, i.pt::geography) END AS metres
        FROM import_rows i WHERE i.stated = c.stated OFFSET 0) d
"""
"""How far each home with a known stated unit lies from every unit the text may mean (0
inside), measured as ResidenceChecker measures; unit by unit, so each unit's shape is
prepared once for all the homes measured against it."""

_APPLICANTS = """
    INSERT INTO applicants (child_id_hash, sibling_group, guardian_id)
    SELECT hash, NULL, NULL FROM import_rows ORDER BY n
    ON CONFLICT (child_id_hash) DO NOTHING
"""

_VERDICTS_TABLE = """
    CREATE TEMPORARY TABLE import_verdicts (
        n integer PRIMARY KEY, applicant_id integer NOT NULL, status text NOT NULL,
        reasons jsonb NOT NULL, ward text, claim text, stated_unit_id integer,
        residence text, stated_distance real
    ) ON COMMIT DROP
"""
_COPY_VERDICTS = (
    "COPY import_verdicts (n, applicant_id, status, reasons, ward, claim, stated_unit_id, "
    "residence, stated_distance) FROM STDIN WITH (FORMAT csv)"
)

_APPLICATIONS = (
    """
    INSERT INTO applications (round_id, applicant_id, preferences, status, rejection_reasons,
                              source_line, birth_date, home, home_address, ward_id,
                              priority_group, priority_status, sibling_group, stated_unit,
                              stated_unit_id, residence_check, stated_unit_distance_m)
    SELECT %(round)s, v.applicant_id, i.prefs, v.status, v.reasons, i.line, i.born,
           ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326), i.address, w.id,
           i.grp, v.claim, NULL, i.stated, v.stated_unit_id, v.residence, v.stated_distance
    FROM import_rows i JOIN import_verdicts v ON v.n = i.n
    -- (edition, level, code) is unique: one unit or none, joined once for all rows.
    LEFT JOIN admin_units w ON w.level = 'ward' AND w.edition = %(edition)s AND w.code = v.ward
    ORDER BY i.n
    """
    + IMPORT_OVERWRITE
    + """
    RETURNING applicant_id
"""
)
"""The same columns and the same overwrite as `save_application(replace=True)`: a parent's
own application is never overwritten (its row is not returned)."""

_KEPT = """
    SELECT a.applicant_id, a.id, a.status, a.rejection_reasons, a.birth_date, ST_X(a.home),
           ST_Y(a.home), a.home_address, w.code, a.priority_group, a.preferences, a.stated_unit
    FROM applications a LEFT JOIN admin_units w ON w.id = a.ward_id
    WHERE a.round_id = %s AND a.applicant_id = ANY(%s)
"""


_ANALYZE_FROM = 10_000
"""Rows of an import after which the tables' statistics are refreshed at once."""


def _copy(conn: Connection, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """COPY rows (None as NULL; no value is ever an empty string)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    buffer.seek(0)
    with conn.cursor() as cur:
        cur.copy_expert(statement, buffer)


def _array(values: list[int]) -> str:
    return "{" + ",".join(str(v) for v in values) + "}"


def _checked(stop: threading.Event | None, message: str) -> Callable[[], None]:
    def check() -> None:
        if stop is not None and stop.is_set():
            raise InvalidRequestError(message)

    return check


def store_rows(
    conn: Connection,
    the_round: Round,
    rows: ParsedRows,
    *,
    source_file: str,
    actor: str,
    progress: ProgressCallback,
    stop: threading.Event | None = None,
    abandoned: str = "",
) -> BulkOutcome:
    """Store every checked row as `save_application(replace=True)` would one at a time: the
    same verdicts, reasons, units, residence checks and conflicts with parents' own
    applications. `stop` is looked at between the steps."""
    check_stop = _checked(stop, abandoned)
    count = len(rows)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS pg_temp.import_rows, pg_temp.import_verdicts")
        cur.execute(_ROWS_TABLE)
    _copy(
        conn,
        _COPY_ROWS,
        [
            (
                n,
                rows.hashes[n],
                rows.lines[n],
                rows.births[n].isoformat(),
                repr(rows.lons[n]),
                repr(rows.lats[n]),
                rows.addresses[n],
                rows.ward_hints[n],
                rows.groups[n],
                _array(rows.preferences[n]),
                rows.stated[n],
            )
            for n in range(count)
        ],
    )
    with conn.cursor() as cur:
        cur.execute("CREATE INDEX ON import_rows USING gist (pt)")
        cur.execute("CREATE INDEX ON import_rows (hash)")
        cur.execute("CREATE INDEX ON import_rows (stated)")
        cur.execute("ANALYZE import_rows")
        check_stop()
        progress(f"tìm phường/xã của {count:,} nơi ở / finding the units of {count:,} homes")
        cur.execute(_HOME_UNITS, {"edition": the_round.edition})
        home_unit = {int(n): (code, name) for n, code, name in cur.fetchall()}
        cur.execute(
            _EARLIER_PLACES,
            {
                "grade": the_round.grade,
                "year": the_round.school_year,
                "round": the_round.round_id,
            },
        )
        earlier = {int(n): int(round_id) for n, round_id in cur.fetchall()}
    check_stop()
    residence = _check_stated_units(conn, rows)
    check_stop()
    with conn.cursor() as cur:
        cur.execute(_APPLICANTS)
        cur.execute(
            "SELECT i.n, p.id FROM import_rows i JOIN applicants p ON p.child_id_hash = i.hash"
        )
        applicant_of = {int(n): int(applicant_id) for n, applicant_id in cur.fetchall()}
    # Verdicts: the same rules through the same function, once per distinct set of facts
    # (a city's children share a few thousand: birth dates, units, groups).
    verdicts: list[Eligibility] = []
    stored_reasons: list[str] = []
    wards: list[str | None] = []
    judged: dict[tuple[Any, ...], tuple[Eligibility, str]] = {}
    estimate = Estimate(progress, "xét điều kiện / judging eligibility", count)
    for n in range(count):
        found = home_unit.get(n)
        ward, name = found if found else (rows.ward_hints[n], None)
        facts = (rows.births[n], ward, name, rows.groups[n], earlier.get(n))
        verdict = judged.get(facts)
        if verdict is None:
            placed = None if facts[4] is None else already_placed(facts[4])
            # An officer's file: a claimed group counts as checked.
            made = judge(
                the_round,
                birth_date=facts[0],
                ward=ward,
                counted_group=facts[3],
                placed=placed,
                ward_name=name,
            )
            verdict = judged[facts] = (made, json.dumps(reasons_json(made), ensure_ascii=False))
        verdicts.append(verdict[0])
        stored_reasons.append(verdict[1])
        wards.append(ward)
        if n % 10_000 == 0:
            estimate.at(n)
    check_stop()
    with conn.cursor() as cur:
        cur.execute(_VERDICTS_TABLE)
    _copy(
        conn,
        _COPY_VERDICTS,
        [
            (
                n,
                applicant_of[n],
                "eligible" if verdicts[n].eligible else "rejected",
                stored_reasons[n],
                wards[n],
                None if rows.groups[n] is None else "verified",
                residence[n].stated_unit_id,
                residence[n].check,
                None if residence[n].distance_m is None else repr(residence[n].distance_m),
            )
            for n in range(count)
        ],
    )
    progress(f"lưu {count:,} hồ sơ / storing {count:,} applications")
    with conn.cursor() as cur:
        cur.execute(_APPLICATIONS, {"round": the_round.round_id, "edition": the_round.edition})
        written = {int(row[0]) for row in cur.fetchall()}
        cur.execute("DROP TABLE pg_temp.import_rows, pg_temp.import_verdicts")
    if count >= _ANALYZE_FROM:
        _refresh_statistics(conn)
    outcome = BulkOutcome()
    kept = [n for n in range(count) if applicant_of[n] not in written]
    for n in range(count):
        if applicant_of[n] in written:
            outcome.eligible += verdicts[n].eligible
            outcome.reasons.update(r.code for r in verdicts[n].reasons)
            checked = residence[n].check
            if checked:
                outcome.residence[checked] += 1
    if kept:
        _keep_parents_applications(
            conn,
            the_round,
            rows,
            kept,
            applicant_of,
            wards,
            residence,
            source_file,
            actor,
            outcome,
        )
    return outcome


def _refresh_statistics(conn: Connection) -> None:
    """The planner learns the round's new size now, not at autovacuum's next visit: the run,
    its export and the officer's lists plan on it minutes from now. Skipped when another
    transaction is refreshing them (ANALYZE waits for ANALYZE until that one ends)."""
    with conn.cursor() as cur:
        cur.execute("SHOW lock_timeout")
        was = cur.fetchone()[0]  # type: ignore[index]
        try:
            with savepoint(conn):
                cur.execute("SET LOCAL lock_timeout = '100ms'")
                cur.execute("ANALYZE applications, applicants")
                cur.execute("SELECT set_config('lock_timeout', %s, true)", (was,))
        except psycopg2.errors.LockNotAvailable:
            pass  # the savepoint's rollback undid the SET LOCAL too


def _check_stated_units(conn: Connection, rows: ParsedRows) -> list[ResidenceCheck]:
    """Every row's stated unit against its home: each distinct text resolved once, the
    distances from all homes to their candidate units in one query."""
    texts = sorted({text for text in rows.stated if text is not None})
    resolved = {text: resolve_unit(conn, text) for text in texts}
    flat_texts: list[str] = []
    flat_units: list[int] = []
    flat_ranks: list[int] = []
    for text, candidates in resolved.items():
        for rank, unit in enumerate(candidates):
            flat_texts.append(text)
            flat_units.append(unit.id)
            flat_ranks.append(rank)
    nearest: dict[int, tuple[int, float]] = {}
    if flat_texts:
        with conn.cursor() as cur:
            cur.execute(
                _STATED_DISTANCES,
                {"texts": flat_texts, "units": flat_units, "ranks": flat_ranks},
            )
            measured = cur.fetchall()
        # The nearest candidate, the earlier in resolve_unit's order on a tie (as min() does).
        best: dict[int, tuple[float, int, int]] = {}
        for n, unit_id, rank, metres in measured:
            here = (float(metres), int(rank), int(unit_id))
            if n not in best or here[:2] < best[n][:2]:
                best[n] = here
        nearest = {n: (unit_id, metres) for n, (metres, _, unit_id) in best.items()}
    checks: list[ResidenceCheck] = []
    for n, written in enumerate(rows.stated):
        if written is None:
            checks.append(ResidenceCheck())
        elif not resolved[written]:
            checks.append(ResidenceCheck(written, None, UNKNOWN_UNIT))
        elif n in nearest:
            unit_id, metres = nearest[n]
            metres = round(metres, 1)
            check = MATCH if metres == 0 else MISMATCH
            checks.append(ResidenceCheck(written, unit_id, check, metres))
        else:
            # No candidate has a geometry: as ResidenceChecker, the first, infinitely far.
            checks.append(ResidenceCheck(written, resolved[written][0].id, MISMATCH, float("inf")))
    return checks


def _keep_parents_applications(
    conn: Connection,
    the_round: Round,
    rows: ParsedRows,
    kept: list[int],
    applicant_of: dict[int, int],
    wards: list[str | None],
    residence: list[ResidenceCheck],
    source_file: str,
    actor: str,
    outcome: BulkOutcome,
) -> None:
    """Rows that met a parent's own application: it stays; the fields the file states
    differently are listed for the officer, as `_keep_parents_application` lists them."""
    with conn.cursor() as cur:
        cur.execute(_KEPT, (the_round.round_id, [applicant_of[n] for n in kept]))
        stored = {int(row[0]): row[1:] for row in cur.fetchall()}
    conflicts: list[tuple[int, int, list[str]]] = []
    for n in kept:
        (application_id, status, reasons, born, lon, lat, address, ward, group, preferences) = (
            stored[applicant_of[n]][:10]
        )
        stated_unit = stored[applicant_of[n]][10]
        compared = {
            "birth_date": (born, rows.births[n]),
            "home": (
                (round(lon, 6), round(lat, 6)),
                (round(rows.lons[n], 6), round(rows.lats[n], 6)),
            ),
            "address": (address, rows.addresses[n]),
            "ward": (ward, wards[n]),
            "priority_group": (group, rows.groups[n]),
            "preferences": (list(preferences), rows.preferences[n]),
            "stated_unit": (stated_unit, residence[n].stated),
        }
        differ = [name for name, (was, filed) in compared.items() if was != filed]
        if differ:
            conflicts.append((int(application_id), rows.lines[n], differ))
            outcome.conflicts += 1
        kept_reasons = [r["code"] for r in reasons]
        assert (status == "eligible") == (not kept_reasons)
        outcome.eligible += status == "eligible"
        outcome.reasons.update(kept_reasons)
    if conflicts:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO application_conflicts (round_id, application_id, source_file, "
                "source_line, fields, actor) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (the_round.round_id, application_id, source_file, line, differ, actor)
                    for application_id, line, differ in conflicts
                ],
            )
