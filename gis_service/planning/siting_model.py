"""Choose k sites among candidates (OR-Tools CP-SAT): most children served within a threshold,
or least total travel, with every school's and site's capacity; pure arrays in, choice out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from gis_service.errors import InvalidRequestError, SchoolmapError

OBJECTIVES = ("coverage", "travel")


@dataclass(frozen=True)
class SitingChoice:
    """The chosen candidates, the flows (point, facility, children) and how good they are."""

    chosen: list[int]
    point: np.ndarray
    facility: np.ndarray  # existing schools 0..S-1, then candidates S..S+C-1
    children: np.ndarray
    cost: np.ndarray
    served_within: int
    total_cost: float
    optimal: bool


def choose_sites(
    demand: np.ndarray,
    existing_seats: np.ndarray,
    existing_cost: np.ndarray,
    candidate_seats: np.ndarray,
    candidate_cost: np.ndarray,
    k: int,
    threshold: float,
    objective: str = "coverage",
    time_limit_s: float = 60.0,
) -> SitingChoice:
    """Open k candidates; place children in existing schools and open sites within capacity.

    coverage: maximise children placed within `threshold` (ties: least total cost); children
    beyond it stay unplaced. travel: place every child that can reach a school within
    3 x threshold, minimising total cost (any child left costs more than any trip).
    Costs are in one unit (seconds or metres); inf = unreachable.
    """
    if objective not in OBJECTIVES:
        raise InvalidRequestError(f"unknown objective {objective!r}; use {' or '.join(OBJECTIVES)}")
    n_candidates = len(candidate_seats)
    if not 0 <= k <= n_candidates:
        raise InvalidRequestError(f"k must be between 0 and the {n_candidates} candidates, got {k}")
    demand = np.asarray(demand, np.int64)
    seats = np.concatenate([existing_seats, candidate_seats]).astype(np.int64)
    cost = np.hstack([existing_cost, candidate_cost])
    limit = threshold if objective == "coverage" else 3 * threshold
    points, facilities = np.nonzero(np.isfinite(cost) & (cost <= limit) & (demand[:, None] > 0))
    arc_cost = np.rint(cost[points, facilities]).astype(np.int64)
    model = cp_model.CpModel()
    flows = [
        model.new_int_var(0, int(min(demand[p], seats[f])), f"x{p}_{f}")
        for p, f in zip(points, facilities, strict=True)
    ]
    opened = [model.new_bool_var(f"open{j}") for j in range(n_candidates)]
    model.add(sum(opened) == k)
    by_point: dict[int, list[int]] = {}
    by_facility: dict[int, list[int]] = {}
    for a, (point, facility) in enumerate(zip(points.tolist(), facilities.tolist(), strict=True)):
        by_point.setdefault(point, []).append(a)
        by_facility.setdefault(facility, []).append(a)
    for point, arcs in by_point.items():
        model.add(sum(flows[a] for a in arcs) <= int(demand[point]))
    n_existing = len(existing_seats)
    for facility, arcs in by_facility.items():
        intake = sum(flows[a] for a in arcs)
        if facility < n_existing:
            model.add(intake <= int(seats[facility]))
        else:
            model.add(intake <= int(seats[facility]) * opened[facility - n_existing])
    worth = int(arc_cost.max(initial=0)) + 1  # one more child placed beats any travel saving
    model.maximize(sum((worth - int(c)) * x for c, x in zip(arc_cost, flows, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise SchoolmapError(f"siting found no solution in {time_limit_s:.0f} s ({status})")
    values = np.array([solver.value(x) for x in flows], np.int64)
    keep = values > 0
    chosen = [j for j in range(n_candidates) if solver.value(opened[j])]
    placed_cost = cost[points[keep], facilities[keep]]
    within = int(values[keep][placed_cost <= threshold].sum())
    return SitingChoice(
        chosen,
        points[keep],
        facilities[keep],
        values[keep],
        placed_cost,
        within,
        float((values[keep] * placed_cost).sum()),
        status == cp_model.OPTIMAL,
    )
