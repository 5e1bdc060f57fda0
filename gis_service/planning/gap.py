"""Capacity gap: forecast children placed in schools by road distance against classes available.

Each ward's forecast children are spread evenly over a few road-network nodes sampled inside
the ward (a fixed seed), costed to every school of the grade's level by road metres from the
cached distance fields, and placed by `placement.place_children`: seats within the distance
norm first, else the nearest school, over the legal class size only when no seat is in reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.planning.forecast import Forecast, run_forecast
from gis_service.planning.inputs import load_inputs
from gis_service.planning.method import LEGAL_CLASS_SIZE, classes_needed
from gis_service.planning.placement import classes_over_size, place_children
from gis_service.routing.distances import compute_fields
from gis_service.routing.service import MAX_SNAP_M, ModeNetwork, RoutingService

LEVEL_OF_GRADE = {1: "tieu_hoc", 6: "thcs"}
# Distance norms used in practice: primary within 4 km, lower secondary within 7 km.
NORM_M = {1: 4000.0, 6: 7000.0}
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
    ward_id: np.ndarray  # 0 when outside every ward
    lon: np.ndarray
    lat: np.ndarray
    classes: np.ndarray
    assumed: np.ndarray  # classes assumed (no registry figure)


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


def sample_demand_points(
    conn: Connection, net: ModeNetwork, children: dict[int, float], per_ward: int, seed: int
) -> DemandPoints:
    """Up to `per_ward` road nodes inside each ward (else a point inside it), children shared."""
    ids = sorted(children)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_AsBinary(geom), ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM admin_units "
            "WHERE id = ANY(%s) AND geom IS NOT NULL",
            (ids,),
        )
        rows = {r[0]: r for r in cur.fetchall()}
    graph = net.graph
    nodes = shapely.points(graph.node_lon, graph.node_lat)
    tree = shapely.STRtree(nodes)
    polygons = [shapely.from_wkb(bytes(rows[i][1])) if i in rows else None for i in ids]
    present = [k for k, p in enumerate(polygons) if p is not None]
    pairs = tree.query([polygons[k] for k in present], predicate="contains")
    inside: dict[int, list[int]] = {ids[present[k]]: [] for k in range(len(present))}
    for poly_row, node in zip(pairs[0], pairs[1], strict=True):
        inside[ids[present[poly_row]]].append(int(node))
    rng = np.random.default_rng(seed)
    ward, lon, lat, count = [], [], [], []
    for ward_id in ids:
        total = round(children[ward_id])
        if total <= 0:
            continue
        found = sorted(inside.get(ward_id, []))
        if found:
            chosen = rng.choice(found, size=min(per_ward, len(found)), replace=False)
            xs, ys = graph.node_lon[chosen], graph.node_lat[chosen]
        elif ward_id in rows:
            xs, ys = np.array([rows[ward_id][2]]), np.array([rows[ward_id][3]])
        else:
            continue
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


def load_facilities(conn: Connection, settings: GapSettings) -> Facilities:
    """Schools of the grade's level with their classes of the grade, plus scenario sites."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT s.id, s.name, COALESCE(s.ward_id, 0), ST_X(s.geom), ST_Y(s.geom), g.classes
            FROM schools s LEFT JOIN school_grades g ON g.school_id = s.id AND g.grade = %s
            WHERE %s = ANY(s.levels) ORDER BY s.id
            """,
            (settings.grade, LEVEL_OF_GRADE[settings.grade]),
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


def compute_gap(
    conn: Connection,
    routing: RoutingService,
    settings: GapSettings,
    forecast: Forecast | None = None,
) -> GapResult:
    """Place the forecast children of a grade and year; figures per school, ward and city."""
    if settings.grade not in LEVEL_OF_GRADE:
        raise InvalidRequestError("lớp phải là 1 hoặc 6 / grade must be 1 or 6")
    if forecast is None:
        inputs = load_inputs(conn, settings.district_codes)
        forecast = run_forecast(inputs, [settings.school_year], [settings.grade])
    children = forecast.ward_children(settings.grade, settings.school_year)
    if not children:
        raise InvalidRequestError(
            f"dự báo không có lớp {settings.grade} năm {settings.school_year} / the forecast "
            f"has no grade {settings.grade} figures for {settings.school_year}"
        )
    net = routing.network(conn, settings.mode)
    points = sample_demand_points(conn, net, children, settings.per_ward, settings.seed)
    facilities = load_facilities(conn, settings)
    costs = road_costs(conn, routing, net, settings, points, facilities)
    size = settings.size
    seats = facilities.classes * size
    placed = place_children(points.children, seats, costs, settings.norm)
    n_fac = len(facilities.key)
    load = placed.school_load(n_fac)
    over = np.bincount(placed.school, weights=placed.over_size, minlength=n_fac)
    beyond = placed.cost > settings.norm
    beyond_by_school = np.bincount(placed.school, weights=placed.children * beyond, minlength=n_fac)
    ward_of_point = points.ward_id
    names = {r.ward_id: r for r in forecast.rows if r.grade == settings.grade}
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
    for ward_id in sorted(children):
        mine = point_ward == ward_id
        kids = placed.children[mine]
        row = names[ward_id]
        over_ward = float(placed.over_size[mine].sum())
        unreachable = int(placed.unreachable[ward_of_point == ward_id].sum())
        wards.append(
            {
                "ward_id": ward_id,
                "ward_code": row.ward_code,
                "ward_name": row.ward_name,
                "district_name": row.district_name,
                "children": round(children[ward_id]),
                "classes_needed": classes_needed(children[ward_id], size),
                "classes_in_ward": int(classes_in_ward[ward_id])
                if ward_id < len(classes_in_ward)
                else 0,
                "children_over_size": round(over_ward),
                "classes_short": math.ceil(round(over_ward, 6) / size),
                "children_beyond_norm": int(kids[beyond[mine]].sum()),
                "children_unreachable": unreachable,
                "mean_m": round(float(np.average(placed.cost[mine], weights=kids)), 0)
                if kids.sum()
                else None,
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
    }
    statement = {
        "forecast": forecast.statement(),
        "method": GAP_METHOD.format(
            per_ward=settings.per_ward,
            seed=settings.seed,
            level=LEVEL_OF_GRADE[settings.grade],
            mode=settings.mode,
            norm=settings.norm,
        ),
        "grade": settings.grade,
        "school_year": f"{settings.school_year}-{settings.school_year + 1}",
        "class_size": size,
        "norm_m": settings.norm,
        "demand_points": len(points.lon),
    }
    return GapResult(settings, statement, metrics, schools, wards)
