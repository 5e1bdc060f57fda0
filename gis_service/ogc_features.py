"""The public layers as OGC API – Features collections (Part 1 Core with GeoJSON, Part 2 CRS),
so that QGIS and GDAL (its OAPIF driver) read them as they are.

Every collection is made by the same domain function as the public API or its open-data
download, so it holds what the public map shows and nothing more:

- `truong_hoc`: every school (the open-data table: official code, levels, classes of grades 1
  and 6);
- `don_vi_<edition>`: the units of each edition loaded, with their latest population;
- `vung_tuyen_lop1`, `vung_tuyen_lop6`: the school zones planners published for a grade (its
  newest school year), only once some are published;
- `du_bao_lop1`, `du_bao_lop6`: the forecast entrants per unit of the current edition for the
  coming school year, with their interval (figures per unit, never a child).

Rounds, applications and a run's aggregates are for officers, never a collection.

Written here rather than served by tipg or pygeoapi: both publish database tables or views
through a connection pool and configuration of their own (tipg's is asyncpg), whereas these
layers are made by domain functions (a forecast is computed; zones are read through their
published run), and the public map's rules are applied once, there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyproj
import shapely
import shapely.geometry

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, NotFoundError, SchoolmapError
from gis_service.open_data import Table, schools_table, units_table
from gis_service.planning.export import FORECAST_COLUMNS, forecast_table, unit_outlines
from gis_service.planning.forecast import coming_school_year, run_forecast, years_allowed
from gis_service.planning.inputs import load_inputs
from gis_service.planning.zones import published_run, zones_geojson
from gis_service.routing.graph import UTM_EPSG
from gis_service.school_levels import ENTRY_GRADES
from gis_service.units.editions import current_edition, list_editions

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
"""Longitude, latitude on WGS 84: what the layers are stored in and GeoJSON's default."""


def epsg_uri(code: int) -> str:
    """The OGC URI of an EPSG code."""
    return f"http://www.opengis.net/def/crs/EPSG/0/{code}"


@dataclass(frozen=True)
class OutputCrs:
    """A coordinate reference system answers can be given in."""

    uri: str
    epsg: int | None
    """None for CRS84 (stored as it is)."""
    decimals: int
    """Coordinates kept to about a centimetre."""

    def transformer(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Turns (lon, lat) rows into this CRS's coordinates in its axis order; None: as they
        are."""
        return _lonlat_and(self.epsg, back=False)

    def to_lonlat(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Turns coordinates of this CRS (its axis order) into (lon, lat); None: as they are."""
        return _lonlat_and(self.epsg, back=True)


def _lonlat_and(epsg: int | None, *, back: bool) -> Callable[[np.ndarray], np.ndarray] | None:
    """Moves (lon, lat) rows into EPSG `epsg` in its axis order, or `back` from it; None for
    CRS84 (stored as it is). EPSG:4326 is latitude first: its move either way is a swap."""
    if epsg is None:
        return None
    if epsg == 4326:
        return lambda xy: xy[:, ::-1]
    ends = (epsg, 4326) if back else (4326, epsg)
    project = pyproj.Transformer.from_crs(*ends, always_xy=True)

    def transform(xy: np.ndarray) -> np.ndarray:
        x, y = project.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return transform


OUTPUT_CRS = (
    OutputCrs(CRS84, None, 7),
    OutputCrs(epsg_uri(4326), 4326, 7),
    OutputCrs(epsg_uri(3857), 3857, 2),
    OutputCrs(epsg_uri(UTM_EPSG), UTM_EPSG, 2),
    # VN-2000, the national datum of Vietnamese survey and cadastral maps: as UTM zone 48N and
    # as the 3° zone of Ho Chi Minh City (central meridian 105°45').
    OutputCrs(epsg_uri(3405), 3405, 2),
    OutputCrs(epsg_uri(9210), 9210, 2),
)
CRS_URIS = tuple(c.uri for c in OUTPUT_CRS)


def output_crs(uri: str | None) -> OutputCrs:
    """The CRS a `crs` or `bbox-crs` parameter names (CRS84 when none), or an error listing
    those offered."""
    if uri is None or uri == "":
        return OUTPUT_CRS[0]
    for known in OUTPUT_CRS:
        if uri.strip() == known.uri:
            return known
    raise InvalidRequestError(
        f"Không hỗ trợ hệ tọa độ {uri!r}; dùng một trong: {', '.join(CRS_URIS)} / "
        f"CRS {uri!r} is not offered; use one of: {', '.join(CRS_URIS)}"
    )


@dataclass(frozen=True)
class Layer:
    """A collection's features: ids, properties and geometries (lon/lat; None: no place)."""

    ids: list[int | str]
    properties: list[dict[str, Any]]
    shapes: np.ndarray
    written: dict[int, str] = field(default_factory=dict, compare=False, repr=False)
    """Each feature's geometry as GeoJSON text in CRS84, written when first asked for."""

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.properties) == len(self.shapes):
            raise ValueError("a layer needs one id, one set of properties and one shape each")

    @classmethod
    def of_table(cls, table: Table) -> Layer:
        """An open-data table as a layer."""
        shapes = np.array(
            [None if wkb is None else shapely.from_wkb(wkb) for wkb in table.shapes], dtype=object
        )
        rows = [{c: row.get(c) for c in table.columns} for row in table.rows]
        return cls(list(table.ids), rows, shapes)


