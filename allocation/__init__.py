"""Pure allocation library: problem -> mechanism -> result; imports numpy and OR-Tools only.

Build a `Problem` (applicants, schools, integer costs such as road metres with INELIGIBLE for
pairs that are not candidates, classes and legal class sizes, priority tiers, a published
lottery seed), then call `solve(problem, mechanism)`:

- "nearest": near-home optimal by lexicographic min-cost flow (OR-Tools): as many placed as
  possible with tier 0 first, then least total cost tier by tier, ties by the lottery;
- "da": applicant-proposing deferred acceptance, schools ranking by tier, cost, lottery;
- "constrained": the nearest objective with siblings together and a hard max_cost (CP-SAT);
- "greedy": first come, first served, the baseline.

The `Result` carries the assignment, seats and classes per school, an explanation per
applicant, metrics, independent checks and a run record (input hash, seed, code version,
parameters, output hash) so that a run can be reproduced byte for byte.

Modules: problem (input, lottery), objective (the lexicographic near-home objective), grouping
(children with identical cost rows and tiers merged), lexgroup (the lexicographic min-cost flow
on merged children, priced against the whole cost matrix and certified by potentials),
lextransport (its cost stages as transportation problems when everyone is placed), transport
(exact transportation to few schools by cost scaling, certified by school prices), lexties
(its lottery stage, per child), lexflow (the same flow with one node per child and every arc, a
reference for tests), lexsat (the same objective in CP-SAT),
mechanisms/* (one per mechanism), priority (school priority, preferences), explain (wording),
metrics, checks, result, solve (entry point), synthetic (made-up cities for tests), errors.

Limits: costs are int64; squared costs must stay below about 3e9 (and the flow solver rejects
arc costs near int64 / number of nodes with a ProblemError). Tiers need no big-M weights: each
level is solved on the optimal face of the previous ones. `constrained` proves optimality on
a few hundred applicants; beyond that it returns FEASIBLE (never worse than its warm start), and
above 400,000 applicant-school pairs it returns its warm start without a CP-SAT search.
"""

from allocation.checks import Checks, run_checks
from allocation.errors import AllocationCheckError, AllocationError, ProblemError, SolverError
from allocation.metrics import Metrics, compute_metrics
from allocation.problem import (
    COST_SCALE,
    INELIGIBLE,
    LOWER_SECONDARY_CLASS_SIZE,
    LOWER_SECONDARY_NORM_M,
    PRIMARY_CLASS_SIZE,
    PRIMARY_NORM_M,
    Problem,
    lottery_numbers,
)
from allocation.result import Explanation, PassedOver, Result, RunRecord, Status
from allocation.solve import MECHANISMS, Mechanism, solve
from allocation.version import __version__

__all__ = [
    "COST_SCALE",
    "INELIGIBLE",
    "LOWER_SECONDARY_CLASS_SIZE",
    "LOWER_SECONDARY_NORM_M",
    "MECHANISMS",
    "PRIMARY_CLASS_SIZE",
    "PRIMARY_NORM_M",
    "AllocationCheckError",
    "AllocationError",
    "Checks",
    "Explanation",
    "Mechanism",
    "Metrics",
    "PassedOver",
    "Problem",
    "ProblemError",
    "Result",
    "RunRecord",
    "SolverError",
    "Status",
    "__version__",
    "compute_metrics",
    "lottery_numbers",
    "run_checks",
    "solve",
]
