"""The served map style, TileJSON and label glyphs: valid, self-contained, and able to write
every name of the demo city and of Ho Chi Minh City."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.api.tiles import VECTOR_LAYERS
from gis_service.db.connection import Connection
from gis_service.glyphs import (
    FONTSTACKS,
    GLYPH_BUFFER_PX,
    LABEL_FONT,
    RANGE_STARTS,
    Glyph,
    decode_glyph_range,
    glyph_file,
    range_name,
)
from gis_service.units.describe import unit_full_name
from tests.conftest import SingleConnection
from tests.hcmc_data import load_hcmc_units_2025, load_hcmc_wards_2019
from tests.test_tiles import DEMO_LAT, DEMO_LON, decode_layers, layer_features, tile_of

BASE = "http://testserver"


@pytest.fixture
def client(demo_db: Connection) -> Iterator[TestClient]:
    with TestClient(create_app(pool=SingleConnection(demo_db))) as made:
        yield made


def served_glyphs() -> dict[int, Glyph]:
    """Every glyph of the label font, by code point, from the files kept under web/glyphs."""
    glyphs: dict[int, Glyph] = {}
    for start in RANGE_STARTS:
        stacks = decode_glyph_range(glyph_file(LABEL_FONT, start).read_bytes())
        glyphs.update({g.id: g for g in stacks[LABEL_FONT][1]})
    return glyphs


def missing_characters(names: set[str]) -> set[str]:
    """Characters of the names (as the tiles send them, composed) the glyphs cannot draw."""
    glyphs = served_glyphs()
    return {
        ch
        for name in names
        for ch in unicodedata.normalize("NFC", name)
        if ord(ch) not in glyphs or not (glyphs[ord(ch)].bitmap or ch.isspace())
    }


def expression_fields(expression: Any) -> set[str]:
    """The feature properties an expression or filter reads (["get", …] and ["has", …])."""
    if not isinstance(expression, list) or not expression:
        return set()
    found = set()
    if expression[0] in ("get", "has") and len(expression) == 2:
        found.add(expression[1])
    for part in expression[1:]:
        found |= expression_fields(part)
    return found


# ------------------------------------------------------------------ the glyph files


@pytest.mark.parametrize("start", RANGE_STARTS)
def test_each_glyph_range_decodes_to_sdf_glyphs(start: int) -> None:
    stacks = decode_glyph_range(glyph_file(LABEL_FONT, start).read_bytes())
    assert list(stacks) == [LABEL_FONT]
    name, glyphs = stacks[LABEL_FONT]
    assert name == range_name(start)
    ids = [g.id for g in glyphs]
    assert ids == sorted(set(ids)) and all(start <= i < start + 256 for i in ids)
    for g in glyphs:
        if g.bitmap:
            side = 2 * GLYPH_BUFFER_PX
            assert len(g.bitmap) == (g.width + side) * (g.height + side), chr(g.id)
        else:
            assert g.width == g.height == 0
    if start == 0:
        capital = next(g for g in glyphs if g.id == ord("H"))
        field = np.frombuffer(capital.bitmap, np.uint8).reshape(
            capital.height + 6, capital.width + 6
        )
        # The buffer, 2.5 px and more outside the ink, is well below the outline's 191 (a
        # distance of d px outside is 191 - 32 d); inside the stems is above it.
        assert field[0].max() <= 112 and field[:, 0].max() <= 112
        assert field[field.shape[0] // 2, GLYPH_BUFFER_PX + 1] > 191
        # Capitals sit on the anchor like the fonts MapLibre's layout was tuned for.
        assert 15 <= capital.advance <= 20 and -10 <= capital.top <= -7
        assert next(g for g in glyphs if g.id == ord(" ")).advance > 0


def test_the_vietnamese_alphabet_and_marks_are_drawn() -> None:
    letters = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
    tones = "\u0300\u0301\u0303\u0309\u0323"
    names = {letters, letters.upper(), "–—‘’“”…"}
    names |= {
        unicodedata.normalize("NFC", v + t) for v in "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY" for t in tones
    }
    names.add(tones)  # as marks alone, for names written decomposed
    assert missing_characters(names) == set()


def test_every_demo_city_name_can_be_written(demo_db: Connection) -> None:
    with demo_db.cursor() as cur:
        cur.execute("SELECT DISTINCT name FROM road_ways WHERE name IS NOT NULL")
        names = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT name, unit_type FROM admin_units")
        units = cur.fetchall()
    assert names and units
    names |= {unit_full_name(name, kind) for name, kind in units}
    names |= {name for name, _ in units}
    assert missing_characters(names) == set()


@pytest.mark.hcmc
def test_every_hcmc_unit_name_can_be_written(db: Connection) -> None:
    load_hcmc_wards_2019(db)
    load_hcmc_units_2025(db)
    with db.cursor() as cur:
        cur.execute("SELECT name, unit_type FROM admin_units")
        units = cur.fetchall()
    assert len(units) > 300
    names = {unit_full_name(name, kind) for name, kind in units}
    assert missing_characters(names) == set()


# ------------------------------------------------------------------ serving the glyphs


def test_glyph_ranges_are_served_with_a_content_type_and_caching(client: TestClient) -> None:
    font = quote(LABEL_FONT)
    for start in RANGE_STARTS:
        response = client.get(f"/fonts/{font}/{range_name(start)}.pbf")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-protobuf"
        assert "max-age=86400" in response.headers["cache-control"]
        assert response.content == glyph_file(LABEL_FONT, start).read_bytes()
    # A fontstack of several fonts is answered by the first one served.
    stacked = client.get(f"/fonts/{quote('Noto Sans Regular,' + LABEL_FONT)}/0-255.pbf")
    assert stacked.content == glyph_file(LABEL_FONT, 0).read_bytes()
    # Large ranges travel compressed.
    zipped = client.get(f"/fonts/{font}/0-255.pbf", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    # The font's licence is served beside them, as its terms ask.
    licence = client.get("/web/glyphs/LICENSE.txt")
    assert licence.status_code == 200 and "Bitstream Vera" in licence.text


def test_a_range_with_nothing_to_draw_is_empty_not_missing(client: TestClient) -> None:
    # CJK characters: MapLibre is told there are none rather than shown an error.
    response = client.get(f"/fonts/{quote(LABEL_FONT)}/19968-20223.pbf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert decode_glyph_range(response.content) == {LABEL_FONT: ("19968-20223", [])}


def test_bad_fontstacks_and_ranges_are_refused(client: TestClient) -> None:
    unknown = client.get(f"/fonts/{quote('Comic Sans MS')}/0-255.pbf")
    assert unknown.status_code == 404 and LABEL_FONT in unknown.json()["detail"]
    for bad in ("0-10", "1-256", "65536-65791", "abc"):
        response = client.get(f"/fonts/{quote(LABEL_FONT)}/{bad}.pbf")
        assert response.status_code == 404, bad
        assert "0-255" in response.json()["detail"]


# ------------------------------------------------------------------ the style


def test_the_style_is_one_self_contained_maplibre_style(client: TestClient) -> None:
    response = client.get("/tiles/style.json")
    assert response.status_code == 200
    style = response.json()
    assert style["version"] == 8
    source = style["sources"]["city"]
    assert source["type"] == "vector"
    assert source["tiles"] == [f"{BASE}/tiles/{{z}}/{{x}}/{{y}}.pbf"]
    assert source["attribution"] == "© OpenStreetMap contributors"
    assert style["glyphs"] == f"{BASE}/fonts/{{fontstack}}/{{range}}.pbf"
    ids = [layer["id"] for layer in style["layers"]]
    assert len(ids) == len(set(ids))
    # The web app adds its layers against these.
    assert ids[:5] == ["background", "wards-fill", "roads-minor", "roads-major", "wards-line"]
    symbols = [layer for layer in style["layers"] if layer["type"] == "symbol"]
    assert {s["id"] for s in symbols} == {"road-names-minor", "road-names-major", "ward-names"}
    for layer in style["layers"]:
        if layer["type"] == "background":
            continue
        assert layer["source"] in style["sources"]
        fields = VECTOR_LAYERS[layer["source-layer"]]
        used = expression_fields(layer.get("filter"))
        for part in (layer.get("layout", {}), layer.get("paint", {})):
            for value in part.values():
                used |= expression_fields(value)
        assert used <= set(fields), layer["id"]
    for layer in symbols:
        layout = layer["layout"]
        assert layout["text-font"] and set(layout["text-font"]) <= set(FONTSTACKS)
        assert 11 <= layer["minzoom"] <= 14
    lines = [s for s in symbols if s["source-layer"] == "roads"]
    assert all(s["layout"]["symbol-placement"] == "line" for s in lines)
    assert {s["minzoom"] for s in lines} == {12, 14}
    # Every range the glyph URL template can be asked for answers.
    for fontstack in {",".join(s["layout"]["text-font"]) for s in symbols}:
        for start in RANGE_STARTS:
            url = style["glyphs"].format(fontstack=quote(fontstack), range=range_name(start))
            assert client.get(url.removeprefix(BASE)).status_code == 200


def test_the_style_passes_an_edition_on_to_the_tiles(client: TestClient) -> None:
    style = client.get("/tiles/style.json", params={"edition": "2019"}).json()
    assert style["sources"]["city"]["tiles"] == [f"{BASE}/tiles/{{z}}/{{x}}/{{y}}.pbf?edition=2019"]
    bad = client.get("/tiles/style.json", params={"edition": "1975"})
    assert bad.status_code == 400 and "2019, 2025" in bad.json()["detail"]


def test_urls_follow_the_address_the_client_used(demo_db: Connection) -> None:
    app = create_app(pool=SingleConnection(demo_db))
    with TestClient(app, base_url="https://schools.example.vn") as client:
        style = client.get("/tiles/style.json").json()
        tilejson = client.get("/tiles/tiles.json").json()
    assert style["glyphs"].startswith("https://schools.example.vn/fonts/")
    assert tilejson["tiles"][0].startswith("https://schools.example.vn/tiles/")


# ------------------------------------------------------------------ TileJSON


def test_tilejson_describes_the_tiles_as_they_are(client: TestClient) -> None:
    response = client.get("/tiles/tiles.json")
    assert response.status_code == 200
    document = response.json()
    assert document["tilejson"] == "3.0.0"
    assert document["tiles"] == [f"{BASE}/tiles/{{z}}/{{x}}/{{y}}.pbf"]
    assert document["attribution"] == "© OpenStreetMap contributors"
    assert document["scheme"] == "xyz"
    assert 0 <= document["minzoom"] < document["maxzoom"] <= 22
    west, south, east, north = document["bounds"]
    assert west < DEMO_LON < east and south < DEMO_LAT < north
    assert document["center"][:2] == [
        pytest.approx((west + east) / 2),
        pytest.approx((south + north) / 2),
    ]
    described = {layer["id"]: layer for layer in document["vector_layers"]}
    # Every layer and field a tile holds is described.
    x, y = tile_of(DEMO_LON, DEMO_LAT, 15)
    for z, tx, ty in [(10, *tile_of(DEMO_LON, DEMO_LAT, 10)), (15, x, y)]:
        tile = client.get(f"/tiles/{z}/{tx}/{ty}.pbf").content
        for layer in decode_layers(tile):
            assert layer in described
            keys = set().union(*(f.keys() for f in layer_features(tile, layer)))
            assert keys <= set(described[layer]["fields"]), layer
    edition = client.get("/tiles/tiles.json", params={"edition": "2019"}).json()
    assert edition["tiles"] == [f"{BASE}/tiles/{{z}}/{{x}}/{{y}}.pbf?edition=2019"]


def test_the_style_and_tilejson_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/tiles/style.json", "/tiles/tiles.json"):
        assert paths[path]["get"]["summary"], path
    assert "/fonts/{fontstack}/{range}.pbf" in paths["/tiles/style.json"]["get"]["description"]
