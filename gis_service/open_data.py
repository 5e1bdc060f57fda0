"""Open data: every school with its official code, and the units of an edition, as a CSV that a
spreadsheet opens with Vietnamese intact (UTF-8 with BOM, no formula cells) and as a
GeoPackage (EPSG:4326) for a GIS. Public data only: what the public map shows.

Map data © OpenStreetMap contributors where the schools came from OpenStreetMap.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gis_service.db.connection import Connection
from gis_service.safe_text import SpreadsheetSafeWriter
from gis_service.units.editions import edition_or_current

EXPORT_MEDIA = {"csv": "text/csv; charset=utf-8", "gpkg": "application/geopackage+sqlite3"}
"""The media type of each export format."""

SCHOOL_COLUMNS = (
    "code",
    "name",
    "levels",
    "ownership",
    "address",
    "phone",
    "website",
    "unit_code",
    "unit_name",
    "lon",
    "lat",
    "grade_1_classes",
    "grade_1_class_size",
    "grade_6_classes",
    "grade_6_class_size",
    "source",
)
UNIT_COLUMNS = (
    "code",
    "name",
    "unit_type",
    "level",
    "parent_code",
    "parent_name",
    "edition",
    "population",
    "population_year",
    "area_km2",
)


@dataclass(frozen=True)
class Table:
    """Rows in named columns, each with its geometry as WKB (None: no place) and the id the
    service knows it by (a school's in /schools/{id}, a unit's)."""

    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    shapes: list[bytes | None]
    geometry_type: str
    ids: list[int]


def schools_table(conn: Connection) -> Table:
    """Every school: official code (when the registry gave one), name, levels, ownership,
    address, phone, its unit of the current edition, position, and classes of grades 1 and 6."""
    edition = edition_or_current(conn, None)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT s.code, s.name, array_to_string(s.levels, ','), s.ownership, s.address,
                   s.phone, s.website, u.code, u.name, ST_X(s.geom), ST_Y(s.geom),
                   g1.classes, g1.class_size, g6.classes, g6.class_size, s.source,
                   ST_AsBinary(s.geom), s.id
            FROM schools s
            LEFT JOIN LATERAL (
                SELECT a.code, a.name FROM admin_units a
                WHERE a.edition = %s AND a.level = 'ward' AND ST_Covers(a.geom, s.geom)
                ORDER BY a.id LIMIT 1
            ) u ON true
            LEFT JOIN school_grades g1 ON g1.school_id = s.id AND g1.grade = 1
            LEFT JOIN school_grades g6 ON g6.school_id = s.id AND g6.grade = 6
            ORDER BY s.code NULLS LAST, s.id
            """,
            (edition,),
        )
        found = cur.fetchall()
    rows = [
        {
            column: (round(value, 7) if column in ("lon", "lat") and value is not None else value)
            for column, value in zip(SCHOOL_COLUMNS, r[:-2], strict=True)
        }
        for r in found
    ]
    shapes = [None if r[-2] is None else bytes(r[-2]) for r in found]
    return Table("truong_hoc", SCHOOL_COLUMNS, rows, shapes, "Point", [r[-1] for r in found])


def units_table(conn: Connection, edition: str | None = None) -> Table:
    """The units of an edition (the current one by default), with their latest population."""
    chosen = edition_or_current(conn, edition)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.code, u.name, u.unit_type, u.level, p.code, p.name, u.edition,
                   pop.population, pop.year, round((ST_Area(u.geom::geography) / 1e6)::numeric, 4),
                   ST_AsBinary(ST_Multi(u.geom)), u.id
            FROM admin_units u
            LEFT JOIN admin_units p ON p.id = u.parent_id
            LEFT JOIN LATERAL (
                SELECT population, year FROM admin_population
                WHERE admin_unit_id = u.id ORDER BY year DESC LIMIT 1
            ) pop ON true
            WHERE u.edition = %s AND u.geom IS NOT NULL
            ORDER BY u.level, u.code
            """,
            (chosen,),
        )
        found = cur.fetchall()
    rows = [
        {
            column: (float(value) if column == "area_km2" and value is not None else value)
            for column, value in zip(UNIT_COLUMNS, r[:-2], strict=True)
        }
        for r in found
    ]
    shapes: list[bytes | None] = [bytes(r[-2]) for r in found]
    ids = [r[-1] for r in found]
    return Table(f"don_vi_{chosen}", UNIT_COLUMNS, rows, shapes, "MultiPolygon", ids)


def rows_csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    """Rows as a CSV a spreadsheet opens as it is: UTF-8 with BOM, no formula cells."""
    out = io.StringIO()
    writer = SpreadsheetSafeWriter(out)
    writer.writerow(columns)
    writer.writerows([row.get(c) for c in columns] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def rows_geopackage(
    name: str,
    columns: tuple[str, ...],
    rows: list[dict[str, Any]],
    shapes: list[bytes | None],
    geometry_type: str,
) -> bytes:
    """Rows with their geometries (WKB, EPSG:4326) as one GeoPackage layer named `name`."""
    import geopandas as gpd
    import shapely

    records = [{c: row.get(c) for c in columns} for row in rows]
    geometries = [None if wkb is None else shapely.from_wkb(wkb) for wkb in shapes]
    frame = gpd.GeoDataFrame(records, columns=list(columns), geometry=geometries, crs=4326)
    with tempfile.TemporaryDirectory(prefix="schoolmap-gpkg-") as folder:
        path = Path(folder) / f"{name}.gpkg"
        frame.to_file(path, layer=name, driver="GPKG", geometry_type=geometry_type)
        return path.read_bytes()


def table_csv(table: Table) -> bytes:
    return rows_csv(table.columns, table.rows)


def table_geopackage(table: Table) -> bytes:
    return rows_geopackage(table.name, table.columns, table.rows, table.shapes, table.geometry_type)
