"""School endpoints: the filtered GeoJSON list and one school with its classes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from gis_service.api.deps import feature_collection, json_response, parse_bbox
from gis_service.api.models import SchoolCollection, SchoolDetail
from gis_service.api.public_cache import public_answer
from gis_service.db.connection import Connection
from gis_service.errors import NotFoundError
from gis_service.school_levels import school_search_text

router = APIRouter(tags=["schools"])

LevelFilter = Literal["mam_non", "tieu_hoc", "thcs", "thpt", "unknown"]
OwnershipFilter = Literal["public", "private", "unknown"]

_FEATURE = """
json_build_object(
    'type', 'Feature',
    'id', s.id,
    'geometry', ST_AsGeoJSON(s.geom, 7)::json,
    'properties', json_build_object(
        'id', s.id, 'code', s.code, 'name', s.name, 'levels', s.levels,
        'levels_source', s.levels_source, 'ownership', s.ownership, 'address', s.address,
        'phone', s.phone, 'ward_code', w.code, 'ward_name', w.name,
        'district_code', d.code, 'district_name', d.name, 'source', s.source
        {extra}
    )
)
"""
_FROM = """
FROM schools s
LEFT JOIN admin_units w ON w.id = s.ward_id
LEFT JOIN admin_units d ON d.id = w.parent_id
"""


def school_filters(
    level: LevelFilter | None,
    ownership: OwnershipFilter | None,
    ward: str | None,
    district: str | None,
    bbox: tuple[float, float, float, float] | None,
    q: str | None,
) -> tuple[list[str], list[Any]]:
    """WHERE clauses (fixed text) and their bound values for the list filters."""
    clauses: list[str] = []
    values: list[Any] = []
    if level == "unknown":
        clauses.append("cardinality(s.levels) = 0")
    elif level:
        clauses.append("s.levels @> ARRAY[%s]::text[]")
        values.append(level)
    if ownership:
        clauses.append("s.ownership = %s")
        values.append(ownership)
    if ward:
        clauses.append("w.code = %s")
        values.append(ward)
    if district:
        clauses.append("d.code = %s")
        values.append(district)
    if bbox:
        clauses.append("s.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        values.extend(bbox)
    for word in school_search_text(q or "").split():
        clauses.append("s.name_folded LIKE %s")
        values.append("%" + word.replace("\\", "").replace("%", "").replace("_", "\\_") + "%")
    return clauses, values


@router.get(
    "/schools",
    response_model=SchoolCollection,
    summary="Schools as GeoJSON, filtered",
    description="Filters combine with AND. `q` searches names ignoring Vietnamese diacritics "
    "and case: every word of it must appear in the name.",
)
async def list_schools(
    request: Request,
    level: LevelFilter | None = None,
    ownership: OwnershipFilter | None = None,
    ward: Annotated[str | None, Query(description="ward code")] = None,
    district: Annotated[str | None, Query(description="district code")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    q: Annotated[str | None, Query(max_length=200, description="name search")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    clauses, values = school_filters(level, ownership, ward, district, parse_bbox(bbox), q)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    folded = school_search_text(q or "")
    sql = f"""
        WITH matched AS (
            SELECT s.id, similarity(s.name_folded, %s) AS score {_FROM} {where}
        )
        SELECT (SELECT count(*) FROM matched),
               COALESCE(json_agg(f.feature ORDER BY f.rank), '[]'::json)
        FROM (
            SELECT {_FEATURE.format(extra="")} AS feature,
                   row_number() OVER (ORDER BY m.score DESC, s.name, s.id) AS rank
            FROM matched m JOIN schools s ON s.id = m.id
            LEFT JOIN admin_units w ON w.id = s.ward_id
            LEFT JOIN admin_units d ON d.id = w.parent_id
            ORDER BY m.score DESC, s.name, s.id
            LIMIT %s OFFSET %s
        ) f
    """

    def make(conn: Connection) -> Response:
        with conn.cursor() as cur:
            cur.execute(sql, [folded, *values, limit, offset])
            total, features = cur.fetchone()  # type: ignore[misc]
        return feature_collection(total, features)

    return await public_answer(request, make)


@router.get("/schools/{school_id}", response_model=SchoolDetail, summary="One school")
async def get_school(school_id: int, request: Request) -> Response:
    extra = """, 'website', s.website, 'osm_type', s.osm_type, 'osm_id', s.osm_id,
        'grades', COALESCE((SELECT json_agg(json_build_object(
            'grade', g.grade, 'classes', g.classes, 'class_size', g.class_size,
            'seats', g.classes * g.class_size) ORDER BY g.grade)
            FROM school_grades g WHERE g.school_id = s.id), '[]'::json)"""

    def make(conn: Connection) -> Response:
        with conn.cursor() as cur:
            sql = f"SELECT {_FEATURE.format(extra=extra)} {_FROM} WHERE s.id = %s"
            cur.execute(sql, (school_id,))
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no school with id {school_id}")
        return json_response(row[0])

    return await public_answer(request, make)
