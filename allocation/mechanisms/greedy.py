"""First come, first served: in arrival order each applicant takes her nearest school with room."""

from __future__ import annotations

import numpy as np

from allocation.explain import (
    MAX_LISTED,
    amount,
    listed,
    passed,
    passed_over_by_applicant,
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


def _explain(
    problem: Problem, assignment: np.ndarray, filled_at: np.ndarray
) -> tuple[Explanation, ...]:
    closer = passed_over_by_applicant(problem, assignment, by_cost=True)
    no_seats = (problem.capacity == 0).tolist()
    filled_list = filled_at.tolist()
    explanations = []
    for i in range(problem.n):
        entries: list[PassedOver] = []
        clauses: list[str] = []
        for s in closer.get(i, []):
            # Only the schools a sentence names need their clause worded.
            worded = len(clauses) < MAX_LISTED
            name = (
                f"{school_label(problem, s)} ({amount(problem.cost[i, s], problem.cost_unit)})"
                if worded
                else ""
            )
            if no_seats[s]:
                entries.append(passed(problem, i, s, "no seats", {"filled_before": None}))
                clauses.append(f"{name} offers no seats" if worded else "")
            else:
                k = filled_list[s] + 1
                entries.append(passed(problem, i, s, "full", {"filled_before": k}))
                clauses.append(f"{name} had filled with application number {k}" if worded else "")
        own = int(assignment[i])
        arrival = f"Your application was number {i + 1} in arrival order (first come, first served)"
        if own < 0:
            if entries:
                reason = f"Not placed. {arrival}; every eligible school was full: "
                reason += f"{listed(clauses)}."
            else:
                reason = "Not placed: you are not eligible for any school."
            explanations.append(
                Explanation(problem.applicant_ids[i], None, None, None, reason, tuple(entries))
            )
            continue
        label = f"{school_label(problem, own)} ({amount(problem.cost[i, own], problem.cost_unit)})"
        if entries:
            reason = f"Placed at {label}. {arrival}; nearer schools were full: {listed(clauses)}."
        else:
            reason = f"Placed at {label}, the nearest school you are eligible for."
        explanations.append(
            Explanation(
                problem.applicant_ids[i],
                own,
                problem.school_ids[own],
                int(problem.cost[i, own]),
                reason,
                tuple(entries),
            )
        )
    return tuple(explanations)
