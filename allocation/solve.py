"""The one entry point: validate, run a mechanism, then measure, check and record the result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from allocation.checks import run_checks
from allocation.errors import AllocationCheckError, ProblemError
from allocation.explain import amount
from allocation.explanation_table import ExplanationTable
from allocation.mechanisms.da import solve_da
from allocation.mechanisms.greedy import solve_greedy
from allocation.mechanisms.nearest import solve_nearest
from allocation.mechanisms.outcome import Outcome, seats_used
from allocation.metrics import compute_metrics
from allocation.priority import forget_pairs
from allocation.problem import Problem
from allocation.result import Explanation, Result, RunRecord, output_hash
from allocation.version import __version__

Mechanism = Literal["nearest", "da", "constrained", "greedy"]
MECHANISMS: tuple[str, ...] = get_args(Mechanism)


def solve(
    problem: Problem,
    mechanism: Mechanism,
    *,
    squared: bool = False,
    time_limit_s: float = 30.0,
    norm: int | None = None,
    explain: bool = True,
) -> Result:
    """Allocate seats with one mechanism and return the checked, explained, recorded result.

    - "nearest": optimal near-home placement (min-cost flow); tiers first, see objective.py.
    - "da": applicant-proposing deferred acceptance; stable.
    - "constrained": as nearest, plus siblings together and a hard `max_cost` (CP-SAT, bounded
      by `time_limit_s`).
    - "greedy": first come, first served in the order applicants are listed (baseline).

    `squared` minimises squared costs (nearest, constrained). `norm` is the distance norm the
    metrics count breaches of and explanations flag (default `problem.max_cost`), e.g.
    PRIMARY_NORM_M or LOWER_SECONDARY_NORM_M when costs are road metres.

    `explain=False` skips the explanations (`explanations` is then empty), for a check that
    needs only the assignment and its hash, such as solving a stored run again.

    Raises ProblemError for a malformed problem and AllocationCheckError if the result breaks
    capacity, eligibility or a rule the mechanism promises (a bug). The same problem (and seed)
    gives the same assignment and output hash; for `constrained` stopped by CP-SAT's
    deterministic time limit too, but not if the wall-clock guard stopped it first.
    """
    problem.validate()
    if mechanism not in MECHANISMS:
        raise ProblemError(
            f"unknown mechanism {mechanism!r}; choose one of {', '.join(MECHANISMS)}"
        )
    if not time_limit_s > 0:
        raise ProblemError(f"time_limit_s is {time_limit_s!r}; give a positive number of seconds")
    if norm is not None and norm < 0:
        raise ProblemError(f"norm is {norm}; give a non-negative cost or None")
    started = time.perf_counter()
    outcome = _run(problem, mechanism, squared, time_limit_s, explain)
    solve_seconds = time.perf_counter() - started
    assignment = outcome.assignment.astype(np.int64)
    assignment.setflags(write=False)
    checks = run_checks(problem, assignment, mechanism, squared=squared, status=outcome.status)
    if not checks.hard_ok:
        raise AllocationCheckError(
            f"{mechanism} produced an invalid assignment (a bug, please report): "
            + "; ".join(checks.messages)
        )
    limit = norm if norm is not None else problem.max_cost
    explanations = _flag_breaches(problem, outcome.explanations, limit)
    used = seats_used(assignment, problem.m)
    # Classes opened count the pupils placed in earlier rounds too.
    opened = -(-(used + problem.taken) // problem.class_size)
    used.setflags(write=False)
    opened.setflags(write=False)
    digest = output_hash(mechanism, outcome.status, assignment)
    record = RunRecord(
        input_hash=problem.input_hash(),
        seed=int(problem.seed),
        code_version=__version__,
        parameters={
            "mechanism": mechanism,
            "squared": squared,
            "norm": norm,
            "time_limit_s": time_limit_s,
        },
        output_hash=digest,
    )
    metrics = compute_metrics(problem, assignment, norm)
    forget_pairs()
    return Result(
        mechanism=mechanism,
        status=outcome.status,
        assignment=assignment,
        seats_used=used,
        classes_opened=opened,
        explanations=explanations,
        metrics=metrics,
        checks=checks,
        record=record,
        solve_seconds=solve_seconds,
    )


def _run(
    problem: Problem, mechanism: str, squared: bool, time_limit_s: float, explain: bool
) -> Outcome:
    if mechanism == "nearest":
        return solve_nearest(problem, squared=squared, explain=explain)
    if mechanism == "da":
        return solve_da(problem, explain=explain)
    if mechanism == "constrained":
        # CP-SAT loads in 0.3 s: only a constrained run pays for it.
        from allocation.mechanisms.constrained import solve_constrained

        return solve_constrained(problem, squared=squared, time_limit_s=time_limit_s)
    return solve_greedy(problem, explain=explain)


def _flag_breaches(
    problem: Problem, explanations: Sequence[Explanation], limit: int | None
) -> ExplanationTable:
    """The explanations as a table, whose reasons say so of everyone placed beyond the norm."""
    table = (
        explanations
        if isinstance(explanations, ExplanationTable)
        else ExplanationTable.of(explanations, problem.school_ids)
    )
    if limit is None:
        return table
    return table.with_norm(
        limit, f" This is beyond the norm of {amount(limit, problem.cost_unit)}."
    )
