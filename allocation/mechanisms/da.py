"""Applicant-proposing deferred acceptance (Gale-Shapley); schools rank by tier, cost, lottery."""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

from allocation.explain import (
    amount,
    choice_of,
    choices,
    ineligible_clause,
    listed,
    nearer_pairs,
    school_label,
)
from allocation.explanation_table import ExplanationTable
from allocation.mechanisms.outcome import Outcome
from allocation.priority import SchoolPriority
from allocation.problem import Problem
from allocation.result import Explanation, PassedOver, Status


def solve_da(problem: Problem, *, explain: bool = True) -> Outcome:
    """Applicants propose down their lists; each school holds its best applicants so far.

    Lists are `problem.preference_lists()` (given preferences, eligible schools only; by default
    eligible schools by cost). Schools rank by tier, then cost to that school, then lottery, a
    strict order, so the result is the unique applicant-optimal stable matching: no applicant
    and school would both rather be matched to each other (no justified envy, no wasted seat she
    wanted), and no applicant can gain by misreporting her list.
    """
    priority = SchoolPriority(problem)
    if problem.preferences is None:
        return _solve_by_cost(problem, priority, explain)
    choice, length = _lists(problem)
    capacity = problem.capacity.tolist()
    held: list[list[tuple[int, int]]] = [[] for _ in range(problem.m)]
    pointer = [0] * problem.n
    waiting = list(range(problem.n - 1, -1, -1))
    while waiting:
        i = waiting.pop()
        p = pointer[i]
        if p >= length[i]:
            continue
        pointer[i] = p + 1
        s = choice(i, p)
        key = priority.key_of(i, s)
        heap = held[s]
        if len(heap) < capacity[s]:
            heapq.heappush(heap, (-key, i))
        elif heap and -heap[0][0] > key:
            _, rejected = heapq.heapreplace(heap, (-key, i))
            waiting.append(rejected)
        else:
            waiting.append(i)
    assignment = np.full(problem.n, -1, dtype=np.int64)
    cutoff: list[dict[str, object] | None] = [None] * problem.m
    for s, heap in enumerate(held):
        for _, i in heap:
            assignment[i] = s
        if heap and len(heap) >= capacity[s]:
            cutoff[s] = priority.describe(heap[0][1], s)  # root: lowest priority admitted
    explanations = _explain(problem, priority, assignment, cutoff) if explain else ()
    return Outcome(assignment, Status.COMPLETE, explanations)


SHORT_LIST = 16
"""Schools per applicant ranked up front; a longer list is ranked when she reaches its end."""

_ROWS = 8_192


