"""Independent checks of an assignment: capacity, eligibility, stability, optimality, side rules."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from allocation.objective import lexicographic_value
from allocation.priority import SchoolPriority, preferred_pairs
from allocation.problem import Problem
from allocation.result import Status

OPTIMALITY_CHECK_MAX_PAIRS = 2_000
"""`nearest` is compared with a CP-SAT solve when applicants x schools is at most this."""


@dataclass(frozen=True)
class Checks:
    """Each check passed (True), failed (False) or does not apply / was not run (None)."""

    capacity_ok: bool
    assignment_ok: bool
    eligibility_ok: bool
    stable: bool | None
    optimal: bool | None
    siblings_ok: bool | None
    max_cost_ok: bool | None
    messages: tuple[str, ...]

    @property
    def hard_ok(self) -> bool:
        """Capacity, one school per applicant, eligibility, and the rules `constrained` enforces."""
        return (
            self.capacity_ok
            and self.assignment_ok
            and self.eligibility_ok
            and self.siblings_ok is not False
            and self.max_cost_ok is not False
        )

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data."""
        return {**asdict(self), "hard_ok": self.hard_ok}


def run_checks(
    problem: Problem,
    result_assignment: np.ndarray,
    mechanism: str,
    *,
    squared: bool = False,
    status: Status | None = None,
    verify_optimal: bool = True,
    time_limit_s: float = 10.0,
) -> Checks:
    """Check an assignment of `problem` produced by `mechanism`.

    Always: array shape and range (each applicant at most one school), capacity, eligibility.
    "da": no blocking pair. "nearest": its lexicographic objective equals a CP-SAT solve's on
    small problems (n * m <= OPTIMALITY_CHECK_MAX_PAIRS, when `verify_optimal`).
    "constrained": sibling groups together and nobody beyond `max_cost` (skipped when `status`
    says no assignment was found).
    """
    messages: list[str] = []
    assignment = np.asarray(result_assignment)
    assignment_ok = _check_shape(problem, assignment, messages)
    if not assignment_ok:
        return Checks(True, False, True, None, None, None, None, tuple(messages))
    assignment = assignment.astype(np.int64)
    capacity_ok = _check_capacity(problem, assignment, messages)
    eligibility_ok = _check_eligibility(problem, assignment, messages)
    stable = optimal = siblings_ok = max_cost_ok = None
    if mechanism == "da":
        blocking = blocking_pairs(problem, assignment)
        stable = not blocking
        if blocking:
            a, s = blocking[0]
            messages.append(
                f"not stable: {len(blocking)} blocking pair(s), e.g. applicant "
                f"{problem.applicant_ids[a]!r} and school {problem.school_ids[s]!r}"
            )
    if mechanism == "nearest" and verify_optimal:
        if problem.n * problem.m <= OPTIMALITY_CHECK_MAX_PAIRS:
            optimal = _check_optimal(problem, assignment, squared, time_limit_s, messages)
        else:
            messages.append(
                f"optimality not cross-checked by CP-SAT above {OPTIMALITY_CHECK_MAX_PAIRS:,} "
                "applicant-school pairs; the flow's potentials certified every stage (no pair "
                "of the full cost matrix has a negative reduced cost)"
            )
    if mechanism == "constrained" and status not in (Status.TIME_LIMIT, Status.INFEASIBLE):
        siblings_ok = _check_siblings(problem, assignment, messages)
        max_cost_ok = _check_max_cost(problem, assignment, messages)
    return Checks(
        capacity_ok,
        assignment_ok,
        eligibility_ok,
        stable,
        optimal,
        siblings_ok,
        max_cost_ok,
        tuple(messages),
    )


def _check_shape(problem: Problem, assignment: np.ndarray, messages: list[str]) -> bool:
    if assignment.shape != (problem.n,) or assignment.dtype.kind not in "iu":
        messages.append(
            f"assignment has shape {assignment.shape} and dtype {assignment.dtype}; "
            f"expected integers of shape ({problem.n},)"
        )
        return False
    bad = np.flatnonzero((assignment < -1) | (assignment >= problem.m))
    if bad.size:
        messages.append(
            f"{bad.size} applicant(s) have a school index outside -1..{problem.m - 1}, e.g. "
            f"{problem.applicant_ids[bad[0]]!r} -> {int(assignment[bad[0]])}"
        )
        return False
    return True


