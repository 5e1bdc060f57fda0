"""Exact min-cost transportation to few schools: cost scaling over rows merged by the pattern of
their reduced costs near the tight schools, each scale a small OR-Tools flow.

The problem: rows (children with identical cost rows, merged) each with a supply to be placed
in full at its allowed schools (cost >= 0), schools with seats, some of which may stay empty
(`spare_ok`) while the others must be filled exactly. Minimise the total cost.

With m schools the dual has one price per school: at optimal prices q every row sits at schools
minimising cost + q (its value v), and the pairs where cost + q = v (reduced cost 0, "tight")
are all an optimal flow may use. City rounds are highly degenerate (children behind a school,
seen from another, differ by the same road distance), so under prices near the optimum the rows
fall into few classes by the pattern of reduced costs on the schools within a small window of
their best: rows of one class are interchangeable, and a flow over the classes has a few
thousand nodes where the rows number a hundred thousand. Empty seats are one more row, of cost
0 at every school that may keep them, so that every school is filled exactly.

Cost scaling finds such prices: costs are first cut to multiples of 2^k (cost >> k), where
prices are coarse and the classes few; prices found at scale k, shifted by the bits dropped,
are within a few units of the next scale's, so each scale needs only the pairs within a window
of a few units of tight. The coarsest scales only guide the prices and use samples of rows
(each block of rows with the same nearest and second nearest school stands for one row carrying
the block's supply), larger as the scales get finer. A scale's prices come from the flow's
residual graph contracted to the schools (shortest paths, as in `lexgroup`). If a window
cannot place every row, a catch-all node, open to all at a prohibitive cost, shows which
schools and rows lack pairs, and their windows widen until every row is placed.

Every scale's prices are checked against every allowed pair of its level; while some pair has a
negative reduced cost the scale is solved again under the new prices, so the next scale starts
near its own optimum. The last scale uses the exact costs and every row: its result is optimal
for the whole problem, certified by prices under which no allowed pair has a negative reduced
cost and every used pair and empty seat is tight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from allocation.errors import SolverError

DIRECT_PAIRS = 60_000
"""Problems with at most this many rows x schools are solved in one flow over every pair."""

COARSE_ROWS = 1_000
"""Rows of the smallest sample standing for the whole problem at the coarse scales."""

COARSE_MIN_ROWS = 4_000
"""Problems with fewer rows are not sampled: every scale uses every row."""

SAMPLE_SPAN = 2
"""Scales each sample serves, the largest the finest of the sampled scales."""

TOP_UNITS = 2
"""The coarsest scale cuts the largest cost to at most this many units."""

SWITCH_BITS = 11
"""Samples give way to every row at the scale whose unit is the largest cost / 2^this at the
earliest, and later only while the largest sample still has many pairs per row."""

FEW_PAIRS = 4
"""Candidate arcs (of its classes) per row of the largest sample below which every row is used
from the next scale on (once past `SWITCH_BITS`)."""

COARSE_STEP = 1
"""Bits dropped between the sampled scales."""

FINE_STEP = 2
"""Bits dropped between the scales on every row (twice as many after a scale whose flow had
fewer pairs than a quarter of the rows: the costs below it are easy)."""

WINDOW = 1
"""Pairs within WINDOW << (bits dropped) units of tight are candidates at the next scale."""

_BLOCK = 4_096
"""Rows scanned at a time (keeps the working arrays in cache)."""

_NONE = np.zeros(0, dtype=np.int64)
"""No schools or classes (a flow that needed no widening)."""

_WEIGHTS = np.random.default_rng(0x7A5C).integers(1, 1 << 62, size=4_096, dtype=np.int64)
"""Random weights hashing a row's pattern of (school, reduced cost); collisions are verified."""


@dataclass(frozen=True, eq=False)
class Transport:
    """An optimal transportation flow and the prices that certify it.

    For every row i and allowed school s: cost[i, s] + price[s] >= value[i], with equality on
    every pair carrying flow; a school with an empty seat (only `spare_ok` ones) has price
    `spare`, and every `spare_ok` school has price >= `spare` (None when no seat stays empty).
    """

    row: np.ndarray  # int64 [k]: row of each piece of flow
    school: np.ndarray  # int64 [k]
    amount: np.ndarray  # int64 [k], > 0
    price: np.ndarray  # int64 [m]
    value: np.ndarray  # int64 [rows]
    spare: int | None


