"""The cost stages of the merged flow solved as transportation problems, when everyone is placed.

Once every child who has an eligible school is placed (source arcs fixed full, the bypass
empty: the face of the first stage whenever that is possible), each cost stage is a
transportation problem on the arcs still free in its face: every group's children go to
schools they may still use, each school takes at most its seats left (exactly its seats when
its arc to the sink is fixed full). `transport` solves it exactly by school prices; those
prices become the stage's node potentials, checked on every arc of the network and, by
`lexgroup.close`, on every other pair of the full matrix before arcs of non-zero reduced cost
are fixed for the later stages. The faces, and so the lottery stage after them, are the ones
the OR-Tools stages of `lexgroup` reach: a face is the set of the stage's optimal flows,
whichever optimal potentials fix its arcs.
"""

from __future__ import annotations

import numpy as np

from allocation import lexgroup
from allocation.errors import SolverError
from allocation.lexgroup import OPEN, Flow, StageCosts
from allocation.transport import Transport, solve_transport


def place_everyone(flow: Flow, stages: list[StageCosts]) -> bool:
    """Solve every cost stage with everyone placed; False, changing nothing, if impossible.

    The count stage is then settled without solving it: a flow placing everyone is
    lexicographically maximal, and fixing the source arcs full (the bypass empty) is its face.
    Raises SolverError if a later stage cannot be solved on its face (a bug).
    """
    src = np.arange(1, 1 + len(flow.src_group))
    flow.closed_after[0] = 0
    flow.full[0] = False
    flow.closed_after[src] = 0
    flow.full[src] = True
    for index in range(1, len(stages)):
        if not solve_stage(flow, stages[index], index):
            if index > 1:
                raise SolverError(f"cost stage {index} found no flow on its face; please report")
            flow.closed_after[0] = OPEN
            flow.closed_after[src] = OPEN
            flow.full[src] = False
            return False
    return True


def solve_stage(flow: Flow, stage: StageCosts, index: int) -> bool:
    """Solve one cost stage by school prices, load its flow, certify it and close its arcs.

    Returns False, changing nothing, if the free arcs cannot place every group.
    """
    groups, capacity, spare_ok, fixed_in = _problem(flow)
    cost, row_of, supply = _rows(flow, stage, index, groups)
    found = solve_transport(cost, supply, capacity, spare_ok)
    if found is None:
        return False
    group, school, amount = _hand_out(flow, groups, row_of, found)
    _load(flow, group, school, amount, fixed_in)
    costs = flow.arc_costs(stage)
    d = _potentials(flow, stage, groups, found.value[row_of], found)
    _certify(flow, costs, d)
    lexgroup.close(flow, stage, costs, d, index)
    return True


def _problem(flow: Flow) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Groups still to place, the seats left, which schools may keep seats empty, and the seats
    fixed arcs already fill."""
    e0 = flow.first_elig
    m = flow.m
    free = flow.closed_after == OPEN
    src = slice(1, 1 + len(flow.src_group))
    if free[0] or flow.full[0] or free[src].any() or not flow.full[src].all():
        raise SolverError("a transportation stage needs everyone placed; please report")
    fixed = np.flatnonzero(~free[e0:] & flow.full[e0:])
    fixed_in = np.bincount(flow.elig_school[fixed], weights=flow.caps[e0 + fixed], minlength=m)
    fixed_in = fixed_in.astype(np.int64)
    settled = np.zeros(flow.g_count, dtype=bool)
    settled[flow.elig_group[fixed]] = True
    groups = flow.src_group[~settled[flow.src_group]]
    sink = np.arange(1 + len(flow.src_group), e0)
    sink_free = free[sink]
    capacity = np.where(sink_free | flow.full[sink], flow.capacity - fixed_in, 0)
    if np.any(capacity < 0):
        raise SolverError("fixed arcs fill a school beyond its seats; please report")
    return groups, capacity.astype(np.int64), sink_free, fixed_in


def _rows(
    flow: Flow, stage: StageCosts, index: int, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The transportation rows: each group of the stage's tier with its cost on its free arcs
    (-1 elsewhere), and the other groups, which cost nothing here, merged by their free arcs.

    Returns the cost rows, the row of each group and each row's supply. Merging matters: with a
    small first tier, the rest of the city is one row instead of a hundred thousand.
    """
    m = flow.m
    size = flow.groups.size[groups].astype(np.int64)
    mine = flow.tier[groups] == stage.tier
    untouched = index == 1 and groups.size == flow.g_count and not flow.present.any()
    if untouched and bool(mine.all()):
        # Nothing is fixed yet and every group carries the cost: the matrix as it is.
        return flow.real, np.arange(groups.size, dtype=np.int64), size
    free = np.empty((groups.size, m), dtype=bool)
    for lo in range(0, groups.size, 4_096):
        g = groups[lo : lo + 4_096]
        free[lo : lo + g.size] = (flow.dense_closed[g] == OPEN) & ~flow.present[g]
    e0 = flow.first_elig
    arcs = np.flatnonzero(flow.closed_after[e0:] == OPEN)
    if arcs.size:
        at = np.full(flow.g_count, -1, dtype=np.int64)
        at[groups] = np.arange(groups.size)
        g, s = flow.elig_group[arcs], flow.elig_school[arcs]
        keep = at[g] >= 0
        free[at[g[keep]], s[keep]] = True
    own = np.flatnonzero(mine)
    others = np.flatnonzero(~mine)
    patterns, pattern_of = np.unique(np.packbits(free[others], axis=1), axis=0, return_inverse=True)
    pattern_of = pattern_of.reshape(-1)
    shared = np.unpackbits(patterns, axis=1, count=m).astype(bool)
    cost = np.empty((own.size + len(shared), m), dtype=np.int64)
    for lo in range(0, own.size, 4_096):
        part = own[lo : lo + 4_096]
        cost[lo : lo + part.size] = np.where(free[part], flow.real[groups[part]], -1)
    cost[own.size :] = np.where(shared, 0, -1)
    row_of = np.empty(groups.size, dtype=np.int64)
    row_of[own] = np.arange(own.size)
    row_of[others] = own.size + pattern_of
    supply = np.bincount(row_of, weights=size, minlength=len(cost)).astype(np.int64)
    return cost, row_of, supply


