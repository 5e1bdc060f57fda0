"""Split a Vietnamese address into house number, street and the wards or districts it names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gis_service.geocoding.text import fold, number_key, street_key
from gis_service.text import fold_admin_name

WARD_PREFIXES = ("phuong", "p", "xa", "x", "ward", "thi tran", "tt", "commune")
DISTRICT_PREFIXES = ("quan", "q", "huyen", "h", "district", "thi xa", "tx", "thanh pho", "tp")
# City names people add at the end; they narrow nothing within one city's data.
CITY_WORDS = (
    "thanh pho ho chi minh",
    "tp ho chi minh",
    "ho chi minh city",
    "ho chi minh",
    "tp hcm",
    "tphcm",
    "hcm",
    "sai gon",
    "viet nam",
    "vietnam",
)
# "q1", "p.12", "Q.Bình Thạnh": a prefix glued to its name.
_GLUED = re.compile(r"\b(q|p|h|tp|tx|tt)(\d+)\b")
_NUMBER = re.compile(
    r"^(?:so nha |so |nha |hem |kiet |ngo |ngach )?(\d+[a-z]{0,3}(?:/\d+[a-z]{0,3})*)\b"
)


@dataclass(frozen=True)
class AdminName:
    """A ward or district the parser can recognise, by its name without its kind."""

    unit_id: int
    level: str
    key: str
    parent_id: int | None


@dataclass
class ParsedAddress:
    """What a query says: house number, street key and the units it names (by id)."""

    number: str | None = None
    street: str = ""
    wards: list[int] = field(default_factory=list)
    districts: list[int] = field(default_factory=list)
    admin_words: list[str] = field(default_factory=list)


def _fold_keeping_slashes(text: str) -> str:
    return "/".join(fold(part) for part in text.split("/")).replace(" /", "/").replace("/ ", "/")


def _prefixes(level: str) -> tuple[str, ...]:
    return WARD_PREFIXES if level == "ward" else DISTRICT_PREFIXES


def _ending_matches(text: str, units: Sequence[AdminName]) -> tuple[int, list[AdminName]]:
    """The longest unit name (with or without its kind) that ends the text."""
    best_length, found = 0, []
    for unit in units:
        forms = [f"{prefix} {unit.key}" for prefix in _prefixes(unit.level)]
        # A bare name must say enough: "8" is a house number, not Ward 8, and "ba" ends
        # street names as often as it names Huyện Ba.
        if " " in unit.key or len(unit.key) >= 4:
            forms.append(unit.key)
        for form in forms:
            if text == form or text.endswith(" " + form):
                if len(form) > best_length:
                    best_length, found = len(form), [unit]
                elif len(form) == best_length and unit not in found:
                    found.append(unit)
    return best_length, found


def _strip_city(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for words in CITY_WORDS:
            if text == words or text.endswith(" " + words):
                text = text[: -len(words)].strip()
                changed = True
    return text


def parse_address(query: str, units: Sequence[AdminName]) -> ParsedAddress:
    """Read '1806/127/2 Huỳnh Tấn Phát, Nhà Bè' as number, street and units.

    Segments after the first comma name units (or, failing that, the street); in the first
    segment units are recognised at its end, so commas are optional.
    """
    parsed = ParsedAddress()
    segments = [s for s in (_fold_keeping_slashes(p) for p in query.split(",")) if s]
    segments = [_GLUED.sub(r"\1 \2", s) for s in segments]
    matched: list[AdminName] = []
    street_parts: list[str] = []
    for index, segment in enumerate(segments):
        text = _strip_city(segment)
        while text:
            length, found = _ending_matches(text, units)
            if not found:
                break
            matched.extend(found)
            parsed.admin_words.append(text[len(text) - length :])
            text = text[: len(text) - length].strip()
        if text and (index == 0 or not street_parts):
            street_parts.append(text)
    head = " ".join(street_parts)
    number = _NUMBER.match(head)
    if number:
        parsed.number = number_key(number.group(1))
        head = head[number.end() :]
    parsed.street = street_key(head.replace("/", " "))
    districts = [u for u in matched if u.level == "district"]
    wards = [u for u in matched if u.level == "ward"]
    if districts:
        # "Phường 8, Quận 5": only the Ward 8 of District 5.
        district_ids = {u.unit_id for u in districts}
        inside = [u for u in wards if u.parent_id in district_ids]
        wards = inside or wards
    parsed.wards = sorted({u.unit_id for u in wards})
    parsed.districts = sorted({u.unit_id for u in districts})
    return parsed


def admin_name(unit_id: int, level: str, name: str, parent_id: int | None) -> AdminName:
    """The recognisable form of a unit's name."""
    return AdminName(unit_id, level, fold_admin_name(name), parent_id)
