"""Lexicographic min-cost flow: successive objectives, each kept optimal on the next one's face.

The network is source -> applicant (capacity 1) -> eligible school (capacity 1) -> sink
(capacity = seats), plus a source -> sink bypass for applicants left unplaced. Each stage is
solved with OR-Tools SimpleMinCostFlow on the arcs still free; node potentials (shortest-path
distances in the residual graph, computed here because OR-Tools does not return them) give
reduced costs, and by complementary slackness every optimal flow of the stage leaves arcs of
positive reduced cost empty and arcs of negative reduced cost full. Fixing those arcs restricts
the next stage to exactly the optimal solutions of the previous ones, so no big-M weights (and no
int64 overflow) are needed however many stages there are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from allocation.errors import ProblemError, SolverError


@dataclass(frozen=True, eq=False)
class Network:
    """Arcs of the admissions flow network; node 0 is the source, the last node the sink."""

    n: int
    m: int
    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    src_applicant: np.ndarray
    elig_applicant: np.ndarray
    elig_school: np.ndarray
    supply: np.ndarray
    elig_keys: np.ndarray

    @property
    def num_nodes(self) -> int:
        """Source, applicants, schools and sink."""
        return self.n + self.m + 2

    @property
    def sink(self) -> int:
        """Node id of the sink."""
        return self.n + self.m + 1

    @property
    def src_arcs(self) -> slice:
        """Arcs source -> applicant, one per applicant with an eligible school."""
        return slice(1, 1 + len(self.src_applicant))

    @property
    def elig_arcs(self) -> slice:
        """Arcs applicant -> school, row-major by applicant then school."""
        start = 1 + len(self.src_applicant)
        return slice(start, start + len(self.elig_applicant))

    @property
    def sink_arcs(self) -> slice:
        """Arcs school -> sink, one per school in school order."""
        start = 1 + len(self.src_applicant) + len(self.elig_applicant)
        return slice(start, start + self.m)

    @property
    def num_arcs(self) -> int:
        """All arcs, bypass first."""
        return len(self.tails)

    def applicant_node(self, i: np.ndarray) -> np.ndarray:
        """Node ids of applicants."""
        return 1 + np.asarray(i, dtype=np.int64)

    def school_node(self, s: np.ndarray) -> np.ndarray:
        """Node ids of schools."""
        return 1 + self.n + np.asarray(s, dtype=np.int64)

    def elig_arc_index(self, applicants: np.ndarray, schools: np.ndarray) -> np.ndarray:
        """Arc index of each eligible (applicant, school) pair (pairs must be eligible)."""
        keys = self.elig_keys
        wanted = np.asarray(applicants, dtype=np.int64) * self.m + np.asarray(schools)
        return self.elig_arcs.start + np.searchsorted(keys, wanted)


def build_network(eligible: np.ndarray, capacity: np.ndarray) -> Network:
    """The network of a boolean eligibility matrix [n, m] and seats per school [m]."""
    n, m = eligible.shape
    elig_applicant, elig_school = np.nonzero(eligible)
    elig_applicant = elig_applicant.astype(np.int64)
    elig_school = elig_school.astype(np.int64)
    src_applicant = np.flatnonzero(eligible.any(axis=1)).astype(np.int64)
    source, sink = 0, n + m + 1
    k = len(src_applicant)
    tails = np.concatenate(
        [[source], np.zeros(k, dtype=np.int64), 1 + elig_applicant, 1 + n + np.arange(m)]
    ).astype(np.int64)
    heads = np.concatenate(
        [[sink], 1 + src_applicant, 1 + n + elig_school, np.full(m, sink)]
    ).astype(np.int64)
    caps = np.concatenate(
        [[k], np.ones(k + len(elig_applicant), dtype=np.int64), np.asarray(capacity)]
    ).astype(np.int64)
    supply = np.zeros(n + m + 2, dtype=np.int64)
    supply[source] = k
    supply[sink] = -k
    keys = elig_applicant * m + elig_school
    return Network(
        n, m, tails, heads, caps, src_applicant, elig_applicant, elig_school, supply, keys
    )


@dataclass(frozen=True, eq=False)
class Face:
    """Which arcs are still free; a fixed arc carries either nothing or its full capacity."""

    free: np.ndarray
    full: np.ndarray

    def fixed_flow(self, net: Network) -> np.ndarray:
        """Flow on every fixed arc (0 on free arcs)."""
        return np.where(~self.free & self.full, net.caps, 0)


def full_face(net: Network) -> Face:
    """Every arc free."""
    return Face(np.ones(net.num_arcs, dtype=bool), np.zeros(net.num_arcs, dtype=bool))


def solve_stage(net: Network, face: Face, costs: np.ndarray, active: np.ndarray) -> np.ndarray:
    """A minimum-cost flow using only the free arcs in `active`; returns the flow on every arc."""
    idx = np.flatnonzero(face.free & active)
    supply = net.supply.copy()
    fixed = np.flatnonzero(~face.free & face.full)
    np.subtract.at(supply, net.tails[fixed], net.caps[fixed])
    np.add.at(supply, net.heads[fixed], net.caps[fixed])
    solver = min_cost_flow.SimpleMinCostFlow()
    if idx.size:
        solver.add_arcs_with_capacity_and_unit_cost(
            net.tails[idx].astype(np.int32),
            net.heads[idx].astype(np.int32),
            net.caps[idx],
            costs[idx],
        )
    solver.set_nodes_supplies(np.arange(net.num_nodes, dtype=np.int32), supply)
    status = solver.solve()
    if status == solver.BAD_COST_RANGE:
        raise ProblemError(
            "costs are too large for the flow solver (largest arc cost "
            f"{int(np.abs(costs).max())}); express costs in a coarser unit (e.g. tens of metres) "
            "or do not square them"
        )
    if status != solver.OPTIMAL:
        raise SolverError(f"min-cost flow stage ended with status {status.name}; please report")
    flow = face.fixed_flow(net)
    if idx.size:
        flow[idx] = solver.flows(np.arange(idx.size, dtype=np.int32))
    return flow


def potentials(
    net: Network, face: Face, flow: np.ndarray, costs: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Shortest-path distances from a virtual root (0 to every node) in the residual graph.

    Only free arcs in `active` count. Bellman-Ford, vectorised: every round relaxes all residual
    arcs at once. An optimal flow has no negative cycle, so this ends within one round per arc
    of the longest shortest path.
    """
    usable = face.free & active
    forward = np.flatnonzero(usable & (flow < net.caps))
    backward = np.flatnonzero(usable & (flow > 0))
    u = np.concatenate([net.tails[forward], net.heads[backward]])
    v = np.concatenate([net.heads[forward], net.tails[backward]])
    w = np.concatenate([costs[forward], -costs[backward]])
    d = np.zeros(net.num_nodes, dtype=np.int64)
    if u.size == 0:
        return d
    order = np.argsort(v, kind="stable")
    u, v, w = u[order], v[order], w[order]
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    targets = v[starts]
    for _ in range(net.num_nodes + 1):
        best = np.minimum.reduceat(d[u] + w, starts)
        improved = best < d[targets]
        if not improved.any():
            return d
        d[targets[improved]] = best[improved]
    raise SolverError("negative cycle in an 'optimal' flow's residual graph; please report")


