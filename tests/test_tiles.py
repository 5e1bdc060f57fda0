"""Vector tiles made by PostGIS: layers, contents by zoom, labels, and bad tile addresses."""

from __future__ import annotations

import math
import struct
import unicodedata
from typing import Any

from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.api.tiles import EXTENT, WEB_MERCATOR_HALF_M, in_tile
from gis_service.db.connection import Connection
from tests.conftest import SingleConnection

# The demo city lies around lon 106.62, lat 10.45.
DEMO_LON, DEMO_LAT = 106.62, 10.45


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """Protocol-buffer fields of a message: (number, int or bytes)."""
    out, at = [], 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            value, at = data[at : at + 8], at + 8
        out.append((number, value))
    return out


def decode_layers(tile: bytes) -> dict[str, dict[str, Any]]:
    """Each layer's feature count, property keys and string values (enough for these tests)."""
    layers = {}
    for number, layer in _fields(tile):
        assert number == 3
        fields = _fields(layer)
        name = next(v for n, v in fields if n == 1).decode()
        values = [_fields(v) for n, v in fields if n == 4]
        layers[name] = {
            "features": sum(1 for n, _ in fields if n == 2),
            "keys": {v.decode() for n, v in fields if n == 3},
            "strings": {f[0][1].decode() for f in values if f and f[0][0] == 1},
        }
    return layers


def _value(message: bytes) -> Any:
    """One MVT value: string, float or double, integer or bool."""
    ((number, raw),) = _fields(message)
    if number == 1:
        return raw.decode()
    if number in (2, 3):
        return struct.unpack("<f" if number == 2 else "<d", raw)[0]
    if number == 6:
        return (raw >> 1) ^ -(raw & 1)
    if number == 7:
        return bool(raw)
    return raw


def layer_features(tile: bytes, name: str) -> list[dict[str, Any]]:
    """The properties of every feature of one layer of a tile."""
    for _, layer in _fields(tile):
        fields = _fields(layer)
        if next(v for n, v in fields if n == 1).decode() != name:
            continue
        keys = [v.decode() for n, v in fields if n == 3]
        values = [_value(v) for n, v in fields if n == 4]
        out = []
        for feature in (v for n, v in fields if n == 2):
            packed = next((v for n, v in _fields(feature) if n == 2), b"")
            tags, at = [], 0
            while at < len(packed):
                tag, at = _varint(packed, at)
                tags.append(tag)
            out.append({keys[k]: values[v] for k, v in zip(tags[::2], tags[1::2], strict=True)})
        return out
    return []


