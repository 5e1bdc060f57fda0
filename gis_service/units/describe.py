"""Describe the commune-level units of an edition for public reads: full names and types,
census coverage (never a zero for a unit without census figures), the 2019 units a newer unit
took, and a search by new and old names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.text import fold_text
from gis_service.units.coverage import NO_CENSUS_EN, NO_CENSUS_VI, census_coverage
from gis_service.units.crosswalk import WEIGHTS, coverage_class, crosswalk_source
from gis_service.units.editions import (
    DISTRICT,
    EDITION_2019,
    LEVELS_OF,
    UNIT_TYPES_VI,
    short_folded,
)
from gis_service.units.lookup import UnitRef

MIN_TAKEN_SHARE = 0.05
"""A newer unit took a 2019 unit when at least this share of the 2019 unit's area went to it."""
WHOLE_SHARE = 0.95
"""... and took all of it from this share on (else 'part of')."""

EDITION_HELP = "bộ đơn vị hành chính / unit edition: 2019 or 2025 (default: the current one)"


def unit_full_name(name: str, unit_type: str | None) -> str:
    """The name with its type, as a person reads it: ('Sài Gòn', 'phuong') -> 'Phường Sài
    Gòn'; a name that already says its type is left as it is."""
    return UnitRef(0, "", "", name, unit_type).label


def unit_type_vi(unit_type: str | None) -> str | None:
    """The Vietnamese word of a unit type ('phuong' -> 'Phường')."""
    return UNIT_TYPES_VI.get(unit_type or "")


def _crosswalk_id(conn: Connection, edition: str) -> int | None:
    """The crosswalk from the 2019 census units to the edition, if one has been made."""
    if edition == EDITION_2019:
        return None
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM unit_crosswalks WHERE from_edition = %s AND to_edition = %s",
            (EDITION_2019, edition),
        )
        row = cur.fetchone()
    return int(row[0]) if row else None


def census_shares(conn: Connection, edition: str, unit_ids: list[int]) -> dict[int, float]:
    """Each unit's share of area under 2019 census units with figures: the crosswalk's
    coverage when one is made to the edition, else measured on the polygons."""
    if not unit_ids:
        return {}
    if edition == EDITION_2019 or _crosswalk_id(conn, edition) is not None:
        shares = census_coverage(conn, edition)
        return {i: shares[i] for i in unit_ids if i in shares}
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT n.id,
                   LEAST(1.0, COALESCE(sum(ST_Area(ST_Intersection(n.geom, o.geom))), 0)
                              / NULLIF(ST_Area(n.geom), 0))
            FROM admin_units n
            LEFT JOIN admin_units o
                ON o.edition = %(census)s AND o.level = 'ward' AND ST_Intersects(n.geom, o.geom)
               AND EXISTS (SELECT 1 FROM admin_population p WHERE p.admin_unit_id = o.id)
            WHERE n.id = ANY(%(ids)s) AND n.geom IS NOT NULL
            GROUP BY n.id
            """,
            {"census": EDITION_2019, "ids": unit_ids},
        )
        return {int(i): float(share or 0.0) for i, share in cur.fetchall()}


@dataclass(frozen=True)
class FormerUnit:
    """A 2019 unit and the share of its area a newer unit took."""

    to_unit_id: int
    id: int
    code: str
    name: str
    full_name: str
    district_name: str | None
    share: float

    @property
    def label(self) -> str:
        return f"{self.full_name} ({self.district_name})" if self.district_name else self.full_name

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "full_name": self.full_name,
            "district_name": self.district_name,
            "share": round(self.share, 3),
        }


_FORMER_BY_CROSSWALK = """
SELECT p.to_unit_id, o.id, o.code, o.name, o.unit_type, d.name,
       p.area_m2 / NULLIF((SELECT sum(q.area_m2) FROM unit_crosswalk_pieces q
                           WHERE q.crosswalk_id = p.crosswalk_id
                             AND q.from_unit_id = p.from_unit_id), 0)
FROM unit_crosswalk_pieces p
JOIN admin_units o ON o.id = p.from_unit_id
LEFT JOIN admin_units d ON d.id = o.parent_id AND d.level = 'district'
WHERE p.crosswalk_id = %(crosswalk)s AND {side} = ANY(%(ids)s)
"""
_FORMER_BY_OVERLAP = """
SELECT n.id, o.id, o.code, o.name, o.unit_type, d.name,
       ST_Area(ST_Intersection(n.geom, o.geom)) / NULLIF(ST_Area(o.geom), 0)
