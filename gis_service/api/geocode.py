"""Address search: a typed Vietnamese address to candidate points, from our own OSM data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from gis_service.api.deps import get_connection, json_response
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.geocoding.search import geocode

router = APIRouter(tags=["geocoding"])


@router.get(
    "/geocode",
    summary="Points for an address (house number, street, ward, district)",
    description="Diacritics and case are ignored. Each candidate says how it was found "
    "(`precision`: house, alley, interpolated, street, ward, district) and how far off it may "
    "be (`uncertainty_m`), with a note in Vietnamese and English. Addresses © OpenStreetMap "
    "contributors.",
)
def geocode_address(
    conn: Annotated[Connection, Depends(get_connection)],
    q: Annotated[str, Query(max_length=200, description="the address as typed")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> Response:
    if not q.strip():
        raise InvalidRequestError("q is empty: type an address / hãy nhập một địa chỉ")
    return json_response(geocode(conn, q, limit))
