"""Place an address: the house, else the alley's mouth, else the street, else the ward."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from gis_service.db.connection import Connection
from gis_service.db.version_reader import VERSION_SQL
from gis_service.geocoding.parse import (
    LEVELS,
    AdminName,
    ParsedAddress,
    WrittenUnit,
    admin_names,
    parse_readings,
)
from gis_service.geocoding.text import street_key
from gis_service.units.editions import DISTRICT, EDITION_2019, EDITIONS, PROVINCE, current_edition
from gis_service.units.lookup import UnitRef, units_at, units_by_id

# A street name matches when its trigram similarity to the query's is at least this.
MIN_STREET_SIMILARITY = 0.45
# House numbers are looked for this close to the matched street (degrees, about 330 m).
NEAR_STREET_DEG = 0.003
# How far off a found house an alley of one more level may lead, in metres.
ALLEY_DEPTH_M = 150.0
# Interpolate only between numbers this close (in numbers and in metres).
MAX_NUMBER_GAP = 200
MAX_INTERPOLATION_M = 1500.0
# How far a home may be from the point a map gives its number: the number marks one point of a
# lot, and a city lot with its building runs tens of metres deep (a tube house 20-40 m, a
# compound more); two maps of one house put its point that far apart.
HOUSE_UNCERTAINTY_M = 50.0
# Street candidates worked out for an address, whatever the limit shown: the best answer does
# not depend on how many are asked for.
STREET_TRIES = 5
# Metric work in UTM 48N.
METRIC_SRID = 32648
# A point this close to a written unit (or within its own uncertainty) does not contradict it:
# unit boundaries are drawn coarser than houses.
UNIT_TOLERANCE_M = 100.0
# How sure each way of finding a point is; a point outside a unit the address names gets half.
PRECISION_CONFIDENCE = {
    "house": 0.95,
    "alley": 0.8,
    "interpolated": 0.7,
    "street": 0.5,
    "ward": 0.3,
    "district": 0.2,
    "province": 0.1,
}
_ORDER = {precision: rank for rank, precision in enumerate(PRECISION_CONFIDENCE)}

SILENT_PRECISIONS = ("house", "alley", "interpolated")
SILENT_MAX_UNCERTAINTY_M = 100.0
"""An answer is taken without asking the parent only when it places the house itself (its
number, the alley it opens on, or between two known numbers), its circle is at most this wide,
and it lies inside every unit the address names. Anything less sure, or contradicting what was
typed, the parent confirms on the map or moves the pin: a home placed a street's length away
puts the child at the wrong school. Same-named streets elsewhere and a number the map has
twice widen the circle to hold them all, so an ambiguous address is never silent either."""
_LEADING_DIGITS = re.compile(r"^(\d+)")


@dataclass
class Candidate:
    """One place an address may be, how it was found and how far off it may be."""

    lon: float
    lat: float
    label: str
    precision: str  # house | alley | interpolated | street | ward | district | province
    uncertainty_m: float
    note_vi: str
    note_en: str
    street: str | None = None
    housenumber: str | None = None
    ward_name: str | None = None
    district_name: str | None = None
    confidence: float = 0.0
    """0-1: how the point was found, halved when it lies outside a unit the address names."""
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    """The written units the point lies outside of."""
    units: dict[str, dict[str, str | None] | None] = field(default_factory=dict)
    """The unit of each edition the point is in: {"2019": {code, name, district}, "2025":
    {code, name}}; None for an edition with no unit there."""
    other_streets: int = 0
    """How many other streets of the name (or one like it) the home may be on instead; the
    circle holds them all."""
    needs_confirmation: bool = True
    """Whether the parent must look at the map and confirm or move the pin (see
    SILENT_PRECISIONS); when so, confirm_vi / confirm_en say why and what the circle means."""
    confirm_vi: str | None = None
    confirm_en: str | None = None


_UNITS_READ = """
    SELECT id, level, name, code, parent_id, edition FROM admin_units
    WHERE level IN ('ward', 'district', 'province') ORDER BY id
