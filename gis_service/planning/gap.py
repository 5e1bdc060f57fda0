"""Capacity gap: forecast children placed in schools by road distance against classes available,
by the units of an edition (the current one by default).

Each unit's forecast children are spread evenly over a few road-network nodes sampled inside
the ward (a fixed seed), costed to every school of the grade's level by road metres from the
cached distance fields, and placed by `placement.place_children`: seats within the distance
norm first, else the nearest school, over the legal class size only when no seat is in reach.
A unit without census figures or a report of its own is listed as such, with no children.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.planning.forecast import (
    FIGURES_CENSUS,
    FIGURES_PARTIAL,
    FIGURES_REPORTED,
    Forecast,
    WardDemand,
    run_forecast,
)
from gis_service.planning.inputs import load_inputs
from gis_service.planning.method import LEGAL_CLASS_SIZE, classes_needed
from gis_service.planning.placement import classes_over_size, place_children
from gis_service.routing.distances import compute_fields
from gis_service.routing.service import MAX_SNAP_M, ModeNetwork, RoutingService
from gis_service.school_levels import LEVEL_OF_GRADE
from gis_service.units.editions import (
    EDITION_2019,
    UNIT_TYPES_VI,
    edition_or_current,
    unit_type_of,
)

# Distance norms used in practice: primary within 4 km, lower secondary within 7 km.
NORM_M = {1: 4000.0, 6: 7000.0}
UNIT_PARTS = (
    " A unit of the {edition} edition first shares its census children among its parts of "
    "the census wards, by each ward's count times the share of the ward the crosswalk gave the "
    "unit, and samples the nodes inside each part; children it reports itself are sampled "
    "over the whole unit."
)
GAP_METHOD = (
    "Each ward's forecast children are spread evenly over up to {per_ward} road nodes sampled "
    "inside the ward (seed {seed}) and placed in the {level} schools by road distance "
    "({mode} network): first in seats (classes x legal class size) within {norm:.0f} m, else at "
    "the nearest school; children go over the legal class size only where no seat is within "
    "reach (OR-Tools min-cost flow: fewest children over the legal size, then least distance)."
)


@dataclass(frozen=True)
class NewSite:
    """A proposed school (or extra classes at a new place) for a scenario."""

    name: str
    lon: float
    lat: float
    classes: int


@dataclass
class GapSettings:
    """What a gap run places, where, and under which limits."""

    grade: int
    school_year: int
    mode: str = "motorbike"
    norm_m: float | None = None
    class_size: int | None = None
    per_ward: int = 5
    seed: int = 2025
    assume_classes: int | None = None
    district_codes: list[str] | None = None
    added_classes: dict[int, int] = field(default_factory=dict)
    new_sites: list[NewSite] = field(default_factory=list)
    edition: str | None = None
    """The edition of units demand is counted by; None: the current one."""
    unit_codes: list[str] | None = None
    """Commune-level units of the edition to count (default: all)."""

    @property
    def norm(self) -> float:
        return self.norm_m if self.norm_m is not None else NORM_M[self.grade]

    @property
    def size(self) -> int:
        return self.class_size or LEGAL_CLASS_SIZE[self.grade]


@dataclass
class DemandPoints:
    """Forecast children of each ward at a few sampled road nodes."""

    ward_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    children: np.ndarray


@dataclass
class Facilities:
    """Schools (and new sites) that can take the grade: ids, names, wards, classes, class size."""

    key: np.ndarray  # school id; new sites are -1, -2, ...
    name: list[str]
    ward_id: np.ndarray  # the unit of the edition holding it; 0 when outside every unit
    lon: np.ndarray
    lat: np.ndarray
    classes: np.ndarray
    assumed: np.ndarray  # classes assumed (no registry figure)
    ward_label: list[str | None] = field(default_factory=list)  # the unit's name with its type


@dataclass
class GapResult:
    """Per school and per ward figures, city metrics and what the run rested on."""

    settings: GapSettings
    statement: dict[str, Any]
    metrics: dict[str, float]
    schools: list[dict[str, Any]]
    wards: list[dict[str, Any]]


def largest_remainder(total: int, parts: int) -> np.ndarray:
    """`total` split into `parts` whole numbers differing by at most one."""
    base, extra = divmod(total, parts)
    return np.array([base + (1 if i < extra else 0) for i in range(parts)], dtype=np.int64)


def split_by_weight(total: int, weights: list[float]) -> np.ndarray:
    """`total` split into whole numbers in proportion to `weights` (largest remainders)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) == 0 or w.sum() <= 0:
        return largest_remainder(total, max(len(w), 1))[: len(w)]
    exact = total * w / w.sum()
    whole = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - whole), kind="stable")
    whole[order[: total - int(whole.sum())]] += 1
    return whole


