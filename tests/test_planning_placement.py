"""Placing grouped children in schools: hand-checked cases and invariants of the flow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gis_service.planning.placement import classes_over_size, place_children

INF = np.inf


def test_children_take_seats_within_the_norm_before_going_over_size() -> None:
    cost = np.array([[100.0, 5000.0], [3000.0, 200.0], [4500.0, 4600.0]])
    placed = place_children(np.array([10, 5, 7]), np.array([12, 3]), cost, 4000.0)
    pairs = {
        (int(p), int(s)): int(c)
        for p, s, c in zip(placed.point, placed.school, placed.children, strict=True)
    }
    # 22 children, 15 seats: 7 must go over size; point 2 has no school within 4 km, so
    # its 7 go to the nearest (school 0), point 1 keeps to its own school.
    assert pairs == {(0, 0): 10, (1, 1): 5, (2, 0): 7}
    assert placed.over_size.sum() == pytest.approx(7)
    assert list(placed.school_load(2)) == [17, 5]


def test_a_far_seat_within_the_norm_beats_going_over_size() -> None:
    cost = np.array([[100.0, 3900.0]])
    placed = place_children(np.array([10]), np.array([6, 10]), cost, 4000.0)
    assert dict(zip(placed.school.tolist(), placed.children.tolist(), strict=True)) == {0: 6, 1: 4}
    assert placed.over_size.sum() == 0


def test_a_point_with_no_school_reachable_is_counted_apart() -> None:
    cost = np.array([[INF, INF], [50.0, INF]])
    placed = place_children(np.array([4, 3]), np.array([10, 10]), cost, 4000.0)
    assert list(placed.unreachable) == [4, 0]
    assert placed.children.sum() == 3


def test_classes_over_the_legal_size_when_spread_evenly() -> None:
    assert classes_over_size(70, 2, 35) == 0
    assert classes_over_size(71, 2, 35) == 1
    assert classes_over_size(73, 2, 35) == 2
    assert classes_over_size(10, 0, 35) == 0


@settings(max_examples=60, deadline=None)
@given(
    demand=arrays(np.int64, 5, elements=st.integers(0, 40)),
    seats=arrays(np.int64, 3, elements=st.integers(0, 60)),
    cost=arrays(np.float64, (5, 3), elements=st.floats(0, 8000)),
)
def test_every_child_is_placed_and_over_size_only_when_seats_run_out(
    demand: np.ndarray, seats: np.ndarray, cost: np.ndarray
) -> None:
    placed = place_children(demand, seats, cost, 4000.0)
    assert placed.children.sum() == demand.sum()
    per_point = np.bincount(placed.point, weights=placed.children, minlength=5)
    assert np.array_equal(per_point, demand)
    load = placed.school_load(3)
    over = np.maximum(load - seats, 0).sum()
    assert placed.over_size.sum() == pytest.approx(over)
    # Children are only sent beyond the norm to their nearest school.
    far = placed.cost > 4000.0
    nearest = np.argmin(cost, axis=1)
    assert np.all(placed.school[far] == nearest[placed.point[far]])