@dataclass(frozen=True)
class Collection:
    """One collection: what it is, and how its layer is made."""

    id: str
    title: str
    description: str
    geometry_type: str
    make: Callable[[Connection], Layer]
    extent: Callable[[Connection], tuple[float, ...] | None]


def _extent(conn: Connection, sql: str, params: tuple[Any, ...]) -> tuple[float, ...] | None:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) q(e)", params
        )
        row = cur.fetchone()
    if row is None or row[0] is None:
        return None
    return tuple(round(float(v), 6) for v in row)


def _schools() -> Collection:
    return Collection(
        "truong_hoc",
        "Trường học / Schools",
        "Mọi trường: mã chính thức, cấp học, loại hình, địa chỉ, số lớp lớp 1 và lớp 6 / "
        "Every school with its official code, levels, ownership, address and the classes of "
        "grades 1 and 6. Map data © OpenStreetMap contributors where a school came from it.",
        "Point",
        lambda conn: Layer.of_table(schools_table(conn)),
        lambda conn: _extent(conn, "SELECT ST_Extent(geom) FROM schools", ()),
    )


def _units(edition: str) -> Collection:
    return Collection(
        f"don_vi_{edition}",
        f"Đơn vị hành chính {edition} / Administrative units ({edition})",
        f"Các đơn vị hành chính bộ {edition} với dân số gần nhất / The units of the {edition} "
        "edition with their latest population.",
        "MultiPolygon",
        lambda conn: Layer.of_table(units_table(conn, edition)),
        lambda conn: _extent(
            conn, "SELECT ST_Extent(geom) FROM admin_units WHERE edition = %s", (edition,)
        ),
    )


def _zones(grade: int, run_id: int) -> Collection:
    def make(conn: Connection) -> Layer:
        made = zones_geojson(conn, run_id)
        extra = {"school_year": made["school_year"], "mode": made["mode"]}
        features = made["features"]
        return Layer(
            [f["id"] for f in features],
            [{**f["properties"], **extra} for f in features],
            np.array(
                [
                    None if f["geometry"] is None else shapely.geometry.shape(f["geometry"])
                    for f in features
                ],
                dtype=object,
            ),
        )

    return Collection(
        f"vung_tuyen_lop{grade}",
        f"Vùng tuyển lớp {grade} đã công bố / Published school zones, grade {grade}",
        "Vùng mỗi trường dự kiến nhận học sinh theo khoảng cách đường đi (ước tính từ dự báo và "
        "số chỗ, không phải cam kết) / Per school, the area from which it is expected to admit "
        "by road distance: an estimate from forecasts and seats, never a promise.",
        "MultiPolygon",
        make,
        lambda conn: _extent(
            conn, "SELECT ST_Extent(zone) FROM school_zones WHERE run_id = %s", (run_id,)
        ),
    )


