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
from gis_service.units.editions import (
    DISTRICT,
    EDITION_2019,
    LEVELS_OF,
    PROVINCE,
    WARD,
    check_edition,
    short_folded,
    unit_type_of,
)

VECTOR_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".zip")
_YEAR = re.compile(r"(19|20)\d\d")


@dataclass
class WardFields:
    """Which attribute of the file holds what; None means the file has no such attribute."""

    code: str = "code"
    name: str | None = None
    """None: 'fullName' for the 2025 edition's files, else 'name'."""
    district: str | None = None
    district_code: str | None = None
    province: str | None = None
    population: list[str] = field(default_factory=list)
    population_years: list[int] = field(default_factory=list)
    province_name: str | None = None
    province_code: str | None = None
    crs: str | None = None
    unit_type: str | None = None
    """Field saying each unit's type (Phường/Xã/Thị trấn, or Ward/Commune/Township) when its
    name does not start with it."""
    edition: str = EDITION_2019
    """The edition the units belong to: '2019' (province > district > ward) or '2025'
    (province > commune/ward, no district)."""

    @property
    def name_field(self) -> str:
        return self.name or ("fullName" if self.edition != EDITION_2019 else "name")


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
    cur: Any, edition: str, level: str, code: str, name: str, parent_id: int | None, source: str
) -> int:
    cur.execute(
        """
        INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded,
                                 unit_type, parent_id, source)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (edition, level, code) DO UPDATE SET name = EXCLUDED.name,
            name_folded = EXCLUDED.name_folded, short_folded = EXCLUDED.short_folded,
            unit_type = COALESCE(EXCLUDED.unit_type, admin_units.unit_type),
            parent_id = COALESCE(EXCLUDED.parent_id, admin_units.parent_id),
            source = EXCLUDED.source, updated_at = now()
        RETURNING id
        """,
        (
            edition,
            level,
            code,
            name,
            fold_text(name),
            short_folded(name),
            unit_type_of(name, level),
            parent_id,
            source,
        ),
    )
    return int(cur.fetchone()[0])


def import_wards(
    conn: Connection, path: Path, fields: WardFields, progress: ProgressCallback = print_progress
) -> ImportReport:
    """Upsert wards (and their district and province) with population; all or nothing."""
    report = ImportReport("wards", str(path))
    edition = check_edition(fields.edition)
    has_districts = DISTRICT in LEVELS_OF[edition]
    if not has_districts and (fields.district or fields.district_code):
        raise ImportFileError(
            path,
            f"Bộ đơn vị {edition} không có cấp huyện: bỏ --district-field / "
            f"the {edition} edition has no districts: drop --district-field and "
            "--district-code-field",
        )
    if not has_districts and not (fields.province or fields.province_name):
        raise ImportFileError(
            path,
            f"the {edition} edition's communes and wards belong to a province: pass "
            "--province-name (and --province-code)",
        )
    progress(f"reading {path}")
    frame = read_vector_file(path, fields.crs)
    name_field = fields.name_field
    wanted = [fields.code, name_field, *fields.population]
    wanted += [
        f for f in (fields.district, fields.district_code, fields.province, fields.unit_type) if f
    ]
    _require_fields(path, frame, wanted)
    years = _population_years(path, fields)
    codes = frame[fields.code].map(code_text)
    if codes.eq("").any() or frame[fields.code].isna().any():
        raise ImportFileError(path, f"some features have an empty {fields.code}")
    duplicated = sorted(set(codes[codes.duplicated()]))
    if duplicated:
        raise ImportFileError(path, f"ward codes repeat: {', '.join(duplicated[:10])}")
    names = frame[name_field].map(lambda v: "" if v is None else str(v).strip())
    if names.eq("").any():
        raise ImportFileError(path, f"some features have an empty {name_field}")
    shapes, repaired = clean_polygons(path, frame, codes)
    if repaired:
        report.notes.append(f"{repaired} invalid polygons were repaired with ST_MakeValid rules")

    with savepoint(conn), conn.cursor() as cur:
        # Before the province is upserted, so the message names it as loaded.
        _refuse_a_province_elsewhere(
            cur,
            path,
            fields.province_code,
            shapes,
            None if fields.province else fields.province_name,
        )
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
                        cur, edition, PROVINCE, province_code, province_name, None, path.name
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
                        edition,
                        DISTRICT,
                        district_code,
                        district_name or district_code,
                        province_id,
                        path.name,
                    )
                district_id = district_ids[dkey]
            parent_id = district_id if has_districts else province_id
            name = names.iloc[i]
            ward_rows.append(
                (
                    code,
                    name,
                    fold_text(name),
                    short_folded(name),
                    _ward_type(path, name, record[fields.unit_type] if fields.unit_type else None),
                    parent_id,
                    shapes[i].wkb_hex,
                    path.name,
                    edition,
                )
            )
            for field_name, year in zip(fields.population, years, strict=True):
                value = _population_value(path, record[field_name], field_name, code)
                if value is not None:
                    population_rows.append((code, year, value))
        _refuse_codes_of_other_provinces(cur, path, edition, codes.tolist(), province_ids)
        result = execute_values(
            cur,
            """
            INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded,
                                     unit_type, parent_id, geom, source)
            SELECT v.edition, 'ward', v.code, v.name, v.name_folded, v.short_folded, v.unit_type,
                   v.parent_id::integer,
                   ST_SetSRID(ST_GeomFromWKB(decode(v.wkb, 'hex')), 4326), v.source
            FROM (VALUES %s) AS v (code, name, name_folded, short_folded, unit_type, parent_id,
                                  wkb, source, edition)
            ON CONFLICT (edition, level, code) DO UPDATE SET name = EXCLUDED.name,
                name_folded = EXCLUDED.name_folded, short_folded = EXCLUDED.short_folded,
                unit_type = COALESCE(EXCLUDED.unit_type, admin_units.unit_type),
                parent_id = EXCLUDED.parent_id,
                geom = EXCLUDED.geom, source = EXCLUDED.source, updated_at = now()
            RETURNING (xmax = 0)
            """,
            ward_rows,
            fetch=True,
        )
        added = sum(1 for (inserted,) in result if inserted)
        if population_rows:
            _insert_population(cur, edition, population_rows, path.name)
        progress("merging ward polygons into districts and provinces")
        for level in (DISTRICT, PROVINCE):
            # Each unit's polygon is the union of its children's in the same edition.
            cur.execute(
                """
                UPDATE admin_units d SET geom = u.geom FROM (
                    SELECT parent_id, ST_Multi(ST_Union(geom)) AS geom FROM admin_units
                    WHERE edition = %(edition)s AND parent_id IS NOT NULL AND geom IS NOT NULL
                    GROUP BY parent_id
                ) u WHERE d.id = u.parent_id AND d.level = %(level)s
                      AND d.edition = %(edition)s
                """,
                {"edition": edition, "level": level},
            )
        _type_districts_by_their_wards(cur, edition)
        located = assign_school_wards(conn)
    report.notes.append(f"edition {edition}")
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


