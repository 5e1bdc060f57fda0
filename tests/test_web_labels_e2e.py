"""Street and ward names on the map, in a real headless Chromium: drawn from the served style
with our own glyphs, in Vietnamese with every mark, and nothing asked of another server."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import ARTEFACTS, accessibility_faults, chromium, served
from tests.test_tiles import DEMO_LAT, DEMO_LON

LABEL_LAYERS = ["road-names-minor", "road-names-major", "ward-names"]
VIETNAMESE_MARKS = set("ăâđêôơưàáảãạèéẻẽẹìíỉĩịòóỏõọùúủũụỳýỷỹỵ")


@pytest.fixture(scope="module")
def server(demo_db_url: str, demo_home: Path) -> Iterator[str]:
    with served(demo_db_url, demo_home) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class Watched:
    """A page with every error, off-site request and answer it met on the way."""

    def __init__(self, browser: Any, server: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.answers: list[tuple[str, int]] = []
        page = self.page
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        page.on(
            "request",
            lambda request: (
                self.errors.append(f"off-site request {request.url}")
                if not request.url.startswith((server, "data:", "blob:"))
                else None
            ),
        )
        page.on("response", lambda response: self.answers.append((response.url, response.status)))
        page.goto(server + "/")
        page.wait_for_selector("body[data-ready=yes]", timeout=30_000)

    def show(self, lon: float, lat: float, zoom: float) -> None:
        """Move the map and wait until it has drawn everything there."""
        self.page.evaluate(
            """([lon, lat, zoom]) => new Promise((done) => {
                 map.once("idle", done);
                 map.jumpTo({center: [lon, lat], zoom});
               })""",
            [lon, lat, zoom],
        )

    def labels(self, layers: list[str]) -> list[str]:
        """The names the map has placed on screen in these layers."""
        return list(
            self.page.evaluate(
                """(layers) => map.queryRenderedFeatures({layers}).map(
                     (f) => f.properties.full_name || f.properties.name)""",
                layers,
            )
        )


@pytest.fixture(scope="module")
def watched(browser: Any, server: str) -> Watched:
    return Watched(browser, server)


def test_the_map_draws_from_the_served_style_with_our_glyphs(watched: Watched, server: str) -> None:
    style = watched.page.evaluate("map.getStyle()")
    assert style["glyphs"] == f"{server}/fonts/{{fontstack}}/{{range}}.pbf"
    assert style["sources"]["city"]["tiles"] == [f"{server}/tiles/{{z}}/{{x}}/{{y}}.pbf"]
    ids = [layer["id"] for layer in style["layers"]]
    # The base layers the app relies on, its own overlays on top, the names in between.
    assert ids.index("wards-fill") < ids.index("ward-names") < ids.index("schools")


def test_street_and_ward_names_are_written_in_vietnamese_at_zoom_15(
    watched: Watched, server: str
) -> None:
    watched.show(DEMO_LON, DEMO_LAT, 15)
    streets = watched.labels(["road-names-minor", "road-names-major"])
    wards = watched.labels(["ward-names"])
    assert streets, "no street name placed"
    assert wards, "no ward name placed"
    assert any(ward.startswith(("Phường ", "Xã ")) for ward in wards)
    written = "".join(streets + wards)
    # Names as the data has them: composed Vietnamese letters with their marks.
    assert set(written.lower()) & VIETNAMESE_MARKS
    assert written == unicodedata.normalize("NFC", written)
    watched.page.wait_for_timeout(300)
    watched.page.screenshot(path=str(ARTEFACTS / "labels-zoom-15.png"))


def test_main_street_names_from_zoom_12_and_ward_names_from_11(watched: Watched) -> None:
    watched.show(DEMO_LON, DEMO_LAT, 12.5)
    assert watched.labels(["road-names-major"])
    assert not watched.labels(["road-names-minor"])
    assert watched.labels(["ward-names"])
    watched.page.screenshot(path=str(ARTEFACTS / "labels-zoom-12.png"))
    watched.show(DEMO_LON, DEMO_LAT, 10.5)
    assert not watched.labels(LABEL_LAYERS)


def test_every_glyph_came_from_our_server_and_nothing_failed(watched: Watched, server: str) -> None:
    watched.show(DEMO_LON, DEMO_LAT, 15)
    glyphs = [(url, status) for url, status in watched.answers if "/fonts/" in url]
    assert glyphs, "no glyph was asked for"
    assert all(url.startswith(f"{server}/fonts/") and status == 200 for url, status in glyphs)
    ranges = {url.rsplit("/", 1)[1] for url, _ in glyphs}
    # Basic Latin, and the Vietnamese letters (ơ ư, ạ … ỹ) of the names.
    assert "0-255.pbf" in ranges and ranges & {"256-511.pbf", "7680-7935.pbf"}
    assert not [a for a in watched.answers if a[1] >= 400], "failed answers"
    assert watched.errors == []


def test_the_labelled_map_is_accessible(watched: Watched) -> None:
    assert not (faults := accessibility_faults(watched.page)), "\n".join(faults)
    assert watched.errors == []


def test_the_account_maps_use_the_same_style(watched: Watched, server: str) -> None:
    names = watched.page.evaluate(
        """async () => {
             const element = document.createElement("div");
             element.style.cssText = "width: 400px; height: 300px";
             document.body.appendChild(element);
             const made = makeAccountMap(element);
             await made.whenLoaded;
             const ids = made.getStyle().layers.map((layer) => layer.id);
             made.remove();
             element.remove();
             return ids;
           }"""
    )
    assert {"wards-fill", "roads-major", *LABEL_LAYERS} <= set(names)
    assert watched.errors == []