def _forecast(grade: int, edition: str, year: int) -> Collection:
    def make(conn: Connection) -> Layer:
        inputs = load_inputs(conn, edition=edition)
        table = forecast_table(run_forecast(inputs, [year], [grade]), grade, year)
        outlines = unit_outlines(conn, [r["ward_id"] for r in table.rows])
        shapes = [outlines.get(r["ward_id"]) for r in table.rows]
        return Layer(
            [r["ward_id"] for r in table.rows],
            [{c: r.get(c) for c in FORECAST_COLUMNS} for r in table.rows],
            np.array([None if s is None else shapely.from_wkb(s) for s in shapes], dtype=object),
        )

    return Collection(
        f"du_bao_lop{grade}",
        f"Dự báo trẻ vào lớp {grade}, năm học {year}-{year + 1} / Forecast grade-{grade} "
        f"entrants, school year {year}-{year + 1}",
        f"Số trẻ dự báo vào lớp {grade} theo từng đơn vị (bộ {edition}) với khoảng 80 % và 50 %; "
        f"số liệu theo đơn vị, không có trẻ nào / Forecast entrants per unit of the {edition} "
        "edition with their 80 % and 50 % intervals: figures per unit, never a child.",
        "MultiPolygon",
        make,
        lambda conn: _extent(
            conn,
            "SELECT ST_Extent(geom) FROM admin_units WHERE edition = %s AND level = 'ward'",
            (edition,),
        ),
    )


def _forecast_year(conn: Connection, edition: str, today: date) -> int | None:
    """The coming school year, within what the forecast of the edition covers; None when the
    edition has no figures to forecast from."""
    try:
        allowed = years_allowed(load_inputs(conn, edition=edition))
    except SchoolmapError:
        return None
    return min(max(coming_school_year(today), allowed["first"]), allowed["last"])


def list_collections(conn: Connection, today: date | None = None) -> list[Collection]:
    """The collections there are now: schools, the units of every edition loaded, published
    zones, and the forecast when the current edition has census figures."""
    found = [_schools()]
    found += [_units(e.edition) for e in list_editions(conn) if e.wards > 0]
    for grade in ENTRY_GRADES:
        run_id = published_run(conn, grade)
        if run_id is not None:
            found.append(_zones(grade, run_id))
    edition = current_edition(conn)
    year = _forecast_year(conn, edition, today or date.today())
    if year is not None:
        found += [_forecast(grade, edition, year) for grade in ENTRY_GRADES]
    return found


def pick_collection(collections: list[Collection], collection_id: str) -> Collection:
    """The collection of that id, or an error naming those there are."""
    for collection in collections:
        if collection.id == collection_id:
            return collection
    names = ", ".join(c.id for c in collections)
    raise NotFoundError(
        f"Không có lớp dữ liệu {collection_id!r}; có: {names} / no collection "
        f"{collection_id!r}; there are: {names}"
    )


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """`bbox=minx,miny,maxx,maxy` as four numbers in order, or an error saying what is wrong."""
    if text is None or text == "":
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InvalidRequestError(
            "bbox phải gồm 4 số: minx,miny,maxx,maxy / bbox must be four numbers: "
            "minx,miny,maxx,maxy"
        )
    if values[0] > values[2] or values[1] > values[3]:
        raise InvalidRequestError(
            "bbox: giá trị nhỏ phải đứng trước (minx ≤ maxx, miny ≤ maxy) / bbox: the minimum "
            "comes first (minx ≤ maxx, miny ≤ maxy)"
        )
    return values[0], values[1], values[2], values[3]


