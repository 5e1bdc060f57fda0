"""City-scale machinery: merged applicants, pricing against the full matrix, rounds of DA."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation import INELIGIBLE, Problem, Status, lexflow, lexgroup, lextransport, solve
from allocation.grouping import group_applicants
from allocation.mechanisms.da import solve_da
from allocation.mechanisms.nearest import solve_nearest
from allocation.mechanisms.outcome import seats_used
from allocation.objective import (
    level_values,
    lexicographic_value,
    objective_cost,
    preference_position,
    tier_ranks,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def min_cost_flow_stages(**knobs: float) -> Iterator[None]:
    """Solve every stage by `lexgroup`'s priced min-cost flows, with `knobs` set on lexgroup.

    That is the path when not everyone can be placed; forcing it keeps it tested on problems
    where everyone could be (which `lextransport` would otherwise take).
    """
    saved = {name: getattr(lexgroup, name) for name in knobs}
    real = lextransport.place_everyone
    lextransport.place_everyone = lambda flow, stages: False  # type: ignore[assignment]
    for name, value in knobs.items():
        setattr(lexgroup, name, value)
    try:
        yield
    finally:
        lextransport.place_everyone = real  # type: ignore[assignment]
        for name, value in saved.items():
            setattr(lexgroup, name, value)


@st.composite
def crowded_homes(draw: st.DrawFn, max_n: int = 14, max_m: int = 4) -> Problem:
    """Few distinct homes, so many children share a cost row; tight and ineligible seats."""
    homes = draw(st.integers(1, 4))
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, max_n))
    value = st.one_of(st.integers(0, 9), st.just(INELIGIBLE))
    rows = np.array(draw(st.lists(value, min_size=homes * m, max_size=homes * m)), dtype=np.int64)
    home = draw(st.lists(st.integers(0, homes - 1), min_size=n, max_size=n))
    return Problem(
        applicant_ids=tuple(f"c{i}" for i in range(n)),
        school_ids=tuple(f"s{s}" for s in range(m)),
        cost=rows.reshape(homes, m)[home],
        classes=np.array(draw(st.lists(st.integers(0, 3), min_size=m, max_size=m))),
        class_size=np.array(draw(st.lists(st.integers(1, 3), min_size=m, max_size=m))),
        tier=np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))),
        seed=draw(st.integers(0, 2**31)),
    )


def full_matrix_reference(problem: Problem, squared: bool) -> np.ndarray:
    """The lexicographic objective per child over every eligible arc (no merging, no pricing)."""
    net = lexflow.build_network(problem.eligible, problem.capacity)
    app, sch = net.elig_applicant, net.elig_school
    position = preference_position(problem, app, sch)
    real = objective_cost(problem, app, sch, squared)
    tiers, rank = tier_ranks(problem)

    def count() -> np.ndarray:
        costs = np.zeros(net.num_arcs, dtype=np.int64)
        costs[net.src_arcs] = -(len(tiers) - rank[net.src_applicant])
        return costs

    def tier_cost(t: int) -> Callable[[], np.ndarray]:
        def costs() -> np.ndarray:
            out = np.zeros(net.num_arcs, dtype=np.int64)
            out[net.elig_arcs] = np.where(rank[app] == t, real, 0)
            return out

        return costs

    def tie_break() -> np.ndarray:
        lottery = problem.lottery()
        costs = np.zeros(net.num_arcs, dtype=np.int64)
        costs[net.src_arcs] = lottery[net.src_applicant]
        costs[net.elig_arcs] = (problem.n - lottery[app]) * position
        return costs

    stages = [count, *(tier_cost(t) for t in range(len(tiers))), tie_break]
    every_arc = np.ones(net.num_arcs, dtype=bool)
    flow, _ = lexflow.lexicographic(net, stages, every_arc)
    taken = flow[net.elig_arcs] > 0
    assignment = np.full(problem.n, -1, dtype=np.int64)
    assignment[app[taken]] = sch[taken]
    return assignment


def assert_full_matrix_optimum(problem: Problem, squared: bool) -> None:
    """`nearest` reaches the same lexicographic values as the flow on every pair."""
    ours = solve_nearest(problem, squared=squared, explain=False).assignment
    reference = full_matrix_reference(problem, squared)
    assert level_values(problem, ours, squared, tie_break=True) == level_values(
        problem, reference, squared, tie_break=True
    )


@FAST
@given(crowded_homes(), st.booleans())
def test_merged_and_priced_flow_reaches_the_full_matrix_optimum(
    problem: Problem, squared: bool
) -> None:
    assert_full_matrix_optimum(problem, squared)


@FAST
@given(crowded_homes())
def test_a_shortlist_of_one_school_prices_in_the_rest(problem: Problem) -> None:
    reference = full_matrix_reference(problem, False)
    with min_cost_flow_stages(SHORTLIST=1, ENTER_PER_GROUP=1):
        ours = solve_nearest(problem, explain=False).assignment
    assert level_values(problem, ours, False, tie_break=True) == level_values(
        problem, reference, False, tie_break=True
    )


@FAST
@given(crowded_homes())
def test_merging_identical_children_keeps_the_cost(problem: Problem) -> None:
    merged = solve(problem, "nearest").metrics
    one_node_per_child = full_matrix_reference(problem, False)
    placed = np.flatnonzero(one_node_per_child >= 0)
    assert merged.placed == placed.size
    assert merged.total_cost == int(problem.cost[placed, one_node_per_child[placed]].sum())


@FAST
@given(crowded_homes())
def test_nobody_is_unplaced_while_an_eligible_seat_is_free(problem: Problem) -> None:
    assignment = solve_nearest(problem, explain=False).assignment
    free = seats_used(assignment, problem.m) < problem.capacity
    unplaced = np.flatnonzero(assignment < 0)
    assert not (problem.eligible[unplaced] & free[None, :]).any()


@FAST
@given(crowded_homes())
def test_groups_hold_identical_rows_in_lottery_order(problem: Problem) -> None:
    _, rank = tier_ranks(problem)
    lottery = problem.lottery()
    groups = group_applicants(problem.cost, rank, lottery)
    assert sorted(groups.members.tolist()) == list(range(problem.n))
    for g in range(groups.count):
        members = groups.members[groups.start[g] : groups.start[g + 1]]
        assert (problem.cost[members] == problem.cost[members[0]]).all()
        assert (rank[members] == rank[members[0]]).all()
        assert (np.diff(lottery[members]) > 0).all()
        assert (groups.of_applicant[members] == g).all()
    keys = {(tuple(problem.cost[i]), int(rank[i])) for i in range(problem.n)}
    assert groups.count == len(keys)


@FAST
@given(crowded_homes(max_n=20, max_m=5))
def test_da_in_rounds_equals_proposing_one_at_a_time(problem: Problem) -> None:
    by_cost = problem.preference_lists()
    one_at_a_time = dataclasses.replace(problem, preferences=by_cost)
    rounds = solve_da(problem)
    single = solve_da(one_at_a_time)
    assert np.array_equal(rounds.assignment, single.assignment)


def test_partly_placed_group_chooses_whom_to_place_by_the_objective() -> None:
    # Regression: seven children of one home, four seats. The tie-break weighs lottery and
    # school position together, so "earliest lottery placed" is not always the optimum.
    cost = np.tile(np.array([[8, 8, 17, INELIGIBLE]]), (7, 1))
    problem = Problem(
        applicant_ids=tuple(f"k{i}" for i in range(7)),
        school_ids=("a", "b", "c", "d"),
        cost=cost,
        classes=np.array([1, 1, 2, 1]),
        class_size=np.array([1, 1, 1, 1]),
        tier=np.zeros(7, dtype=np.int64),
        seed=42,
    )
    ours = solve_nearest(problem, explain=False).assignment
    reference = full_matrix_reference(problem, False)
    assert level_values(problem, ours, False, True) == level_values(problem, reference, False, True)
    assert int((ours >= 0).sum()) == 4


def test_large_problems_skip_the_cp_sat_cross_check_and_say_so() -> None:
    from allocation.synthetic import synthetic_problem

    problem = synthetic_problem(400, 12, seed=3)
    result = solve(problem, "nearest")
    assert result.status is Status.OPTIMAL
    assert result.checks.optimal is None
    assert any("potentials certified" in message for message in result.checks.messages)


@pytest.mark.parametrize("sibling_share", [0.0, 0.3])
def test_constrained_above_the_cp_sat_size_returns_the_bounded_warm_start(
    sibling_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from allocation.mechanisms import constrained
    from allocation.synthetic import synthetic_problem

    monkeypatch.setattr(constrained, "CP_SAT_MAX_PAIRS", 100)
    problem = synthetic_problem(120, 5, seed=7, sibling_share=sibling_share)
    result = solve(problem, "constrained")
    nearest = solve(problem, "nearest")
    assert result.checks.siblings_ok is True
    if sibling_share == 0.0:
        assert result.status is Status.OPTIMAL
        assert np.array_equal(result.assignment, nearest.assignment)
    else:
        assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
        assert result.metrics.total_cost >= nearest.metrics.total_cost or (
            result.metrics.placed < nearest.metrics.placed
        )


@FAST
@given(crowded_homes())
def test_explanations_read_priced_in_pairs_like_shortlisted_ones(problem: Problem) -> None:
    default = solve_nearest(problem)
    with min_cost_flow_stages(SHORTLIST=1, ENTER_PER_GROUP=1):
        priced = solve_nearest(problem)
    if np.array_equal(default.assignment, priced.assignment):
        assert [e.as_dict() for e in default.explanations] == [
            e.as_dict() for e in priced.explanations
        ]


def twins_problem(seed: int) -> Problem:
    """Up to 49 children from at most 11 homes, a few seats: many children share a home."""
    rng = np.random.default_rng(seed)
    homes, m, n = int(rng.integers(1, 12)), int(rng.integers(1, 7)), int(rng.integers(1, 50))
    base = rng.integers(0, 20, size=(homes, m)) * int(rng.choice([1, 10]))
    base[rng.random((homes, m)) < 0.2] = INELIGIBLE
    cost = base[rng.integers(0, homes, n)]
    tiers = int(rng.integers(1, 3))
    return Problem(
        applicant_ids=tuple(f"a{i}" for i in range(n)),
        school_ids=tuple(f"s{j}" for j in range(m)),
        cost=cost,
        classes=rng.integers(0, 3, m),
        class_size=rng.integers(1, 6, m),
        tier=rng.integers(0, tiers, n),
        seed=seed,
    )


@pytest.mark.parametrize("seed", [51, 117])
def test_twins_moves_price_closer_schools_exactly(seed: int) -> None:
    # Regression: a group's arc was capped at the school's seats, which hid the moves of the
    # child's own twins and overpriced closer schools.
    assert_prices_are_forced_costs(twins_problem(seed))


@FAST
@given(crowded_homes(max_n=10, max_m=4))
def test_a_priced_school_costs_its_price_when_the_child_is_forced_there(problem: Problem) -> None:
    assert_prices_are_forced_costs(problem)


def assert_prices_are_forced_costs(problem: Problem) -> None:
    """Each finite price equals the rise of the tier's total when the child is forced there."""
    result = solve_nearest(problem)
    base = lexicographic_value(problem, result.assignment)
    tiers = len(np.unique(problem.tier))
    rank = tier_ranks(problem)[1]
    for i, explanation in enumerate(result.explanations):
        for entry in explanation.passed_over:
            price = entry.cutoff.get("price")
            if price is None:
                continue
            s = entry.school_index
            forced_cost = problem.cost.copy()
            forced_cost[i, :] = INELIGIBLE
            forced_cost[i, s] = problem.cost[i, s]
            forced = dataclasses.replace(problem, cost=forced_cost)
            moved = solve_nearest(forced, explain=False).assignment
            if moved[i] != s:
                continue  # leaving her unplaced did as well: the comparison does not apply
            value = lexicographic_value(problem, moved)
            t = int(rank[i])
            assert value[: tiers + t] == base[: tiers + t]
            assert value[tiers + t] - base[tiers + t] == price


