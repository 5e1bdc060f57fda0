"""Make the map's label glyphs: signed distance fields of DejaVu Sans, in MapLibre's ranges.

    .venv/bin/python scripts/make_glyphs.py [--fonts /usr/share/fonts/truetype/dejavu]

Writes web/glyphs/<fontstack>/<start>-<end>.pbf for every fontstack and range of
gis_service.glyphs, and prints each file's size. Needs Pillow (FreeType) and fontTools, which
only this script uses; the service serves the files as they are.

Each glyph follows the convention MapLibre's shaders and layout assume: an em of 24 px, the
distance field 3 px wider than the glyph's ink on every side, and byte = 255 - 255 × (d / 8 +
0.25) for a signed distance d in pixels (negative inside), so the outline sits at 191 and 6 px
of halo fit outside it. The glyph is drawn by FreeType at 8 times that size and the distance
measured there (exact Euclidean distance transform), then sampled at each pixel's centre.

`top` is the ink's top less a baseline offset: MapLibre places each line's glyphs 17 px above
its anchor and then adds -top, so the offset is chosen to put the middle of the capitals on
the anchor (as the fonts the layout constants were tuned for do), which keeps names centred
on the roads they run along.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont
from PIL import ImageFont
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_service.glyphs import (  # noqa: E402
    CODE_POINTS,
    EM_PX,
    GLYPH_BUFFER_PX,
    GLYPHS_DIR,
    LABEL_FONT,
    RANGE_SIZE,
    RANGE_STARTS,
    Glyph,
    encode_glyph_range,
    glyph_file,
    range_name,
)

FONT_FILES = {LABEL_FONT: "DejaVuSans.ttf"}
SUPERSAMPLE = 8
RADIUS_PX = 8
CUTOFF = 0.25
SHAPING_LINE_OFFSET_PX = 17
"""How far above its anchor MapLibre starts a line of glyphs (its SHAPING_DEFAULT_OFFSET)."""

# Glyphs DejaVu took from the Arev fonts, under their own licence (DejaVu's README lists them):
# none is needed for Vietnamese, so they are left out and only the Bitstream Vera licence
# applies to what is shipped.
AREV_RANGES = (
    (0x01BA, 0x01BA),
    (0x01BF, 0x01BF),
    (0x01F7, 0x01F7),
    (0x021C, 0x021D),
    (0x0220, 0x0220),
    (0x0222, 0x0223),
    (0x02B9, 0x02BA),
    (0x02BD, 0x02BD),
    (0x02C2, 0x02C5),
    (0x02D4, 0x02D5),
    (0x02D7, 0x02D7),
    (0x02EC, 0x02EE),
    (0x0346, 0x034E),
    (0x0360, 0x0360),
    (0x0362, 0x0362),
    (0x03E2, 0x03EF),
    (0x2055, 0x205E),
)


def from_arev(code_point: int) -> bool:
    return any(low <= code_point <= high for low, high in AREV_RANGES)


class GlyphMaker:
    """Renders one font's glyphs as SDF glyph messages."""

    def __init__(self, path: Path) -> None:
        self.font = ImageFont.truetype(
            str(path), EM_PX * SUPERSAMPLE, layout_engine=ImageFont.Layout.BASIC
        )
        tables = TTFont(str(path))
        self.cmap: dict[int, str] = tables.getBestCmap()
        self.units_per_em: int = tables["head"].unitsPerEm
        self.advances = {name: width for name, (width, _) in tables["hmtx"].metrics.items()}
        capital = self.ink("H")
        cap_height = 0.0 if capital is None else capital[1]
        self.baseline_offset = round(SHAPING_LINE_OFFSET_PX + cap_height / 2)

    def ink(self, char: str) -> tuple[float, float] | None:
        """The bottom and top of a character's ink in pixels at the 24 px em."""
        mask, (_, off_y) = self.font.getmask2(char, mode="L", anchor="ls")
        width, height = mask.size
        if not width or not height:
            return None
        pixels = np.asarray(mask, dtype=np.uint8).reshape(height, width)
        rows = np.nonzero((pixels >= 128).any(axis=1))[0]
        if not len(rows):
            return None
        return -(off_y + rows[-1] + 1) / SUPERSAMPLE, -(off_y + rows[0]) / SUPERSAMPLE

    def glyph(self, code_point: int) -> Glyph | None:
        name = self.cmap.get(code_point)
        wanted = any(low <= code_point <= high for low, high in CODE_POINTS)
        if name is None or not wanted or from_arev(code_point):
            return None
        advance = round(self.advances[name] * EM_PX / self.units_per_em)
        mask, (off_x, off_y) = self.font.getmask2(chr(code_point), mode="L", anchor="ls")
        width, height = mask.size
        inside = np.zeros((0, 0), dtype=bool)
        if width and height:
            inside = np.asarray(mask, dtype=np.uint8).reshape(height, width) >= 128
        if not inside.any():
            return Glyph(code_point, b"", 0, 0, 0, 0, advance)
        rows = np.nonzero(inside.any(axis=1))[0]
        cols = np.nonzero(inside.any(axis=0))[0]
        # The ink's box at the 24 px em (y up), rounded to whole pixels.
        left = round((off_x + cols[0]) / SUPERSAMPLE)
        right = round((off_x + cols[-1] + 1) / SUPERSAMPLE)
        top = round(-(off_y + rows[0]) / SUPERSAMPLE)
        bottom = round(-(off_y + rows[-1] + 1) / SUPERSAMPLE)
        if right <= left or top <= bottom:
            return Glyph(code_point, b"", 0, 0, 0, 0, advance)
        glyph_width, glyph_height = right - left, top - bottom
        bitmap = self.distance_field(inside, off_x, off_y, left, top, glyph_width, glyph_height)
        return Glyph(
            code_point,
            bitmap,
            glyph_width,
            glyph_height,
            left,
            top - self.baseline_offset,
            advance,
        )

    def distance_field(
        self, inside: np.ndarray, off_x: int, off_y: int, left: int, top: int, w: int, h: int
    ) -> bytes:
        """The SDF bytes of a (w + 6) × (h + 6) box whose inner top-left is (left, top)."""
        pad = (GLYPH_BUFFER_PX + 2) * SUPERSAMPLE
        grid = np.pad(inside, pad)
        # Distances between pixel centres, less half a pixel: to the outline between them.
        outside_d = ndimage.distance_transform_edt(~grid) - 0.5
        inside_d = ndimage.distance_transform_edt(grid) - 0.5
        signed = np.where(grid, -inside_d, outside_d) / SUPERSAMPLE
        buffered_w, buffered_h = w + 2 * GLYPH_BUFFER_PX, h + 2 * GLYPH_BUFFER_PX
        # Centres of the output pixels at the 24 px em (x right, y up) ...
        xs = left - GLYPH_BUFFER_PX + np.arange(buffered_w) + 0.5
        ys = top + GLYPH_BUFFER_PX - np.arange(buffered_h) - 0.5
        # ... as fractional indexes of the supersampled grid's pixel centres.
        cols = xs * SUPERSAMPLE - off_x + pad - 0.5
        rows = -ys * SUPERSAMPLE - off_y + pad - 0.5
        row_grid, col_grid = np.meshgrid(rows, cols, indexing="ij")
        sampled = ndimage.map_coordinates(signed, [row_grid, col_grid], order=1, mode="nearest")
        values = np.rint(255 - 255 * (sampled / RADIUS_PX + CUTOFF))
        return bytes(np.clip(values, 0, 255).astype(np.uint8).tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--fonts",
        type=Path,
        default=Path("/usr/share/fonts/truetype/dejavu"),
        help="folder holding DejaVuSans.ttf",
    )
    args = parser.parse_args()
    total = 0
    for fontstack, file_name in FONT_FILES.items():
        maker = GlyphMaker(args.fonts / file_name)
        (GLYPHS_DIR / fontstack).mkdir(parents=True, exist_ok=True)
        for start in RANGE_STARTS:
            glyphs = [
                g for cp in range(start, start + RANGE_SIZE) if (g := maker.glyph(cp)) is not None
            ]
            data = encode_glyph_range(fontstack, start, glyphs)
            glyph_file(fontstack, start).write_bytes(data)
            total += len(data)
            name = f"{fontstack}/{range_name(start)}.pbf"
            print(f"{name:34s} {len(glyphs):4d} glyphs {len(data):8,d} B")
    print(f"total {total:,d} B")


if __name__ == "__main__":
    main()