"""
_last_names: tuple[tuple[Any, ...], list[AdminName]] | None = None


def load_admin_names(conn: Connection) -> list[AdminName]:
    """Every loaded unit's recognisable names, of every edition and level (read again only
    when the public data version, which every change to the units moves, has changed)."""
    global _last_names
    with conn.cursor() as cur:
        # Any change to the units changes the public data version (a trigger; its sequence
        # never hands a number out twice), so one cheap row tells whether the names hold.
        cur.execute(f"SELECT current_database(), ({VERSION_SQL})")
        key = tuple(cur.fetchone() or ())
        last = _last_names
        if last is not None and last[0] == key:
            return last[1]
        cur.execute(_UNITS_READ)
        names = [name for row in cur.fetchall() for name in admin_names(*row)]
    _last_names = (key, names)
    return names


def _area_tries(parsed: ParsedAddress) -> list[tuple[str | None, list[int]]]:
    """The areas to look for the street in, in turn, each with its level: each written unit's,
    the most specific level first, and last anywhere."""
    tries: list[tuple[str | None, list[int]]] = []
    for level in LEVELS:
        for written in parsed.written:
            ids = written.ids(level)
            if ids and (level, ids) not in tries:
                tries.append((level, ids))
    return [*tries, (None, [])]


def _find_streets(conn: Connection, key: str, area: list[int]) -> list[dict[str, Any]]:
    """Streets whose name is like the key (best first), within the units when any are named."""
    inside = (
        "AND EXISTS (SELECT 1 FROM admin_units a WHERE a.id = ANY(%(area)s) "
        "AND ST_Intersects(a.geom, s.geom))"
        if area
        else ""
    )
    with conn.cursor() as cur:
        cur.execute(
            f"""
            SELECT s.id, s.name, s.street_key, similarity(s.street_key, %(key)s) AS score
            FROM streets s
            WHERE (s.street_key = %(key)s OR s.street_key %% %(key)s) {inside}
            ORDER BY (s.street_key = %(key)s) DESC, score DESC, s.length_m DESC, s.id
            LIMIT 20
            """,
            {"key": key, "area": area},
        )
        rows = [
            {"id": r[0], "name": r[1], "key": r[2], "score": float(r[3])} for r in cur.fetchall()
        ]
    if not rows:
        return []
    best = rows[0]["score"]
    exact = rows[0]["key"] == key
    return [
        r
        for r in rows
        if (r["key"] == key if exact else r["score"] >= max(MIN_STREET_SIMILARITY, best - 0.05))
    ]


def _houses(conn: Connection, street: dict[str, Any], numbers: list[str]) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.number_key, a.housenumber, ST_X(a.geom), ST_Y(a.geom)
            FROM addresses a, streets s
            WHERE s.id = %s AND a.street_key = s.street_key AND a.number_key = ANY(%s)
              AND ST_DWithin(a.geom, s.geom, %s)
            ORDER BY a.geom <-> s.geom, a.osm_type, a.osm_id
            """,
            (street["id"], numbers, NEAR_STREET_DEG),
        )
        return cur.fetchall()


def _spread(rows: list[tuple[Any, ...]], lon: float, lat: float) -> float:
    """The farthest of several houses of one number from the one chosen (0 when alone)."""
    return max((_metres((lon, lat), (r[2], r[3])) for r in rows), default=0.0)


