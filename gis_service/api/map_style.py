"""The map's one MapLibre style, a TileJSON of the vector tiles, and the label glyphs.

The browser app and any other client (QGIS, another MapLibre page) draw the city from these:
`/tiles/style.json` (layers, sources and glyphs, with absolute URLs on this server),
`/tiles/tiles.json` (TileJSON 3.0.0 of the vector source) and `/fonts/{fontstack}/{range}.pbf`
(SDF glyph ranges kept under web/glyphs). Nothing here needs another server.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from gis_service.api.deps import get_read_connection
from gis_service.api.tiles import ALL_ROADS_FROM_ZOOM, VECTOR_LAYERS
from gis_service.db.connection import Connection
from gis_service.errors import NotFoundError
from gis_service.glyphs import (
    FONTSTACKS,
    LABEL_FONT,
    encode_glyph_range,
    glyph_file,
    parse_range,
)
from gis_service.units.describe import EDITION_HELP
from gis_service.units.editions import check_edition, current_edition

router = APIRouter(tags=["map tiles"])

OSM_CREDIT = "© OpenStreetMap contributors"
GLYPH_MEDIA_TYPE = "application/x-protobuf"
SOURCE_MIN_ZOOM = 8
SOURCE_MAX_ZOOM = 16
"""Zooms the browser asks tiles for; past 16 it enlarges the zoom-16 tiles."""
STYLE_CACHE = "public, max-age=300"
GLYPH_CACHE = "public, max-age=86400"

MAJOR_ROADS = ["motorway", "trunk", "primary", "secondary", "tertiary"]
MINOR_ROAD_NAMES_FROM_ZOOM = 14
MAJOR_ROAD_NAMES_FROM_ZOOM = 12
WARD_NAMES_FROM_ZOOM = 11
HALO = "#ffffff"


def _is_major() -> list[Any]:
    return ["in", ["get", "highway"], ["literal", MAJOR_ROADS]]


def _road_names(
    layer_id: str, filter_: list[Any], min_zoom: int, sizes: list[float]
) -> dict[str, Any]:
    """Street names written along their roads."""
    return {
        "id": layer_id,
        "type": "symbol",
        "source": "city",
        "source-layer": "roads",
        "minzoom": min_zoom,
        "filter": ["all", ["has", "name"], filter_],
        "layout": {
            "symbol-placement": "line",
            "symbol-spacing": 300,
            "text-field": ["get", "name"],
            "text-font": [LABEL_FONT],
            "text-size": ["interpolate", ["linear"], ["zoom"], *sizes],
            "text-max-angle": 30,
            "text-padding": 2,
            "text-rotation-alignment": "map",
            "text-pitch-alignment": "viewport",
        },
        "paint": {"text-color": "#3d3d3d", "text-halo-color": HALO, "text-halo-width": 1.5},
    }


def style_layers() -> list[dict[str, Any]]:
    """The layers of the map, bottom first: the ids the web app adds its layers against."""
    return [
        {"id": "background", "type": "background", "paint": {"background-color": "#f4f1ea"}},
        # Units the 2019 census does not cover are greyed, so no one reads them as empty.
        {
            "id": "wards-fill",
            "type": "fill",
            "source": "city",
            "source-layer": "wards",
            "paint": {
                "fill-color": ["case", ["==", ["get", "no_census"], True], "#dedbd5", "#e9efe4"],
                "fill-opacity": 0.6,
            },
        },
        {
            "id": "roads-minor",
            "type": "line",
            "source": "city",
            "source-layer": "roads",
            "filter": ["!", _is_major()],
            "paint": {
                "line-color": "#ffffff",
                "line-width": ["interpolate", ["linear"], ["zoom"], 13, 0.5, 17, 4],
            },
        },
        {
            "id": "roads-major",
            "type": "line",
            "source": "city",
            "source-layer": "roads",
            "filter": _is_major(),
            "paint": {
                "line-color": [
                    "match",
                    ["get", "highway"],
                    ["motorway", "trunk"],
                    "#f3b36b",
                    "primary",
                    "#f6cf8a",
                    "#fdfdfd",
                ],
                "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1, 17, 8],
            },
        },
        {
            "id": "wards-line",
            "type": "line",
            "source": "city",
            "source-layer": "wards",
            "paint": {"line-color": "#8aa07a", "line-width": 1, "line-dasharray": [3, 2]},
        },
        _road_names(
            "road-names-minor",
            ["!", _is_major()],
            MINOR_ROAD_NAMES_FROM_ZOOM,
            [MINOR_ROAD_NAMES_FROM_ZOOM, 11, 17, 13],
        ),
        _road_names("road-names-major", _is_major(), MAJOR_ROAD_NAMES_FROM_ZOOM, [12, 11, 17, 15]),
        # Last, so a ward's name wins a place over a street's where they would collide.
        {
            "id": "ward-names",
            "type": "symbol",
            "source": "city",
            "source-layer": "ward_labels",
            "minzoom": WARD_NAMES_FROM_ZOOM,
            "layout": {
                "text-field": ["get", "full_name"],
                "text-font": [LABEL_FONT],
                "text-size": ["interpolate", ["linear"], ["zoom"], 11, 12, 16, 16],
                "text-max-width": 8,
                "text-letter-spacing": 0.04,
                "text-padding": 6,
            },
            "paint": {
                "text-color": "#46573a",
                "text-halo-color": "#f4f1ea",
                "text-halo-width": 2,
                "text-halo-blur": 0.5,
            },
        },
    ]


def base_url(request: Request) -> str:
    """This server's address as the client reached it, with no trailing slash."""
    return str(request.base_url).rstrip("/")