@dataclass(eq=False)
class _Rows:
    """Rows of one level (all, or a sample) with the empty seats as a last row of cost 0."""

    work: np.ndarray  # [r, m] cost, INF where not allowed (int32 if it fits)
    supply: np.ndarray  # int64 [r]
    inf: int
    origin: np.ndarray  # int64 [r]: row of the full problem (-1 for the empty seats)

    @property
    def n(self) -> int:
        return len(self.supply)


@dataclass(eq=False)
class _Pairs:
    """Candidate pairs of a level at one scale, sorted by row then school, and row values."""

    value: np.ndarray  # int64 [r]: least scaled cost + price of each row
    row: np.ndarray  # int64 [p]
    school: np.ndarray  # int64 [p]
    reduced: np.ndarray  # int64 [p]: scaled cost + price - value, >= 0


@dataclass(eq=False)
class _Classes:
    """Rows merged by identical candidate pairs and reduced costs."""

    of_row: np.ndarray  # int64 [r]
    supply: np.ndarray  # int64 [G]
    arc_class: np.ndarray  # int64 [a]
    arc_school: np.ndarray  # int64 [a]
    arc_reduced: np.ndarray  # int64 [a]


def solve_transport(
    cost: np.ndarray, supply: np.ndarray, capacity: np.ndarray, spare_ok: np.ndarray
) -> Transport | None:
    """Least-cost placement of every row's supply; None if the allowed pairs cannot place it.

    `cost` is int64 [rows, m] (< 0: not allowed; every row needs an allowed school), `supply`
    int64 [rows] > 0, `capacity` int64 [m] >= 0, `spare_ok` bool [m]: the school may keep empty
    seats (else it must be filled exactly). Raises SolverError if a certificate fails (a bug).
    """
    n, m = cost.shape
    spare_seats = int(capacity.sum()) - int(supply.sum())
    if spare_seats < 0 or (spare_seats > 0 and not bool(spare_ok.any())):
        return None
    if n == 0:
        return _empty(m, capacity, spare_ok)
    if not bool((cost >= 0).any(axis=1).all()):
        return None
    full = _level(cost, supply, np.arange(n, dtype=np.int64), spare_ok, spare_seats)
    big = int(cost.max())
    if n * m <= DIRECT_PAIRS or big <= TOP_UNITS:
        found = _solve_scale(full, capacity, 0, np.zeros(m, dtype=np.int64), None)
        if found is None:
            return None
        return _spread(full, capacity, cost, *found)
    samples = _samples(full, cost, spare_ok)
    earliest = max(0, big.bit_length() - SWITCH_BITS)
    k = _top(big)
    price = np.zeros(m, dtype=np.int64)
    window: int | None = None
    while True:
        level = full
        if samples and k > 0:
            # The largest sample serves the SAMPLE_SPAN scales above `earliest` (and any below,
            # until its pairs are few), the next smaller one the SAMPLE_SPAN scales above those.
            depth = max(0, (k - earliest - 1) // SAMPLE_SPAN)
            level = samples[max(0, len(samples) - 1 - depth)]
        found = _solve_scale(level, capacity, k, price, window)
        if found is None and level is not full:
            samples = []  # a sample cannot be placed: go on with every row
            found = _solve_scale(full, capacity, k, price, window)
        if found is None:
            return None
        if k == 0:
            return _spread(full, capacity, cost, *found)
        price, _, classes, _ = found
        few = classes.arc_class.size <= level.n * FEW_PAIRS
        if level is not full:
            step = COARSE_STEP
            if k - step <= earliest and few:
                samples = []  # the sample's pairs are few: every row from the next scale on
        else:
            step = FINE_STEP * (2 if classes.arc_class.size * 4 <= level.n else 1)
        step = min(step, k)
        price = price << step
        window = WINDOW << step
        k -= step


def _top(big: int) -> int:
    """The coarsest scale: the largest cost cut to at most TOP_UNITS units."""
    top = 0
    while (big >> top) > TOP_UNITS:
        top += 1
    return top


def _empty(m: int, capacity: np.ndarray, spare_ok: np.ndarray) -> Transport | None:
    """No rows: every seat stays empty, if the schools that must be filled have none."""
    if bool((capacity[~spare_ok] > 0).any()):
        return None
    none = np.zeros(0, dtype=np.int64)
    spare = 0 if bool((capacity > 0).any()) else None
    return Transport(none, none, none, np.zeros(m, dtype=np.int64), none, spare)


def _dtype(cost: np.ndarray) -> tuple[type, int]:
    """int32 when every scaled cost plus price fits with a wide margin, else int64."""
    m = cost.shape[1]
    big = max(int(cost.max()), 1)
    if big * 4 * (m + 2) < (1 << 30):
        return np.int32, 1 << 30
    return np.int64, 1 << 62


def _level(
    cost: np.ndarray,
    supply: np.ndarray,
    origin: np.ndarray,
    spare_ok: np.ndarray,
    spare_seats: int,
) -> _Rows:
    """Rows of `cost` (INF where not allowed), plus the empty seats as a row if there are any."""
    dtype, inf = _dtype(cost)
    n, m = cost.shape
    extra = 1 if spare_seats > 0 else 0
    work = np.empty((n + extra, m), dtype=dtype)
    for lo in range(0, n, _BLOCK):
        part = cost[lo : lo + _BLOCK]
        view = work[lo : lo + part.shape[0]]
        np.copyto(view, part, casting="unsafe")
        np.putmask(view, part < 0, inf)
    supplies = supply.astype(np.int64)
    if extra:
        work[n] = np.where(spare_ok, 0, inf)
        supplies = np.r_[supplies, spare_seats]
        origin = np.r_[origin, -1]
    return _Rows(work, supplies, inf, origin.astype(np.int64))


def _samples(full: _Rows, cost: np.ndarray, spare_ok: np.ndarray) -> list[_Rows]:
    """Samples of COARSE_ROWS, 4 x COARSE_ROWS, ... rows standing for all (none if few rows).

    Rows are sorted by nearest allowed school, second nearest and the cost to the nearest;
    each block of consecutive rows is represented by its middle row carrying the block's
    supply, so that a sample keeps how many children each school is first and second for.
    Rows carrying as much as a block (many children merged) stand for themselves.
    """
    n = cost.shape[0]
    if n < COARSE_MIN_ROWS:
        return []
    nearest = np.empty(n, dtype=np.int64)
    second = np.empty(n, dtype=np.int64)
    near_cost = np.empty(n, dtype=np.int64)
    for lo in range(0, n, _BLOCK):
        part = full.work[lo : min(lo + _BLOCK, n)].copy()
        first = part.argmin(axis=1)
        here = np.arange(first.size)
        near_cost[lo : lo + first.size] = part[here, first]
        part[here, first] = full.inf
        nearest[lo : lo + first.size] = first
        second[lo : lo + first.size] = part.argmin(axis=1)
    order = np.lexsort((near_cost, second, nearest))
    supply = full.supply[:n]
    spare_seats = int(full.supply[n:].sum())
    samples = []
    rows = COARSE_ROWS
    while 2 * rows <= n:
        block = n // rows
        # A row heavy enough (merged children of many homes) stands for itself.
        heavy = np.flatnonzero(supply >= block)
        light = order[supply[order] < block]
        starts = np.arange(0, light.size, block)
        stands = np.r_[heavy, light[np.minimum(starts + block // 2, light.size - 1)]]
        carried = (
            np.r_[supply[heavy], np.add.reduceat(supply[light], starts)]
            if light.size
            else supply[heavy]
        )
        sample = _level(cost[stands], carried, stands.astype(np.int64), spare_ok, spare_seats)
        samples.append(sample)
        rows *= 4
    return samples


def _scan(level: _Rows, k: int, price: np.ndarray, window: int | None) -> _Pairs:
    """Row values at scale k under `price`, and the pairs within `window` of them (None: all)."""
    work = level.work
    dtype = work.dtype.type
    q = price.astype(dtype)
    shifted_inf = level.inf >> k
    if window is not None and window >= shifted_inf // 2:
        window = None  # so wide that a pair not allowed could pass: take the allowed ones
    values, rows, schools, reduced = [], [], [], []
    for lo in range(0, level.n, _BLOCK):
        block = work[lo : lo + _BLOCK] >> k
        if window is None:
            near = block < shifted_inf
            block += q
            value = block.min(axis=1)
        else:
            block += q
            value = block.min(axis=1)
            near = block <= (value + window)[:, None]
        # Flat indices: far quicker than the two index arrays of a 2-d nonzero.
        flat = np.flatnonzero(near)
        i, s = np.divmod(flat, block.shape[1])
        values.append(value.astype(np.int64))
        rows.append(i + lo)
        schools.append(s)
        reduced.append(block.reshape(-1)[flat].astype(np.int64) - value[i])
    return _Pairs(
        np.concatenate(values),
        np.concatenate(rows).astype(np.int64),
        np.concatenate(schools).astype(np.int64),
        np.concatenate(reduced),
    )


def _classes(level: _Rows, pairs: _Pairs) -> _Classes:
    """Merge rows whose candidate pairs and reduced costs are identical (verified pair by pair)."""
    n = level.n
    digest = np.zeros(n, dtype=np.uint64)
    weights = _WEIGHTS[pairs.school % _WEIGHTS.size].view(np.uint64)
    np.add.at(digest, pairs.row, weights * (pairs.reduced.astype(np.uint64) + np.uint64(1)))
    _, first, of_row = np.unique(digest, return_index=True, return_inverse=True)
    of_row = of_row.reshape(-1).astype(np.int64)
    starts = np.searchsorted(pairs.row, np.arange(n + 1))
    length = np.diff(starts)
    head = first[of_row]
    same = length == length[head]
    alike = np.flatnonzero(same)
    span = length[alike]
    within = np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span, span)
    mine = np.repeat(starts[alike], span) + within
    theirs = np.repeat(starts[head[alike]], span) + within
    equal = (pairs.school[mine] == pairs.school[theirs]) & (
        pairs.reduced[mine] == pairs.reduced[theirs]
    )
    differs = np.zeros(alike.size, dtype=bool)
    np.logical_or.at(differs, np.repeat(np.arange(alike.size), span), ~equal)
    same[alike[differs]] = False
    if not same.all():
        # A hash collision: rows unlike their class's first row become classes of their own.
        odd = np.flatnonzero(~same)
        of_row = of_row.copy()
        of_row[odd] = of_row.max() + 1 + np.arange(odd.size)
        _, first, of_row = np.unique(of_row, return_index=True, return_inverse=True)
        of_row = of_row.reshape(-1).astype(np.int64)
    supply = np.bincount(of_row, weights=level.supply, minlength=first.size).astype(np.int64)
    is_first = np.zeros(n, dtype=bool)
    is_first[first] = True
    keep = is_first[pairs.row]
    return _Classes(
        of_row, supply, of_row[pairs.row[keep]], pairs.school[keep], pairs.reduced[keep]
    )


def _solve_scale(
    level: _Rows,
    capacity: np.ndarray,
    k: int,
    price: np.ndarray,
    window: int | None,
) -> tuple[np.ndarray, _Pairs, _Classes, np.ndarray] | None:
    """Optimal prices at scale k for the level's rows, from warm prices `price`.

    The pairs within `window` of tight (None: all allowed pairs) are solved as classes,
    widened until every row fits. The new prices are then checked against every allowed pair,
    and while some pair has a negative reduced cost the scale is solved again under them (the
    window growing after a second try): every scale is exact, so that the next one starts
    within a few units of its own optimum. Returns (prices, pairs, classes, class flows), or
    None if the allowed pairs cannot place the rows.
    """
    tries = 0
    while True:
        pairs = _scan(level, k, price, window)
        wide = window
        while True:
            classes = _classes(level, pairs)
            flows, shortfall, short_classes = _flow(classes, capacity)
            if flows is not None:
                break
            if wide is None:
                return None
            wider = _widen(level, k, price, pairs, classes, shortfall, short_classes, wide)
            if wider is None:
                return None
            pairs, wide = wider
        price = _prices(classes, capacity, flows, price, pairs)
        if window is None or _short_rows(level, k, price, pairs.value).size == 0:
            return price, pairs, classes, flows
        tries += 1
        if tries > 1:
            # Grows from any window, 0 included (doubling 0 would try the same pairs forever).
            window = 2 * window + 1


def _flow(
    classes: _Classes, capacity: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Min-cost flow of the classes over their pairs, filling every school exactly.

    Returns the flow on the pairs; or, when the pairs cannot place every class, None with the
    seats each school lacks and the classes short of places (whose windows then widen), as a
    catch-all node, open to every class and school at a prohibitive cost, serves them in a
    least-cost flow.
    """
    g = classes.supply.size
    m = capacity.size
    tails = classes.arc_class.astype(np.int32)
    heads = (g + classes.arc_school).astype(np.int32)
    caps = classes.supply[classes.arc_class].astype(np.int64)
    supply = np.concatenate([classes.supply, -capacity]).astype(np.int64)
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, classes.arc_reduced)
    solver.set_nodes_supplies(np.arange(g + m, dtype=np.int32), supply)
    status = solver.solve()
    if status == solver.OPTIMAL:
        return solver.flows(np.arange(tails.size, dtype=np.int32)), _NONE, _NONE
    if status != solver.INFEASIBLE:
        raise SolverError(f"transportation flow ended with status {status}; please report")
    catch = g + m
    prohibitive = (int(classes.arc_reduced.max(initial=0)) + 1) * (m + 2) + 1
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([tails, np.arange(g), np.full(m, catch)]).astype(np.int32),
        np.concatenate([heads, np.full(g, catch), g + np.arange(m)]).astype(np.int32),
        np.concatenate([caps, classes.supply, capacity]).astype(np.int64),
        np.concatenate([classes.arc_reduced, np.full(g, prohibitive), np.zeros(m)]).astype(
            np.int64
        ),
    )
    solver.set_nodes_supplies(np.arange(catch + 1, dtype=np.int32), np.r_[supply, 0])
    if solver.solve() != solver.OPTIMAL:
        raise SolverError("transportation flow with a catch-all failed; please report")
    a = tails.size
    out = solver.flows(np.arange(a, a + g, dtype=np.int32))
    fed = solver.flows(np.arange(a + g, a + g + m, dtype=np.int32))
    return None, fed, np.flatnonzero(out > 0)


def _widen(
    level: _Rows,
    k: int,
    price: np.ndarray,
    pairs: _Pairs,
    classes: _Classes,
    shortfall: np.ndarray,
    short: np.ndarray,
    window: int,
) -> tuple[_Pairs, int] | None:
    """More pairs for the schools and classes that lacked them, at least twice the window.

    A school short of seats filled takes every row within the window that brings it twice its
    shortfall in supply; a class short of places gives each of its rows its next two schools.
    Returns the pairs and the window they reach, or None if no allowed pair is left out.
    """
    wider = 2 * window + 1
    q = price.astype(np.int64)
    shifted_inf = level.inf >> k
    top = np.iinfo(np.int64).max
    add_rows, add_schools, add_reduced = [pairs.row], [pairs.school], [pairs.reduced]
    for s in np.flatnonzero(shortfall > 0).tolist():
        lack = int(shortfall[s])
        column = level.work[:, s].astype(np.int64) >> k
        reduced = np.where(column < shifted_inf, column + q[s] - pairs.value, top)
        reach = wider
        beyond = np.flatnonzero((reduced > window) & (reduced < top))
        if beyond.size:
            order = beyond[np.argsort(reduced[beyond], kind="stable")]
            enough = int(np.searchsorted(np.cumsum(level.supply[order]), 2 * lack))
            reach = max(reach, int(reduced[order[min(enough, order.size - 1)]]))
        rows = np.flatnonzero(reduced <= reach)
        add_rows.append(rows)
        add_schools.append(np.full(rows.size, s, dtype=np.int64))
        add_reduced.append(reduced[rows])
    rows_short = np.flatnonzero(np.isin(classes.of_row, short))
    if rows_short.size:
        block = level.work[rows_short].astype(np.int64) >> k
        costs = np.where(block < shifted_inf, block + q - pairs.value[rows_short, None], top)
        outside: np.ndarray = np.where(costs > window, costs, top)
        second = min(1, outside.shape[1] - 1)
        next_two = np.partition(outside, second, axis=1)[:, second]
        limit = np.maximum(np.where(next_two < top, next_two, wider), wider)
        i, j = np.nonzero(costs <= limit[:, None])
        add_rows.append(rows_short[i])
        add_schools.append(j.astype(np.int64))
        add_reduced.append(costs[i, j])
    m = level.work.shape[1]
    row = np.concatenate(add_rows)
    school = np.concatenate(add_schools)
    key = row * m + school
    _, index = np.unique(key, return_index=True)
    if index.size == pairs.row.size:
        if not _any_beyond(level, k, q, pairs.value, wider):
            return None
        return _scan(level, k, price, wider), wider
    reduced_all = np.concatenate(add_reduced)[index]
    return _Pairs(pairs.value, row[index], school[index], reduced_all), wider


def _any_beyond(level: _Rows, k: int, q: np.ndarray, value: np.ndarray, window: int) -> bool:
    """Whether some allowed pair lies beyond `window` (so widening further can help)."""
    shifted_inf = level.inf >> k
    for lo in range(0, level.n, _BLOCK):
        block = level.work[lo : lo + _BLOCK].astype(np.int64) >> k
        beyond = (block < shifted_inf) & (block + q - value[lo : lo + _BLOCK, None] > window)
        if beyond.any():
            return True
    return False


def _prices(
    classes: _Classes,
    capacity: np.ndarray,
    flows: np.ndarray,
    price: np.ndarray,
    pairs: _Pairs,
) -> np.ndarray:
    """New prices: old ones less the shortest residual distances (schools, classes contracted).

    Also rewrites `pairs.value` to the rows' values under the new prices.
    """
    m = capacity.size
    g = classes.supply.size
    cls, school, cost = classes.arc_class, classes.arc_school, classes.arc_reduced
    back = np.flatnonzero(flows > 0)
    forward = flows < classes.supply[cls]
    order = np.argsort(cls, kind="stable")
    start = np.searchsorted(cls[order], np.arange(g + 1))
    count = start[cls[back] + 1] - start[cls[back]]
    b = np.repeat(back, count)
    offset = np.arange(b.size) - np.repeat(np.cumsum(count) - count, count)
    f = order[start[cls[b]] + offset]
    keep = forward[f] & (f != b)
    b, f = b[keep], f[keep]
    flat = np.full(m * m, np.iinfo(np.int64).max // 4, dtype=np.int64)
    np.minimum.at(flat, school[b] * m + school[f], cost[f] - cost[b])
    weights = flat.reshape(m, m)
    distance = np.zeros(m, dtype=np.int64)
    np.minimum.at(distance, school[forward], cost[forward])
    for _ in range(m + 1):
        nearer = np.minimum(distance, (distance[:, None] + weights).min(axis=0))
        if np.array_equal(nearer, distance):
            break
        distance = nearer
    else:
        raise SolverError("negative cycle in an optimal transportation flow; please report")
    class_distance = np.zeros(g, dtype=np.int64)
    np.minimum.at(class_distance, cls[back], distance[school[back]] - cost[back])
    reduced = cost + class_distance[cls] - distance[school]
    if np.any(forward & (reduced < 0)) or np.any((flows > 0) & (reduced > 0)):
        raise SolverError("transportation prices do not certify the flow; please report")
    new_price = price.astype(np.int64) - distance
    # Prices matter up to a constant: keep the least at 0 so that they stay small.
    shift = int(new_price.min())
    pairs.value = pairs.value - class_distance[classes.of_row] - shift
    return new_price - shift


def _short_rows(level: _Rows, k: int, price: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rows with an allowed pair below their value at scale k (a negative reduced cost).

    A pair not allowed costs INF >> k, beyond any allowed one plus prices (see `_dtype`), and
    every row has an allowed pair: the row minimum needs no mask.
    """
    found = []
    q = price.astype(level.work.dtype)
    for lo in range(0, level.n, _BLOCK):
        block = level.work[lo : lo + _BLOCK] >> k
        block += q
        found.append(lo + np.flatnonzero(block.min(axis=1) < value[lo : lo + _BLOCK]))
    return np.concatenate(found)


def _spread(
    full: _Rows,
    capacity: np.ndarray,
    cost: np.ndarray,
    price: np.ndarray,
    pairs: _Pairs,
    classes: _Classes,
    flows: np.ndarray,
) -> Transport:
    """Each class's flow handed out to its rows in order (a row may split between schools),
    checked once more against the prices: allowed pairs only, every piece tight, every school's
    seats filled (empty ones by the empty-seat row, at the empty seat's price)."""
    rows_sorted = np.argsort(classes.of_row, kind="stable")
    cum_rows = np.cumsum(full.supply[rows_sorted])
    used = np.flatnonzero(flows > 0)
    by_class = used[np.lexsort((classes.arc_school[used], classes.arc_class[used]))]
    cum_flow = np.cumsum(flows[by_class])
    cuts = np.union1d(cum_rows, cum_flow)
    starts = np.r_[0, cuts[:-1]]
    amount = cuts - starts
    row = rows_sorted[np.searchsorted(cum_rows, starts, side="right")]
    school = classes.arc_school[by_class][np.searchsorted(cum_flow, starts, side="right")]
    origin = full.origin[row]
    real = origin >= 0
    value = pairs.value
    spare = None
    if not real.all():
        spare = int(value[full.n - 1])
        value = value[:-1]
    placed_cost = cost[origin[real], school[real]] + price[school[real]]
    seats = np.bincount(school, weights=amount, minlength=capacity.size).astype(np.int64)
    if (
        np.any(cost[origin[real], school[real]] < 0)
        or np.any(placed_cost != value[origin[real]])
        or (spare is not None and np.any(price[school[~real]] != spare))
        or not np.array_equal(seats, capacity)
    ):
        raise SolverError("the transportation flow breaks its own certificate; please report")
    return Transport(origin[real], school[real].astype(np.int64), amount[real], price, value, spare)
