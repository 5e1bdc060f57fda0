"""Request dependencies and helpers shared by the routers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from fastapi import Request, Response

from gis_service.db.connection import Connection, ConnectionSource
from gis_service.errors import InvalidRequestError


def get_connection(request: Request) -> Iterator[Connection]:
    """A pooled connection for the length of one request (read-only work is rolled back)."""
    pool: ConnectionSource = request.app.state.pool
    with pool.connection() as conn:
        yield conn


def json_response(payload: Any) -> Response:
    """JSON already shaped by PostgreSQL, sent without re-validation."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, media_type="application/json")


def feature_collection(total: int, features: list[Any]) -> Response:
    """A GeoJSON FeatureCollection page: the features and how many matched in all."""
    return json_response(
        {
            "type": "FeatureCollection",
            "numberMatched": total,
            "numberReturned": len(features),
            "features": features,
        }
    )


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """'minLon,minLat,maxLon,maxLat' checked, or None."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidRequestError(
            f"bbox must be four numbers minLon,minLat,maxLon,maxLat; got {text!r}"
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidRequestError(
            f"bbox must be four numbers minLon,minLat,maxLon,maxLat; got {text!r}"
        )
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidRequestError(
            f"bbox {text!r} is not minLon,minLat,maxLon,maxLat within -180..180 and -90..90"
        )
    return min_lon, min_lat, max_lon, max_lat
