"""Import population by age group per district or ward of one unit edition from a CSV."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from psycopg2.extras import execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.importers.csvfile import read_csv_rows
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress
from gis_service.importers.wards import code_text
from gis_service.text import fold_admin_name
from gis_service.units.editions import EDITION_2019, LEVELS_OF, check_edition

# age_0_04, age_05_09, age_85_plus (urban/rural splits such as age_0_04_urban are ignored).
_AGE_COLUMN = re.compile(r"^age_(\d+)_(\d+|plus)$")


@dataclass
class PopulationFields:
    """Which CSV columns identify the unit, the year and the total."""

    level: str = "district"
    code: str | None = None
    name: str | None = None
    province: str | None = None
    year: int | None = None
    year_field: str | None = None
    total: str | None = "total"
    edition: str = EDITION_2019
    """The edition whose units the rows name: codes repeat across editions (26740 is Bến Nghé
    in 2019 and Phường Sài Gòn in 2025), so only units of this edition ever match."""


def age_columns(header: list[str]) -> list[tuple[str, int, int | None]]:
    """(column, age_min, age_max) for each age-group column; age_max None = open-ended."""
    found = []
    for column in header:
        match = _AGE_COLUMN.match(column.strip())
        if match:
            low = int(match.group(1))
            high = None if match.group(2) == "plus" else int(match.group(2))
            found.append((column, low, high))
    return sorted(found, key=lambda c: c[1])


def _number(path: Path, line: int, column: str, text: str) -> int:
    cleaned = text.strip().replace(",", "")
    if cleaned == "":
        return 0
    try:
        value = float(cleaned)
    except ValueError:
        raise ImportFileError(path, f"line {line}: {column} is {text!r}, not a number") from None
    if value < 0:
        raise ImportFileError(path, f"line {line}: {column} is negative")
    return round(value)


def _unit_index(
    conn: Connection, level: str, edition: str
) -> tuple[dict[str, int], dict[tuple[str, str], int], set[tuple[str, str]]]:
    """Units of a level and edition by code, and by (folded province name, folded unit name);
    plus the names that several units share, which never match by name."""
    by_code: dict[str, int] = {}
    by_name: dict[tuple[str, str], int] = {}
    shared: set[tuple[str, str]] = set()
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.id, u.code, u.name, COALESCE(p.name, '')
            FROM admin_units u
            LEFT JOIN admin_units d ON d.id = u.parent_id
            LEFT JOIN admin_units p ON p.id = CASE WHEN d.level = 'province' THEN d.id
                                                   WHEN d.level = 'district' THEN d.parent_id
                                              END
            WHERE u.level = %s AND u.edition = %s
            """,
            (level, edition),
        )
        for unit_id, code, name, province in cur.fetchall():
            by_code[code] = unit_id
            for key in (
                (fold_admin_name(province), fold_admin_name(name)),
                ("", fold_admin_name(name)),
            ):
                if key in by_name and by_name[key] != unit_id:
                    shared.add(key)
                by_name[key] = unit_id
    for key in shared:
        del by_name[key]
    return by_code, by_name, shared


