"""What a mechanism hands back to `allocation.solve`: assignment, status and explanations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from allocation.result import Explanation, Status


@dataclass(frozen=True, eq=False)
class Outcome:
    """The raw result of one mechanism, before metrics and checks."""

    assignment: np.ndarray
    status: Status
    explanations: Sequence[Explanation]
    """An `ExplanationTable`, or the explanations already worded (small problems)."""


def seats_used(assignment: np.ndarray, m: int) -> np.ndarray:
    """Seats taken at each school (int64 [m])."""
    placed = assignment[assignment >= 0]
    return np.bincount(placed, minlength=m).astype(np.int64)[:m] if m else np.zeros(0, np.int64)
