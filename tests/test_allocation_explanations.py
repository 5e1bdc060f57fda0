"""Explanations: every closer (or preferred) school not given is listed, with consistent numbers."""

from __future__ import annotations

import dataclasses
import gc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocation import Problem, Result, solve
from allocation.explain import cyclic_gc_paused
from allocation.priority import SchoolPriority
from tests.test_allocation_properties import (
    FAST,
    feasible_assignments,
    lex_key,
    preference_rank,
    problems,
)

WHY = {"full", "not eligible", "no seats", "beyond maximum distance", "siblings kept together"}


def closer_schools(p: Problem, i: int, own: int) -> list[int]:
    """Eligible schools strictly before `own` in cost order (ties by index); all if unplaced."""
    cost = p.cost[i].tolist()
    order = sorted((s for s in range(p.m) if cost[s] >= 0), key=lambda s: (cost[s], s))
    return order if own < 0 else order[: order.index(own)]


def check_common(p: Problem, result: Result) -> None:
    assert [e.applicant_id for e in result.explanations] == list(p.applicant_ids)
    for i, e in enumerate(result.explanations):
        own = int(result.assignment[i])
        assert e.school_index == (None if own < 0 else own)
        assert e.school_id == (None if own < 0 else p.school_ids[own])
        assert e.cost == (None if own < 0 else int(p.cost[i, own]))
        assert e.reason and e.reason.endswith(".")
        # as_dict is built by hand for speed: it must stay exactly what asdict gives.
        plain = e.as_dict()
        assert plain == dataclasses.asdict(e)
        assert list(plain) == [f.name for f in dataclasses.fields(e)]
        assert type(plain["passed_over"]) is tuple
        for po in e.passed_over:
            assert po.why in WHY, po.why
            assert po.school_id == p.school_ids[po.school_index]
            assert po.cost == int(p.cost[i, po.school_index])


def check_by_cost(p: Problem, result: Result) -> None:
    """Cost-order mechanisms: passed_over is exactly the closer schools, each full."""
    used = result.seats_used
    capacity = p.classes * p.class_size
    for i, e in enumerate(result.explanations):
        expected = closer_schools(p, i, int(result.assignment[i]))
        listed = [po.school_index for po in e.passed_over]
        assert listed == expected
        for po in e.passed_over:
            if po.why == "full":
                assert used[po.school_index] >= capacity[po.school_index]
            if po.why == "no seats":
                assert capacity[po.school_index] == 0


@FAST
@given(problems())
def test_nearest_lists_every_closer_school_with_a_price(p: Problem) -> None:
    result = solve(p, "nearest")
    check_common(p, result)
    check_by_cost(p, result)
    for i, e in enumerate(result.explanations):
        for po in e.passed_over:
            price = po.cutoff["price"]
            if e.school_index is not None and price is not None:
                assert isinstance(price, int) and price >= 0
                saved = po.cutoff["you_would_save"]
                assert saved == int(p.cost[i, e.school_index]) - po.cost
                assert po.cutoff["others_further"] == price + saved


@FAST
@given(problems())
def test_greedy_lists_closer_schools_filled_before_arrival(p: Problem) -> None:
    result = solve(p, "greedy")
    check_common(p, result)
    check_by_cost(p, result)
    for i, e in enumerate(result.explanations):
        for po in e.passed_over:
            if po.why == "full":
                filled = po.cutoff["filled_before"]
                assert isinstance(filled, int) and 1 <= filled < i + 1
                assert int(result.assignment[filled - 1]) == po.school_index


@FAST
@given(problems(with_siblings=True, with_max_cost=True))
def test_constrained_lists_every_closer_school(p: Problem) -> None:
    result = solve(p, "constrained")
    check_common(p, result)
    check_by_cost(p, result)
    assert p.max_cost is not None
    for e in result.explanations:
        for po in e.passed_over:
            assert (po.why == "beyond maximum distance") == (po.cost > p.max_cost)


