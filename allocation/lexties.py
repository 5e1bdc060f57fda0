"""The lottery tie-break of the merged flow, solved per child on the arcs still free."""

from __future__ import annotations

import numpy as np

from allocation.errors import SolverError
from allocation.lexgroup import OPEN, Flow, Solver, run_min_cost_flow

_ROWS = 4_096
"""Rows compared at a time by `positions`."""


def positions(raw: np.ndarray, groups: np.ndarray, schools: np.ndarray) -> np.ndarray:
    """Position of each school in its group's cost order (0 = nearest, ties by school index)."""
    result = np.zeros(groups.size, dtype=np.int64)
    index = np.arange(raw.shape[1])[None, :]
    # Row blocks keep the comparisons in cache (a city's rows at once are hundreds of MB).
    for lo in range(0, groups.size, _ROWS):
        rows = raw[groups[lo : lo + _ROWS]]
        mine = schools[lo : lo + _ROWS, None]
        own = np.take_along_axis(rows, mine, axis=1)
        ahead = (rows >= 0) & ((rows < own) | ((rows == own) & (index < mine)))
        result[lo : lo + _ROWS] = ahead.sum(axis=1)
    return result


def tie_break(flow: Flow, raw: np.ndarray, lottery: np.ndarray) -> np.ndarray:
    """Assignment of every applicant that is lottery-optimal on the face of the last stage.

    Objective (as `allocation.objective`): the sum over placed children of lottery rank +
    (n - rank) x position of the school. Groups with a single free arc and every child placed
    have their seats fixed; their children take them in lottery order, nearest first (for a
    fixed set of children that minimises the sum). Other groups are expanded to one node per
    child and the stage is solved exactly by OR-Tools.
    """
    groups = flow.groups
    n = len(groups.members)
    m = flow.m
    free = flow.closed_after == OPEN
    e0 = flow.first_elig
    g_arc, s_arc = flow.elig_group, flow.elig_school
    src_arc = np.full(flow.g_count, -1, dtype=np.int64)
    src_arc[flow.src_group] = np.arange(1, 1 + len(flow.src_group))
    choices = np.bincount(g_arc[free[e0:]], minlength=flow.g_count)
    has_src = src_arc >= 0
    choices[has_src] += free[src_arc[has_src]]
    placed = np.zeros(flow.g_count, dtype=np.int64)
    placed[flow.src_group] = flow.flow[1 : 1 + len(flow.src_group)]
    # A group with some children unplaced chooses whom to place: the objective weighs lottery
    # and distance together, so that choice is solved per child as well.
    expand = (choices >= 2) | ((placed > 0) & (placed < groups.size))
    assignment = np.full(n, -1, dtype=np.int64)

    # Groups without a choice: seats fixed at the current flow, filled in lottery order.
    placed_arcs = np.flatnonzero((flow.flow[e0:] > 0) & ~expand[g_arc])
    if placed_arcs.size:
        pos = positions(raw, g_arc[placed_arcs], s_arc[placed_arcs])
        order = np.lexsort((pos, g_arc[placed_arcs]))
        seat_arcs = placed_arcs[order]
        counts = flow.flow[e0:][seat_arcs]
        seat_group = np.repeat(g_arc[seat_arcs], counts)
        seat_school = np.repeat(s_arc[seat_arcs], counts)
        first_seat = np.searchsorted(seat_group, seat_group, side="left")
        rank_in_group = np.arange(seat_group.size) - first_seat
        assignment[groups.members[groups.start[seat_group] + rank_in_group]] = seat_school

    if not expand.any():
        return assignment
    # Node ids: source 0, schools 1..m, sink m+1, then one aux node per fixed arc of an
    # expanded group, then one node per child of an expanded group.
    sink = m + 1
    tails: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    caps: list[np.ndarray] = []
    costs: list[np.ndarray] = []
    total = int(flow.caps[0])
    supply_nodes: list[np.ndarray] = [np.array([0, sink])]
    supply_amounts: list[np.ndarray] = [np.array([total, -total])]

    def add_supply(nodes: np.ndarray, amounts: np.ndarray) -> None:
        supply_nodes.append(np.asarray(nodes, np.int64))
        supply_amounts.append(np.asarray(amounts, np.int64))

    def add_arcs(t: np.ndarray, h: np.ndarray, cap: np.ndarray, cost: np.ndarray) -> None:
        tails.append(np.asarray(t, np.int64))
        heads.append(np.asarray(h, np.int64))
        caps.append(np.asarray(cap, np.int64))
        costs.append(np.asarray(cost, np.int64))

    fixed_flow = np.where(free, 0, np.where(flow.full, flow.caps, 0))
    if free[0]:
        add_arcs(np.array([0]), np.array([sink]), flow.caps[:1], np.zeros(1))
    else:
        add_supply(np.array([0, sink]), np.array([-fixed_flow[0], fixed_flow[0]]))
    sink_arcs = np.arange(1 + len(flow.src_group), e0)
    school_node = 1 + np.arange(m)
    open_sink = free[sink_arcs]
    opened = int(open_sink.sum())
    add_arcs(school_node[open_sink], np.full(opened, sink), flow.caps[sink_arcs][open_sink],
         np.zeros(opened))  # fmt: skip
    add_supply(school_node[~open_sink], -fixed_flow[sink_arcs][~open_sink])
    add_supply(np.full(int((~open_sink).sum()), sink), fixed_flow[sink_arcs][~open_sink])
    # Groups without a choice: their flows are constants.
    rest = has_src & ~expand
    add_supply(np.array([0]), np.array([-int(flow.flow[src_arc[rest]].sum())]))
    settled = np.flatnonzero(~expand[g_arc] & (flow.flow[e0:] > 0))
    add_supply(1 + s_arc[settled], flow.flow[e0:][settled])

    # Children of expanded groups, group by group (members in lottery order).
    expanded = np.flatnonzero(expand)
    sizes = groups.size[expanded]
    first_child = np.cumsum(sizes) - sizes  # of each expanded group, into `children`
    within = np.arange(int(sizes.sum())) - np.repeat(first_child, sizes)
    children = groups.members[np.repeat(groups.start[expanded], sizes) + within]
    child_group = np.repeat(expanded, sizes)
    next_node = sink + 1
    child_arcs = np.flatnonzero(expand[g_arc] & (free[e0:] | flow.full[e0:]))
    arc_school = s_arc[child_arcs]
    arc_free = free[e0:][child_arcs]
    arc_cap = flow.caps[e0:][child_arcs]
    # A free arc's capacity is its group's size, which its children can never exceed: they
    # go straight to the school. A fixed arc's flow is forced through an aux node.
    fixed_arc = np.flatnonzero(~arc_free)
    head = 1 + arc_school
    head[fixed_arc] = next_node + np.arange(fixed_arc.size)
    next_node += fixed_arc.size
    child_node = next_node + np.arange(children.size)
    next_node += children.size
    # Source arcs of expanded groups: free ones per child; full ones put a supply on each.
    a = src_arc[child_group]
    has = a >= 0
    src_free = has & free[np.maximum(a, 0)]
    src_full = has & ~free[np.maximum(a, 0)] & flow.full[np.maximum(a, 0)]
    add_arcs(
        np.zeros(int(src_free.sum())),
        child_node[src_free],
        np.ones(int(src_free.sum())),
        lottery[children[src_free]],
    )
    add_supply(np.array([0]), np.array([-int(src_full.sum())]))
    add_supply(child_node[src_full], np.ones(int(src_full.sum()), dtype=np.int64))
    add_supply(head[fixed_arc], -arc_cap[fixed_arc])
    add_supply(1 + arc_school[fixed_arc], arc_cap[fixed_arc])
    pos = positions(raw, g_arc[child_arcs], arc_school)
    # One arc per child of the arc's group to the arc's school (or aux node), arc by arc.
    index_of = np.zeros(flow.g_count, dtype=np.int64)
    index_of[expanded] = np.arange(expanded.size)
    arc_index = index_of[g_arc[child_arcs]]
    count = sizes[arc_index]
    pair_arc = np.repeat(np.arange(child_arcs.size), count)
    offset = np.arange(pair_arc.size) - np.repeat(np.cumsum(count) - count, count)
    pair_child = np.repeat(first_child[arc_index], count) + offset
    add_arcs(
        child_node[pair_child],
        head[pair_arc],
        np.ones(pair_arc.size),
        (n - lottery[children[pair_child]]) * pos[pair_arc],
    )
    t = np.concatenate(tails)
    h = np.concatenate(heads)
    supply = np.zeros(next_node, dtype=np.int64)
    np.add.at(supply, np.concatenate(supply_nodes), np.concatenate(supply_amounts))
    status, result = run_min_cost_flow(t, h, np.concatenate(caps), np.concatenate(costs), supply)
    if status != Solver.OPTIMAL:
        raise SolverError(f"lottery tie-break ended with status {status.name}; please report")
    school_of_head = np.full(next_node, -1, dtype=np.int64)
    school_of_head[head] = arc_school
    child_of_node = np.full(next_node, -1, dtype=np.int64)
    child_of_node[child_node] = children
    used = (result > 0) & (child_of_node[t] >= 0) & (school_of_head[h] >= 0)
    assignment[child_of_node[t[used]]] = school_of_head[h[used]]
    return assignment
