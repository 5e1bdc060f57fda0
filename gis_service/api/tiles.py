"""Vector tiles of roads, units and schools made by PostGIS (ST_AsMVT), for the browser map.

The ward layer holds the commune-level units of one edition (the current one unless
`?edition=` says otherwise), each with its full name, type, and how much of it the 2019 census
covers (`no_census` set where it does not). The ward_labels layer holds one point per unit to
write its name at: the centre of the largest circle inside it, in the one tile holding that
point, so a name is written once however many tiles the unit spans."""

from __future__ import annotations

import math
import threading
import unicodedata
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from gis_service.api.public_cache import public_answer_in_edition
from gis_service.db.connection import Connection
from gis_service.db.version_reader import public_data_version
from gis_service.errors import InvalidRequestError
from gis_service.units.describe import (
    EDITION_HELP,
    census_shares,
    unit_full_name,
    without_census,
)

router = APIRouter(tags=["map tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 20
EXTENT = 4096
# Road classes drawn from each zoom up: a whole city's alleys would fill a low-zoom tile.
MAJOR_ROADS = ["motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"]
MIDDLE_ROADS = [*MAJOR_ROADS, "secondary", "secondary_link", "tertiary", "tertiary_link"]
ALL_ROADS_FROM_ZOOM = 14
MIDDLE_ROADS_FROM_ZOOM = 11
WEB_MERCATOR_WORLD_M = 40_075_016.68
# Half the side of the Web Mercator square, as ST_TileEnvelope has it.
WEB_MERCATOR_HALF_M = 20_037_508.342789244
VECTOR_LAYERS: dict[str, dict[str, str]] = {
    "roads": {
        "highway": "String: the OpenStreetMap highway class (primary, residential, …)",
        "name": "String: the street's name as mapped",
        "service": "String: the service road kind (alley, driveway, …)",
    },
    "wards": {
        "id": "Number: the unit's id",
        "code": "String: the official code",
        "name": "String: the name",
        "full_name": "String: the name with its type (Phường Sài Gòn)",
        "unit_type": "String: phuong, xa, thi_tran, dac_khu",
        "edition": "String: the edition of units (2019, 2025)",
        "district_name": "String: the 2019 district",
        "census_coverage": "Number: share of the unit's area the 2019 census covers",
        "no_census": "Boolean: the 2019 census does not cover the unit",
    },
    "ward_labels": {
        "id": "Number: the unit's id",
        "code": "String: the official code",
        "name": "String: the name",
        "full_name": "String: the name with its type",
        "unit_type": "String: phuong, xa, thi_tran, dac_khu",
        "edition": "String: the edition of units",
    },
    "schools": {
        "id": "Number: the school's id",
        "name": "String: the name",
        "levels": "String: levels taught, comma-separated (mam_non, tieu_hoc, thcs, thpt)",
        "level": "String: the first level taught, or unknown",
        "ownership": "String: public, private or unknown",
    },
}
"""The layers of a tile and their fields (described in TileJSON for other clients)."""

_TILE_SQL = """
WITH bounds AS (
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS merc,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.02), 4326) AS lonlat
),
roads AS (
    SELECT ST_AsMVTGeom(ST_Simplify(ST_Transform(r.geom, 3857), %(tolerance)s),
                        b.merc, %(extent)s, 64, true) AS geom,
           r.highway, r.tags ->> 'service' AS service,
           -- Names composed (NFC), as the glyphs draw them best; normalize() needs UTF-8.
           CASE WHEN current_setting('server_encoding') = 'UTF8' THEN normalize(r.name, NFC)
                ELSE r.name END AS name
    FROM road_ways r, bounds b
    WHERE r.geom && b.lonlat AND (%(all_roads)s OR r.highway = ANY(%(classes)s))
),
described AS (
    SELECT * FROM unnest(%(unit_ids)s::integer[], %(full_names)s::text[],
                         %(coverage)s::double precision[], %(no_census)s::boolean[])
                  AS t (id, full_name, census_coverage, no_census)
),
wards AS (
    SELECT ST_AsMVTGeom(
               ST_SimplifyPreserveTopology(ST_Transform(u.geom, 3857), %(tolerance)s),
               b.merc, %(extent)s, 64, true) AS geom,
           u.id, u.code, u.name, u.edition, u.unit_type, t.full_name,
           d.name AS district_name, t.census_coverage, t.no_census
    FROM admin_units u
    LEFT JOIN admin_units d ON d.id = u.parent_id AND d.level = 'district'
    JOIN described t ON t.id = u.id, bounds b
    WHERE u.id = ANY(%(unit_ids)s)
),
ward_labels AS (
    SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(l.x, l.y), 3857), b.merc, %(extent)s, 0, false)
               AS geom,
           u.id, u.code, l.name, l.full_name, u.unit_type, u.edition
    FROM unnest(%(label_ids)s::integer[], %(label_x)s::double precision[],
                %(label_y)s::double precision[], %(label_names)s::text[],
                %(label_full_names)s::text[]) AS l (id, x, y, name, full_name)
    JOIN admin_units u ON u.id = l.id, bounds b
),
schools AS (
    SELECT ST_AsMVTGeom(ST_Transform(s.geom, 3857), b.merc, %(extent)s, 64, true) AS geom,
           s.id, s.name, array_to_string(s.levels, ',') AS levels,
           COALESCE(s.levels[1], 'unknown') AS level, s.ownership
    FROM schools s, bounds b
    WHERE s.geom && b.lonlat
)
SELECT (SELECT COALESCE(ST_AsMVT(roads, 'roads', %(extent)s, 'geom'), '') FROM roads
        WHERE geom IS NOT NULL)
    || (SELECT COALESCE(ST_AsMVT(wards, 'wards', %(extent)s, 'geom'), '') FROM wards
        WHERE geom IS NOT NULL)
    || (SELECT COALESCE(ST_AsMVT(ward_labels, 'ward_labels', %(extent)s, 'geom'), '')
        FROM ward_labels WHERE geom IS NOT NULL)
    || (SELECT COALESCE(ST_AsMVT(schools, 'schools', %(extent)s, 'geom'), '') FROM schools
        WHERE geom IS NOT NULL)
"""

# The point a unit's name is written at: the centre of the largest circle inside it (in Web
# Mercator, where a circle looks round), or a point on its surface if its polygon is invalid.
_LABEL_POINTS_SQL = """
SELECT id, ST_X(p), ST_Y(p) FROM (
    SELECT u.id,
           CASE WHEN ST_IsValid(u.geom)
                THEN (ST_MaximumInscribedCircle(ST_Transform(u.geom, 3857))).center
                ELSE ST_Transform(ST_PointOnSurface(u.geom), 3857) END AS p
    FROM admin_units u
    WHERE u.edition = %(edition)s AND u.level = 'ward' AND u.geom IS NOT NULL
) points WHERE p IS NOT NULL
"""


def check_tile(z: int, x: int, y: int) -> None:
    """Raise InvalidRequestError unless z/x/y names a tile of the Web Mercator grid."""
    side = 1 << z
    if not (0 <= x < side and 0 <= y < side):
        raise InvalidRequestError(
            f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y run from 0 to {side - 1}"
        )


@router.get(
    "/tiles/{z}/{x}/{y}.pbf",
    summary="A vector tile (layers roads, wards, ward_labels, schools)",
    description="Mapbox Vector Tile made by PostGIS ST_AsMVT in Web Mercator (EPSG:3857). "
    f"Alleys and small roads appear from zoom {ALL_ROADS_FROM_ZOOM}. The wards layer holds "
    "the commune-level units of `edition` (default: the current one) with `full_name`, "
    "`unit_type`, `census_coverage` and `no_census`; ward_labels one point per unit to write "
    "its `full_name` at, in the one tile holding it. "
    "Map data © OpenStreetMap contributors.",
    response_class=Response,
    responses={200: {"content": {MVT_MEDIA_TYPE: {}}}},
)
async def vector_tile(
    request: Request,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    edition: Annotated[str | None, Query(description=EDITION_HELP)] = None,
) -> Response:
    check_tile(z, x, y)
    pixel_m = WEB_MERCATOR_WORLD_M / (1 << z) / 256
    params = {
        "z": z,
        "x": x,
        "y": y,
        "extent": EXTENT,
        "all_roads": z >= ALL_ROADS_FROM_ZOOM,
        "classes": MIDDLE_ROADS if z >= MIDDLE_ROADS_FROM_ZOOM else MAJOR_ROADS,
        "tolerance": pixel_m / 2,
    }

    def make(conn: Connection, chosen: str) -> Response:
        units = _units_in_tile(conn, chosen, z, x, y)
        shares = census_shares(conn, chosen, [u[0] for u in units])
        full_names = [unit_full_name(name, kind) for _, name, kind in units]
        points = label_points(request, conn, chosen)
        labelled = [
            (unit, full_name, points[unit[0]])
            for unit, full_name in zip(units, full_names, strict=True)
            if unit[0] in points and in_tile(points[unit[0]], z, x, y)
        ]
        described = {
            "unit_ids": [u[0] for u in units],
            "full_names": full_names,
            "coverage": [_rounded(shares.get(u[0])) for u in units],
            "no_census": [
                None if shares.get(u[0]) is None else without_census(shares.get(u[0]))
                for u in units
            ],
            "label_ids": [unit[0] for unit, _, _ in labelled],
            "label_x": [point[0] for _, _, point in labelled],
            "label_y": [point[1] for _, _, point in labelled],
            "label_names": [_nfc(unit[1]) for unit, _, _ in labelled],
            "label_full_names": [_nfc(full_name) for _, full_name, _ in labelled],
        }
        with conn.cursor() as cur:
            cur.execute(_TILE_SQL, {**params, **described})
            row = cur.fetchone()
        body = bytes(row[0]) if row and row[0] is not None else b""
        return Response(
            body, media_type=MVT_MEDIA_TYPE, headers={"Cache-Control": "public, max-age=300"}
        )

    return await public_answer_in_edition(request, edition, make)


def in_tile(point: tuple[float, float], z: int, x: int, y: int) -> bool:
    """Whether a Web Mercator point lies in tile z/x/y, its west and north edges included and
    its east and south ones not. The tile is worked out from the point, so every point is in
    exactly one tile of a zoom."""
    side = 2 * WEB_MERCATOR_HALF_M / (1 << z)
    column = math.floor((point[0] + WEB_MERCATOR_HALF_M) / side)
    row = math.floor((WEB_MERCATOR_HALF_M - point[1]) / side)
    return (column, row) == (x, y)


@dataclass(frozen=True)
class LabelPoints:
    """The label points of an edition's units as read at one public data version."""

    version: int
    points: dict[int, tuple[float, float]]


_label_points_lock = threading.Lock()


def label_points(
    request: Request, conn: Connection, edition: str
) -> dict[int, tuple[float, float]]:
    """Each unit of the edition's label point in Web Mercator, by unit id. Found for every
    unit of the edition at once and kept by the worker until the public data changes: a unit
    spans many tiles, and each needs its point to know whether to write the name."""
    version = public_data_version(conn)
    kept: dict[str, LabelPoints] = getattr(request.app.state, "ward_label_points", {})
    found = kept.get(edition)
    if found is not None and found.version == version:
        return found.points
    with conn.cursor() as cur:
        cur.execute(_LABEL_POINTS_SQL, {"edition": edition})
        points = {int(i): (float(px), float(py)) for i, px, py in cur.fetchall()}
    with _label_points_lock:
        request.app.state.ward_label_points = {**kept, edition: LabelPoints(version, points)}
    return points


def _nfc(text: str) -> str:
    """Text with its letters composed (ạ as one character, not a + a combining dot), as the
    map's glyphs draw them best."""
    return unicodedata.normalize("NFC", text)


def _units_in_tile(
    conn: Connection, edition: str, z: int, x: int, y: int
) -> list[tuple[int, str, str | None]]:
    """The edition's commune-level units meeting the tile (with its margin): id, name, type."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.id, u.name, u.unit_type FROM admin_units u
            WHERE u.edition = %(edition)s AND u.level = 'ward'
              AND u.geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.02),
                                         4326)
            ORDER BY u.id
            """,
            {"edition": edition, "z": z, "x": x, "y": y},
        )
        return [(int(i), str(name), kind) for i, name, kind in cur.fetchall()]


def _rounded(share: float | None) -> float | None:
    return None if share is None else round(share, 3)