@FAST
@given(problems(with_preferences=True))
def test_da_lists_preferred_schools_with_a_better_cutoff(p: Problem) -> None:
    result = solve(p, "da")
    check_common(p, result)
    priority = SchoolPriority(p)
    for i, e in enumerate(result.explanations):
        own = int(result.assignment[i])
        raw = p.preferences[i] if p.preferences is not None else ()
        expected = list(raw[: raw.index(own)] if own in raw else raw)
        assert [po.school_index for po in e.passed_over] == expected
        for po in e.passed_over:
            s = po.school_index
            if po.why == "not eligible":
                assert p.cost[i, s] < 0
                continue
            assert preference_rank(p, i, s) < preference_rank(p, i, own)
            if po.why == "no seats":
                continue
            assert po.why == "full"
            cut = po.cutoff
            mine = priority.describe(i, s)
            assert (cut["tier"], cut["cost"], cut["lottery"]) < (
                mine["tier"],
                mine["cost"],
                mine["lottery"],
            )
            # The cutoff is the lowest-priority child admitted there.
            admitted = [
                priority.describe(b, s) for b in np.flatnonzero(result.assignment == s).tolist()
            ]
            worst = max(admitted, key=lambda d: (d["tier"], d["cost"], d["lottery"]))
            assert {k: v for k, v in cut.items() if k != "decided_by"} == worst
            # What put that child first: the first of tier, distance and lottery that differ.
            decided = next(
                word
                for key, word in (
                    ("tier", "priority"),
                    ("cost", "distance"),
                    ("lottery", "lottery"),
                )
                if cut[key] != mine[key]
            )
            assert cut["decided_by"] == decided


@FAST
@given(problems())
def test_da_default_lists_are_closer_schools(p: Problem) -> None:
    result = solve(p, "da")
    check_common(p, result)
    check_by_cost(p, result)


def test_nearest_sentence_names_the_trade_off() -> None:
    p = Problem(
        ("a", "b"),
        ("X", "Y"),
        np.array([[820, 2160], [500, 1840]]),
        np.array([1, 1]),
        np.array([1, 1]),
        np.array([0, 0]),
    )
    result = solve(p, "nearest")
    # Either way round the total is 2,660 m, so the lottery decides who gets X.
    loser = result.explanations[int(np.flatnonzero(result.assignment == 1)[0])]
    po = loser.passed_over[0]
    assert po.why == "full"
    assert po.cutoff["price"] == 0
    assert "lottery" in loser.reason


def test_nearest_sentence_reads_like_the_brief() -> None:
    p = Problem(
        ("a", "b"),
        ("X", "Y"),
        np.array([[820, 2000], [300, 1960]]),
        np.array([1, 1]),
        np.array([1, 1]),
        np.array([0, 0]),
    )
    result = solve(p, "nearest")
    assert result.assignment.tolist() == [1, 0]
    po = result.explanations[0].passed_over[0]
    assert po.school_id == "X" and po.cost == 820 and po.why == "full"
    # Giving a the seat would push b 1,660 m further; a would save 1,180 m.
    assert po.cutoff == {
        "price": 480,
        "others_further": 1660,
        "you_would_save": 1180,
        "unit": "m",
    }
    assert "school X (820 m) was full" in result.explanations[0].reason
    assert "1,660 m" in result.explanations[0].reason


@FAST
@given(problems(max_n=5), st.booleans())
def test_nearest_price_is_the_least_extra_cost_of_giving_the_seat(
    p: Problem, squared: bool
) -> None:
    """Brute force: the cheapest assignment that keeps every tier's placements and every
    higher tier's cost, and puts the applicant at the passed-over school."""
    result = solve(p, "nearest", squared=squared)
    best = lex_key(p, result.assignment.tolist(), squared)
    tiers = sorted(set(p.tier.tolist()))
    k = len(tiers)
    everything = [(a, lex_key(p, a, squared)) for a in feasible_assignments(p)]
    for i, e in enumerate(result.explanations):
        if e.school_index is None:
            continue
        t = tiers.index(int(p.tier[i]))
        same_prefix = [(a, key) for a, key in everything if key[: k + t] == best[: k + t]]
        for po in e.passed_over:
            options = [key[k + t] for a, key in same_prefix if a[i] == po.school_index]
            expected = min(options) - best[k + t] if options else None
            assert po.cutoff["price"] == expected


def set_gc(enabled: bool) -> None:
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_building_explanations_leaves_the_garbage_collector_as_it_was() -> None:
    was = gc.isenabled()
    try:
        for start in (True, False):
            set_gc(start)
            with cyclic_gc_paused():
                assert not gc.isenabled()
            assert gc.isenabled() is start
            with pytest.raises(ValueError), cyclic_gc_paused():
                raise ValueError("a failure while explaining")
            assert gc.isenabled() is start
        gc.enable()
        p = Problem(
            applicant_ids=("a", "b"),
            school_ids=("x",),
            cost=np.array([[1], [2]]),
            classes=np.array([1]),
            class_size=np.array([1]),
            tier=np.array([0, 0]),
        )
        for mechanism in ("nearest", "da", "greedy", "constrained"):
            assert len(solve(p, mechanism).explanations) == 2  # type: ignore[arg-type]
            assert gc.isenabled()
    finally:
        set_gc(was)
