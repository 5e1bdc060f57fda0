"""Carry population figures from one edition's units to another's through their overlap pieces.

The commune-level units of the two editions are overlaid in UTM 48N (EPSG:32648). Each overlap
piece carries a share of its source unit's figures: its share of the source unit's road length
(dasymetric weighting: people live along streets and alleys, not in rice fields, rivers or
mangroves) when the source unit has at least `MIN_ROAD_M` of such road, else its share of the
source unit's area. Every piece is stored with its area, road length, weight and basis, so each
carried figure can be traced back; carried figures are integers whose pieces add up exactly to
each source figure (largest remainder), less the part of a source unit no target unit covers.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import Json, execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import InvalidRequestError
from gis_service.importers.report import ProgressCallback, print_progress
from gis_service.units.coverage import census_coverage
from gis_service.units.editions import check_edition

WEIGHTS = ("roads", "area")
"""What a piece's weight rests on: its share of the source unit's road length, or of its area."""

ROAD_CLASSES = (
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
)
"""OSM highway classes homes line, in Vietnamese towns: alleys (hẻm, mapped as service or
residential), residential and local streets, and the primary and secondary streets lined with
shop-houses. Left out: motorways and trunk roads (and every *_link ramp), which run through
empty land and over bridges; footways, paths, steps, cycleways and tracks, mapped unevenly and
mostly away from homes. Splitting each 2019 district of Ho Chi Minh City over its wards by
these roads misses the census count of a ward by 26% (median) against 37% by area
(benchmarks/crosswalk_accuracy.py)."""

MIN_ROAD_M = 2_000.0
"""A source unit with less road than this (metres, of ROAD_CLASSES) is weighted by area: the
2018 OSM extract of HCMC has no road at all in parts of Củ Chi and Cần Giờ, and a few hundred
metres of mapped road would put a whole commune's population on them."""

NONE_BELOW = 0.05
"""A target unit covered less than this by source units with figures has no census figures:
what it does receive comes from slivers where two maps draw a shared border differently."""
FULL_FROM = 0.95
"""A target unit covered at least this much is fully covered (the rest: map differences)."""

UTM_48N = 32648
_FLOAT_SLACK = 1e-9


def crosswalk_source(from_edition: str, to_edition: str, weights: str) -> str:
    """The `source` of the figures a crosswalk writes: 'crosswalk 2019→2025 (roads)'."""
    return f"crosswalk {from_edition}→{to_edition} ({weights})"


def coverage_class(share: float) -> str:
    """'none', 'partial' or 'full' for a covered share of a unit's area."""
    if share < NONE_BELOW:
        return "none"
    return "full" if share >= FULL_FROM else "partial"


def largest_remainder(value: int, weights: Sequence[float]) -> list[int]:
    """Split a non-negative integer by weights summing to at most 1 into integers: the pieces'
    shares, each the floor of its quota plus one unit for the largest remainders (ties to the
    first), so that they and the uncarried rest (1 - sum of weights) add up to `value`."""
    total_weight = math.fsum(weights)
    if total_weight > 1.0 - _FLOAT_SLACK and total_weight > 0:
        # Overlapping pieces, or a sum short of 1 by rounding only: the pieces carry it all.
        weights = [w / total_weight for w in weights]
        total_weight = 1.0
    rest = 1.0 - total_weight
    quotas = [value * w for w in weights]
    if rest > _FLOAT_SLACK:
        quotas.append(value * rest)
    shares = [math.floor(q) for q in quotas]
    left = value - sum(shares)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    return shares[: len(weights)]


@dataclass(frozen=True)
class Piece:
    """Where a source unit and a target unit overlap, and the share of the source it carries."""

    from_unit_id: int
    to_unit_id: int
    area_m2: float
    road_m: float | None
    weight: float
    basis: str


@dataclass(frozen=True)
class Carried:
    """One year's figures of one kind: their total in the source edition and what was carried."""

    kind: str
    """'population' (yearly totals) or 'age groups'."""
    year: int
    total: int
    carried: int
    units: int
    """Target units that received a figure above 0."""

    @property
    def share(self) -> float:
        return self.carried / self.total if self.total else 0.0


