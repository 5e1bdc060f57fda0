"""Road-distance endpoints: schools near a home, the route to a school, a school's reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pyproj
import shapely
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from gis_service.api.deps import (
    feature_collection,
    get_read_connection,
    json_response,
    lent_read_connection,
)
from gis_service.api.public_cache import current_version
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.routing.service import RoutingService
from gis_service.units.describe import unit_full_name

router = APIRouter(tags=["routing"])

Mode = Literal["walk", "motorbike", "car"]
Level = Literal["mam_non", "tieu_hoc", "thcs", "thpt"]
Latitude = Annotated[float, Query(ge=-90, le=90, description="latitude, WGS84")]
Longitude = Annotated[float, Query(ge=-180, le=180, description="longitude, WGS84")]


_TO_UTM = pyproj.Transformer.from_crs(4326, 32648, always_xy=True)


def area_km2(shape: shapely.Geometry) -> float:
    """Area of a lon/lat shape in km², measured in UTM 48N."""
    return (
        float(
            shapely.transform(
                shape, lambda xy: np.column_stack(_TO_UTM.transform(xy[:, 0], xy[:, 1]))
            ).area
        )
        / 1e6
    )


async def routing_service(request: Request) -> RoutingService:
    """The app's routing service (async: no worker thread needed to read it)."""
    service: RoutingService = request.app.state.routing
    return service


def parse_lat_lon(text: str) -> tuple[float, float]:
    """'lat,lon' checked."""
    parts = text.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise InvalidRequestError(f"expected 'lat,lon', got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRequestError(f"{text!r} is not a latitude,longitude pair")
    return lat, lon


@dataclass(frozen=True)
class SchoolSummaries:
    """What a near-home answer shows of every school, read at one public data version."""

    version: int
    by_id: dict[int, tuple[Any, ...]]


def school_summaries(
    request: Request, conn: Connection, version: int, *, fresh: bool = False
) -> SchoolSummaries:
    """Every school's point, name, levels, ownership, address and ward, read once per public
    data version (which moves with any change to schools or wards) and kept by the worker;
    `fresh` reads them again regardless."""
    kept: SchoolSummaries | None = getattr(request.app.state, "school_summaries", None)
    if kept is not None and kept.version == version and not fresh:
        return kept
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT s.id, ST_AsGeoJSON(s.geom, 7)::json, s.name, s.levels, s.ownership, s.address,
                   w.name, w.unit_type
            FROM schools s LEFT JOIN admin_units w ON w.id = s.ward_id
            """
        )
        # The ward is the school's unit of the current edition, named with its type.
        made = SchoolSummaries(
            version,
            {
                int(r[0]): (*r[:6], None if r[6] is None else unit_full_name(r[6], r[7]))
                for r in cur.fetchall()
            },
        )
    request.app.state.school_summaries = made
    return made


@router.get("/schools/near", summary="Schools ordered by road distance from a home")
async def schools_near(
    request: Request,
    service: Annotated[RoutingService, Depends(routing_service)],
    lat: Latitude,
    lon: Longitude,
    mode: Mode = "motorbike",
    level: Level | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    version = await current_version(request)
    # Most answers need nothing the worker does not hold at this version: made on the event
    # loop in a fraction of a millisecond. Otherwise the network, school points or fields are
    # read (or computed) in a worker thread.
    found = service.near_from_memory(lon, lat, mode, level, limit, version)
    kept: SchoolSummaries | None = getattr(request.app.state, "school_summaries", None)
    schools = kept.by_id if kept is not None and kept.version == version else {}
    if found is None or any(row["school_id"] not in schools for row in found):
        async with lent_read_connection(request) as conn:
            found, schools = await run_in_threadpool(
                _near_and_summaries, request, conn, service, (lon, lat, mode, level, limit), version
            )
    if not found:
        return feature_collection(0, [])
    features = []
    for row in found:
        school_id = row["school_id"]
        _, geometry, name, levels, ownership, address, ward = schools[school_id]
        features.append(
            {
                "type": "Feature",
                "id": school_id,
                "geometry": geometry,
                "properties": {
                    "id": school_id,
                    "name": name,
                    "levels": levels,
                    "ownership": ownership,
                    "address": address,
                    "ward_name": ward,
                    "mode": mode,
                    **{k: v for k, v in row.items() if k != "school_id"},
                },
            }
        )
    return feature_collection(len(features), features)


def _near_and_summaries(
    request: Request,
    conn: Connection,
    service: RoutingService,
    query: tuple[float, float, str, str | None, int],
    version: int,
) -> tuple[list[dict[str, Any]], dict[int, tuple[Any, ...]]]:
    """The near-home rows and the school summaries they need, through the database."""
    lon, lat, mode, level, limit = query
    found = service.near(conn, lon, lat, mode, level, limit, data_version=version)
    schools = school_summaries(request, conn, version).by_id
    if any(row["school_id"] not in schools for row in found):
        # A school added since the version was read: read them again.
        schools = school_summaries(request, conn, version, fresh=True).by_id
    return found, schools


@router.get("/route", summary="The road route from a home to a school, as GeoJSON")
def route_to_school(
    conn: Annotated[Connection, Depends(get_read_connection)],
    service: Annotated[RoutingService, Depends(routing_service)],
    from_: Annotated[str, Query(alias="from", description="home as 'lat,lon'")],
    to_school: Annotated[int, Query(description="school id")],
    mode: Mode = "motorbike",
    weight: Literal["length", "time"] = "length",
) -> Response:
    lat, lon = parse_lat_lon(from_)
    found = service.route_to_school(conn, lon, lat, to_school, mode, weight)
    coordinates = [
        [round(float(x), 7), round(float(y), 7)] for x, y in zip(found.lon, found.lat, strict=True)
    ]
    return json_response(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coordinates},
            "properties": {
                "school_id": to_school,
                "mode": mode,
                "weight": weight,
                "length_m": round(float(found.length_m), 1),
                "time_min": round(float(found.time_s) / 60.0, 2),
            },
        }
    )


@router.get("/schools/{school_id}/reach", summary="Area reachable from a school in N minutes")
def school_reach(
    school_id: int,
    conn: Annotated[Connection, Depends(get_read_connection)],
    service: Annotated[RoutingService, Depends(routing_service)],
    mode: Mode = "motorbike",
    minutes: Annotated[float, Query(gt=0, le=120)] = 10,
) -> Response:
    area = service.reach(conn, school_id, mode, minutes)
    return json_response(
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(shapely.set_precision(area, 1e-7)),
            "properties": {
                "school_id": school_id,
                "mode": mode,
                "minutes": minutes,
                "area_km2": round(area_km2(area), 4),
            },
        }
    )
