"""Near-home optimal allocation: lexicographic min-cost flow over priority tiers (OR-Tools)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from allocation import lexflow
from allocation.explain import (
    amount,
    listed,
    passed,
    passed_over_by_applicant,
    school_label,
    total_name,
)
from allocation.mechanisms.outcome import Outcome, seats_used
from allocation.objective import objective_cost, preference_position, tier_ranks
from allocation.problem import Problem
from allocation.result import Explanation, PassedOver, Status

SHORTLIST = 8
"""Each applicant's nearest eligible schools are tried first; others enter if they price in."""


def solve_nearest(problem: Problem, *, squared: bool = False, explain: bool = True) -> Outcome:
    """Place everyone who can be placed, tiers first, at the least total (squared) cost.

    The objective is `allocation.objective`'s, solved exactly stage by stage (see `lexflow`).
    Guarantees: the number placed per tier is lexicographically maximal (so as many children as
    possible are placed); given that, tier 0's total cost is minimal, then tier 1's, ...; the
    lottery breaks remaining ties. `max_cost` and sibling groups are not constraints here.
    """
    net = lexflow.build_network(problem.eligible, problem.capacity)
    app, sch = net.elig_applicant, net.elig_school
    position = preference_position(problem, app, sch)
    real = objective_cost(problem, app, sch, squared)
    stages, tier_stage = _stages(problem, net, real, position)
    shortlist = np.ones(net.num_arcs, dtype=bool)
    shortlist[net.elig_arcs] = position < SHORTLIST
    flow, faces = lexflow.lexicographic(net, stages, shortlist)
    taken = flow[net.elig_arcs] > 0
    assignment = np.full(problem.n, -1, dtype=np.int64)
    assignment[app[taken]] = sch[taken]
    explanations = (
        _explain(problem, net, flow, faces, stages, tier_stage, assignment, squared)
        if explain
        else ()
    )
    return Outcome(assignment, Status.OPTIMAL, explanations)


def _stages(
    problem: Problem, net: lexflow.Network, real: np.ndarray, position: np.ndarray
) -> tuple[list[Callable[[], np.ndarray]], dict[int, int]]:
    """Arc costs of each stage (built on demand), and the stage index of each tier's costs."""
    tiers, rank = tier_ranks(problem)
    arcs = net.num_arcs
    src, elig = net.src_arcs, net.elig_arcs
    app = net.elig_applicant

    def count() -> np.ndarray:
        costs = np.zeros(arcs, dtype=np.int64)
        costs[src] = -(len(tiers) - rank[net.src_applicant])
        return costs

    def tier_cost(t: int) -> Callable[[], np.ndarray]:
        def costs_of_tier() -> np.ndarray:
            costs = np.zeros(arcs, dtype=np.int64)
            costs[elig] = np.where(rank[app] == t, real, 0)
            return costs

        return costs_of_tier

    def tie_break() -> np.ndarray:
        lottery = problem.lottery()
        costs = np.zeros(arcs, dtype=np.int64)
        costs[src] = lottery[net.src_applicant]
        costs[elig] = (problem.n - lottery[app]) * position
        return costs

    stages: list[Callable[[], np.ndarray]] = [count]
    tier_stage: dict[int, int] = {}
    for t in range(len(tiers)):
        tier_stage[t] = len(stages)
        stages.append(tier_cost(t))
    stages.append(tie_break)
    return stages, tier_stage


