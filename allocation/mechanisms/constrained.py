"""Near-home allocation with side rules (siblings together, hard maximum cost) by CP-SAT."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from allocation.explain import (
    amount,
    choice_of,
    cyclic_gc_paused,
    listed,
    passed,
    passed_over_by_applicant,
    school_label,
)
from allocation.lexsat import solve_lexicographic, units_of
from allocation.mechanisms.nearest import solve_nearest
from allocation.mechanisms.outcome import Outcome, seats_used
from allocation.objective import level_values
from allocation.problem import INELIGIBLE, Problem
from allocation.result import Explanation, PassedOver, Status


def allowed_pairs(problem: Problem) -> np.ndarray:
    """Eligible pairs within `max_cost` (all eligible pairs when it is None)."""
    allowed = problem.eligible
    if problem.max_cost is not None:
        allowed = allowed & (problem.cost <= problem.max_cost)
    return np.asarray(allowed)


def solve_constrained(problem: Problem, *, squared: bool, time_limit_s: float) -> Outcome:
    """The `nearest` objective (tiers lexicographically, then cost, then lottery) plus rules.

    Rules: members of a sibling group are all placed at the same school or none is placed; no
    one is placed beyond `max_cost`; seats per school <= classes * class_size (the classes
    opened are then ceil(seats / class_size), never above the classes offered; no further
    class balancing is attempted).

    Warm start: `nearest` within `max_cost`, with split sibling groups moved to the nearest
    school that has room for the whole group and everyone else re-placed optimally around
    them. `nearest` without the sibling rule bounds every level, so levels the warm start
    already attains need no search. Status is OPTIMAL when every level is proven optimal within
    `time_limit_s`, FEASIBLE when the limit stopped a proof (the rules still hold and the
    answer is never worse than the warm start), TIME_LIMIT when no assignment was found.
    Above CP_SAT_MAX_PAIRS applicant-school pairs the warm start is returned without search:
    OPTIMAL when it reaches `nearest`'s value on every level, else FEASIBLE (its total cost is
    then within the gap to `nearest`'s, a proven lower bound, of the optimum).
    """
    start = time.monotonic()
    allowed = allowed_pairs(problem)
    within = problem
    if problem.max_cost is not None:
        within = dataclasses.replace(problem, cost=np.where(allowed, problem.cost, INELIGIBLE))
    relaxed = solve_nearest(within, squared=squared, explain=False).assignment
    hint = _siblings_together(within, relaxed, squared)
    bounds = level_values(within, relaxed, squared, tie_break=True)
    if within is problem and level_values(problem, hint, squared, tie_break=True) == bounds:
        # The warm start reaches the relaxation's value on every level: optimal, no search.
        return Outcome(hint, Status.OPTIMAL, _explain(problem, allowed, hint, Status.OPTIMAL))
    if problem.n * problem.m > CP_SAT_MAX_PAIRS:
        # Too large for one CP-SAT model: the warm start, bounded by the relaxation.
        return Outcome(hint, Status.FEASIBLE, _explain(problem, allowed, hint, Status.FEASIBLE))
    solution = solve_lexicographic(
        problem,
        allowed=allowed,
        squared=squared,
        siblings=True,
        tie_break=True,
        hint=hint,
        time_limit_s=max(time_limit_s - (time.monotonic() - start), 0.0),
        bounds=bounds,
        polish=lambda assignment: _replace_singles(within, assignment, squared),
    )
    explanations = _explain(problem, allowed, solution.assignment, solution.status)
    return Outcome(solution.assignment, solution.status, explanations)


CP_SAT_MAX_PAIRS = 400_000
"""Above this many applicant-school pairs the CP-SAT search is skipped (see solve_constrained)."""

SIBLING_ROUNDS = 3
"""Warm-start rounds that pin each split sibling group to one school before giving up on it."""


def _siblings_together(problem: Problem, relaxed: np.ndarray, squared: bool) -> np.ndarray:
    """A feasible warm start from `nearest`: split sibling groups pinned to one school.

    Each round, every group that `nearest` split is allowed a single school and `nearest` is
    solved again (each member with the priority of the group's first-served member), so that
    other children make room where it costs least. First round: the
    school, among those its members got, with the least total cost for the group; later
    rounds: the least-cost school with room for the whole group beside everyone else. A group
    still split after SIBLING_ROUNDS is not placed; finally everyone outside sibling groups is
    placed again in the seats left.
    """
    assignment = relaxed.copy()
    groups = [g for g in units_of(problem, True) if len(g) > 1]
    cost = problem.cost.copy()
    tier = problem.tier.copy()
    for g in groups:
        tier[g] = tier[g].min()
    allowed = problem.eligible
    for round_ in range(SIBLING_ROUNDS):
        split = [g for g in groups if len(set(assignment[g].tolist())) > 1]
        if not split:
            return assignment
        used = seats_used(assignment, problem.m)
        for g in split:
            together = np.logical_and.reduce(allowed[g], axis=0)
            if round_ == 0:
                got = np.zeros(problem.m, dtype=bool)
                got[assignment[g][assignment[g] >= 0]] = True
                options = together & got
            else:
                others = used - np.bincount(assignment[g][assignment[g] >= 0], minlength=problem.m)
                options = together & (problem.capacity - others >= len(g))
            total = np.where(options, problem.cost[g].sum(axis=0), np.iinfo(np.int64).max)
            pinned = int(np.argmin(total)) if options.any() else -1
            row = cost[g, pinned].copy() if pinned >= 0 else None
            cost[g, :] = INELIGIBLE
            if row is not None:
                cost[g, pinned] = row
        pinned_problem = dataclasses.replace(problem, cost=cost, tier=tier)
        assignment = solve_nearest(pinned_problem, squared=squared, explain=False).assignment
    for g in groups:
        if len(set(assignment[g].tolist())) > 1:
            assignment[g] = -1
    return _replace_singles(problem, assignment, squared)


def _replace_singles(problem: Problem, assignment: np.ndarray, squared: bool) -> np.ndarray:
    """Keep sibling groups where they are; place everyone else again by `nearest`.

    Given the groups' seats, `nearest` is lexicographically optimal for everyone else on the
    placement and cost levels, so the result is never lexicographically worse there than
    `assignment` (the caller compares the lottery level).
    """
    assignment = assignment.copy()
    groups = [g for g in units_of(problem, True) if len(g) > 1]
    singles = np.ones(problem.n, dtype=bool)
    for g in groups:
        singles[g] = False
    rows = np.flatnonzero(singles)
    fixed = seats_used(np.where(singles, -1, assignment), problem.m)
    rest = Problem(
        applicant_ids=tuple(problem.applicant_ids[i] for i in rows),
        school_ids=problem.school_ids,
        cost=problem.cost[rows],
        classes=problem.capacity - fixed,
        class_size=np.ones(problem.m, dtype=np.int64),
        tier=problem.tier[rows],
        seed=problem.seed,
    )
    assignment[rows] = solve_nearest(rest, squared=squared, explain=False).assignment
    return assignment


@cyclic_gc_paused()
def _explain(
    problem: Problem, allowed: np.ndarray, assignment: np.ndarray, status: Status
) -> tuple[Explanation, ...]:
    closer = passed_over_by_applicant(problem, assignment, by_cost=True)
    used = seats_used(assignment, problem.m)
    capacity = problem.capacity
    group_of = {i: members for members in units_of(problem, True) for i in members}
    explanations = []
    for i in range(problem.n):
        members = group_of[i]
        entries: list[PassedOver] = []
        clauses: list[str] = []
        for s in closer.get(i, []):
            entry, clause = _passed(problem, allowed, used, capacity, members, i, s, status)
            entries.append(entry)
            clauses.append(clause)
        own = int(assignment[i])
        ranked, choice = choice_of(problem, i, own)
        if own < 0:
            if status is Status.TIME_LIMIT:
                reason = "Not placed: the solver found no assignment within its time limit."
            elif not entries:
                reason = "Not placed: the problem gives no cost from you to any school."
            elif all(e.why == "beyond maximum distance" for e in entries):
                limit = amount(int(problem.max_cost or 0), problem.cost_unit)
                reason = (
                    f"Not placed: not eligible, every school is beyond the round's maximum of "
                    f"{limit}: {listed(clauses)}."
                )
            else:
                reason = f"Not placed: {listed(clauses)}."
            explanations.append(
                Explanation(
                    problem.applicant_ids[i], None, None, None, reason, tuple(entries), ranked
                )
            )
            continue
        label = f"{school_label(problem, own)} ({amount(problem.cost[i, own], problem.cost_unit)})"
        together = ""
        if len(members) > 1:
            together = f", together with your {len(members) - 1} sibling(s)"
        if entries:
            reason = f"Placed at {label}{together}. Nearer schools were not given: "
            reason += f"{listed(clauses)}."
        else:
            reason = f"Placed at {label}{together}, the nearest school you are eligible for."
        explanations.append(
            Explanation(
                problem.applicant_ids[i],
                own,
                problem.school_ids[own],
                int(problem.cost[i, own]),
                reason,
                tuple(entries),
                ranked,
                choice,
            )
        )
    return tuple(explanations)


def _passed(
    problem: Problem,
    allowed: np.ndarray,
    used: np.ndarray,
    capacity: np.ndarray,
    members: list[int],
    i: int,
    s: int,
    status: Status,
) -> tuple[PassedOver, str]:
    name = f"{school_label(problem, s)} ({amount(problem.cost[i, s], problem.cost_unit)})"
    seats: dict[str, object] = {"seats_used": int(used[s]), "capacity": int(capacity[s])}
    if not allowed[i, s]:
        limit = amount(int(problem.max_cost or 0), problem.cost_unit)
        return (
            passed(problem, i, s, "beyond maximum distance", {"max_cost": problem.max_cost}),
            f"{name} is beyond the maximum of {limit}",
        )
    if capacity[s] == 0:
        return passed(problem, i, s, "no seats", seats), f"{name} offers no seats"
    if used[s] >= capacity[s]:
        return passed(problem, i, s, "full", seats), f"{name} was full"
    if len(members) > 1:
        siblings_allowed = bool(allowed[members, s].all())
        room = int(capacity[s] - used[s])
        cutoff: dict[str, object] = {
            "sibling_group": problem.sibling_group[i] if problem.sibling_group else None,
            "siblings": len(members),
            "all_eligible": siblings_allowed,
            "free_seats": room,
        }
        why = "siblings kept together"
        if not siblings_allowed:
            return passed(problem, i, s, why, cutoff), (
                f"{name} is not open to all your siblings, who are placed together"
            )
        return passed(problem, i, s, why, cutoff), (
            f"{name} had {room} free seat(s), not enough to keep your {len(members)} siblings "
            "together without moving other children further"
        )
    why = "not chosen (time limit)" if status is not Status.OPTIMAL else "not chosen"
    return passed(problem, i, s, why, seats), f"{name} was not chosen by the optimiser"
