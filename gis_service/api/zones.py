"""School zones over HTTP: a planner makes and publishes them; anyone reads the published ones
and a home's chance at the schools near it. Forecasts and seats only, never a child."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gis_service.api.deps import ReadConnection as ReadConn
from gis_service.api.deps import json_response
from gis_service.api.planning import PLANNERS, Conn, Grade, Planner, Routing
from gis_service.api.routing import Latitude, Longitude, Mode
from gis_service.api.security import roles_note
from gis_service.db.connection import transaction
from gis_service.errors import NotFoundError
from gis_service.planning.zones import (
    ZoneSettings,
    chances_near,
    make_zones,
    published_run,
    zones_geojson,
)
from gis_service.school_levels import LEVEL_OF_GRADE

router = APIRouter(tags=["school zones"])


class ZonesIn(BaseModel):
    """Which zones to make: a grade's, for a school year, by a travel mode's roads."""

    grade: Literal[1, 6]
    school_year: int = Field(ge=2000, le=2200, description="first calendar year, e.g. 2027")
    mode: Mode = "motorbike"
    edition: str | None = Field(None, max_length=10, description="default: the current one")
    publish: bool = Field(
        default=False, description="make them the public zones of the grade at once"
    )


def _no_zones(grade: int, school_year: int | None) -> NotFoundError:
    year = f" năm học {school_year}" if school_year else ""
    year_en = f" for {school_year}" if school_year else ""
    return NotFoundError(
        f"Chưa công bố vùng tuyển lớp {grade}{year} / no zones published for grade {grade}{year_en}"
    )


@router.post(
    "/planning/zones",
    status_code=201,
    summary="Make (and publish) the school zones of a grade for a school year",
    description=roles_note(*PLANNERS)
    + " The forecast children admitted by road distance under each school's seats: each "
    "school's admission distance with its 80 % interval and its zone of homes, as GeoJSON.",
)
def make(body: ZonesIn, conn: Conn, routing: Routing, user: Planner) -> Any:
    settings = ZoneSettings(body.grade, body.school_year, body.mode, body.edition)
    with transaction(conn):
        run_id = make_zones(
            conn,
            routing,
            settings,
            publish=body.publish,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
        made = zones_geojson(conn, run_id)
    response = json_response(made)
    response.status_code = 201
    return response


@router.get(
    "/zones",
    summary="The published school zones of a grade (the newest school year, or the one asked)",
    description="Per school: seats, expected children, admission distance (`cutoff_m`, the road "
    "distance of the last child it would admit; null when it would not fill) with its interval "
    "(`cutoff_low_m` with many children, `cutoff_high_m` with few), how much of its own unit "
    "the zone holds, and the zone as a polygon. Forecasts and seats only.",
)
def zones(
    conn: ReadConn,
    grade: Grade = 1,
    school_year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    simplify_m: Annotated[float, Query(ge=0, le=200)] = 0.0,
) -> Any:
    run_id = published_run(conn, grade, school_year)
    if run_id is None:
        raise _no_zones(grade, school_year)
    return json_response(zones_geojson(conn, run_id, simplify_m))


@router.get(
    "/zones/chances",
    summary="A home's chance at the schools near it next year, from the published zones",
    description="The nearest schools of the grade's level by road, each with `chance`: "
    "`very_likely` (within the admission distance even with many children), `uncertain`, or "
    "`unlikely` (beyond it even with few), and one sentence in Vietnamese and English of how "
    "it was estimated. An estimate from forecasts and seats, never a promise. With no zones "
    "published for the grade: `run` null, no schools, and a `note` saying so.",
)
def chances(
    conn: ReadConn,
    routing: Routing,
    lat: Latitude,
    lon: Longitude,
    grade: Grade = 1,
    mode: Mode = "motorbike",
    limit: Annotated[int, Query(ge=1, le=30)] = 10,
) -> Any:
    run_id = published_run(conn, grade)
    if run_id is None:
        # Nothing to estimate from yet: said, not an error (a map asks at every home).
        said = _no_zones(grade, None)
        return json_response({"run": None, "grade": grade, "schools": [], "note": str(said)})
    near = routing.near(conn, lon, lat, mode, LEVEL_OF_GRADE[grade], limit)
    return json_response(
        {"run": run_id, "grade": grade, "schools": chances_near(conn, run_id, near)}
    )
