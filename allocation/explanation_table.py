"""Every applicant's explanation of one solve, held column by column; one is worded when asked.

At city scale a solve explains 100,000+ children who passed over some 2,000,000 schools: as
Python objects that took longer than the allocation, and stored as one JSON document per child
it took longer again. The table keeps the facts a service stores and shows (the school given,
each school passed over, its cost, why and the cutoff that decided) in arrays, and words a
child's explanation, with the mechanism's own sentences, only when `table[i]` asks for it.

A passed-over school's cutoff is a *template* shared by many pairs (a school's last admitted
child, the unit of a price), merged with the pair's own numbers from `pair_fields` (a price, a
saving): `ABSENT` there means the pair has no such number and the template says all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import numpy as np

from allocation.result import Explanation

if TYPE_CHECKING:
    from allocation.problem import Problem

_V = TypeVar("_V")

ABSENT = np.iinfo(np.int64).min
"""In a `pair_fields` column: this pair has no such number."""


@dataclass(frozen=True, eq=False)
class ExplanationTable(Sequence[Explanation]):
    """The explanations of a solve: a read-only sequence, one `Explanation` per applicant."""

    applicant_ids: tuple[str, ...]
    school_ids: tuple[str, ...]
    school: np.ndarray
    """Problem index of the school given, -1 when not placed (int64 [n])."""
    cost: np.ndarray
    """Cost to the school given, -1 when not placed (int64 [n])."""
    ranked: np.ndarray
    """How many schools the family ranked itself (int64 [n])."""
    choice: np.ndarray
    """Which of them was given, 1 = first; 0 when none (int64 [n])."""
    starts: np.ndarray
    """Applicant i's passed-over schools are pairs starts[i] .. starts[i + 1] (int64 [n + 1])."""
    pair_school: np.ndarray
    pair_cost: np.ndarray
    pair_why: np.ndarray
    """Index into `whys` (int64 [pairs])."""
    pair_ranked: np.ndarray
    """Passed over because the family ranked it higher (bool [pairs])."""
    pair_cutoff: np.ndarray
    """Index into `cutoffs`, the pair's cutoff template (int64 [pairs])."""
    whys: tuple[str, ...]
    cutoffs: tuple[Mapping[str, object], ...]
    pair_fields: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Numbers of each pair's cutoff beyond its template, ABSENT where it has none."""
    word: Callable[[int], Explanation] | None = None
    """The mechanism's wording of applicant i's explanation, from the same facts."""
    norm: tuple[int, str] | None = None
    """(limit, sentence): the sentence ends the reason of everyone placed beyond the limit."""

    def __post_init__(self) -> None:
        for name in (
            "school",
            "cost",
            "ranked",
            "choice",
            "starts",
            "pair_school",
            "pair_cost",
            "pair_why",
            "pair_ranked",
            "pair_cutoff",
        ):
            value = np.asarray(getattr(self, name))
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        for values in self.pair_fields.values():
            values.setflags(write=False)

    def __len__(self) -> int:
        return len(self.applicant_ids)

    @overload
    def __getitem__(self, index: int) -> Explanation: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Explanation, ...]: ...

    def __getitem__(self, index: int | slice) -> Explanation | tuple[Explanation, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"applicant {index} of {n}")
        i = index % n if n else index
        if self.word is None:
            raise TypeError("this table was built without the mechanism's wording")
        explained = self.word(i)
        if self.norm is not None and explained.cost is not None and explained.cost > self.norm[0]:
            explained = replace(explained, reason=explained.reason + self.norm[1])
        return explained

    def __iter__(self) -> Iterator[Explanation]:
        return (self[i] for i in range(len(self)))

    def with_norm(self, limit: int, sentence: str) -> ExplanationTable:
        """The same table, with `sentence` ending the reason of everyone beyond `limit`."""
        return replace(self, norm=(limit, sentence))

    def beyond_norm(self) -> np.ndarray:
        """Who is placed beyond the norm (bool [n]; all False without one)."""
        if self.norm is None:
            return np.zeros(len(self), dtype=bool)
        return np.asarray((self.school >= 0) & (self.cost > self.norm[0]))

    def cutoff(self, k: int) -> dict[str, object]:
        """Pair k's cutoff: its template with the pair's own numbers."""
        cut = dict(self.cutoffs[int(self.pair_cutoff[k])])
        for name, values in self.pair_fields.items():
            value = int(values[k])
            if value != ABSENT:
                cut[name] = value
        return cut

    def passed_over(self, i: int) -> list[dict[str, object]]:
        """Applicant i's passed-over schools read from the columns, as `PassedOver.as_dict`
        gives them: what a service stores, and what `self[i].passed_over` must say."""
        return [
            {
                "school_index": int(self.pair_school[k]),
                "school_id": self.school_ids[int(self.pair_school[k])],
                "cost": int(self.pair_cost[k]),
                "why": self.whys[int(self.pair_why[k])],
                "cutoff": self.cutoff(k),
                "ranked": bool(self.pair_ranked[k]),
            }
            for k in range(int(self.starts[i]), int(self.starts[i + 1]))
        ]

    @classmethod
    def of_assignment(
        cls, problem: Problem, assignment: np.ndarray, **columns: Any
    ) -> ExplanationTable:
        """The table of a mechanism's assignment: ids, the school given and its cost from the
        problem, everything else (the pairs, the wording) as the mechanism gives it."""
        placed = assignment >= 0
        own = np.where(placed, assignment, 0)
        cost = problem.cost[np.arange(problem.n), own] if problem.m else np.zeros(problem.n)
        return cls(
            applicant_ids=problem.applicant_ids,
            school_ids=problem.school_ids,
            school=assignment.copy(),
            cost=np.where(placed, cost, -1).astype(np.int64),
            **columns,
        )

    @classmethod
    def of(cls, explanations: Sequence[Explanation], school_ids: Sequence[str]) -> ExplanationTable:
        """The table of explanations already worded (mechanisms explaining small problems)."""
        explained = tuple(explanations)
        index = {sid: s for s, sid in enumerate(school_ids)}
        whys: _Interned[str] = _Interned()
        cutoffs: _Interned[Mapping[str, object]] = _Interned()
        starts = [0]
        pairs: list[tuple[int, int, int, bool, int]] = []
        for e in explained:
            for p in e.passed_over:
                pairs.append(
                    (
                        p.school_index,
                        p.cost,
                        whys.index(p.why, p.why),
                        p.ranked,
                        cutoffs.index(json.dumps(p.cutoff, sort_keys=True, default=str), p.cutoff),
                    )
                )
            starts.append(len(pairs))
        columns = list(zip(*pairs, strict=True)) if pairs else [(), (), (), (), ()]
        return cls(
            applicant_ids=tuple(e.applicant_id for e in explained),
            school_ids=tuple(school_ids),
            school=np.array(
                [index[e.school_id] if e.school_id is not None else -1 for e in explained],
                dtype=np.int64,
            ),
            cost=np.array([e.cost if e.cost is not None else -1 for e in explained], np.int64),
            ranked=np.array([e.ranked for e in explained], dtype=np.int64),
            choice=np.array([e.choice or 0 for e in explained], dtype=np.int64),
            starts=np.array(starts, dtype=np.int64),
            pair_school=np.array(columns[0], dtype=np.int64),
            pair_cost=np.array(columns[1], dtype=np.int64),
            pair_why=np.array(columns[2], dtype=np.int64),
            pair_ranked=np.array(columns[3], dtype=bool),
            pair_cutoff=np.array(columns[4], dtype=np.int64),
            whys=tuple(whys.values),
            cutoffs=tuple(cutoffs.values),
            word=explained.__getitem__,
        )


class _Interned(Generic[_V]):
    """Distinct values in order of first use, each with its index."""

    def __init__(self) -> None:
        self.at: dict[object, int] = {}
        self.values: list[_V] = []

    def index(self, key: object, value: _V) -> int:
        found = self.at.get(key)
        if found is None:
            found = self.at[key] = len(self.values)
            self.values.append(value)
        return found
