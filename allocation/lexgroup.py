"""Lexicographic min-cost flow on merged applicants, priced against the whole cost matrix.

Applicants with the same cost row and tier form one group node (supply = its size), so the
flow has one node per distinct home rather than per child. Each stage (places per tier, then
cost per tier) is solved by OR-Tools on a candidate set of arcs: each group's SHORTLIST
nearest schools, then arcs of the full matrix whose reduced cost is negative under the
stage's node potentials enter (with near misses), and the stage is solved again, until none
does. Between rounds each group keeps only a few free empty arcs of least reduced cost (a
dropped arc is priced like any missing one), and a small tier's cost stage is solved on its
own groups first (`solve_split`), so OR-Tools works on small networks. Potentials are
shortest residual distances, computed on the graph of schools, source and sink with group
nodes contracted out (paths through a group become school-to-school moves), so they cost
O(m^2) per round, not O(arcs x path length). When no arc of the n x m matrix has a negative
reduced cost the potentials certify the flow optimal for the full problem (LP duality), and
arcs of non-zero reduced cost are fixed for the later stages (complementary slackness), so
each stage optimises exactly over the optimal solutions of the earlier ones.

The lottery tie-break cannot be merged (children of a group draw different numbers); it is
solved last, per child, on the arcs still free (zero reduced cost in every stage), expanding
only groups that still have a choice; every other group's children take its seats in lottery
order, earliest the nearest (the rearrangement inequality makes that optimal).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.graph.python import min_cost_flow

from allocation.errors import ProblemError, SolverError
from allocation.grouping import Groups

SHORTLIST = 12
"""Each group's nearest eligible schools are candidates from the start."""

ENTER_PER_GROUP = 6
"""Arcs of negative reduced cost that enter per group and pricing round (most negative first)."""

WORKING = 3
"""Free empty arcs each group keeps in the network between pricing rounds (least reduced cost
first); the rest leave it, and pricing brings back any that would pay."""

LOOKAHEAD = 0.03
"""Share of the mean cost of a placement below which a missing arc's reduced cost counts as
a near miss, entering with the negative ones (see `price`)."""

OPEN = np.iinfo(np.int16).max
"""`closed_after` of an arc never fixed."""

_ROWS = 4_096
"""Groups per block when scanning the full matrix."""

_FAR = np.iinfo(np.int64).max // 4
"""A reduced cost no arc reaches, for arcs left out of a scan."""


@dataclass(frozen=True, eq=False)
class StageCosts:
    """One stage's arc costs: per unit on source arcs, and on group arcs of one tier or none."""

    src: np.ndarray  # int64 [G]
    tier: int | None  # group arcs of this tier cost the objective cost; all others 0