FROM admin_units n
JOIN admin_units o
    ON o.edition = %(census)s AND o.level = 'ward' AND ST_Intersects(n.geom, o.geom)
LEFT JOIN admin_units d ON d.id = o.parent_id AND d.level = 'district'
WHERE n.edition = %(edition)s AND n.level = 'ward' AND {side} = ANY(%(ids)s)
"""
# Which side the ids name: the newer units, or the 2019 units.
_SIDES = {
    ("crosswalk", "to"): "p.to_unit_id",
    ("crosswalk", "from"): "p.from_unit_id",
    ("overlap", "to"): "n.id",
    ("overlap", "from"): "o.id",
}


def former_units(
    conn: Connection, edition: str, ids: list[int], *, side: str = "to"
) -> list[FormerUnit]:
    """The 2019 units the edition's units took (at least MIN_TAKEN_SHARE of each), largest
    share first: of the units `ids` (side 'to'), or of the 2019 units `ids` (side 'from').
    From the crosswalk's pieces when one is made to the edition, else from the polygons."""
    if edition == EDITION_2019 or not ids:
        return []
    crosswalk = _crosswalk_id(conn, edition)
    method = "crosswalk" if crosswalk is not None else "overlap"
    template = _FORMER_BY_CROSSWALK if crosswalk is not None else _FORMER_BY_OVERLAP
    sql = template.format(side=_SIDES[method, side])
    with conn.cursor() as cur:
        cur.execute(
            sql, {"crosswalk": crosswalk, "census": EDITION_2019, "edition": edition, "ids": ids}
        )
        rows = cur.fetchall()
    found = [
        FormerUnit(
            int(to_id),
            int(old_id),
            str(code),
            str(name),
            unit_full_name(str(name), kind),
            district,
            float(share or 0.0),
        )
        for to_id, old_id, code, name, kind, district, share in rows
    ]
    taken = [f for f in found if f.share >= MIN_TAKEN_SHARE]
    return sorted(taken, key=lambda f: (-f.share, f.code, f.to_unit_id))


def former_notes(former: list[FormerUnit]) -> tuple[str | None, str | None]:
    """'trước đây: Phường Bến Nghé (Quận 1), một phần Phường Đa Kao (Quận 1)' and its English."""
    if not former:
        return None, None
    vi = ", ".join(f.label if f.share >= WHOLE_SHARE else f"một phần {f.label}" for f in former)
    en = ", ".join(f.label if f.share >= WHOLE_SHARE else f"part of {f.label}" for f in former)
    return f"trước đây: {vi}", f"formerly: {en}"


NOT_CARRIED_VI = "chưa có số liệu dân số: số liệu điều tra 2019 chưa được chuyển sang đơn vị này"
NOT_CARRIED_EN = "no population figures yet: the 2019 census figures have not been carried here"


def without_census(share: float | None) -> bool:
    """Whether a unit with this share of its area under census units has no census figures
    (what it holds comes from slivers where two maps draw a border differently)."""
    return share is not None and coverage_class(share) == "none"


def census_notes(share: float | None) -> tuple[str | None, str | None]:
    """What a person should read about a unit's census figures, or nothing when whole."""
    if share is None:
        return (
            "chưa đo được phần diện tích có số liệu điều tra dân số 2019",
            "how much of the unit the 2019 census covers is not known",
        )
    if coverage_class(share) == "none":
        return NO_CENSUS_VI, NO_CENSUS_EN
    if coverage_class(share) == "partial":
        percent = round(share * 100)
        return (
            f"số liệu điều tra dân số 2019 chỉ phủ {percent}% diện tích",
            f"2019 census figures cover only {percent}% of the area",
        )
    return None, None


@dataclass(frozen=True)
class Match:
    """Why a unit answers a search: its own name or code, or a 2019 unit it took."""

    rank: int
    by: str


