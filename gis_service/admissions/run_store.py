"""A run's assignments written in one COPY, column by column, and each child's read back whole.

Each assignment row holds the child's school and cost, a small JSON of the child's own facts
(how many schools the family ranked, which choice was given, an estimated distance, the norm
passed), and the schools passed over as parallel arrays (see migration 0012). Readers never
see the arrays: `stored_explanation` gives the one dict every reader takes, the same for runs
stored before the arrays (their whole explanation is in the JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np
from psycopg2.extensions import cursor as Cursor

from allocation.explanation_table import ABSENT, ExplanationTable
from gis_service.importers.eta import EtaTicker
from gis_service.importers.report import ProgressCallback, no_progress

EXPLANATION_COLUMNS = (
    "x.explanation, x.passed_school, x.passed_cost, x.passed_kind, x.passed_fields"
)
"""What `stored_explanation` reads of an assignment row `x`, in its order."""

_COPY = (
    "COPY assignments (run_id, applicant_id, school_id, cost, explanation, passed_school, "
    "passed_cost, passed_kind, passed_fields) FROM STDIN"
)
_NULL = "\\N"
_ROWS_PER_CHUNK = 2_000


def store_assignments(
    cur: Cursor,
    run_id: int,
    table: ExplanationTable,
    applicant_ids: np.ndarray,
    school_ids: np.ndarray,
    *,
    estimated: np.ndarray | None = None,
    access_m: np.ndarray | None = None,
    detour: float = 1.0,
    school_access_m: np.ndarray | None = None,
    beyond_radius: np.ndarray | None = None,
    radius_m: float | None = None,
    progress: ProgressCallback = no_progress,
) -> None:
    """Every applicant's assignment and explanation in one COPY (`applicant_ids` and
    `school_ids` map the table's indexes to database ids), and the run's kinds of passed-over
    school on its row. `estimated` marks homes whose distances were estimated, `access_m` how
    far from the road they are, `detour` the factor applied; `school_access_m` how far each
    school off the mapped roads is from one (NaN for the others); `beyond_radius` the homes no
    school reaches within the fields' radius `radius_m`, whose every cost is estimated."""
    kinds, pair_kind = passed_kinds(table)
    cur.execute(
        "UPDATE allocation_runs SET passed_kinds = %s WHERE id = %s",
        (json.dumps(kinds, ensure_ascii=False), run_id),
    )
    lines = copy_lines(
        run_id,
        table,
        pair_kind,
        applicant_ids,
        school_ids,
        estimated,
        access_m,
        detour,
        school_access_m,
        beyond_radius,
        radius_m,
    )
    n = max(len(table), 1)
    ticker = EtaTicker(progress, "lưu kết quả / storing, trẻ / children", lambda: ticker.n / n)
    cur.copy_expert(_COPY, _Reader(_counted(lines, ticker)), size=1 << 20)
    ticker.done()


def _counted(chunks: Iterator[str], ticker: EtaTicker) -> Iterator[str]:
    for chunk in chunks:
        yield chunk
        ticker.tick(chunk.count("\n"))