@dataclass(eq=False)
class Flow:
    """The merged network; node 0 source, 1..G groups, then m schools, then the sink.

    Arcs: [bypass source->sink, source->group (groups with an eligible school), school->sink,
    group->school candidates (appended as they enter)].
    """

    groups: Groups
    real: np.ndarray  # int64 [G, m] objective cost of each group at each school, < 0 ineligible
    tier: np.ndarray  # int64 [G] tier rank of each group
    capacity: np.ndarray  # int64 [m]
    src_group: np.ndarray = field(init=False)
    tails: np.ndarray = field(init=False)
    heads: np.ndarray = field(init=False)
    caps: np.ndarray = field(init=False)
    closed_after: np.ndarray = field(init=False)  # int16 per arc: stage that fixed it, or OPEN
    full: np.ndarray = field(init=False)  # bool per arc: fixed at capacity (else fixed empty)
    flow: np.ndarray = field(init=False)
    present: np.ndarray = field(init=False)  # bool [G, m]: arc is in the network
    dense_closed: np.ndarray = field(init=False)  # int16 [G, m]: stage that fixed a missing arc

    def __post_init__(self) -> None:
        g_count, m = self.real.shape
        size = self.groups.size
        eligible_any = np.zeros(g_count, dtype=bool)
        if m:
            for rows in self.blocks():
                eligible_any[rows] = (self.real[rows] >= 0).any(axis=1)
        self.src_group = np.flatnonzero(eligible_any).astype(np.int64)
        k = int(size[self.src_group].sum())
        source, sink = 0, self.sink
        self.tails = np.concatenate(
            [[source], np.zeros(len(self.src_group), np.int64), self.school_node(np.arange(m))]
        ).astype(np.int64)
        self.heads = np.concatenate([[sink], 1 + self.src_group, np.full(m, sink)]).astype(np.int64)
        self.caps = np.concatenate([[k], size[self.src_group], self.capacity]).astype(np.int64)
        self.closed_after = np.full(len(self.tails), OPEN, dtype=np.int16)
        self.full = np.zeros(len(self.tails), dtype=bool)
        self.flow = np.zeros(len(self.tails), dtype=np.int64)
        self.present = np.zeros((g_count, m), dtype=bool)
        self.dense_closed = np.full((g_count, m), OPEN, dtype=np.int16)
        for rows in self.blocks():
            np.putmask(self.dense_closed[rows], self.real[rows] < 0, -1)

    @property
    def g_count(self) -> int:
        """Number of group nodes."""
        return len(self.real)

    @property
    def m(self) -> int:
        """Number of schools."""
        return self.real.shape[1]

    @property
    def sink(self) -> int:
        """Node id of the sink."""
        return self.g_count + self.m + 1

    @property
    def num_nodes(self) -> int:
        """Source, groups, schools and sink."""
        return self.g_count + self.m + 2

    @property
    def first_elig(self) -> int:
        """Index of the first group->school arc."""
        return 1 + len(self.src_group) + self.m

    def school_node(self, s: np.ndarray) -> np.ndarray:
        """Node ids of schools."""
        return 1 + self.g_count + np.asarray(s, dtype=np.int64)

    @property
    def elig_group(self) -> np.ndarray:
        """Group of each group->school arc."""
        return self.tails[self.first_elig :] - 1

    @property
    def elig_school(self) -> np.ndarray:
        """School of each group->school arc."""
        return self.heads[self.first_elig :] - 1 - self.g_count

    def add(self, groups: np.ndarray, schools: np.ndarray) -> None:
        """Append group->school arcs (free, empty) that are not in the network yet."""
        keep = ~self.present[groups, schools]
        groups, schools = groups[keep], schools[keep]
        if groups.size == 0:
            return
        self.present[groups, schools] = True
        count = groups.size
        self.tails = np.r_[self.tails, 1 + groups]
        self.heads = np.r_[self.heads, self.school_node(schools)]
        cap = self.groups.size[groups]
        self.caps = np.r_[self.caps, cap]
        self.closed_after = np.r_[self.closed_after, np.full(count, OPEN, dtype=np.int16)]
        self.full = np.r_[self.full, np.zeros(count, dtype=bool)]
        self.flow = np.r_[self.flow, np.zeros(count, dtype=np.int64)]

    def drop(self, arcs: np.ndarray) -> None:
        """Remove group->school arcs (indices into the arc arrays) that are free and empty.

        A removed arc is a missing arc again: free in the face while `dense_closed` says so, and
        priced against the potentials like every other missing arc.
        """
        if arcs.size == 0:
            return
        g = self.tails[arcs] - 1
        s = self.heads[arcs] - 1 - self.g_count
        self.present[g, s] = False
        keep = np.ones(len(self.tails), dtype=bool)
        keep[arcs] = False
        self.tails = self.tails[keep]
        self.heads = self.heads[keep]
        self.caps = self.caps[keep]
        self.closed_after = self.closed_after[keep]
        self.full = self.full[keep]
        self.flow = self.flow[keep]

    def arc_costs(self, stage: StageCosts) -> np.ndarray:
        """Unit cost of every arc in the network at this stage."""
        costs = np.zeros(len(self.tails), dtype=np.int64)
        costs[1 : 1 + len(self.src_group)] = stage.src[self.src_group]
        if stage.tier is not None:
            g, s = self.elig_group, self.elig_school
            costs[self.first_elig :] = np.where(self.tier[g] == stage.tier, self.real[g, s], 0)
        return costs

    def dense_costs(self, stage: StageCosts, rows: slice) -> np.ndarray:
        """Unit cost at this stage of every group of `rows` at every school."""
        block = self.real[rows]
        if stage.tier is None:
            return np.zeros(block.shape, dtype=np.int64)
        return np.where((self.tier[rows] == stage.tier)[:, None], block, 0)

    def blocks(self) -> Iterator[slice]:
        """Row blocks of the full matrix."""
        for lo in range(0, self.g_count, _ROWS):
            yield slice(lo, min(lo + _ROWS, self.g_count))


