"""Place an address: the house, else the alley's mouth, else the street, else the ward."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from gis_service.db.connection import Connection
from gis_service.geocoding.parse import AdminName, ParsedAddress, admin_name, parse_address
from gis_service.geocoding.text import street_key

# A street name matches when its trigram similarity to the query's is at least this.
MIN_STREET_SIMILARITY = 0.45
# House numbers are looked for this close to the matched street (degrees, about 330 m).
NEAR_STREET_DEG = 0.003
# How far off a found house an alley of one more level may lead, in metres.
ALLEY_DEPTH_M = 150.0
# Interpolate only between numbers this close (in numbers and in metres).
MAX_NUMBER_GAP = 200
MAX_INTERPOLATION_M = 1500.0
HOUSE_UNCERTAINTY_M = 15.0
_LEADING_DIGITS = re.compile(r"^(\d+)")


@dataclass
class Candidate:
    """One place an address may be, how it was found and how far off it may be."""

    lon: float
    lat: float
    label: str
    precision: str  # house | alley | interpolated | street | ward | district
    uncertainty_m: float
    note_vi: str
    note_en: str
    street: str | None = None
    housenumber: str | None = None
    ward_name: str | None = None
    district_name: str | None = None


def load_admin_names(conn: Connection) -> list[AdminName]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, level, name, parent_id FROM admin_units "
            "WHERE level IN ('ward', 'district') ORDER BY id"
        )
        return [admin_name(*row) for row in cur.fetchall()]


def _area_ids(parsed: ParsedAddress) -> list[int]:
    return parsed.wards or parsed.districts


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


def _street_point(
    conn: Connection, street: dict[str, Any], area: list[int]
) -> tuple[float, float, float]:
    """A point on the street (within the units when named) and half the length it spans there."""
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH piece AS (
                SELECT COALESCE(
                    (SELECT NULLIF(
                         ST_CollectionExtract(ST_Intersection(s.geom, ST_Union(a.geom)), 2),
                         'MULTILINESTRING EMPTY'::geometry)
                     FROM admin_units a WHERE a.id = ANY(%(area)s)),
                    s.geom) AS geom
                FROM streets s WHERE s.id = %(street)s
            )
            SELECT ST_X(p), ST_Y(p), ST_Length(geom::geography)
            FROM piece, LATERAL ST_ClosestPoint(geom, ST_Centroid(geom)) AS p
            """,
            {"street": street["id"], "area": area},
        )
        lon, lat, length = cur.fetchone()  # type: ignore[misc]
    return float(lon), float(lat), float(length) / 2.0


def _place_names(conn: Connection, lon: float, lat: float) -> tuple[str | None, str | None]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.name, d.name FROM admin_units w LEFT JOIN admin_units d ON d.id = w.parent_id
            WHERE w.level = 'ward' AND ST_Covers(w.geom, ST_SetSRID(ST_Point(%s, %s), 4326))
            ORDER BY w.id LIMIT 1
            """,
            (lon, lat),
        )
        row = cur.fetchone()
    return (row[0], row[1]) if row else (None, None)


def _street_candidate(conn: Connection, street: dict[str, Any], parsed: ParsedAddress) -> Candidate:
    name = street["name"]
    number = parsed.number
    if number:
        parts = number.split("/")
        tries = ["/".join(parts[:k]) for k in range(len(parts), 0, -1)]
        found = {row[0]: row for row in _houses(conn, street, tries)}
        for depth, key in enumerate(tries):
            if key not in found:
                continue
            _, shown, lon, lat = found[key]
            if depth == 0:
                return Candidate(
                    lon,
                    lat,
                    f"{shown} {name}",
                    "house",
                    HOUSE_UNCERTAINTY_M,
                    "Đúng số nhà trong dữ liệu bản đồ.",
                    "The house number is on the map.",
                    name,
                    shown,
                )
            uncertainty = ALLEY_DEPTH_M * depth
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
                    uncertainty = max(50.0, span / 2) + ALLEY_DEPTH_M * (len(parts) - 1)
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
    lon, lat, half = _street_point(conn, street, _area_ids(parsed))
    uncertainty = max(100.0, half)
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


def _area_candidates(conn: Connection, unit_ids: list[int], limit: int) -> list[Candidate]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.level, u.name, ST_X(p), ST_Y(p), sqrt(ST_Area(u.geom::geography) / pi())
            FROM admin_units u, LATERAL ST_PointOnSurface(u.geom) AS p
            WHERE u.id = ANY(%s) AND u.geom IS NOT NULL ORDER BY u.id LIMIT %s
            """,
            (unit_ids, limit),
        )
        rows = cur.fetchall()
    kind_vi = {"ward": "phường/xã", "district": "quận/huyện"}
    return [
        Candidate(
            lon,
            lat,
            name,
            level,
            float(radius),
            f"Chỉ tìm thấy {kind_vi[level]} {name}; vị trí là giữa {kind_vi[level]}, sai số "
            f"khoảng {radius:.0f} m. Hãy đặt ghim tại nhà.",
            f"Only the {level} {name} was found; this is its middle, about {radius:.0f} m "
            "uncertain. Drop the pin at the home.",
        )
        for level, name, lon, lat, radius in rows
    ]


def geocode(
    conn: Connection, query: str, limit: int = 5, names: list[AdminName] | None = None
) -> dict[str, Any]:
    """Candidates for an address, the most certain first, with what the query was read as.

    `names` are the wards and districts to recognise (read from the database when not given;
    pass them when placing many addresses).
    """
    parsed = parse_address(query, load_admin_names(conn) if names is None else names)
    candidates: list[Candidate] = []
    if parsed.street:
        for street in _find_streets(conn, parsed.street, _area_ids(parsed))[:limit]:
            candidates.append(_street_candidate(conn, street, parsed))
    if not candidates and _area_ids(parsed):
        candidates = _area_candidates(conn, _area_ids(parsed), limit)
        if not parsed.street and parsed.admin_words:
            # "Phạm Ngũ Lão" is a ward and a street: offer both.
            alone = street_key(parsed.admin_words[-1])
            for street in _find_streets(conn, alone, [])[:limit]:
                candidates.append(_street_candidate(conn, street, ParsedAddress(street=alone)))
    order = {"house": 0, "alley": 1, "interpolated": 2, "street": 3, "ward": 4, "district": 5}
    candidates.sort(key=lambda c: (order[c.precision], c.uncertainty_m))
    for candidate in candidates:
        ward, district = _place_names(conn, candidate.lon, candidate.lat)
        candidate.ward_name, candidate.district_name = ward, district
        candidate.lon, candidate.lat = round(candidate.lon, 7), round(candidate.lat, 7)
        candidate.uncertainty_m = round(candidate.uncertainty_m)
    return {
        "query": query,
        "parsed": {
            "number": parsed.number,
            "street": parsed.street or None,
            "places": parsed.admin_words,
        },
        "candidates": [asdict(c) for c in candidates[:limit]],
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
        """The best candidate if it is within the uncertainty limit, else why not."""
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
        return PlacedHome((best["lon"], best["lat"]), best["precision"], best["label"])
