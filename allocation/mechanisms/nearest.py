"""Near-home optimal allocation: lexicographic min-cost flow over priority tiers (OR-Tools)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from allocation import lexgroup, lextransport
from allocation.errors import ProblemError
from allocation.explain import (
    amount,
    choices,
    listed,
    nearer_pairs,
    passed,
    school_label,
    total_name,
)
from allocation.explanation_table import ABSENT, ExplanationTable
from allocation.grouping import group_applicants
from allocation.lexties import tie_break
from allocation.mechanisms.outcome import Outcome, seats_used
from allocation.objective import SQUARED_COST_LIMIT, tier_ranks
from allocation.problem import Problem
from allocation.result import Explanation, PassedOver, Status


def solve_nearest(problem: Problem, *, squared: bool = False, explain: bool = True) -> Outcome:
    """Place everyone who can be placed, tiers first, at the least total (squared) cost.

    The objective is `allocation.objective`'s, solved exactly stage by stage on applicants
    merged by identical cost rows and tiers: when everyone can be placed, each cost stage as a
    transportation problem by school prices (`lextransport`), else as priced min-cost flows
    (`lexgroup`); the lottery stage per child (`lexties`). Guarantees: the number placed per
    tier is lexicographically maximal (so as many children as possible are placed); given that,
    tier 0's total cost is minimal, then tier 1's, ...; the lottery breaks remaining ties. Every
    stage is certified optimal over all n x m pairs by potentials under which no pair has a
    negative reduced cost. `max_cost` and sibling groups are not constraints here.
    """
    assignment = np.full(problem.n, -1, dtype=np.int64)
    if problem.n == 0 or problem.m == 0 or not bool((problem.cost >= 0).any()):
        return Outcome(assignment, Status.OPTIMAL, _explain_plain(problem, assignment))
    tiers, rank = tier_ranks(problem)
    lottery = problem.lottery()
    groups = group_applicants(problem.cost, rank, lottery)
    raw = np.ascontiguousarray(problem.cost[groups.representative])
    real = raw
    if squared:
        if int(raw.max()) > SQUARED_COST_LIMIT:
            raise ProblemError(
                f"cost {int(raw.max())} {problem.cost_unit} is too large to square in int64; "
                "use a coarser unit or squared=False"
            )
        real = np.where(raw >= 0, raw * raw, -1)
    flow = lexgroup.Flow(groups, real, rank[groups.representative], problem.capacity)
    stages = _stages(len(tiers), rank[groups.representative])
    # Usually everyone can be placed: then the count stage is settled and each cost stage is a
    # transportation problem, solved by school prices. Otherwise the stages are min-cost flows
    # (whose own everyone-placed shortcut then finds the shortlist cannot place everyone).
    if not lextransport.place_everyone(flow, stages):
        lexgroup.shortlist(flow)
        settled = 2 if lexgroup.place_everyone(flow, stages[1]) is not None else 0
        for index, stage in enumerate(stages):
            if index >= settled:
                lexgroup.solve_stage(flow, stage, index)
    lexgroup.add_free_arcs(flow)
    assignment = tie_break(flow, raw, lottery)
    explanations = _explain(problem, flow, stages, assignment, squared, rank) if explain else ()
    return Outcome(assignment, Status.OPTIMAL, explanations)


def _stages(tiers: int, group_rank: np.ndarray) -> list[lexgroup.StageCosts]:
    """Places per tier (source arcs priced by tier), then each tier's cost in turn."""
    count = lexgroup.StageCosts(src=-(tiers - group_rank).astype(np.int64), tier=None)
    zero = np.zeros(len(group_rank), dtype=np.int64)
    return [count] + [lexgroup.StageCosts(src=zero, tier=t) for t in range(tiers)]


def _final_flow(flow: lexgroup.Flow, assignment: np.ndarray, m: int) -> np.ndarray:
    """Group-level flow on every arc of the network that `assignment` makes."""
    groups = flow.groups
    placed = np.flatnonzero(assignment >= 0)
    g_of = groups.of_applicant[placed]
    pair = np.bincount(g_of * m + assignment[placed], minlength=flow.g_count * m)
    result = np.zeros(len(flow.tails), dtype=np.int64)
    e0 = flow.first_elig
    result[e0:] = pair[flow.elig_group * m + flow.elig_school]
    per_group = np.bincount(g_of, minlength=flow.g_count)
    result[1 : 1 + len(flow.src_group)] = per_group[flow.src_group]
    result[1 + len(flow.src_group) : e0] = seats_used(assignment, m)
    result[0] = flow.caps[0] - placed.size
    return result


def _floyd(weights: np.ndarray) -> np.ndarray:
    np.fill_diagonal(weights, np.minimum(np.diag(weights), 0.0))
    for k in range(len(weights)):
        np.minimum(weights, weights[:, k : k + 1] + weights[k : k + 1, :], out=weights)
    return weights


