"""First come, first served: in arrival order each applicant takes her nearest school with room."""

from __future__ import annotations

import numpy as np

from allocation.explain import (
    MAX_LISTED,
    amount,
    choice_of,
    cyclic_gc_paused,
    listed,
    nearer_pairs,
    own_costs,
    school_label,
)
from allocation.mechanisms.outcome import Outcome
from allocation.problem import Problem
from allocation.result import Explanation, PassedOver, Status

_NONE = np.iinfo(np.int64).max


def solve_greedy(problem: Problem, *, explain: bool = True) -> Outcome:
    """The baseline officers know, for comparison only.

    Arrival order is the order of applicants in the problem: the service passes applications
    sorted by the time they were received ("first come"). Each applicant in turn takes the
    eligible school with the lowest cost that still has a free seat (ties by school index).
    Tiers, the lottery, preferences, `max_cost` and sibling groups play no part. Explanations
    number applications from 1 in arrival order; a passed-over school's cutoff
    {"filled_before": k} is the number of the application that took its last seat.
    """
    remaining = problem.capacity.copy()
    masked = np.where(problem.eligible, problem.cost, _NONE)
    filled_at = np.full(problem.m, -1, dtype=np.int64)
    assignment = np.full(problem.n, -1, dtype=np.int64)
    for i in range(problem.n):
        row = np.where(remaining > 0, masked[i], _NONE)
        if problem.m == 0:
            break
        s = int(np.argmin(row))
        if row[s] == _NONE:
            continue
        assignment[i] = s
        remaining[s] -= 1
        if remaining[s] == 0:
            filled_at[s] = i
    explanations = _explain(problem, assignment, filled_at) if explain else ()
    return Outcome(assignment, Status.COMPLETE, explanations)


@cyclic_gc_paused()
def _explain(
    problem: Problem, assignment: np.ndarray, filled_at: np.ndarray
) -> tuple[Explanation, ...]:
    n = problem.n
    rows, schools = nearer_pairs(problem, assignment)
    # Every pair's facts are read from the arrays at once, not per pair.
    bounds = np.searchsorted(rows, np.arange(n + 1)).tolist()
    pair_school: list[int] = schools.tolist()
    pair_cost: list[int] = problem.cost[rows, schools].tolist()
    no_seats = (problem.capacity == 0).tolist()
    filled_list = filled_at.tolist()
    school_ids = problem.school_ids
    unit = problem.cost_unit
    costs = own_costs(problem, assignment)
    explanations = []
    for i, own in enumerate(assignment.tolist()):
        entries: list[PassedOver] = []
        clauses: list[str] = []
        for k in range(bounds[i], bounds[i + 1]):
            s, cost = pair_school[k], pair_cost[k]
            # Only the schools a sentence names need their clause worded.
            worded = len(clauses) < MAX_LISTED
            name = f"{school_label(problem, s)} ({amount(cost, unit)})" if worded else ""
            if no_seats[s]:
                entries.append(
                    PassedOver(s, school_ids[s], cost, "no seats", {"filled_before": None})
                )
                clauses.append(f"{name} offers no seats" if worded else "")
            else:
                number = filled_list[s] + 1
                entries.append(
                    PassedOver(s, school_ids[s], cost, "full", {"filled_before": number})
                )
                clauses.append(
                    f"{name} had filled with application number {number}" if worded else ""
                )
        arrival = f"Your application was number {i + 1} in arrival order (first come, first served)"
        ranked, choice = choice_of(problem, i, own)
        if own < 0:
            if entries:
                reason = f"Not placed. {arrival}; every school you could be placed at was full: "
                reason += f"{listed(clauses)}."
            else:
                reason = "Not placed: the problem gives no cost from you to any school."
            explanations.append(
                Explanation(
                    problem.applicant_ids[i], None, None, None, reason, tuple(entries), ranked
                )
            )
            continue
        label = f"{school_label(problem, own)} ({amount(costs[i], unit)})"
        if entries:
            reason = f"Placed at {label}. {arrival}; nearer schools were full: {listed(clauses)}."
        else:
            reason = f"Placed at {label}, the nearest school you are eligible for."
        explanations.append(
            Explanation(
                problem.applicant_ids[i],
                own,
                school_ids[own],
                costs[i],
                reason,
                tuple(entries),
                ranked,
                choice,
            )
        )
    return tuple(explanations)