def _numbered_neighbours(
    conn: Connection, street: dict[str, Any], number: int
) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]:
    """The nearest lower and higher plain numbers of the same side (parity) of the street."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.number_key::int AS n, ST_X(a.geom), ST_Y(a.geom)
            FROM addresses a, streets s
            WHERE s.id = %(street)s AND a.street_key = s.street_key
              AND a.number_key ~ '^[0-9]{1,6}$' AND ST_DWithin(a.geom, s.geom, %(near)s)
              AND a.number_key::int %% 2 = %(parity)s
              AND abs(a.number_key::int - %(number)s) <= %(gap)s
            ORDER BY a.osm_type, a.osm_id
            """,
            {
                "street": street["id"],
                "near": NEAR_STREET_DEG,
                "parity": number % 2,
                "number": number,
                "gap": MAX_NUMBER_GAP,
            },
        )
        rows = cur.fetchall()
    lower = max((r for r in rows if r[0] < number), key=lambda r: r[0], default=None)
    higher = min((r for r in rows if r[0] > number), key=lambda r: r[0], default=None)
    return lower, higher


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * 111_320.0 * math.cos(math.radians((a[1] + b[1]) / 2))
    dy = (b[1] - a[1]) * 110_574.0
    return math.hypot(dx, dy)


# Each street's stretch within the units read (the whole street when none, or none of it lies
# there).
_PIECES = """
    SELECT s.id, COALESCE(
        (SELECT NULLIF(
             ST_CollectionExtract(ST_Intersection(s.geom, ST_Union(a.geom)), 2),
             'MULTILINESTRING EMPTY'::geometry)
         FROM admin_units a WHERE a.id = ANY(%(area)s)),
        s.geom) AS geom
    FROM streets s WHERE s.id = ANY(%(streets)s)
"""


def _street_point(
    conn: Connection, street: dict[str, Any], area: list[int]
) -> tuple[float, float, float]:
    """A point on the street's stretch within the units (when named) and the farthest the
    stretch reaches from it, in metres."""
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH piece AS ({_PIECES})
            SELECT ST_X(p), ST_Y(p),
                   ST_MaxDistance(ST_Transform(geom, {METRIC_SRID}), ST_Transform(p, {METRIC_SRID}))
            FROM piece, LATERAL ST_ClosestPoint(geom, ST_Centroid(geom)) AS p
            """,
            {"streets": [street["id"]], "area": area},
        )
        lon, lat, reach = cur.fetchone()  # type: ignore[misc]
    return float(lon), float(lat), float(reach)


def _reach(
    conn: Connection,
    lon: float,
    lat: float,
    streets: list[int],
    area: list[int],
    other_districts: bool = False,
) -> tuple[float, int]:
    """The farthest any of the streets' stretches within the units reaches from a point (m),
    and how many streets that is; with `other_districts`, only the streets lying in no district
    that holds the point (a district names a street once: pieces of one name in the point's
    district are one street)."""
    elsewhere = (
        "WHERE NOT EXISTS (SELECT 1 FROM admin_units d WHERE d.level = 'district' "
        "AND ST_Covers(d.geom, p.geom) AND ST_Intersects(d.geom, piece.geom))"
        if other_districts
        else ""
    )
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH piece AS ({_PIECES}),
            p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geom)
            SELECT max(ST_MaxDistance(
                ST_Transform(piece.geom, {METRIC_SRID}), ST_Transform(p.geom, {METRIC_SRID}))),
                count(*)
            FROM piece, p {elsewhere}
            """,
            {"streets": streets, "area": area, "lon": lon, "lat": lat},
        )
        row = cur.fetchone()
    if not row or row[0] is None:
        return 0.0, 0
    return float(row[0]), int(row[1])