def layer_points(tile: bytes, name: str) -> list[tuple[int, int]]:
    """The tile coordinates of every point feature of one layer of a tile."""
    for _, layer in _fields(tile):
        fields = _fields(layer)
        if next(v for n, v in fields if n == 1).decode() != name:
            continue
        points = []
        for feature in (v for n, v in fields if n == 2):
            packed = next(v for n, v in _fields(feature) if n == 4)
            command, at = _varint(packed, 0)
            assert command == (1 << 3) | 1  # one MoveTo: a single point
            dx, at = _varint(packed, at)
            dy, at = _varint(packed, at)
            points.append(((dx >> 1) ^ -(dx & 1), (dy >> 1) ^ -(dy & 1)))
        return points
    return []


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def test_demo_tile_has_roads_wards_and_schools(demo_db: Connection) -> None:
    x, y = tile_of(DEMO_LON, DEMO_LAT, 10)
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        response = client.get(f"/tiles/10/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layers = decode_layers(response.content)
    assert set(layers) == {"roads", "wards", "ward_labels", "schools"}
    highways = layers["roads"]["strings"]
    # At zoom 10 only the main roads are drawn; streets from 11, alleys from zoom 14.
    assert "primary" in highways and not {"residential", "service"} & highways
    with demo_db.cursor() as cur:
        cur.execute("SELECT count(*) FROM schools")
        schools = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM admin_units WHERE level = 'ward'")
        wards = cur.fetchone()[0]
    # The whole demo city fits in this one tile.
    assert layers["schools"]["features"] == schools
    assert layers["wards"]["features"] == wards
    assert {"id", "name", "levels", "level", "ownership"} <= layers["schools"]["keys"]
    # The demo city has only its census wards: the ward layer is that edition, all covered.
    wards_in_tile = layer_features(response.content, "wards")
    assert {w["edition"] for w in wards_in_tile} == {"2019"}
    assert all(w["no_census"] is False and w["census_coverage"] == 1.0 for w in wards_in_tile)
    assert all(w["full_name"] and w["district_name"] for w in wards_in_tile)


def test_close_tile_has_alleys(demo_db: Connection) -> None:
    x, y = tile_of(DEMO_LON, DEMO_LAT, 15)
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        layers = decode_layers(client.get(f"/tiles/15/{x}/{y}.pbf").content)
    assert "service" in layers["roads"]["strings"]


def test_empty_and_bad_tiles(demo_db: Connection) -> None:
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        empty = client.get("/tiles/10/0/0.pbf")
        assert empty.status_code == 200 and empty.content == b""
        outside = client.get("/tiles/3/8/1.pbf")
        assert outside.status_code == 400
        assert "x and y run from 0 to 7" in outside.json()["detail"]
        assert client.get("/tiles/25/0/0.pbf").status_code == 422
        bad_edition = client.get("/tiles/10/0/0.pbf", params={"edition": "2018"})
        assert bad_edition.status_code == 400
        assert "2019, 2025" in bad_edition.json()["detail"]


def test_the_ward_layer_of_an_edition_with_no_units_is_empty(demo_db: Connection) -> None:
    x, y = tile_of(DEMO_LON, DEMO_LAT, 10)
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        current = client.get(f"/tiles/10/{x}/{y}.pbf")
        named = client.get(f"/tiles/10/{x}/{y}.pbf", params={"edition": "2019"})
        other = client.get(f"/tiles/10/{x}/{y}.pbf", params={"edition": "2025"})
    assert current.content == named.content
    layers = decode_layers(other.content)
    assert "wards" not in layers and "ward_labels" not in layers
    assert layers["schools"] == decode_layers(current.content)["schools"]


def _demo_tiles(conn: Connection, z: int) -> list[tuple[int, int]]:
    """Every tile of zoom z meeting the demo city's units."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM admin_units WHERE level = 'ward') t"
        )
        west, south, east, north = cur.fetchone()
    x0, y0 = tile_of(west, north, z)
    x1, y1 = tile_of(east, south, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


_INSIDE_UNIT_SQL = """
SELECT ST_Contains(u.geom, ST_Transform(ST_SetSRID(ST_MakePoint(
           ST_XMin(t) + %(px)s::float8 / %(extent)s * (ST_XMax(t) - ST_XMin(t)),
           ST_YMax(t) - %(py)s::float8 / %(extent)s * (ST_YMax(t) - ST_YMin(t))), 3857), 4326))
FROM admin_units u, ST_TileEnvelope(%(z)s, %(x)s, %(y)s) t
WHERE u.id = %(id)s
"""


def _inside_unit(
    conn: Connection, tile: tuple[int, int, int], point: tuple[int, int], unit: int
) -> bool:
    """Whether a point of a tile (tile coordinates, y down) lies inside a unit."""
    z, x, y = tile
    params = {"px": point[0], "py": point[1], "extent": EXTENT, "z": z, "x": x, "y": y}
    with conn.cursor() as cur:
        cur.execute(_INSIDE_UNIT_SQL, {**params, "id": unit})
        return bool(cur.fetchone()[0])


def test_each_unit_is_labelled_once_across_tiles_inside_itself(demo_db: Connection) -> None:
    with demo_db.cursor() as cur:
        cur.execute("SELECT id, name FROM admin_units WHERE level = 'ward'")
        names = dict(cur.fetchall())
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        for z in (12, 14):
            seen: list[int] = []
            tiles = _demo_tiles(demo_db, z)
            assert len(tiles) > 1
            for x, y in tiles:
                tile = client.get(f"/tiles/{z}/{x}/{y}.pbf").content
                labels = layer_features(tile, "ward_labels")
                points = layer_points(tile, "ward_labels")
                seen += [label["id"] for label in labels]
                for label, (px, py) in zip(labels, points, strict=True):
                    # The point is in this tile (not its buffer) and inside its unit.
                    assert 0 <= px < EXTENT and 0 <= py < EXTENT
                    assert _inside_unit(demo_db, (z, x, y), (px, py), label["id"]), label
                    assert label["name"] == names[label["id"]]
            assert sorted(seen) == sorted(names), f"zoom {z}"


def test_label_names_keep_their_vietnamese_letters(demo_db: Connection) -> None:
    x, y = tile_of(DEMO_LON, DEMO_LAT, 10)
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        tile = client.get(f"/tiles/10/{x}/{y}.pbf").content
    labels = layer_features(tile, "ward_labels")
    assert labels and all(set(label) >= {"id", "code", "name", "full_name"} for label in labels)
    wards = {w["id"]: w["full_name"] for w in layer_features(tile, "wards")}
    for label in labels:
        assert label["full_name"] == unicodedata.normalize("NFC", wards[label["id"]])
        assert label["full_name"].startswith(("Phường ", "Xã ", "Thị trấn "))
    # The demo city's names are Vietnamese: letters beyond ASCII come through whole.
    assert any(not label["full_name"].isascii() for label in labels)
    roads = {r["name"] for r in layer_features(tile, "roads") if r.get("name")}
    assert roads and any(not name.isascii() for name in roads)


def test_decomposed_names_are_sent_composed(demo_db: Connection) -> None:
    decomposed = unicodedata.normalize("NFD", "Bến Thành")
    with demo_db.cursor() as cur:
        cur.execute(
            "UPDATE admin_units SET name = %s WHERE id = "
            "(SELECT min(id) FROM admin_units WHERE level = 'ward') RETURNING id",
            (decomposed,),
        )
        unit = cur.fetchone()[0]
        cur.execute(
            "UPDATE road_ways SET name = %s WHERE highway = 'primary' RETURNING osm_id",
            (decomposed,),
        )
        assert cur.fetchall()
    x, y = tile_of(DEMO_LON, DEMO_LAT, 10)
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        tile = client.get(f"/tiles/10/{x}/{y}.pbf").content
    (label,) = [f for f in layer_features(tile, "ward_labels") if f["id"] == unit]
    assert label["name"] == "Bến Thành" == unicodedata.normalize("NFC", label["name"])
    roads = {f.get("name") for f in layer_features(tile, "roads") if f["highway"] == "primary"}
    assert roads == {"Bến Thành"}


def test_a_point_on_tile_edges_is_in_exactly_one_tile() -> None:
    z = 14
    side = 2 * WEB_MERCATOR_HALF_M / (1 << z)
    x, y = 13044, 7713
    corner = (-WEB_MERCATOR_HALF_M + x * side, WEB_MERCATOR_HALF_M - y * side)
    edge = (corner[0] + side / 3, corner[1])
    for point in (corner, edge):
        holding = [
            (tx, ty)
            for tx in range(x - 1, x + 2)
            for ty in range(y - 1, y + 2)
            if in_tile(point, z, tx, ty)
        ]
        assert holding == [(x, y)]


def test_a_moved_unit_is_labelled_where_it_now_lies(demo_db: Connection) -> None:
    x, y = tile_of(DEMO_LON, DEMO_LAT, 10)
    far_x, far_y = tile_of(DEMO_LON + 2, DEMO_LAT, 10)
    with TestClient(create_app(pool=SingleConnection(demo_db))) as client:
        before = layer_features(client.get(f"/tiles/10/{x}/{y}.pbf").content, "ward_labels")
        unit = before[0]["id"]
        with demo_db.cursor() as cur:
            cur.execute(
                "UPDATE admin_units SET geom = ST_Translate(geom, 2, 0) WHERE id = %s", (unit,)
            )
        after = layer_features(client.get(f"/tiles/10/{x}/{y}.pbf").content, "ward_labels")
        far = layer_features(client.get(f"/tiles/10/{far_x}/{far_y}.pbf").content, "ward_labels")
    assert unit not in {f["id"] for f in after}
    assert [f["id"] for f in far] == [unit]