def tiles_url(request: Request, edition: str | None) -> str:
    """The vector tiles' URL template, in the edition asked for if any."""
    query = "?" + urlencode({"edition": edition}) if edition else ""
    return f"{base_url(request)}/tiles/{{z}}/{{x}}/{{y}}.pbf{query}"


def map_style(request: Request, edition: str | None) -> dict[str, Any]:
    """The MapLibre style (version 8) of the city map."""
    return {
        "version": 8,
        "name": "schoolmap",
        "sources": {
            "city": {
                "type": "vector",
                "tiles": [tiles_url(request, edition)],
                "minzoom": SOURCE_MIN_ZOOM,
                "maxzoom": SOURCE_MAX_ZOOM,
                "attribution": OSM_CREDIT,
            }
        },
        # MapLibre fills in the fontstack (text-font joined by commas) and range itself.
        "glyphs": f"{base_url(request)}/fonts/{{fontstack}}/{{range}}.pbf",
        "layers": style_layers(),
    }


EditionQuery = Annotated[str | None, Query(description=EDITION_HELP)]


@router.get(
    "/tiles/style.json",
    summary="The map's MapLibre style: vector tiles, layers, street and ward names",
    description="A MapLibre style (version 8) drawing the city from this server only: "
    "units (greyed where the 2019 census does not cover them), roads, street names along "
    f"the roads (main roads from zoom {MAJOR_ROAD_NAMES_FROM_ZOOM}, all from "
    f"{MINOR_ROAD_NAMES_FROM_ZOOM}) and unit names (from zoom {WARD_NAMES_FROM_ZOOM}), in "
    f"the font `{LABEL_FONT}` whose glyphs are served under `/fonts/{{fontstack}}/{{range}}.pbf` "
    "(DejaVu Sans, Bitstream Vera licence: /web/glyphs/LICENSE.txt). URLs are absolute, on "
    "the address the request came to. `edition` is passed on to the tiles. "
    "Map data © OpenStreetMap contributors.",
)
def style_json(request: Request, edition: EditionQuery = None) -> JSONResponse:
    chosen = check_edition(edition) if edition else None
    return JSONResponse(map_style(request, chosen), headers={"Cache-Control": STYLE_CACHE})


