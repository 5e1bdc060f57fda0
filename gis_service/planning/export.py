"""Planning figures per unit (the gap or the forecast of a grade and year) as a spreadsheet
table (CSV, UTF-8 with BOM) or with each unit's outline for a GIS (GeoPackage, EPSG:4326).

Only what the public map shows goes out: figures per ward or commune, never a child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gis_service.db.connection import Connection
from gis_service.open_data import rows_csv, rows_geopackage
from gis_service.planning.forecast import Forecast
from gis_service.planning.gap import GapResult

UNIT_COLUMNS = (
    "ward_code",
    "unit_label",
    "unit_type_name",
    "district_name",
    "province_name",
    "edition",
    "grade",
    "school_year",
    "figures",
)
GAP_COLUMNS = (
    *UNIT_COLUMNS,
    "children",
    "classes_needed",
    "classes_in_ward",
    "classes_short",
    "children_over_size",
    "children_beyond_norm",
    "mean_m",
    "coverage",
    "note",
)
FORECAST_COLUMNS = (
    *UNIT_COLUMNS,
    "children",
    "low",
    "high",
    "low_50",
    "high_50",
    "population",
    "population_low",
    "population_high",
    "classes_needed",
    "coverage",
    "note",
)
# The layer of the GeoPackage and the stem of both files' names.
LAYER_NAMES = {"gap": "thieu_cho", "forecast": "du_bao"}


@dataclass
class UnitTable:
    """Rows of one figure per unit (each with its `ward_id`), in the columns to write."""

    kind: str
    grade: int
    year: int
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]

    @property
    def name(self) -> str:
        """'thieu_cho_lop1_2026': what the figures are, the grade and the school year."""
        return f"{LAYER_NAMES[self.kind]}_lop{self.grade}_{self.year}"


def gap_table(result: GapResult) -> UnitTable:
    """The gap of every unit (those without figures keep their seats and an empty count)."""
    grade, year = result.settings.grade, result.settings.school_year
    rows = [
        {**w, "grade": grade, "school_year": result.statement["school_year"]} for w in result.wards
    ]
    return UnitTable("gap", grade, year, GAP_COLUMNS, rows)


def forecast_table(forecast: Forecast, grade: int, year: int) -> UnitTable:
    """The forecast of every unit for one grade and school year, with its band."""
    rows = [r.as_dict() for r in forecast.unit_rows(grade, year)]
    return UnitTable("forecast", grade, year, FORECAST_COLUMNS, rows)


def table_csv(table: UnitTable) -> bytes:
    """The rows as a CSV a spreadsheet opens as it is: UTF-8 with BOM, no formula cells."""
    return rows_csv(table.columns, table.rows)


def unit_outlines(conn: Connection, unit_ids: list[int]) -> dict[int, bytes]:
    """Each unit's full outline (not simplified) as WKB multipolygons in EPSG:4326."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_AsBinary(ST_Multi(geom)) FROM admin_units WHERE id = ANY(%s)",
            (unit_ids,),
        )
        return {int(r[0]): bytes(r[1]) for r in cur.fetchall()}


def table_geopackage(table: UnitTable, outlines: dict[int, bytes]) -> bytes:
    """The rows with their units' outlines as one GeoPackage layer named `table.name`."""
    shapes = [outlines.get(row["ward_id"]) for row in table.rows]
    return rows_geopackage(table.name, table.columns, table.rows, shapes, "MultiPolygon")