@dataclass
class CrosswalkReport:
    """What one crosswalk did; `lines()` is what the command line prints."""

    crosswalk_id: int
    from_edition: str
    to_edition: str
    weights: str
    source_units: int
    target_units: int
    pieces_by_basis: dict[str, int]
    carried: list[Carried]
    units_with_population: int
    """Target units that received any population figure above 0."""
    coverage: dict[str, int]
    """Target units by coverage class: none, partial, full."""
    road_km: float | None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def pieces(self) -> int:
        return sum(self.pieces_by_basis.values())

    def lines(self) -> list[str]:
        out = [
            f"crosswalk {self.from_edition}→{self.to_edition} ({self.weights}) "
            f"in {self.seconds:.1f} s",
            f"  units: {self.source_units:,} of {self.from_edition} → "
            f"{self.target_units:,} of {self.to_edition}",
            f"  pieces: {self.pieces:,} ("
            + ", ".join(f"{basis} {n:,}" for basis, n in sorted(self.pieces_by_basis.items()))
            + ")",
        ]
        if self.road_km is not None:
            out.append(f"  road length used: {self.road_km:,.0f} km ({', '.join(ROAD_CLASSES)})")
        for c in self.carried:
            out.append(
                f"  {c.kind} {c.year}: carried {c.carried:,} of {c.total:,} "
                f"({100 * c.share:.2f}%) onto {c.units:,} units"
            )
        out.append(
            f"  units that received population: {self.units_with_population:,} "
            f"of {self.target_units:,}"
        )
        out.append(
            "  coverage by census units with figures: "
            f"none {self.coverage.get('none', 0):,} (< {NONE_BELOW:.0%}), "
            f"partial {self.coverage.get('partial', 0):,}, "
            f"full {self.coverage.get('full', 0):,} (≥ {FULL_FROM:.0%})"
        )
        out += [f"  note: {note}" for note in self.notes]
        return out


_UNITS = f"""
DROP TABLE IF EXISTS pg_temp.{{table}};
CREATE TEMP TABLE {{table}} ON COMMIT DROP AS
    SELECT id, CASE WHEN ST_IsValid(g) THEN g ELSE ST_CollectionExtract(ST_MakeValid(g), 3) END AS g
    FROM (SELECT id, ST_Transform(geom, {UTM_48N}) AS g FROM admin_units
          WHERE edition = %(edition)s AND level = 'ward' AND geom IS NOT NULL) u;
CREATE INDEX ON {{table}} USING gist (g);
ANALYZE {{table}};
"""

_PIECES = """
DROP TABLE IF EXISTS pg_temp.xw_pieces;
CREATE TEMP TABLE xw_pieces ON COMMIT DROP AS
    SELECT f.id AS from_id, t.id AS to_id,
           CASE WHEN ST_CoveredBy(f.g, t.g) THEN f.g
                WHEN ST_CoveredBy(t.g, f.g) THEN t.g
                ELSE ST_CollectionExtract(ST_Intersection(f.g, t.g), 3) END AS g
    FROM xw_from f JOIN xw_to t ON ST_Intersects(f.g, t.g);
DELETE FROM xw_pieces WHERE ST_Area(g) = 0;
"""


def _one(cur: Any) -> Any:
    """The first column of the query's one row."""
    row = cur.fetchone()
    return None if row is None else row[0]


def _load_units(cur: Any, table: str, edition: str) -> None:
    """A temporary table (xw_from or xw_to) of an edition's commune-level units in UTM 48N."""
    assert table in {"xw_from", "xw_to"}
    cur.execute(_UNITS.format(table=table), {"edition": edition})


