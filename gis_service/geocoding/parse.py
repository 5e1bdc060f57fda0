"""Split a Vietnamese address into house number, street and the units it names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from gis_service.geocoding.text import fold, number_key, street_key
from gis_service.text import fold_admin_name
from gis_service.units.editions import DISTRICT, EDITION_2019, PROVINCE, WARD

LEVELS = (WARD, DISTRICT, PROVINCE)
"""The levels a written unit may have, the most specific first."""

WARD_PREFIXES = ("phuong", "p", "xa", "x", "ward", "thi tran", "tt", "commune", "dac khu", "dk")
DISTRICT_PREFIXES = ("quan", "q", "huyen", "h", "district", "thi xa", "tx", "thanh pho", "tp")
PROVINCE_PREFIXES = ("thanh pho", "tp", "tinh")
# English writes the kind after the name: "Ben Nghe Ward", "Ho Chi Minh City".
_SUFFIXES = {WARD: ("ward", "commune"), DISTRICT: ("district",), PROVINCE: ("city", "province")}
_PREFIXES = {WARD: WARD_PREFIXES, DISTRICT: DISTRICT_PREFIXES, PROVINCE: PROVINCE_PREFIXES}

NOISE_WORDS = (
    "thanh pho ho chi minh",
    "tp ho chi minh",
    "ho chi minh city",
    "ho chi minh",
    "tp hcm",
    "tphcm",
    "hcmc",
    "hcm",
    "sai gon",
    "saigon",
    "viet nam",
    "vietnam",
)
"""Words people add at the end of an address that narrow nothing in one city's data. They are
dropped only where no loaded unit bears them as a name: 'Sài Gòn' is a ward since 2025, and
'Hồ Chí Minh' the province itself when it is loaded."""

PROVINCE_ALIASES = {
    "79": ("hcm", "hcmc", "tphcm", "sai gon", "saigon"),
    "01": ("hn",),
}
"""Other names of a province, by its code: 'TP HCM', 'Sài Gòn' (also a ward since 2025: the
two readings are kept side by side, the ward tried first)."""

# "q1", "p.12", "Q.Bình Thạnh": a prefix glued to its name.
_GLUED = re.compile(r"\b(q|p|h|tp|tx|tt)(\d+)\b")
_NUMBER = re.compile(
    r"^(?:so nha |so |nha |hem |kiet |ngo |ngach )?(\d+[a-z]{0,3}(?:/\d+[a-z]{0,3})*)\b"
)


@dataclass(frozen=True)
class AdminName:
    """A unit the parser can recognise, by its name without its kind (or another name)."""

    unit_id: int
    level: str
    key: str
    parent_id: int | None
    edition: str = EDITION_2019
    alias: bool = False
    """The key is another name of the unit ('hcm'), recognised even when short."""


@dataclass(frozen=True)
class WrittenUnit:
    """A unit the address names, as written, with every loaded unit the words may mean."""

    words: str
    units: tuple[AdminName, ...]
    bare: bool
    """Written without its kind ('Bến Nghé', not 'Phường Bến Nghé')."""

    def ids(self, level: str | None = None) -> list[int]:
        """The ids of the units it may mean, of one level or of all."""
        return sorted({u.unit_id for u in self.units if level is None or u.level == level})


@dataclass
class ParsedAddress:
    """What a query says: house number, street key and the units it names (by id)."""

    number: str | None = None
    street: str = ""
    wards: list[int] = field(default_factory=list)
    districts: list[int] = field(default_factory=list)
    admin_words: list[str] = field(default_factory=list)
    written: list[WrittenUnit] = field(default_factory=list)
    provinces: list[int] = field(default_factory=list)
    unit_as_street: str = ""
    """A unit's name read as the street's: only a street of that very name (or of the whole
    street text) fits."""


def _fold_keeping_slashes(text: str) -> str:
    return "/".join(fold(part) for part in text.split("/")).replace(" /", "/").replace("/ ", "/")


def _forms(unit: AdminName) -> list[tuple[str, bool]]:
    """The ways a unit may be written, each with whether it is bare (without its kind)."""
    forms = [(f"{prefix} {unit.key}", False) for prefix in _PREFIXES[unit.level]]
    forms += [(f"{unit.key} {suffix}", False) for suffix in _SUFFIXES[unit.level]]
    # A bare name must say enough: "8" is a house number, not Ward 8, and "ba" ends
    # street names as often as it names Huyện Ba.
    if unit.alias or " " in unit.key or len(unit.key) >= 4:
        forms.append((unit.key, True))
    return forms


_FormIndex = dict[str, list[tuple[AdminName, bool]]]
_last_index: tuple[Sequence[AdminName], _FormIndex] | None = None


def _form_index(units: Sequence[AdminName]) -> _FormIndex:
    """Every written form of the units, to the units it may mean (built once per list: a list
    of names is not to be changed once parsed with)."""
    global _last_index
    last = _last_index
    if last is not None and last[0] is units:
        return last[1]
    index: _FormIndex = {}
    for unit in units:
        for form, bare in _forms(unit):
            index.setdefault(form, []).append((unit, bare))
    _last_index = (units, index)
    return index


def _ending_matches(text: str, units: Sequence[AdminName]) -> tuple[int, list[AdminName], bool]:
    """The longest unit name (with or without its kind) that ends the text, the units it may
    mean and whether it was written bare."""
    index = _form_index(units)
    words = text.split()
    for count in range(len(words), 0, -1):
        found = index.get(" ".join(words[-count:]))
        if found:
            units_meant = list(dict.fromkeys(u for u, _ in found))
            return len(" ".join(words[-count:])), units_meant, all(bare for _, bare in found)
    return 0, [], False


def _ending_noise(text: str) -> int:
    """The length of the noise words ending the text, 0 if none."""
    for words in NOISE_WORDS:
        if text == words or text.endswith(" " + words):
            return len(words)
    return 0


@dataclass
class _Segment:
    head: str
    items: list[WrittenUnit | str]
    """What follows the head, in order: units, and noise words (as text) dropped."""

    @property
    def units(self) -> list[WrittenUnit]:
        return [item for item in self.items if isinstance(item, WrittenUnit)]


def _peel(segment: str, units: Sequence[AdminName]) -> _Segment:
    """Take units and noise words off the end of a segment, the longest name first."""
    text = segment
    items: list[WrittenUnit | str] = []
    while text:
        length, matched, bare = _ending_matches(text, units)
        if not matched:
            length = _ending_noise(text)
            if not length:
                break
        words = text[len(text) - length :]
        items.append(WrittenUnit(words, tuple(matched), bare) if matched else words)
        text = text[: len(text) - length].strip()
    items.reverse()
    return _Segment(text, items)


def _street_and_number(parsed: ParsedAddress, head: str) -> None:
    number = _NUMBER.match(head)
    if number:
        parsed.number = number_key(number.group(1))
        head = head[number.end() :]
    parsed.street = street_key(head.replace("/", " "))


def _narrowed(written: list[WrittenUnit]) -> list[WrittenUnit]:
    """'Phường 8, Quận 5': of the 2019 wards a name may mean, only those of a named district."""
    district_ids = {u.unit_id for w in written for u in w.units if u.level == DISTRICT}
    if not district_ids:
        return written
    narrowed = []
    for unit in written:
        census = [u for u in unit.units if u.level == WARD and u.edition == EDITION_2019]
        inside = [u for u in census if u.parent_id in district_ids]
        if inside and len(inside) < len(census):
            kept = tuple(u for u in unit.units if u not in census or u in inside)
            unit = WrittenUnit(unit.words, kept, unit.bare)
        narrowed.append(unit)
    return narrowed


def _assemble(head: str, written: list[WrittenUnit]) -> ParsedAddress:
    parsed = ParsedAddress()
    _street_and_number(parsed, head)
    parsed.written = _narrowed(written)
    parsed.admin_words = [w.words for w in written]
    ids = {level: sorted({i for w in parsed.written for i in w.ids(level)}) for level in LEVELS}
    parsed.wards, parsed.districts, parsed.provinces = ids[WARD], ids[DISTRICT], ids[PROVINCE]
    return parsed


def parse_readings(query: str, units: Sequence[AdminName]) -> list[ParsedAddress]:
    """Every way the query may be read, the likeliest first.

    Segments after the first comma name units (or, failing that, the street); in the first
    segment units are recognised at its end, so commas are optional. A unit name written bare
    right after the street may be the end of the street's name instead ('12 Phạm Ngũ Lão',
    '25 Tân Kỳ Tân Quý'): each such reading follows the first.
    """
    segments = [s for s in (_fold_keeping_slashes(p) for p in query.split(",")) if s]
    segments = [_GLUED.sub(r"\1 \2", s) for s in segments]
    peeled = [_peel(s, units) for s in segments]
    if not peeled:
        return [_assemble("", [])]
    first, rest = peeled[0], peeled[1:]
    later = [w for segment in rest for w in segment.units]
    # The street is in the first segment, else in the first later one that is not all units.
    fallback = next((segment.head for segment in rest if segment.head), "")
    readings = [_assemble(first.head or fallback, first.units + later)]
    # Bare names (and noise words) right after the street, nearest first, may end its name.
    taken: list[str] = []
    for given, item in enumerate(first.items, start=1):
        if isinstance(item, WrittenUnit) and not item.bare:
            break
        taken.append(item.words if isinstance(item, WrittenUnit) else item)
        remaining = [w for w in first.items[given:] if isinstance(w, WrittenUnit)]
        reading = _assemble(" ".join([first.head, *taken]).strip(), remaining + later)
        reading.unit_as_street = street_key(" ".join(taken))
        readings.append(reading)
    return readings


def parse_address(query: str, units: Sequence[AdminName]) -> ParsedAddress:
    """Read '1806/127/2 Huỳnh Tấn Phát, Nhà Bè' as number, street and units (the likeliest
    reading; see `parse_readings`)."""
    return parse_readings(query, units)[0]


def admin_name(
    unit_id: int, level: str, name: str, parent_id: int | None, edition: str = EDITION_2019
) -> AdminName:
    """The recognisable form of a unit's name."""
    return AdminName(unit_id, level, fold_admin_name(name), parent_id, edition)


def admin_names(
    unit_id: int, level: str, name: str, code: str, parent_id: int | None, edition: str
) -> list[AdminName]:
    """Every recognisable form of a unit: its name and, for a province, its other names."""
    names = [admin_name(unit_id, level, name, parent_id, edition)]
    if level == PROVINCE:
        for alias in PROVINCE_ALIASES.get(code.lstrip("0").rjust(2, "0"), ()):
            names.append(AdminName(unit_id, level, alias, parent_id, edition, alias=True))
    return names
