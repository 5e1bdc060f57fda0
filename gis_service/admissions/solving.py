"""The pure solving of one round, as a piece of batch work any executor may run anywhere."""

from __future__ import annotations

from dataclasses import dataclass, replace

from allocation.problem import Problem
from allocation.result import Result
from allocation.solve import Mechanism, solve


@dataclass(frozen=True)
class SolveJob:
    """One round's problem and how to solve it: everything a worker needs, and nothing of the
    database (it imports only the allocation library)."""

    problem: Problem
    mechanism: str
    squared: bool
    time_limit_s: float
    norm: int


def solve_job(_shared: None, job: SolveJob) -> Result:
    """Solve one round's problem (an executor's piece: no shared input).

    The result comes back without the mechanism's lazy wording of each explanation (a
    closure over the solver's state, which cannot travel between processes); storing a run
    reads only the explanations' columns, which it keeps.
    """
    mechanism: Mechanism = job.mechanism  # type: ignore[assignment]
    result = solve(
        job.problem,
        mechanism,
        squared=job.squared,
        time_limit_s=job.time_limit_s,
        norm=job.norm,
    )
    return replace(result, explanations=replace(result.explanations, word=None))
