"""Reproducible synthetic cities for tests and benchmarks (no real data)."""

from __future__ import annotations

import numpy as np

from allocation.problem import INELIGIBLE, PRIMARY_CLASS_SIZE, Problem


def synthetic_problem(
    n: int,
    m: int,
    *,
    seed: int = 0,
    side_m: float | None = None,
    radius_m: int | None = None,
    seat_ratio: float = 1.05,
    class_size: int = PRIMARY_CLASS_SIZE,
    sibling_share: float = 0.0,
) -> Problem:
    """A square city with m schools and n applicants clustered around neighbourhoods.

    Costs are straight-line metres times a road detour factor of 1.3, rounded; pairs farther than
    `radius_m` are INELIGIBLE. Seats total about `seat_ratio * n`, in whole classes. Tiers: 5 %
    tier 0 (priority categories), 60 % tier 1 (lives in the area), the rest tier 2.
    `sibling_share` of applicants are paired as siblings living at the same address.
    """
    rng = np.random.default_rng(seed)
    side = side_m if side_m is not None else 1_000.0 * np.sqrt(max(m, 1) * 1.0)
    schools = rng.uniform(0, side, size=(m, 2))
    centres = rng.uniform(0, side, size=(max(m // 2, 1), 2))
    homes = centres[rng.integers(0, len(centres), size=n)] + rng.normal(0, side / 10, size=(n, 2))
    siblings: list[str | None] = [None] * n
    pairs = int(n * sibling_share) // 2
    for k in range(pairs):
        older, younger = 2 * k, 2 * k + 1
        homes[younger] = homes[older]
        siblings[older] = siblings[younger] = f"family-{k}"
    distance = np.sqrt(((homes[:, None, :] - schools[None, :, :]) ** 2).sum(axis=2))
    cost = np.rint(distance * 1.3).astype(np.int64)
    if radius_m is not None:
        cost[cost > radius_m] = INELIGIBLE
    weights = rng.uniform(0.5, 1.5, size=m)
    seats = seat_ratio * n * weights / weights.sum()
    classes = np.maximum(1, np.rint(seats / class_size)).astype(np.int64)
    tier = rng.choice(3, size=n, p=[0.05, 0.60, 0.35]).astype(np.int64)
    return Problem(
        applicant_ids=tuple(f"A{i:06d}" for i in range(n)),
        school_ids=tuple(f"S{s:04d}" for s in range(m)),
        cost=cost,
        classes=classes,
        class_size=np.full(m, class_size, dtype=np.int64),
        tier=tier,
        sibling_group=tuple(siblings) if pairs else None,
        seed=seed,
    )
