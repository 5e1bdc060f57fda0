"""Keys for matching streets and house numbers regardless of diacritics, case and spelling."""

from __future__ import annotations

import re

from gis_service.text import fold_text

# OSM data sometimes writes Đ as Ð (U+00D0, Icelandic eth), which has no decomposition.
_ETH = str.maketrans({"Ð": "Đ", "ð": "đ"})
# Words that name the kind of street rather than the street.
_STREET_PREFIXES = ("duong so", "duong", "pho", "street", "road", "dai lo", "quoc lo", "tinh lo")
_STREET_PREFIX_KEEP = {"duong so": "so", "quoc lo": "ql", "tinh lo": "tl"}
_STREET_SUFFIXES = ("street", "road", "st", "rd")


def fold(text: str) -> str:
    """Lower-case ASCII words with every Vietnamese letter folded, Ð included."""
    return fold_text(text.translate(_ETH))


def street_key(name: str) -> str:
    """'Đường Phạm Ngũ Lão' and 'Pham Ngu Lao Street' -> 'pham ngu lao'.

    'Đường số 7' keeps its number as 'so 7', and 'Quốc lộ 50' becomes 'ql 50', since
    the number alone would match any road.
    """
    words = fold(name)
    for prefix in _STREET_PREFIXES:
        if words.startswith(prefix + " "):
            kept = _STREET_PREFIX_KEEP.get(prefix)
            words = words[len(prefix) + 1 :]
            if kept:
                words = f"{kept} {words}"
            break
    for suffix in _STREET_SUFFIXES:
        if words.endswith(" " + suffix):
            words = words[: -len(suffix) - 1]
            break
    return words.strip()


def number_key(housenumber: str) -> str:
    """'11 Bis' -> '11bis', '1806/127/2' -> '1806/127/2'; a range or list keeps its first.

    '72-74' and '72;74' -> '72', '175/10-12' -> '175/10': the first number is where the
    house begins, which is close enough for a home.
    """
    first = re.split(r"[;,]", housenumber, maxsplit=1)[0]
    parts = [fold(part.split("-")[0]).replace(" ", "") for part in first.split("/")]
    return "/".join(p for p in parts if p)