def _street_candidate(
    conn: Connection, street: dict[str, Any], parsed: ParsedAddress, area: list[int]
) -> Candidate:
    name = street["name"]
    number = parsed.number
    if number:
        parts = number.split("/")
        tries = ["/".join(parts[:k]) for k in range(len(parts), 0, -1)]
        found: dict[str, list[tuple[Any, ...]]] = {}
        for row in _houses(conn, street, tries):
            found.setdefault(row[0], []).append(row)  # the nearest the street first
        for depth, key in enumerate(tries):
            if key not in found:
                continue
            _, shown, lon, lat = found[key][0]
            # The map may have the number twice on the street: the home is at either.
            twice = _spread(found[key], lon, lat)
            if depth == 0:
                uncertainty = HOUSE_UNCERTAINTY_M + twice
                again_vi = (
                    f" Bản đồ có {len(found[key])} nhà số {shown} trên đường này."
                    if len(found[key]) > 1
                    else ""
                )
                again_en = (
                    f" The map has house {shown} {len(found[key])} times on this street."
                    if len(found[key]) > 1
                    else ""
                )
                return Candidate(
                    lon,
                    lat,
                    f"{shown} {name}",
                    "house",
                    uncertainty,
                    "Đúng số nhà trong dữ liệu bản đồ." + again_vi,
                    "The house number is on the map." + again_en,
                    name,
                    shown,
                )
            uncertainty = ALLEY_DEPTH_M * depth + twice
            return Candidate(
                lon,
                lat,
                f"{number} {name}",
                "alley",
                uncertainty,
                f"Không có số {number} trên bản đồ; vị trí là nhà số {shown} ở đầu hẻm, "
                f"nhà có thể cách khoảng {uncertainty:.0f} m.",
                f"House {number} is not on the map; this is number {shown} at the alley's "
                f"mouth; the home may be about {uncertainty:.0f} m away.",
                name,
                shown,
            )
        main = _LEADING_DIGITS.match(parts[0])
        if main:
            value = int(main.group(1))
            lower, higher = _numbered_neighbours(conn, street, value)
            if lower and higher:
                a, b = (lower[1], lower[2]), (higher[1], higher[2])
                span = _metres(a, b)
                if span <= MAX_INTERPOLATION_M:
                    t = (value - lower[0]) / (higher[0] - lower[0])
                    lon, lat = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
                    # Numbers are not spaced evenly: the home may be anywhere between the two
                    # known ones, and its lot runs back from there; an alley leads farther.
                    uncertainty = (
                        max(t, 1 - t) * span
                        + HOUSE_UNCERTAINTY_M
                        + ALLEY_DEPTH_M * (len(parts) - 1)
                    )
                    return Candidate(
                        lon,
                        lat,
                        f"{number} {name}",
                        "interpolated",
                        uncertainty,
                        f"Ước lượng giữa số {lower[0]} và số {higher[0]} {name}; "
                        f"sai số khoảng {uncertainty:.0f} m.",
                        f"Estimated between numbers {lower[0]} and {higher[0]} {name}; "
                        f"about {uncertainty:.0f} m uncertain.",
                        name,
                        number,
                    )
    lon, lat, reach = _street_point(conn, street, area)
    # The home may be at any number of the stretch read, its lot back from the street.
    uncertainty = reach + HOUSE_UNCERTAINTY_M
    missing_vi = f"Không tìm thấy số {number}; " if number else ""
    missing_en = f"House {number} was not found; " if number else ""
    return Candidate(
        lon,
        lat,
        f"{number + ' ' if number else ''}{name}",
        "street",
        uncertainty,
        f"{missing_vi}vị trí là một điểm trên đường {name}, sai số đến {uncertainty:.0f} m. "
        "Hãy kéo ghim đến đúng nhà.",
        f"{missing_en}this is a point on {name}, up to {uncertainty:.0f} m off. "
        "Drag the pin to the home.",
        name,
        number,
    )


_KIND_VI = {"ward": "phường/xã", "district": "quận/huyện", "province": "tỉnh/thành phố"}