def shortlist(flow: Flow) -> None:
    """Add each group's SHORTLIST nearest eligible schools."""
    k = min(SHORTLIST, flow.m)
    if k == 0:
        return
    for rows in flow.blocks():
        block = flow.real[rows]
        masked = np.where(block >= 0, block, np.iinfo(np.int64).max)
        near = np.argpartition(masked, k - 1, axis=1)[:, :k] if k < flow.m else None
        if near is None:
            near = np.broadcast_to(np.arange(flow.m), masked.shape)
        g = np.repeat(np.arange(rows.start, rows.stop), near.shape[1])
        s = near.reshape(-1)
        ok = block[g - rows.start, s] >= 0
        flow.add(g[ok], s[ok].astype(np.int64))


def place_everyone(flow: Flow, stage: StageCosts) -> np.ndarray | None:
    """Solve `stage` with every source arc fixed full, if the candidate arcs can place everyone.

    Then the first stage (children placed per tier) is settled without solving it: a flow
    placing everyone is lexicographically maximal, and fixing the source arcs full (and the
    bypass empty) is exactly its face. Returns the stage's potentials, or None, changing
    nothing, if the candidate arcs cannot place everyone (the caller then solves the first
    stage as usual).
    """
    src = np.arange(1, 1 + len(flow.src_group))
    flow.closed_after[0] = 0
    flow.full[0] = False
    flow.closed_after[src] = 0
    flow.full[src] = True
    found = solve_stage(flow, stage, 1, may_fail=True)
    if found is None:
        flow.closed_after[0] = OPEN
        flow.closed_after[src] = OPEN
        flow.full[src] = False
    return found


def solve_network(flow: Flow, costs: np.ndarray, *, feasible_only: bool = False) -> bool:
    """Optimal flow over the free arcs (fixed arcs keep their flow); sets `flow.flow`.

    With `feasible_only`, returns False when the supplies cannot be met instead of raising.
    """
    free = flow.closed_after == OPEN
    supply = np.zeros(flow.num_nodes, dtype=np.int64)
    supply[0] = flow.caps[0]
    supply[flow.sink] = -flow.caps[0]
    fixed = np.flatnonzero(~free & flow.full)
    np.subtract.at(supply, flow.tails[fixed], flow.caps[fixed])
    np.add.at(supply, flow.heads[fixed], flow.caps[fixed])
    idx = np.flatnonzero(free)
    status, flows = run_min_cost_flow(
        flow.tails[idx], flow.heads[idx], flow.caps[idx], costs[idx], supply
    )
    if feasible_only and status == Solver.INFEASIBLE:
        return False
    if status == Solver.BAD_COST_RANGE:
        raise ProblemError(
            "costs are too large for the flow solver (largest arc cost "
            f"{int(np.abs(costs).max())}); express costs in a coarser unit (e.g. tens of metres) "
            "or do not square them"
        )
    if status != Solver.OPTIMAL:
        raise SolverError(f"min-cost flow stage ended with status {status.name}; please report")
    result = np.where(~free & flow.full, flow.caps, 0)
    result[idx] = flows
    flow.flow = result
    return True