def search_units(conn: Connection, edition: str, q: str) -> dict[int, Match]:
    """The edition's units a written name or code means, best first: the exact name or code,
    names starting with it, names with a word starting with it, then (for a newer edition) the
    units that took a 2019 unit of that name. 'Bến Nghé, Quận 1' narrows 2019 units to the
    district."""
    head, _, rest = q.strip().partition(",")
    name = short_folded(head)
    if not name:
        return {}
    district = short_folded(rest.split(",")[0]) if rest.strip() else None
    code = fold_text(head).replace(" ", "")
    sql = """
        SELECT w.id, CASE WHEN w.short_folded = %(name)s OR w.code = %(code)s THEN 0
                          WHEN w.short_folded LIKE %(prefix)s THEN 1 ELSE 2 END AS rank
        FROM admin_units w
        LEFT JOIN admin_units d ON d.id = w.parent_id AND d.level = 'district'
        WHERE w.edition = %(edition)s AND w.level = 'ward'
          AND (w.code = %(code)s OR w.code = lpad(%(code)s, 5, '0')
               OR ' ' || w.short_folded LIKE %(word_start)s)
          AND (%(district)s::text IS NULL OR d.id IS NULL OR d.short_folded = %(district)s)
        ORDER BY rank, w.code
    """
    values = {
        "name": name,
        "code": code,
        "prefix": name + "%",
        "word_start": "% " + name + "%",
        "district": district,
    }
    found: dict[int, Match] = {}
    with conn.cursor() as cur:
        cur.execute(sql, {**values, "edition": edition})
        for unit_id, rank in cur.fetchall():
            found[int(unit_id)] = Match(int(rank), "name")
        if edition == EDITION_2019:
            return found
        cur.execute(sql, {**values, "edition": EDITION_2019})
        old = [int(unit_id) for unit_id, _ in cur.fetchall()]
    for taken in former_units(conn, edition, old, side="from"):
        found.setdefault(taken.to_unit_id, Match(3, "former_name"))
    return found


_WARDS_SQL = """
WITH chosen AS (
    SELECT w.*, d.code AS district_code, d.name AS district_name,
           p.code AS province_code, p.name AS province_name
    FROM admin_units w
    LEFT JOIN admin_units d ON d.id = w.parent_id AND d.level = 'district'
    LEFT JOIN admin_units p ON p.id = COALESCE(d.parent_id, w.parent_id) AND p.level = 'province'
    WHERE {where}
),
page AS (
    SELECT * FROM chosen
    ORDER BY array_position(%(order)s::int[], id), code
    LIMIT %(limit)s
),
pops AS (
    -- The unit's figures: its own, or (a unit of a newer edition) those a crosswalk carried.
    SELECT admin_unit_id,
           json_object_agg(year::text, population ORDER BY year) AS by_year,
           (array_agg(population ORDER BY year DESC))[1] AS latest,
           max(year) AS latest_year,
           CASE WHEN bool_or(source = ANY(%(carried)s)) THEN 'crosswalk' ELSE 'census' END
               AS source
    FROM admin_population WHERE admin_unit_id IN (SELECT id FROM page)
    GROUP BY admin_unit_id
),
reported AS (
    SELECT admin_unit_id, json_object_agg(birth_year::text, children ORDER BY birth_year) AS by_year
    FROM unit_reported_children WHERE admin_unit_id IN (SELECT id FROM page)
    GROUP BY admin_unit_id
)
SELECT (SELECT count(*) FROM chosen),
       COALESCE(json_agg(f ORDER BY array_position(%(order)s::int[], id), code), '[]'::json)
FROM (
    SELECT c.id, c.code, json_build_object(
        'type', 'Feature', 'id', c.id,
        'geometry', CASE WHEN %(geometry)s THEN ST_AsGeoJSON(
            CASE WHEN %(tolerance)s > 0 THEN ST_SimplifyPreserveTopology(c.geom, %(tolerance)s)
                 ELSE c.geom END, 7)::json END,
        'properties', json_build_object(
            'id', c.id, 'code', c.code, 'name', c.name, 'edition', c.edition,
            'unit_type', c.unit_type,
            'district_code', c.district_code, 'district_name', c.district_name,
            'province_code', c.province_code, 'province_name', c.province_name,
            'population', COALESCE(p.by_year, '{{}}'::json),
            'population_latest', p.latest, 'population_year', p.latest_year,
            'population_source', p.source,
            'reported_children', r.by_year,
            'area_km2', round((ST_Area(c.geom::geography) / 1e6)::numeric, 3),
            'bbox', CASE WHEN c.geom IS NOT NULL THEN json_build_array(
                round(ST_XMin(c.geom)::numeric, 6), round(ST_YMin(c.geom)::numeric, 6),
                round(ST_XMax(c.geom)::numeric, 6), round(ST_YMax(c.geom)::numeric, 6)) END
        )
    ) AS f
    FROM page c
    LEFT JOIN pops p ON p.admin_unit_id = c.id
    LEFT JOIN reported r ON r.admin_unit_id = c.id
) rows
"""


