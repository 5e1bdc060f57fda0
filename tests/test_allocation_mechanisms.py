"""Tiny hand-checked cases with known answers for each mechanism."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from allocation import INELIGIBLE, Problem, Status, lottery_numbers, solve


def problem(
    cost: Sequence[Sequence[int]],
    capacity: Sequence[int],
    tier: Sequence[int] | None = None,
    **extra: object,
) -> Problem:
    n, m = len(cost), len(capacity)
    return Problem(
        applicant_ids=tuple(f"c{i}" for i in range(n)),
        school_ids=tuple("ABCDEFGH"[s] for s in range(m)),
        cost=np.array(cost, dtype=np.int64).reshape(n, m),
        classes=np.array(capacity, dtype=np.int64),
        class_size=np.ones(m, dtype=np.int64),
        tier=np.array(tier if tier is not None else [0] * n, dtype=np.int64),
        **extra,  # type: ignore[arg-type]
    )


def test_three_applicants_two_schools() -> None:
    p = problem([[300, 1300], [200, 1500], [400, 1000]], [1, 2])
    nearest = solve(p, "nearest")
    assert nearest.status is Status.OPTIMAL
    assert nearest.assignment.tolist() == [1, 0, 1]
    assert nearest.metrics.total_cost == 2500
    assert nearest.checks.optimal is True
    assert solve(p, "greedy").assignment.tolist() == [0, 1, 1]
    assert solve(p, "da").assignment.tolist() == [1, 0, 1]
    assert solve(p, "constrained").assignment.tolist() == [1, 0, 1]
    assert nearest.seats_used.tolist() == [1, 2]
    assert nearest.classes_opened.tolist() == [1, 2]


def test_greedy_sends_a_child_far_past_a_near_school_and_nearest_does_not() -> None:
    # c0 arrives first and takes A (200 m) although B is 250 m from home; c1 then lives 300 m
    # from A but is sent 1.3 km further, to B at 1,600 m.
    p = problem([[200, 250], [300, 1600]], [1, 1])
    greedy = solve(p, "greedy")
    assert greedy.assignment.tolist() == [0, 1]
    assert greedy.metrics.max_cost == 1600
    nearest = solve(p, "nearest")
    assert nearest.assignment.tolist() == [1, 0]
    assert nearest.metrics.total_cost == 550
    assert nearest.metrics.max_cost == 300


def test_tier_zero_child_gets_the_last_seat_over_a_closer_tier_one_child() -> None:
    p = problem([[300], [800]], [1], tier=[1, 0])
    for mechanism in ("nearest", "da", "constrained"):
        assert solve(p, mechanism).assignment.tolist() == [-1, 0], mechanism
    # First come, first served ignores priority.
    assert solve(p, "greedy").assignment.tolist() == [0, -1]


def test_tier_zero_is_served_nearer_before_tier_one_cost_counts() -> None:
    # Least total cost would give A to the tier-1 child (300 + 2,000 < 500 + 2,500); priority
    # gives tier 0 the nearer school first.
    p = problem([[500, 2000], [300, 2500]], [1, 1], tier=[0, 1])
    assert solve(p, "nearest").assignment.tolist() == [0, 1]
    assert solve(p, "da").assignment.tolist() == [0, 1]


def test_placing_everyone_comes_before_tier_zero_distance() -> None:
    # Tier 0 could have A (100 m) but then the tier-1 child, who may only attend A, would have
    # no place; nearest places both.
    p = problem([[100, 900], [400, INELIGIBLE]], [1, 1], tier=[0, 1])
    assert solve(p, "nearest").assignment.tolist() == [1, 0]


def test_squared_costs_prefer_two_medium_trips_to_one_long() -> None:
    # Linear totals tie-break toward 0 + 1,000 = 1,000 vs 600 + 600 = 1,200; squared prefers
    # 600^2 + 600^2 < 1,000^2.
    p = problem([[0, 600], [600, 1000]], [1, 1])
    assert solve(p, "nearest").assignment.tolist() == [0, 1]
    assert solve(p, "nearest", squared=True).assignment.tolist() == [1, 0]


def _seed_where(ids: Sequence[str], winner: int) -> int:
    return next(s for s in range(100) if int(np.argmin(lottery_numbers(ids, s))) == winner)


def test_da_breaks_ties_by_the_lottery() -> None:
    ids = ("c0", "c1")
    for winner in (0, 1):
        seed = _seed_where(ids, winner)
        p = problem([[500, 900], [500, 900]], [1, 1], seed=seed)
        result = solve(p, "da")
        assert result.assignment[winner] == 0
        assert result.assignment[1 - winner] == 1
        loser = result.explanations[1 - winner].passed_over[0]
        assert loser.cutoff["lottery"] == int(lottery_numbers(ids, seed)[winner])


def test_nearest_breaks_ties_by_the_lottery() -> None:
    ids = ("c0", "c1")
    for winner in (0, 1):
        p = problem([[500, 900], [500, 900]], [1, 1], seed=_seed_where(ids, winner))
        result = solve(p, "nearest")
        assert result.assignment[winner] == 0
        price = result.explanations[1 - winner].passed_over[0].cutoff["price"]
        assert price == 0


def test_da_cutoff_is_the_last_child_admitted() -> None:
    p = problem([[100, 900], [200, 900], [300, 900]], [2, 1])
    result = solve(p, "da")
    assert result.assignment.tolist() == [0, 0, 1]
    cut = result.explanations[2].passed_over[0].cutoff
    assert (cut["tier"], cut["cost"]) == (0, 200)
    assert "lived 200 m away, nearer than your 300 m" in result.explanations[2].reason


def test_da_respects_given_preferences_and_priority() -> None:
    # c0 prefers B though A is nearer; c1 wants B too but c0 lives nearer to B.
    p = problem([[100, 300], [200, 400]], [1, 1], preferences=((1, 0), (1, 0)))
    result = solve(p, "da")
    assert result.assignment.tolist() == [1, 0]
    assert result.checks.stable is True
    assert result.metrics.share_first_choice == 0.5


def test_constrained_keeps_a_sibling_pair_together() -> None:
    # Siblings s0, s1 (same home) and c2; A has one seat, B two.
    p = problem(
        [[100, 900], [100, 900], [500, 600]],
        [1, 2],
        sibling_group=("fam", "fam", None),
    )
    nearest = solve(p, "nearest")
    assert nearest.metrics.siblings_split == 1
    constrained = solve(p, "constrained")
    assert constrained.status is Status.OPTIMAL
    assert constrained.assignment.tolist() == [1, 1, 0]
    assert constrained.metrics.siblings_split == 0
    assert constrained.checks.siblings_ok is True
    reason = constrained.explanations[0]
    assert reason.passed_over[0].why == "full"
    assert "sibling" in reason.reason


def test_constrained_places_siblings_together_or_not_at_all() -> None:
    # Only one seat anywhere the family may go: neither sibling is placed, c2 is.
    p = problem(
        [[100, INELIGIBLE], [100, INELIGIBLE], [300, 200]],
        [1, 1],
        sibling_group=("fam", "fam", None),
    )
    result = solve(p, "constrained")
    assert result.assignment.tolist() == [-1, -1, 0] or result.assignment.tolist() == [-1, -1, 1]
    assert result.metrics.placed == 1


def test_constrained_enforces_max_cost() -> None:
    p = problem([[3000, 5000], [4500, 4200]], [2, 2], max_cost=4000)
    nearest = solve(p, "nearest")
    assert nearest.assignment.tolist() == [0, 1]
    assert nearest.metrics.beyond_norm == 1
    constrained = solve(p, "constrained")
    assert constrained.assignment.tolist() == [0, -1]
    assert constrained.checks.max_cost_ok is True
    assert constrained.metrics.beyond_norm == 0
    whys = {po.why for po in constrained.explanations[1].passed_over}
    assert whys == {"beyond maximum distance"}


def test_greedy_follows_arrival_order() -> None:
    p = problem([[100, 200], [100, 200], [100, 200]], [1, 2])
    assert solve(p, "greedy").assignment.tolist() == [0, 1, 1]
    explanation = solve(p, "greedy").explanations[2]
    assert explanation.passed_over[0].cutoff == {"filled_before": 1}


def test_unplaced_when_no_room_and_explained() -> None:
    p = problem([[100], [200], [300]], [2])
    for mechanism in ("nearest", "da", "constrained", "greedy"):
        result = solve(p, mechanism)
        assert result.metrics.unassigned == 1
        lost = int(np.flatnonzero(result.assignment < 0)[0])
        assert result.explanations[lost].school_index is None
        assert result.explanations[lost].passed_over[0].why == "full"


def test_run_record_and_output_hash() -> None:
    p = problem([[300, 1300], [200, 1500], [400, 1000]], [1, 2], seed=11)
    result = solve(p, "nearest", norm=1200, time_limit_s=5)
    assert result.record.input_hash == p.input_hash()
    assert result.record.seed == 11
    assert result.record.parameters == {
        "mechanism": "nearest",
        "squared": False,
        "norm": 1200,
        "time_limit_s": 5,
    }
    assert result.record.output_hash == result.output_hash()
    assert result.metrics.beyond_norm == 1
    again = solve(p, "nearest", norm=1200, time_limit_s=5)
    assert again.output_hash() == result.output_hash()
    assert solve(p, "greedy").output_hash() != result.output_hash()
