"""Summary numbers of an assignment: distances, first choices, norm breaches, class sizes, envy."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from allocation.priority import SchoolPriority, first_choices, preferred_pairs
from allocation.problem import Problem


@dataclass(frozen=True)
class Metrics:
    """Costs are of placed applicants, in `cost_unit`; shares are of all applicants."""

    applicants: int
    placed: int
    unassigned: int
    total_cost: int
    mean_cost: float | None
    p90_cost: int | None
    max_cost: int | None
    share_at_nearest: float
    share_first_choice: float
    norm: int | None
    beyond_norm: int
    classes_over_size: int
    justified_envy: int
    siblings_split: int
    cost_unit: str
    children_with_justified_envy: int = 0

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data."""
        return asdict(self)


def compute_metrics(problem: Problem, assignment: np.ndarray, norm: int | None = None) -> Metrics:
    """Metrics of `assignment` (int64 [n], school index or -1) for `problem`.

    - p90_cost: nearest-rank 90th percentile (the smallest placed cost with at least 90 % of
      placed costs at or below it).
    - share_at_nearest: placed at a school whose cost equals the applicant's least eligible cost.
    - share_first_choice: placed at her first eligible preference (nearest when no preferences).
    - beyond_norm: placed beyond `norm`, or beyond `problem.max_cost` when norm is None.
    - classes_over_size: classes above the legal size when a school's pupils are spread as
      evenly as possible over the classes it offers (0 whenever seats <= classes * size).
    - justified_envy: pairs (a, b) where a prefers b's school to her own (by preferences, else
      by cost), is eligible there, and has priority over b there: lower tier, or same tier and
      lower cost, or same tier and cost and an earlier lottery number.
    - children_with_justified_envy: children a of at least one such pair: each could point
      to a child with less priority (farther, or the same tier and distance and a later
      lottery number) admitted at a school she wanted more.
    - siblings_split: sibling groups whose members are not all at the same school (or all
      unplaced).
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    n = problem.n
    placed_rows = np.flatnonzero(assignment >= 0)
    costs = problem.cost[placed_rows, assignment[placed_rows]].astype(np.int64)
    limit = norm if norm is not None else problem.max_cost
    if problem.m:
        # Read as unsigned, an ineligible cost (negative) is larger than any eligible one.
        least = problem.cost.view(np.uint64).min(axis=1).astype(np.int64)
    else:
        least = np.full(n, np.iinfo(np.int64).max)
    at_nearest = int(np.sum(costs == least[placed_rows]))
    first = first_choices(problem)
    at_first = int(np.sum((assignment == first) & (first >= 0)))
    return Metrics(
        applicants=n,
        placed=int(placed_rows.size),
        unassigned=int(n - placed_rows.size),
        total_cost=int(costs.sum()),
        mean_cost=float(costs.mean()) if costs.size else None,
        p90_cost=int(np.percentile(costs, 90, method="inverted_cdf")) if costs.size else None,
        max_cost=int(costs.max()) if costs.size else None,
        share_at_nearest=at_nearest / n if n else 0.0,
        share_first_choice=at_first / n if n else 0.0,
        norm=None if limit is None else int(limit),
        beyond_norm=int(np.sum(costs > limit)) if limit is not None else 0,
        classes_over_size=classes_over_size(problem, assignment),
        justified_envy=justified_envy(problem, assignment),
        siblings_split=siblings_split(problem, assignment),
        cost_unit=problem.cost_unit,
        children_with_justified_envy=envious_children(problem, assignment),
    )


def classes_over_size(problem: Problem, assignment: np.ndarray) -> int:
    """Classes above legal size with each school's pupils (earlier rounds' included) spread
    evenly over its classes."""
    used = np.bincount(assignment[assignment >= 0], minlength=problem.m)[: problem.m]
    used = used + problem.taken
    over = 0
    for seats, classes, size in zip(
        used.tolist(), problem.classes.tolist(), problem.class_size.tolist(), strict=True
    ):
        if seats <= classes * size:
            continue
        if classes == 0:
            over += 1
            continue
        base, extra = divmod(seats, classes)
        over += classes if base > size else extra
    return over


def justified_envy(problem: Problem, assignment: np.ndarray) -> int:
    """Count of pairs (a, b) where a justifiably envies b (see `compute_metrics`)."""
    found = _envy_keys(problem, assignment)
    if found is None:
        return 0
    _, cols, query_key, held_school, held_key = found
    total = 0
    order = np.argsort(held_school, kind="stable")
    held_school, held_key = held_school[order], held_key[order]
    bounds = np.searchsorted(held_school, np.arange(problem.m + 1))
    # The pairs by school once, not one sweep of every pair per school.
    by_school = np.argsort(cols, kind="stable")
    wanted_school, wanted_key = cols[by_school], query_key[by_school]
    wanted_bounds = np.searchsorted(wanted_school, np.arange(problem.m + 1))
    for s in np.unique(cols).tolist():
        keys = np.sort(held_key[bounds[s] : bounds[s + 1]])
        if keys.size == 0:
            continue
        wanted = wanted_key[wanted_bounds[s] : wanted_bounds[s + 1]]
        total += int(np.sum(keys.size - np.searchsorted(keys, wanted, side="right")))
    return total


def envious_children(problem: Problem, assignment: np.ndarray) -> int:
    """Children who justifiably envy at least one other child (see `compute_metrics`)."""
    found = _envy_keys(problem, assignment)
    if found is None:
        return 0
    rows, cols, query_key, held_school, held_key = found
    # The weakest priority a school admitted: a child envies justifiably exactly when she
    # would outrank it there.
    weakest = np.full(problem.m, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(weakest, held_school, held_key)
    envies = query_key < weakest[cols]
    return int(np.unique(rows[envies]).size)


def _envy_keys(
    problem: Problem, assignment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The pairs a child prefers to her own school with her priority key there, and each
    placed child's school and key; None when no child prefers another school."""
    rows, cols = preferred_pairs(problem, assignment)
    if rows.size == 0:
        return None
    priority = SchoolPriority(problem)
    placed = np.flatnonzero(assignment >= 0)
    held_school = assignment[placed]
    return rows, cols, priority.key(rows, cols), held_school, priority.key(placed, held_school)


def siblings_split(problem: Problem, assignment: np.ndarray) -> int:
    """Sibling groups not all at one school (all unplaced counts as together)."""
    if problem.sibling_group is None:
        return 0
    schools: dict[str, set[int]] = {}
    for group, school in zip(problem.sibling_group, assignment.tolist(), strict=True):
        if group is not None:
            schools.setdefault(group, set()).add(school)
    return sum(1 for found in schools.values() if len(found) > 1)