def _area_candidates(conn: Connection, unit_ids: list[int], limit: int) -> list[Candidate]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.level, u.name, ST_X(p), ST_Y(p),
                   ST_MaxDistance(ST_Transform(u.geom, %s), ST_Transform(p, %s))
            FROM admin_units u, LATERAL ST_PointOnSurface(u.geom) AS p
            WHERE u.id = ANY(%s) AND u.geom IS NOT NULL ORDER BY u.id LIMIT %s
            """,
            (METRIC_SRID, METRIC_SRID, unit_ids, limit),
        )
        rows = cur.fetchall()
    return [
        Candidate(
            lon,
            lat,
            name,
            level,
            float(radius),
            f"Chỉ tìm thấy {_KIND_VI[level]} {name}; vị trí là giữa {_KIND_VI[level]}, vòng tròn "
            f"{radius:.0f} m bao cả {_KIND_VI[level]}. Hãy đặt ghim tại nhà.",
            f"Only the {level} {name} was found; this is its middle, and the {radius:.0f} m "
            f"circle holds the whole {level}. Drop the pin at the home.",
        )
        for level, name, lon, lat, radius in rows
    ]


def _distances(
    conn: Connection, lon: float, lat: float, written: list[WrittenUnit]
) -> list[float | None]:
    """How far the point lies outside each written unit (0 inside; None: no polygon)."""
    ids = [i for w in written for i in w.ids()]
    groups = [k for k, w in enumerate(written) for _ in w.ids()]
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geom)
            SELECT g.k, min(CASE WHEN ST_Covers(a.geom, p.geom) THEN 0
                                 ELSE ST_Distance(a.geom::geography, p.geom::geography) END)
            FROM unnest(%(ids)s::int[], %(groups)s::int[]) AS g (id, k)
            JOIN admin_units a ON a.id = g.id AND a.geom IS NOT NULL, p
            GROUP BY g.k
            """,
            {"lon": lon, "lat": lat, "ids": ids, "groups": groups},
        )
        found = {int(k): float(d) for k, d in cur.fetchall()}
    return [found.get(k) for k in range(len(written))]


def _labels(refs: dict[int, UnitRef], written: WrittenUnit) -> list[str]:
    """What a written unit was read as: '2025: Phường Sài Gòn', '2019: Ben Nghe (District 1)'."""
    return [f"{refs[i].edition}: {refs[i].label}" for i in written.ids() if i in refs]


def _found_in(written: WrittenUnit, at: dict[str, UnitRef]) -> str | None:
    """The unit of the written one's kind the point is in instead."""
    levels = {u.level for u in written.units}
    for edition in sorted({u.edition for u in written.units}, reverse=True):
        ref = at.get(edition)
        if ref is None:
            continue
        if levels == {DISTRICT}:
            return ref.district_name
        if levels != {PROVINCE}:
            return ref.label
    return None


def _check_units(
    conn: Connection,
    candidate: Candidate,
    written: list[WrittenUnit],
    refs: dict[int, UnitRef],
    at: dict[str, UnitRef],
) -> None:
    """Note each written unit the point lies outside of, and lower the confidence for it."""
    confidence = PRECISION_CONFIDENCE[candidate.precision]
    if written:
        distances = _distances(conn, candidate.lon, candidate.lat, written)
        tolerance = max(UNIT_TOLERANCE_M, candidate.uncertainty_m)
        for unit, distance in zip(written, distances, strict=True):
            if distance is None or distance <= tolerance:
                continue
            names = _labels(refs, unit)
            shown = " / ".join(refs[i].label for i in unit.ids() if i in refs) or unit.words
            instead = _found_in(unit, at)
            candidate.conflicts.append(
                {
                    "written": unit.words,
                    "units": names,
                    "distance_m": round(distance),
                    "found_in": instead,
                }
            )
            where_vi = f" (thuộc {instead})" if instead else ""
            where_en = f" (in {instead})" if instead else ""
            candidate.note_vi += (
                f" Địa chỉ ghi “{shown}” nhưng vị trí này cách đơn vị đó khoảng "
                f"{distance:.0f} m{where_vi}: hãy kiểm tra lại số nhà, đường và phường/xã."
            )
            candidate.note_en += (
                f" The address names “{shown}”, but this point lies about {distance:.0f} m "
                f"outside it{where_en}: check the house number, street and ward."
            )
    if candidate.conflicts:
        confidence /= 2
    candidate.confidence = round(confidence, 3)


def _units_of(at: dict[str, UnitRef]) -> dict[str, dict[str, str | None] | None]:
    """The point's unit in each edition, as the answer shows it (None: no unit covers it)."""
    shown: dict[str, dict[str, str | None] | None] = {}
    for edition in EDITIONS:
        ref = at.get(edition)
        if ref is None:
            shown[edition] = None
        elif edition == EDITION_2019:
            shown[edition] = {"code": ref.code, "name": ref.name, "district": ref.district_name}
        else:
            shown[edition] = {"code": ref.code, "name": ref.name}
    return shown


