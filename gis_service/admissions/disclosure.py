"""What counts of children may be shown: no group under SMALLEST_GROUP, none recoverable by
subtracting one shown count from another (the rule of the officer's map and of parents' views)."""

from __future__ import annotations

SMALLEST_GROUP = 10
"""Aggregated views hide any group of fewer children than this (k-anonymity)."""


def hide_small_groups(
    counts: dict[str, int], nested: tuple[tuple[str, str], ...] = ()
) -> dict[str, int | None]:
    """Counts with every group under SMALLEST_GROUP children hidden (None).

    `nested` pairs (whole, part) where the part is a subgroup of the whole: when their
    difference is itself a group of 1..SMALLEST_GROUP-1 children, the part is hidden too, so it
    cannot be recovered by subtraction. Applied until nothing changes.
    """
    shown: dict[str, int | None] = {
        key: (n if n >= SMALLEST_GROUP else None) for key, n in counts.items()
    }
    changed = True
    while changed:
        changed = False
        for whole, part in nested:
            if whole not in shown or part not in shown:
                continue
            top, sub = shown[whole], shown[part]
            if top is not None and sub is not None and 0 < top - sub < SMALLEST_GROUP:
                shown[part] = None
                changed = True
    return shown
