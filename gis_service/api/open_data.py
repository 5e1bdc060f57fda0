"""Open data over HTTP: the schools with their official codes and the units of an edition, as
CSV (opens in Excel with Vietnamese intact) or GeoPackage (opens in QGIS). Public data only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from gis_service.api.deps import ReadConnection as ReadConn
from gis_service.api.deps import file_answer
from gis_service.open_data import (
    Table,
    schools_table,
    table_csv,
    table_geopackage,
    units_table,
)
from gis_service.units.describe import EDITION_HELP

router = APIRouter(tags=["open data"])
Format = Annotated[Literal["csv", "gpkg"], Query(description="csv (UTF-8 with BOM) or gpkg")]


def _file(table: Table, format: str) -> Response:
    body = table_csv(table) if format == "csv" else table_geopackage(table)
    return file_answer(body, table.name, format)


@router.get(
    "/open-data/schools",
    summary="Every school with its official code, as CSV or GeoPackage (EPSG:4326)",
    description="Code, name, levels, ownership, address, phone, website, the unit of the current "
    "edition it is in, position, and the classes of grades 1 and 6 with their class size. Map "
    "data © OpenStreetMap contributors where a school came from OpenStreetMap.",
    response_class=Response,
)
def schools(conn: ReadConn, format: Format = "csv") -> Response:
    return _file(schools_table(conn), format)


@router.get(
    "/open-data/units",
    summary="The units of an edition with their latest population, as CSV or GeoPackage",
    response_class=Response,
)
def units(
    conn: ReadConn,
    format: Format = "gpkg",
    edition: Annotated[str | None, Query(description=EDITION_HELP)] = None,
) -> Response:
    return _file(units_table(conn, edition), format)