def _widen(
    conn: Connection,
    candidate: Candidate,
    street: dict[str, Any],
    streets: list[dict[str, Any]],
    typed: str,
    area: list[int],
) -> None:
    """Widen a candidate's circle to every place the street read may be: the whole stretch of a
    street whose name is only like the one typed, and every other street the name fits."""
    point = (candidate.lon, candidate.lat)
    if street["key"] != typed and candidate.precision in SILENT_PRECISIONS:
        # Another street's house: the typed one may be anywhere along it or not on it at all.
        near = _reach(conn, *point, [street["id"]], area)[0] + HOUSE_UNCERTAINTY_M
        candidate.uncertainty_m = max(candidate.uncertainty_m, near)
    others = [s["id"] for s in streets if s["id"] != street["id"]]
    if others:
        # A house number places the home on its own street; a street alone may be any piece.
        numbered = candidate.precision in SILENT_PRECISIONS
        reach, count = _reach(conn, *point, others, area, other_districts=numbered)
        if count and reach + HOUSE_UNCERTAINTY_M > candidate.uncertainty_m:
            candidate.uncertainty_m = reach + HOUSE_UNCERTAINTY_M
            candidate.other_streets = count


def needs_confirmation(candidate: Candidate) -> bool:
    """The rule of SILENT_PRECISIONS: whether the parent must confirm the point on the map."""
    return (
        candidate.precision not in SILENT_PRECISIONS
        or candidate.uncertainty_m > SILENT_MAX_UNCERTAINTY_M
        or bool(candidate.conflicts)
    )


def _confirm(candidate: Candidate) -> tuple[str, str]:
    """One sentence in each language: why the parent must look at the map, what the circle is."""
    radius = f"{candidate.uncertainty_m:.0f} m"
    if candidate.conflicts:
        outside = candidate.conflicts[0]
        # The unit as the address names it ("Phường Hòa Bình"), else the words as read.
        written = " / ".join(u.split(": ", 1)[-1] for u in outside["units"]) or outside["written"]
        return (
            f"Vị trí tìm được nằm ngoài “{written}” mà bạn ghi, nên có thể sai chỗ: hãy xem bản "
            f"đồ và kéo ghim đến đúng nhà (vòng tròn {radius} là vùng nhà có thể ở nếu vị trí "
            "này đúng).",
            f"The point found lies outside “{written}”, which you wrote, so it may be wrong: look "
            f"at the map and drag the pin to the home (the {radius} circle is where the home may "
            "be if this point is right).",
        )
    if candidate.other_streets:
        count = candidate.other_streets + 1
        return (
            f"Có {count} đường tên như “{candidate.street}” ở nhiều nơi, nhà có thể ở bất kỳ đâu "
            f"trong vòng tròn {radius}: hãy ghi thêm phường/xã hoặc quận, hoặc kéo ghim đến "
            "đúng nhà.",
            f"{count} streets named like “{candidate.street}” lie in different places, so the "
            f"home may be anywhere in the {radius} circle: add the ward or district, or drag the "
            "pin to the home.",
        )
    if candidate.precision == "street":
        return (
            f"Chỉ tìm được con đường, nhà có thể ở bất kỳ đâu trong vòng tròn {radius}: hãy kéo "
            "ghim đến đúng nhà.",
            f"Only the street was found, so the home may be anywhere in the {radius} circle: "
            "drag the pin to the home.",
        )
    if candidate.precision in _KIND_VI:
        return (
            f"Chỉ tìm được {candidate.label}, nhà có thể ở bất kỳ đâu trong vòng tròn {radius}: "
            "hãy đặt ghim tại nhà.",
            f"Only {candidate.label} was found, so the home may be anywhere in the {radius} "
            "circle: drop the pin at the home.",
        )
    return (
        f"Vị trí chỉ là ước lượng, nhà có thể ở bất kỳ đâu trong vòng tròn {radius}: hãy xem "
        "bản đồ và kéo ghim đến đúng nhà.",
        f"The point is only an estimate, and the home may be anywhere in the {radius} circle: "
        "look at the map and drag the pin to the home.",
    )


