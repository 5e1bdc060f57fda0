"""Helpers shared by the mechanisms to word explanations in plain English."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from allocation.priority import preferred_pairs
from allocation.problem import Problem
from allocation.result import PassedOver

MAX_LISTED = 3
"""How many passed-over schools a reason sentence names; `passed_over` always holds them all."""


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small objects without cycles are built.

    Explanations are hundreds of thousands of dicts and records that hold no cycles; with the
    collector on, CPython walks all of them again and again as they pile up, which at city
    scale took about as long as building them. Reference counting still frees them as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def amount(value: int | float, unit: str) -> str:
    """A cost with thousands separators and its unit, e.g. '1,340 m'."""
    if type(value) is not int:  # plain ints, by far the most common, skip the checks
        value = int(value) if isinstance(value, int | np.integer) else round(value)
    return f"{value:,} {unit}"


def total_name(problem: Problem, squared: bool) -> str:
    """What the objective adds up, in words: distance, travel time or cost, maybe squared."""
    unit = problem.cost_unit
    noun = "distance" if unit in ("m", "km") else "travel time" if unit in ("s", "min") else "cost"
    return f"the sum of squared {noun}s" if squared else f"the total {noun}"


def school_label(problem: Problem, school: int) -> str:
    """How a school is named in a sentence."""
    return f"school {problem.school_ids[school]}"


def choice_of(problem: Problem, i: int, own: int) -> tuple[int, int | None]:
    """How many schools applicant i ranked, and the rank (1 = first) of school `own` among them
    (None when she is not placed or did not rank it)."""
    ranked = problem.ranked(i)
    if own < 0 or ranked == 0 or problem.preferences is None:
        return ranked, None
    head = problem.preferences[i][:ranked]
    return ranked, (head.index(own) + 1 if own in head else None)


def choices(problem: Problem, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`choice_of` for every applicant: how many schools each ranked (int64 [n]) and the rank
    of the school given among them (int64 [n], 0 when none)."""
    n = problem.n
    if problem.preferences is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    pairs = [choice_of(problem, i, own) for i, own in enumerate(assignment.tolist())]
    ranked = np.array([r for r, _ in pairs], dtype=np.int64).reshape(n)
    choice = np.array([c or 0 for _, c in pairs], dtype=np.int64).reshape(n)
    return ranked, choice


def ineligible_clause(name: str) -> str:
    """Why a school with no cost for the applicant was not given: the rule, named."""
    return f"you cannot be placed at {name}: the problem gives no cost from you to it"


def passed_over_by_applicant(
    problem: Problem, assignment: np.ndarray, *, by_cost: bool
) -> dict[int, list[int]]:
    """For each applicant, the schools she prefers (or, by_cost, is closer to) than her own."""
    rows, cols = preferred_pairs(problem, assignment, by_cost=by_cost)
    result: dict[int, list[int]] = {}
    if rows.size == 0:
        return result
    if by_cost or problem.preferences is None:
        costs = problem.cost[rows, cols]
        order = np.lexsort((cols, costs, rows))
        rows, cols = rows[order], cols[order]
    for i, s in zip(rows.tolist(), cols.tolist(), strict=True):
        result.setdefault(i, []).append(s)
    return result


def nearer_pairs(problem: Problem, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(applicant, school) pairs of eligible schools nearer than hers, by applicant, cost, school.

    The same pairs, in the same order, as `passed_over_by_applicant(..., by_cost=True)`, as two
    arrays (cheap at city scale, where a dict of lists is not).
    """
    rows, cols = preferred_pairs(problem, assignment, by_cost=True)
    order = np.lexsort((cols, problem.cost[rows, cols], rows))
    return rows[order], cols[order]


def own_costs(problem: Problem, assignment: np.ndarray) -> list[int]:
    """Each applicant's cost to her own school (0 when she is not placed)."""
    if problem.m == 0:
        return [0] * problem.n
    own = np.maximum(assignment, 0)
    return np.where(assignment >= 0, problem.cost[np.arange(problem.n), own], 0).tolist()


def listed(items: list[str]) -> str:
    """The first few items joined in English, with a count of the rest."""
    shown = items[:MAX_LISTED]
    rest = len(items) - len(shown)
    text = "; ".join(shown)
    if rest:
        text += f"; and {rest} more"
    return text


def passed(
    problem: Problem, applicant: int, school: int, why: str, cutoff: dict[str, object]
) -> PassedOver:
    """A PassedOver entry with the applicant's cost to the school (INELIGIBLE if not eligible)."""
    return PassedOver(
        school_index=int(school),
        school_id=problem.school_ids[school],
        cost=int(problem.cost[applicant, school]),
        why=why,
        cutoff=cutoff,
    )