Solver = min_cost_flow.SimpleMinCostFlow


def run_min_cost_flow(
    tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, costs: np.ndarray, supply: np.ndarray
) -> tuple[Any, np.ndarray]:
    """OR-Tools' status and the flow on each arc of a min-cost flow with node supplies.

    Many supply nodes slow OR-Tools down (fixed arcs put supplies on every group), so each
    node's supply or demand is carried by an arc from one hub node or to another; the hubs
    hold the totals, so those arcs are full in every feasible flow and the problem is the same.
    """
    nodes = len(supply)
    give = np.flatnonzero(supply > 0)
    take = np.flatnonzero(supply < 0)
    source_hub, sink_hub = nodes, nodes + 1
    all_tails = np.concatenate([tails, np.full(give.size, source_hub), take]).astype(np.int32)
    all_heads = np.concatenate([heads, give, np.full(take.size, sink_hub)]).astype(np.int32)
    all_caps = np.concatenate([caps, supply[give], -supply[take]]).astype(np.int64)
    all_costs = np.concatenate([costs, np.zeros(give.size + take.size)]).astype(np.int64)
    hub_supply = np.zeros(nodes + 2, dtype=np.int64)
    hub_supply[source_hub] = supply[give].sum()
    hub_supply[sink_hub] = supply[take].sum()
    solver = Solver()
    solver.add_arcs_with_capacity_and_unit_cost(all_tails, all_heads, all_caps, all_costs)
    solver.set_nodes_supplies(np.arange(nodes + 2, dtype=np.int32), hub_supply)
    status = solver.solve()
    if status != solver.OPTIMAL:
        return status, np.zeros(0, dtype=np.int64)
    return status, solver.flows(np.arange(tails.size, dtype=np.int32))


def solve_split(flow: Flow, stage: StageCosts, costs: np.ndarray) -> bool:
    """Solve a cost stage whose tier is small in two small flows, if that is provably optimal.

    When every source arc is fixed (everyone's placement counted), the stage's cost is carried
    by its tier's groups alone: their optimum with the free seats, ignoring everyone else, is a
    lower bound. If the other groups can then still be placed in the seats left (any way: they
    cost nothing in this stage), the two flows together reach the bound and are optimal. Sets
    `flow.flow` and returns True, or returns False, changing nothing, when the stage is not of
    that shape or the other groups do not fit (the caller then solves the whole network).
    """
    e0 = flow.first_elig
    free = flow.closed_after == OPEN
    if stage.tier is None or free[:e0][1 + len(flow.src_group) :].sum() != flow.m:
        return False
    if free[: 1 + len(flow.src_group)].any():
        return False
    arcs = e0 + np.flatnonzero(free[e0:])
    mine = flow.tier[flow.tails[arcs] - 1] == stage.tier
    if 4 * int(mine.sum()) > arcs.size:
        return False  # the tier is most of the network: nothing to gain
    supply = np.zeros(flow.num_nodes, dtype=np.int64)
    fixed = np.flatnonzero(~free & flow.full)
    np.subtract.at(supply, flow.tails[fixed], flow.caps[fixed])
    np.add.at(supply, flow.heads[fixed], flow.caps[fixed])
    supply[0] += flow.caps[0]
    supply[flow.sink] -= flow.caps[0]
    groups = np.arange(1, 1 + flow.g_count)
    schools = flow.school_node(np.arange(flow.m))
    sink_arcs = np.arange(1 + len(flow.src_group), e0)
    result = np.where(~free & flow.full, flow.caps, 0)
    seats = flow.caps[sink_arcs].copy()
    for part in (mine, ~mine):
        chosen = arcs[part]
        in_part = np.zeros(flow.g_count, dtype=bool)
        in_part[flow.tier == stage.tier] = part is mine
        in_part[flow.tier != stage.tier] = part is not mine
        part_supply = np.zeros(flow.num_nodes, dtype=np.int64)
        part_supply[groups[in_part]] = supply[groups[in_part]]
        # Schools pass on what fixed arcs bring them; the sink takes what the part sends.
        if part is mine:
            part_supply[schools] = supply[schools]
        part_supply[flow.sink] = -part_supply.sum()
        status, flows = run_min_cost_flow(
            np.r_[flow.tails[chosen], flow.tails[sink_arcs]],
            np.r_[flow.heads[chosen], flow.heads[sink_arcs]],
            np.r_[flow.caps[chosen], seats],
            np.r_[costs[chosen], np.zeros(flow.m, dtype=np.int64)],
            part_supply,
        )
        if status != Solver.OPTIMAL:
            return False
        result[chosen] = flows[: chosen.size]
        used = flows[chosen.size :]
        result[sink_arcs] += used
        seats = seats - used
    flow.flow = result
    return True


