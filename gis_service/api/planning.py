"""Planning endpoints: demand forecasts and gap maps by the units of an edition (public,
aggregated per unit), siting and scenarios (planners and city administrators)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from gis_service.api.deps import ReadConnection as ReadConn
from gis_service.api.deps import file_answer, get_connection, json_response
from gis_service.api.routing import routing_service
from gis_service.api.security import CurrentUser, require_roles, roles_note
from gis_service.auth.roles import CITY_ADMIN, PLANNER
from gis_service.db.connection import Connection, transaction
from gis_service.errors import InvalidRequestError
from gis_service.planning.export import (
    forecast_table,
    gap_table,
    table_csv,
    table_geopackage,
    unit_outlines,
)
from gis_service.planning.forecast import run_forecast, years_allowed
from gis_service.planning.gap import GapSettings, NewSite, compute_gap, unit_shapes
from gis_service.planning.inputs import load_inputs
from gis_service.planning.scenarios import (
    Scenario,
    compare_scenarios,
    list_scenarios,
    save_scenario,
)
from gis_service.planning.siting import site_schools
from gis_service.routing.service import RoutingService
from gis_service.web_files import WEB_DIR

router = APIRouter(tags=["planning"])

PLANNERS = (PLANNER, CITY_ADMIN)
# One dependency object, so tests and deployments can swap the guard in one place.
planner_user = require_roles(*PLANNERS)
Planner = Annotated[CurrentUser, Depends(planner_user)]
Conn = Annotated[Connection, Depends(get_connection)]
Routing = Annotated[RoutingService, Depends(routing_service)]
Grade = Annotated[int, Query(description="1 or 6")]
Mode = Literal["walk", "motorbike", "car"]
Edition = Annotated[
    str | None,
    Query(
        max_length=10,
        description="unit edition: 2019 (census wards by district) or 2025; default: the "
        "current one",
    ),
]
Units = Annotated[
    list[str] | None, Query(description="codes of communes/wards of the edition (default all)")
]
PLANNER_PAGE = WEB_DIR / "planner.html"


def parse_years(text: str) -> list[int]:
    """'2026-2030' or '2026,2028' as years (at most 15)."""
    years: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                first, last = (int(p) for p in part.split("-", 1))
                years += range(first, last + 1)
            elif part.strip():
                years.append(int(part))
    except ValueError:
        raise InvalidRequestError(
            f"years must look like 2026-2030 or 2026,2028; got {text!r}"
        ) from None
    if not years or len(years) > 15:
        raise InvalidRequestError(f"give between 1 and 15 school years; got {text!r}")
    return sorted(set(years))


@router.get("/planner", include_in_schema=False)
def planner_page() -> FileResponse:
    return FileResponse(PLANNER_PAGE, headers={"Cache-Control": "no-cache"})


@router.get(
    "/planning/years",
    summary="The school years the forecast covers (from the census year to its horizon), and why",
)
def forecast_years(conn: ReadConn, edition: Edition = None) -> Any:
    return json_response(years_allowed(load_inputs(conn, None, edition)))


@router.get(
    "/planning/forecast",
    summary="Grade-1 / grade-6 entrants per ward or commune of an edition and school year, with "
    "base year, method, 80 % interval (low, high) and 50 % interval (low_50, high_50); units "
    "without census figures say so",
)
def forecast(
    conn: ReadConn,
    years: Annotated[str, Query(description="school years (first calendar year): 2026-2030")],
    grade: Annotated[list[int] | None, Query(description="1 and/or 6")] = None,
    district: Annotated[list[str] | None, Query(description="district codes")] = None,
    geojson: Annotated[bool, Query(description="wards as GeoJSON features (one year)")] = False,
    simplify: Annotated[float, Query(ge=0, le=500)] = 30.0,
    edition: Edition = None,
    unit: Units = None,
) -> Any:
    inputs = load_inputs(conn, district, edition, unit)
    made = run_forecast(inputs, parse_years(years), list(grade or [1, 6]))
    rows = [r.as_dict() for r in made.rows]
    if not geojson:
        return json_response({**made.statement(), "rows": rows})
    if len(made.years) != 1 or len(made.grades) != 1:
        raise InvalidRequestError("geojson=true needs exactly one year and one grade")
    shapes = unit_shapes(conn, [r["ward_id"] for r in rows], simplify)
    features = [
        {
            "type": "Feature",
            "id": r["ward_id"],
            "geometry": shapes.get(r["ward_id"]),
            "properties": r,
        }
        for r in rows
    ]
    return json_response(
        {"type": "FeatureCollection", "statement": made.statement(), "features": features}
    )


def gap_query(
    grade: Grade,
    year: Annotated[int, Query(ge=1990, le=2100, description="school year, e.g. 2026")],
    district: Annotated[list[str] | None, Query(description="district codes")] = None,
    mode: Mode = "motorbike",
    norm_m: Annotated[float | None, Query(gt=0, le=50_000)] = None,
    class_size: Annotated[int | None, Query(gt=0, le=100)] = None,
    assume_classes: Annotated[int | None, Query(ge=0, le=50)] = None,
    edition: Edition = None,
    unit: Units = None,
) -> GapSettings:
    """The gap's settings from a query, as the gap and its export take them."""
    return GapSettings(
        grade,
        year,
        mode,
        norm_m,
        class_size,
        assume_classes=assume_classes,
        district_codes=district,
        edition=edition,
        unit_codes=unit,
    )


