"""School zones for a coming school year, and a home's chance at a school before applying.

The forecast children of the grade and year are placed as homes on the road network by the
population weights (the gap's demand points, more of them per unit), and admitted by the
round's default mechanism: deferred acceptance, each school ranking children by road distance.
Without the families' own lists every child is taken to rank schools by road distance too;
with both sides ranking by the same distances the stable matching is unique, and it is what
pairing children and schools in order of distance gives (`admit_by_distance`). A school that
fills has an admission distance: the road distance of the last child it admits. The same with
every unit's children at the low and at the high end of its 80 % interval gives the distance's
interval (more children, a shorter distance). The zone is the area of homes within the
admission distance by road.

Nothing here is about any child: forecasts and seats only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gis_service import audit
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, NotFoundError
from gis_service.planning.forecast import run_forecast
from gis_service.planning.gap import (
    LEVEL_OF_GRADE,
    GapSettings,
    demand_parts,
    load_facilities,
    road_costs,
    sample_demand_points,
    split_by_weight,
)
from gis_service.planning.inputs import load_inputs
from gis_service.planning.method import LEGAL_CLASS_SIZE
from gis_service.planning.zone_areas import zone_areas
from gis_service.routing.service import RoutingService
from gis_service.text import metres, metres_en
from gis_service.units.editions import edition_or_current

POINTS_PER_UNIT = 20
"""Homes per unit (per part of a unit) the forecast children are placed at."""

VERY_LIKELY, UNCERTAIN, UNLIKELY = "very_likely", "uncertain", "unlikely"
CHANCES = (VERY_LIKELY, UNCERTAIN, UNLIKELY)


@dataclass(frozen=True)
class Admission:
    """Children admitted per school and the distance of the last one (NaN: not full)."""

    admitted: np.ndarray
    cutoff: np.ndarray
    unplaced: int
    """Children left without a seat, those with no road to any school among them."""
    no_road: int = 0

    def full(self) -> np.ndarray:
        return ~np.isnan(self.cutoff)


def admit_by_distance(children: np.ndarray, seats: np.ndarray, cost: np.ndarray) -> Admission:
    """Deferred acceptance when every child ranks schools by road distance and every school
    ranks children by it: `children[p]` at home p, `seats[s]`, `cost[p, s]` (inf: no road).

    Pairs are taken in order of distance (ties: home, then school); a pair admits as many of
    the home's children as the school has seats left. A school's cutoff is its last admitted
    child's distance when its seats ran out, NaN when they did not."""
    children = np.asarray(children, dtype=np.int64)
    seats = np.asarray(seats, dtype=np.int64)
    n_homes, n_schools = cost.shape
    if children.shape != (n_homes,) or seats.shape != (n_schools,):
        raise InvalidRequestError("children per home and seats per school must match the costs")
    admitted = np.zeros(n_schools, dtype=np.int64)
    cutoff = np.full(n_schools, np.nan)
    if n_homes == 0 or n_schools == 0:
        return Admission(admitted, cutoff, int(children.sum()))
    no_road = int(children[~np.isfinite(cost).any(axis=1)].sum())
    homes, schools = np.nonzero(np.isfinite(cost) & (children[:, None] > 0))
    costs = cost[homes, schools]
    order = np.lexsort((schools, homes, costs))
    left = children.copy()
    free = seats.copy()
    last = np.full(n_schools, np.nan)
    for home, school, distance in zip(
        homes[order].tolist(), schools[order].tolist(), costs[order].tolist(), strict=True
    ):
        take = min(left[home], free[school])
        if take <= 0:
            continue
        left[home] -= take
        free[school] -= take
        admitted[school] += take
        last[school] = distance
    full = (free == 0) & (seats > 0)
    cutoff[full] = last[full]
    return Admission(admitted, cutoff, int(left.sum()), no_road)


def check_grade(grade: int) -> None:
    if grade not in LEVEL_OF_GRADE:
        raise InvalidRequestError("lớp phải là 1 hoặc 6 / grade must be 1 or 6")


@dataclass(frozen=True)
class ZoneSettings:
    """Which zones: grade, school year, travel mode, units edition, homes per unit."""

    grade: int
    school_year: int
    mode: str = "motorbike"
    edition: str | None = None
    points_per_unit: int = POINTS_PER_UNIT
    seed: int = 2025


@dataclass(frozen=True)
class SchoolZone:
    """One school's expected admission and its zone (lon/lat; None when it would not fill)."""

    school_id: int
    name: str
    unit_id: int | None
    seats: int
    expected_children: int
    cutoff_m: float | None
    cutoff_low_m: float | None
    cutoff_high_m: float | None
    zone: Any