_BOUNDS_SQL = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
    SELECT ST_Extent(g) AS e FROM (
        SELECT geom AS g FROM admin_units WHERE edition = %(edition)s AND level = 'ward'
        UNION ALL
        SELECT geom FROM schools
    ) parts
) extent WHERE e IS NOT NULL
"""


def data_bounds(conn: Connection, edition: str) -> list[float] | None:
    """West, south, east, north of the edition's units and the schools, if any."""
    with conn.cursor() as cur:
        cur.execute(_BOUNDS_SQL, {"edition": edition})
        row = cur.fetchone()
    return None if row is None else [round(float(v), 6) for v in row]


@router.get(
    "/tiles/tiles.json",
    summary="TileJSON 3.0.0 of the vector tiles, for other map clients",
    description="Where the vector tiles are, their zooms, the bounds of the data and every "
    "layer with its fields (TileJSON 3.0.0), for QGIS or any client that reads TileJSON. "
    "`edition` is passed on to the tiles. Map data © OpenStreetMap contributors.",
)
def tile_json(
    request: Request,
    conn: Annotated[Connection, Depends(get_read_connection)],
    edition: EditionQuery = None,
) -> JSONResponse:
    chosen = check_edition(edition) if edition else None
    bounds = data_bounds(conn, chosen or current_edition(conn))
    document: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": "schoolmap",
        "description": "Roads, administrative units, their label points and schools",
        "attribution": OSM_CREDIT,
        "scheme": "xyz",
        "tiles": [tiles_url(request, chosen)],
        "minzoom": SOURCE_MIN_ZOOM,
        "maxzoom": SOURCE_MAX_ZOOM,
        "vector_layers": [
            {
                "id": layer,
                "fields": fields,
                "minzoom": SOURCE_MIN_ZOOM,
                "maxzoom": SOURCE_MAX_ZOOM,
                **(
                    {"description": f"all roads from zoom {ALL_ROADS_FROM_ZOOM}"}
                    if layer == "roads"
                    else {}
                ),
            }
            for layer, fields in VECTOR_LAYERS.items()
        ],
    }
    if bounds is not None:
        west, south, east, north = bounds
        document["bounds"] = bounds
        document["center"] = [round((west + east) / 2, 6), round((south + north) / 2, 6), 12]
    return JSONResponse(document, headers={"Cache-Control": STYLE_CACHE})


# A static asset the style points to, like the files under /web/, so not in the API's
# documentation (whose path parameters are all numbers, as the access log keeps them).
@router.get("/fonts/{fontstack}/{glyph_range}.pbf", include_in_schema=False)
def glyph_range(fontstack: str, glyph_range: str) -> Response:
    """One 256-character range of a fontstack, as MapLibre's SDF protobuf: signed distance
    fields of DejaVu Sans (Bitstream Vera licence: /web/glyphs/LICENSE.txt) for the characters
    of Vietnamese and Western European names. A range with none of them answers an empty
    range, which the map takes as nothing to draw; a fontstack of several fonts
    (comma-separated) is answered by the first one served."""
    font = next((f for f in (s.strip() for s in fontstack.split(",")) if f in FONTSTACKS), None)
    if font is None:
        raise NotFoundError(
            f"Không có phông chữ {fontstack!r}; có {', '.join(FONTSTACKS)} / "
            f"no fontstack {fontstack!r}; served: {', '.join(FONTSTACKS)}"
        )
    start = parse_range(glyph_range)
    if start is None:
        raise NotFoundError(
            f"Không có dải ký tự {glyph_range!r} / no glyph range {glyph_range!r}: ranges are "
            "256 code points from a multiple of 256 up to 65535, e.g. 0-255, 256-511"
        )
    headers = {"Cache-Control": GLYPH_CACHE}
    path = glyph_file(font, start)
    if path.is_file():
        return FileResponse(path, media_type=GLYPH_MEDIA_TYPE, headers=headers)
    return Response(
        encode_glyph_range(font, start, []), media_type=GLYPH_MEDIA_TYPE, headers=headers
    )