def describe_units(
    conn: Connection,
    edition: str,
    features: list[dict[str, Any]],
    matches: dict[int, Match] | None = None,
) -> None:
    """Add to each unit feature its full name, type word, census coverage (and, for a unit
    without census figures, no population rather than a zero), and the 2019 units it took."""
    ids = [int(f["id"]) for f in features]
    shares = census_shares(conn, edition, ids)
    former: dict[int, list[FormerUnit]] = {}
    for unit in former_units(conn, edition, ids):
        former.setdefault(unit.to_unit_id, []).append(unit)
    for feature in features:
        p = feature["properties"]
        unit_id = int(feature["id"])
        p["unit_type_vi"] = unit_type_vi(p["unit_type"])
        p["full_name"] = unit_full_name(p["name"], p["unit_type"])
        share = shares.get(unit_id)
        p["census_coverage"] = None if share is None else round(share, 3)
        p["no_census"] = without_census(share)
        p["census_note_vi"], p["census_note_en"] = census_notes(share)
        if p["no_census"]:
            p["population"] = None
            p["population_latest"] = p["population_year"] = p["population_source"] = None
        elif p["population_latest"] is None and p["census_note_vi"] is None:
            p["census_note_vi"], p["census_note_en"] = NOT_CARRIED_VI, NOT_CARRIED_EN
        took = former.get(unit_id, [])
        p["former"] = [f.as_dict() for f in took]
        p["former_note_vi"], p["former_note_en"] = former_notes(took)
        match = (matches or {}).get(unit_id)
        p["matched_by"] = match.by if match else None


def list_units(
    conn: Connection,
    chosen_edition: str,
    *,
    district: str | None = None,
    box: tuple[float, float, float, float] | None = None,
    q: str | None = None,
    geometry: bool = True,
    tolerance: float = 0.0,
    limit: int = 5000,
) -> dict[str, Any]:
    """The commune-level units of an edition as a GeoJSON FeatureCollection: filtered by a 2019
    district, a bounding box or a search by new or old names, each described (names, type,
    census coverage, the 2019 units it took)."""
    clauses = ["w.edition = %(edition)s", "w.level = 'ward'"]
    values: dict[str, Any] = {
        "edition": chosen_edition,
        "carried": [crosswalk_source(EDITION_2019, chosen_edition, w) for w in WEIGHTS],
        "geometry": geometry,
        "tolerance": tolerance,
        "limit": limit,
        "order": [],
    }
    if district:
        if DISTRICT not in LEVELS_OF[chosen_edition]:
            raise InvalidRequestError(
                f"Bộ đơn vị {chosen_edition} không có cấp huyện; lọc theo quận/huyện cần "
                f"edition=2019 / the {chosen_edition} edition has no districts; filter by "
                "district with edition=2019"
            )
        clauses.append("d.code = %(district)s")
        values["district"] = district
    if box:
        clauses.append("w.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)")
        values.update(zip(("x0", "y0", "x1", "y1"), box, strict=True))
    matches = None
    if q is not None and q.strip():
        found = search_units(conn, chosen_edition, q)
        clauses.append("w.id = ANY(%(order)s)")
        values["order"] = sorted(found, key=lambda i: found[i].rank)
        matches = found
    with conn.cursor() as cur:
        cur.execute(_WARDS_SQL.format(where=" AND ".join(clauses)), values)
        total, features = cur.fetchone()  # type: ignore[misc]
    describe_units(conn, chosen_edition, features, matches)
    return {
        "type": "FeatureCollection",
        "edition": chosen_edition,
        "numberMatched": total,
        "numberReturned": len(features),
        "features": features,
    }
