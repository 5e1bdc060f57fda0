"""Metrics on small hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from allocation import Problem, compute_metrics, solve


def three_children() -> Problem:
    # A has one seat, B two; c1 lives nearest to A but arrives after c0.
    return Problem(
        applicant_ids=("c0", "c1", "c2"),
        school_ids=("A", "B"),
        cost=np.array([[300, 500], [100, 400], [600, 200]]),
        classes=np.array([1, 1]),
        class_size=np.array([1, 2]),
        tier=np.array([0, 0, 0]),
        max_cost=350,
    )


def test_greedy_metrics_by_hand() -> None:
    result = solve(three_children(), "greedy")
    assert result.assignment.tolist() == [0, 1, 1]
    m = result.metrics
    assert (m.applicants, m.placed, m.unassigned) == (3, 3, 0)
    assert m.total_cost == 900
    assert m.mean_cost == pytest.approx(300.0)
    assert m.p90_cost == 400
    assert m.max_cost == 400
    assert m.share_at_nearest == pytest.approx(2 / 3)
    assert m.share_first_choice == pytest.approx(2 / 3)
    assert (m.norm, m.beyond_norm) == (350, 1)
    assert m.classes_over_size == 0
    # c1 would rather be at A (100 m) and has priority there over c0 (300 m).
    assert m.justified_envy == 1
    assert m.cost_unit == "m"
    assert result.classes_opened.tolist() == [1, 1]


def test_da_and_nearest_metrics_by_hand() -> None:
    for mechanism in ("da", "nearest"):
        result = solve(three_children(), mechanism, norm=450)
        assert result.assignment.tolist() == [1, 0, 1]
        m = result.metrics
        assert m.total_cost == 800
        assert m.mean_cost == pytest.approx(800 / 3)
        assert m.p90_cost == 500
        assert m.max_cost == 500
        assert m.share_at_nearest == pytest.approx(2 / 3)
        assert (m.norm, m.beyond_norm) == (450, 1)
        assert m.justified_envy == 0
        flagged = [e.applicant_id for e in result.explanations if "beyond the norm" in e.reason]
        assert flagged == ["c0"]
        assert result.explanations[0].reason.endswith("This is beyond the norm of 450 m.")


def test_p90_is_nearest_rank() -> None:
    n = 10
    problem = Problem(
        applicant_ids=tuple(f"c{i}" for i in range(n)),
        school_ids=tuple(f"s{i}" for i in range(n)),
        cost=np.diag(np.arange(10, 101, 10)) + 1000 * (1 - np.eye(n, dtype=np.int64)),
        classes=np.ones(n, dtype=np.int64),
        class_size=np.ones(n, dtype=np.int64),
        tier=np.zeros(n, dtype=np.int64),
    )
    m = compute_metrics(problem, np.arange(n))
    assert m.p90_cost == 90
    assert m.share_at_nearest == 1.0
    assert m.mean_cost == pytest.approx(55.0)


def test_classes_over_size_and_siblings_split() -> None:
    problem = Problem(
        applicant_ids=tuple(f"c{i}" for i in range(7)),
        school_ids=("A", "B"),
        cost=np.full((7, 2), 100),
        classes=np.array([2, 3]),
        class_size=np.array([2, 2]),
        tier=np.zeros(7, dtype=np.int64),
        sibling_group=("f", "f", "g", "g", None, None, None),
    )
    # Five pupils in two classes of two: one class of three.
    assert compute_metrics(problem, np.array([0, 0, 0, 0, 0, 1, 1])).classes_over_size == 1
    # Seven in two classes of two: both classes over size.
    assert compute_metrics(problem, np.array([0] * 7)).classes_over_size == 2
    split = compute_metrics(problem, np.array([0, 1, 1, 1, -1, -1, -1]))
    assert split.siblings_split == 1
    assert split.unassigned == 3
    empty = compute_metrics(problem, np.full(7, -1))
    assert empty.mean_cost is None and empty.p90_cost is None and empty.max_cost is None
    assert empty.total_cost == 0
    assert empty.siblings_split == 0


def test_first_choice_uses_preferences() -> None:
    problem = Problem(
        applicant_ids=("c0", "c1"),
        school_ids=("A", "B"),
        cost=np.array([[100, 200], [100, 200]]),
        classes=np.array([1, 1]),
        class_size=np.array([1, 1]),
        tier=np.array([0, 0]),
        preferences=((1, 0), (0, 1)),
    )
    m = compute_metrics(problem, np.array([1, 0]))
    assert m.share_first_choice == 1.0
    assert m.share_at_nearest == 0.5
    assert m.justified_envy == 0
