"""Allocation on real Ho Chi Minh City road distances: golden figures of every mechanism.

10,000 grade-1 children placed by 2019 ward population on the motorbike network of the 2018
OSM extract (© OpenStreetMap contributors), the city's primary schools, road metres. The
figures below were measured on this instance; a change in them is a change in behaviour.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from allocation import PRIMARY_NORM_M, Result, Status, solve
from allocation.mechanisms.outcome import seats_used
from benchmarks.hcmc_instance import HcmcInstance, hcmc_problem, with_siblings

pytestmark = pytest.mark.hcmc

APPLICANTS = 10_000


@pytest.fixture(scope="module")
def instance() -> HcmcInstance:
    return hcmc_problem(APPLICANTS)


@pytest.fixture(scope="module")
def results(instance: HcmcInstance) -> dict[str, Result]:
    problem = instance.problem
    return {m: solve(problem, m, norm=PRIMARY_NORM_M) for m in ("nearest", "da", "greedy")}


def figures(result: Result) -> dict[str, int]:
    m = result.metrics
    return {
        "placed": m.placed,
        "total_cost": m.total_cost,
        "p90_cost": m.p90_cost or 0,
        "max_cost": m.max_cost or 0,
        "beyond_norm": m.beyond_norm,
        "justified_envy": m.justified_envy,
    }


def test_instance_is_the_city(instance: HcmcInstance) -> None:
    problem = instance.problem
    assert (problem.n, problem.m) == (APPLICANTS, GOLDEN_INSTANCE["schools"])
    assert int(problem.capacity.sum()) == GOLDEN_INSTANCE["seats"]
    assert len(np.unique(instance.home_node)) == GOLDEN_INSTANCE["homes"]
    assert int((problem.tier == 0).sum()) == GOLDEN_INSTANCE["tier0"]
    assert bool((problem.cost >= 0).all())


@pytest.mark.parametrize("mechanism", ["nearest", "da", "greedy"])
def test_golden_figures(results: dict[str, Result], mechanism: str) -> None:
    result = results[mechanism]
    assert result.checks.hard_ok
    assert figures(result) == GOLDEN_FIGURES[mechanism]
    assert len(result.explanations) == APPLICANTS


def test_nearest_is_certified_and_beats_the_others(
    instance: HcmcInstance, results: dict[str, Result]
) -> None:
    nearest, da, greedy = results["nearest"], results["da"], results["greedy"]
    assert nearest.status is Status.OPTIMAL
    assert any("potentials certified" in note for note in nearest.checks.messages)
    assert nearest.metrics.unassigned == 0
    assert nearest.metrics.total_cost < da.metrics.total_cost < greedy.metrics.total_cost
    assert da.checks.stable is True and da.metrics.justified_envy == 0
    used = seats_used(nearest.assignment, instance.problem.m)
    assert (used <= instance.problem.capacity).all()


def test_constrained_keeps_siblings_within_a_hair_of_nearest(instance: HcmcInstance) -> None:
    # Every fourth child, with classes of 9 so that seats stay about 1.05 x the children.
    rows = np.arange(0, APPLICANTS, 4)
    whole = instance.problem
    quarter = HcmcInstance(
        dataclasses.replace(
            whole,
            applicant_ids=tuple(whole.applicant_ids[i] for i in rows.tolist()),
            cost=whole.cost[rows],
            tier=whole.tier[rows],
            class_size=np.full(whole.m, 9, dtype=np.int64),
        ),
        instance.home_node[rows],
        instance.school_osm,
        instance.graph_nodes,
    )
    problem = with_siblings(quarter)
    constrained = solve(problem, "constrained", norm=PRIMARY_NORM_M)
    nearest = solve(problem, "nearest", norm=PRIMARY_NORM_M)
    assert constrained.checks.siblings_ok is True
    assert constrained.metrics.siblings_split == 0
    assert constrained.metrics.placed == nearest.metrics.placed
    assert constrained.metrics.total_cost >= nearest.metrics.total_cost
    assert constrained.metrics.total_cost <= 1.01 * nearest.metrics.total_cost
    assert (constrained.status.value, constrained.metrics.total_cost) == GOLDEN_CONSTRAINED


GOLDEN_INSTANCE = {"schools": 211, "seats": 10_500, "homes": 7_140, "tier0": 414}
GOLDEN_FIGURES = {
    "nearest": {
        "placed": 10_000,
        "total_cost": 33_912_790,
        "p90_cost": 7_927,
        "max_cost": 32_696,
        "beyond_norm": 2_338,
        "justified_envy": 562_387,
    },
    "da": {
        "placed": 10_000,
        "total_cost": 39_230_676,
        "p90_cost": 9_011,
        "max_cost": 51_322,
        "beyond_norm": 2_134,
        "justified_envy": 0,
    },
    "greedy": {
        "placed": 10_000,
        "total_cost": 40_423_764,
        "p90_cost": 10_835,
        "max_cost": 30_439,
        "beyond_norm": 3_069,
        "justified_envy": 1_201_522,
    },
}
GOLDEN_CONSTRAINED = ("feasible", 7_989_373)