def passed_kinds(table: ExplanationTable) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The distinct (why, cutoff template) of the table's pairs, and each pair's among them."""
    combined = table.pair_why * max(len(table.cutoffs), 1) + table.pair_cutoff
    # Kinds numbered in order of (why, template), as np.unique would, without sorting pairs.
    slot = np.zeros(len(table.whys) * max(len(table.cutoffs), 1) + 1, dtype=np.int64)
    slot[combined] = 1
    used = np.flatnonzero(slot)
    slot[used] = np.arange(used.size)
    pair_kind = slot[combined]
    kinds = [
        {
            "why": table.whys[int(c) // max(len(table.cutoffs), 1)],
            "cutoff": dict(table.cutoffs[int(c) % max(len(table.cutoffs), 1)]),
        }
        for c in used.tolist()
    ]
    return kinds, pair_kind.reshape(-1).astype(np.int64)


def _ranked_higher(table: ExplanationTable) -> list[int]:
    """How many of each child's passed-over schools the family ranked higher: always the head
    of the list (the mechanisms list ranked schools before nearer ones)."""
    starts = table.starts
    counts = np.zeros(len(table), dtype=np.int64)
    if table.pair_ranked.size:
        owner = np.repeat(np.arange(len(table)), np.diff(starts))
        np.add.at(counts, owner, table.pair_ranked.astype(np.int64))
        position = np.arange(table.pair_ranked.size) - starts[owner]
        if not np.array_equal(table.pair_ranked, position < counts[owner]):
            raise ValueError("ranked schools passed over must lead each child's list (a bug)")
    return counts.tolist()


def copy_lines(
    run_id: int,
    table: ExplanationTable,
    pair_kind: np.ndarray,
    applicant_ids: np.ndarray,
    school_ids: np.ndarray,
    estimated: np.ndarray | None,
    access_m: np.ndarray | None,
    detour: float,
    school_access_m: np.ndarray | None = None,
    beyond_radius: np.ndarray | None = None,
    radius_m: float | None = None,
) -> Iterator[str]:
    """The rows of `store_assignments` as COPY text, a chunk of rows at a time; every value is
    a number, so nothing needs escaping."""
    n = len(table)
    ids = [str(int(a)) for a in applicant_ids.tolist()]
    school_text = np.array(
        [str(s) for s in np.asarray(school_ids, dtype=np.int64).tolist()] + [_NULL], dtype=object
    )
    own = table.school
    # -1 (not placed) reads the last entry, NULL.
    school = school_text[np.where(own >= 0, own, len(school_text) - 1)].tolist()
    cost = [str(c) if c >= 0 else _NULL for c in table.cost.tolist()]
    beyond = table.beyond_norm().tolist()
    norm = table.norm[0] if table.norm is not None else None
    ranked = table.ranked.tolist()
    choice = table.choice.tolist()
    higher = _ranked_higher(table)
    marked = estimated.tolist() if estimated is not None else [False] * n
    far = beyond_radius.tolist() if beyond_radius is not None else [False] * n
    radius = f', "beyond_radius_m": {radius_m:g}' if radius_m is not None else ""
    # The school given lies off the mapped roads: its stretch to the road is estimated.
    off_road: list[float | None] = [None] * len(school_ids)
    if school_access_m is not None:
        off_road = [None if v != v else round(v, 1) for v in school_access_m.tolist()]
    own_list = own.tolist()
    starts = table.starts.tolist()
    pair_school = school_text[table.pair_school].tolist()
    pair_cost = [str(c) for c in table.pair_cost.tolist()]
    kind = [str(k) for k in pair_kind.tolist()]
    fields = {
        name: [str(v) if v != ABSENT else "null" for v in values.tolist()]
        for name, values in table.pair_fields.items()
    }
    chunk: list[str] = []
    for i in range(n):
        lo, hi = starts[i], starts[i + 1]
        facts = f'"ranked": {ranked[i]}, "choice": {choice[i] or "null"}'
        if higher[i]:
            facts += f', "ranked_higher": {higher[i]}'
        if beyond[i]:
            facts += f', "beyond_norm": {norm}'
        if marked[i] and access_m is not None:
            facts += (
                f', "estimated": {{"offset_m": {round(float(access_m[i]), 1)}, "factor": {detour}'
                f"{radius if far[i] else ''}}}"
            )
        if own_list[i] >= 0 and off_road[own_list[i]] is not None:
            facts += (
                f', "school_estimated": {{"offset_m": {off_road[own_list[i]]}, "factor": {detour}}}'
            )
        if fields and hi > lo:
            numbers = ", ".join(
                f'"{name}": [{",".join(values[lo:hi])}]' for name, values in fields.items()
            )
            passed_fields = "{" + numbers + "}"
        else:
            passed_fields = _NULL
        chunk.append(
            f"{run_id}\t{ids[i]}\t{school[i]}\t{cost[i]}\t{{{facts}}}"
            f"\t{{{','.join(pair_school[lo:hi])}}}\t{{{','.join(pair_cost[lo:hi])}}}"
            f"\t{{{','.join(kind[lo:hi])}}}\t{passed_fields}\n"
        )
        if len(chunk) == _ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


class _Reader:
    """A file COPY reads from, filled chunk by chunk (a city's rows are never all in memory)."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        if self._at >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer, self._at = chunk.encode(), 0
        end = len(self._buffer) if size < 0 else self._at + size
        out = self._buffer[self._at : end]
        self._at += len(out)
        return out

    def readline(self, size: int = -1) -> bytes:
        """COPY reads with `read`; a file it takes must have this too."""
        return self.read(size)


class PassedOverColumns(Sequence[Mapping[str, Any]]):
    """A child's schools passed over, read from the stored arrays: each entry a dict (school_id,
    cost, why, cutoff, ranked) made when asked, and the columns a summary needs as lists."""

    def __init__(
        self,
        schools: list[int],
        costs: list[int],
        refs: list[int],
        fields: Mapping[str, list[Any]],
        kinds: Sequence[Mapping[str, Any]],
        higher: int,
    ) -> None:
        self.school_ids = schools
        self.costs = costs
        self._refs = refs
        self._fields = fields
        self._kinds = kinds
        self.whys: list[str] = list(map(_whys_of(kinds).__getitem__, refs))
        self.higher = higher
        """The first `higher` schools are those the family ranked above the one given."""

    @property
    def ranked(self) -> list[bool]:
        """Whether the family ranked each school above the one given."""
        return [k < self.higher for k in range(len(self.school_ids))]

    def __len__(self) -> int:
        return len(self.school_ids)

    @overload
    def __getitem__(self, k: int) -> Mapping[str, Any]: ...

    @overload
    def __getitem__(self, k: slice) -> Sequence[Mapping[str, Any]]: ...

    def __getitem__(self, k: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        cutoff = self._kinds[self._refs[k]]["cutoff"]
        own = {name: values[k] for name, values in self._fields.items() if values[k] is not None}
        return {
            "school_id": self.school_ids[k],
            "cost": self.costs[k],
            "why": self.whys[k],
            # Pairs with no numbers of their own share their kind's cutoff (readers only read).
            "cutoff": {**cutoff, **own} if own else cutoff,
            "ranked": k < self.higher,
        }


_last_whys: tuple[object, list[str]] = (None, [])


def _whys_of(kinds: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each kind's why, made once for a run's kinds (read for every child of an export).
    The last run's list is kept with its kinds, as one tuple, so threads never mix two."""
    global _last_whys
    last = _last_whys
    if last[0] is not kinds:
        last = _last_whys = (kinds, [kind["why"] for kind in kinds])
    return last[1]


def stored_explanation(
    row: Sequence[Any], school_id: int | None, cost: int | None, kinds: Sequence[Any] | None
) -> dict[str, Any]:
    """One child's explanation as readers take it (`explain_vi`, the parent's page, exports):
    school_id, cost, ranked, choice, passed_over (each with school_id, cost, why, cutoff,
    ranked; a PassedOverColumns) and, when they apply, estimated and beyond_norm. `row` holds
    EXPLANATION_COLUMNS; `kinds` is the run's allocation_runs.passed_kinds."""
    facts, schools, costs, refs, fields = row
    facts = dict(facts or {})
    if schools is None:  # stored before the arrays: the JSON holds everything
        return facts
    higher = facts.pop("ranked_higher", 0)
    passed = PassedOverColumns(schools, costs, refs, fields or {}, kinds or (), higher)
    facts.update({"school_id": school_id, "cost": cost, "passed_over": passed})
    return facts
