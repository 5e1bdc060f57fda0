"""OGC API – Features: the public layers read by GDAL's OAPIF driver (as QGIS reads them) from
the served app, and the protocol's paging, bbox, CRS and errors through the API."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gis_service.cli import app
from gis_service.db.connection import connect
from gis_service.ogc_features import CRS84, bbox_lonlat, epsg_uri, output_crs
from gis_service.planning.forecast import coming_school_year
from tests.browser_support import copy_database, drop_database, served
from tests.test_auth import RequestTransactions, api_client, api_connection, one

GEOJSON = "application/geo+json"


@pytest.fixture(scope="module")
def zoned_db_url(demo_db_url: str, demo_home: Path) -> Iterator[str]:
    """A copy of the demo city with grade-1 zones published for 2026 (as planners do)."""
    url = copy_database(demo_db_url, "_ogc")
    made = CliRunner().invoke(
        app,
        ["zones", "--grade", "1", "--year", "2026", "--publish"],
        env={"DATABASE_URL": url, "SCHOOLMAP_HOME": str(demo_home)},
    )
    assert made.exit_code == 0, made.output
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="module")
def server(zoned_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(zoned_db_url, demo_home) as base:
        yield base


def get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def counts(url: str) -> dict[str, int]:
    conn = connect(url)
    try:
        return {
            "truong_hoc": one(conn, "SELECT count(*) FROM schools"),
            "units": one(conn, "SELECT count(*) FROM admin_units WHERE geom IS NOT NULL"),
            "wards": one(conn, "SELECT count(*) FROM admin_units WHERE level = 'ward'"),
            "zones": one(
                conn,
                "SELECT count(*) FROM school_zones z JOIN zone_runs r ON r.id = z.run_id "
                "WHERE r.published_at IS NOT NULL AND r.grade = 1",
            ),
        }
    finally:
        conn.close()


def test_gdal_reads_every_public_layer_page_by_page(server: str, zoned_db_url: str) -> None:
    source = f"OAPIF:{server}"
    layers = {name: kind for name, kind in pyogrio.list_layers(source)}
    expected = counts(zoned_db_url)
    editions = [name for name in layers if name.startswith("don_vi_")]
    assert set(layers) == {"truong_hoc", "vung_tuyen_lop1", "du_bao_lop1", "du_bao_lop6", *editions}
    assert editions, "the units of the demo city's edition"
    # Seven features a page: GDAL follows the `next` links to the end of every layer.
    read = {name: pyogrio.read_dataframe(source, layer=name, PAGE_SIZE=7) for name in layers}
    assert len(read["truong_hoc"]) == expected["truong_hoc"] > 7
    assert sum(len(read[e]) for e in editions) == expected["units"]
    assert len(read["vung_tuyen_lop1"]) == expected["zones"] > 7
    assert len(read["du_bao_lop1"]) == len(read["du_bao_lop6"]) == expected["wards"] > 7
    for name, frame in read.items():
        assert frame.crs is not None and frame.crs.equals(pyproj.CRS("OGC:CRS84")), name
    schools = read["truong_hoc"]
    assert (schools.geometry.geom_type == "Point").all()
    assert {"code", "name", "levels", "grade_1_classes"} <= set(schools.columns)
    assert read["du_bao_lop1"]["children"].notna().any()
    # Only public figures: nothing about any child or home, in any layer.
    private = {"applicant_id", "child_id", "personal_id", "home", "lon_home", "applicant"}
    for name, frame in read.items():
        assert not private & set(frame.columns), name


def test_the_layers_hold_what_the_public_api_and_open_data_hold(server: str) -> None:
    zones = get_json(f"{server}/zones?grade=1")
    items = get_json(f"{server}/collections/vung_tuyen_lop1/items?limit=10000")
    assert [f["id"] for f in items["features"]] == [f["id"] for f in zones["features"]]
    for mine, theirs in zip(items["features"], zones["features"], strict=True):
        assert {k: mine["properties"][k] for k in theirs["properties"]} == theirs["properties"]
        if theirs["geometry"] is None:
            assert mine["geometry"] is None
        else:
            a, b = (
                shapely.geometry.shape(mine["geometry"]),
                shapely.geometry.shape(theirs["geometry"]),
            )
            assert a.symmetric_difference(b).area < 1e-9
    layer = get_json(f"{server}/collections/du_bao_lop1/items?limit=10000")
    # The coming school year's figures per unit, as the forecast API gives them.
    chosen = {f["properties"]["school_year"] for f in layer["features"]}
    assert chosen == {f"{coming_school_year(date.today())}-{coming_school_year(date.today()) + 1}"}
    forecast = get_json(
        f"{server}/planning/forecast?years={coming_school_year(date.today())}&grade=1"
    )
    by_unit = {r["ward_id"]: r["children"] for r in forecast["rows"]}
    assert {f["id"]: f["properties"]["children"] for f in layer["features"]} == by_unit
    assert sum(v for v in by_unit.values() if v) > 0


def test_landing_page_conformance_and_collections(server: str) -> None:
    landing = get_json(f"{server}/")
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels["data"] == f"{server}/collections"
    assert rels["conformance"] == f"{server}/conformance"
    assert rels["service-desc"] == f"{server}/openapi.json"
    # A browser asking for / still gets the map.
    with urllib.request.urlopen(f"{server}/", timeout=10) as page:
        assert page.headers["Content-Type"].startswith("text/html")
    conformance = get_json(f"{server}/conformance")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    listed = get_json(f"{server}/collections")["collections"]
    for described in listed:
        assert described["storageCrs"] == CRS84 and epsg_uri(9210) in described["crs"]
        minx, miny, maxx, maxy = described["extent"]["spatial"]["bbox"][0]
        assert minx < maxx and miny < maxy
        one_collection = get_json(f"{server}/collections/{described['id']}")
        assert one_collection["id"] == described["id"]


@pytest.fixture
def api(zoned_db_url: str, demo_home: Path) -> Iterator[tuple[TestClient, RequestTransactions]]:
    with api_connection(zoned_db_url) as conn, api_client(conn, demo_home) as client:
        yield client, conn


def all_pages(client: TestClient, url: str) -> list[dict[str, Any]]:
    """Every page of items from `url`, following `next` links."""
    pages = []
    while url:
        got = client.get(url)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == GEOJSON
        pages.append(got.json())
        url = next((link["href"] for link in pages[-1]["links"] if link["rel"] == "next"), "")
    return pages


def test_paging_links_walk_every_feature_once(api: tuple[TestClient, RequestTransactions]) -> None:
    client, conn = api
    pages = all_pages(client, "/collections/truong_hoc/items?limit=9")
    ids = [f["id"] for page in pages for f in page["features"]]
    total = one(conn, "SELECT count(*) FROM schools")
    assert len(ids) == len(set(ids)) == total == pages[0]["numberMatched"]
    assert len(pages) == -(-total // 9)
    assert all(page["numberReturned"] == len(page["features"]) for page in pages)
    assert not any(link["rel"] == "prev" for link in pages[0]["links"])
    second = pages[1]["links"]
    prev = next(link["href"] for link in second if link["rel"] == "prev")
    assert "offset=0" in prev and "limit=9" in prev
    # One feature by its id, as the pages gave it.
    first = pages[0]["features"][0]
    alone = client.get(f"/collections/truong_hoc/items/{first['id']}")
    assert alone.status_code == 200 and alone.json() == first


def test_bbox_in_any_offered_crs_selects_the_same_schools(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, _ = api
    every = all_pages(client, "/collections/truong_hoc/items?limit=10000")[0]["features"]
    points = np.array([f["geometry"]["coordinates"] for f in every])
    lo, hi = np.quantile(points, 0.3, axis=0), np.quantile(points, 0.7, axis=0)
    box = (lo[0], lo[1], hi[0], hi[1])
    inside = {
        f["id"]
        for f, (x, y) in zip(every, points, strict=True)
        if box[0] <= x <= box[2] and box[1] <= y <= box[3]
    }
    assert 0 < len(inside) < len(every)
    bbox = ",".join(f"{v:.7f}" for v in box)
    got = all_pages(client, f"/collections/truong_hoc/items?bbox={bbox}&limit=4")
    assert {f["id"] for page in got for f in page["features"]} == inside
    assert got[0]["numberMatched"] == len(inside)
    # The same box given in VN-2000 (a projected box covers a little more than the lon/lat one).
    vn = pyproj.Transformer.from_crs(4326, 9210, always_xy=True)
    x0, y0 = vn.transform(box[0], box[1])
    x1, y1 = vn.transform(box[2], box[3])
    projected = client.get(
        "/collections/truong_hoc/items",
        params={"bbox": f"{x0},{y0},{x1},{y1}", "bbox-crs": epsg_uri(9210), "limit": 10000},
    ).json()
    assert inside <= {f["id"] for f in projected["features"]}
    # EPSG:4326 is latitude first.
    swapped = client.get(
        "/collections/truong_hoc/items",
        params={"bbox": f"{box[1]},{box[0]},{box[3]},{box[2]}", "bbox-crs": epsg_uri(4326)},
    ).json()
    assert swapped["numberMatched"] == len(inside)


def test_answers_in_another_crs(api: tuple[TestClient, RequestTransactions]) -> None:
    client, _ = api
    plain = client.get("/collections/truong_hoc/items", params={"limit": 5})
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    vn = pyproj.Transformer.from_crs(4326, 9210, always_xy=True)
    for code in (4326, 9210, 3405, 32648, 3857):
        moved = client.get(
            "/collections/truong_hoc/items", params={"limit": 5, "crs": epsg_uri(code)}
        )
        assert moved.status_code == 200 and moved.headers["content-crs"] == f"<{epsg_uri(code)}>"
        for a, b in zip(plain.json()["features"], moved.json()["features"], strict=True):
            lon, lat = a["geometry"]["coordinates"]
            x, y = b["geometry"]["coordinates"]
            if code == 4326:
                assert (x, y) == (lat, lon)
            elif code == 9210:
                ex, ey = vn.transform(lon, lat)
                assert abs(x - ex) < 0.01 and abs(y - ey) < 0.01
            else:
                assert 1e5 < abs(x) < 2e7 and 1e5 < abs(y) < 2e7
    # Polygons too, every ring moved.
    unit = client.get(
        "/collections/du_bao_lop1/items", params={"limit": 1, "crs": epsg_uri(9210)}
    ).json()["features"][0]
    ring = np.array(unit["geometry"]["coordinates"][0][0])
    assert (ring[:, 0] > 100_000).all() and (ring[:, 1] > 1_000_000).all()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("bbox=1,2,3", "bbox must be four numbers"),
        ("bbox=106.8,10,106.7,11", "the minimum comes first"),
        ("bbox=a,b,c,d", "bbox must be four numbers"),
        ("crs=EPSG:4326", "is not offered"),
        ("bbox=1,2,3,4&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2000", "is not offered"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("f=html", "only json is offered"),
        ("filter=name%3D%27x%27", "parameters not taken here: filter"),
        ("datetime=tomorrow", "is not RFC 3339"),
    ],
)
def test_a_bad_request_says_what_to_fix(
    api: tuple[TestClient, RequestTransactions], query: str, said: str
) -> None:
    client, _ = api
    got = client.get(f"/collections/truong_hoc/items?{query}")
    assert got.status_code in (400, 422), got.text
    assert said in got.text


def test_an_unknown_collection_or_feature_is_named(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, _ = api
    missing = client.get("/collections/applications/items")
    assert missing.status_code == 404
    assert "no collection 'applications'" in missing.text and "truong_hoc" in missing.text
    assert client.get("/collections/truong_hoc/items/999999999").status_code == 404
    # A datetime is accepted: no layer has time, so it selects nothing away.
    every = client.get("/collections/truong_hoc/items", params={"datetime": "2026-09-05T00:00:00Z"})
    assert every.status_code == 200
    assert (
        every.json()["numberMatched"]
        == client.get("/collections/truong_hoc/items").json()["numberMatched"]
    )


def test_zones_appear_only_once_published(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, conn = api
    # Read once: the worker keeps the layer until the public data changes.
    assert client.get("/collections/vung_tuyen_lop1/items").status_code == 200
    with conn.cursor() as cur:
        cur.execute("UPDATE zone_runs SET published_at = NULL")
    conn.commit()
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert "vung_tuyen_lop1" not in ids and "truong_hoc" in ids
    assert client.get("/collections/vung_tuyen_lop1/items").status_code == 404


def test_a_projected_bbox_is_covered_once_bent_into_lonlat() -> None:
    utm = output_crs(epsg_uri(32648))
    west, south, east, north = bbox_lonlat((600_000, 1_100_000, 720_000, 1_250_000), utm)
    back = pyproj.Transformer.from_crs(32648, 4326, always_xy=True)
    # Every point of the projected box's edges lies in the lon/lat rectangle.
    for x in np.linspace(600_000, 720_000, 50):
        for y in (1_100_000, 1_250_000):
            lon, lat = back.transform(x, y)
            assert west <= lon <= east and south <= lat <= north


def test_gdal_reads_the_vector_tiles_where_tilejson_points(server: str) -> None:
    """QGIS and GDAL take the tiles from the TileJSON's template: GDAL's MVT driver decodes a
    tile named z/x/y.pbf with the layers the TileJSON lists, each school where it is."""
    tilejson = get_json(f"{server}/tiles/tiles.json")
    described = {layer["id"] for layer in tilejson["vector_layers"]}
    school = get_json(f"{server}/collections/truong_hoc/items?limit=1")["features"][0]
    lon, lat = school["geometry"]["coordinates"]
    z = 15
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    url = tilejson["tiles"][0].format(z=z, x=x, y=y)
    source = f"/vsicurl/{url}"
    layers = {name for name, _ in pyogrio.list_layers(source)}
    assert layers and layers <= described
    points = [name for name in layers if "school" in name or "truong" in name]
    assert points, layers
    frame = pyogrio.read_dataframe(source, layer=points[0])
    assert frame.crs is not None and frame.crs.to_epsg() == 3857
    found = frame.to_crs(32648).geometry
    here = shapely.Point(
        pyproj.Transformer.from_crs(4326, 32648, always_xy=True).transform(lon, lat)
    )
    # A tile of zoom 15 places a point within about a metre (4,096 steps over 1.2 km).
    assert min(found.distance(here)) < 2.0