def _hand_out(
    flow: Flow, groups: np.ndarray, row_of: np.ndarray, found: Transport
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's flow handed out to its groups in order (a group may split between schools)."""
    members = np.argsort(row_of, kind="stable")
    ends = np.cumsum(flow.groups.size[groups[members]])
    pieces = np.lexsort((found.school, found.row))
    reach = np.cumsum(found.amount[pieces])
    cuts = np.union1d(ends, reach)
    starts = np.r_[0, cuts[:-1]]
    group = groups[members[np.searchsorted(ends, starts, side="right")]]
    school = found.school[pieces[np.searchsorted(reach, starts, side="right")]]
    return group, school, cuts - starts


def _load(
    flow: Flow, group: np.ndarray, school: np.ndarray, amount: np.ndarray, fixed_in: np.ndarray
) -> None:
    """Put the transportation flow on the network (adding the arcs it uses)."""
    flow.add(group, school)
    e0 = flow.first_elig
    m = flow.m
    keys = flow.elig_group * m + flow.elig_school
    order = np.argsort(keys, kind="stable")
    pair = group * m + school
    at = order[np.searchsorted(keys[order], pair)]
    free = flow.closed_after == OPEN
    result = np.where(~free & flow.full, flow.caps, 0)
    np.add.at(result, e0 + at, amount)
    seats = np.bincount(school, weights=amount, minlength=m).astype(np.int64)
    result[1 + len(flow.src_group) : e0] = fixed_in + seats
    flow.flow = result


def _potentials(
    flow: Flow, stage: StageCosts, groups: np.ndarray, value: np.ndarray, found: Transport
) -> np.ndarray:
    """Node potentials from the prices: schools -price, groups -value, the sink -spare price.

    A group the stage does not place (settled by a fixed arc, so its free arcs stay empty)
    takes a potential under which none of them has a negative reduced cost.
    """
    m = flow.m
    d = np.zeros(flow.num_nodes, dtype=np.int64)
    school_d = -found.price
    d[flow.school_node(np.arange(m))] = school_d
    group_d = np.zeros(flow.g_count, dtype=np.int64)
    group_d[groups] = -value
    others = np.setdiff1d(np.arange(flow.g_count), groups)
    for lo in range(0, others.size, 4_096):
        g = others[lo : lo + 4_096]
        free = (flow.dense_closed[g] == OPEN) & ~flow.present[g]
        c = np.where((flow.tier[g] == stage.tier)[:, None], flow.real[g], 0)
        best = np.where(free, school_d[None, :] - c, np.iinfo(np.int64).min).max(axis=1)
        group_d[g] = np.maximum(best, 0)
    e0 = flow.first_elig
    arcs = np.flatnonzero(flow.closed_after[e0:] == OPEN)
    g_arc = flow.elig_group[arcs]
    outside = np.isin(g_arc, others)
    if outside.any():
        g, s = g_arc[outside], flow.elig_school[arcs[outside]]
        c = np.where(flow.tier[g] == stage.tier, flow.real[g, s], 0)
        np.maximum.at(group_d, g, school_d[s] - c)
    d[1 : 1 + flow.g_count] = group_d
    sink = np.arange(1 + len(flow.src_group), e0)
    free_sink = flow.closed_after[sink] == OPEN
    if found.spare is not None:
        d[flow.sink] = -found.spare
    else:
        used = free_sink & (flow.flow[sink] > 0)
        d[flow.sink] = int(school_d[used].max()) if used.any() else 0
    return d


def _certify(flow: Flow, costs: np.ndarray, d: np.ndarray) -> None:
    """No free arc of the network may have a reduced cost that a better flow could use."""
    reduced = costs + d[flow.tails] - d[flow.heads]
    free = flow.closed_after == OPEN
    if np.any(free & (flow.flow < flow.caps) & (reduced < 0)) or np.any(
        free & (flow.flow > 0) & (reduced > 0)
    ):
        raise SolverError("school prices do not certify the stage's flow; please report")
