"""Turn a round's eligible applications and the schools' seats into an allocation problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from allocation.problem import INELIGIBLE, Problem
from gis_service.admissions.rounds import Round
from gis_service.admissions.seats import runs_given, seats_given
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.routing.service import (
    ESTIMATED_DETOUR,
    RoutingService,
    SchoolPoints,
    estimated_sources,
    straight_metres,
    with_estimated_access,
)
from gis_service.school_levels import LEVEL_OF_GRADE

# Priority groups served before everyone else (tier 0): children of martyrs and war invalids,
# children with disabilities. Everyone else is tier 1.
FIRST_TIER_GROUPS = frozenset({"liet_si", "thuong_binh", "khuyet_tat"})


@dataclass(frozen=True)
class RoundProblem:
    """The problem and what its rows and columns are in the database."""

    problem: Problem
    application_ids: np.ndarray  # int64 [n]
    applicant_ids: np.ndarray  # int64 [n]
    school_ids: np.ndarray  # int64 [m]
    unreachable: int  # eligible applicants whose home has no usable position at all
    mode: str
    network_id: int
    given_runs: tuple[int, ...] = ()  # published runs whose seats were not offered again
    estimated: np.ndarray | None = None
    """bool [n]: the home lies farther than MAX_SNAP_M from every mapped road, so its costs
    are estimated (routing.service.ESTIMATED_DETOUR)."""
    access_m: np.ndarray | None = None
    """float [n]: straight-line metres from each home to the nearest mapped road."""
    school_access_m: np.ndarray | None = None
    """float [m]: straight-line metres from each school off the mapped roads (farther than
    MAX_SNAP_M) to the nearest one, whose costs are estimated as the homes' are; NaN for the
    others."""
    beyond_radius: np.ndarray | None = None
    """bool [n]: no school lies within the distance fields' radius of the home by road, so
    every cost of the home is estimated (also marked in `estimated`). A cost beyond the radius
    is the straight line times ESTIMATED_DETOUR, at least just over the radius."""
    radius_m: float | None = None
    """The fields' radius (routing.service.FIELD_RADIUS_M); None: not cut."""


def tier_of(priority_group: str | None) -> int:
    return 0 if priority_group in FIRST_TIER_GROUPS else 1


