"""Benchmark-like sizes, for correctness only (no timing assertions)."""

from __future__ import annotations

from allocation import Status, solve
from allocation.synthetic import synthetic_problem


def test_three_thousand_applicants_forty_schools() -> None:
    problem = synthetic_problem(3_000, 40, seed=5, radius_m=5_000)
    nearest = solve(problem, "nearest")
    da = solve(problem, "da")
    greedy = solve(problem, "greedy")
    for result in (nearest, da, greedy):
        assert result.checks.hard_ok
        assert result.metrics.classes_over_size == 0
        assert len(result.explanations) == problem.n
    assert nearest.status is Status.OPTIMAL
    assert da.checks.stable is True
    assert da.metrics.justified_envy == 0
    assert greedy.metrics.justified_envy > 0
    assert nearest.metrics.placed >= max(da.metrics.placed, greedy.metrics.placed)
    if nearest.metrics.placed == greedy.metrics.placed:
        assert nearest.metrics.total_cost < greedy.metrics.total_cost
    again = solve(problem, "nearest")
    assert again.output_hash() == nearest.output_hash()


def test_constrained_on_a_smaller_city() -> None:
    problem = synthetic_problem(150, 6, seed=2, radius_m=4_000, sibling_share=0.2)
    result = solve(problem, "constrained", time_limit_s=30)
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert result.checks.siblings_ok is True
    assert result.metrics.siblings_split == 0
    nearest = solve(problem, "nearest")
    assert result.metrics.placed <= nearest.metrics.placed