# Roads are clipped to units cut into small parts (ST_Subdivide), which keeps each
# intersection cheap; a road lying exactly on a cut would count twice, which measures nil.
_ROADS = f"""
DROP TABLE IF EXISTS pg_temp.xw_roads, pg_temp.xw_from_parts, pg_temp.xw_from_roads;
-- Every OSM way once, as the newest imported extract has it.
CREATE TEMP TABLE xw_roads ON COMMIT DROP AS
    SELECT DISTINCT ON (r.osm_id) ST_Transform(r.geom, {UTM_48N}) AS g
    FROM road_ways r JOIN osm_extracts e ON e.id = r.extract_id
    WHERE r.highway = ANY(%(classes)s)
    ORDER BY r.osm_id, e.extract_date DESC NULLS LAST, e.imported_at DESC, e.id DESC;
CREATE INDEX ON xw_roads USING gist (g);
ANALYZE xw_roads;
CREATE TEMP TABLE xw_from_parts ON COMMIT DROP AS
    SELECT id, ST_Subdivide(g, 64) AS g FROM xw_from;
CREATE INDEX ON xw_from_parts USING gist (g);
ANALYZE xw_from_parts;
CREATE TEMP TABLE xw_from_roads ON COMMIT DROP AS
    SELECT f.id AS from_id,
           CASE WHEN ST_CoveredBy(r.g, f.g) THEN r.g
                ELSE ST_CollectionExtract(ST_Intersection(r.g, f.g), 2) END AS g
    FROM xw_from_parts f JOIN xw_roads r ON ST_Intersects(r.g, f.g);
DELETE FROM xw_from_roads WHERE ST_IsEmpty(g);
CREATE INDEX ON xw_from_roads USING gist (g);
ANALYZE xw_from_roads;
"""

_PIECE_ROADS = """
DROP TABLE IF EXISTS pg_temp.xw_to_parts;
CREATE TEMP TABLE xw_to_parts ON COMMIT DROP AS SELECT id, ST_Subdivide(g, 64) AS g FROM xw_to;
CREATE INDEX ON xw_to_parts USING gist (g);
ANALYZE xw_to_parts;
SELECT fr.from_id, t.id, sum(ST_Length(CASE WHEN ST_CoveredBy(fr.g, t.g) THEN fr.g
                                          ELSE ST_Intersection(fr.g, t.g) END))
FROM xw_from_roads fr JOIN xw_to_parts t ON ST_Intersects(fr.g, t.g)
GROUP BY 1, 2
"""

_DROP = (
    "DROP TABLE IF EXISTS pg_temp.xw_from, pg_temp.xw_to, pg_temp.xw_pieces, "
    "pg_temp.xw_roads, pg_temp.xw_from_parts, pg_temp.xw_from_roads, pg_temp.xw_to_parts"
)


@dataclass
class _Figures:
    """The source edition's population figures."""

    ward_totals: list[tuple[int, int, int]]
    """(ward, year, population)"""
    ward_ages: list[tuple[int, int, int, int | None, int]]
    """(ward, year, age_min, age_max, population)"""
    district_totals: list[tuple[int, int, int]]
    district_ages: list[tuple[int, int, int, int | None, int]]
    district_of: dict[int, int]
    """Ward -> its district."""
    province_figures: int = 0
    """Figures held by provinces, which are not carried."""


def _read_figures(cur: Any, edition: str) -> _Figures:
    def rows(query: str, level: str) -> list[Any]:
        cur.execute(query, (edition, level))
        return [tuple(r) for r in cur.fetchall()]

    totals = (
        "SELECT p.admin_unit_id, p.year, p.population FROM admin_population p "
        "JOIN admin_units u ON u.id = p.admin_unit_id WHERE u.edition = %s AND u.level = %s "
        "ORDER BY 1, 2"
    )
    ages = (
        "SELECT b.admin_unit_id, b.year, b.age_min, b.age_max, b.population "
        "FROM admin_population_by_age b JOIN admin_units u ON u.id = b.admin_unit_id "
        "WHERE u.edition = %s AND u.level = %s ORDER BY 1, 2, 3"
    )
    cur.execute(
        "SELECT w.id, d.id FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
        "WHERE w.edition = %s AND w.level = 'ward' AND d.level = 'district'",
        (edition,),
    )
    district_of = {int(w): int(d) for w, d in cur.fetchall()}
    return _Figures(
        rows(totals, "ward"),
        rows(ages, "ward"),
        rows(totals, "district"),
        rows(ages, "district"),
        district_of,
        len(rows(totals, "province")) + len(rows(ages, "province")),
    )