def _explain(
    problem: Problem,
    net: lexflow.Network,
    flow: np.ndarray,
    faces: list[lexflow.Face],
    stages: list[Callable[[], np.ndarray]],
    tier_stage: dict[int, int],
    assignment: np.ndarray,
    squared: bool,
) -> tuple[Explanation, ...]:
    """Each closer school not given is full; price it by the tier's residual distances.

    For applicant a at school o and closer school s, `others_further` is the cheapest chain of
    moves of other children (residual distance D[s, o] in a's tier stage) that frees a seat at s
    and refills the seat a leaves at o; `price` = others_further - you_would_save is what the
    tier's total would have risen by. The optimum guarantees price >= 0.
    """
    _, rank = tier_ranks(problem)
    closer = passed_over_by_applicant(problem, assignment, by_cost=True)
    full = seats_used(assignment, problem.m) >= problem.capacity
    rows = np.fromiter((i for i, schools in closer.items() for _ in schools), dtype=np.int64)
    cols = np.fromiter((s for schools in closer.values() for s in schools), dtype=np.int64)
    own = assignment[rows] if rows.size else np.zeros(0, dtype=np.int64)
    placed = own >= 0
    price = np.full(rows.size, np.nan)
    chain = np.full(rows.size, np.nan)
    saved = np.zeros(rows.size, dtype=np.int64)
    for t, stage in tier_stage.items():
        pick = np.flatnonzero(placed & (rank[rows] == t))
        if pick.size == 0:
            continue
        arc = net.elig_arc_index(rows[pick], cols[pick])
        own_arc = net.elig_arc_index(rows[pick], own[pick])
        costs, face = stages[stage](), faces[stage]
        distance = lexflow.school_distances(net, face, flow, costs)
        saved[pick] = costs[own_arc] - costs[arc]
        d = distance[cols[pick], own[pick]]
        d[~(face.free[arc] & face.free[own_arc])] = np.inf
        chain[pick] = np.where(np.isfinite(d), d, np.nan)
        price[pick] = chain[pick] - saved[pick]
    unit = f"{problem.cost_unit}²" if squared else problem.cost_unit
    measure = total_name(problem, squared)
    explanations = []
    k = 0
    for i in range(problem.n):
        schools = closer.get(i, [])
        span = slice(k, k + len(schools))
        k += len(schools)
        own_school = int(assignment[i])
        if own_school < 0:
            explanations.append(_unplaced(problem, i, schools, full))
            continue
        label = (
            f"{school_label(problem, own_school)} "
            f"({amount(problem.cost[i, own_school], problem.cost_unit)})"
        )
        entries, clauses = [], []
        for s, p, c, v in zip(schools, price[span], chain[span], saved[span], strict=True):
            entry, clause = _priced(problem, i, s, bool(full[s]), p, c, int(v), unit, measure)
            entries.append(entry)
            clauses.append(clause)
        if entries:
            reason = f"Placed at {label}. Closer schools were not given: {listed(clauses)}."
        else:
            reason = f"Placed at {label}, the nearest school you are eligible for."
        explanations.append(
            Explanation(
                problem.applicant_ids[i],
                own_school,
                problem.school_ids[own_school],
                int(problem.cost[i, own_school]),
                reason,
                tuple(entries),
            )
        )
    return tuple(explanations)


def _priced(
    problem: Problem,
    i: int,
    s: int,
    is_full: bool,
    price: float,
    chain: float,
    saved: int,
    unit: str,
    measure: str,
) -> tuple[PassedOver, str]:
    """The passed-over entry and reason clause for closer school s."""
    name = f"{school_label(problem, s)} ({amount(problem.cost[i, s], problem.cost_unit)})"
    why = "full" if is_full else "not chosen (tie)"
    if problem.capacity[s] == 0:
        return passed(problem, i, s, "no seats", {"price": None}), f"{name} offers no seats"
    if np.isnan(chain):
        cutoff: dict[str, object] = {
            "price": None,
            "others_further": None,
            "you_would_save": saved,
            "unit": unit,
        }
        clause = (
            f"{name} was full, and its seats could not be freed without moving a child of "
            "higher priority or leaving a child without a place"
        )
        return passed(problem, i, s, why, cutoff), clause
    others = round(chain)
    cutoff = {
        "price": round(price),
        "others_further": others,
        "you_would_save": saved,
        "unit": unit,
    }
    raised = (
        f"a seat there for you would have raised {measure} of other children of your "
        f"priority group by {amount(others, unit)}"
    )
    if saved == 0 and price == 0:
        clause = f"{name}, as near as your school, was full; the published lottery decided"
    elif saved == 0:
        clause = f"{name}, as near as your school, was full; {raised}"
    elif price > 0:
        clause = f"{name} was full; {raised}, more than the {amount(saved, unit)} you would save"
    else:
        clause = (
            f"{name} was full; {raised}, exactly the {amount(saved, unit)} you would save, so "
            "the published lottery decided"
        )
    return passed(problem, i, s, why, cutoff), clause


def _unplaced(problem: Problem, i: int, schools: list[int], full: np.ndarray) -> Explanation:
    entries = tuple(
        passed(problem, i, s, _why_unplaced(problem, s, full), {"price": None}) for s in schools
    )
    if not schools:
        reason = "Not placed: you are not eligible for any school."
    else:
        names = [
            f"{school_label(problem, s)} ({amount(problem.cost[i, s], problem.cost_unit)})"
            for s in schools
        ]
        reason = (
            "Not placed: every school you are eligible for was filled by children of higher "
            f"priority or nearer to it: {listed(names)}."
        )
    return Explanation(problem.applicant_ids[i], None, None, None, reason, entries)


def _why_unplaced(problem: Problem, s: int, full: np.ndarray) -> str:
    if problem.capacity[s] == 0:
        return "no seats"
    return "full" if full[s] else "not chosen"
