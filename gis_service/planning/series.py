"""Import a yearly population series (columns such as Pop_2009 … Pop_2017) for loaded units of
one edition (the 2019 census units by default: codes repeat across editions)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from psycopg2.extras import execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.importers.report import ImportReport, ProgressCallback, no_progress
from gis_service.importers.wards import code_text
from gis_service.units.editions import EDITION_2019, LEVELS_OF, check_edition

LEVELS = ("province", "district", "ward")
YEAR_IN_NAME = re.compile(r"(?:^|[^0-9])((?:19|20)[0-9]{2})$")


def read_table(path: Path) -> pd.DataFrame:
    """The attribute table of a CSV or any vector file (Shapefile, GeoJSON, GeoPackage)."""
    if not path.is_file():
        raise ImportFileError(path, "no such file")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype=str)
        import geopandas as gpd

        return pd.DataFrame(gpd.read_file(path, ignore_geometry=True))
    except Exception as exc:  # pandas and pyogrio raise many unrelated types for bad files
        raise ImportFileError(path, f"cannot read the file ({exc})") from exc


def year_columns(path: Path, frame: pd.DataFrame, prefix: str) -> dict[str, int]:
    """Columns named prefix + year (e.g. Pop_2009), with their years."""
    found = {}
    for column in frame.columns:
        match = YEAR_IN_NAME.search(str(column))
        if str(column).startswith(prefix) and match:
            found[str(column)] = int(match.group(1))
    if not found:
        raise ImportFileError(path, f"no column named {prefix}<year>, e.g. {prefix}2019")
    return found


def import_series(
    conn: Connection,
    path: Path,
    *,
    level: str,
    code_field: str,
    prefix: str = "Pop_",
    progress: ProgressCallback = no_progress,
    edition: str = EDITION_2019,
) -> ImportReport:
    """Upsert population by year for units of a level of an edition matched by code; all or
    nothing."""
    if level not in LEVELS:
        raise ImportFileError(path, f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    edition = check_edition(edition)
    if level not in LEVELS_OF[edition]:
        raise ImportFileError(
            path,
            f"bộ đơn vị {edition} không có cấp {level} / the {edition} edition has no {level} "
            f"level; use one of {', '.join(LEVELS_OF[edition])}",
        )
    report = ImportReport(f"population series ({level})", str(path))
    progress(f"reading {path}")
    frame = read_table(path)
    if code_field not in frame.columns:
        raise ImportFileError(
            path, f"no column {code_field!r}; columns: {', '.join(frame.columns)}"
        )
    columns = year_columns(path, frame, prefix)
    rows = []
    for line, record in enumerate(frame.to_dict("records"), start=2):
        code = code_text(record[code_field])
        for column, year in columns.items():
            value = record[column]
            if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ImportFileError(
                    path, f"row {line}, {column}: {value!r} is not a number"
                ) from None
            if number < 0:
                raise ImportFileError(path, f"row {line}, {column}: negative population")
            rows.append((code, year, round(number)))
    with savepoint(conn), conn.cursor() as cur:
        cur.execute(
            "SELECT code FROM admin_units WHERE level = %s AND edition = %s", (level, edition)
        )
        known = {r[0] for r in cur.fetchall()}
        unknown = sorted({code for code, _, _ in rows} - known)
        if unknown:
            raise ImportFileError(
                path,
                f"{len(unknown)} {level} code(s) in {code_field} are not loaded: "
                f"{', '.join(unknown[:10])}; import the wards first",
            )
        execute_values(
            cur,
            """
            INSERT INTO admin_population (admin_unit_id, year, population, source)
            SELECT a.id, v.year, v.population, v.source
            FROM (VALUES %s) AS v (level, code, year, population, source, edition)
            JOIN admin_units a ON a.level = v.level AND a.code = v.code
                AND a.edition = v.edition
            ON CONFLICT (admin_unit_id, year) DO UPDATE
                SET population = EXCLUDED.population, source = EXCLUDED.source
            """,
            [(level, code, year, value, path.name, edition) for code, year, value in rows],
        )
    report.counts = {"units": len({c for c, _, _ in rows}), "population figures": len(rows)}
    report.notes.append("years: " + ", ".join(str(y) for y in sorted(set(columns.values()))))
    report.notes.append(f"edition {edition}")
    return report.finish()
