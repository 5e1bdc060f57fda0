"""OGC API – Features over HTTP: the landing page (`/` asked for JSON), `/conformance`,
`/collections`, a collection, its items (bbox, paging links, `crs`) and one item. What each
collection holds, and why it is written here, is in `gis_service.ogc_features`."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from gis_service import __version__
from gis_service.api.deps import ReadConnection as ReadConn
from gis_service.api.deps import json_response
from gis_service.db.connection import Connection
from gis_service.db.version_reader import public_data_version
from gis_service.errors import InvalidRequestError
from gis_service.ogc_features import (
    CRS84,
    CRS_URIS,
    Collection,
    Layer,
    OutputCrs,
    bbox_lonlat,
    list_collections,
    one_feature,
    output_crs,
    parse_bbox,
    pick_collection,
    select,
)

router = APIRouter(tags=["OGC API Features"])

GEOJSON = "application/geo+json"
JSON = "application/json"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# The parameters the items take; any other is refused (OGC API Features, Core).
ITEMS_PARAMETERS = frozenset({"limit", "offset", "bbox", "bbox-crs", "crs", "datetime", "f"})
FORMAT_HELP = "json (GeoJSON); the only format offered"
COLLECTION_ID = r"^[a-z][a-z0-9_]{0,39}$"
"""A collection's id: a short lower-case name (truong_hoc, don_vi_2025), so the access log may
show it as sent."""
CollectionId = Annotated[str, Path(pattern=COLLECTION_ID, description="the collection's id")]


@dataclass
class _Made:
    """The collections as listed at one public data version and day, with what was made of
    them since."""

    version: int
    day: date
    collections: list[Collection]
    extents: dict[str, tuple[float, ...] | None] = field(default_factory=dict)
    layers: dict[str, Layer] = field(default_factory=dict)


class KeptLayers:
    """Each worker keeps the layers it made until the public data changes (its version moves
    with every change to schools, units, figures and published zones) or the day does (the
    coming school year of the forecast). Every page of a layer is then cut from the same
    made layer, so paging through it costs one making."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: _Made | None = None

    def _now(self, conn: Connection) -> _Made:
        version, day = public_data_version(conn), date.today()
        made = self._made
        if made is None or made.version != version or made.day != day:
            # The data is read after its version: never older than the version it is kept at.
            made = _Made(version, day, list_collections(conn, day))
            self._made = made
        return made

    def collections(self, conn: Connection) -> list[tuple[Collection, tuple[float, ...] | None]]:
        """Every collection there is now, with its extent."""
        with self._lock:
            made = self._now(conn)
            for c in made.collections:
                if c.id not in made.extents:
                    made.extents[c.id] = c.extent(conn)
            return [(c, made.extents[c.id]) for c in made.collections]

    def collection(
        self, conn: Connection, collection_id: str
    ) -> tuple[Collection, tuple[float, ...] | None]:
        """One collection with its extent, or an error naming those there are."""
        with self._lock:
            made = self._now(conn)
            found = pick_collection(made.collections, collection_id)
            if found.id not in made.extents:
                made.extents[found.id] = found.extent(conn)
            return found, made.extents[found.id]

    def layer(self, conn: Connection, collection_id: str) -> Layer:
        """The features of one collection."""
        with self._lock:
            made = self._now(conn)
            layer = made.layers.get(collection_id)
            if layer is None:
                layer = pick_collection(made.collections, collection_id).make(conn)
                made.layers[collection_id] = layer
            return layer


def kept_layers(request: Request) -> KeptLayers:
    """The app's kept layers (made on first use)."""
    kept: KeptLayers | None = getattr(request.app.state, "ogc_layers", None)
    if kept is None:
        kept = request.app.state.ogc_layers = KeptLayers()
    return kept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(href: str, rel: str, media: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media, "title": title}


def _check_format(f: str | None) -> None:
    if f not in (None, "json", "geojson"):
        raise InvalidRequestError(
            f"Không có định dạng {f!r}; chỉ có json / no format {f!r}; only json is offered"
        )


def wants_landing_page(request: Request) -> bool:
    """Whether a request for `/` asks for the OGC landing page (JSON) rather than the app."""
    if request.query_params.get("f") in ("json", "geojson"):
        return True
    accept = request.headers.get("accept", "")
    return JSON in accept and "text/html" not in accept


def landing_page(request: Request) -> Response:
    """The OGC API landing page: where the API's description, conformance and data are."""
    base = _base(request)
    return json_response(
        {
            "title": "schoolmap",
            "description": "Trường học, đơn vị hành chính, vùng tuyển đã công bố và dự báo trẻ "
            "vào lớp 1 và lớp 6, theo chuẩn OGC API – Features / Schools, administrative "
            "units, published school zones and forecast grade-1 and grade-6 entrants as OGC "
            "API – Features. Map data © OpenStreetMap contributors.",
            "version": __version__,
            "links": [
                _link(f"{base}/?f=json", "self", JSON, "this document"),
                _link(
                    f"{base}/openapi.json",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.1",
                    "the API definition",
                ),
                _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
                _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
                _link(f"{base}/collections", "data", JSON, "the collections"),
            ],
        }
    )


@router.get("/conformance", summary="OGC API – Features: the conformance classes implemented")
def conformance(f: Annotated[str | None, Query(description=FORMAT_HELP)] = None) -> Any:
    _check_format(f)
    return json_response({"conformsTo": list(CONFORMANCE)})


