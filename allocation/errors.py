"""Exceptions of the allocation library, each with a message a person can act on."""

from __future__ import annotations


class AllocationError(Exception):
    """Base class of every error the allocation library raises."""


class ProblemError(AllocationError, ValueError):
    """The problem is malformed: wrong shapes, negative capacity, unknown index, duplicate id."""


class SolverError(AllocationError, RuntimeError):
    """A solver returned a status the library cannot turn into a result (a bug or a limit)."""


class AllocationCheckError(AllocationError, RuntimeError):
    """A hard check (capacity, eligibility, one school per applicant) failed: a bug to report."""
