"""Property-based invariants on random small problems, against brute force where possible."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation import INELIGIBLE, Mechanism, Problem, Status, lottery_numbers, solve
from allocation.checks import blocking_pairs

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MECHANISMS: tuple[Mechanism, ...] = ("nearest", "da", "constrained", "greedy")


@st.composite
def problems(
    draw: st.DrawFn,
    max_n: int = 6,
    max_m: int = 3,
    *,
    all_eligible: bool = False,
    one_tier: bool = False,
    with_preferences: bool = False,
    with_siblings: bool = False,
    with_max_cost: bool = False,
) -> Problem:
    """Small problems with many ties: costs 0..12 (or ineligible), 0-3 seats per school."""
    n = draw(st.integers(0, max_n))
    m = draw(st.integers(1, max_m))
    value = st.integers(0, 12) if all_eligible else st.one_of(st.integers(0, 12), st.just(-1))
    cost = np.array(draw(st.lists(value, min_size=n * m, max_size=n * m)), dtype=np.int64)
    classes = draw(st.lists(st.integers(0, 3), min_size=m, max_size=m))
    size = draw(st.lists(st.integers(1, 2), min_size=m, max_size=m))
    tiers = st.just(0) if one_tier else st.integers(0, 2)
    tier = draw(st.lists(tiers, min_size=n, max_size=n))
    preferences = None
    if with_preferences:
        preferences = tuple(
            tuple(draw(st.permutations(range(m)))[: draw(st.integers(0, m))]) for _ in range(n)
        )
    siblings = None
    if with_siblings:
        siblings = tuple(draw(st.lists(st.sampled_from([None, "f", "g"]), min_size=n, max_size=n)))
    return Problem(
        applicant_ids=tuple(f"p{i}" for i in range(n)),
        school_ids=tuple(f"s{s}" for s in range(m)),
        cost=cost.reshape(n, m),
        classes=np.array(classes, dtype=np.int64),
        class_size=np.array(size, dtype=np.int64),
        tier=np.array(tier, dtype=np.int64),
        preferences=preferences,
        sibling_group=siblings,
        max_cost=draw(st.integers(0, 12)) if with_max_cost else None,
        seed=draw(st.integers(0, 2**32)),
    )


# Independent brute-force references (plain Python, no library helpers).


def feasible_assignments(p: Problem, max_cost: int | None = None) -> Iterator[tuple[int, ...]]:
    cost = p.cost.tolist()
    capacity = (p.classes * p.class_size).tolist()
    options = [
        [-1]
        + [
            s
            for s in range(p.m)
            if cost[i][s] >= 0 and (max_cost is None or cost[i][s] <= max_cost)
        ]
        for i in range(p.n)
    ]
    for choice in itertools.product(*options):
        used = [0] * p.m
        for s in choice:
            if s >= 0:
                used[s] += 1
        if all(u <= c for u, c in zip(used, capacity, strict=True)):
            yield choice


def lex_key(p: Problem, assignment: tuple[int, ...] | list[int], squared: bool = False) -> tuple:
    tiers = sorted(set(p.tier.tolist()))
    cost = p.cost.tolist()
    counts, totals = [], []
    for t in tiers:
        members = [i for i in range(p.n) if p.tier[i] == t and assignment[i] >= 0]
        counts.append(-len(members))
        totals.append(sum(cost[i][assignment[i]] ** (2 if squared else 1) for i in members))
    return tuple(counts + totals)


def together(p: Problem, assignment: tuple[int, ...]) -> bool:
    groups: dict[str, set[int]] = {}
    for g, s in zip(p.sibling_group or (), assignment, strict=False):
        if g is not None:
            groups.setdefault(g, set()).add(s)
    return all(len(found) == 1 for found in groups.values())


def preference_rank(p: Problem, i: int, s: int) -> int:
    """Position of school s in applicant i's list (eligible only); len(list) if absent/-1."""
    cost = p.cost[i].tolist()
    if p.preferences is not None:
        order = [x for x in p.preferences[i] if cost[x] >= 0]
    else:
        order = sorted((x for x in range(p.m) if cost[x] >= 0), key=lambda x: (cost[x], x))
    return order.index(s) if s in order else len(order)


def is_stable(p: Problem, assignment: tuple[int, ...] | list[int]) -> bool:
    lottery = lottery_numbers(p.applicant_ids, p.seed).tolist()
    cost = p.cost.tolist()
    capacity = (p.classes * p.class_size).tolist()

    def key(i: int, s: int) -> tuple[int, int, int]:
        return (int(p.tier[i]), cost[i][s], lottery[i])

    for a in range(p.n):
        for s in range(p.m):
            if cost[a][s] < 0 or s == assignment[a]:
                continue
            if preference_rank(p, a, s) >= preference_rank(p, a, assignment[a]):
                continue
            admitted = [b for b in range(p.n) if assignment[b] == s]
            if len(admitted) < capacity[s] or any(key(b, s) > key(a, s) for b in admitted):
                return False
    return True


