"""The exact transportation solver behind `nearest`'s cost stages, against brute force and a
plain min-cost flow on every pair, on its direct path and on its scaled one; and `nearest` by
school prices against `nearest` by priced min-cost flows."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.graph.python import min_cost_flow

from allocation import INELIGIBLE, Problem, lextransport, transport
from allocation.mechanisms.nearest import solve_nearest
from allocation.objective import level_values
from allocation.transport import Transport, solve_transport

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def scaled(**knobs: int) -> Iterator[None]:
    """Force the scaled path (cost scaling, sampled coarse scales) on small problems."""
    settings_ = {
        "DIRECT_PAIRS": 0,
        "COARSE_MIN_ROWS": 6,
        "COARSE_ROWS": 3,
        "TOP_UNITS": 1,
        "SWITCH_BITS": 2,
        "COARSE_STEP": 1,
        "FINE_STEP": 2,
        "WINDOW": 1,
    }
    settings_.update(knobs)
    saved = {name: getattr(transport, name) for name in settings_}
    for name, value in settings_.items():
        setattr(transport, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(transport, name, value)


def assert_certified(
    found: Transport,
    cost: np.ndarray,
    supply: np.ndarray,
    capacity: np.ndarray,
    spare_ok: np.ndarray,
) -> int:
    """The flow is feasible and its prices prove it optimal; returns its cost."""
    n, m = cost.shape
    reduced = np.where(cost >= 0, cost + found.price, np.iinfo(np.int64).max)
    assert np.array_equal(reduced.min(axis=1), found.value)
    assert (cost[found.row, found.school] >= 0).all()
    assert (
        cost[found.row, found.school] + found.price[found.school] == found.value[found.row]
    ).all()
    assert (found.amount > 0).all()
    placed = np.bincount(found.row, weights=found.amount, minlength=n).astype(np.int64)
    assert np.array_equal(placed, supply)
    seats = np.bincount(found.school, weights=found.amount, minlength=m).astype(np.int64)
    assert (seats <= capacity).all()
    assert (seats[~spare_ok] == capacity[~spare_ok]).all()
    empty = seats < capacity
    if empty.any():
        assert found.spare is not None
        assert (found.price[empty] == found.spare).all()
    if found.spare is not None:
        assert (found.price[spare_ok] >= found.spare).all()
    return int((cost[found.row, found.school] * found.amount).sum())


def brute_force(
    cost: np.ndarray, supply: np.ndarray, capacity: np.ndarray, spare_ok: np.ndarray
) -> int | None:
    """Least cost over every way of sending each unit of supply to an allowed school."""
    units = np.repeat(np.arange(cost.shape[0]), supply)
    options = [np.flatnonzero(cost[i] >= 0).tolist() for i in units]
    best = None
    for choice in itertools.product(*options):
        seats = np.bincount(np.array(choice, dtype=np.int64), minlength=cost.shape[1])
        if (seats > capacity).any() or (seats[~spare_ok] != capacity[~spare_ok]).any():
            continue
        total = int(sum(cost[i, s] for i, s in zip(units.tolist(), choice, strict=True)))
        best = total if best is None else min(best, total)
    return best


def every_pair(
    cost: np.ndarray, supply: np.ndarray, capacity: np.ndarray, spare_ok: np.ndarray
) -> int | None:
    """The same problem as one OR-Tools min-cost flow over every allowed pair."""
    n, m = cost.shape
    rows, schools = np.nonzero(cost >= 0)
    tails = np.r_[rows, n + np.flatnonzero(spare_ok)]
    heads = np.r_[n + schools, np.full(int(spare_ok.sum()), n + m)]
    caps = np.r_[supply[rows], capacity[spare_ok]]
    costs = np.r_[cost[rows, schools], np.zeros(int(spare_ok.sum()), dtype=np.int64)]
    node_supply = np.zeros(n + m + 1, dtype=np.int64)
    node_supply[:n] = supply
    node_supply[n + np.flatnonzero(~spare_ok)] = -capacity[~spare_ok]
    node_supply[n + m] = -int(supply.sum()) + int(capacity[~spare_ok].sum())
    solver = min_cost_flow.SimpleMinCostFlow()
    if tails.size:
        solver.add_arcs_with_capacity_and_unit_cost(
            tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64), costs
        )
    solver.set_nodes_supplies(np.arange(n + m + 1, dtype=np.int32), node_supply)
    if solver.solve() != solver.OPTIMAL:
        return None
    return int(solver.optimal_cost())


def test_a_full_school_sends_the_child_who_loses_least_elsewhere() -> None:
    # Both want school 0 (one seat); row 1 loses 1 by going to school 1, row 0 loses 5.
    cost = np.array([[1, 6], [2, 3]])
    found = solve_transport(cost, np.array([1, 1]), np.array([1, 1]), np.array([True, True]))
    assert found is not None
    assert sorted(zip(found.row.tolist(), found.school.tolist(), strict=True)) == [(0, 0), (1, 1)]
    # A seat at school 0 is worth between row 1's loss (1) and row 0's (5) more than one at 1.
    assert 1 <= int(found.price[0] - found.price[1]) <= 5
    assert assert_certified(found, cost, np.array([1, 1]), np.array([1, 1]), np.ones(2, bool)) == 4
    assert found.spare is None


def test_empty_seats_stay_at_the_price_of_an_empty_seat() -> None:
    cost = np.array([[1, 6, 9], [2, 3, 9]])
    found = solve_transport(cost, np.array([1, 1]), np.array([1, 1, 2]), np.array([1, 1, 1], bool))
    assert found is not None
    assert (
        assert_certified(found, cost, np.array([1, 1]), np.array([1, 1, 2]), np.ones(3, bool)) == 4
    )
    assert found.spare is not None and int(found.price[2]) == found.spare


def test_a_school_that_must_be_filled_takes_a_child_at_a_cost() -> None:
    cost = np.array([[1, 6], [2, 3]])
    capacity = np.array([2, 1])
    must = np.array([True, False])
    found = solve_transport(cost, np.array([1, 1]), capacity, must)
    assert found is not None
    # School 1 must take a child: row 1 (3) beats row 0 (6).
    assert assert_certified(found, cost, np.array([1, 1]), capacity, must) == 4


def test_a_group_splits_between_schools() -> None:
    cost = np.array([[0, 4]])
    found = solve_transport(cost, np.array([5]), np.array([3, 9]), np.array([True, True]))
    assert found is not None
    assert sorted(zip(found.school.tolist(), found.amount.tolist(), strict=True)) == [
        (0, 3),
        (1, 2),
    ]


def test_what_cannot_be_placed_is_reported() -> None:
    ok = np.array([True, True])
    assert solve_transport(np.array([[1, 2]]), np.array([3]), np.array([1, 1]), ok) is None
    assert solve_transport(np.array([[1, -1]]), np.array([2]), np.array([1, 5]), ok) is None
    assert solve_transport(np.array([[-1, -1]]), np.array([1]), np.array([1, 1]), ok) is None
    # Seats that must be filled but nobody may take.
    assert solve_transport(np.array([[1, -1]]), np.array([1]), np.array([1, 1]), ~ok) is None
    nobody = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64), np.array([1, 0])
    assert solve_transport(*nobody, np.array([False, True])) is None
    empty = solve_transport(*nobody, ok)
    assert empty is not None and empty.row.size == 0 and empty.spare == 0


@st.composite
def tiny(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """At most five units of supply over up to three schools, costs 0..9, tight seats."""
    m = draw(st.integers(1, 3))
    n = draw(st.integers(1, 4))
    value = st.one_of(st.integers(0, 9), st.just(INELIGIBLE))
    cost = np.array(draw(st.lists(value, min_size=n * m, max_size=n * m))).reshape(n, m)
    supply = np.array(draw(st.lists(st.integers(1, 2), min_size=n, max_size=n)))
    while supply.sum() > 5:
        supply[np.argmax(supply)] -= 1
    capacity = np.array(draw(st.lists(st.integers(0, 4), min_size=m, max_size=m)))
    spare_ok = np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)))
    return cost.astype(np.int64), supply.astype(np.int64), capacity.astype(np.int64), spare_ok


@FAST
@given(tiny(), st.booleans())
def test_transport_equals_brute_force(problem: tuple[np.ndarray, ...], scale: bool) -> None:
    cost, supply, capacity, spare_ok = problem
    with scaled() if scale else contextlib.nullcontext():
        found = solve_transport(cost, supply, capacity, spare_ok)
    best = brute_force(cost, supply, capacity, spare_ok)
    if best is None:
        assert found is None
        return
    assert found is not None
    assert assert_certified(found, cost, supply, capacity, spare_ok) == best


def town(seed: int, ineligible: float, must_fill: float) -> tuple[np.ndarray, ...]:
    """Homes and schools in a grid town with road (L1) distances: many exact ties, as in a city.

    Costs in a random unit (1 to 1000), a share `ineligible` of pairs ineligible, supplies up
    to 3, seats from scarce to plenty, a share 1 - `must_fill` of schools that must be filled.
    """
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 120)), int(rng.integers(1, 9))
    homes = rng.integers(0, 12, size=(n, 2))
    schools = rng.integers(0, 12, size=(m, 2))
    cost = np.abs(homes[:, None, :] - schools[None, :, :]).sum(axis=2) * int(rng.integers(1, 1000))
    cost[rng.random((n, m)) < ineligible] = INELIGIBLE
    supply = rng.integers(1, 4, n)
    total = int(supply.sum())
    capacity = rng.multinomial(total + int(rng.integers(0, total + 1)), np.ones(m) / m)
    spare_ok = rng.random(m) < must_fill
    return cost.astype(np.int64), supply.astype(np.int64), capacity.astype(np.int64), spare_ok


@st.composite
def towns(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """`town`s of any seed, with no, a few or many ineligible pairs."""
    return town(
        draw(st.integers(0, 2**32 - 1)),
        draw(st.sampled_from([0.0, 0.1, 0.4])),
        draw(st.sampled_from([1.0, 0.6])),
    )


@FAST
@given(
    towns(),
    st.integers(1, 6),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 3),
)
def test_scaled_transport_equals_a_flow_on_every_pair(
    problem: tuple[np.ndarray, ...],
    switch: int,
    top: int,
    fine: int,
    coarse: int,
    window: int,
) -> None:
    cost, supply, capacity, spare_ok = problem
    reference = every_pair(cost, supply, capacity, spare_ok)
    for knobs in ({}, {"SWITCH_BITS": switch, "TOP_UNITS": top, "FINE_STEP": fine,
                       "COARSE_STEP": coarse, "WINDOW": window}):  # fmt: skip
        with scaled(**knobs):
            found = solve_transport(cost, supply, capacity, spare_ok)
        if reference is None or not (cost >= 0).any(axis=1).all():
            assert found is None
            continue
        assert found is not None
        assert assert_certified(found, cost, supply, capacity, spare_ok) == reference


def test_a_window_of_zero_still_grows_until_the_scale_is_exact() -> None:
    """Regression: a scale whose pairs within a window of 0 left a row short kept trying the
    same window (0 doubled) and never returned. This town needs the window to reach 63."""
    cost, supply, capacity, spare_ok = town(47, 0.4, 1.0)
    knobs = {"SWITCH_BITS": 1, "TOP_UNITS": 1, "FINE_STEP": 1, "COARSE_STEP": 1, "WINDOW": 0}
    with scaled(**knobs):
        found = solve_transport(cost, supply, capacity, spare_ok)
    reference = every_pair(cost, supply, capacity, spare_ok)
    assert found is not None and reference is not None
    assert assert_certified(found, cost, supply, capacity, spare_ok) == reference


def test_a_hash_collision_only_splits_a_class(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every school weighs the same: rows with different patterns share a digest.
    monkeypatch.setattr(transport, "_WEIGHTS", np.ones(4, dtype=np.int64))
    cost = np.array([[0, 3, 7], [3, 0, 7], [7, 3, 0], [0, 7, 3]], dtype=np.int64)
    supply = np.array([2, 1, 1, 2], dtype=np.int64)
    capacity = np.array([2, 2, 3], dtype=np.int64)
    ok = np.ones(3, dtype=bool)
    found = solve_transport(cost, supply, capacity, ok)
    assert found is not None
    assert assert_certified(found, cost, supply, capacity, ok) == every_pair(
        cost, supply, capacity, ok
    )


@st.composite
def everyone_fits(draw: st.DrawFn) -> Problem:
    """Towns of children in up to three tiers, with seats for all (so the prices path runs)."""
    cost, supply, capacity, _ = draw(towns())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    homes = np.repeat(np.arange(cost.shape[0]), supply)[: draw(st.integers(1, 40))]
    cost = cost[homes]
    cost[(cost < 0).all(axis=1), 0] = 5
    n, m = cost.shape
    return Problem(
        applicant_ids=tuple(f"c{i}" for i in range(n)),
        school_ids=tuple(f"s{j}" for j in range(m)),
        cost=cost,
        classes=np.maximum(capacity, 0) + rng.integers(0, 2, m) + n // m,
        class_size=np.ones(m, dtype=np.int64),
        tier=rng.integers(0, draw(st.integers(1, 3)), n),
        seed=int(rng.integers(0, 2**31)),
    )


@FAST
@given(everyone_fits(), st.booleans())
def test_stages_by_prices_reach_the_min_cost_flow_stages(problem: Problem, squared: bool) -> None:
    """The nearest mechanism by school prices against its stages as priced min-cost flows: the
    same value at every level, the lottery's included."""
    if squared:
        problem = dataclasses.replace(problem, cost=np.minimum(problem.cost, 3_000_000))
    with scaled():
        by_prices = solve_nearest(problem, squared=squared, explain=False).assignment
    real = lextransport.place_everyone
    lextransport.place_everyone = lambda flow, stages: False  # type: ignore[assignment]
    try:
        by_flows = solve_nearest(problem, squared=squared, explain=False).assignment
    finally:
        lextransport.place_everyone = real  # type: ignore[assignment]
    assert level_values(problem, by_prices, squared, True) == level_values(
        problem, by_flows, squared, True
    )