@FAST
@given(crowded_homes(), st.integers(1, 2), st.sampled_from([0.0, 0.03, 0.5, 3.0]))
def test_a_working_set_of_few_arcs_per_group_prices_back_the_rest(
    problem: Problem, working: int, lookahead: float
) -> None:
    # Arcs dropped from the network between pricing rounds must come back when they pay, and
    # near misses entering with them must change nothing but the rounds.
    reference = full_matrix_reference(problem, False)
    knobs = {"SHORTLIST": 2, "ENTER_PER_GROUP": 2, "WORKING": working, "LOOKAHEAD": lookahead}
    with min_cost_flow_stages(**knobs):
        ours = solve_nearest(problem, explain=False).assignment
    assert level_values(problem, ours, False, tie_break=True) == level_values(
        problem, reference, False, tie_break=True
    )


@st.composite
def networks(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """A small random network with several supply and demand nodes (maybe infeasible)."""
    nodes = draw(st.integers(2, 7))
    arcs = draw(st.integers(0, 16))
    node = st.integers(0, nodes - 1)
    tails = np.array(draw(st.lists(node, min_size=arcs, max_size=arcs)), dtype=np.int64)
    heads = np.array(draw(st.lists(node, min_size=arcs, max_size=arcs)), dtype=np.int64)
    caps = np.array(draw(st.lists(st.integers(0, 5), min_size=arcs, max_size=arcs)), np.int64)
    costs = np.array(draw(st.lists(st.integers(-3, 9), min_size=arcs, max_size=arcs)), np.int64)
    supply = np.array(draw(st.lists(st.integers(-4, 4), min_size=nodes, max_size=nodes)))
    return tails, heads, caps, costs, supply.astype(np.int64)


@FAST
@given(networks())
def test_supplies_carried_by_hub_arcs_solve_the_same_network(net: tuple[np.ndarray, ...]) -> None:
    from ortools.graph.python import min_cost_flow

    tails, heads, caps, costs, supply = net
    direct = min_cost_flow.SimpleMinCostFlow()
    if tails.size:
        direct.add_arcs_with_capacity_and_unit_cost(
            tails.astype(np.int32), heads.astype(np.int32), caps, costs
        )
    direct.set_nodes_supplies(np.arange(supply.size, dtype=np.int32), supply)
    expected = direct.solve()
    status, flows = lexgroup.run_min_cost_flow(tails, heads, caps, costs, supply)
    assert (status == direct.OPTIMAL) == (expected == direct.OPTIMAL)
    if status != direct.OPTIMAL:
        return
    assert int(flows @ costs) == direct.optimal_cost()
    assert ((flows >= 0) & (flows <= caps)).all()
    balance = np.zeros(supply.size, dtype=np.int64)
    np.add.at(balance, tails, flows)
    np.subtract.at(balance, heads, flows)
    assert np.array_equal(balance, supply)


def spy_on_split(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record what each call of `lexgroup.solve_split` returned."""
    returned: list[bool] = []
    real = lexgroup.solve_split

    def spy(*args: object) -> bool:
        returned.append(real(*args))  # type: ignore[arg-type]
        return returned[-1]

    monkeypatch.setattr(lexgroup, "solve_split", spy)
    return returned


def split_problem(y_schools: tuple[int, ...]) -> Problem:
    """Tier-0 child x nearest to school a; tier-1 child y eligible at `y_schools`; four more."""
    cost = np.full((6, 4), INELIGIBLE)
    cost[0, :2] = (1, 5)  # x: a, then b
    for s in y_schools:
        cost[1, s] = 3
    cost[2:, 2] = 1  # z1..z4: c, then d (each at her own distance, so no two are merged)
    cost[2:, 3] = 2 + np.arange(4)
    return Problem(
        applicant_ids=("x", "y", "z1", "z2", "z3", "z4"),
        school_ids=("a", "b", "c", "d"),
        cost=cost,
        classes=np.array([1, 1, 4, 4]),
        class_size=np.ones(4, dtype=np.int64),
        tier=np.array([0, 1, 1, 1, 1, 1]),
    )


def test_a_small_tier_is_solved_alone_when_the_others_still_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    returned = spy_on_split(monkeypatch)
    problem = split_problem((0, 2))
    with min_cost_flow_stages():
        ours = solve_nearest(problem, explain=False).assignment
    assert returned[0] is True
    assert ours.tolist() == [0, 2, 3, 2, 2, 2]
    assert solve_nearest(problem, explain=False).assignment.tolist() == ours.tolist()


def test_a_small_tier_alone_that_would_leave_a_child_out_is_solved_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # x alone takes a, but y can only go to a: the split is not optimal, the whole network is.
    returned = spy_on_split(monkeypatch)
    problem = split_problem((0,))
    with min_cost_flow_stages():
        ours = solve_nearest(problem, explain=False).assignment
    assert returned[0] is False
    assert ours[:2].tolist() == [1, 0]
    assert (ours >= 0).all()
    assert solve_nearest(problem, explain=False).assignment.tolist() == ours.tolist()


@st.composite
def few_first_tier(draw: st.DrawFn) -> Problem:
    """Crowded homes where about one child in eight is of tier 0 and one in eight of tier 1,
    the rest of tier 2 (the split's case, with arcs fixed by an earlier stage too)."""
    problem = draw(crowded_homes(max_n=24, max_m=5))
    flags = draw(st.lists(st.integers(0, 7), min_size=problem.n, max_size=problem.n))
    return dataclasses.replace(problem, tier=np.array([min(f, 2) for f in flags]))


@FAST
@given(few_first_tier(), st.booleans())
def test_splitting_a_small_tier_off_keeps_the_full_matrix_optimum(
    problem: Problem, squared: bool
) -> None:
    assert_full_matrix_optimum(problem, squared)
    with min_cost_flow_stages():
        assert_full_matrix_optimum(problem, squared)
