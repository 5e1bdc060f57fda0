"""What a solve returns: status, assignment, explanations, metrics, checks and the run record."""

from __future__ import annotations

import copy
import enum
import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from allocation.checks import Checks
    from allocation.explanation_table import ExplanationTable
    from allocation.metrics import Metrics


class Status(enum.Enum):
    """How a mechanism ended."""

    OPTIMAL = "optimal"
    """Proven optimal for the mechanism's objective."""
    FEASIBLE = "feasible"
    """Respects every constraint, but the time limit stopped the proof of optimality."""
    INFEASIBLE = "infeasible"
    """No assignment satisfies the constraints."""
    TIME_LIMIT = "time_limit"
    """The time limit ran out before any assignment was found; nobody is placed."""
    COMPLETE = "complete"
    """A procedure with no objective (deferred acceptance, greedy) ran to its end."""


@dataclass(frozen=True, slots=True)
class PassedOver:
    """A school the applicant ranked higher (or is closer to) that she was not given."""

    school_index: int
    school_id: str
    cost: int
    why: str
    cutoff: dict[str, object]
    ranked: bool = False
    """Listed because the family ranked it above the school given (deferred acceptance with
    ranked lists); otherwise listed because it is nearer (or as near, before it by index)."""

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (the same as `dataclasses.asdict`, built directly)."""
        return {
            "school_index": _plain(self.school_index),
            "school_id": _plain(self.school_id),
            "cost": _plain(self.cost),
            "why": _plain(self.why),
            "cutoff": {_plain(k): _plain(v) for k, v in self.cutoff.items()},
            "ranked": _plain(self.ranked),
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one applicant got the school she got, in numbers a parent can check."""

    applicant_id: str
    school_index: int | None
    school_id: str | None
    cost: int | None
    reason: str
    passed_over: tuple[PassedOver, ...]
    ranked: int = 0
    """How many schools the family ranked itself (0: none, or no preferences in the problem)."""
    choice: int | None = None
    """The school given is the family's choice number `choice` (1 = first); None when it is
    not one of the schools the family ranked, or the child is not placed."""

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data (the same as `dataclasses.asdict`, built directly: at city
        scale asdict's generic recursion took longer than the allocation)."""
        return {
            "applicant_id": _plain(self.applicant_id),
            "school_index": _plain(self.school_index),
            "school_id": _plain(self.school_id),
            "cost": _plain(self.cost),
            "reason": _plain(self.reason),
            "passed_over": tuple(entry.as_dict() for entry in self.passed_over),
            "ranked": _plain(self.ranked),
            "choice": _plain(self.choice),
        }


_ATOMIC = frozenset({int, str, bool, float, type(None)})


def _plain(value: object) -> object:
    """A value as `dataclasses.asdict` copies it: atoms as they are, anything else deep-copied."""
    return value if type(value) in _ATOMIC else copy.deepcopy(value)


@dataclass(frozen=True)
class RunRecord:
    """Everything needed to reproduce and audit a run."""

    input_hash: str
    seed: int
    code_version: str
    parameters: dict[str, object]
    output_hash: str

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready data."""
        return asdict(self)


def output_hash(mechanism: str, status: Status, assignment: np.ndarray) -> str:
    """SHA-256 over mechanism, status and the assignment as little-endian int64 (no timing)."""
    digest = hashlib.sha256()
    digest.update(f"{mechanism}\0{status.value}\0".encode())
    digest.update(np.ascontiguousarray(assignment, dtype="<i8").tobytes())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Result:
    """The outcome of `allocation.solve`."""

    mechanism: str
    status: Status
    assignment: np.ndarray
    seats_used: np.ndarray
    classes_opened: np.ndarray
    explanations: ExplanationTable
    metrics: Metrics
    checks: Checks
    record: RunRecord
    solve_seconds: float

    def output_hash(self) -> str:
        """SHA-256 over assignment, mechanism and status: same input and seed, same hash."""
        return output_hash(self.mechanism, self.status, self.assignment)