def _explain(
    problem: Problem,
    flow: lexgroup.Flow,
    stages: list[lexgroup.StageCosts],
    assignment: np.ndarray,
    squared: bool,
    rank: np.ndarray,
) -> ExplanationTable:
    """Each closer school not given is full; price it by the tier's residual distances.

    For applicant a at school o and closer school s, `others_further` is the cheapest chain of
    moves of other children (residual distance D[s, o] in the face of a's tier stage, with the
    final flow) that frees a seat at s and refills the seat a leaves at o; `price` =
    others_further - you_would_save is what the tier's total would have risen by. The optimum
    guarantees price >= 0.
    """
    rows, cols = nearer_pairs(problem, assignment)
    full = seats_used(assignment, problem.m) >= problem.capacity
    own = assignment[rows] if rows.size else np.zeros(0, dtype=np.int64)
    placed = own >= 0
    price = np.full(rows.size, np.nan)
    chain = np.full(rows.size, np.nan)
    saved = np.zeros(rows.size, dtype=np.int64)
    flow.flow = _final_flow(flow, assignment, problem.m)
    m = problem.m
    keys = flow.elig_group * m + flow.elig_school
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]

    def free_in(groups: np.ndarray, schools: np.ndarray, index: int) -> np.ndarray:
        wanted = groups * m + schools
        at = np.minimum(np.searchsorted(sorted_keys, wanted), max(sorted_keys.size - 1, 0))
        present = sorted_keys.size > 0
        hit = (sorted_keys[at] == wanted) if present else np.zeros(wanted.size, dtype=bool)
        arc = flow.first_elig + order[at] if present else at
        in_network = np.where(hit, flow.closed_after[arc] >= index, False)
        missing = ~hit & (flow.dense_closed[groups, schools] >= index)
        return np.asarray(in_network | missing)

    placed_rows = np.flatnonzero(assignment >= 0)
    group_seats = np.bincount(
        flow.groups.of_applicant[placed_rows] * m + assignment[placed_rows],
        minlength=flow.g_count * m,
    )
    for t in range(len(stages) - 1):
        index = t + 1
        pick = np.flatnonzero(placed & (rank[rows] == t))
        if pick.size == 0:
            continue
        stage = stages[index]
        costs = flow.arc_costs(stage)
        free = flow.closed_after >= index
        weights, _ = lexgroup.school_graph(flow, costs, free, dense=(stage, index))
        distance = _floyd(weights)
        g = flow.groups.of_applicant[rows[pick]]
        saved[pick] = flow.real[g, own[pick]] - flow.real[g, cols[pick]]
        d = distance[cols[pick], own[pick]]
        d[~(free_in(g, cols[pick], index) & free_in(g, own[pick], index))] = np.inf
        # A child of the same group (same home and tier) holds a seat there: swapping the two
        # changes no total, so the lottery decided.
        twin = group_seats[g * m + cols[pick]] > 0
        d[twin] = saved[pick][twin]
        chain[pick] = np.where(np.isfinite(d), d, np.nan)
        price[pick] = chain[pick] - saved[pick]
    unit = f"{problem.cost_unit}²" if squared else problem.cost_unit
    words = _Words(problem, full, unit, total_name(problem, squared))
    pair_cost = problem.cost[rows, cols] if rows.size else np.zeros(0, dtype=np.int64)
    starts = np.searchsorted(rows, np.arange(problem.n + 1)).astype(np.int64)
    ranked, choice = choices(problem, assignment)
    table = _columns(problem, rows, cols, placed, full, price, chain, saved, unit)

    def word(i: int) -> Explanation:
        lo, hi = int(starts[i]), int(starts[i + 1])
        own_school = int(assignment[i])
        if own_school < 0:
            return _unplaced(problem, i, cols[lo:hi].tolist(), full)
        own_cost = int(problem.cost[i, own_school])
        label = f"{school_label(problem, own_school)} ({amount(own_cost, problem.cost_unit)})"
        entries: list[PassedOver] = []
        clauses: list[str] = []
        for k in range(lo, hi):
            facts = (int(cols[k]), int(pair_cost[k]), float(price[k]), float(chain[k]))
            entry, clause = words.priced(*facts, int(saved[k]))
            entries.append(entry)
            clauses.append(clause)
        if entries:
            reason = f"Placed at {label}. Closer schools were not given: {listed(clauses)}."
        else:
            reason = f"Placed at {label}, the nearest school you are eligible for."
        return Explanation(
            problem.applicant_ids[i],
            own_school,
            problem.school_ids[own_school],
            own_cost,
            reason,
            tuple(entries),
            int(ranked[i]),
            int(choice[i]) or None,
        )

    return ExplanationTable.of_assignment(
        problem,
        assignment,
        ranked=ranked,
        choice=choice,
        starts=starts,
        pair_school=cols,
        pair_cost=pair_cost,
        word=word,
        **table,
    )


_WHYS = ("full", "not chosen (tie)", "no seats", "not chosen")


