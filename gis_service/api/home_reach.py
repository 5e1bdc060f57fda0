"""The area reachable from a home (a point, not a school) within N minutes on the roads."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import shapely
from fastapi import APIRouter, Depends, Query, Response

from gis_service.api.deps import get_read_connection, json_response
from gis_service.api.routing import Latitude, Longitude, Mode, area_km2, routing_service
from gis_service.db.connection import Connection
from gis_service.routing.distances import reachable_area
from gis_service.routing.service import RoutingService

router = APIRouter(tags=["routing"])


@router.get("/reach", summary="Area reachable from a home in N minutes, as a polygon")
def home_reach(
    conn: Annotated[Connection, Depends(get_read_connection)],
    service: Annotated[RoutingService, Depends(routing_service)],
    lat: Latitude,
    lon: Longitude,
    mode: Mode = "motorbike",
    minutes: Annotated[float, Query(gt=0, le=60)] = 10,
) -> Response:
    net = service.network(conn, mode)
    home = service.snap_home(net, lon, lat)
    area = reachable_area(net.graph, home, minutes * 60.0)
    return json_response(
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(shapely.set_precision(area, 1e-7)),
            "properties": {
                "mode": mode,
                "minutes": minutes,
                "area_km2": round(area_km2(area), 4),
                "snap_m": round(float(np.asarray(home.offset_m)[0]), 1),
            },
        }
    )