def _nearest_first(problem: Problem, rows: np.ndarray, k: int) -> np.ndarray:
    """The k nearest eligible schools of each row (ties by school index); -1 past the list."""
    m = problem.m
    out = np.full((rows.size, k), -1, dtype=np.int64)
    index = np.arange(m, dtype=np.int64)
    for lo in range(0, rows.size, _ROWS):
        block = problem.cost[rows[lo : lo + _ROWS]]
        key = np.where(block >= 0, block * m + index, np.iinfo(np.int64).max)
        if k < m:
            top = np.argpartition(key, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(index, key.shape)
        top_key = np.take_along_axis(key, top, axis=1)
        order = np.argsort(top_key, axis=1)
        chosen = np.take_along_axis(top, order, axis=1)
        valid = np.take_along_axis(top_key, order, axis=1) < np.iinfo(np.int64).max
        out[lo : lo + _ROWS, : chosen.shape[1]] = np.where(valid, chosen, -1)
    return out


def _solve_by_cost(problem: Problem, priority: SchoolPriority, explain: bool) -> Outcome:
    """Deferred acceptance in rounds, vectorised: everyone free proposes to her next school.

    Lists are eligible schools by cost (ties by school index). Each round, every school keeps
    the best of its held and new applicants up to its capacity and rejects the rest. The
    result is the same applicant-optimal stable matching as proposing one at a time.
    """
    n, m = problem.n, problem.m
    capacity = problem.capacity
    k = min(SHORT_LIST, m)
    everyone = np.arange(n, dtype=np.int64)
    lists = _nearest_first(problem, everyone, k) if m else np.zeros((n, 0), dtype=np.int64)
    # Whole lists of those who reach the end of their short one: row long_row[i] of longer.
    longer = np.zeros((0, m), dtype=np.int32)
    long_row = np.full(n, -1, dtype=np.int64)
    pointer = np.zeros(n, dtype=np.int64)
    assignment = np.full(n, -1, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    held_count = np.zeros(m, dtype=np.int64)
    worst = np.full(m, -1, dtype=np.int64)
    free = everyone.copy()

    def next_school(who: np.ndarray) -> np.ndarray:
        """Each applicant's next school on her list (-1 past its end); her pointer moves on."""
        p = pointer[who]
        short = p < k
        school = np.full(who.size, -1, dtype=np.int64)
        school[short] = lists[who[short], p[short]]
        beyond = np.flatnonzero(~short)
        if beyond.size:
            nonlocal longer
            past = who[beyond]
            new_rows = np.unique(past[long_row[past] < 0])
            if new_rows.size:
                long_row[new_rows] = len(longer) + np.arange(new_rows.size)
                made = _nearest_first(problem, new_rows, m).astype(np.int32)
                longer = np.concatenate([longer, made]) if len(longer) else made
            inside = beyond[p[beyond] < m]
            school[inside] = longer[long_row[who[inside]], p[inside]]
        pointer[who] += 1
        return school

    while free.size:
        school = next_school(free)
        proposing = school >= 0
        free, school = free[proposing], school[proposing]
        if free.size == 0:
            break
        key[free] = priority.key(free, school)
        # A full school rejects at once anyone ranked below the last child it holds, and will
        # go on rejecting her (what it holds only gets better): she moves on down her list in
        # this same round, until a school might keep her or her list ends.
        full = held_count[school] >= capacity[school]
        hopeless = np.flatnonzero(full & (key[free] > worst[school]))
        while hopeless.size:
            school[hopeless] = next_school(free[hopeless])
            hopeless = hopeless[school[hopeless] >= 0]
            at, moving = school[hopeless], free[hopeless]
            key[moving] = priority.key(moving, at)
            hopeless = hopeless[(held_count[at] >= capacity[at]) & (key[moving] > worst[at])]
        proposing = school >= 0
        free, school = free[proposing], school[proposing]
        if free.size == 0:
            break
        touched = np.zeros(m, dtype=bool)
        touched[school] = True
        held = np.flatnonzero((assignment >= 0) & touched[np.maximum(assignment, 0)])
        who = np.concatenate([held, free])
        where = np.concatenate([assignment[held], school])
        order = np.lexsort((key[who], where))
        who, where = who[order], where[order]
        first = np.searchsorted(where, where, side="left")
        keep = (np.arange(who.size) - first) < capacity[where]
        assignment[who[keep]] = where[keep]
        assignment[who[~keep]] = -1
        kept_at = where[keep]
        held_count[touched] = 0
        np.add.at(held_count, kept_at, 1)
        worst[touched] = -1
        np.maximum.at(worst, kept_at, key[who[keep]])
        free = np.sort(who[~keep])
    cutoff: list[dict[str, object] | None] = [None] * m
    placed = np.flatnonzero(assignment >= 0)
    used = np.bincount(assignment[placed], minlength=m)
    worst = np.full(m, -1, dtype=np.int64)
    np.maximum.at(worst, assignment[placed], key[placed])
    last = np.full(m, -1, dtype=np.int64)
    last_of = {int(key[i]): int(i) for i in placed[np.isin(key[placed], worst)].tolist()}
    for s in np.flatnonzero((used >= capacity) & (used > 0)).tolist():
        last[s] = last_of[int(worst[s])]
        cutoff[s] = priority.describe(int(last[s]), s)
    explanations = _explain(problem, priority, assignment, cutoff) if explain else ()
    return Outcome(assignment, Status.COMPLETE, explanations)


def _lists(problem: Problem) -> tuple[Callable[[int, int], int], list[int]]:
    """The p-th school on applicant i's list, and each list's length, without copying lists.

    By default the lists are rows of one argsort of the costs (no per-applicant tuples, which
    would not fit in memory for 30,000 x 450 problems).
    """
    if problem.preferences is not None:
        lists = problem.preference_lists()
        return (lambda i, p: lists[i][p]), [len(row) for row in lists]
    eligible = problem.eligible
    masked = np.where(eligible, problem.cost, np.iinfo(np.int64).max)
    order = np.argsort(masked, axis=1, kind="stable").astype(np.int32)
    return (lambda i, p: int(order[i, p])), eligible.sum(axis=1).tolist()


def _explain(
    problem: Problem,
    priority: SchoolPriority,
    assignment: np.ndarray,
    cutoff: list[dict[str, object] | None],
) -> ExplanationTable:
    """Every applicant's passed-over schools as columns, worded per applicant when asked.

    A pair's cutoff is its school's last admitted child with what put that child first
    ("priority", "distance" or "lottery"): one template per school and verdict.
    """
    n = problem.n
    rows, schools = _higher_pairs(problem, assignment)
    starts = np.searchsorted(rows, np.arange(n + 1)).astype(np.int64)
    pair_cost = problem.cost[rows, schools] if rows.size else np.zeros(0, dtype=np.int64)
    ranked, choice = choices(problem, assignment)
    by_rank = (np.arange(rows.size) - starts[rows]) < ranked[rows]
    capacity = problem.capacity
    has_cut = np.array([c is not None for c in cutoff], dtype=bool)
    cut_tier = np.array([c["tier"] if c else 0 for c in cutoff], dtype=np.int64)
    cut_cost = np.array([c["cost"] if c else 0 for c in cutoff], dtype=np.int64)
    why = np.full(rows.size, _WHYS.index("full"), dtype=np.int64)
    why[~has_cut[schools]] = _WHYS.index("not full")
    why[capacity[schools] == 0] = _WHYS.index("no seats")
    why[pair_cost < 0] = _WHYS.index("not eligible")
    full = why == _WHYS.index("full")
    verdict = np.where(
        cut_tier[schools] != problem.tier[rows],
        0,
        np.where(cut_cost[schools] != pair_cost, 1, 2),
    )
    keys = (schools * len(_DECIDED) + verdict)[full]
    # One template per (school, verdict) met, numbered in that order after the empty one.
    slot = np.zeros(problem.m * len(_DECIDED) + 1, dtype=np.int64)
    slot[keys] = 1
    used = np.flatnonzero(slot)
    slot[used] = np.arange(1, used.size + 1)
    templates: list[dict[str, object]] = [{}]
    for key in used.tolist():
        template = dict(cutoff[key // len(_DECIDED)] or {})
        template["decided_by"] = _DECIDED[key % len(_DECIDED)]
        templates.append(template)
    pair_cutoff = np.zeros(rows.size, dtype=np.int64)
    pair_cutoff[full] = slot[keys]
    facts = _Facts(problem, capacity.tolist(), problem.tier.tolist(), priority.lottery.tolist())

    def word(i: int) -> Explanation:
        own = int(assignment[i])
        own_cost = int(problem.cost[i, own]) if own >= 0 else 0
        entries: list[PassedOver] = []
        clauses: list[str] = []
        lo, hi = int(starts[i]), int(starts[i + 1])
        for k, s, cost in zip(
            range(lo, hi), schools[lo:hi].tolist(), pair_cost[lo:hi].tolist(), strict=True
        ):
            entry, clause = _passed(facts, i, s, cost, cutoff[s], bool(by_rank[k]))
            entries.append(entry)
            clauses.append(clause)
        return _sentence(problem, i, own, own_cost, entries, clauses)

    return ExplanationTable.of_assignment(
        problem,
        assignment,
        ranked=ranked,
        choice=choice,
        starts=starts,
        pair_school=schools,
        pair_cost=pair_cost,
        pair_why=why,
        pair_ranked=by_rank,
        pair_cutoff=pair_cutoff,
        whys=_WHYS,
        cutoffs=tuple(templates),
        word=word,
    )


_WHYS = ("full", "not full", "no seats", "not eligible")
_DECIDED = ("priority", "distance", "lottery")


def _higher_pairs(problem: Problem, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(applicant, school) pairs she ranked above her own school, by applicant then rank.

    With preferences: the schools listed before hers (all of them if she is not placed), the
    ineligible ones included. By cost: the nearer eligible schools, by cost then school index.
    """
    if problem.preferences is None:
        return nearer_pairs(problem, assignment)
    rows_list: list[int] = []
    cols_list: list[int] = []
    for i, (row, a) in enumerate(zip(problem.preferences, assignment.tolist(), strict=True)):
        higher = row[: row.index(a)] if a in row else row
        rows_list.extend([i] * len(higher))
        cols_list.extend(higher)
    return np.asarray(rows_list, dtype=np.int64), np.asarray(cols_list, dtype=np.int64)


class _Facts:
    """What wording a passed-over school needs, as Python lists (fast to read per pair)."""

    def __init__(
        self, problem: Problem, capacity: list[int], tiers: list[int], lottery: list[int]
    ) -> None:
        self.problem = problem
        self.capacity = capacity
        self.tiers = tiers
        self.lottery = lottery

    def describe(self, i: int, cost: int) -> dict[str, object]:
        """`SchoolPriority.describe` of applicant i at a school she is `cost` away from."""
        return {"tier": self.tiers[i], "cost": cost, "lottery": self.lottery[i]}

    def cutoff(self, i: int, cost: int, cut: dict[str, object] | None) -> dict[str, object]:
        """The school's cutoff (its last admitted child) and what put that child before
        applicant i: "priority" (a tier served first), "distance" or "lottery"."""
        entry = dict(cut or {})
        if cut is not None:
            if cut["tier"] != self.tiers[i]:
                entry["decided_by"] = "priority"
            elif cut["cost"] != cost:
                entry["decided_by"] = "distance"
            else:
                entry["decided_by"] = "lottery"
        return entry


def _passed(
    facts: _Facts, i: int, s: int, cost: int, cut: dict[str, object] | None, by_rank: bool
) -> tuple[PassedOver, str]:
    problem = facts.problem
    name = school_label(problem, s)
    school_id = problem.school_ids[s]
    if cost < 0:
        entry = PassedOver(s, school_id, cost, "not eligible", {}, by_rank)
        return entry, ineligible_clause(name)
    name = f"{name} ({amount(cost, problem.cost_unit)})"
    if facts.capacity[s] == 0:
        return PassedOver(s, school_id, cost, "no seats", {}, by_rank), f"{name} offers no seats"
    if cut is None:
        # Impossible in deferred acceptance: a school with a free seat accepts every applicant.
        entry = PassedOver(s, school_id, cost, "not full", {}, by_rank)
        return entry, f"{name} had free seats"
    clause = f"{name} was full: {_compare(cut, facts.describe(i, cost), problem)}"
    return PassedOver(s, school_id, cost, "full", facts.cutoff(i, cost, cut), by_rank), clause


def _compare(cut: dict[str, object], mine: dict[str, object], problem: Problem) -> str:
    """Why the school's last admitted child came before this applicant."""
    unit = problem.cost_unit
    if cut["tier"] != mine["tier"]:
        return "its last admitted child was in a priority group considered before yours"
    if cut["cost"] != mine["cost"]:
        return (
            f"its last admitted child, with the same priority as you, lived "
            f"{amount(_int(cut['cost']), unit)} away, nearer than your "
            f"{amount(_int(mine['cost']), unit)}"
        )
    return (
        f"its last admitted child, with the same priority as you and at the same distance, "
        f"drew lottery number {cut['lottery']}, before your {mine['lottery']}"
    )


def _sentence(
    problem: Problem,
    i: int,
    own: int,
    own_cost: int,
    entries: list[PassedOver],
    clauses: list[str],
) -> Explanation:
    ranked, choice = choice_of(problem, i, own)
    mine = [c for c, e in zip(clauses, entries, strict=True) if e.ranked]
    nearer = [c for c, e in zip(clauses, entries, strict=True) if not e.ranked]
    by_list = problem.preferences is not None and problem.ranked_count is None
    if own < 0:
        if not entries:
            reason = "Not placed: you are eligible for no school on your list."
        elif all(e.why == "not eligible" for e in entries):
            reason = f"Not placed: {listed(clauses)}."
        else:
            reason = f"Not placed: no school on your list could take you: {listed(clauses)}."
        return Explanation(
            problem.applicant_ids[i], None, None, None, reason, tuple(entries), ranked, None
        )
    label = f"{school_label(problem, own)} ({amount(own_cost, problem.cost_unit)})"
    if choice is not None:
        reason = f"Placed at {label}, your {_ordinal(choice)} choice"
        reason += "." if by_list else f" of the {ranked} school(s) you ranked."
    elif ranked:
        reason = (
            f"Placed at {label}, not one of the {ranked} school(s) you ranked: none of them could "
            "take you, and this is the nearest other school that could."
        )
    else:
        k = len(entries) + 1
        rank = "the nearest school" if k == 1 else f"the {_ordinal(k)}-nearest school"
        reason = f"Placed at {label}, {rank} you are eligible for."
    if mine:
        reason += f" Schools you ranked{' higher' if choice else ''}: {listed(mine)}."
    if nearer:
        reason += f" Nearer schools{' you did not rank' if ranked else ''}: {listed(nearer)}."
    return Explanation(
        problem.applicant_ids[i],
        own,
        problem.school_ids[own],
        own_cost,
        reason,
        tuple(entries),
        ranked,
        choice,
    )


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an int, got {value!r}")
    return value