def _columns(
    problem: Problem,
    rows: np.ndarray,
    cols: np.ndarray,
    placed: np.ndarray,
    full: np.ndarray,
    price: np.ndarray,
    chain: np.ndarray,
    saved: np.ndarray,
    unit: str,
) -> dict[str, Any]:
    """Why each nearer school was not given and its cutoff, for every pair at once: the same
    entries `_Words.entry` and `_unplaced` word one by one."""
    no_seats = problem.capacity[cols] == 0
    is_full = full[cols]
    why = np.where(is_full, 0, np.where(placed, 1, 3))
    why[no_seats] = 2
    priced = placed & ~no_seats & ~np.isnan(chain)
    unpriced = placed & ~no_seats & np.isnan(chain)
    # Templates: 0 a seat could not be priced, 1 priced, 2 the price could not be found.
    cutoff = np.zeros(rows.size, dtype=np.int64)
    cutoff[priced] = 1
    cutoff[unpriced] = 2
    fields = {
        name: np.full(rows.size, ABSENT, dtype=np.int64)
        for name in ("price", "others_further", "you_would_save")
    }
    fields["price"][priced] = np.round(price[priced]).astype(np.int64)
    fields["others_further"][priced] = np.round(chain[priced]).astype(np.int64)
    fields["you_would_save"][priced | unpriced] = saved[priced | unpriced]
    return {
        "pair_why": why,
        "pair_ranked": np.zeros(rows.size, dtype=bool),
        "pair_cutoff": cutoff,
        "whys": _WHYS,
        "cutoffs": (
            {"price": None},
            {"unit": unit},
            {"price": None, "others_further": None, "unit": unit},
        ),
        "pair_fields": fields,
    }


def _explain_plain(problem: Problem, assignment: np.ndarray) -> tuple[Explanation, ...]:
    """Explanations when nobody can be placed (no schools or no eligible pair)."""
    full = np.zeros(problem.m, dtype=bool)
    return tuple(_unplaced(problem, i, [], full) for i in range(problem.n))


class _Words:
    """How a passed-over school is entered and worded, from per-school facts read once."""

    def __init__(self, problem: Problem, full: np.ndarray, unit: str, measure: str) -> None:
        self.problem = problem
        self.full: list[bool] = full.tolist()
        self.no_seats: list[bool] = (problem.capacity == 0).tolist()
        self.unit = unit
        self.measure = measure

    def entry(self, s: int, cost: int, price: float, chain: float, saved: int) -> PassedOver:
        """The passed-over entry for closer school s, without wording a clause."""
        school_id = self.problem.school_ids[s]
        if self.no_seats[s]:
            return PassedOver(s, school_id, cost, "no seats", {"price": None})
        why = "full" if self.full[s] else "not chosen (tie)"
        if math.isnan(chain):
            cut: dict[str, object] = {"price": None, "others_further": None}
        else:
            cut = {"price": round(price), "others_further": round(chain)}
        cut.update({"you_would_save": saved, "unit": self.unit})
        return PassedOver(s, school_id, cost, why, cut)

    def priced(
        self, s: int, cost: int, price: float, chain: float, saved: int
    ) -> tuple[PassedOver, str]:
        """The passed-over entry and reason clause for closer school s."""
        problem, unit = self.problem, self.unit
        entry = self.entry(s, cost, price, chain, saved)
        name = f"{school_label(problem, s)} ({amount(cost, problem.cost_unit)})"
        if self.no_seats[s]:
            return entry, f"{name} offers no seats"
        if math.isnan(chain):
            clause = (
                f"{name} was full, and its seats could not be freed without moving a child of "
                "higher priority or leaving a child without a place"
            )
            return entry, clause
        others = round(chain)
        raised = (
            f"a seat there for you would have raised {self.measure} of other children of your "
            f"priority group by {amount(others, unit)}"
        )
        if saved == 0 and price == 0:
            clause = f"{name}, as near as your school, was full; the published lottery decided"
        elif saved == 0:
            clause = f"{name}, as near as your school, was full; {raised}"
        elif price > 0:
            clause = (
                f"{name} was full; {raised}, more than the {amount(saved, unit)} you would save"
            )
        else:
            clause = (
                f"{name} was full; {raised}, exactly the {amount(saved, unit)} you would save, "
                "so the published lottery decided"
            )
        return entry, clause


def _unplaced(problem: Problem, i: int, schools: list[int], full: np.ndarray) -> Explanation:
    entries = tuple(
        passed(problem, i, s, _why_unplaced(problem, s, full), {"price": None}) for s in schools
    )
    if not schools:
        reason = "Not placed: the problem gives no cost from you to any school."
    else:
        names = [
            f"{school_label(problem, s)} ({amount(problem.cost[i, s], problem.cost_unit)})"
            for s in schools
        ]
        reason = (
            "Not placed: every school you could be placed at was full, with as many children "
            f"placed as the seats allow, priority groups first: {listed(names)}."
        )
    return Explanation(
        problem.applicant_ids[i], None, None, None, reason, entries, problem.ranked(i)
    )


def _why_unplaced(problem: Problem, s: int, full: np.ndarray) -> str:
    if problem.capacity[s] == 0:
        return "no seats"
    return "full" if full[s] else "not chosen"