def _weigh(
    raw: list[tuple[int, int, float, float | None]],
    source_area: dict[int, float],
    source_road: dict[int, float] | None,
) -> tuple[list[Piece], int]:
    """Each piece's weight and basis; also how many source units' pieces overlapped (their
    weights summed above 1 and were scaled down)."""
    by_source: dict[int, list[tuple[int, int, float, float | None]]] = defaultdict(list)
    for row in raw:
        by_source[row[0]].append(row)
    pieces: list[Piece] = []
    overlapped = 0
    for source_id, rows in by_source.items():
        road_total = source_road.get(source_id, 0.0) if source_road is not None else 0.0
        by_roads = source_road is not None and road_total >= MIN_ROAD_M
        if by_roads:
            weights = [(r[3] or 0.0) / road_total for r in rows]
        else:
            area = source_area.get(source_id, 0.0)
            weights = [r[2] / area if area > 0 else 0.0 for r in rows]
        total = math.fsum(weights)
        if total > 1.0:
            overlapped += total > 1.0 + 1e-6
            weights = [w / total for w in weights]
        pieces += [
            Piece(r[0], r[1], r[2], r[3], min(1.0, w), "roads" if by_roads else "area")
            for r, w in zip(rows, weights, strict=True)
        ]
    return pieces, overlapped


def _nearest(years: Iterable[int], year: int) -> int | None:
    """The year closest to `year` (the later one on a tie)."""
    return min(years, key=lambda y: (abs(y - year), -y), default=None)


