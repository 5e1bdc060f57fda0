"""Ward endpoint: ward polygons as GeoJSON with population by year."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gis_service.api.deps import feature_collection, parse_bbox
from gis_service.api.models import WardCollection
from gis_service.api.public_cache import public_answer
from gis_service.db.connection import Connection

router = APIRouter(tags=["wards"])


@router.get("/wards", response_model=WardCollection, summary="Wards as GeoJSON with population")
async def list_wards(
    request: Request,
    district: Annotated[str | None, Query(description="district code")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    simplify: Annotated[
        float, Query(ge=0, le=500, description="simplify outlines to this many metres")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 5000,
) -> Response:
    clauses = ["w.level = 'ward'"]
    values: list[object] = []
    if district:
        clauses.append("d.code = %s")
        values.append(district)
    box = parse_bbox(bbox)
    if box:
        clauses.append("w.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        values.extend(box)
    # Degrees per metre near the equator; Vietnam's latitudes make this slightly conservative.
    tolerance = simplify / 111_320.0
    sql = f"""
        WITH chosen AS (
            SELECT w.*, d.code AS district_code, d.name AS district_name,
                   p.name AS province_name
            FROM admin_units w
            LEFT JOIN admin_units d ON d.id = w.parent_id
            LEFT JOIN admin_units p ON p.id = d.parent_id
            WHERE {" AND ".join(clauses)}
        ),
        pops AS (
            SELECT admin_unit_id,
                   json_object_agg(year::text, population ORDER BY year) AS by_year,
                   (array_agg(population ORDER BY year DESC))[1] AS latest,
                   max(year) AS latest_year
            FROM admin_population WHERE admin_unit_id IN (SELECT id FROM chosen)
            GROUP BY admin_unit_id
        )
        SELECT (SELECT count(*) FROM chosen), COALESCE(json_agg(f ORDER BY code), '[]'::json)
        FROM (
            SELECT c.code, json_build_object(
                'type', 'Feature', 'id', c.id,
                'geometry', ST_AsGeoJSON(
                    CASE WHEN %s > 0 THEN ST_SimplifyPreserveTopology(c.geom, %s)
                         ELSE c.geom END, 7)::json,
                'properties', json_build_object(
                    'id', c.id, 'code', c.code, 'name', c.name,
                    'district_code', c.district_code, 'district_name', c.district_name,
                    'province_name', c.province_name,
                    'population', COALESCE(p.by_year, '{{}}'::json),
                    'population_latest', p.latest, 'population_year', p.latest_year,
                    'area_km2', round((ST_Area(c.geom::geography) / 1e6)::numeric, 3)
                )
            ) AS f
            FROM chosen c LEFT JOIN pops p ON p.admin_unit_id = c.id
            ORDER BY c.code LIMIT %s
        ) rows
    """

    def make(conn: Connection) -> Response:
        with conn.cursor() as cur:
            cur.execute(sql, [*values, tolerance, tolerance, limit])
            total, features = cur.fetchone()  # type: ignore[misc]
        return feature_collection(total, features)

    return await public_answer(request, make)
