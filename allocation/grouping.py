"""Applicants with identical cost rows and tiers merged into groups that a flow treats as one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 8_192
"""Rows compared at a time when verifying that a group's rows are identical."""


@dataclass(frozen=True, eq=False)
class Groups:
    """Applicants partitioned into groups of identical rows; members ordered by lottery rank."""

    representative: np.ndarray  # int64 [G]: one applicant of each group
    members: np.ndarray  # int64 [n]: applicants, group by group, earliest lottery first
    start: np.ndarray  # int64 [G + 1]: offsets of each group's members
    of_applicant: np.ndarray  # int64 [n]: group of each applicant

    @property
    def count(self) -> int:
        """Number of groups."""
        return len(self.representative)

    @property
    def size(self) -> np.ndarray:
        """Members per group."""
        return np.diff(self.start)


def group_applicants(cost: np.ndarray, tier_rank: np.ndarray, lottery: np.ndarray) -> Groups:
    """Merge applicants whose cost rows and tier are equal (verified element by element).

    Rows are hashed with random 64-bit weights; a hash collision between different rows is
    detected by the comparison and the rows concerned are left as groups of one.
    """
    n, m = cost.shape
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Groups(empty, empty, np.zeros(1, dtype=np.int64), empty)
    weights = np.random.default_rng(0x5C4001).integers(1, 1 << 62, size=m, dtype=np.int64)
    with np.errstate(over="ignore"):
        digest = cost @ weights if m else np.zeros(n, dtype=np.int64)
        digest = digest * np.int64(0x9E3779B1) + tier_rank
    order = np.lexsort((lottery, digest))
    sorted_digest = digest[order]
    first = np.r_[True, sorted_digest[1:] != sorted_digest[:-1]]
    group_sorted = np.cumsum(first) - 1
    head = order[np.flatnonzero(first)][group_sorted]
    same = np.ones(n, dtype=bool)
    for lo in range(0, n, _CHUNK):
        rows, heads = order[lo : lo + _CHUNK], head[lo : lo + _CHUNK]
        same[lo : lo + _CHUNK] = (cost[rows] == cost[heads]).all(axis=1) & (
            tier_rank[rows] == tier_rank[heads]
        )
    if not same.all():
        # Hash collision: each row that differs from its group's head becomes a group of one.
        group = np.empty(n, dtype=np.int64)
        group[order] = group_sorted
        odd = order[~same]
        group[odd] = group_sorted[-1] + 1 + np.arange(odd.size)
        order = np.lexsort((lottery, group))
        first = np.r_[True, group[order][1:] != group[order][:-1]]
        group_sorted = np.cumsum(first) - 1
    starts = np.r_[np.flatnonzero(first), n].astype(np.int64)
    of_applicant = np.empty(n, dtype=np.int64)
    of_applicant[order] = group_sorted
    return Groups(order[starts[:-1]].astype(np.int64), order.astype(np.int64), starts, of_applicant)