def _collection_json(
    collection: Collection, extent: tuple[float, ...] | None, base: str
) -> dict[str, Any]:
    href = f"{base}/collections/{collection.id}"
    described: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "geometryType": collection.geometry_type,
        "crs": list(CRS_URIS),
        "storageCrs": CRS84,
        "links": [
            _link(href, "self", JSON, "this collection"),
            _link(f"{href}/items", "items", GEOJSON, "its features"),
            _link(
                "https://www.openstreetmap.org/copyright",
                "license",
                "text/html",
                "© OpenStreetMap contributors (ODbL) where the data came from OpenStreetMap",
            ),
        ],
    }
    if extent is not None:
        described["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
    return described


@router.get("/collections", summary="OGC API – Features: the public layers")
def collections(
    conn: ReadConn,
    request: Request,
    f: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    _check_format(f)
    base = _base(request)
    return json_response(
        {
            "links": [_link(f"{base}/collections", "self", JSON, "the collections")],
            "collections": [
                _collection_json(c, extent, base)
                for c, extent in kept_layers(request).collections(conn)
            ],
        }
    )


@router.get("/collections/{collection_id}", summary="OGC API – Features: one public layer")
def collection(
    conn: ReadConn,
    request: Request,
    collection_id: CollectionId,
    f: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Any:
    _check_format(f)
    found, extent = kept_layers(request).collection(conn, collection_id)
    return json_response(_collection_json(found, extent, _base(request)))


def _check_parameters(request: Request) -> None:
    unknown = sorted(set(request.query_params) - ITEMS_PARAMETERS)
    if unknown:
        raise InvalidRequestError(
            f"Tham số không dùng được ở đây: {', '.join(unknown)}; có: "
            f"{', '.join(sorted(ITEMS_PARAMETERS))} / parameters not taken here: "
            f"{', '.join(unknown)}; these are: {', '.join(sorted(ITEMS_PARAMETERS))}"
        )


def _check_datetime(text: str | None) -> None:
    """A `datetime` (an instant or an interval) is read and has no effect: no layer has time."""
    if text is None:
        return
    for part in text.split("/"):
        if part in ("..", ""):
            continue
        try:
            datetime.fromisoformat(part.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                f"datetime không hợp lệ: {text!r} (RFC 3339, ví dụ 2026-09-05T00:00:00Z) / "
                f"datetime {text!r} is not RFC 3339 (e.g. 2026-09-05T00:00:00Z)"
            ) from None


def _page_link(request: Request, offset: int, rel: str, title: str) -> dict[str, str]:
    query = {**request.query_params, "offset": str(offset)}
    return _link(str(request.url.replace_query_params(**query)), rel, GEOJSON, title)


@router.get(
    "/collections/{collection_id}/items",
    summary="OGC API – Features: a layer's features as GeoJSON, by bbox, a page at a time",
    description="`bbox` (minx,miny,maxx,maxy in `bbox-crs`, CRS84 by default), `limit` and "
    "`offset` with `next` and `prev` links, `crs` (the collection's `crs` list: CRS84, "
    "EPSG:4326 latitude first, EPSG:3857, UTM 48N, VN-2000 UTM 48N and VN-2000 TM-3 105°45'). "
    "`datetime` is accepted and selects nothing away: no layer has a time.",
    response_class=Response,
)
def items(
    conn: ReadConn,
    request: Request,
    collection_id: CollectionId,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    bbox: Annotated[str | None, Query(max_length=200)] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", max_length=200)] = None,
    crs: Annotated[str | None, Query(max_length=200)] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", max_length=100)] = None,
    f: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Response:
    _check_parameters(request)
    _check_format(f)
    _check_datetime(datetime_)
    answer_crs = output_crs(crs)
    box = parse_bbox(bbox)
    box_lonlat = None if box is None else bbox_lonlat(box, output_crs(bbox_crs))
    layer = kept_layers(request).layer(conn, collection_id)
    page = select(layer, box_lonlat, offset, limit, answer_crs)
    links = [
        _link(str(request.url), "self", GEOJSON, "this page"),
        _link(
            f"{_base(request)}/collections/{collection_id}", "collection", JSON, "the collection"
        ),
    ]
    if offset + len(page.features) < page.matched:
        links.append(_page_link(request, offset + limit, "next", "the next page"))
    if offset > 0:
        links.append(_page_link(request, max(0, offset - limit), "prev", "the previous page"))
    head = json.dumps(
        {
            "type": "FeatureCollection",
            "numberMatched": page.matched,
            "numberReturned": len(page.features),
            "links": links,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # The features are GeoJSON text already: written into the answer as they are.
    return _geojson(f'{head[:-1]},"features":[{",".join(page.features)}]}}', answer_crs)


def _geojson(body: str, crs: OutputCrs) -> Response:
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": f"<{crs.uri}>"})


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="OGC API – Features: one feature as GeoJSON",
    response_class=Response,
)
def item(
    conn: ReadConn,
    request: Request,
    collection_id: CollectionId,
    feature_id: int,
    crs: Annotated[str | None, Query(max_length=200)] = None,
    f: Annotated[str | None, Query(description=FORMAT_HELP)] = None,
) -> Response:
    _check_format(f)
    answer_crs = output_crs(crs)
    layer = kept_layers(request).layer(conn, collection_id)
    return _geojson(one_feature(layer, str(feature_id), answer_crs), answer_crs)