class _Carrier:
    """Splits source figures over pieces and adds them up per target unit."""

    def __init__(self, pieces: list[Piece], figures: _Figures, areas: dict[int, float]) -> None:
        self.pieces_of: dict[int, list[Piece]] = defaultdict(list)
        for piece in pieces:
            self.pieces_of[piece.from_unit_id].append(piece)
        self.wards_of: dict[int, list[int]] = defaultdict(list)
        for ward, district in sorted(figures.district_of.items()):
            self.wards_of[district].append(ward)
        self.areas = areas
        self.ward_population: dict[int, dict[int, int]] = defaultdict(dict)
        for ward, year, value in figures.ward_totals:
            self.ward_population[year][ward] = value
        self._shares: dict[tuple[int, int], dict[int, float]] = {}
        self.totals: dict[tuple[int, int], int] = defaultdict(int)
        self.ages: dict[tuple[int, int, int], int] = defaultdict(int)
        self.age_max: dict[tuple[int, int], int | None] = {}
        self.sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        self.notes: list[str] = []

    def ward_shares(self, district: int, year: int) -> dict[int, float]:
        """How a district's figure of a year goes down to its wards: in proportion to their
        population of the nearest year with ward figures, else to their area."""
        key = (district, year)
        if key not in self._shares:
            wards = self.wards_of.get(district, [])
            years = [
                y for y, by_ward in self.ward_population.items() if any(w in by_ward for w in wards)
            ]
            nearest = _nearest(years, year)
            weights = (
                {w: float(self.ward_population[nearest].get(w, 0)) for w in wards}
                if nearest is not None
                else {}
            )
            if math.fsum(weights.values()) <= 0:
                weights = {w: self.areas.get(w, 0.0) for w in wards}
            total = math.fsum(weights.values())
            self._shares[key] = (
                {w: v / total for w, v in weights.items() if v > 0} if total > 0 else {}
            )
        return self._shares[key]

    def _split(self, value: int, weighted: list[tuple[Piece, float]]) -> list[tuple[int, int]]:
        shares = largest_remainder(value, [w for _, w in weighted])
        return [(p.to_unit_id, n) for (p, _), n in zip(weighted, shares, strict=True) if n]

    def carry_total(self, weighted: list[tuple[Piece, float]], year: int, value: int) -> None:
        sums = self.sums[("population", year)]
        sums[0] += value
        for unit, n in self._split(value, weighted):
            self.totals[(unit, year)] += n
            sums[1] += n

    def carry_age(
        self,
        weighted: list[tuple[Piece, float]],
        year: int,
        age_min: int,
        age_max: int | None,
        value: int,
    ) -> None:
        sums = self.sums[("age groups", year)]
        sums[0] += value
        self.age_max[(year, age_min)] = age_max
        for unit, n in self._split(value, weighted):
            self.ages[(unit, year, age_min)] += n
            sums[1] += n

    def of_ward(self, ward: int) -> list[tuple[Piece, float]]:
        return [(p, p.weight) for p in self.pieces_of.get(ward, [])]

    def of_district(self, district: int, year: int) -> list[tuple[Piece, float]]:
        return [
            (p, share * p.weight)
            for ward, share in sorted(self.ward_shares(district, year).items())
            for p in self.pieces_of.get(ward, [])
        ]

    def carry(self, figures: _Figures) -> None:
        """Ward figures through their pieces; a district's figure of a year down to its wards
        and on, unless its wards hold their own figures of that year (which then stand)."""
        wards_with_total = {(figures.district_of.get(w), y) for w, y, _ in figures.ward_totals}
        wards_with_age = {(figures.district_of.get(w), y) for w, y, *_ in figures.ward_ages}
        for ward, year, value in figures.ward_totals:
            self.carry_total(self.of_ward(ward), year, value)
        superseded = 0
        for district, year, value in figures.district_totals:
            if (district, year) in wards_with_total:
                superseded += 1
                continue
            self.carry_total(self.of_district(district, year), year, value)
        for ward, year, age_min, age_max, value in figures.ward_ages:
            self.carry_age(self.of_ward(ward), year, age_min, age_max, value)
        superseded_ages = 0
        for district, year, age_min, age_max, value in figures.district_ages:
            if (district, year) in wards_with_age:
                superseded_ages += 1
                continue
            self.carry_age(self.of_district(district, year), year, age_min, age_max, value)
        if superseded:
            self.notes.append(
                f"{superseded} district population figure(s) of a year their wards have "
                "figures for were not carried again (the ward figures were)"
            )
        if superseded_ages:
            self.notes.append(
                f"{superseded_ages} district age-group figure(s) of a year their wards have "
                "age groups for were not carried again (the ward ones were)"
            )

    def carried(self) -> list[Carried]:
        reached: dict[tuple[str, int], set[int]] = defaultdict(set)
        for (unit, year), n in self.totals.items():
            if n:
                reached[("population", year)].add(unit)
        for (unit, year, _), n in self.ages.items():
            if n:
                reached[("age groups", year)].add(unit)
        return [
            Carried(kind, year, total, carried, len(reached[(kind, year)]))
            for (kind, year), (total, carried) in sorted(
                self.sums.items(), key=lambda kv: (kv[0][0] != "population", kv[0][1])
            )
        ]


def _check(conn: Connection, from_edition: str, to_edition: str, weights: str) -> None:
    if weights not in WEIGHTS:
        raise InvalidRequestError(
            f"Trọng số {weights!r} không có; dùng roads hoặc area / no weighting {weights!r}; "
            "use roads (share of road length, area where a unit has too little) or area"
        )
    if from_edition == to_edition:
        raise InvalidRequestError(
            f"Hai bộ đơn vị phải khác nhau / the two editions must differ (both {from_edition})"
        )
    with conn.cursor() as cur:
        for edition in (from_edition, to_edition):
            cur.execute(
                "SELECT count(*) FROM admin_units WHERE edition = %s AND level = 'ward' "
                "AND geom IS NOT NULL",
                (edition,),
            )
            if not _one(cur):
                raise InvalidRequestError(
                    f"Chưa nạp đơn vị cấp xã nào của bộ {edition}; hãy chạy schoolmap import "
                    f"wards … --edition {edition} / no commune-level units of the {edition} "
                    f"edition are loaded; run schoolmap import wards … --edition {edition} first"
                )