def _rank(candidate: Candidate) -> tuple[float, int, float]:
    return (-candidate.confidence, _ORDER[candidate.precision], candidate.uncertainty_m)


def _read(
    conn: Connection, parsed: ParsedAddress, limit: int, refs: dict[int, UnitRef]
) -> list[Candidate]:
    """Candidates for one reading of the query, each checked against the units it names."""
    tries = _area_tries(parsed)
    candidates: list[Candidate] = []
    if parsed.street:
        # The street of the very name written, in the most specific written unit that has
        # one, else anywhere; failing that, the likest name in the most specific unit.
        chosen: tuple[str | None, list[int], list[dict[str, Any]]] | None = None
        for level, area in tries:
            streets = _find_streets(conn, parsed.street, area)
            if parsed.written and not area:
                # Outside every written unit only a street of the very name is worth a look.
                streets = [s for s in streets if s["key"] == parsed.street]
            if parsed.unit_as_street:
                names = (parsed.street, parsed.unit_as_street)
                streets = [s for s in streets if s["key"] in names]
            if streets and streets[0]["key"] == parsed.street:
                chosen = (level, area, streets)
                break
            if streets and chosen is None:
                chosen = (level, area, streets)
        if chosen:
            level, area, streets = chosen
            # A province is too large to cut a street with: only wards and districts are.
            cut = [] if level == PROVINCE else area
            tried = streets[: max(limit, STREET_TRIES)]
            candidates = [_street_candidate(conn, s, parsed, cut) for s in tried]
            for street, candidate in zip(tried, candidates, strict=True):
                _widen(conn, candidate, street, streets, parsed.street, cut)
    places: list[tuple[Candidate, list[WrittenUnit]]] = [(c, parsed.written) for c in candidates]
    if len(tries) > 1 and not candidates:
        places += [(c, parsed.written) for c in _area_candidates(conn, tries[0][1], limit)]
        only = parsed.written[0] if len(parsed.written) == 1 else None
        if not parsed.street and not parsed.number and only and only.bare:
            # "Phạm Ngũ Lão" is a ward and a street: offer both.
            alone = street_key(only.words)
            streets = [s for s in _find_streets(conn, alone, []) if s["key"] == alone]
            for street in streets[:limit]:
                place = _street_candidate(conn, street, ParsedAddress(street=alone), [])
                places.append((place, []))
    for candidate, written in places:
        at = units_at(conn, candidate.lon, candidate.lat)
        candidate.units = _units_of(at)
        _check_units(conn, candidate, written, refs, at)
    if candidates and len(tries) > 1 and all(c.conflicts for c in candidates):
        # The point found contradicts the address's units: offer the units as well.
        for middle in _area_candidates(conn, tries[0][1], limit):
            middle.units = _units_of(units_at(conn, middle.lon, middle.lat))
            _check_units(conn, middle, parsed.written, refs, {})
            places.append((middle, parsed.written))
    found = [c for c, _ in places]
    found.sort(key=_rank)
    return found


def _written_shown(parsed: ParsedAddress, refs: dict[int, UnitRef]) -> list[dict[str, Any]]:
    return [
        {
            "written": w.words,
            "units": [
                {
                    "edition": refs[i].edition,
                    "level": level,
                    "code": refs[i].code,
                    "name": refs[i].label,
                }
                for level in LEVELS
                for i in w.ids(level)
                if i in refs
            ],
        }
        for w in parsed.written
    ]


MAX_QUERY_CHARS = 300
"""The longest address the geocoder reads: a home's number, street, ward, district and city fit
in far fewer characters."""