GapQuery = Annotated[GapSettings, Depends(gap_query)]


@router.get(
    "/planning/gap",
    summary="Capacity gap: forecast children placed in schools by road distance (per ward or "
    "commune of an edition and per school, as GeoJSON)",
)
def gap(
    conn: ReadConn,
    routing: Routing,
    settings: GapQuery,
    simplify: Annotated[float, Query(ge=0, le=500)] = 30.0,
) -> Any:
    result = compute_gap(conn, routing, settings)
    shapes = unit_shapes(conn, [w["ward_id"] for w in result.wards], simplify)
    ward_features = [
        {
            "type": "Feature",
            "id": w["ward_id"],
            "geometry": shapes.get(w["ward_id"]),
            "properties": w,
        }
        for w in result.wards
    ]
    school_features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
            "properties": s,
        }
        for s in result.schools
    ]
    return json_response(
        {
            "statement": result.statement,
            "metrics": result.metrics,
            "wards": {"type": "FeatureCollection", "features": ward_features},
            "schools": {"type": "FeatureCollection", "features": school_features},
        }
    )


@router.get(
    "/planning/export",
    summary="The gap or the forecast of a grade and school year per ward or commune, as CSV "
    "(UTF-8 with BOM) or GeoPackage (outlines in EPSG:4326); figures per unit, never a child",
    response_class=Response,
)
def export(
    conn: ReadConn,
    routing: Routing,
    settings: GapQuery,
    what: Literal["gap", "forecast"] = "gap",
    format: Literal["csv", "gpkg"] = "csv",
) -> Response:
    if what == "gap":
        table = gap_table(compute_gap(conn, routing, settings))
    else:
        inputs = load_inputs(conn, settings.district_codes, settings.edition, settings.unit_codes)
        grade, year = settings.grade, settings.school_year
        table = forecast_table(run_forecast(inputs, [year], [grade]), grade, year)
    if format == "csv":
        body = table_csv(table)
    else:
        body = table_geopackage(table, unit_outlines(conn, [r["ward_id"] for r in table.rows]))
    return file_answer(body, table.name, format)