def _forget(cur: Any, from_edition: str, to_edition: str) -> None:
    """Remove an earlier crosswalk of the pair and the figures it carried."""
    sources = [crosswalk_source(from_edition, to_edition, w) for w in WEIGHTS]
    for table in ("admin_population", "admin_population_by_age"):
        cur.execute(
            f"DELETE FROM {table} WHERE source = ANY(%s) AND admin_unit_id IN "
            "(SELECT id FROM admin_units WHERE edition = %s)",
            (sources, to_edition),
        )
    cur.execute(
        "DELETE FROM unit_crosswalks WHERE from_edition = %s AND to_edition = %s",
        (from_edition, to_edition),
    )


def unit_road_lengths(conn: Connection, edition: str) -> dict[int, float]:
    """Metres of road (ROAD_CLASSES, every OSM way once) inside each commune-level unit of an
    edition, by unit id; units with no road are absent."""
    with conn.cursor() as cur:
        _load_units(cur, "xw_from", edition)
        cur.execute(_ROADS, {"classes": list(ROAD_CLASSES)})
        cur.execute("SELECT from_id, sum(ST_Length(g)) FROM xw_from_roads GROUP BY 1")
        lengths = {int(u): float(m) for u, m in cur.fetchall()}
        cur.execute(_DROP)
    return lengths


