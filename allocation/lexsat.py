"""The near-home objective as a lexicographic CP-SAT model, with optional sibling groups.

Each level of `allocation.objective.pair_levels` is optimised in turn and then held at its
optimum. The search starts from a feasible warm start (the incumbent) and never returns
anything lexicographically worse than it. A level whose incumbent value already equals a known
bound (the same level of a relaxation, e.g. `nearest` without sibling rules) is proven optimal
without search. One worker, a fixed seed and a deterministic-time limit keep runs
reproducible; the wall-clock limit is a guard, and a run it stops is reported FEASIBLE.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from allocation.errors import ProblemError, SolverError
from allocation.objective import level_senses, pair_levels
from allocation.problem import Problem
from allocation.result import Status

DETERMINISTIC_SHARE = 0.5
"""CP-SAT's deterministic-time limit per level, as a share of the wall-clock time left."""


@dataclass(frozen=True, eq=False)
class SatSolution:
    """Assignment, how the search ended, and the value reached at each level settled."""

    assignment: np.ndarray
    status: Status
    levels: tuple[int, ...]


def units_of(problem: Problem, siblings: bool) -> list[list[int]]:
    """Applicants placed together: sibling groups when `siblings`, else one applicant each."""
    if not siblings or problem.sibling_group is None:
        return [[i] for i in range(problem.n)]
    units: list[list[int]] = []
    index: dict[str, int] = {}
    for i, group in enumerate(problem.sibling_group):
        if group is None:
            units.append([i])
        elif group in index:
            units[index[group]].append(i)
        else:
            index[group] = len(units)
            units.append([i])
    return units


