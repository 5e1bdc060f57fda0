"""Import an official school registry CSV: match schools by code, else by name and distance."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.importers.csvfile import read_csv_rows
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress
from gis_service.importers.sql import assign_school_wards
from gis_service.safe_text import describe_character, find_control_character
from gis_service.school_levels import (
    levels_from_name,
    normalise_school_name,
    parse_levels,
    school_search_text,
)
from gis_service.text import fold_text

REQUIRED_COLUMNS = ("name", "lon", "lat")
OWNERSHIPS = {
    "public": "public",
    "cong lap": "public",
    "private": "private",
    "tu thuc": "private",
    "dan lap": "private",
    "ngoai cong lap": "private",
}
_GRADE_COLUMN = re.compile(r"^grade_(\d{1,2})_(classes|class_size)$")
# A map school is the same school when within this distance and the names agree this well.
MATCH_RADIUS_M = 300.0
MATCH_MIN_SIMILARITY = 0.75
# Free-text columns that reach people (map, answers, exports) and so must not hide controls.
TEXT_COLUMNS = ("code", "name", "address", "phone")
# A name starting like a spreadsheet formula is never a real school's.
FORMULA_NAME_STARTS = ("=", "+", "@")


@dataclass
class RegistryRow:
    """One registry line, checked."""

    line: int
    code: str | None
    name: str
    levels: tuple[str, ...] | None
    ownership: str | None
    address: str | None
    phone: str | None
    lon: float
    lat: float
    grades: dict[int, tuple[int, int]]


@dataclass(frozen=True)
class Match:
    """How a registry row found its school."""

    line: int
    school_id: int
    how: str
    registry_name: str
    map_name: str
    distance_m: float


def _coordinate(path: Path, line: int, column: str, text: str | None, bound: float) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise ImportFileError(path, f"line {line}: {column} is {text!r}, not a number") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise ImportFileError(path, f"line {line}: {column} {value} is out of range")
    return value


def _check_text(path: Path, line: int, row: dict[str, str]) -> None:
    """Refuse a row whose text hides control characters or whose name is a formula."""
    for column in TEXT_COLUMNS:
        char = find_control_character(row.get(column) or "")
        if char is not None:
            shown = describe_character(char)
            raise ImportFileError(
                path,
                f"dòng {line}: cột {column} có ký tự điều khiển {shown}; hãy xoá ký tự đó / "
                f"line {line}: {column} holds control character {shown}; remove it",
            )
    name = (row.get("name") or "").strip()
    if name.startswith(FORMULA_NAME_STARTS):
        raise ImportFileError(
            path,
            f"dòng {line}: tên trường {name[:40]!r} bắt đầu bằng {name[0]!r} như một công thức "
            f"bảng tính / line {line}: the school name {name[:40]!r} starts with {name[0]!r} "
            "like a spreadsheet formula, not a school's name",
        )


def _count(path: Path, line: int, column: str, text: str) -> int:
    try:
        value = int(float(text))
    except ValueError:
        raise ImportFileError(path, f"line {line}: {column} is {text!r}, not a number") from None
    if value < 0:
        raise ImportFileError(path, f"line {line}: {column} is negative")
    return value


def parse_registry(path: Path) -> list[RegistryRow]:
    """Check every row of the registry; raise on the first bad one, naming its line."""
    parsed: list[RegistryRow] = []
    seen_codes: dict[str, int] = {}
    for line, row in enumerate(read_csv_rows(path, REQUIRED_COLUMNS)[1], start=2):
        _check_text(path, line, row)
        name = (row.get("name") or "").strip()
        if not name:
            raise ImportFileError(path, f"line {line}: name is empty")
        code = (row.get("code") or "").strip() or None
        if code is not None:
            if code in seen_codes:
                raise ImportFileError(
                    path, f"line {line}: code {code} already used on line {seen_codes[code]}"
                )
            seen_codes[code] = line
        levels = None
        if (row.get("levels") or "").strip():
            try:
                levels = parse_levels(row["levels"])
            except ValueError as exc:
                raise ImportFileError(path, f"line {line}: {exc}") from None
        ownership = None
        if (row.get("ownership") or "").strip():
            ownership = OWNERSHIPS.get(fold_text(row["ownership"]))
            if ownership is None:
                raise ImportFileError(
                    path, f"line {line}: ownership {row['ownership']!r} is not public or private"
                )
        grades: dict[int, tuple[int, int]] = {}
        for column, text in row.items():
            match = _GRADE_COLUMN.match(column or "")
            if not match or match.group(2) != "classes" or not (text or "").strip():
                continue
            grade = int(match.group(1))
            if not 1 <= grade <= 12:
                raise ImportFileError(path, f"column {column}: grade {grade} is not 1–12")
            size_text = (row.get(f"grade_{grade}_class_size") or "").strip()
            if not size_text:
                raise ImportFileError(path, f"line {line}: grade_{grade}_class_size is empty")
            size = _count(path, line, f"grade_{grade}_class_size", size_text)
            if size == 0:
                raise ImportFileError(path, f"line {line}: grade_{grade}_class_size is 0")
            grades[grade] = (_count(path, line, column, text), size)
        parsed.append(
            RegistryRow(
                line=line,
                code=code,
                name=name,
                levels=levels,
                ownership=ownership,
                address=(row.get("address") or "").strip() or None,
                phone=(row.get("phone") or "").strip() or None,
                lon=_coordinate(path, line, "lon", row.get("lon"), 180.0),
                lat=_coordinate(path, line, "lat", row.get("lat"), 90.0),
                grades=grades,
            )
        )
    return parsed


_LEVEL_WORDS = re.compile(
    r"\b(tieu hoc|trung hoc co so|trung hoc pho thong|trung hoc|mam non|mau giao|lien cap|va)\b"
)


def _proper_name(name: str) -> str:
    """The part of a school name that tells schools apart: 'tieu hoc le van tho' -> 'le van tho'."""
    normalised = normalise_school_name(name)
    proper = " ".join(_LEVEL_WORDS.sub(" ", normalised).split())
    return proper or normalised


def name_similarity(a: str, b: str) -> float:
    """0..1 agreement of two school names' proper parts; 0 if they name different levels."""
    levels_a, levels_b = levels_from_name(a), levels_from_name(b)
    if levels_a and levels_b and not levels_a & levels_b:
        return 0.0
    return difflib.SequenceMatcher(None, _proper_name(a), _proper_name(b)).ratio()


