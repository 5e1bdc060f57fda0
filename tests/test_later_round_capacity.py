"""Seats taken in an earlier round: they reduce what a later round may give, not its classes."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.errors import ProblemError
from allocation.problem import Problem
from allocation.solve import MECHANISMS, solve


def two_schools(taken: list[int] | None) -> Problem:
    # Three children, all nearer school A (2 seats) than school B (2 seats).
    return Problem(
        applicant_ids=("c1", "c2", "c3"),
        school_ids=("A", "B"),
        cost=np.array([[100, 900], [200, 800], [300, 700]]),
        classes=np.array([1, 1]),
        class_size=np.array([2, 2]),
        tier=np.zeros(3, dtype=np.int64),
        seats_taken=None if taken is None else np.array(taken),
    )


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_seat_taken_before_is_not_given_again(mechanism: str) -> None:
    first = solve(two_schools(None), mechanism)  # type: ignore[arg-type]
    assert first.seats_used.tolist() == [2, 1]
    later = solve(two_schools([1, 0]), mechanism)  # type: ignore[arg-type]
    assert later.seats_used.tolist() == [1, 2]
    # A holds the earlier pupil and one new one: one class, full; B one class.
    assert later.classes_opened.tolist() == [1, 1]
    assert later.metrics.classes_over_size == 0
    nobody = solve(two_schools([2, 2]), mechanism)  # type: ignore[arg-type]
    assert nobody.seats_used.tolist() == [0, 0]


def test_seats_taken_change_the_input_hash_and_are_checked() -> None:
    assert two_schools(None).input_hash() != two_schools([0, 0]).input_hash()
    with pytest.raises(ProblemError, match="more than its 2 seats"):
        two_schools([3, 0]).validate()
    with pytest.raises(ProblemError, match="cannot be negative"):
        two_schools([-1, 0]).validate()
    with pytest.raises(ProblemError, match="one integer per school"):
        Problem(
            applicant_ids=("c1",),
            school_ids=("A",),
            cost=np.array([[1]]),
            classes=np.array([1]),
            class_size=np.array([2]),
            tier=np.array([0]),
            seats_taken=np.array([0, 0]),
        ).validate()