def import_population(
    conn: Connection,
    path: Path,
    fields: PopulationFields,
    progress: ProgressCallback = print_progress,
) -> ImportReport:
    """Upsert population by age group for the units of one edition the file names."""
    report = ImportReport(f"population by age ({fields.level})", str(path))
    edition = check_edition(fields.edition)
    if fields.level not in {"province", "district", "ward"}:
        raise ImportFileError(path, f"unknown level {fields.level!r}")
    if fields.level not in LEVELS_OF[edition]:
        raise ImportFileError(
            path,
            f"Bộ đơn vị {edition} không có cấp {fields.level}; các cấp là "
            f"{', '.join(LEVELS_OF[edition])} / the {edition} edition has no {fields.level} "
            f"level; its levels are {', '.join(LEVELS_OF[edition])}",
        )
    if not fields.code and not fields.name:
        raise ImportFileError(path, "say which column names the unit: --code-field or --name-field")
    identifying = [c for c in (fields.code, fields.name, fields.province, fields.year_field) if c]
    header, rows = read_csv_rows(path, identifying)
    ages = age_columns(header)
    if not ages:
        raise ImportFileError(
            path, "no age-group columns (named like age_0_04, age_05_09 … age_85_plus)"
        )
    if fields.year is None and not fields.year_field:
        raise ImportFileError(path, "say the year: --year 2019 or --year-field year")
    by_code, by_name, shared = _unit_index(conn, fields.level, edition)
    if not by_code:
        raise ImportFileError(
            path,
            f"no {fields.level} units of the {edition} edition are loaded yet; import the ward "
            f"file first (schoolmap import wards … --edition {edition})",
        )
    age_rows: list[tuple[int, int, int, int | None, int]] = []
    total_rows: list[tuple[int, int, int]] = []
    matched_units: set[tuple[int, int]] = set()
    unmatched = 0
    ambiguous: list[int] = []
    for line, row in enumerate(rows, start=2):
        unit_id = None
        if fields.code:
            unit_id = by_code.get(code_text(row[fields.code]))
        if unit_id is None and fields.name:
            province = fold_admin_name(row[fields.province]) if fields.province else ""
            key = (province, fold_admin_name(row[fields.name]))
            unit_id = by_name.get(key)
            if unit_id is None and key in shared:
                ambiguous.append(line)
        if unit_id is None:
            unmatched += 1
            continue
        year_text = row[fields.year_field] if fields.year_field else str(fields.year)
        try:
            year = int(year_text)
        except ValueError:
            raise ImportFileError(path, f"line {line}: year is {year_text!r}") from None
        if (unit_id, year) in matched_units:
            raise ImportFileError(path, f"line {line}: the same unit and year appear twice")
        matched_units.add((unit_id, year))
        values = [(low, high, _number(path, line, col, row[col])) for col, low, high in ages]
        age_rows += [(unit_id, year, low, high, value) for low, high, value in values]
        age_sum = sum(v for _, _, v in values)
        if fields.total and fields.total in row and row[fields.total].strip():
            total = _number(path, line, fields.total, row[fields.total])
            if total != age_sum:
                report.notes.append(
                    f"line {line}: age groups sum to {age_sum:,} but {fields.total} is {total:,}"
                )
        else:
            total = age_sum
        total_rows.append((unit_id, year, total))
    if not matched_units:
        shared_names = (
            f"; {len(ambiguous)} of them name a unit that several {edition} units are called: "
            "give --code-field or --province-field"
            if ambiguous
            else ""
        )
        raise ImportFileError(
            path,
            f"no row names a loaded {fields.level} of the {edition} edition ({unmatched} rows "
            f"did not match{shared_names})",
        )
    progress(f"writing {len(age_rows):,} age-group figures")
    with savepoint(conn), conn.cursor() as cur:
        execute_values(
            cur,
            """
            INSERT INTO admin_population_by_age
                (admin_unit_id, year, age_min, age_max, population, source)
            SELECT v.unit, v.year, v.age_min, v.age_max, v.population, v.source
            FROM (VALUES %s) AS v (unit, year, age_min, age_max, population, source)
            ON CONFLICT (admin_unit_id, year, age_min) DO UPDATE
                SET age_max = EXCLUDED.age_max, population = EXCLUDED.population,
                    source = EXCLUDED.source
            """,
            [(*r, path.name) for r in age_rows],
            template="(%s, %s::smallint, %s::smallint, %s::smallint, %s, %s)",
            page_size=2000,
        )
        execute_values(
            cur,
            """
            INSERT INTO admin_population (admin_unit_id, year, population, source)
            SELECT v.unit, v.year, v.population, v.source
            FROM (VALUES %s) AS v (unit, year, population, source)
            ON CONFLICT (admin_unit_id, year) DO UPDATE
                SET population = EXCLUDED.population, source = EXCLUDED.source
            """,
            [(*r, path.name) for r in total_rows],
            template="(%s, %s::smallint, %s, %s)",
        )
    report.counts = {
        "rows read": len(rows),
        f"{fields.level} rows matched": len(total_rows),
        "rows naming units not loaded (skipped)": unmatched,
        "age groups per row": len(ages),
        "age-group figures": len(age_rows),
    }
    report.notes.append(f"edition {edition}")
    if ambiguous:
        shown = ", ".join(str(n) for n in ambiguous[:20]) + (" …" if len(ambiguous) > 20 else "")
        report.notes.append(
            f"{len(ambiguous)} row(s) name a unit that several {edition} units are called "
            f"(lines {shown}); they were skipped: give --code-field or --province-field"
        )
    return report.finish()