def solve_priced(
    net: Network, face: Face, costs: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal flow over all free arcs, solving on `active` arcs and adding arcs that price in.

    Column generation: solve on the active arcs, compute potentials, and activate every free
    arc with a negative reduced cost; when none is left the potentials certify the flow optimal
    for the whole face. `active` must already allow a feasible flow. Returns flow and potentials.
    """
    active = active.copy()
    while True:
        flow = solve_stage(net, face, costs, active)
        d = potentials(net, face, flow, costs, active)
        reduced = costs + d[net.tails] - d[net.heads]
        entering = np.flatnonzero(face.free & ~active & (reduced < 0))
        if entering.size == 0:
            return flow, d
        active[_most_negative_per_tail(net.tails[entering], reduced[entering], entering)] = True


ENTER_PER_NODE = 16
"""Arcs with negative reduced cost that enter per tail node and pricing round."""


def _most_negative_per_tail(tails: np.ndarray, reduced: np.ndarray, arcs: np.ndarray) -> np.ndarray:
    """Of the given arcs, the ENTER_PER_NODE most negative in reduced cost out of each tail."""
    order = np.lexsort((arcs, reduced, tails))
    tails = tails[order]
    starts = np.flatnonzero(np.r_[True, tails[1:] != tails[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, tails.size]))
    return arcs[order][np.arange(tails.size) - group_start < ENTER_PER_NODE]


def restrict(net: Network, face: Face, flow: np.ndarray, costs: np.ndarray, d: np.ndarray) -> Face:
    """The face of flows optimal for `costs`: fix arcs whose reduced cost is not zero."""
    reduced = costs + d[net.tails] - d[net.heads]
    if np.any(face.free & (flow < net.caps) & (reduced < 0)) or np.any(
        face.free & (flow > 0) & (reduced > 0)
    ):
        raise SolverError("potentials do not certify the flow as optimal; please report")
    empty = face.free & (reduced > 0)
    full = face.free & (reduced < 0)
    return Face(face.free & ~empty & ~full, (face.full & ~face.free) | full)


def lexicographic(
    net: Network, stages: Sequence[Callable[[], np.ndarray]], shortlist: np.ndarray
) -> tuple[np.ndarray, list[Face]]:
    """Solve the stages in order; return the final flow and the face each stage was solved on.

    `shortlist` marks the arcs tried first (e.g. each applicant's nearest schools); the other
    arcs enter only if they price in, so the answer is the same as with every arc active.
    """
    face = full_face(net)
    faces: list[Face] = []
    flow = np.zeros(net.num_arcs, dtype=np.int64)
    for k, stage in enumerate(stages):
        faces.append(face)
        costs = stage()
        flow, d = solve_priced(net, face, costs, shortlist | (flow > 0))
        if k + 1 < len(stages):
            face = restrict(net, face, flow, costs, d)
    return flow, faces


def school_distances(net: Network, face: Face, flow: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """All-pairs shortest residual distances between schools, sink (index m) and source (m+1).

    Paths through applicants are contracted: a move "school s -> applicant i -> school s2" is
    applicant i, now at s, moving to s2 and costs c(i, s2) - c(i, s). D[s2, s] is therefore the
    cheapest chain of moves that frees a seat at s2 and ends by filling a seat freed at s.
    Floyd-Warshall in float64 (exact below 2**53); np.inf where no chain exists.
    """
    n, m = net.n, net.m
    size = m + 2
    sink_node, source_node = m, m + 1
    weights = np.full((size, size), np.inf)
    elig = np.arange(net.elig_arcs.start, net.elig_arcs.stop)
    free = face.free[elig]
    taken = flow[elig] > 0
    app, sch = net.elig_applicant, net.elig_school
    c = costs[elig].astype(np.float64)
    own_school = np.full(n, -1, dtype=np.int64)
    own_cost = np.full(n, np.nan)
    movable = free & taken
    own_school[app[movable]] = sch[movable]
    own_cost[app[movable]] = c[movable]
    src = np.arange(net.src_arcs.start, net.src_arcs.stop)
    src_cost = np.full(n, np.nan)
    src_free_empty = np.zeros(n, dtype=bool)
    src_free_full = np.zeros(n, dtype=bool)
    src_cost[net.src_applicant] = costs[src]
    src_free_empty[net.src_applicant] = face.free[src] & (flow[src] == 0)
    src_free_full[net.src_applicant] = face.free[src] & (flow[src] > 0)

    def relax(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        if rows.size:
            np.minimum.at(weights, (rows, cols), values)

    open_arc = free & ~taken
    moving = open_arc & (own_school[app] >= 0)
    relax(own_school[app[moving]], sch[moving], c[moving] - own_cost[app[moving]])
    entering = open_arc & src_free_empty[app]
    relax(
        np.full(int(entering.sum()), source_node),
        sch[entering],
        src_cost[app[entering]] + c[entering],
    )
    leaving = np.flatnonzero((own_school >= 0) & src_free_full)
    relax(
        own_school[leaving],
        np.full(leaving.size, source_node),
        -own_cost[leaving] - src_cost[leaving],
    )
    sink = np.arange(net.sink_arcs.start, net.sink_arcs.stop)
    schools = np.arange(m)
    spare = face.free[sink] & (flow[sink] < net.caps[sink])
    used = face.free[sink] & (flow[sink] > 0)
    relax(schools[spare], np.full(int(spare.sum()), sink_node), np.zeros(int(spare.sum())))
    relax(np.full(int(used.sum()), sink_node), schools[used], np.zeros(int(used.sum())))
    if face.free[0] and flow[0] < net.caps[0]:
        relax(np.array([source_node]), np.array([sink_node]), np.zeros(1))
    if face.free[0] and flow[0] > 0:
        relax(np.array([sink_node]), np.array([source_node]), np.zeros(1))
    np.fill_diagonal(weights, np.minimum(np.diag(weights), 0.0))
    for k in range(size):
        np.minimum(weights, weights[:, k : k + 1] + weights[k : k + 1, :], out=weights)
    return weights
