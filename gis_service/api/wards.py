"""Ward endpoint: the commune-level units of an edition as GeoJSON, with population, census
coverage and the 2019 units a newer unit took (searchable by their old names)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gis_service.api.deps import json_response, parse_bbox
from gis_service.api.models import WardCollection
from gis_service.api.public_cache import public_answer_in_edition
from gis_service.db.connection import Connection
from gis_service.units.describe import EDITION_HELP, list_units

router = APIRouter(tags=["wards"])


@router.get(
    "/wards",
    response_model=WardCollection,
    summary="Commune-level units of an edition as GeoJSON, with population and census coverage",
    description="The units of the current edition unless `edition` is given (2019: the census "
    "wards under their districts; 2025: the communes, wards and special zones in force since "
    "1 July 2025). A unit no 2019 census unit with figures covers has `no_census` true and no "
    "population (null, never 0). `q` finds units by name or code, diacritics optional, and "
    "by the names of the 2019 wards they took (`matched_by` 'former_name', `former_note_vi` "
    "'trước đây: …').",
)
async def list_wards(
    request: Request,
    edition: Annotated[str | None, Query(description=EDITION_HELP)] = None,
    district: Annotated[str | None, Query(description="district code (2019 edition)")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="name or code, new or 2019 name")
    ] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    simplify: Annotated[
        float, Query(ge=0, le=500, description="simplify outlines to this many metres")
    ] = 0,
    geometry: Annotated[bool, Query(description="false: features without outlines")] = True,
    limit: Annotated[int, Query(ge=1, le=5000)] = 5000,
) -> Response:
    box = parse_bbox(bbox)
    # Degrees per metre near the equator; Vietnam's latitudes make this slightly conservative.
    tolerance = simplify / 111_320.0

    def make(conn: Connection, chosen_edition: str) -> Response:
        return json_response(
            list_units(
                conn,
                chosen_edition,
                district=district,
                box=box,
                q=q,
                geometry=geometry,
                tolerance=tolerance,
                limit=limit,
            )
        )

    return await public_answer_in_edition(request, edition, make)