def census_parts(
    conn: Connection, edition: str, unit_ids: list[int], census_year: int
) -> dict[int, list[tuple[bytes, float]]]:
    """Each unit's parts in the census wards with a count, weighted by the ward's latest count
    up to the census year times the share of it the crosswalk gave the unit (else the share of
    the ward's area the part holds)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.id, ST_AsBinary(ST_CollectionExtract(ST_Intersection(u.geom, w.geom), 3)),
                   p.population * COALESCE(
                       (SELECT pc.weight FROM unit_crosswalk_pieces pc
                        JOIN unit_crosswalks x ON x.id = pc.crosswalk_id
                            AND x.from_edition = %(census_edition)s AND x.to_edition = %(edition)s
                        WHERE pc.from_unit_id = w.id AND pc.to_unit_id = u.id),
                       ST_Area(ST_Intersection(u.geom, w.geom)) / NULLIF(ST_Area(w.geom), 0))
            FROM admin_units u
            JOIN admin_units w ON w.edition = %(census_edition)s AND w.level = 'ward'
                AND ST_Intersects(u.geom, w.geom)
            JOIN LATERAL (SELECT population FROM admin_population
                          WHERE admin_unit_id = w.id AND year <= %(year)s
                          ORDER BY year DESC LIMIT 1) p ON true
            WHERE u.id = ANY(%(ids)s)
            ORDER BY u.id, w.id
            """,
            {
                "census_edition": EDITION_2019,
                "edition": edition,
                "year": census_year,
                "ids": unit_ids,
            },
        )
        parts: dict[int, list[tuple[bytes, float]]] = {}
        for unit_id, wkb, weight in cur.fetchall():
            if wkb is not None and weight and weight > 0:
                parts.setdefault(int(unit_id), []).append((bytes(wkb), float(weight)))
    return parts


def demand_parts(
    conn: Connection, forecast: Forecast, grade: int, year: int
) -> dict[int, list[tuple[bytes, float]]]:
    """Where a later edition's unit holds its census children: its parts of the census wards
    (none for the census edition, whose wards are the parts, nor for reported children)."""
    if forecast.edition == EDITION_2019:
        return {}
    from_census = [
        r.ward_id
        for r in forecast.unit_rows(grade, year)
        if r.figures in (FIGURES_CENSUS, FIGURES_PARTIAL)
    ]
    if not from_census:
        return {}
    return census_parts(conn, forecast.edition, from_census, forecast.census_year)