def bbox_lonlat(
    bbox: tuple[float, float, float, float], crs: OutputCrs
) -> tuple[float, float, float, float]:
    """A bbox given in `crs` (its axis order) as a lon/lat rectangle covering it."""
    to_lonlat = crs.to_lonlat()
    if to_lonlat is None:
        return bbox
    # The rectangle's edges, densified, so a projected box is covered once bent into lon/lat.
    steps = np.linspace(0.0, 1.0, 21)
    x0, y0, x1, y1 = bbox
    xs = np.concatenate(
        [x0 + (x1 - x0) * steps, np.full(21, x1), x0 + (x1 - x0) * steps, np.full(21, x0)]
    )
    ys = np.concatenate(
        [np.full(21, y0), y0 + (y1 - y0) * steps, np.full(21, y1), y0 + (y1 - y0) * steps]
    )
    lonlat = to_lonlat(np.column_stack([xs, ys]))
    if not np.all(np.isfinite(lonlat)):
        raise InvalidRequestError(
            "bbox nằm ngoài phạm vi của hệ tọa độ đã chọn / the bbox lies outside the area of "
            "its CRS"
        )
    return (
        float(lonlat[:, 0].min()),
        float(lonlat[:, 1].min()),
        float(lonlat[:, 0].max()),
        float(lonlat[:, 1].max()),
    )


@dataclass(frozen=True)
class Page:
    """One page of a collection's items, each feature written as GeoJSON text, with how many
    match in all."""

    features: list[str]
    matched: int


def _geometry_text(
    shape: Any, transform: Callable[[np.ndarray], np.ndarray] | None, decimals: int
) -> str:
    if shape is None:
        return "null"
    moved = shape if transform is None else shapely.transform(shape, transform)
    return str(shapely.to_geojson(shapely.transform(moved, lambda xy: np.round(xy, decimals))))


def _feature_text(layer: Layer, i: int, crs: OutputCrs, transform: Any) -> str:
    """The layer's i-th feature as GeoJSON text in `crs`. In CRS84, as stored, its geometry is
    written once and kept with the layer: every page of every client reads the same text."""
    if crs.epsg is None:
        geometry = layer.written.get(i)
        if geometry is None:
            geometry = layer.written[i] = _geometry_text(layer.shapes[i], None, crs.decimals)
    else:
        geometry = _geometry_text(layer.shapes[i], transform, crs.decimals)
    head = json.dumps(layer.ids[i])
    properties = json.dumps(layer.properties[i], ensure_ascii=False, separators=(",", ":"))
    return f'{{"type":"Feature","id":{head},"geometry":{geometry},"properties":{properties}}}'


def select(
    layer: Layer,
    bbox: tuple[float, float, float, float] | None,
    offset: int,
    limit: int,
    crs: OutputCrs,
) -> Page:
    """The features within a lon/lat `bbox` (every one when None; a feature without a place is
    never within one), from `offset`, at most `limit`, in `crs`."""
    keep = np.arange(len(layer.ids))
    if bbox is not None:
        box = shapely.box(*bbox)
        present = np.array([s is not None for s in layer.shapes], dtype=bool)
        hits = np.zeros(len(layer.ids), dtype=bool)
        if present.any():
            hits[present] = shapely.intersects(layer.shapes[present].astype(object), box)
        keep = np.flatnonzero(hits)
    transform = crs.transformer()
    chosen = keep[offset : offset + limit]
    return Page([_feature_text(layer, int(i), crs, transform) for i in chosen], len(keep))


def one_feature(layer: Layer, feature_id: str, crs: OutputCrs) -> str:
    """The feature of that id (as written in a URL) as GeoJSON text, or an error."""
    for i, known in enumerate(layer.ids):
        if str(known) == feature_id:
            return _feature_text(layer, i, crs, crs.transformer())
    raise NotFoundError(
        f"Không có đối tượng {feature_id!r} trong lớp này / no feature {feature_id!r} in this "
        "collection"
    )
