"""School endpoints: the filtered GeoJSON list and one school with its classes, each with the
commune-level unit it lies in, in every edition of the units loaded."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from gis_service.api.deps import json_response, parse_bbox
from gis_service.api.models import SchoolCollection, SchoolDetail
from gis_service.api.public_cache import public_answer_in_edition
from gis_service.db.connection import Connection
from gis_service.errors import NotFoundError
from gis_service.school_levels import school_search_text
from gis_service.units.describe import EDITION_HELP, unit_full_name, unit_type_vi
from gis_service.units.editions import EDITION_2019

router = APIRouter(tags=["schools"])

LevelFilter = Literal["mam_non", "tieu_hoc", "thcs", "thpt", "unknown"]
OwnershipFilter = Literal["public", "private", "unknown"]

# The unit of each edition whose polygon covers the school (the lowest id on a shared edge,
# as the school's ward_id is chosen in the current edition), by edition.
_UNITS = """
LEFT JOIN LATERAL (
    SELECT json_object_agg(u.edition, json_build_object(
               'code', u.code, 'name', u.name, 'unit_type', u.unit_type,
               'district_code', u.district_code, 'district_name', u.district_name)) AS units
    FROM (
        SELECT DISTINCT ON (a.edition) a.edition, a.code, a.name, a.unit_type,
               d.code AS district_code, d.name AS district_name
        FROM admin_units a
        LEFT JOIN admin_units d ON d.id = a.parent_id AND d.level = 'district'
        WHERE a.level = 'ward' AND ST_Covers(a.geom, s.geom)
        ORDER BY a.edition, a.id
    ) u
) su ON true
"""

_FEATURE = """
json_build_object(
    'type', 'Feature',
    'id', s.id,
    'geometry', ST_AsGeoJSON(s.geom, 7)::json,
    'properties', json_build_object(
        'id', s.id, 'code', s.code, 'name', s.name, 'levels', s.levels,
        'levels_source', s.levels_source, 'ownership', s.ownership, 'address', s.address,
        'phone', s.phone, 'units', COALESCE({units}, '{{}}'::json), 'source', s.source
        {extra}
    )
)
"""


def school_filters(
    edition: str,
    level: LevelFilter | None,
    ownership: OwnershipFilter | None,
    ward: str | None,
    district: str | None,
    bbox: tuple[float, float, float, float] | None,
    q: str | None,
) -> tuple[list[str], list[Any]]:
    """WHERE clauses (fixed text) and their bound values for the list filters: a ward is a
    unit code of `edition` (`su.units` holds the school's unit by edition), a district a
    2019 district code."""
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
        clauses.append("su.units -> %s ->> 'code' = %s")
        values.extend([edition, ward])
    if district:
        clauses.append("su.units -> %s ->> 'district_code' = %s")
        values.extend([EDITION_2019, district])
    if bbox:
        clauses.append("s.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        values.extend(bbox)
    for word in school_search_text(q or "").split():
        clauses.append("s.name_folded LIKE %s")
        values.append("%" + word.replace("\\", "").replace("%", "").replace("_", "\\_") + "%")
    return clauses, values


def describe_school(properties: dict[str, Any], edition: str) -> None:
    """Name each of the school's units with its type, and say its unit of `edition` (with the
    2019 district) at the top level as ward_code, ward_name and district_code."""
    units: dict[str, dict[str, Any]] = properties["units"]
    for unit in units.values():
        unit["full_name"] = unit_full_name(unit["name"], unit["unit_type"])
        unit["unit_type_vi"] = unit_type_vi(unit["unit_type"])
    shown = units.get(edition)
    census = units.get(EDITION_2019)
    properties["edition"] = edition
    properties["ward_code"] = shown["code"] if shown else None
    properties["ward_name"] = shown["name"] if shown else None
    properties["ward_full_name"] = shown["full_name"] if shown else None
    properties["district_code"] = census["district_code"] if census else None
    properties["district_name"] = census["district_name"] if census else None


@router.get(
    "/schools",
    response_model=SchoolCollection,
    summary="Schools as GeoJSON, filtered",
    description="Filters combine with AND. `q` searches names ignoring Vietnamese diacritics "
    "and case: every word of it must appear in the name. `ward` is a unit code of `edition` "
    "(default: the current edition), `district` a 2019 district code. Each school says its "
    "unit in every edition loaded (`units`); `ward_code` and `ward_name` are its unit of "
    "`edition`.",
)
async def list_schools(
    request: Request,
    level: LevelFilter | None = None,
    ownership: OwnershipFilter | None = None,
    ward: Annotated[str | None, Query(description="unit code of the edition")] = None,
    edition: Annotated[str | None, Query(description=EDITION_HELP)] = None,
    district: Annotated[str | None, Query(description="2019 district code")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat")] = None,
    q: Annotated[str | None, Query(max_length=200, description="name search")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    box = parse_bbox(bbox)
    folded = school_search_text(q or "")

    def make(conn: Connection, chosen: str) -> Response:
        clauses, values = school_filters(chosen, level, ownership, ward, district, box, q)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"""
            WITH matched AS (
                SELECT s.id, similarity(s.name_folded, %s) AS score, su.units
                FROM schools s {_UNITS} {where}
            )
            SELECT (SELECT count(*) FROM matched),
                   COALESCE(json_agg(f.feature ORDER BY f.rank), '[]'::json)
            FROM (
                SELECT {_FEATURE.format(units="m.units", extra="")} AS feature,
                       row_number() OVER (ORDER BY m.score DESC, s.name, s.id) AS rank
                FROM matched m JOIN schools s ON s.id = m.id
                ORDER BY m.score DESC, s.name, s.id
                LIMIT %s OFFSET %s
            ) f
        """
        with conn.cursor() as cur:
            cur.execute(sql, [folded, *values, limit, offset])
            total, features = cur.fetchone()  # type: ignore[misc]
        for feature in features:
            describe_school(feature["properties"], chosen)
        return json_response(
            {
                "type": "FeatureCollection",
                "edition": chosen,
                "numberMatched": total,
                "numberReturned": len(features),
                "features": features,
            }
        )

    return await public_answer_in_edition(request, edition, make)


@router.get("/schools/{school_id}", response_model=SchoolDetail, summary="One school")
async def get_school(
    school_id: int,
    request: Request,
    edition: Annotated[str | None, Query(description=EDITION_HELP)] = None,
) -> Response:
    extra = """, 'website', s.website, 'osm_type', s.osm_type, 'osm_id', s.osm_id,
        'grades', COALESCE((SELECT json_agg(json_build_object(
            'grade', g.grade, 'classes', g.classes, 'class_size', g.class_size,
            'seats', g.classes * g.class_size) ORDER BY g.grade)
            FROM school_grades g WHERE g.school_id = s.id), '[]'::json)"""

    def make(conn: Connection, chosen: str) -> Response:
        with conn.cursor() as cur:
            feature = _FEATURE.format(units="su.units", extra=extra)
            cur.execute(f"SELECT {feature} FROM schools s {_UNITS} WHERE s.id = %s", (school_id,))
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no school with id {school_id}")
        school = row[0]
        describe_school(school["properties"], chosen)
        return json_response(school)

    return await public_answer_in_edition(request, edition, make)