def _distance(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 1)


def compute_zones(
    conn: Connection, routing: RoutingService, settings: ZoneSettings
) -> tuple[list[SchoolZone], dict[str, Any]]:
    """Every school of the grade's level with its expected admission and zone; the statement
    of what they rest on."""
    check_grade(settings.grade)
    edition = edition_or_current(conn, settings.edition)
    forecast = run_forecast(
        load_inputs(conn, None, edition), [settings.school_year], [settings.grade]
    )
    rows = [r for r in forecast.unit_rows(settings.grade, settings.school_year) if r.has_figures]
    mid = {r.ward_id: float(r.children or 0.0) for r in rows}
    net = routing.network(conn, settings.mode)
    parts = demand_parts(conn, forecast, settings.grade, settings.school_year)
    points = sample_demand_points(conn, net, mid, settings.points_per_unit, settings.seed, parts)
    gap = GapSettings(settings.grade, settings.school_year, mode=settings.mode, edition=edition)
    facilities = load_facilities(conn, gap, edition)
    costs = road_costs(conn, routing, net, gap, points, facilities)
    seats = facilities.classes * LEGAL_CLASS_SIZE[settings.grade]
    ends = {"mid": mid}
    ends["low"] = {r.ward_id: float(r.low or 0.0) for r in rows}
    ends["high"] = {r.ward_id: float(r.high or 0.0) for r in rows}
    admitted = {
        end: admit_by_distance(_children_at(points.ward_id, points.children, totals), seats, costs)
        for end, totals in ends.items()
    }
    fields = routing.fields(conn, net, LEVEL_OF_GRADE[settings.grade], "length")
    row_of = {int(k): i for i, k in enumerate(fields.source_keys)}
    zoned: dict[int, float] = {}
    for i, key in enumerate(facilities.key.tolist()):
        cutoff = _distance(admitted["mid"].cutoff[i])
        if seats[i] > 0 and cutoff is not None and key in row_of:
            zoned[i] = cutoff
    # One piece of batch work per school (on the configured cluster, if any).
    areas = zone_areas(
        net.graph,
        [fields.source_row(row_of[int(facilities.key[i])]) for i in zoned],
        list(zoned.values()),
    )
    zone_of = dict(zip(zoned, areas, strict=True))
    made = []
    for i, key in enumerate(facilities.key.tolist()):
        if seats[i] <= 0:
            continue
        cutoff = _distance(admitted["mid"].cutoff[i])
        zone = zone_of.get(i)
        made.append(
            SchoolZone(
                int(key),
                facilities.name[i],
                int(facilities.ward_id[i]) or None,
                int(seats[i]),
                int(admitted["mid"].admitted[i]),
                cutoff,
                # Many children (the interval's high end) fill a school nearer home.
                _distance(admitted["high"].cutoff[i]),
                _distance(admitted["low"].cutoff[i]),
                zone,
            )
        )
    statement = {
        "grade": settings.grade,
        "school_year": f"{settings.school_year}-{settings.school_year + 1}",
        "edition": edition,
        "mode": settings.mode,
        "homes": len(points.lon),
        "children": int(points.children.sum()),
        "unplaced": admitted["mid"].unplaced,
        "no_road": admitted["mid"].no_road,
        "method_vi": METHOD_VI,
        "method_en": METHOD_EN,
        "forecast": forecast.statement(),
    }
    return made, statement


def _children_at(
    unit_of_home: np.ndarray, children: np.ndarray, totals: dict[int, float]
) -> np.ndarray:
    """Each unit's total split over its homes in proportion to the homes' children."""
    out = np.zeros(len(children), dtype=np.int64)
    for unit in np.unique(unit_of_home).tolist():
        mine = np.flatnonzero(unit_of_home == unit)
        weights = children[mine].astype(float)
        if weights.sum() <= 0:
            weights = np.ones(len(mine))
        out[mine] = split_by_weight(round(totals.get(unit, 0.0)), weights.tolist())
    return out


METHOD_VI = (
    "Số trẻ dự báo của năm học đặt vào các điểm nhà trên mạng đường theo tỉ lệ dân số; mỗi "
    "trường nhận trẻ theo thứ tự quãng đường đi (trẻ gần trước) đến khi hết chỗ (số lớp × sĩ số "
    "tối đa), như xét tuyển theo nguyện vọng khi mọi gia đình chọn trường gần nhà. Cự ly tuyển "
    "của trường là quãng đường của trẻ cuối cùng được nhận; khoảng của nó tính lại với số trẻ ở "
    "hai đầu khoảng dự báo 80 %."
)
METHOD_EN = (
    "The school year's forecast children placed at homes on the road network by population "
    "weights; each school admits children in order of road distance (nearest first) until its "
    "seats (classes × legal class size) run out, as deferred acceptance does when every family "
    "ranks schools by distance. A school's admission distance is its last admitted child's; its "
    "interval comes from the children at both ends of the forecast's 80 % interval."
)


