"""Place grouped children in schools: fewest over the legal class size, then least road distance.

Demand comes as points (a ward's children at a few homes on the road network) with a child
count each, so a min-cost flow on counts (OR-Tools) does at city scale what one row per child
would: each point sends its children to schools within the distance norm, or to its nearest
school when none is within the norm; a school takes up to its legal seats at no penalty and
any more at a penalty larger than any distance, so seats within reach are used first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from gis_service.errors import SchoolmapError

# Per child over a class's legal size: more than any road distance in metres in a city.
OVER_SIZE_PENALTY = 10_000_000


@dataclass(frozen=True)
class Placement:
    """Children per (point, school) pair, how many of them are over the legal size, and cost."""

    point: np.ndarray
    school: np.ndarray
    children: np.ndarray
    over_size: np.ndarray  # the school's over-size children shared in proportion to its intake
    cost: np.ndarray
    unreachable: np.ndarray  # children per point with no school reachable at all

    def school_load(self, n_schools: int) -> np.ndarray:
        return np.bincount(self.school, weights=self.children, minlength=n_schools)


def place_children(
    demand: np.ndarray, seats: np.ndarray, cost: np.ndarray, norm: float
) -> Placement:
    """Place `demand[p]` children of each point among schools with `seats[s]`; cost[p, s] >= 0.

    A pair is offered when cost <= norm, or when it is the point's cheapest finite cost.
    """
    demand = np.asarray(demand, dtype=np.int64)
    seats = np.asarray(seats, dtype=np.int64)
    n_points, n_schools = cost.shape
    finite = np.isfinite(cost)
    offered = finite & (cost <= norm)
    reachable = finite.any(axis=1)
    if n_schools:
        nearest = np.argmin(np.where(finite, cost, np.inf), axis=1)
        rows = np.flatnonzero(reachable)
        offered[rows, nearest[rows]] = True
    unreachable = np.where(reachable, 0, demand)
    points, schools = np.nonzero(offered & (demand[:, None] > 0))
    total = int(demand[reachable].sum())
    empty = np.zeros(0, dtype=np.int64)
    if total == 0 or len(points) == 0:
        return Placement(empty, empty, empty, empty, np.zeros(0), unreachable)
    flow = min_cost_flow.SimpleMinCostFlow()
    sink = n_points + n_schools
    arc_cost = np.rint(cost[points, schools]).astype(np.int64)
    pair_arcs = flow.add_arcs_with_capacity_and_unit_cost(
        points, n_points + schools, demand[points], arc_cost
    )
    used = np.unique(schools)
    flow.add_arcs_with_capacity_and_unit_cost(
        n_points + used, np.full(len(used), sink), seats[used], np.zeros(len(used), np.int64)
    )
    over_arcs = flow.add_arcs_with_capacity_and_unit_cost(
        n_points + used,
        np.full(len(used), sink),
        np.full(len(used), total),
        np.full(len(used), OVER_SIZE_PENALTY),
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_points] = np.where(reachable, demand, 0)
    supplies[sink] = -total
    flow.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SchoolmapError(f"placing children failed: min-cost flow status {status}")
    children = flow.flows(pair_arcs)
    over_by_school = np.zeros(n_schools)
    over_by_school[used] = flow.flows(over_arcs)
    keep = children > 0
    points, schools, children = points[keep], schools[keep], children[keep]
    intake = np.bincount(schools, weights=children, minlength=n_schools)
    share = np.divide(over_by_school, intake, out=np.zeros(n_schools), where=intake > 0)
    return Placement(
        points,
        schools,
        children,
        children * share[schools],
        cost[points, schools],
        unreachable,
    )


def classes_over_size(load: float, classes: int, class_size: int) -> int:
    """Classes above the legal size when `load` children are spread evenly over `classes`."""
    if classes <= 0:
        return 0
    whole = round(load)
    each, extra = divmod(whole, classes)
    if each > class_size:
        return classes
    if each == class_size:
        return extra
    return 0