class SiteIn(BaseModel):
    """A siting question."""

    grade: Literal[1, 6]
    year: int = Field(ge=1990, le=2100)
    k: int = Field(1, ge=0, le=20)
    candidates: Literal["wards", "grid", "schools"] = "wards"
    spacing_m: float = Field(1500.0, ge=100, le=20_000)
    classes: int = Field(5, ge=1, le=30)
    minutes: float = Field(15.0, gt=0, le=120)
    objective: Literal["coverage", "travel"] = "coverage"
    mode: Mode = "motorbike"
    districts: list[str] | None = None
    assume_classes: int | None = Field(None, ge=0, le=50)
    edition: str | None = Field(None, max_length=10, description="default: the current one")
    units: list[str] | None = None


@router.post(
    "/planning/site",
    summary="Choose k new schools (or schools gaining classes) serving the most children",
    description=roles_note(*PLANNERS),
)
def site(body: SiteIn, conn: Conn, routing: Routing, user: Planner) -> Any:
    settings = GapSettings(
        body.grade,
        body.year,
        body.mode,
        per_ward=3,
        assume_classes=body.assume_classes,
        district_codes=body.districts,
        edition=body.edition,
        unit_codes=body.units,
    )
    result = site_schools(
        conn,
        routing,
        settings,
        kind=body.candidates,
        k=body.k,
        classes=body.classes,
        minutes=body.minutes,
        objective=body.objective,
        spacing_m=body.spacing_m,
        time_limit_s=30.0,
    )
    return json_response(result)


class SiteSpec(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    classes: int = Field(ge=1, le=30)


class ScenarioIn(BaseModel):
    """A scenario: the forecast year and grade, added classes, new sites, changed limits."""

    name: str = Field(min_length=1, max_length=200)
    grade: Literal[1, 6]
    school_year: int = Field(ge=1990, le=2100)
    districts: list[str] = []
    added_classes: dict[int, int] = {}
    new_sites: list[SiteSpec] = []
    class_size: int | None = Field(None, gt=0, le=100)
    norm_m: float | None = Field(None, gt=0, le=50_000)
    mode: Mode | None = None
    assume_classes: int | None = Field(None, ge=0, le=50)
    edition: str | None = Field(None, max_length=10, description="default: the current one")


@router.post(
    "/planning/scenarios",
    status_code=201,
    summary="Save a planning scenario",
    description=roles_note(*PLANNERS),
)
def create_scenario(body: ScenarioIn, conn: Conn, user: Planner) -> Any:
    limits = {
        key: getattr(body, key)
        for key in ("class_size", "norm_m", "mode", "assume_classes")
        if getattr(body, key) is not None
    }
    scenario = Scenario(
        body.name,
        body.grade,
        body.school_year,
        body.districts,
        dict(body.added_classes),
        [NewSite(s.name, s.lon, s.lat, s.classes) for s in body.new_sites],
        limits,
        edition=body.edition,
    )
    with transaction(conn):
        save_scenario(conn, scenario, actor=user.username, remote_addr=user.remote_addr)
    response = json_response(scenario.as_dict())
    response.status_code = 201
    return response


@router.get("/planning/scenarios", summary="Saved scenarios", description=roles_note(*PLANNERS))
def scenarios(conn: Conn, user: Planner) -> Any:
    return json_response(json.loads(json.dumps(list_scenarios(conn), default=str)))


@router.get(
    "/planning/scenarios/compare",
    summary="Scenarios side by side: classes short, mean / p90 distance, children beyond norm",
    description=roles_note(*PLANNERS),
)
def compare(
    conn: Conn,
    routing: Routing,
    user: Planner,
    ids: Annotated[str, Query(description="scenario ids, e.g. 1,2,3")],
) -> Any:
    try:
        scenario_ids = [int(p) for p in ids.split(",") if p.strip()]
    except ValueError:
        raise InvalidRequestError(f"ids must be numbers separated by commas; got {ids!r}") from None
    if not 1 <= len(scenario_ids) <= 6:
        raise InvalidRequestError("compare between 1 and 6 scenarios")
    with transaction(conn):
        table = compare_scenarios(conn, routing, scenario_ids)
    return json_response(table)