def _ward_type(path: Path, name: str, stated: Any) -> str | None:
    """A ward's type from the type field when there is one, else from its name."""
    if stated is None or (isinstance(stated, float) and math.isnan(stated)):
        return unit_type_of(name, WARD)
    kind = unit_type_of(f"{stated} x", WARD)
    if kind is None:
        raise ImportFileError(
            path,
            f"Loại đơn vị {stated!r} của {name!r} không rõ / unit {name!r} has type {stated!r}; "
            "expected Phường, Xã, Thị trấn, Đặc khu (or Ward, Commune, Township)",
        )
    return kind


def _type_districts_by_their_wards(cur: Any, edition: str) -> None:
    """A district whose name does not say its type is a huyện when most of its units are
    communes or townships, else a quận."""
    cur.execute(
        """
        UPDATE admin_units d SET unit_type = CASE WHEN k.rural > k.n / 2.0 THEN 'huyen'
                                                  ELSE 'quan' END
        FROM (SELECT parent_id, count(*) AS n,
                     count(*) FILTER (WHERE unit_type IN ('xa', 'thi_tran')) AS rural
              FROM admin_units WHERE edition = %s AND level = 'ward' GROUP BY parent_id) k
        WHERE d.id = k.parent_id AND d.level = 'district' AND d.unit_type IS NULL
        """,
        (edition,),
    )


def _refuse_codes_of_other_provinces(
    cur: Any, path: Path, edition: str, codes: list[str], province_ids: dict[str, int]
) -> None:
    """A ward code already held by a unit of another province in this edition means the file
    and --province-code do not match: refuse rather than move the unit."""
    cur.execute(
        """
        SELECT w.code, w.name, p.name FROM admin_units w
        JOIN admin_units p ON p.id = COALESCE(
            (SELECT d.parent_id FROM admin_units d
             WHERE d.id = w.parent_id AND d.level = 'district'),
            w.parent_id)
        WHERE w.edition = %s AND w.level = 'ward' AND w.code = ANY(%s)
          AND p.level = 'province' AND NOT (p.id = ANY(%s))
        ORDER BY w.code LIMIT 5
        """,
        (edition, codes, list(province_ids.values())),
    )
    taken = cur.fetchall()
    if taken:
        listed = "; ".join(f"{code} ({name}, {province})" for code, name, province in taken)
        raise ImportFileError(
            path,
            f"Mã đơn vị đã thuộc tỉnh/thành khác trong bộ {edition}: {listed} / ward codes "
            f"already belong to another province in the {edition} edition: {listed}; check "
            "--province-code and --province-name against the file",
        )


