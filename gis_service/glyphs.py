"""Map label glyphs: the fontstacks we serve and the protobuf MapLibre reads them in.

MapLibre asks for a font's glyphs in ranges of 256 code points, one protobuf per fontstack and
range (`{fontstack}/{start}-{end}.pbf`): a `glyphs` message of `fontstack`s (name, range,
glyphs), each glyph a signed distance field 3 px wider than the glyph on every side, with its
metrics at a 24 px em. The ranges are made once by `scripts/make_glyphs.py` and kept under
`web/glyphs/`; this module writes and reads that format (the generator and the tests use it;
the service only serves the files and an empty range for the ones not made).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gis_service.web_files import WEB_DIR

GLYPHS_DIR = WEB_DIR / "glyphs"

LABEL_FONT = "DejaVu Sans Book"
FONTSTACKS = (LABEL_FONT,)
"""Fontstacks served, named as family and style; each is a folder of GLYPHS_DIR. One font for
every label: each fontstack is a download of its own for the phone drawing the map."""

RANGE_SIZE = 256
CODE_POINTS = (
    (0x0000, 0x00FF),  # Basic Latin and Latin-1
    (0x0100, 0x017F),  # Latin Extended-A: Ă ă Đ đ Ĩ ĩ Ũ ũ …
    (0x01A0, 0x01A1),  # Ơ ơ
    (0x01AF, 0x01B0),  # Ư ư
    (0x0300, 0x036F),  # combining marks (names written decomposed)
    (0x1EA0, 0x1EF9),  # Vietnamese letters of Latin Extended Additional: Ạ ạ Ả ả Ấ … Ỹ ỹ
    (0x2000, 0x206F),  # general punctuation: spaces, dashes, quotes, ellipsis
)
"""The characters made, those the font has: every letter and mark of Vietnamese and of the
Western European languages, and common punctuation. A character outside them is left out of a
label (MapLibre draws the rest)."""
RANGE_STARTS = tuple(sorted({low // 256 * 256 for low, _ in CODE_POINTS}))

MAX_CODE_POINT = 0xFFFF
GLYPH_BUFFER_PX = 3
EM_PX = 24

_RANGE_NAME = re.compile(r"(\d{1,5})-(\d{1,5})")


@dataclass(frozen=True)
class Glyph:
    """One glyph: its SDF bitmap ((width + 6) × (height + 6) bytes, rows from the top; empty
    for a glyph with no ink) and metrics in pixels at a 24 px em."""

    id: int
    bitmap: bytes
    width: int
    height: int
    left: int
    top: int
    advance: int


def range_name(start: int) -> str:
    """`0-255` for the range starting at 0."""
    return f"{start}-{start + RANGE_SIZE - 1}"


def parse_range(name: str) -> int | None:
    """The start of a range named `start-end` (256 code points from a multiple of 256), or
    None for any other name."""
    match = _RANGE_NAME.fullmatch(name)
    if match is None:
        return None
    start, end = int(match[1]), int(match[2])
    if start % RANGE_SIZE or end != start + RANGE_SIZE - 1 or end > MAX_CODE_POINT:
        return None
    return start


def glyph_file(fontstack: str, start: int) -> Path:
    """Where the range starting at `start` of a served fontstack is kept."""
    return GLYPHS_DIR / fontstack / f"{range_name(start)}.pbf"


# ------------------------------------------------------------------ protobuf writing


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def encode_glyph(glyph: Glyph) -> bytes:
    """One `glyph` message."""
    parts = [_field_varint(1, glyph.id)]
    if glyph.bitmap:
        parts.append(_field_bytes(2, glyph.bitmap))
    parts += [
        _field_varint(3, glyph.width),
        _field_varint(4, glyph.height),
        _field_varint(5, _zigzag(glyph.left)),
        _field_varint(6, _zigzag(glyph.top)),
        _field_varint(7, glyph.advance),
    ]
    return b"".join(parts)


def encode_glyph_range(fontstack: str, start: int, glyphs: list[Glyph]) -> bytes:
    """A `glyphs` message holding one fontstack's glyphs of one range (none: an empty range)."""
    stack = _field_bytes(1, fontstack.encode()) + _field_bytes(2, range_name(start).encode())
    stack += b"".join(_field_bytes(3, encode_glyph(g)) for g in sorted(glyphs, key=_by_id))
    return _field_bytes(1, stack)


def _by_id(glyph: Glyph) -> int:
    return glyph.id


# ------------------------------------------------------------------ protobuf reading


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (number, value) fields of a message holding varints and length-delimited fields."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _read_varint(data, at)
            out.append((number, value))
        elif wire == 2:
            size, at = _read_varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated field")
            out.append((number, data[at : at + size]))
            at += size
        else:
            raise ValueError(f"unexpected wire type {wire} in a glyph range")
    return out


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def decode_glyph_range(data: bytes) -> dict[str, tuple[str, list[Glyph]]]:
    """Each fontstack of a `glyphs` message: its range name and glyphs."""
    stacks: dict[str, tuple[str, list[Glyph]]] = {}
    for number, stack in _fields(data):
        if number != 1 or not isinstance(stack, bytes):
            continue
        name, range_text, glyphs = "", "", []
        for field, value in _fields(stack):
            if field == 1 and isinstance(value, bytes):
                name = value.decode()
            elif field == 2 and isinstance(value, bytes):
                range_text = value.decode()
            elif field == 3 and isinstance(value, bytes):
                glyphs.append(_decode_glyph(value))
        stacks[name] = (range_text, glyphs)
    return stacks


def _decode_glyph(data: bytes) -> Glyph:
    values: dict[int, int | bytes] = dict(_fields(data))

    def number(field: int) -> int:
        value = values.get(field, 0)
        if not isinstance(value, int):
            raise ValueError(f"glyph field {field} is not a number")
        return value

    bitmap = values.get(2, b"")
    return Glyph(
        id=number(1),
        bitmap=bitmap if isinstance(bitmap, bytes) else b"",
        width=number(3),
        height=number(4),
        left=_unzigzag(number(5)),
        top=_unzigzag(number(6)),
        advance=number(7),
    )