NOT_FOUND_HINT = (
    "Không tìm thấy địa chỉ này. Hãy ghi số nhà và tên đường (ví dụ “12 Lê Lợi”), thêm phường/xã "
    "nếu biết, hoặc đặt ghim tại nhà trên bản đồ.",
    "This address was not found. Type the house number and street name (e.g. “12 Lê Lợi”), add "
    "the ward if you know it, or drop a pin at the home on the map.",
)
"""What a parent can try when nothing matches what was typed."""


def geocode(
    conn: Connection, query: str, limit: int = 5, names: list[AdminName] | None = None
) -> dict[str, Any]:
    """Candidates for an address, the most certain first, with what the query was read as.

    `names` are the units to recognise (read from the database when not given; pass them when
    placing many addresses). Every reading of the query is tried until one finds the house;
    the reading whose best candidate is the surest wins.
    """
    readings = parse_readings(query, load_admin_names(conn) if names is None else names)
    ids = sorted({i for r in readings for w in r.written for i in w.ids()})
    refs = units_by_id(conn, ids) if ids else {}
    chosen, candidates = readings[0], _read(conn, readings[0], limit, refs)
    for reading in readings[1:]:
        if candidates and candidates[0].precision == "house" and not candidates[0].conflicts:
            break
        other = _read(conn, reading, limit, refs)
        if other and (not candidates or _rank(other[0]) < _rank(candidates[0])):
            chosen, candidates = reading, other
    edition = current_edition(conn) if candidates else EDITION_2019
    for candidate in candidates[:limit]:
        shown = candidate.units.get(edition) or next(
            (unit for unit in candidate.units.values() if unit), None
        )
        candidate.ward_name = shown["name"] if shown else None
        candidate.district_name = shown.get("district") if shown else None
        candidate.lon, candidate.lat = round(candidate.lon, 7), round(candidate.lat, 7)
        candidate.uncertainty_m = round(candidate.uncertainty_m)
        candidate.needs_confirmation = needs_confirmation(candidate)
        if candidate.needs_confirmation:
            candidate.confirm_vi, candidate.confirm_en = _confirm(candidate)
    return {
        "query": query,
        "parsed": {
            "number": chosen.number,
            "street": chosen.street or None,
            "places": chosen.admin_words,
            "units": _written_shown(chosen, refs),
        },
        "candidates": [asdict(c) for c in candidates[:limit]],
        "hint_vi": None if candidates else NOT_FOUND_HINT[0],
        "hint_en": None if candidates else NOT_FOUND_HINT[1],
    }


MAX_ADDRESS_UNCERTAINTY_M = 300
"""A home placed from an address is used for road distances only when this sure, in metres."""


@dataclass(frozen=True)
class PlacedHome:
    """Where an address put a home: the point, or None with what was found instead."""

    point: tuple[float, float] | None
    precision: str | None
    found: str


class AddressPlacer:
    """Places many addresses in a row (an applicant file), reading ward names only once."""

    def __init__(self, max_uncertainty_m: float = MAX_ADDRESS_UNCERTAINTY_M) -> None:
        self.max_uncertainty_m = max_uncertainty_m
        self._names: list[AdminName] | None = None

    def place(self, conn: Connection, address: str) -> PlacedHome:
        """The best candidate if it is within the uncertainty limit and inside the units the
        address names, else why not."""
        if self._names is None:
            self._names = load_admin_names(conn)
        found = geocode(conn, address, 1, self._names)["candidates"]
        if not found:
            return PlacedHome(None, None, "not found")
        best = found[0]
        if best["uncertainty_m"] > self.max_uncertainty_m:
            return PlacedHome(
                None, best["precision"], f"only the {best['precision']}, ±{best['uncertainty_m']} m"
            )
        if best["conflicts"]:
            # The house and the unit written with it disagree: one of them is wrong.
            outside = best["conflicts"][0]
            names = " / ".join(outside["units"]) or outside["written"]
            return PlacedHome(
                None,
                best["precision"],
                f"the {best['precision']} found lies {outside['distance_m']} m outside {names}",
            )
        return PlacedHome((best["lon"], best["lat"]), best["precision"], best["label"])
