"""Road-distance endpoints: schools near a home, the route to a school, a school's reach."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import numpy as np
import pyproj
import shapely
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from gis_service.api.asgi import HttpMiddleware
from gis_service.api.deps import (
    get_read_connection,
    json_response,
    json_text,
    lent_read_connection,
)
from gis_service.api.errors import error_response
from gis_service.api.public_cache import current_version
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, SchoolmapError
from gis_service.routing.profiles import MODES
from gis_service.routing.service import RoutingService
from gis_service.school_levels import LEVELS
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
    """What a near-home answer shows of every school, read at one public data version: by
    school id, the opening of its GeoJSON feature as JSON text (`_feature_opening`)."""

    version: int
    by_id: dict[int, str]


def _feature_opening(
    school_id: int,
    geometry: Any,
    name: str | None,
    levels: list[str] | None,
    ownership: str | None,
    address: str | None,
    ward: str | None,
) -> str:
    """A school's near-home feature up to its summary's last property, with neither the
    answer's own properties nor the closing braces: written once per data version rather
    than for every answer."""
    feature = json_text(
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
            },
        }
    )
    return feature[: -len("}}")]


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
                int(r[0]): _feature_opening(
                    int(r[0]),
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    None if r[6] is None else unit_full_name(r[6], r[7]),
                )
                for r in cur.fetchall()
            },
        )
    request.app.state.school_summaries = made
    return made


NEAR_PATH = "/schools/near"
DEFAULT_MODE: Mode = "motorbike"
DEFAULT_NEAR_LIMIT = 10
MAX_NEAR_LIMIT = 100


@dataclass(frozen=True)
class NearQuery:
    """What a near-home question asks: the home, the travel mode, the level and how many."""

    lon: float
    lat: float
    mode: str
    level: str | None
    limit: int


@router.get(NEAR_PATH, summary="Schools ordered by road distance from a home")
async def schools_near(
    request: Request,
    service: Annotated[RoutingService, Depends(routing_service)],
    lat: Latitude,
    lon: Longitude,
    mode: Mode = DEFAULT_MODE,
    level: Level | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_NEAR_LIMIT)] = DEFAULT_NEAR_LIMIT,
) -> Response:
    query = NearQuery(lon, lat, mode, level, limit)
    version = await current_version(request)
    answer = near_answer_from_memory(request, service, query, version)
    if answer is not None:
        return answer
    # The network, school points or fields are read (or computed) in a worker thread.
    async with lent_read_connection(request) as conn:
        found, schools = await run_in_threadpool(
            _near_and_summaries, request, conn, service, query, version
        )
    return _near_answer(found, schools, query.mode)


_PLAIN_DEGREES = re.compile(r"-?\d{1,3}(?:\.\d{1,16})?")
_PLAIN_LIMIT = re.compile(r"[1-9]\d{0,2}")
_NEAR_PARAMS = frozenset({"lat", "lon", "mode", "level", "limit"})


def plain_near_query(query_string: bytes) -> NearQuery | None:
    """The question of a near-home query string written as the map writes it (each parameter
    once, plain decimal degrees, a known mode and level), else None: anything else, valid or
    not, is left to the endpoint, which checks it and says what is wrong."""
    try:
        pairs = parse_qsl(query_string.decode("ascii"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    values = dict(pairs)
    if len(values) != len(pairs) or not values.keys() <= _NEAR_PARAMS:
        return None
    lat, lon = values.get("lat", ""), values.get("lon", "")
    mode = values.get("mode", DEFAULT_MODE)
    level = values.get("level")
    limit = values.get("limit", str(DEFAULT_NEAR_LIMIT))
    if not (_PLAIN_DEGREES.fullmatch(lat) and _PLAIN_DEGREES.fullmatch(lon)):
        return None
    if mode not in MODES or (level is not None and level not in LEVELS):
        return None
    if not _PLAIN_LIMIT.fullmatch(limit) or int(limit) > MAX_NEAR_LIMIT:
        return None
    lat_deg, lon_deg = float(lat), float(lon)
    if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180):
        return None
    return NearQuery(lon_deg, lat_deg, mode, level, int(limit))


class NearFromMemory(HttpMiddleware):
    """Answers GET /schools/near straight from what the worker holds, without the framework's
    routing, dependencies and parameter checks: most of the time a near-home answer took.

    It answers only a plain question (`plain_near_query`) whose answer is in memory
    (`near_answer_from_memory`, which the endpoint uses too, so both give the same bytes);
    anything else goes on to the endpoint. It sits inside the other middleware (request ids,
    metrics, compression, body limits), which see its answers as the endpoint's.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = (
            plain_near_query(scope.get("query_string", b""))
            if scope["path"] == NEAR_PATH and scope["method"] == "GET"
            else None
        )
        if query is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        answer: Response | None
        try:
            version = await current_version(request)
            answer = near_answer_from_memory(request, request.app.state.routing, query, version)
        except SchoolmapError as exc:
            answer = error_response(exc)
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = _near_route()  # for the metrics, as the router would set it
        await answer(scope, receive, send)


@functools.cache
def _near_route() -> APIRoute:
    """The near-home endpoint's route (found once)."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == NEAR_PATH)


def near_answer_from_memory(
    request: Request, service: RoutingService, query: NearQuery, version: int
) -> Response | None:
    """The answer when it needs nothing the worker does not hold at this public data version
    (made on the event loop in a fraction of a millisecond), else None."""
    found = service.near_from_memory(
        query.lon, query.lat, query.mode, query.level, query.limit, version
    )
    kept: SchoolSummaries | None = getattr(request.app.state, "school_summaries", None)
    if found is None or kept is None or kept.version != version:
        return None
    if any(row["school_id"] not in kept.by_id for row in found):
        return None
    return _near_answer(found, kept.by_id, query.mode)


def _near_answer(found: list[dict[str, Any]], schools: dict[int, str], mode: str) -> Response:
    """The near-home rows as a GeoJSON FeatureCollection: each school's feature opening (its
    summary) closed with the answer's properties, the same JSON `feature_collection` writes."""
    features = [
        f"{schools[row['school_id']]},"
        f"{json_text({'mode': mode, **{k: v for k, v in row.items() if k != 'school_id'}})[1:]}}}"
        for row in found
    ]
    body = (
        f'{{"type":"FeatureCollection","numberMatched":{len(found)},'
        f'"numberReturned":{len(found)},"features":[{",".join(features)}]}}'
    )
    return Response(body, media_type="application/json")


def _near_and_summaries(
    request: Request,
    conn: Connection,
    service: RoutingService,
    query: NearQuery,
    version: int,
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The near-home rows and the school summaries they need, through the database."""
    found = service.near(
        conn, query.lon, query.lat, query.mode, query.level, query.limit, data_version=version
    )
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