class _Model:
    """Boolean z[u, s]: unit u (all its members) is placed at school s."""

    def __init__(self, problem: Problem, allowed: np.ndarray, units: list[list[int]]) -> None:
        self.problem = problem
        self.units = units
        self.model = cp_model.CpModel()
        unit_list: list[int] = []
        school_list: list[int] = []
        self.variables: list[cp_model.IntVar] = []
        per_school: list[list[int]] = [[] for _ in range(problem.m)]
        for u, members in enumerate(units):
            row = np.logical_and.reduce(allowed[members], axis=0)
            own = []
            for s in np.flatnonzero(row).tolist():
                z = self.model.new_bool_var(f"z{u}_{s}")
                own.append(z)
                per_school[s].append(len(self.variables))
                self.variables.append(z)
                unit_list.append(u)
                school_list.append(s)
            if len(own) > 1:
                self.model.add_at_most_one(own)
        self.unit = np.asarray(unit_list, dtype=np.int64)
        self.school = np.asarray(school_list, dtype=np.int64)
        self.size = np.asarray([len(members) for members in units], dtype=np.int64)
        capacity = problem.capacity.tolist()
        for s, indices in enumerate(per_school):
            sizes = self.size[self.unit[indices]].tolist() if indices else []
            if sum(sizes) > capacity[s]:
                terms = [self.variables[k] for k in indices]
                self.model.add(cp_model.LinearExpr.weighted_sum(terms, sizes) <= capacity[s])

    def coefficients(self, squared: bool, tie_break: bool) -> list[np.ndarray]:
        """Each level's coefficient on every variable: the sum over the unit's members."""
        sizes = self.size[self.unit]
        var_of_pair = np.repeat(np.arange(self.unit.size), sizes)
        flat = np.asarray([i for members in self.units for i in members], dtype=np.int64)
        unit_start = np.cumsum(self.size) - self.size
        offset = np.arange(var_of_pair.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = flat[unit_start[self.unit][var_of_pair] + offset]
        cols = self.school[var_of_pair]
        levels = pair_levels(self.problem, rows, cols, squared, tie_break)
        result = []
        for values in levels:
            totals = np.zeros(self.unit.size, dtype=np.int64)
            np.add.at(totals, var_of_pair, values)
            if float(np.abs(totals.astype(np.float64)).sum()) >= 2.0**62:
                raise ProblemError(
                    "cost totals overflow int64 in the CP-SAT model; use a coarser cost unit "
                    "or squared=False"
                )
            result.append(totals)
        return result

    def encode(self, assignment: np.ndarray) -> np.ndarray | None:
        """Variable values of an assignment, or None if it is not feasible for this model."""
        assignment = np.asarray(assignment, dtype=np.int64)
        at = np.full(len(self.units), -1, dtype=np.int64)
        for u, members in enumerate(self.units):
            schools = set(assignment[members].tolist())
            if len(schools) != 1:
                return None
            at[u] = schools.pop()
        values = (at[self.unit] == self.school).astype(np.int64)
        placed_units = int(np.sum(at >= 0))
        if int(values.sum()) != placed_units:
            return None
        used = np.bincount(self.school[values > 0], weights=self.size[self.unit[values > 0]])
        if np.any(used > self.problem.capacity[: used.size]):
            return None
        return values

    def decode(self, values: np.ndarray) -> np.ndarray:
        """The assignment of variable values."""
        assignment = np.full(self.problem.n, -1, dtype=np.int64)
        for k in np.flatnonzero(values).tolist():
            assignment[self.units[int(self.unit[k])]] = int(self.school[k])
        return assignment


def solve_lexicographic(
    problem: Problem,
    *,
    allowed: np.ndarray,
    squared: bool,
    siblings: bool,
    tie_break: bool,
    hint: np.ndarray | None,
    time_limit_s: float,
    bounds: tuple[int, ...] | None = None,
    polish: Callable[[np.ndarray], np.ndarray] | None = None,
) -> SatSolution:
    """Solve the levels in order over the `allowed` [n, m] pairs.

    With `siblings`, the members of a sibling group are either all unplaced or all at one
    school every member is allowed. `hint` is an assignment used as the first incumbent when
    it is feasible. `bounds` are level values no feasible solution can beat (a relaxation's).
    `polish` improves a feasible assignment on later levels without hurting earlier ones (for
    example by re-placing applicants outside sibling groups optimally); every solution CP-SAT
    finds is polished before it becomes the incumbent.
    """
    deadline = time.monotonic() + time_limit_s
    sat = _Model(problem, allowed, units_of(problem, siblings))
    levels = sat.coefficients(squared, tie_break)
    senses = level_senses(problem, tie_break)

    def key(values: np.ndarray) -> tuple[int, ...]:
        return tuple(
            -int(c @ values) if up else int(c @ values)
            for c, up in zip(levels, senses, strict=True)
        )

    def best(*candidates: np.ndarray | None) -> np.ndarray | None:
        found = [c for c in candidates if c is not None]
        return min(found, key=key) if found else None

    def polished(values: np.ndarray | None) -> np.ndarray | None:
        if values is None or polish is None:
            return values
        return sat.encode(polish(sat.decode(values)))

    first = sat.encode(hint) if hint is not None else None
    incumbent = best(first, polished(first))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(problem.seed) % (1 << 31)
    reached: list[int] = []
    status = Status.OPTIMAL
    at_bound = bounds is not None
    for k, (coefficients, maximise) in enumerate(zip(levels, senses, strict=True)):
        expr = cp_model.LinearExpr.weighted_sum(sat.variables, coefficients.tolist())
        mine = None if incumbent is None else int(coefficients @ incumbent)
        bound = None if bounds is None or not at_bound else bounds[k]
        if not coefficients.any() or (mine is not None and mine == bound):
            value = 0 if mine is None else mine
            sat.model.add(expr == value)
            reached.append(value)
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = Status.FEASIBLE if incumbent is not None else Status.TIME_LIMIT
            break
        sat.model.clear_objective()
        if maximise:
            sat.model.maximize(expr)
        else:
            sat.model.minimize(expr)
        sat.model.clear_hints()
        if incumbent is not None:
            for z, v in zip(sat.variables, incumbent.tolist(), strict=True):
                sat.model.add_hint(z, bool(v))
        solver.parameters.max_time_in_seconds = remaining
        solver.parameters.max_deterministic_time = remaining * DETERMINISTIC_SHARE
        code = solver.solve(sat.model)
        if code == cp_model.MODEL_INVALID:
            raise SolverError(f"CP-SAT rejected the model: {sat.model.validate() or 'no reason'}")
        if code == cp_model.INFEASIBLE:
            return SatSolution(np.full(problem.n, -1, dtype=np.int64), Status.INFEASIBLE, ())
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            solution = np.asarray(solver.response_proto.solution, dtype=np.int64)
            found = solution[[z.index for z in sat.variables]] if sat.variables else solution
            incumbent = best(incumbent, found, polished(found))
        if code != cp_model.OPTIMAL or incumbent is None:
            status = Status.FEASIBLE if incumbent is not None else Status.TIME_LIMIT
            break
        value = int(coefficients @ incumbent)
        at_bound = at_bound and bound == value
        sat.model.add(expr == value)
        reached.append(value)
    if incumbent is None or status is Status.TIME_LIMIT:
        return SatSolution(np.full(problem.n, -1, dtype=np.int64), Status.TIME_LIMIT, ())
    return SatSolution(sat.decode(incumbent), status, tuple(reached))