def _reduce_min(size: int, index: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """out.flat[index] = min(out.flat[index], values), grouped (out has `size` cells)."""
    if index.size == 0:
        return
    order = np.argsort(index, kind="stable")
    index, values = index[order], values[order]
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    flat = out.reshape(size)
    cells = index[starts]
    flat[cells] = np.minimum(flat[cells], np.minimum.reduceat(values, starts))


def school_graph(
    flow: Flow,
    costs: np.ndarray,
    free: np.ndarray,
    dense: tuple[StageCosts, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Residual graph over schools (0..m-1), sink (m) and source (m+1), groups contracted.

    Only arcs marked `free` are residual. With `dense` = (stage, t), the full matrix's missing
    arcs still free in the face of stage t count too (as empty arcs). Returns the weight matrix
    W (inf where no move) and, for potentials, the cheapest path from a virtual root that
    reaches every node at cost 0 (through groups: the cheapest arc out of a group).
    """
    m = flow.m
    size = m + 2
    sink, source = m, m + 1
    weights = np.full((size, size), np.inf)
    root = np.zeros(size)
    e0 = flow.first_elig
    g_arc, s_arc = flow.elig_group, flow.elig_school
    c = costs[e0:].astype(np.float64)
    x = flow.flow[e0:]
    fr = free[e0:]
    forward = fr & (x < flow.caps[e0:])
    backward = fr & (x > 0)
    src = slice(1, 1 + len(flow.src_group))
    src_cost = np.zeros(flow.g_count)
    src_cost[flow.src_group] = costs[src]
    src_fwd = np.zeros(flow.g_count, dtype=bool)
    src_back = np.zeros(flow.g_count, dtype=bool)
    src_fwd[flow.src_group] = free[src] & (flow.flow[src] < flow.caps[src])
    src_back[flow.src_group] = free[src] & (flow.flow[src] > 0)
    # Moves school -> school through a group: leave s (backward), enter s2 (forward).
    fwd = np.flatnonzero(forward)
    order = np.argsort(g_arc[fwd], kind="stable")
    fwd = fwd[order]
    fg = g_arc[fwd]
    f_start = np.searchsorted(fg, np.arange(flow.g_count + 1))
    back = np.flatnonzero(backward)
    bg = g_arc[back]
    count = f_start[bg + 1] - f_start[bg]
    b_rep = np.repeat(back, count)
    offset = np.arange(b_rep.size) - np.repeat(np.cumsum(count) - count, count)
    f_rep = fwd[f_start[g_arc[b_rep]] + offset]
    _reduce_min(size * size, s_arc[b_rep] * size + s_arc[f_rep], c[f_rep] - c[b_rep], weights)
    # Source -> school through a group whose source arc has room.
    entering = fwd[src_fwd[fg]]
    _reduce_min(
        size * size,
        np.full(entering.size, source * size) + s_arc[entering],
        src_cost[g_arc[entering]] + c[entering],
        weights,
    )
    # School -> source: a group's child leaves the school and is no longer placed.
    leaving = back[src_back[bg]]
    _reduce_min(
        size * size,
        s_arc[leaving] * size + source,
        -c[leaving] - src_cost[g_arc[leaving]],
        weights,
    )
    # The virtual root reaches each group at 0, hence a school through its forward arcs.
    _reduce_min(size, s_arc[fwd], c[fwd], root)
    out = np.flatnonzero(src_back)
    if out.size:
        root[source] = min(root[source], float((-src_cost[out]).min()))
    sink_arcs = np.arange(1 + len(flow.src_group), e0)
    schools = np.arange(m)
    sink_cost = costs[sink_arcs].astype(np.float64)
    spare = free[sink_arcs] & (flow.flow[sink_arcs] < flow.caps[sink_arcs])
    used = free[sink_arcs] & (flow.flow[sink_arcs] > 0)
    weights[schools[spare], sink] = np.minimum(weights[schools[spare], sink], sink_cost[spare])
    weights[sink, schools[used]] = np.minimum(weights[sink, schools[used]], -sink_cost[used])
    if free[0] and flow.flow[0] < flow.caps[0]:
        weights[source, sink] = min(weights[source, sink], float(costs[0]))
    if free[0] and flow.flow[0] > 0:
        weights[sink, source] = min(weights[sink, source], -float(costs[0]))
    if dense is not None:
        _dense_moves(flow, dense[0], dense[1], weights, c, back, src_cost, src_fwd)
    return weights, root


def _dense_moves(
    flow: Flow,
    stage: StageCosts,
    t: int,
    weights: np.ndarray,
    c: np.ndarray,
    back: np.ndarray,
    src_cost: np.ndarray,
    src_fwd: np.ndarray,
) -> None:
    """Add moves onto missing arcs of the full matrix that are free in the face of stage t.

    A child of group g leaving school s (a back arc, cost c there) for a missing arc to school
    s2 is the move s -> s2 at cost[g, s2] - c; a group whose source arc has room brings a child
    in at cost[g, s2] + its source cost. Both are taken block by block for every group at once.
    """
    m = flow.m
    source = m + 1
    back_group = flow.elig_group[back]
    order = np.argsort(back_group, kind="stable")
    back, back_group = back[order], back_group[order]
    back_school = flow.elig_school[back]
    leave_cost = c[back]
    for rows in flow.blocks():
        open_ = (flow.dense_closed[rows] >= t) & ~flow.present[rows]
        if not open_.any():
            continue
        block = np.where(open_, flow.dense_costs(stage, rows).astype(np.float64), np.inf)
        lo, hi = np.searchsorted(back_group, [rows.start, rows.stop])
        if hi > lo:
            # Moves out of each school, least over the block's children leaving it.
            by_school = np.argsort(back_school[lo:hi], kind="stable")
            schools = back_school[lo:hi][by_school]
            moves = (
                block[back_group[lo:hi][by_school] - rows.start]
                - leave_cost[lo:hi][by_school, None]
            )
            first = np.flatnonzero(np.r_[True, schools[1:] != schools[:-1]])
            least = np.minimum.reduceat(moves, first, axis=0)
            at = schools[first]
            weights[at, :m] = np.minimum(weights[at, :m], least)
        entering = np.flatnonzero(src_fwd[rows.start : rows.stop])
        if entering.size:
            arriving = block[entering] + src_cost[rows.start + entering][:, None]
            np.minimum(weights[source, :m], arriving.min(axis=0), out=weights[source, :m])


def potentials(flow: Flow, costs: np.ndarray) -> np.ndarray:
    """Shortest residual distances from a virtual root to every node (free arcs only)."""
    free = flow.closed_after == OPEN
    weights, root = school_graph(flow, costs, free)
    m = flow.m
    d = np.minimum(root, 0.0)
    for _ in range(m + 3):
        best = np.minimum(d, (d[:, None] + weights).min(axis=0))
        if np.array_equal(best, d):
            break
        d = best
    else:
        raise SolverError("negative cycle in an 'optimal' flow's residual graph; please report")
    node = np.zeros(flow.num_nodes)
    node[0] = d[m + 1]
    node[flow.sink] = d[m]
    node[1 + flow.g_count : flow.sink] = d[:m]
    group = np.zeros(flow.g_count)
    src = slice(1, 1 + len(flow.src_group))
    into = free[src] & (flow.flow[src] < flow.caps[src])
    np.minimum.at(group, flow.src_group[into], d[m + 1] + costs[src][into])
    e0 = flow.first_elig
    back = free[e0:] & (flow.flow[e0:] > 0)
    g_arc, s_arc = flow.elig_group[back], flow.elig_school[back]
    np.minimum.at(group, g_arc, d[s_arc] - costs[e0:][back])
    node[1 : 1 + flow.g_count] = group
    if np.any(np.abs(node) >= 2.0**53):
        raise ProblemError("cost totals are too large to certify exactly; use a coarser unit")
    exact = np.rint(node).astype(np.int64)
    reduced = costs + exact[flow.tails] - exact[flow.heads]
    if np.any(free & (flow.flow < flow.caps) & (reduced < 0)) or np.any(
        free & (flow.flow > 0) & (reduced > 0)
    ):
        raise SolverError("potentials do not certify the flow as optimal; please report")
    return exact


def _dense_reduced(flow: Flow, stage: StageCosts, d: np.ndarray, rows: slice) -> np.ndarray:
    """Reduced cost of every group of `rows` at every school."""
    group_d = d[1 + rows.start : 1 + rows.stop]
    school_d = d[1 + flow.g_count : flow.sink]
    return flow.dense_costs(stage, rows) + group_d[:, None] - school_d[None, :]


def price(flow: Flow, stage: StageCosts, d: np.ndarray, index: int, slack: int = 0) -> int:
    """Add missing arcs, free in this stage's face, whose reduced cost is negative; count them.

    When any does, arcs whose reduced cost is below `slack` enter with them (most negative
    first, ENTER_PER_GROUP per group in all): the prices shift as arcs enter, and those near
    misses would mostly enter in the next round. Nothing enters when no arc is negative.
    """
    k = min(ENTER_PER_GROUP, flow.m)
    school_d = d[1 + flow.g_count : flow.sink]
    negatives = 0
    entering: list[tuple[np.ndarray, np.ndarray]] = []
    for rows in flow.blocks():
        # Most rows have no missing arc below the slack at all: find the others in one pass
        # (arcs in the network, whose reduced costs the solve settled, left out).
        shifted = flow.dense_costs(stage, rows) - school_d[None, :]
        np.putmask(shifted, flow.present[rows], _FAR)
        group_d = d[1 + rows.start : 1 + rows.stop]
        maybe = np.flatnonzero(shifted.min(axis=1) + group_d < slack)
        if maybe.size == 0:
            continue
        local = rows.start + maybe
        open_ = (flow.dense_closed[local] >= index) & ~flow.present[local]
        reduced = np.where(open_, shifted[maybe] + group_d[maybe, None], slack)
        negatives += int((reduced < 0).sum())
        below = np.flatnonzero((reduced < slack).any(axis=1))
        if below.size == 0:
            continue
        sub = reduced[below]
        # Rows with at most k arcs below the slack take them all; only the rest are ranked.
        few = (sub < slack).sum(axis=1) <= k
        r, s = np.nonzero(sub[few] < slack)
        entering.append((local[below[few]][r], s.astype(np.int64)))
        many = np.flatnonzero(~few)
        if many.size:
            top = sub[many]
            pick = np.argpartition(top, k - 1, axis=1)[:, :k]
            g = np.repeat(local[below[many]], k)
            s = pick.reshape(-1).astype(np.int64)
            ok = top[np.repeat(np.arange(many.size), k), s] < slack
            entering.append((g[ok], s[ok]))
    if negatives == 0:
        return 0
    for g, s in entering:
        flow.add(g, s)
    return negatives


def slack_of(flow: Flow, costs: np.ndarray) -> int:
    """LOOKAHEAD times the mean cost per child placed on a costed arc (0 if there is none)."""
    e0 = flow.first_elig
    placed = flow.flow[e0:]
    costed = costs[e0:] != 0
    count = int(placed[costed].sum())
    return int(LOOKAHEAD * int(placed @ costs[e0:]) / count) if count else 0


def shrink(flow: Flow, key: np.ndarray) -> None:
    """Keep each group's WORKING free empty arcs of least `key` (one per arc); drop the others.

    Arcs of negative `key` (reduced cost) stay. Dropping free empty arcs of non-negative
    reduced cost keeps the flow optimal on the arcs that stay and the potentials a certificate;
    the solver then works on far fewer arcs in the next round.
    """
    e0 = flow.first_elig
    key = key[e0:]
    candidate = np.flatnonzero(
        (flow.closed_after[e0:] == OPEN) & (flow.flow[e0:] == 0) & (key >= 0)
    )
    if candidate.size == 0:
        return
    group = flow.elig_group[candidate]
    order = np.lexsort((key[candidate], group))
    ranked = group[order]
    rank = np.arange(ranked.size) - np.searchsorted(ranked, ranked, side="left")
    flow.drop(e0 + np.sort(candidate[order[rank >= WORKING]]))


def nearness(flow: Flow) -> np.ndarray:
    """The objective cost of every arc of the network (0 off the group->school arcs)."""
    key = np.zeros(len(flow.tails), dtype=np.int64)
    key[flow.first_elig :] = flow.real[flow.elig_group, flow.elig_school]
    return key


def close(flow: Flow, stage: StageCosts, costs: np.ndarray, d: np.ndarray, index: int) -> None:
    """Fix every free arc of non-zero reduced cost (full if negative, empty if positive)."""
    reduced = costs + d[flow.tails] - d[flow.heads]
    free = flow.closed_after == OPEN
    fix = free & (reduced != 0)
    flow.full[fix] = reduced[fix] < 0
    flow.closed_after[fix] = index
    for rows in flow.blocks():
        open_ = (flow.dense_closed[rows] == OPEN) & ~flow.present[rows]
        reduced_block = _dense_reduced(flow, stage, d, rows)
        if (open_ & (reduced_block < 0)).any():
            raise SolverError("an arc outside the network still prices in; please report")
        view = flow.dense_closed[rows]
        view[open_ & (reduced_block != 0)] = index


def solve_stage(
    flow: Flow, stage: StageCosts, index: int, *, may_fail: bool = False
) -> np.ndarray | None:
    """Optimise one stage over the face, pricing in arcs until none has negative reduced cost.

    With `may_fail`, returns None if the first solve finds the supplies cannot be met.
    """
    first = True
    if not may_fail:
        shrink(flow, nearness(flow))
    best = None
    while True:
        costs = flow.arc_costs(stage)
        if not solve_split(flow, stage, costs) and not solve_network(
            flow, costs, feasible_only=may_fail and first
        ):
            return None
        first = False
        d = potentials(flow, costs)
        # Arcs with flow never leave, so the cost never rises from round to round; dropping
        # arcs only while it strictly falls rules out cycling (a dropped arc priced back in,
        # another dropped, for ever).
        total = int(flow.flow @ costs)
        slack = slack_of(flow, costs)
        if best is None or total < best:
            shrink(flow, costs + d[flow.tails] - d[flow.heads])
        best = total
        if price(flow, stage, d, index, slack) == 0:
            close(flow, stage, flow.arc_costs(stage), d, index)
            return d


def add_free_arcs(flow: Flow) -> None:
    """Bring into the network every missing arc still free after the last stage."""
    for rows in flow.blocks():
        g, s = np.nonzero((flow.dense_closed[rows] == OPEN) & ~flow.present[rows])
        flow.add(rows.start + g.astype(np.int64), s.astype(np.int64))