def save_zones(
    conn: Connection,
    zones: list[SchoolZone],
    statement: dict[str, Any],
    settings: ZoneSettings,
    *,
    publish: bool,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> int:
    """Store a zone run (published at once when asked); its id. Audited."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO zone_runs (grade, school_year, edition, mode, statement, created_by, "
            "published_at) VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) "
            "RETURNING id",
            (
                settings.grade,
                settings.school_year,
                statement["edition"],
                settings.mode,
                json.dumps(statement, ensure_ascii=False, default=str),
                actor,
                publish,
            ),
        )
        run_id = int(cur.fetchone()[0])  # type: ignore[index]
        for z in zones:
            cur.execute(
                """
                INSERT INTO school_zones (run_id, school_id, seats, expected_children, cutoff_m,
                    cutoff_low_m, cutoff_high_m, unit_id, zone)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s,
                        ST_Multi(ST_SetSRID(ST_GeomFromWKB(%s), 4326)))
                """,
                (
                    run_id,
                    z.school_id,
                    z.seats,
                    z.expected_children,
                    z.cutoff_m,
                    z.cutoff_low_m,
                    z.cutoff_high_m,
                    z.unit_id,
                    None if z.zone is None or z.zone.is_empty else shapely.to_wkb(z.zone),
                ),
            )
        # How much of the school's own unit its zone holds (1 when the school would not fill).
        cur.execute(
            """
            UPDATE school_zones z SET unit_share = CASE
                WHEN z.cutoff_m IS NULL THEN 1
                WHEN z.zone IS NULL THEN 0
                ELSE LEAST(1, ST_Area(ST_Intersection(z.zone, u.geom)::geography)
                              / NULLIF(ST_Area(u.geom::geography), 0)) END
            FROM admin_units u WHERE u.id = z.unit_id AND z.run_id = %s
            """,
            (run_id,),
        )
    audit.record(
        conn,
        actor=actor,
        action="zones.publish" if publish else "zones.make",
        target=f"zone_run:{run_id}",
        detail={"grade": settings.grade, "school_year": settings.school_year},
        remote_addr=remote_addr,
    )
    return run_id


def published_run(conn: Connection, grade: int, school_year: int | None = None) -> int | None:
    """The newest published zone run of the grade (of that school year when given)."""
    check_grade(grade)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM zone_runs WHERE grade = %s AND published_at IS NOT NULL "
            "AND (%s::int IS NULL OR school_year = %s) "
            "ORDER BY school_year DESC, published_at DESC, id DESC LIMIT 1",
            (grade, school_year, school_year),
        )
        row = cur.fetchone()
    return None if row is None else int(row[0])


SHRINKS_BELOW_UNIT = 0.95
"""A zone holding less of its school's own unit than this leaves part of the unit out."""


