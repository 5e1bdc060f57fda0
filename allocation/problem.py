"""The admissions problem: applicants, schools, integer costs, capacities, tiers and the lottery."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from allocation.errors import ProblemError

COST_SCALE = "metres"
"""Costs are integers in one unit, metres by default; `Problem.cost_unit` names the unit used."""

INELIGIBLE = -1
"""A cost below zero (use this value) means the applicant is not eligible for that school."""

PRIMARY_CLASS_SIZE = 35
"""Legal maximum pupils per class in primary school (grade 1)."""

LOWER_SECONDARY_CLASS_SIZE = 45
"""Legal maximum pupils per class in lower-secondary school (grade 6)."""

PRIMARY_NORM_M = 4_000
"""Distance norm from home to a primary school, metres."""

LOWER_SECONDARY_NORM_M = 7_000
"""Distance norm from home to a lower-secondary school, metres."""

_ARRAY_FIELDS = ("cost", "classes", "class_size", "tier")


def _frozen_array(value: Any, name: str) -> np.ndarray:
    """A read-only private copy of `value`; integer arrays become int64, others keep their dtype."""
    try:
        array = np.array(value, copy=True)
    except (TypeError, ValueError) as exc:
        raise ProblemError(f"{name} cannot be read as an array of integers: {exc}") from exc
    if array.dtype.kind in "iub":
        array = array.astype(np.int64, copy=False)  # already a private copy
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Problem:
    """One admissions round: who applies, which schools, what each placement costs, who goes first.

    Arrays are copied and made read-only on construction, so solvers can never change the
    caller's data. `validate()` explains anything malformed; `solve()` calls it first.
    """

    applicant_ids: tuple[str, ...]
    school_ids: tuple[str, ...]
    cost: np.ndarray
    classes: np.ndarray
    class_size: np.ndarray
    tier: np.ndarray
    preferences: tuple[tuple[int, ...], ...] | None = None
    sibling_group: tuple[str | None, ...] | None = None
    max_cost: int | None = None
    cost_unit: str = "m"
    seed: int = 0
    seats_taken: np.ndarray | None = None
    """Seats per school already given in an earlier round; they count in classes but not here."""
    ranked_count: tuple[int, ...] | None = None
    """How many schools at the head of each preference list the family itself ranked; the rest
    of the list are schools added after them in order of cost. None: every listed school was
    ranked. Explanations only: it changes no placement and is not part of `input_hash`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "applicant_ids", tuple(self.applicant_ids))
        object.__setattr__(self, "school_ids", tuple(self.school_ids))
        for name in _ARRAY_FIELDS:
            object.__setattr__(self, name, _frozen_array(getattr(self, name), name))
        if self.preferences is not None:
            try:
                prefs = tuple(tuple(int(s) for s in row) for row in self.preferences)
            except (TypeError, ValueError) as exc:
                raise ProblemError(f"preferences must be lists of school indices: {exc}") from exc
            object.__setattr__(self, "preferences", prefs)
        if self.sibling_group is not None:
            object.__setattr__(self, "sibling_group", tuple(self.sibling_group))
        if self.seats_taken is not None:
            object.__setattr__(self, "seats_taken", _frozen_array(self.seats_taken, "seats_taken"))
        if self.ranked_count is not None:
            try:
                counts = tuple(int(k) for k in self.ranked_count)
            except (TypeError, ValueError) as exc:
                raise ProblemError(f"ranked_count must be a list of integers: {exc}") from exc
            object.__setattr__(self, "ranked_count", counts)

    @property
    def n(self) -> int:
        """Number of applicants."""
        return len(self.applicant_ids)

    @property
    def m(self) -> int:
        """Number of schools."""
        return len(self.school_ids)

    @property
    def capacity(self) -> np.ndarray:
        """Seats free per school: classes offered times the legal class size, less seats taken
        in an earlier round (int64, read-only)."""
        if self.classes.shape != self.class_size.shape or self.classes.dtype.kind != "i":
            raise ProblemError("classes and class_size must be integer arrays of the same shape")
        capacity = self.classes * self.class_size - self.taken
        capacity.setflags(write=False)
        return capacity

    @property
    def taken(self) -> np.ndarray:
        """Seats per school given in earlier rounds (zeros when none were)."""
        if self.seats_taken is None:
            return np.zeros(self.classes.shape, dtype=np.int64)
        return self.seats_taken

    @property
    def eligible(self) -> np.ndarray:
        """Boolean [n, m]: the applicant may be placed at the school (cost is not negative)."""
        return np.asarray(self.cost >= 0)

    def validate(self) -> None:
        """Raise ProblemError naming the first thing that is wrong with this problem."""
        n, m = self.n, self.m
        _check_ids(self.applicant_ids, "applicant")
        _check_ids(self.school_ids, "school")
        for name in _ARRAY_FIELDS:
            array = getattr(self, name)
            if array.dtype.kind != "i":
                raise ProblemError(f"{name} must hold integers, got dtype {array.dtype}")
        if self.cost.shape != (n, m):
            raise ProblemError(
                f"cost has shape {self.cost.shape}, expected (applicants, schools) = ({n}, {m})"
            )
        for name, size, who in (("classes", m, "school"), ("class_size", m, "school")):
            array = getattr(self, name)
            if array.shape != (size,):
                raise ProblemError(
                    f"{name} has shape {array.shape}, expected one per {who} ({size},)"
                )
        if self.tier.shape != (n,):
            raise ProblemError(
                f"tier has shape {self.tier.shape}, expected one per applicant ({n},)"
            )
        _check_non_negative(self.classes, "classes", self.school_ids, "school")
        bad = np.flatnonzero(self.class_size <= 0)
        if bad.size:
            s = int(bad[0])
            raise ProblemError(
                f"class_size of school {self.school_ids[s]!r} is {int(self.class_size[s])}; "
                "a legal class size must be at least 1"
            )
        _check_non_negative(self.tier, "tier", self.applicant_ids, "applicant")
        if self.seats_taken is not None:
            if self.seats_taken.shape != (m,) or self.seats_taken.dtype.kind != "i":
                raise ProblemError(
                    f"seats_taken has shape {self.seats_taken.shape}, expected one integer per "
                    f"school ({m},)"
                )
            _check_non_negative(self.seats_taken, "seats_taken", self.school_ids, "school")
            over = np.flatnonzero(self.seats_taken > self.classes * self.class_size)
            if over.size:
                s = int(over[0])
                raise ProblemError(
                    f"seats_taken of school {self.school_ids[s]!r} is "
                    f"{int(self.seats_taken[s])}, more than its "
                    f"{int(self.classes[s] * self.class_size[s])} seats"
                )
        self._validate_preferences()
        self._validate_ranked_count()
        if self.sibling_group is not None and len(self.sibling_group) != n:
            raise ProblemError(
                f"sibling_group has {len(self.sibling_group)} entries, expected one per "
                f"applicant ({n})"
            )
        if self.sibling_group is not None:
            for i, group in enumerate(self.sibling_group):
                if group is not None and not isinstance(group, str):
                    raise ProblemError(
                        f"sibling_group of applicant {self.applicant_ids[i]!r} is {group!r}; "
                        "use a string or None"
                    )
        if self.max_cost is not None and (
            not isinstance(self.max_cost, int | np.integer) or self.max_cost < 0
        ):
            raise ProblemError(f"max_cost is {self.max_cost!r}; use a non-negative integer or None")
        if not isinstance(self.cost_unit, str) or not self.cost_unit:
            raise ProblemError("cost_unit must be a non-empty string such as 'm' or 's'")
        if not isinstance(self.seed, int | np.integer) or isinstance(self.seed, bool):
            raise ProblemError(f"seed is {self.seed!r}; publish an integer lottery seed")

    def _validate_preferences(self) -> None:
        if self.preferences is None:
            return
        if len(self.preferences) != self.n:
            raise ProblemError(
                f"preferences has {len(self.preferences)} lists, expected one per applicant "
                f"({self.n})"
            )
        for i, row in enumerate(self.preferences):
            seen: set[int] = set()
            for s in row:
                if not 0 <= s < self.m:
                    raise ProblemError(
                        f"preferences of applicant {self.applicant_ids[i]!r} name school index "
                        f"{s}, but schools are numbered 0..{self.m - 1}"
                    )
                if s in seen:
                    raise ProblemError(
                        f"preferences of applicant {self.applicant_ids[i]!r} list school "
                        f"{self.school_ids[s]!r} twice"
                    )
                seen.add(s)

    def _validate_ranked_count(self) -> None:
        if self.ranked_count is None:
            return
        if self.preferences is None:
            raise ProblemError("ranked_count needs preferences: it counts the ranked schools")
        if len(self.ranked_count) != self.n:
            raise ProblemError(
                f"ranked_count has {len(self.ranked_count)} entries, expected one per applicant "
                f"({self.n})"
            )
        for i, (k, row) in enumerate(zip(self.ranked_count, self.preferences, strict=True)):
            if not 0 <= k <= len(row):
                raise ProblemError(
                    f"ranked_count of applicant {self.applicant_ids[i]!r} is {k}, but her list "
                    f"has {len(row)} schools"
                )
        # The added schools, all lists at once: each must be eligible and after the one before
        # it in cost order (ties by school index).
        tails = [row[k:] for k, row in zip(self.ranked_count, self.preferences, strict=True)]
        lengths = np.fromiter((len(t) for t in tails), dtype=np.int64, count=self.n)
        if not lengths.sum():
            return
        rows = np.repeat(np.arange(self.n, dtype=np.int64), lengths)
        cols = np.fromiter(itertools.chain.from_iterable(tails), dtype=np.int64)
        cost = self.cost[rows, cols]
        key = cost * max(self.m, 1) + cols
        same_row = rows[1:] == rows[:-1]
        bad = np.flatnonzero(cost < 0)
        out_of_order = np.flatnonzero(same_row & (key[1:] <= key[:-1]))
        if bad.size or out_of_order.size:
            first = min([int(rows[bad[0]])] if bad.size else [], default=self.n)
            if out_of_order.size:
                first = min(first, int(rows[out_of_order[0]]))
            raise ProblemError(
                f"the schools added after the {self.ranked_count[first]} ranked by applicant "
                f"{self.applicant_ids[first]!r} must be eligible and in order of cost (ties by "
                "school index)"
            )

    def ranked(self, i: int) -> int:
        """How many schools applicant i ranked herself (0 without preferences)."""
        if self.preferences is None:
            return 0
        if self.ranked_count is None:
            return len(self.preferences[i])
        return self.ranked_count[i]

    def preference_lists(self) -> tuple[tuple[int, ...], ...]:
        """Each applicant's eligible schools in order of preference.

        The given preferences without the schools the applicant is not eligible for, or by
        default every eligible school by cost, ties by school index.
        """
        eligible = self.eligible
        if self.preferences is not None:
            return tuple(
                tuple(s for s in row if eligible[i, s]) for i, row in enumerate(self.preferences)
            )
        masked = np.where(eligible, self.cost, np.iinfo(np.int64).max)
        order = np.argsort(masked, axis=1, kind="stable")
        counts = eligible.sum(axis=1)
        return tuple(tuple(order[i, : counts[i]].tolist()) for i in range(self.n))

    def input_hash(self) -> str:
        """SHA-256 of a canonical serialisation of every field (arrays as little-endian int64)."""
        digest = hashlib.sha256()

        def part(data: bytes) -> None:
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)

        def text(value: object) -> None:
            part(json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii"))

        text("schoolmap.allocation.Problem/1")
        text(list(self.applicant_ids))
        text(list(self.school_ids))
        for name in _ARRAY_FIELDS:
            array = np.ascontiguousarray(getattr(self, name), dtype="<i8")
            text([name, list(array.shape)])
            part(array.tobytes())
        text(None if self.preferences is None else [list(row) for row in self.preferences])
        text(None if self.sibling_group is None else list(self.sibling_group))
        text(None if self.max_cost is None else int(self.max_cost))
        text(self.cost_unit)
        text(int(self.seed))
        if self.seats_taken is not None:  # absent from hashes of first-round problems
            text("seats_taken")
            part(np.ascontiguousarray(self.seats_taken, dtype="<i8").tobytes())
        return digest.hexdigest()

    def lottery(self) -> np.ndarray:
        """Lottery rank of each applicant under this problem's seed (0 = drawn first).

        Drawn once per problem and kept (read-only): at city scale hashing every id takes most
        of a second, and a solve, its checks and its metrics each need the ranks.
        """
        drawn = self.__dict__.get("_lottery")
        if drawn is None:
            drawn = lottery_numbers(self.applicant_ids, int(self.seed))
            object.__setattr__(self, "_lottery", drawn)
        return drawn


def _check_ids(ids: tuple[str, ...], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if not isinstance(value, str):
            raise ProblemError(f"{what} id {value!r} is not a string")
        if value in seen:
            raise ProblemError(f"{what} id {value!r} appears twice; ids must be unique")
        seen.add(value)


def _check_non_negative(array: np.ndarray, name: str, ids: tuple[str, ...], what: str) -> None:
    bad = np.flatnonzero(array < 0)
    if bad.size:
        k = int(bad[0])
        raise ProblemError(f"{name} of {what} {ids[k]!r} is {int(array[k])}; it cannot be negative")


def lottery_numbers(applicant_ids: Sequence[str], seed: int) -> np.ndarray:
    """Published lottery: rank 0..n-1 of each applicant, lower = drawn earlier.

    Each applicant draws sha256(f"{seed}:{id}") read as a big-endian integer; ranks order the
    draws (ties, which need a hash collision, by id). The same ids and seed give the same ranks
    on every platform, and the order in which applications arrived plays no part.
    """
    digests = b"".join(hashlib.sha256(f"{seed}:{a}".encode()).digest() for a in applicant_ids)
    # Four big-endian 64-bit words per draw, most significant first: sorting them as keys
    # orders the draws as the 256-bit integers they are.
    words = np.frombuffer(digests, dtype=">u8").reshape(len(applicant_ids), 4)
    order = np.lexsort(words.T[::-1])
    ordered = words[order]
    if len(order) > 1 and bool((ordered[1:] == ordered[:-1]).all(axis=1).any()):
        return _lottery_numbers_by_tuples(applicant_ids, seed)  # a collision: ties by id
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    rank.setflags(write=False)
    return rank


def _lottery_numbers_by_tuples(applicant_ids: Sequence[str], seed: int) -> np.ndarray:
    """`lottery_numbers` by sorting (draw, id) tuples: the definition, step by step."""
    draws = [
        (int.from_bytes(hashlib.sha256(f"{seed}:{a}".encode()).digest(), "big"), a, k)
        for k, a in enumerate(applicant_ids)
    ]
    draws.sort()
    rank = np.empty(len(draws), dtype=np.int64)
    for position, (_, _, k) in enumerate(draws):
        rank[k] = position
    rank.setflags(write=False)
    return rank