def _find_match(conn: Connection, row: RegistryRow, taken: set[int]) -> Match | None:
    with conn.cursor() as cur:
        if row.code:
            cur.execute(
                "SELECT id, name, ST_Distance(geom::geography, "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) FROM schools WHERE code = %s",
                (row.lon, row.lat, row.code),
            )
            found = cur.fetchone()
            if found:
                return Match(row.line, found[0], "code", row.name, found[1], float(found[2]))
        cur.execute(
            """
            SELECT id, name, ST_Distance(geom::geography, p::geography) AS metres
            FROM schools, ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS p
            WHERE ST_DWithin(geom::geography, p::geography, %s) AND code IS NULL
            ORDER BY metres
            """,
            (row.lon, row.lat, MATCH_RADIUS_M),
        )
        best: Match | None = None
        best_score = MATCH_MIN_SIMILARITY
        for school_id, map_name, metres in cur.fetchall():
            if school_id in taken:
                continue
            score = name_similarity(row.name, map_name)
            if score >= best_score:
                best_score = score
                best = Match(
                    row.line, school_id, "name and distance", row.name, map_name, float(metres)
                )
        return best


def official_name(registry_name: str, map_name: str) -> str:
    """The registry's name, unless it only abbreviates the map's (TH for Tiểu học): then that."""
    same = normalise_school_name(registry_name) == normalise_school_name(map_name)
    return map_name if same and len(map_name) > len(registry_name) else registry_name


def import_registry(
    conn: Connection, path: Path, progress: ProgressCallback = print_progress
) -> tuple[ImportReport, list[Match]]:
    """Add or update the registry's schools and their classes; return what matched what."""
    report = ImportReport("school registry", str(path))
    rows = parse_registry(path)
    matches: list[Match] = []
    taken: set[int] = set()
    added = 0
    progress(f"matching {len(rows):,} registry schools")
    with savepoint(conn), conn.cursor() as cur:
        for row in rows:
            match = _find_match(conn, row, taken)
            levels = list(row.levels) if row.levels is not None else None
            if match is None:
                cur.execute(
                    """
                    INSERT INTO schools (code, name, name_folded, levels, levels_source,
                                         ownership, address, phone, geom, source)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
                            ST_SetSRID(ST_MakePoint(%s, %s), 4326), 'registry')
                    RETURNING id
                    """,
                    (
                        row.code,
                        row.name,
                        school_search_text(row.name),
                        levels or [],
                        "registry" if levels else "unknown",
                        row.ownership or "unknown",
                        row.address,
                        row.phone,
                        row.lon,
                        row.lat,
                    ),
                )
                school_id = int(cur.fetchone()[0])  # type: ignore[index]
                added += 1
            else:
                school_id = match.school_id
                matches.append(match)
                name = official_name(row.name, match.map_name)
                cur.execute(
                    """
                    UPDATE schools SET code = COALESCE(%s, code), name = %s, name_folded = %s,
                        levels = COALESCE(%s, levels),
                        levels_source = CASE WHEN %s THEN 'registry' ELSE levels_source END,
                        ownership = COALESCE(%s, ownership),
                        address = COALESCE(%s, address), phone = COALESCE(%s, phone),
                        updated_at = now()
                    WHERE id = %s
                    """,
                    (
                        row.code,
                        name,
                        school_search_text(name),
                        levels,
                        levels is not None,
                        row.ownership,
                        row.address,
                        row.phone,
                        school_id,
                    ),
                )
            taken.add(school_id)
            for grade, (classes, size) in sorted(row.grades.items()):
                cur.execute(
                    """
                    INSERT INTO school_grades (school_id, grade, classes, class_size)
                    VALUES (%s, %s, %s, %s)
                    ON CONFLICT (school_id, grade) DO UPDATE
                        SET classes = EXCLUDED.classes, class_size = EXCLUDED.class_size
                    """,
                    (school_id, grade, classes, size),
                )
        located = assign_school_wards(conn)
    by_code = sum(1 for m in matches if m.how == "code")
    report.counts = {
        "registry rows": len(rows),
        "matched by code": by_code,
        "matched by name and distance": len(matches) - by_code,
        "added as new schools": added,
        "grade figures": sum(len(r.grades) for r in rows),
        "schools placed in a ward": located,
    }
    return report.finish(), matches