def _refuse_a_province_elsewhere(
    cur: Any,
    path: Path,
    province_code: str | None,
    shapes: list[Any],
    province_name: str | None = None,
) -> None:
    """The province's polygon as another edition or file already has it must meet the file's
    units: a file of another province imported under this code is refused."""
    if not province_code:
        return
    extent = shapely.box(*shapely.total_bounds(shapes))
    cur.execute(
        """
        SELECT p.edition, p.name,
               round((ST_Distance(ST_Transform(p.geom, 32648),
                                  ST_Transform(ST_GeomFromText(%s, 4326), 32648)) / 1000)::numeric)
        FROM admin_units p
        WHERE p.level = 'province' AND p.code = %s AND p.geom IS NOT NULL
          AND NOT ST_Intersects(p.geom, ST_GeomFromText(%s, 4326))
        ORDER BY p.edition LIMIT 1
        """,
        (extent.wkt, province_code, extent.wkt),
    )
    row = cur.fetchone()
    if row:
        edition, name, km = row
        raise ImportFileError(
            path,
            f"Các đơn vị trong tệp nằm cách {name} (mã {province_code}, bộ {edition}) {km} km / "
            f"the file's units lie {km} km from {name} (code {province_code}, edition "
            f"{edition}) as already loaded; check --province-code against the file",
        )
    if province_name:
        _refuse_a_neighbouring_province(cur, path, province_code, province_name, shapes)


def _refuse_a_neighbouring_province(
    cur: Any, path: Path, province_code: str, province_name: str, shapes: list[Any]
) -> None:
    """A neighbouring province's file meets the loaded province only along their border: when
    the file names another province than the one loaded under the code, no unit of the file
    lies inside it and no loaded unit of it lies inside the file's units, the file is of
    another province (a file of more units of the same province, named alike, is welcome)."""
    inner = shapely.MultiPoint([shapely.point_on_surface(s) for s in shapes])
    cur.execute(
        """
        SELECT p.id, p.edition, p.name,
               (SELECT array_agg(ST_AsBinary(ST_PointOnSurface(w.geom))) FROM admin_units w
                LEFT JOIN admin_units d ON d.id = w.parent_id AND d.level = 'district'
                WHERE w.level = 'ward' AND w.edition = p.edition AND w.geom IS NOT NULL
                  AND COALESCE(d.parent_id, w.parent_id) = p.id)
        FROM admin_units p
        WHERE p.level = 'province' AND p.code = %s AND p.geom IS NOT NULL
          AND NOT ST_Intersects(p.geom, ST_GeomFromText(%s, 4326))
        ORDER BY p.edition
        """,
        (province_code, inner.wkt),
    )
    tree = shapely.STRtree(shapes)
    for _, edition, name, points in cur.fetchall():
        if fold_admin_name(name) == fold_admin_name(province_name):
            continue
        loaded = [shapely.from_wkb(bytes(p)) for p in points or []]
        if loaded and len(tree.query(loaded, predicate="intersects")[0]):
            continue
        raise ImportFileError(
            path,
            f"Các đơn vị trong tệp nằm ngoài {name} (mã {province_code}, bộ {edition}) đã nạp, "
            f"chỉ giáp ranh; tệp là của {province_name}? / the file's units lie outside {name} "
            f"(code {province_code}, edition {edition}) as already loaded, meeting it at most "
            f"along its border: the file is of another province ({province_name}); check "
            "--province-code against the file",
        )


def _insert_population(
    cur: Any, edition: str, rows: list[tuple[str, int, int]], source: str
) -> None:
    execute_values(
        cur,
        """
        INSERT INTO admin_population (admin_unit_id, year, population, source)
        SELECT a.id, v.year, v.population, v.source
        FROM (VALUES %s) AS v (code, year, population, source, edition)
        JOIN admin_units a ON a.level = 'ward' AND a.code = v.code AND a.edition = v.edition
        ON CONFLICT (admin_unit_id, year) DO UPDATE
            SET population = EXCLUDED.population, source = EXCLUDED.source
        """,
        [(c, y, p, source, edition) for c, y, p in rows],
    )
