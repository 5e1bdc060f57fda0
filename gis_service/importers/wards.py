"""Import ward polygons (GeoJSON, Shapefile, GeoPackage; any CRS) with districts and population."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from psycopg2.extras import execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress
from gis_service.importers.sql import assign_school_wards
from gis_service.text import fold_admin_name, fold_text

VECTOR_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".zip")
_YEAR = re.compile(r"(19|20)\d\d")


@dataclass
class WardFields:
    """Which attribute of the file holds what; None means the file has no such attribute."""

    code: str = "code"
    name: str = "name"
    district: str | None = None
    district_code: str | None = None
    province: str | None = None
    population: list[str] = field(default_factory=list)
    population_years: list[int] = field(default_factory=list)
    province_name: str | None = None
    province_code: str | None = None
    crs: str | None = None


def code_text(value: Any) -> str:
    """A code as text: 26734.0 -> '26734', ' 079 ' -> '079'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_vector_file(path: Path, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a polygon file into EPSG:4326, or raise ImportFileError naming the problem."""
    if not any(path.name.lower().endswith(s) for s in VECTOR_SUFFIXES):
        raise ImportFileError(path, f"unknown format; expected one of {', '.join(VECTOR_SUFFIXES)}")
    if not path.is_file():
        raise ImportFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImportFileError(path, "the file is empty")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated types for bad files
        raise ImportFileError(path, f"cannot read the file ({exc})") from exc
    if frame.empty:
        raise ImportFileError(path, "the file holds no features")
    if crs:
        frame = frame.set_crs(crs, allow_override=True)
    if frame.crs is None:
        raise ImportFileError(
            path,
            "unknown CRS: the file does not say its coordinate system (for a Shapefile, "
            "the .prj is missing); pass --crs, e.g. --crs EPSG:32648",
        )
    return frame.to_crs(4326)


def _require_fields(path: Path, frame: gpd.GeoDataFrame, names: list[str]) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        available = ", ".join(c for c in frame.columns if c != "geometry")
        raise ImportFileError(
            path, f"missing field(s) {', '.join(missing)}; the file has: {available}"
        )


def clean_polygons(path: Path, frame: gpd.GeoDataFrame, labels: pd.Series) -> tuple[list[Any], int]:
    """Every geometry as a valid MultiPolygon; raises on a missing or non-areal one."""
    shapes: list[Any] = []
    repaired = 0
    for geom, label in zip(frame.geometry, labels, strict=True):
        if geom is None or geom.is_empty:
            raise ImportFileError(path, f"feature {label!r} has no geometry")
        coords = shapely.get_coordinates(geom)
        if not all(math.isfinite(v) for v in coords.ravel()):
            raise ImportFileError(path, f"feature {label!r} has non-finite coordinates")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            repaired += 1
        polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
        if geom.geom_type == "MultiPolygon":
            polygons = list(geom.geoms)
        if not polygons:
            raise ImportFileError(path, f"feature {label!r} is a {geom.geom_type}, not a polygon")
        shapes.append(shapely.MultiPolygon(polygons))
    return shapes, repaired


def _population_years(path: Path, fields: WardFields) -> list[int]:
    if fields.population_years:
        if len(fields.population_years) != len(fields.population):
            raise ImportFileError(path, "give one --population-year per --population-field")
        return fields.population_years
    years = []
    for name in fields.population:
        match = _YEAR.search(name)
        if not match:
            raise ImportFileError(
                path, f"cannot tell the year of population field {name!r}; pass --population-year"
            )
        years.append(int(match.group(0)))
    return years


def _population_value(path: Path, value: Any, field_name: str, label: str) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ImportFileError(
            path, f"feature {label!r}: {field_name} is {value!r}, not a number"
        ) from None
    if number < 0 or not math.isfinite(number):
        raise ImportFileError(path, f"feature {label!r}: {field_name} is {value!r}")
    return round(number)


def _upsert_unit(
    cur: Any, level: str, code: str, name: str, parent_id: int | None, source: str
) -> int:
    cur.execute(
        """
        INSERT INTO admin_units (level, code, name, name_folded, parent_id, source)
        VALUES (%s, %s, %s, %s, %s, %s)
        ON CONFLICT (level, code) DO UPDATE SET name = EXCLUDED.name,
            name_folded = EXCLUDED.name_folded,
            parent_id = COALESCE(EXCLUDED.parent_id, admin_units.parent_id),
            source = EXCLUDED.source, updated_at = now()
        RETURNING id
        """,
        (level, code, name, fold_text(name), parent_id, source),
    )
    return int(cur.fetchone()[0])


def import_wards(
    conn: Connection, path: Path, fields: WardFields, progress: ProgressCallback = print_progress
) -> ImportReport:
    """Upsert wards (and their district and province) with population; all or nothing."""
    report = ImportReport("wards", str(path))
    progress(f"reading {path}")
    frame = read_vector_file(path, fields.crs)
    wanted = [fields.code, fields.name, *fields.population]
    wanted += [f for f in (fields.district, fields.district_code, fields.province) if f]
    _require_fields(path, frame, wanted)
    years = _population_years(path, fields)
    codes = frame[fields.code].map(code_text)
    if codes.eq("").any() or frame[fields.code].isna().any():
        raise ImportFileError(path, f"some features have an empty {fields.code}")
    duplicated = sorted(set(codes[codes.duplicated()]))
    if duplicated:
        raise ImportFileError(path, f"ward codes repeat: {', '.join(duplicated[:10])}")
    shapes, repaired = clean_polygons(path, frame, codes)
    if repaired:
        report.notes.append(f"{repaired} invalid polygons were repaired with ST_MakeValid rules")

    with savepoint(conn), conn.cursor() as cur:
        province_ids: dict[str, int] = {}
        district_ids: dict[tuple[int | None, str], int] = {}
        ward_rows = []
        population_rows = []
        for i, code in enumerate(codes):
            record = frame.iloc[i]
            province_id = None
            province_name = (
                str(record[fields.province]).strip() if fields.province else fields.province_name
            )
            if province_name:
                province_code = fields.province_code or fold_admin_name(province_name)
                key = province_code
                if key not in province_ids:
                    province_ids[key] = _upsert_unit(
                        cur, "province", province_code, province_name, None, path.name
                    )
                province_id = province_ids[key]
            district_id = None
            if fields.district or fields.district_code:
                district_name = str(record[fields.district]).strip() if fields.district else ""
                district_code = (
                    code_text(record[fields.district_code])
                    if fields.district_code
                    # Without GSO codes, a name is unique only within its province.
                    else f"{province_id or ''}:{fold_admin_name(district_name)}"
                )
                dkey = (province_id, district_code)
                if dkey not in district_ids:
                    district_ids[dkey] = _upsert_unit(
                        cur,
                        "district",
                        district_code,
                        district_name or district_code,
                        province_id,
                        path.name,
                    )
                district_id = district_ids[dkey]
            name = str(record[fields.name]).strip()
            ward_rows.append(
                (code, name, fold_text(name), district_id, shapes[i].wkb_hex, path.name)
            )
            for field_name, year in zip(fields.population, years, strict=True):
                value = _population_value(path, record[field_name], field_name, code)
                if value is not None:
                    population_rows.append((code, year, value))
        result = execute_values(
            cur,
            """
            INSERT INTO admin_units (level, code, name, name_folded, parent_id, geom, source)
            SELECT 'ward', v.code, v.name, v.name_folded, v.parent_id::integer,
                   ST_SetSRID(ST_GeomFromWKB(decode(v.wkb, 'hex')), 4326), v.source
            FROM (VALUES %s) AS v (code, name, name_folded, parent_id, wkb, source)
            ON CONFLICT (level, code) DO UPDATE SET name = EXCLUDED.name,
                name_folded = EXCLUDED.name_folded, parent_id = EXCLUDED.parent_id,
                geom = EXCLUDED.geom, source = EXCLUDED.source, updated_at = now()
            RETURNING (xmax = 0)
            """,
            ward_rows,
            fetch=True,
        )
        added = sum(1 for (inserted,) in result if inserted)
        if population_rows:
            _insert_population(cur, population_rows, path.name)
        progress("merging ward polygons into districts and provinces")
        cur.execute(
            """
            UPDATE admin_units d SET geom = u.geom FROM (
                SELECT parent_id, ST_Multi(ST_Union(geom)) AS geom FROM admin_units
                WHERE level = 'ward' AND parent_id IS NOT NULL GROUP BY parent_id
            ) u WHERE d.id = u.parent_id AND d.level = 'district'
            """
        )
        cur.execute(
            """
            UPDATE admin_units p SET geom = u.geom FROM (
                SELECT parent_id, ST_Multi(ST_Union(geom)) AS geom FROM admin_units
                WHERE level = 'district' AND parent_id IS NOT NULL GROUP BY parent_id
            ) u WHERE p.id = u.parent_id AND p.level = 'province'
            """
        )
        located = assign_school_wards(conn)
    report.counts = {
        "wards": len(ward_rows),
        "wards added": added,
        "wards updated": len(ward_rows) - added,
        "districts": len(district_ids),
        "provinces": len(province_ids),
        "population figures": len(population_rows),
        "schools placed in a ward": located,
    }
    for year in sorted(set(years)):
        total = sum(p for _, y, p in population_rows if y == year)
        report.notes.append(f"population {year}: {total:,}")
    return report.finish()


def _insert_population(cur: Any, rows: list[tuple[str, int, int]], source: str) -> None:
    execute_values(
        cur,
        """
        INSERT INTO admin_population (admin_unit_id, year, population, source)
        SELECT a.id, v.year, v.population, v.source
        FROM (VALUES %s) AS v (code, year, population, source)
        JOIN admin_units a ON a.level = 'ward' AND a.code = v.code
        ON CONFLICT (admin_unit_id, year) DO UPDATE
            SET population = EXCLUDED.population, source = EXCLUDED.source
        """,
        [(c, y, p, source) for c, y, p in rows],
    )
