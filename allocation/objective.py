"""The near-home objective shared by `nearest` and `constrained`, in lexicographic order.

Levels, each one optimised with all earlier levels held at their optimum:

1. the number placed of tier 0, then of tier 1, ... (maximised) -- so tier 0 gets seats before
   tier 1 can take them, and as many children as possible are placed overall;
2. the total cost of tier 0, then of tier 1, ... (minimised), cost or cost squared;
3. the lottery tie-break (minimised): an earlier lottery rank is placed first, and gets the
   nearer of two schools when the totals above are equal.
"""

from __future__ import annotations

import numpy as np

from allocation.errors import ProblemError
from allocation.problem import Problem

SQUARED_COST_LIMIT = 3_037_000_499
"""Largest cost that can be squared without overflowing int64."""


def tier_ranks(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Distinct tiers in priority order, and each applicant's position in that order."""
    tiers = np.unique(problem.tier)
    return tiers, np.searchsorted(tiers, problem.tier).astype(np.int64)


def objective_cost(
    problem: Problem, rows: np.ndarray, cols: np.ndarray, squared: bool
) -> np.ndarray:
    """The cost the objective sums for each (applicant, school) pair: cost, or cost squared."""
    cost = problem.cost[rows, cols].astype(np.int64)
    if not squared:
        return cost
    if cost.size and int(cost.max()) > SQUARED_COST_LIMIT:
        raise ProblemError(
            f"cost {int(cost.max())} {problem.cost_unit} is too large to square in int64; "
            "use a coarser unit or squared=False"
        )
    return cost * cost


def preference_position(problem: Problem, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Position of each eligible (applicant, school) pair in the applicant's cost order.

    `rows` must be sorted and each row's pairs must be all of that applicant's eligible schools;
    0 is the nearest eligible school, ties by school index.
    """
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    cost = problem.cost[rows, cols]
    span = int(cost.max()) + 1
    row_major = bool(np.all(np.diff(rows * problem.m + cols) > 0))
    if row_major and problem.n * span < 1 << 62:
        order = np.argsort(rows * span + cost, kind="stable")
    else:
        order = np.lexsort((cols, cost, rows))
    counts = np.bincount(rows, minlength=problem.n)
    starts = np.cumsum(counts) - counts
    position = np.empty(rows.size, dtype=np.int64)
    position[order] = np.arange(rows.size) - starts[rows[order]]
    return position


def lexicographic_value(
    problem: Problem, assignment: np.ndarray, squared: bool = False
) -> tuple[int, ...]:
    """Levels 1 and 2 of the objective as a tuple to compare with `<` (lower is better).

    (-placed tier 0, -placed tier 1, ..., cost tier 0, cost tier 1, ...).
    """
    tiers, rank = tier_ranks(problem)
    placed = np.asarray(assignment) >= 0
    rows = np.flatnonzero(placed)
    costs = objective_cost(problem, rows, np.asarray(assignment)[rows], squared)
    counts = [-int(np.sum(rank[rows] == t)) for t in range(len(tiers))]
    totals = [int(costs[rank[rows] == t].sum()) for t in range(len(tiers))]
    return tuple(counts + totals)


def pair_positions(problem: Problem, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """`preference_position` of arbitrary eligible (applicant, school) pairs."""
    eligible_rows, eligible_cols = np.nonzero(problem.eligible)
    position = preference_position(
        problem, eligible_rows.astype(np.int64), eligible_cols.astype(np.int64)
    )
    keys = eligible_rows.astype(np.int64) * problem.m + eligible_cols
    return position[np.searchsorted(keys, np.asarray(rows) * problem.m + np.asarray(cols))]


def pair_levels(
    problem: Problem, rows: np.ndarray, cols: np.ndarray, squared: bool, tie_break: bool
) -> list[np.ndarray]:
    """What placing each applicant of `rows` at the school of `cols` adds to every level.

    Levels in order: placed of each tier (to maximise), cost of each tier (to minimise), then
    with `tie_break` the lottery tie-break (to minimise): lottery rank + (n - rank) * position
    of the school in the applicant's cost order, so earlier ranks are placed first and get the
    nearer of two schools when everything above is equal.
    """
    _, rank = tier_ranks(problem)
    tiers = int(rank.max()) + 1 if rank.size else 0
    cost = objective_cost(problem, rows, cols, squared)
    of_tier = [rank[rows] == t for t in range(tiers)]
    levels = [mask.astype(np.int64) for mask in of_tier]
    levels += [np.where(mask, cost, 0) for mask in of_tier]
    if tie_break:
        lottery = problem.lottery()[rows]
        levels.append(lottery + (problem.n - lottery) * pair_positions(problem, rows, cols))
    return levels


def level_senses(problem: Problem, tie_break: bool) -> list[bool]:
    """For each level of `pair_levels`, True if it is maximised."""
    tiers = len(np.unique(problem.tier))
    return [True] * tiers + [False] * tiers + ([False] if tie_break else [])


def level_values(
    problem: Problem, assignment: np.ndarray, squared: bool, tie_break: bool
) -> tuple[int, ...]:
    """The value of every level of `pair_levels` for an assignment."""
    assignment = np.asarray(assignment, dtype=np.int64)
    rows = np.flatnonzero(assignment >= 0)
    return tuple(
        int(v.sum()) for v in pair_levels(problem, rows, assignment[rows], squared, tie_break)
    )