@FAST
@given(problems(with_preferences=True, with_siblings=True, with_max_cost=True))
def test_hard_invariants_of_every_mechanism(p: Problem) -> None:
    cost = p.cost.tolist()
    capacity = (p.classes * p.class_size).tolist()
    for mechanism in MECHANISMS:
        result = solve(p, mechanism, time_limit_s=10)
        a = result.assignment.tolist()
        assert result.assignment.dtype == np.int64 and len(a) == p.n
        assert all(-1 <= s < p.m for s in a)
        assert all(cost[i][s] >= 0 for i, s in enumerate(a) if s >= 0)
        used = [a.count(s) for s in range(p.m)]
        assert all(u <= c for u, c in zip(used, capacity, strict=True))
        assert result.seats_used.tolist() == used
        sizes = p.class_size.tolist()
        assert result.classes_opened.tolist() == [
            -(-u // k) for u, k in zip(used, sizes, strict=True)
        ]
        assert result.metrics.classes_over_size == 0
        assert result.checks.hard_ok
        assert len(result.explanations) == p.n
        if mechanism == "constrained":
            assert together(p, tuple(a))
            assert p.max_cost is not None
            assert all(cost[i][s] <= p.max_cost for i, s in enumerate(a) if s >= 0)


@FAST
@given(problems(), st.booleans())
def test_nearest_equals_the_brute_force_optimum(p: Problem, squared: bool) -> None:
    result = solve(p, "nearest", squared=squared)
    best = min(lex_key(p, a, squared) for a in feasible_assignments(p))
    assert lex_key(p, result.assignment.tolist(), squared) == best
    assert result.checks.optimal is True


@FAST
@given(problems(max_n=5, with_siblings=True, with_max_cost=True))
def test_constrained_equals_the_brute_force_optimum_with_rules(p: Problem) -> None:
    result = solve(p, "constrained", time_limit_s=20)
    assert result.status is Status.OPTIMAL
    best = min(lex_key(p, a) for a in feasible_assignments(p, p.max_cost) if together(p, a))
    assert lex_key(p, result.assignment.tolist()) == best


@FAST
@given(problems(with_preferences=True))
def test_da_is_stable_and_the_applicant_optimal_stable_matching(p: Problem) -> None:
    result = solve(p, "da")
    mine = result.assignment.tolist()
    assert result.checks.stable is True
    assert result.metrics.justified_envy == 0
    assert is_stable(p, mine)
    for other in feasible_assignments(p):
        if is_stable(p, other):
            assert all(
                preference_rank(p, i, mine[i]) <= preference_rank(p, i, other[i])
                for i in range(p.n)
            )


@FAST
@given(problems(with_preferences=True))
def test_stability_check_agrees_with_brute_force(p: Problem) -> None:
    # Greedy results are often unstable: the library's check must say so exactly when the
    # brute-force definition does.
    result = solve(p, "greedy")
    assert (not blocking_pairs(p, result.assignment)) == is_stable(p, result.assignment.tolist())


@FAST
@given(problems(one_tier=True))
def test_nearest_places_most_and_travels_least(p: Problem) -> None:
    nearest = solve(p, "nearest").metrics
    for other in ("greedy", "da"):
        metrics = solve(p, other).metrics
        assert nearest.placed >= metrics.placed
        if nearest.placed == metrics.placed:
            assert nearest.total_cost <= metrics.total_cost


@FAST
@given(problems(all_eligible=True, with_siblings=False))
def test_everyone_placed_when_there_is_room(p: Problem) -> None:
    if int((p.classes * p.class_size).sum()) < p.n:
        p = Problem(
            p.applicant_ids,
            p.school_ids,
            p.cost,
            p.classes + p.n,
            p.class_size,
            p.tier,
            seed=p.seed,
        )
    for mechanism in MECHANISMS:
        assert solve(p, mechanism).metrics.unassigned == 0, mechanism


@FAST
@given(problems(with_siblings=True), st.integers(0, 2**32))
def test_same_seed_same_output_other_seed_differs_only_in_ties(p: Problem, seed: int) -> None:
    for mechanism in MECHANISMS:
        first = solve(p, mechanism)
        again = solve(p, mechanism)
        assert first.output_hash() == again.output_hash()
        assert first.record.output_hash == again.record.output_hash
        assert np.array_equal(first.assignment, again.assignment)
    other = Problem(
        p.applicant_ids,
        p.school_ids,
        p.cost,
        p.classes,
        p.class_size,
        p.tier,
        sibling_group=p.sibling_group,
        seed=seed,
    )
    # The optimum's value does not depend on the lottery, only which tied optimum is chosen.
    assert lex_key(p, solve(p, "nearest").assignment.tolist()) == lex_key(
        other, solve(other, "nearest").assignment.tolist()
    )
    # Deferred acceptance only uses the lottery between equal (tier, cost) at a school.
    no_ties = all(
        len({(int(p.tier[i]), int(p.cost[i, s])) for i in range(p.n) if p.cost[i, s] >= 0})
        == sum(1 for i in range(p.n) if p.cost[i, s] >= 0)
        for s in range(p.m)
    )
    if no_ties:
        assert np.array_equal(solve(p, "da").assignment, solve(other, "da").assignment)


@FAST
@given(problems(with_preferences=True, with_siblings=True, with_max_cost=True))
def test_inputs_are_not_mutated(p: Problem) -> None:
    before = p.input_hash()
    arrays = [p.cost.copy(), p.classes.copy(), p.class_size.copy(), p.tier.copy()]
    for mechanism in MECHANISMS:
        solve(p, mechanism, squared=True)
    assert p.input_hash() == before
    for saved, now in zip(arrays, [p.cost, p.classes, p.class_size, p.tier], strict=True):
        assert np.array_equal(saved, now)
        assert not now.flags.writeable


def test_ineligible_marker_is_minus_one() -> None:
    assert INELIGIBLE == -1


@given(problems(with_preferences=True), st.sampled_from(["nearest", "greedy", "da"]))
def test_children_with_justified_envy_are_counted_once_each(p: Problem, mechanism: str) -> None:
    """The officer's count of children who could point to a child with less priority admitted
    where they wanted to be, checked against the pairs counted one by one."""
    from allocation.metrics import envious_children, justified_envy
    from allocation.priority import SchoolPriority, preferred_pairs

    result = solve(p, mechanism)  # type: ignore[arg-type]
    assignment = result.assignment
    rows, cols = preferred_pairs(p, assignment)
    priority = SchoolPriority(p)
    envious = {
        int(a)
        for a, s in zip(rows.tolist(), cols.tolist(), strict=True)
        for b in np.flatnonzero(assignment == s).tolist()
        if priority.key_of(a, s) < priority.key_of(b, s)
    }
    assert envious_children(p, assignment) == len(envious)
    assert result.metrics.children_with_justified_envy == len(envious)
    assert len(envious) <= justified_envy(p, assignment)
    assert (len(envious) == 0) == (justified_envy(p, assignment) == 0)


@FAST
@given(
    st.one_of(problems(max_n=8, max_m=4), problems(max_n=8, max_m=4, with_preferences=True)),
    st.sampled_from(MECHANISMS),
    st.one_of(st.none(), st.integers(0, 12)),
)
def test_the_stored_columns_say_what_the_worded_explanation_says(
    p: Problem, mechanism: Mechanism, norm: int | None
) -> None:
    """A service stores the table's columns and words each child from them; the library words
    the same child with the mechanism's sentences: both must tell the same facts."""
    result = solve(p, mechanism, norm=norm)
    table = result.explanations
    assert len(table) == p.n
    beyond = table.beyond_norm()
    for i, explained in enumerate(table):
        assert explained.applicant_id == p.applicant_ids[i]
        assert int(table.school[i]) == (
            -1 if explained.school_index is None else explained.school_index
        )
        assert int(table.school[i]) == int(result.assignment[i])
        assert int(table.cost[i]) == (-1 if explained.cost is None else explained.cost)
        assert int(table.ranked[i]) == explained.ranked
        assert int(table.choice[i]) == (explained.choice or 0)
        assert table.passed_over(i) == [entry.as_dict() for entry in explained.passed_over]
        assert bool(beyond[i]) == explained.reason.endswith(
            f"This is beyond the norm of {norm} {p.cost_unit}."
        )


@FAST
@given(problems(max_n=8, max_m=4, with_preferences=True), st.sampled_from(MECHANISMS))
def test_solving_without_explanations_gives_the_same_assignment(
    p: Problem, mechanism: Mechanism
) -> None:
    """Verifying a stored run solves it again without explanations: the hash must not move."""
    explained, bare = solve(p, mechanism), solve(p, mechanism, explain=False)
    assert bare.record.output_hash == explained.record.output_hash
    assert bare.assignment.tolist() == explained.assignment.tolist()
    assert bare.metrics == explained.metrics


@settings(FAST, max_examples=300)
@given(problems(max_n=12, max_m=5), st.integers(1, 4))
def test_da_by_distance_places_as_proposals_one_at_a_time(p: Problem, short: int) -> None:
    """DA on distances runs in vectorised rounds: short lists ranked up front, whole lists for
    those who run past them, and schools that would reject at once skipped within a round.
    It places every child as DA proposing one at a time down the same lists does (lists short
    enough here that many run past them)."""
    import dataclasses
    from unittest import mock

    from allocation.mechanisms import da

    one_at_a_time = dataclasses.replace(p, preferences=p.preference_lists())
    with mock.patch.object(da, "SHORT_LIST", short):
        rounds = da.solve_da(p, explain=False).assignment
    assert rounds.tolist() == da.solve_da(one_at_a_time, explain=False).assignment.tolist()