def _check_capacity(problem: Problem, assignment: np.ndarray, messages: list[str]) -> bool:
    used = np.bincount(assignment[assignment >= 0], minlength=problem.m)[: problem.m]
    over = np.flatnonzero(used > problem.capacity)
    for s in over[:5].tolist():
        messages.append(
            f"school {problem.school_ids[s]!r} holds {int(used[s])} pupils, over its capacity "
            f"{int(problem.capacity[s])}"
        )
    return not over.size


def _check_eligibility(problem: Problem, assignment: np.ndarray, messages: list[str]) -> bool:
    rows = np.flatnonzero(assignment >= 0)
    bad = rows[problem.cost[rows, assignment[rows]] < 0]
    if bad.size:
        i = int(bad[0])
        messages.append(
            f"{bad.size} applicant(s) placed at a school they are not eligible for, e.g. "
            f"{problem.applicant_ids[i]!r} at {problem.school_ids[int(assignment[i])]!r}"
        )
    return not bad.size


def blocking_pairs(problem: Problem, assignment: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (applicant, school) that would both rather be matched to each other.

    The applicant prefers the school (by her list, see `preferred_pairs`) and the school has a
    free seat or admitted someone of lower priority (tier, then cost, then lottery).
    """
    rows, cols = preferred_pairs(problem, assignment)
    if rows.size == 0:
        return []
    priority = SchoolPriority(problem)
    used = np.bincount(assignment[assignment >= 0], minlength=problem.m)[: problem.m]
    worst = np.full(problem.m, -1, dtype=np.int64)
    placed = np.flatnonzero(assignment >= 0)
    np.maximum.at(worst, assignment[placed], priority.key(placed, assignment[placed]))
    room = used[cols] < problem.capacity[cols]
    beats = priority.key(rows, cols) < worst[cols]
    blocking = np.flatnonzero(room | beats)
    return list(zip(rows[blocking].tolist(), cols[blocking].tolist(), strict=True))


def _check_optimal(
    problem: Problem,
    assignment: np.ndarray,
    squared: bool,
    time_limit_s: float,
    messages: list[str],
) -> bool | None:
    # CP-SAT loads in 0.3 s: only small problems are checked against it.
    from allocation.lexsat import solve_lexicographic

    reference = solve_lexicographic(
        problem,
        allowed=problem.eligible,
        squared=squared,
        siblings=False,
        tie_break=False,
        hint=assignment,
        time_limit_s=time_limit_s,
    )
    if reference.status is not Status.OPTIMAL:
        messages.append("optimality not verified: CP-SAT did not finish within its time limit")
        return None
    mine = lexicographic_value(problem, assignment, squared)
    best = lexicographic_value(problem, reference.assignment, squared)
    if mine != best:
        messages.append(
            f"not optimal: objective (-placed per tier, cost per tier) {mine} vs CP-SAT {best}"
        )
        return False
    return True


def _check_siblings(problem: Problem, assignment: np.ndarray, messages: list[str]) -> bool:
    if problem.sibling_group is None:
        return True
    schools: dict[str, set[int]] = {}
    for group, school in zip(problem.sibling_group, assignment.tolist(), strict=True):
        if group is not None:
            schools.setdefault(group, set()).add(school)
    split = sorted(group for group, found in schools.items() if len(found) > 1)
    if split:
        messages.append(f"{len(split)} sibling group(s) split, e.g. {split[0]!r}")
    return not split


def _check_max_cost(problem: Problem, assignment: np.ndarray, messages: list[str]) -> bool:
    if problem.max_cost is None:
        return True
    rows = np.flatnonzero(assignment >= 0)
    beyond = rows[problem.cost[rows, assignment[rows]] > problem.max_cost]
    if beyond.size:
        messages.append(
            f"{beyond.size} applicant(s) placed beyond max_cost {problem.max_cost}, e.g. "
            f"{problem.applicant_ids[int(beyond[0])]!r}"
        )
    return not beyond.size