def run_crosswalk(
    conn: Connection,
    from_edition: str,
    to_edition: str,
    weights: str = "roads",
    progress: ProgressCallback = print_progress,
) -> CrosswalkReport:
    """Overlay the commune-level units of two editions, weigh the pieces, carry every
    population figure (yearly totals, age groups; a district's through its wards) onto the
    target units and store the pieces and each target unit's coverage, replacing an earlier
    crosswalk of the pair and the figures it carried; all or nothing."""
    started = time.perf_counter()
    from_edition, to_edition = check_edition(from_edition), check_edition(to_edition)
    _check(conn, from_edition, to_edition, weights)
    source = crosswalk_source(from_edition, to_edition, weights)
    with savepoint(conn), conn.cursor() as cur:
        _forget(cur, from_edition, to_edition)
        cur.execute(
            "SELECT count(*) FROM admin_units WHERE edition = %s AND level = 'ward'",
            (from_edition,),
        )
        source_units = int(_one(cur))
        cur.execute(
            "SELECT count(*) FROM admin_units WHERE edition = %s AND level = 'ward'", (to_edition,)
        )
        target_units = int(_one(cur))
        progress(
            f"overlaying {source_units:,} units of {from_edition} with {target_units:,} "
            f"of {to_edition}"
        )
        _load_units(cur, "xw_from", from_edition)
        _load_units(cur, "xw_to", to_edition)
        cur.execute(_PIECES)
        cur.execute("SELECT id, ST_Area(g) FROM xw_from")
        source_area = {int(u): float(a) for u, a in cur.fetchall()}
        cur.execute("SELECT from_id, to_id, ST_Area(g) FROM xw_pieces ORDER BY 1, 2")
        piece_area = {(int(f), int(t)): float(a) for f, t, a in cur.fetchall()}
        source_road: dict[int, float] | None = None
        piece_road: dict[tuple[int, int], float] = {}
        road_km = None
        if weights == "roads":
            progress(f"measuring roads ({', '.join(ROAD_CLASSES)}) in every piece")
            cur.execute(_ROADS, {"classes": list(ROAD_CLASSES)})
            cur.execute("SELECT from_id, sum(ST_Length(g)) FROM xw_from_roads GROUP BY 1")
            source_road = {int(u): float(m) for u, m in cur.fetchall()}
            cur.execute(_PIECE_ROADS)
            piece_road = {(int(f), int(t)): float(m) for f, t, m in cur.fetchall()}
            road_km = math.fsum(source_road.values()) / 1000
        raw = [
            (f, t, area, piece_road.get((f, t), 0.0) if source_road is not None else None)
            for (f, t), area in piece_area.items()
        ]
        pieces, overlapped = _weigh(raw, source_area, source_road)
        cur.execute(
            "INSERT INTO unit_crosswalks (from_edition, to_edition, method, detail) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (
                from_edition,
                to_edition,
                weights,
                Json(
                    {
                        "crs": f"EPSG:{UTM_48N}",
                        "road_classes": list(ROAD_CLASSES) if weights == "roads" else [],
                        "min_road_m": MIN_ROAD_M if weights == "roads" else None,
                        "coverage_none_below": NONE_BELOW,
                        "coverage_full_from": FULL_FROM,
                        "source": source,
                    }
                ),
            ),
        )
        crosswalk_id = int(_one(cur))
        execute_values(
            cur,
            "INSERT INTO unit_crosswalk_pieces (crosswalk_id, from_unit_id, to_unit_id, area_m2, "
            "road_m, weight, basis) VALUES %s",
            [
                (crosswalk_id, p.from_unit_id, p.to_unit_id, p.area_m2, p.road_m, p.weight, p.basis)
                for p in pieces
            ],
            page_size=2000,
        )
        progress("carrying population figures")
        figures = _read_figures(cur, from_edition)
        carrier = _Carrier(pieces, figures, source_area)
        carrier.carry(figures)
        kept = _write_figures(cur, carrier, source)
        coverage = _store_coverage(cur, crosswalk_id, pieces, figures)
        cur.execute(_DROP)
    notes = list(carrier.notes)
    if overlapped:
        notes.append(
            f"{overlapped} source unit(s) had pieces whose weights added up to more than 1 "
            "(target units that overlap, or a road along a shared border counted on both "
            "sides); their weights were scaled to add up to 1"
        )
    if kept:
        notes.append(
            f"{kept} figure(s) not written: the target unit already holds a figure of that "
            "year from another source, which was kept"
        )
    if (
        not figures.ward_totals
        and not figures.district_totals
        and not figures.ward_ages
        and not figures.district_ages
    ):
        notes.append(f"the {from_edition} edition holds no population figures to carry")
    if figures.province_figures:
        notes.append(
            f"{figures.province_figures} province-level figure(s) were not carried (only "
            "ward and district figures are)"
        )
    reached = {unit for (unit, _), n in carrier.totals.items() if n}
    return CrosswalkReport(
        crosswalk_id=crosswalk_id,
        from_edition=from_edition,
        to_edition=to_edition,
        weights=weights,
        source_units=source_units,
        target_units=target_units,
        pieces_by_basis=dict(Counter(p.basis for p in pieces)),
        carried=carrier.carried(),
        units_with_population=len(reached),
        coverage=dict(Counter(coverage_class(s) for s in coverage.values())),
        road_km=road_km,
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def _write_figures(cur: Any, carrier: _Carrier, source: str) -> int:
    """Write the carried figures; return how many were not, the unit holding one already."""
    totals = [(u, y, n, source) for (u, y), n in sorted(carrier.totals.items()) if n > 0]
    written = execute_values(
        cur,
        "INSERT INTO admin_population (admin_unit_id, year, population, source) VALUES %s "
        "ON CONFLICT (admin_unit_id, year) DO NOTHING RETURNING 1",
        totals,
        template="(%s, %s::smallint, %s, %s)",
        page_size=2000,
        fetch=True,
    )
    # Every age group of a year for each unit whose groups of that year add up to more than 0.
    groups: dict[int, list[int]] = defaultdict(list)
    for year, age_min in sorted(carrier.age_max):
        groups[year].append(age_min)
    unit_years: dict[tuple[int, int], int] = defaultdict(int)
    for (unit, year, _), n in carrier.ages.items():
        unit_years[(unit, year)] += n
    ages = [
        (
            unit,
            year,
            age_min,
            carrier.age_max[(year, age_min)],
            carrier.ages.get((unit, year, age_min), 0),
            source,
        )
        for (unit, year), n in sorted(unit_years.items())
        if n > 0
        for age_min in groups[year]
    ]
    written_ages = execute_values(
        cur,
        "INSERT INTO admin_population_by_age (admin_unit_id, year, age_min, age_max, population, "
        "source) VALUES %s ON CONFLICT (admin_unit_id, year, age_min) DO NOTHING RETURNING 1",
        ages,
        template="(%s, %s::smallint, %s::smallint, %s::smallint, %s, %s)",
        page_size=2000,
        fetch=True,
    )
    return len(totals) - len(written) + len(ages) - len(written_ages)


def _store_coverage(
    cur: Any, crosswalk_id: int, pieces: list[Piece], figures: _Figures
) -> dict[int, float]:
    """Each target unit's share of area that source units with figures (their own or their
    district's) cover; stored for every target unit of the edition."""
    with_figures = {u for u, *_ in figures.ward_totals} | {u for u, *_ in figures.ward_ages}
    districts = {d for d, *_ in figures.district_totals} | {d for d, *_ in figures.district_ages}
    with_figures |= {w for w, d in figures.district_of.items() if d in districts}
    covered: dict[int, float] = defaultdict(float)
    for p in pieces:
        if p.from_unit_id in with_figures:
            covered[p.to_unit_id] += p.area_m2
    cur.execute("SELECT id, ST_Area(g) FROM xw_to")
    areas = {int(unit): float(area) for unit, area in cur.fetchall()}
    cur.execute(
        "SELECT id FROM admin_units WHERE edition = "
        "(SELECT to_edition FROM unit_crosswalks WHERE id = %s) AND level = 'ward'",
        (crosswalk_id,),
    )
    shares = {}
    for (unit,) in cur.fetchall():
        area = areas.get(int(unit), 0.0)
        shares[int(unit)] = min(1.0, covered.get(int(unit), 0.0) / area) if area > 0 else 0.0
    execute_values(
        cur,
        "INSERT INTO unit_coverage (crosswalk_id, unit_id, covered_share) VALUES %s",
        [(crosswalk_id, unit, share) for unit, share in sorted(shares.items())],
    )
    return shares


@dataclass(frozen=True)
class UnitCoverage:
    """A commune-level unit, how much of it census units with figures cover, and its
    population of a year (carried, for a unit of another edition)."""

    unit_id: int
    code: str
    name: str
    share: float
    population: int | None
    year: int | None

    @property
    def coverage(self) -> str:
        return coverage_class(self.share)


def coverage_table(conn: Connection, edition: str, year: int | None = None) -> list[UnitCoverage]:
    """Every commune-level unit of an edition with its census coverage and its population of
    `year` (default: the latest year any of its units has a figure for), by code."""
    edition = check_edition(edition)
    shares = census_coverage(conn, edition)
    if not shares:
        raise InvalidRequestError(
            f"Chưa có đối chiếu nào sang bộ {edition}; hãy chạy schoolmap units crosswalk "
            f"--to {edition} / no crosswalk to the {edition} edition has been made; run "
            f"schoolmap units crosswalk --to {edition} first"
        )
    with conn.cursor() as cur:
        if year is None:
            cur.execute(
                "SELECT max(p.year) FROM admin_population p JOIN admin_units u "
                "ON u.id = p.admin_unit_id WHERE u.edition = %s AND u.level = 'ward'",
                (edition,),
            )
            found = _one(cur)
            year = None if found is None else int(found)
        cur.execute(
            "SELECT u.id, u.code, u.name, p.population FROM admin_units u "
            "LEFT JOIN admin_population p ON p.admin_unit_id = u.id AND p.year = %s "
            "WHERE u.edition = %s AND u.level = 'ward' ORDER BY u.code, u.id",
            (year, edition),
        )
        return [
            UnitCoverage(
                int(i), str(c), str(n), shares.get(int(i), 0.0), None if p is None else int(p), year
            )
            for i, c, n, p in cur.fetchall()
        ]