def sample_demand_points(
    conn: Connection,
    net: ModeNetwork,
    children: dict[int, float],
    per_ward: int,
    seed: int,
    parts: dict[int, list[tuple[bytes, float]]] | None = None,
) -> DemandPoints:
    """Up to `per_ward` road nodes inside each ward (else a point inside it), children shared.

    A unit with `parts` (polygons with weights) shares its children among them by weight and
    samples up to `per_ward` nodes inside each part instead.
    """
    ids = sorted(children)
    parts = parts or {}
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_AsBinary(geom), ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM admin_units "
            "WHERE id = ANY(%s) AND geom IS NOT NULL",
            (ids,),
        )
        rows = {r[0]: r for r in cur.fetchall()}
    # Areas in sampling order: (unit, polygon, fallback lon, fallback lat, children).
    areas: list[tuple[int, Any, float, float, int]] = []
    for ward_id in ids:
        total = round(children[ward_id])
        if total <= 0:
            continue
        if ward_id in parts:
            shapes = [shapely.from_wkb(wkb) for wkb, _ in parts[ward_id]]
            counts = split_by_weight(total, [w for _, w in parts[ward_id]])
            for shape, count in zip(shapes, counts, strict=True):
                if count > 0 and not shape.is_empty:
                    inner = shape.representative_point()
                    areas.append((ward_id, shape, inner.x, inner.y, int(count)))
        elif ward_id in rows:
            row = rows[ward_id]
            areas.append((ward_id, shapely.from_wkb(bytes(row[1])), row[2], row[3], total))
    if not areas:  # no children to place (a unit whose forecast has none)
        return DemandPoints(
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype=np.float64),
            np.empty(0, dtype=np.int64),
        )
    graph = net.graph
    nodes = shapely.points(graph.node_lon, graph.node_lat)
    tree = shapely.STRtree(nodes)
    pairs = tree.query([a[1] for a in areas], predicate="contains")
    inside: list[list[int]] = [[] for _ in areas]
    for area, node in zip(pairs[0], pairs[1], strict=True):
        inside[area].append(int(node))
    rng = np.random.default_rng(seed)
    ward, lon, lat, count = [], [], [], []
    for k, (ward_id, _, x, y, total) in enumerate(areas):
        found = sorted(inside[k])
        if found:
            chosen = rng.choice(found, size=min(per_ward, len(found)), replace=False)
            xs, ys = graph.node_lon[chosen], graph.node_lat[chosen]
        else:
            xs, ys = np.array([x]), np.array([y])
        shares = largest_remainder(total, len(xs))
        ward += [ward_id] * len(xs)
        lon += list(xs)
        lat += list(ys)
        count += list(shares)
    return DemandPoints(
        np.array(ward, dtype=np.int64),
        np.array(lon, dtype=np.float64),
        np.array(lat, dtype=np.float64),
        np.array(count, dtype=np.int64),
    )


# Each school's commune-level unit in an edition: its stored ward when that unit is of the
# edition (importers store the current edition's), else the unit whose polygon covers it.
SCHOOL_UNITS = """
    SELECT s.id AS school_id, COALESCE(
        (SELECT u.id FROM admin_units u WHERE u.id = s.ward_id AND u.edition = %(edition)s),
        (SELECT a.id FROM admin_units a
         WHERE a.edition = %(edition)s AND a.level = 'ward' AND ST_Covers(a.geom, s.geom)
         ORDER BY a.id LIMIT 1)) AS unit_id
    FROM schools s WHERE %(level)s = ANY(s.levels)
"""


def unit_label(name: str, unit_type: str | None) -> str:
    """A unit's name with its type word when the name does not carry it: 'Phường Sài Gòn'."""
    kind = UNIT_TYPES_VI.get(unit_type or "")
    return f"{kind} {name}" if kind and unit_type_of(name, "ward") is None else name


