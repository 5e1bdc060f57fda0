"""School priority (tier, then cost, then lottery) and applicants' preferences, vectorised."""

from __future__ import annotations

import weakref

import numpy as np

from allocation.problem import Problem

_KEY_LIMIT = 1 << 62


class SchoolPriority:
    """Orders applicants at a school: lower tier first, then lower cost, then earlier lottery.

    `key(a, s)` packs (tier rank, cost, lottery rank) into one int64 so that comparing keys
    compares the triples lexicographically; lower key = higher priority. When the raw costs are
    too large to pack, their dense ranks are packed instead (same order).
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.lottery = problem.lottery()
        self.tiers = np.unique(problem.tier)
        self.tier_rank = np.searchsorted(self.tiers, problem.tier).astype(np.int64)
        self._tier_list: list[int] = self.tier_rank.tolist()
        self._lottery_list: list[int] = self.lottery.tolist()
        self._n = max(problem.n, 1)
        # Ineligible costs are negative, so the largest cost is the largest eligible one (or
        # negative when nothing is eligible); no copy of the eligible costs is needed for it.
        max_cost = max(int(problem.cost.max()), 0) if problem.cost.size else 0
        self._cost_values: np.ndarray | None = None
        self._span = max_cost + 1
        if max(len(self.tiers), 1) * self._span * self._n >= _KEY_LIMIT:
            self._cost_values = np.unique(problem.cost[problem.cost >= 0])
            self._span = len(self._cost_values) + 1

    def key(self, applicants: np.ndarray, schools: np.ndarray) -> np.ndarray:
        """Packed priority of each (applicant, school) pair; both arrays of the same shape."""
        a = np.asarray(applicants, dtype=np.int64)
        cost = np.maximum(self.problem.cost[a, np.asarray(schools, dtype=np.int64)], 0)
        if self._cost_values is not None:
            cost = np.searchsorted(self._cost_values, cost).astype(np.int64)
        return (self.tier_rank[a] * self._span + cost) * self._n + self.lottery[a]

    def key_of(self, applicant: int, school: int) -> int:
        """`key` of one pair, as a Python int (for loops)."""
        cost = max(int(self.problem.cost[applicant, school]), 0)
        if self._cost_values is not None:
            cost = int(np.searchsorted(self._cost_values, cost))
        tier = self._tier_list[applicant]
        return (tier * self._span + cost) * self._n + self._lottery_list[applicant]

    def describe(self, applicant: int, school: int) -> dict[str, object]:
        """The (tier, cost, lottery) triple of an applicant at a school, for explanations."""
        return {
            "tier": int(self.problem.tier[applicant]),
            "cost": int(self.problem.cost[applicant, school]),
            "lottery": int(self.lottery[applicant]),
        }


def preferred_pairs(
    problem: Problem, assignment: np.ndarray, *, by_cost: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(applicant, school) pairs where the applicant strictly prefers the eligible school to hers.

    Preferences are `problem.preference_lists()`: the given lists (eligible schools only) or,
    by default or when `by_cost`, eligible schools by cost with ties by school index. An
    unassigned applicant prefers every school in her list; a school outside it is never preferred.
    The arrays are read-only: the explanations, metrics and checks of one solve ask for the
    same pairs, which are found once (at city scale, a sweep of the whole cost matrix).
    """
    assignment = np.asarray(assignment, dtype=np.int64)
    by_cost = by_cost or problem.preferences is None
    held = _last_pairs.get(by_cost)
    if held is not None and held[0]() is problem and np.array_equal(held[1], assignment):
        return held[2], held[3]
    rows, cols = _preferred_pairs(problem, assignment, by_cost)
    rows.setflags(write=False)
    cols.setflags(write=False)
    _last_pairs[by_cost] = (weakref.ref(problem), assignment.copy(), rows, cols)
    return rows, cols


_last_pairs: dict[bool, tuple[weakref.ref[Problem], np.ndarray, np.ndarray, np.ndarray]] = {}
"""The last pairs found, by preferences and by cost, with the problem and assignment."""


def forget_pairs() -> None:
    """Let go of the pairs kept for the last solve (a service keeps running after it)."""
    _last_pairs.clear()


_BLOCK = 8_192
"""Applicants per block when sweeping the cost matrix."""


def _preferred_pairs(
    problem: Problem, assignment: np.ndarray, by_cost: bool
) -> tuple[np.ndarray, np.ndarray]:
    if problem.m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if by_cost:
        cost = problem.cost
        own = np.where(assignment >= 0, assignment, 0)
        own_cost = np.where(
            assignment >= 0, cost[np.arange(problem.n), own], np.iinfo(np.int64).max
        )
        index = np.arange(problem.m)[None, :]
        found_rows, found_cols = [], []
        # Block by block: a city's whole matrix would make several temporaries of its size.
        for lo in range(0, problem.n, _BLOCK):
            block = cost[lo : lo + _BLOCK]
            mine = own_cost[lo : lo + _BLOCK, None]
            better = (block < mine) | ((block == mine) & (index < own[lo : lo + _BLOCK, None]))
            rows, cols = np.nonzero((block >= 0) & better)
            found_rows.append(rows + lo)
            found_cols.append(cols)
        if not found_rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return (
            np.concatenate(found_rows).astype(np.int64),
            np.concatenate(found_cols).astype(np.int64),
        )
    rows_list: list[int] = []
    cols_list: list[int] = []
    for i, row in enumerate(problem.preference_lists()):
        own_school = int(assignment[i])
        for s in row:
            if s == own_school:
                break
            rows_list.append(i)
            cols_list.append(s)
    return np.asarray(rows_list, dtype=np.int64), np.asarray(cols_list, dtype=np.int64)


def first_choices(problem: Problem) -> np.ndarray:
    """Each applicant's first eligible preference (by cost when no preferences), or -1."""
    if problem.preferences is None:
        if problem.m == 0:
            return np.full(problem.n, -1, dtype=np.int64)
        # Read as unsigned, an ineligible cost (negative) is larger than any eligible one:
        # the least is found without a masked copy of the matrix.
        unsigned = problem.cost.view(np.uint64)
        first = np.argmin(unsigned, axis=1)
        none = unsigned[np.arange(problem.n), first] >= np.uint64(1 << 63)
        return np.where(none, -1, first).astype(np.int64)
    return np.asarray([row[0] if row else -1 for row in problem.preference_lists()], dtype=np.int64)