def zones_geojson(conn: Connection, run_id: int, simplify_m: float = 0.0) -> dict[str, Any]:
    """A zone run as GeoJSON: one feature per school (its zone; no geometry when the school
    would not fill), with the run's statement."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT grade, school_year, edition, mode, statement, published_at FROM zone_runs "
            "WHERE id = %s",
            (run_id,),
        )
        head = cur.fetchone()
        if head is None:
            raise NotFoundError(f"không có lần tính vùng tuyển {run_id} / no zone run {run_id}")
        cur.execute(
            """
            SELECT z.school_id, s.name, z.seats, z.expected_children, z.cutoff_m, z.cutoff_low_m,
                   z.cutoff_high_m, z.unit_id, u.name, z.unit_share,
                   ST_AsGeoJSON(CASE WHEN %s > 0
                       THEN ST_SimplifyPreserveTopology(z.zone, %s / 111320.0) ELSE z.zone END, 6)
            FROM school_zones z JOIN schools s ON s.id = z.school_id
            LEFT JOIN admin_units u ON u.id = z.unit_id
            WHERE z.run_id = %s ORDER BY z.school_id
            """,
            (simplify_m, simplify_m, run_id),
        )
        rows = cur.fetchall()
    grade, year, edition, mode, statement, published_at = head
    features = []
    for r in rows:
        share = None if r[9] is None else round(float(r[9]), 3)
        features.append(
            {
                "type": "Feature",
                "id": r[0],
                "geometry": None if r[10] is None else json.loads(r[10]),
                "properties": {
                    "school_id": r[0],
                    "name": r[1],
                    "seats": r[2],
                    "expected_children": r[3],
                    "full": r[4] is not None,
                    "cutoff_m": r[4],
                    "cutoff_low_m": r[5],
                    "cutoff_high_m": r[6],
                    "unit_id": r[7],
                    "unit_name": r[8],
                    "unit_share": share,
                    "shrinks_below_unit": share is not None and share < SHRINKS_BELOW_UNIT,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "run": run_id,
        "grade": grade,
        "school_year": f"{year}-{year + 1}",
        "edition": edition,
        "mode": mode,
        "published_at": published_at.isoformat() if published_at else None,
        "statement": statement,
        "features": features,
    }


@dataclass(frozen=True)
class Chance:
    """How likely a home is to be admitted at a school next year, and how it was estimated."""

    label: str
    vi: str
    en: str


def chance(
    distance_m: float,
    cutoff_m: float | None,
    cutoff_low_m: float | None,
    cutoff_high_m: float | None,
    school_year: int,
) -> Chance:
    """A home `distance_m` by road from a school whose admission distance is expected at
    `cutoff_m`, between `cutoff_low_m` (many children) and `cutoff_high_m` (few); None: the
    school would not fill. Very likely within the distance even with many children; unlikely
    beyond it even with few; uncertain between."""
    if cutoff_low_m is None or distance_m <= cutoff_low_m:
        label = VERY_LIKELY
    elif cutoff_high_m is None or distance_m <= cutoff_high_m:
        label = UNCERTAIN
    else:
        label = UNLIKELY
    year = f"{school_year}–{school_year + 1}"
    if cutoff_m is None and cutoff_low_m is None:
        said_vi = "dự kiến trường còn chỗ cho mọi trẻ đăng ký"
        said_en = "the school is expected to have a seat for every child who applies"
    else:
        shown = cutoff_m if cutoff_m is not None else cutoff_low_m
        if cutoff_high_m is None:
            span_vi = f"từ {metres(cutoff_low_m)} trở lên"
            span_en = f"{metres_en(cutoff_low_m)} or more"
        else:
            span_vi = f"{metres(cutoff_low_m)} đến {metres(cutoff_high_m)}"
            span_en = f"{metres_en(cutoff_low_m)} to {metres_en(cutoff_high_m)}"
        said_vi = (
            f"dự kiến trường nhận trẻ ở cách trường đến khoảng {metres(shown)} theo đường đi "
            f"(có thể {span_vi})"
        )
        said_en = (
            "the school is expected to admit children living up to about "
            f"{metres_en(shown)} away by road ({span_en})"
        )
    return Chance(
        label,
        f"Ước tính từ dự báo số trẻ năm học {year} và số chỗ của trường, nếu mọi gia đình chọn "
        f"trường gần nhà: {said_vi}. Đây là ước tính, không phải cam kết.",
        f"Estimated from the forecast children of {year} and the school's seats, if every "
        f"family chose the school nearest home: {said_en}. An estimate, never a promise.",
    )


def make_zones(
    conn: Connection,
    routing: RoutingService,
    settings: ZoneSettings,
    *,
    publish: bool,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> int:
    """Compute a grade's zones for a school year and store them (published when asked): what
    the command line and the API both run. The new run's id."""
    zones, statement = compute_zones(conn, routing, settings)
    return save_zones(
        conn, zones, statement, settings, publish=publish, actor=actor, remote_addr=remote_addr
    )


def chances_near(conn: Connection, run_id: int, near: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Near-home rows (school_id, distance_m, …) with each school's chance in the zone run; a
    school the run does not hold (another level, added since) has none."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT r.school_year, z.school_id, z.cutoff_m, z.cutoff_low_m, z.cutoff_high_m "
            "FROM school_zones z JOIN zone_runs r ON r.id = z.run_id "
            "WHERE z.run_id = %s AND z.school_id = ANY(%s)",
            (run_id, [row["school_id"] for row in near]),
        )
        rows = {r[1]: r for r in cur.fetchall()}
    out = []
    for row in near:
        held = rows.get(row["school_id"])
        said = None
        if held is not None:
            year, _, cutoff, low, high = held
            made = chance(float(row["distance_m"]), cutoff, low, high, int(year))
            said = {
                "label": made.label,
                "vi": made.vi,
                "en": made.en,
                "cutoff_m": cutoff,
                "cutoff_low_m": low,
                "cutoff_high_m": high,
            }
        out.append({**row, "chance": said})
    return out