def unit_shapes(conn: Connection, unit_ids: list[int], simplify_m: float) -> dict[int, Any]:
    """GeoJSON geometry of each unit, simplified by about `simplify_m` metres."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %s / 111320.0), 6)::json "
            "FROM admin_units WHERE id = ANY(%s)",
            (simplify_m, unit_ids),
        )
        return {r[0]: r[1] for r in cur.fetchall()}


def load_facilities(
    conn: Connection, settings: GapSettings, edition: str | None = None
) -> Facilities:
    """Schools of the grade's level with their classes of the grade and their unit in the
    edition (default: the settings' edition, else the current one), plus scenario sites."""
    edition = edition or edition_or_current(conn, settings.edition)
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH placed AS ({SCHOOL_UNITS})
            SELECT s.id, s.name, COALESCE(p.unit_id, 0), ST_X(s.geom), ST_Y(s.geom), g.classes,
                   u.name, u.unit_type
            FROM schools s JOIN placed p ON p.school_id = s.id
            LEFT JOIN admin_units u ON u.id = p.unit_id
            LEFT JOIN school_grades g ON g.school_id = s.id AND g.grade = %(grade)s
            ORDER BY s.id
            """,
            {"grade": settings.grade, "level": LEVEL_OF_GRADE[settings.grade], "edition": edition},
        )
        rows = cur.fetchall()
    unknown_added = set(settings.added_classes) - {r[0] for r in rows}
    if unknown_added:
        listed = ", ".join(str(i) for i in sorted(unknown_added))
        raise InvalidRequestError(
            f"trường {listed} không dạy lớp {settings.grade} / school(s) {listed} do not "
            f"teach grade {settings.grade}"
        )
    classes = []
    assumed = []
    for r in rows:
        known = r[5] is not None
        base = r[5] if known else (settings.assume_classes or 0)
        classes.append(base + settings.added_classes.get(r[0], 0))
        assumed.append(not known and bool(settings.assume_classes))
    sites = settings.new_sites
    return Facilities(
        key=np.array([r[0] for r in rows] + [-(i + 1) for i in range(len(sites))], np.int64),
        name=[r[1] for r in rows] + [s.name for s in sites],
        ward_id=np.array([r[2] for r in rows] + [0] * len(sites), np.int64),
        lon=np.array([r[3] for r in rows] + [s.lon for s in sites], np.float64),
        lat=np.array([r[4] for r in rows] + [s.lat for s in sites], np.float64),
        classes=np.array(classes + [s.classes for s in sites], np.int64),
        assumed=np.array(assumed + [False] * len(sites), bool),
        ward_label=[None if r[6] is None else unit_label(r[6], r[7]) for r in rows]
        + [None] * len(sites),
    )


def road_costs(
    conn: Connection,
    routing: RoutingService,
    net: ModeNetwork,
    settings: GapSettings,
    points: DemandPoints,
    facilities: Facilities,
) -> np.ndarray:
    """Road metres [points, facilities]: cached fields for schools, computed for new sites."""
    snapped = net.snapper.snap(points.lon, points.lat, MAX_SNAP_M)
    level = LEVEL_OF_GRADE[settings.grade]
    n_sites = len(settings.new_sites)
    n_schools = len(facilities.key) - n_sites
    costs = np.full((len(points.lon), len(facilities.key)), np.inf)
    if n_schools:
        fields = routing.fields(conn, net, level, "length")
        by_key = {int(k): i for i, k in enumerate(fields.source_keys)}
        rows = np.array([by_key[int(k)] for k in facilities.key[:n_schools]], np.int64)
        costs[:, :n_schools] = fields.cost_from_points(snapped, rows)
    if n_sites:
        site_fields = compute_fields(
            net.graph,
            facilities.lon[n_schools:],
            facilities.lat[n_schools:],
            facilities.key[n_schools:],
            "length",
            None,
            MAX_SNAP_M,
            snapper=net.snapper,
            workers=1,
        )
        costs[:, n_schools:] = site_fields.cost_from_points(snapped)
    return costs


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The value below which a fraction q of the total weight lies."""
    if len(values) == 0 or weights.sum() <= 0:
        return 0.0
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    at = np.searchsorted(cumulative, q * cumulative[-1])
    return float(values[order][min(at, len(values) - 1)])


@dataclass
class GapInputs:
    """Everything a gap reads from the database, ready to be placed anywhere (it pickles):
    the forecast, its units' rows and children, the demand points, the schools and the road
    metres between them."""

    settings: GapSettings
    forecast: Forecast
    children: dict[int, float]
    units: dict[int, WardDemand]
    points: DemandPoints
    facilities: Facilities
    costs: np.ndarray


def compute_gap(
    conn: Connection,
    routing: RoutingService,
    settings: GapSettings,
    forecast: Forecast | None = None,
) -> GapResult:
    """Place the forecast children of a grade and year; figures per school, ward and city."""
    return gap_figures(read_gap_inputs(conn, routing, settings, forecast))


def read_gap_inputs(
    conn: Connection,
    routing: RoutingService,
    settings: GapSettings,
    forecast: Forecast | None = None,
) -> GapInputs:
    """What the gap of the settings reads: the forecast (made here when not given), demand
    points, schools and road metres."""
    if settings.grade not in LEVEL_OF_GRADE:
        raise InvalidRequestError("lớp phải là 1 hoặc 6 / grade must be 1 or 6")
    if forecast is None:
        inputs = load_inputs(conn, settings.district_codes, settings.edition, settings.unit_codes)
        forecast = run_forecast(inputs, [settings.school_year], [settings.grade])
    children = forecast.ward_children(settings.grade, settings.school_year)
    units = {r.ward_id: r for r in forecast.unit_rows(settings.grade, settings.school_year)}
    if not units:
        raise InvalidRequestError(
            f"dự báo không có lớp {settings.grade} năm {settings.school_year} / the forecast "
            f"has no grade {settings.grade} figures for {settings.school_year}"
        )
    net = routing.network(conn, settings.mode)
    parts = demand_parts(conn, forecast, settings.grade, settings.school_year)
    points = sample_demand_points(conn, net, children, settings.per_ward, settings.seed, parts)
    facilities = load_facilities(conn, settings, forecast.edition)
    costs = road_costs(conn, routing, net, settings, points, facilities)
    return GapInputs(settings, forecast, children, units, points, facilities, costs)


def gap_figures(inputs: GapInputs) -> GapResult:
    """Place the children of the inputs by road distance; figures per school, ward and city.

    Reads nothing: the same inputs give the same figures wherever they are placed.
    """
    settings, forecast, children, units = (
        inputs.settings,
        inputs.forecast,
        inputs.children,
        inputs.units,
    )
    points, facilities, costs = inputs.points, inputs.facilities, inputs.costs
    size = settings.size
    seats = facilities.classes * size
    placed = place_children(points.children, seats, costs, settings.norm)
    n_fac = len(facilities.key)
    load = placed.school_load(n_fac)
    over = np.bincount(placed.school, weights=placed.over_size, minlength=n_fac)
    beyond = placed.cost > settings.norm
    beyond_by_school = np.bincount(placed.school, weights=placed.children * beyond, minlength=n_fac)
    ward_of_point = points.ward_id
    schools = []
    for i in range(n_fac):
        if load[i] == 0 and facilities.classes[i] == 0:
            continue
        needed = classes_needed(load[i], size)
        schools.append(
            {
                "school_id": int(facilities.key[i]) if facilities.key[i] > 0 else None,
                "name": facilities.name[i],
                "ward_id": int(facilities.ward_id[i]) or None,
                "unit_label": facilities.ward_label[i],
                "lon": float(facilities.lon[i]),
                "lat": float(facilities.lat[i]),
                "classes": int(facilities.classes[i]),
                "classes_assumed": bool(facilities.assumed[i]),
                "seats": int(seats[i]),
                "children": round(load[i]),
                "classes_needed": needed,
                "classes_short": max(0, needed - int(facilities.classes[i])),
                "classes_over_size": classes_over_size(load[i], int(facilities.classes[i]), size),
                "children_over_size": round(over[i]),
                "children_beyond_norm": round(beyond_by_school[i]),
            }
        )
    point_ward = ward_of_point[placed.point]
    classes_in_ward = np.bincount(
        facilities.ward_id,
        weights=facilities.classes,
        minlength=int(facilities.ward_id.max(initial=0)) + 1,
    )
    wards = []
    for ward_id in sorted(units):
        row = units[ward_id]
        in_ward = int(classes_in_ward[ward_id]) if ward_id < len(classes_in_ward) else 0
        if ward_id not in children:
            wards.append(_ward_without_figures(row, in_ward))
            continue
        mine = point_ward == ward_id
        kids = placed.children[mine]
        over_ward = float(placed.over_size[mine].sum())
        unreachable = int(placed.unreachable[ward_of_point == ward_id].sum())
        wards.append(
            {
                "ward_id": ward_id,
                "ward_code": row.ward_code,
                "ward_name": row.ward_name,
                "district_name": row.district_name,
                "children": round(children[ward_id]),
                # The forecast's 80 % interval of the unit's children.
                "children_low": None if row.low is None else round(row.low),
                "children_high": None if row.high is None else round(row.high),
                "classes_needed": classes_needed(children[ward_id], size),
                "classes_in_ward": in_ward,
                "children_over_size": round(over_ward),
                "classes_short": math.ceil(round(over_ward, 6) / size),
                "children_beyond_norm": int(kids[beyond[mine]].sum()),
                "children_unreachable": unreachable,
                "mean_m": round(float(np.average(placed.cost[mine], weights=kids)), 0)
                if kids.sum()
                else None,
                **row.unit_fields(),
            }
        )
    total_children = int(points.children.sum())
    metrics = {
        "children": total_children,
        "seats": int(seats.sum()),
        "classes_available": int(facilities.classes.sum()),
        "classes_needed": int(sum(s["classes_needed"] for s in schools)),
        "classes_short": int(sum(s["classes_short"] for s in schools)),
        "classes_over_size": int(sum(s["classes_over_size"] for s in schools)),
        "children_over_size": round(over.sum()),
        "children_beyond_norm": int(placed.children[beyond].sum()),
        "children_unreachable": int(placed.unreachable.sum()),
        "mean_m": round(float(np.average(placed.cost, weights=placed.children)), 1)
        if placed.children.sum()
        else 0.0,
        "p90_m": round(weighted_percentile(placed.cost, placed.children.astype(float), 0.9), 1),
        "schools_with_assumed_classes": int(facilities.assumed.sum()),
        "units": len(units),
        "units_reported": sum(1 for r in units.values() if r.figures == FIGURES_REPORTED),
        "units_partial_coverage": sum(1 for r in units.values() if r.figures == FIGURES_PARTIAL),
        "units_without_figures": sum(1 for r in units.values() if not r.has_figures),
    }
    statement = {
        "edition": forecast.edition,
        "forecast": forecast.statement(),
        "method": GAP_METHOD.format(
            per_ward=settings.per_ward,
            seed=settings.seed,
            level=LEVEL_OF_GRADE[settings.grade],
            mode=settings.mode,
            norm=settings.norm,
        )
        + (UNIT_PARTS.format(edition=forecast.edition) if forecast.edition != EDITION_2019 else ""),
        "grade": settings.grade,
        "school_year": f"{settings.school_year}-{settings.school_year + 1}",
        "class_size": size,
        "norm_m": settings.norm,
        "demand_points": len(points.lon),
    }
    return GapResult(settings, statement, metrics, schools, wards)


def _ward_without_figures(row: WardDemand, classes_in_ward: int) -> dict[str, Any]:
    """A unit with neither census figures nor a report: its seats, and no number of children."""
    return {
        "ward_id": row.ward_id,
        "ward_code": row.ward_code,
        "ward_name": row.ward_name,
        "district_name": row.district_name,
        "children": None,
        "classes_needed": None,
        "classes_in_ward": classes_in_ward,
        "children_over_size": None,
        "classes_short": None,
        "children_beyond_norm": None,
        "children_unreachable": None,
        "mean_m": None,
        **row.unit_fields(),
    }