def build_round_problem(
    conn: Connection,
    routing: RoutingService,
    the_round: Round,
    *,
    mode: str = "motorbike",
    seed: int = 0,
    max_cost_m: int | None = None,
    given_runs: tuple[int, ...] | None = None,
) -> RoundProblem:
    """Eligible applicants x schools of the round's level with seats, costs in road metres."""
    level = LEVEL_OF_GRADE[the_round.grade]
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.id, p.id, ST_X(a.home), ST_Y(a.home),
                   CASE WHEN a.priority_status = 'verified' THEN a.priority_group END,
                   a.sibling_group, a.preferences
            FROM applications a JOIN applicants p ON p.id = a.applicant_id
            WHERE a.round_id = %s AND a.status = 'eligible'
            ORDER BY a.source_line NULLS LAST, a.id
            """,
            (the_round.round_id,),
        )
        applications = cur.fetchall()
        cur.execute(
            """
            SELECT s.id, g.classes, g.class_size FROM schools s
            JOIN school_grades g ON g.school_id = s.id AND g.grade = %s
            WHERE %s = ANY(s.levels) AND g.classes > 0
            ORDER BY s.id
            """,
            (the_round.grade, level),
        )
        seats = cur.fetchall()
    if not applications:
        raise InvalidRequestError(f"round {the_round.round_id} has no eligible applicants")
    if not seats:
        raise InvalidRequestError(
            f"no {level} school has grade-{the_round.grade} classes; import the school registry"
        )
    # A round offers only the seats the published runs of the grade and year left (for round 2,
    # those its round 1 left); a run records which runs it took as given, to be built again.
    given = runs_given(conn, the_round.round_id) if given_runs is None else given_runs
    taken_by_school = seats_given(conn, given)
    seats = [row for row in seats if taken_by_school.get(int(row[0]), 0) < row[1] * row[2]]
    if not seats:
        raise InvalidRequestError(
            f"round {the_round.round_id} has no seats left: earlier rounds filled them all"
        )
    net = routing.network(conn, mode)
    fields = routing.fields(conn, net, level, "length")
    # Every home is joined to the nearest mapped road, however far: a child is never left
    # out because the map lacks her road; a home beyond MAX_SNAP_M gets estimated costs.
    snapped = net.snapper.snap(
        np.array([row[2] for row in applications]),
        np.array([row[3] for row in applications]),
        np.inf,
    )
    homes, estimated = with_estimated_access(snapped)
    school_ids = np.array([row[0] for row in seats], dtype=np.int64)
    column_of = {int(key): i for i, key in enumerate(fields.source_keys.tolist())}
    columns = np.array([column_of[int(s)] for s in school_ids], dtype=np.int64)
    metres = fields.cost_from_points(homes, columns)
    # Beyond the fields' radius a road distance is not known, and a home on the network is
    # never left without a school for that: each school beyond it is given the straight line
    # times the detour, never less than just over the radius, so it ranks after every school
    # within it (and, all placements within the radius, no placement changes).
    if fields.cutoff is not None:
        _estimate_beyond(
            metres, np.asarray(homes.ok), fields.cutoff, applications, school_ids,
            routing.school_points(conn, net, level),
        )  # fmt: skip
        beyond = np.asarray(homes.ok) & (metres > fields.cutoff).all(axis=1)
    else:
        beyond = np.zeros(len(applications), dtype=bool)
    estimated = estimated | beyond
    # A school's stretch to the road, as the fields hold it (times the detour when estimated).
    school_offset = np.asarray(fields.source_snap.offset_m, dtype=np.float64)[columns]
    school_access_m = np.where(
        estimated_sources(fields)[columns], school_offset / ESTIMATED_DETOUR, np.nan
    )
    # Rounded in place: at city scale the matrix is 100,000+ homes by 200+ schools.
    unreachable = ~np.isfinite(metres)
    np.rint(metres, out=metres)
    metres[unreachable] = INELIGIBLE
    cost = metres.astype(np.int64)
    del metres, unreachable
    index_of_school = {int(s): i for i, s in enumerate(school_ids.tolist())}
    listed = [
        tuple(index_of_school[s] for s in (row[6] or []) if s in index_of_school)
        for row in applications
    ]
    # After the schools a family ranked (nguyện vọng) come its other eligible schools by
    # distance, as for families who ranked nothing: ranking a few full schools must never
    # leave a child with no school while seats nearby are free.
    preferences = _after_ranked_by_distance(listed, cost) if any(listed) else None
    problem = Problem(
        applicant_ids=tuple(str(row[0]) for row in applications),
        school_ids=tuple(str(s) for s in school_ids.tolist()),
        cost=cost,
        classes=np.array([row[1] for row in seats], dtype=np.int64),
        class_size=np.array([row[2] for row in seats], dtype=np.int64),
        tier=np.array([tier_of(row[4]) for row in applications], dtype=np.int64),
        preferences=preferences,
        ranked_count=tuple(len(row) for row in listed) if preferences is not None else None,
        sibling_group=tuple(row[5] for row in applications),
        max_cost=max_cost_m,
        cost_unit="m",
        seed=seed,
        seats_taken=(
            np.array([taken_by_school.get(int(s), 0) for s in school_ids], dtype=np.int64)
            if taken_by_school
            else None
        ),
    )
    return RoundProblem(
        problem=problem,
        application_ids=np.array([row[0] for row in applications], dtype=np.int64),
        applicant_ids=np.array([row[1] for row in applications], dtype=np.int64),
        school_ids=school_ids,
        unreachable=int((~homes.ok).sum()),
        mode=mode,
        network_id=net.record.network_id,
        given_runs=given,
        estimated=estimated,
        access_m=np.asarray(snapped.offset_m, dtype=np.float64),
        school_access_m=school_access_m,
        beyond_radius=beyond,
        radius_m=fields.cutoff,
    )


def _estimate_beyond(
    metres: np.ndarray,
    on_network: np.ndarray,
    radius_m: float,
    applications: list[tuple[Any, ...]],
    school_ids: np.ndarray,
    points: SchoolPoints,
) -> None:
    """In place: every cost of a home on the network to a school beyond the radius becomes
    the straight line (homes' lon and lat in their applications' third and fourth fields)
    times ESTIMATED_DETOUR, and at least just over the radius."""
    far = ~np.isfinite(metres) & on_network[:, None]
    rows = np.flatnonzero(far.any(axis=1))
    if not len(rows):
        return
    position = {int(k): i for i, k in enumerate(points.ids.tolist())}
    columns = np.array([position[int(s)] for s in school_ids.tolist()], dtype=np.int64)
    lons, lats = points.lon[columns], points.lat[columns]
    floor = radius_m + 1.0
    for i in rows.tolist():
        home = applications[i]
        estimate = straight_metres(home[2], home[3], lons, lats) * ESTIMATED_DETOUR
        metres[i, far[i]] = np.maximum(estimate[far[i]], floor)


def _after_ranked_by_distance(
    listed: list[tuple[int, ...]], cost: np.ndarray
) -> tuple[tuple[int, ...], ...]:
    """Each family's ranked schools, then its other eligible schools by distance (ties by
    index), from one sort of the whole matrix with ineligible schools last."""
    order = np.argsort(np.where(cost >= 0, cost, np.iinfo(np.int64).max), axis=1, kind="stable")
    eligible_count = (cost >= 0).sum(axis=1)
    return tuple(
        ranked + tuple(j for j in order[i, : eligible_count[i]].tolist() if j not in ranked)
        for i, ranked in enumerate(listed)
    )
