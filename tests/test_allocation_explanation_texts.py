"""Parents' explanations are true: every sentence checked against the assignment it explains.

Rounds are built as the service builds them (gis_service/admissions/build.py): each family's
ranked schools (none, one or several), then its other eligible schools by distance, with the
number ranked passed as `ranked_count`. Every explanation of every mechanism is told in
Vietnamese and English (explain_vi) and checked: the school named, the distances quoted, which
ranked-higher or nearer schools were full and the cutoff that kept the child out.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocation import Mechanism, Problem, Result, solve
from allocation.errors import ProblemError
from allocation.priority import SchoolPriority
from gis_service.admissions.build import _after_ranked_by_distance
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.run_store import copy_lines, passed_kinds, stored_explanation
from gis_service.text import metres, metres_en
from tests.test_allocation_properties import FAST

NAMES = (
    "Trường Tiểu học Lê Lợi",
    "Trường Tiểu học Kim Đồng",
    "Trường Tiểu học Hòa Bình",
    "Trường Tiểu học Võ Thị Sáu",
)
DB_ID = 4711
"""School index s is stored under database id DB_ID + s, as runs.py stores it."""

FORBIDDEN = re.compile(
    r"nhóm ưu tiên \d|\btier\b|\bDA\b|deferred|\bschool \d|trường số \d|\b47\d\d\b", re.IGNORECASE
)


@st.composite
def rounds(draw: st.DrawFn, *, with_max_cost: bool = False) -> Problem:
    """A small round: 0-6 children, 1-4 schools, ties, full schools, some ranked lists."""
    n = draw(st.integers(0, 6))
    m = draw(st.integers(1, 4))
    value = st.one_of(st.integers(1, 12).map(lambda c: c * 100), st.just(-1))
    cost = np.array(draw(st.lists(value, min_size=n * m, max_size=n * m)), dtype=np.int64)
    cost = cost.reshape(n, m)
    listed = [
        tuple(draw(st.permutations(range(m)))[: draw(st.sampled_from([0, 0, 1, 1, 2, m]))])
        for _ in range(n)
    ]
    preferences = _after_ranked_by_distance(listed, cost) if any(listed) else None
    return Problem(
        applicant_ids=tuple(f"p{i}" for i in range(n)),
        school_ids=tuple(str(DB_ID + s) for s in range(m)),
        cost=cost,
        classes=np.array(draw(st.lists(st.integers(0, 2), min_size=m, max_size=m)), np.int64),
        class_size=np.array(draw(st.lists(st.integers(1, 2), min_size=m, max_size=m)), np.int64),
        tier=np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int64),
        preferences=preferences,
        ranked_count=tuple(len(r) for r in listed) if preferences is not None else None,
        max_cost=draw(st.sampled_from([None, 300, 800])) if with_max_cost else None,
        seed=draw(st.integers(0, 2**32)),
    )


def stored(result: Result) -> list[dict[str, Any]]:
    """Each child's explanation as a run stores it (school i under database id DB_ID + i) and
    reads it back: the COPY text the run writes, parsed as PostgreSQL would, then read by the
    service's own reader."""
    table = result.explanations
    n, m = len(table), len(table.school_ids)
    kinds, pair_kind = passed_kinds(table)
    lines = copy_lines(1, table, pair_kind, np.arange(n) + 1, np.arange(m) + DB_ID, None, None, 1)
    kinds = json.loads(json.dumps(kinds))
    told = []
    for line in "".join(lines).splitlines():
        values = line.split("\t")
        school = None if values[2] == "\\N" else int(values[2])
        cost = None if values[3] == "\\N" else int(values[3])
        arrays = [[int(v) for v in v[1:-1].split(",")] if v != "{}" else [] for v in values[5:8]]
        fields = None if values[8] == "\\N" else json.loads(values[8])
        row = (json.loads(values[4]), *arrays, fields)
        told.append(stored_explanation(row, school, cost, kinds))
    assert len(told) == n
    return told


def ranked_of(p: Problem, i: int) -> tuple[int, ...]:
    if p.preferences is None or p.ranked_count is None:
        return ()
    return p.preferences[i][: p.ranked_count[i]]


def nearer(p: Problem, i: int, own: int, among: list[int]) -> list[int]:
    """Schools of `among` eligible and before `own` in (cost, index) order; all if unplaced."""
    cost = p.cost[i].tolist()
    order = sorted((s for s in among if cost[s] >= 0), key=lambda s: (cost[s], s))
    if own < 0:
        return order
    return [s for s in order if (cost[s], s) < (cost[own], own)]


def check_round(p: Problem, mechanism: Mechanism, result: Result, norm: int | None = None) -> None:
    names = {DB_ID + s: NAMES[s] for s in range(p.m)}
    used = result.seats_used
    capacity = p.capacity
    priority = SchoolPriority(p)
    rows = stored(result)
    for i, e in enumerate(result.explanations):
        own = int(result.assignment[i])
        ranked = ranked_of(p, i)
        told = explain_vi(rows[i], mechanism, names)
        vi, en = told["summary"], told["summary_en"]
        parents_read = " ".join([told["text"], told["text_en"]])
        assert not FORBIDDEN.search(parents_read), parents_read
        assert not re.search(r"\btier\b|nhóm ưu tiên \d", e.reason), e.reason
        # What the family ranked, and which choice it got.
        assert e.ranked == len(ranked)
        expected_choice = ranked.index(own) + 1 if own in ranked else None
        assert e.choice == expected_choice
        if expected_choice is not None:
            assert f"nguyện vọng {expected_choice} của gia đình" in vi
            assert f"your choice number {expected_choice}" in en
        else:
            assert "nguyện vọng " not in vi.replace("đăng ký nguyện vọng", "")
            assert "choice number" not in en and " choice" not in e.reason
        beyond = own >= 0 and norm is not None and e.cost is not None and e.cost > norm
        assert ("vượt mức chuẩn 600 m" in vi) == beyond
        assert ("beyond the norm of 600 m" in en) == beyond
        if own >= 0:
            assert vi.startswith(f"Con được xếp vào {NAMES[own]}, cách nhà {metres(e.cost)}")
            assert en.startswith(f"Placed at {NAMES[own]}, {metres_en(e.cost)} from home")
            assert e.cost == int(p.cost[i, own])
            if ranked and expected_choice is None:
                assert "không phải trường gia đình đăng ký" in vi
                assert "not one of the schools you ranked" in en
        else:
            assert vi.startswith(("Con chưa được xếp", "Con không thuộc diện"))
            assert en.startswith("Not placed")
        # Which schools are passed over, and on what basis.
        entries = e.passed_over
        if mechanism == "da" and p.preferences is not None:
            mine = list(ranked[: ranked.index(own)] if own in ranked else ranked)
            others = (
                []
                if own in ranked
                else nearer(p, i, own, [s for s in range(p.m) if s not in ranked])
            )
            assert [po.school_index for po in entries if po.ranked] == mine
            assert [po.school_index for po in entries if not po.ranked] == others
        else:
            assert not any(po.ranked for po in entries)
            assert [po.school_index for po in entries] == nearer(p, i, own, list(range(p.m)))
        if any(po.ranked for po in entries):
            assert ("xếp nguyện vọng cao hơn" in vi) == (expected_choice is not None)
        if any(not po.ranked for po in entries) and own >= 0:
            if all(po.why in ("full", "no seats") for po in entries if not po.ranked):
                assert "Các trường gần nhà hơn đều đã hết chỗ" in vi
                assert "The nearer schools were all full" in en
            else:
                assert "Các trường gần nhà hơn mà con không được xếp vào" in vi
                assert "Nearer schools your child was not placed at" in en
        lottery_decided = False
        for po, sentence, english in zip(
            entries, told["passed_over"], told["passed_over_en"], strict=True
        ):
            s = po.school_index
            assert po.cost == int(p.cost[i, s])
            name = NAMES[s]
            assert sentence.startswith(name) and english.startswith(name)
            if po.cost >= 0:
                # The distance quoted is the cost, and the only distance before the reason.
                assert sentence.startswith(f"{name} (cách nhà {metres(po.cost)})")
                assert english.startswith(f"{name} ({metres_en(po.cost)} from home)")
            else:
                assert po.why == "not eligible" and "không tính được quãng đường" in sentence
            if po.why == "full":
                assert used[s] >= capacity[s] > 0
                assert "đã hết chỗ" in sentence and "was full" in english
            if po.why == "no seats":
                assert capacity[s] == 0
            cut = po.cutoff
            if mechanism == "da" and po.why == "full":
                mine_key = priority.describe(i, s)
                assert (cut["tier"], cut["cost"], cut["lottery"]) < (
                    mine_key["tier"],
                    mine_key["cost"],
                    mine_key["lottery"],
                )
                admitted = [
                    priority.describe(b, s) for b in np.flatnonzero(result.assignment == s).tolist()
                ]
                worst = max(admitted, key=lambda d: (d["tier"], d["cost"], d["lottery"]))
                assert {k: cut[k] for k in ("tier", "cost", "lottery")} == worst
                decided = (
                    "priority"
                    if cut["tier"] != mine_key["tier"]
                    else "distance"
                    if cut["cost"] != mine_key["cost"]
                    else "lottery"
                )
                assert cut["decided_by"] == decided
                if decided == "distance":
                    assert f"ở cách trường {metres(cut['cost'])}, gần hơn con" in sentence
                    assert int(cut["cost"]) < po.cost  # type: ignore[call-overload]
                if decided == "priority":
                    assert "thuộc diện ưu tiên" in sentence
                lottery_decided |= decided == "lottery"
            if mechanism == "greedy" and po.why == "full":
                number = cut["filled_before"]
                assert isinstance(number, int) and 1 <= number <= i
                assert int(result.assignment[number - 1]) == s
                assert f"hồ sơ thứ {number}" in sentence
            if mechanism in ("nearest",) and po.why == "full" and cut["price"] is not None:
                assert isinstance(cut["price"], int) and cut["price"] >= 0
                lottery_decided |= cut["price"] == 0
            if po.why.startswith("not chosen") and mechanism == "nearest":
                lottery_decided = True
            if po.why == "beyond maximum distance":
                assert p.max_cost is not None and po.cost > p.max_cost
                assert f"mức tối đa {metres(p.max_cost)}" in sentence
        # The lottery is named only when it decided.
        if not lottery_decided:
            assert "bốc thăm" not in told["text"] and "lottery" not in told["text_en"]
        # "Not eligible" is said only of a child who fails an eligibility rule.
        fails_rules = own < 0 and all(
            p.cost[i, s] < 0
            or (p.max_cost is not None and p.cost[i, s] > p.max_cost and mechanism == "constrained")
            for s in range(p.m)
        )
        assert ("không thuộc diện được xếp" in vi) == fails_rules, vi
        assert ("not eligible in this round" in en) == fails_rules, en
        if (
            own < 0
            and not fails_rules
            and all(
                po.why in ("full", "no seats", "not eligible", "beyond maximum distance")
                for po in entries
            )
        ):
            assert "đã hết chỗ" in vi and "was full" in en


@FAST
@given(rounds())
def test_deferred_acceptance_explanations_are_true(p: Problem) -> None:
    check_round(p, "da", solve(p, "da"))


@FAST
@given(rounds())
def test_nearest_explanations_are_true(p: Problem) -> None:
    check_round(p, "nearest", solve(p, "nearest", norm=600), norm=600)


@FAST
@given(rounds())
def test_greedy_explanations_are_true(p: Problem) -> None:
    check_round(p, "greedy", solve(p, "greedy"))


@FAST
@given(rounds(with_max_cost=True))
def test_constrained_explanations_are_true(p: Problem) -> None:
    check_round(p, "constrained", solve(p, "constrained"))


# Regressions, each a case a parent read wrongly before.


def one_school_ranked() -> Problem:
    """Two children rank school 0 (one seat); b, further away, ranked only it."""
    listed: list[tuple[int, ...]] = [(0,), (0,)]
    cost = np.array([[300, 900], [500, 700]])
    return Problem(
        applicant_ids=("a", "b"),
        school_ids=(str(DB_ID), str(DB_ID + 1)),
        cost=cost,
        classes=np.array([1, 1]),
        class_size=np.array([1, 1]),
        tier=np.array([1, 1]),
        preferences=_after_ranked_by_distance(listed, cost),
        ranked_count=(1, 1),
    )


def test_a_family_that_ranked_one_school_never_reads_second_choice() -> None:
    p = one_school_ranked()
    result = solve(p, "da")
    assert result.assignment.tolist() == [0, 1]
    e = result.explanations[1]
    assert e.ranked == 1 and e.choice is None
    assert "2nd choice" not in e.reason and "not one of the 1 school(s) you ranked" in e.reason
    told = explain_vi(stored(result)[1], "da", {DB_ID: NAMES[0], DB_ID + 1: NAMES[1]})
    assert told["summary"] == (
        f"Con được xếp vào {NAMES[1]}, cách nhà 700 m theo đường đi. Đây không phải trường gia "
        "đình đăng ký nguyện vọng: các trường gia đình đăng ký đều không nhận được con, và đây là "
        "trường gần nhà nhất nhận được con trong các trường còn lại. Các trường gia đình đăng ký "
        f"không nhận được con: {NAMES[0]}."
    )
    assert told["passed_over"] == [
        f"{NAMES[0]} (cách nhà 500 m) đã hết chỗ: trẻ cuối cùng được nhận có cùng mức ưu tiên "
        "với con và ở cách trường 300 m, gần hơn con (500 m); cùng mức ưu tiên thì trẻ ở gần hơn "
        "được xét trước."
    ]
    assert told["summary_en"].startswith(
        f"Placed at {NAMES[1]}, 700 m from home by road. It is not one of the schools you ranked"
    )
    # The ranked count changes no placement and no hash.
    plain = dataclasses.replace(p, ranked_count=None)
    assert plain.input_hash() == p.input_hash()
    assert solve(plain, "da").record.output_hash == result.record.output_hash
    assert "2nd choice" in solve(plain, "da").explanations[1].reason  # every listed school ranked


def test_not_eligible_only_for_a_child_beyond_the_rule() -> None:
    p = Problem(
        applicant_ids=("near", "far", "late"),
        school_ids=(str(DB_ID),),
        cost=np.array([[200], [900], [300]]),
        classes=np.array([1]),
        class_size=np.array([1]),
        tier=np.array([1, 1, 1]),
        max_cost=500,
    )
    result = solve(p, "constrained")
    names = {DB_ID: NAMES[0]}
    far = explain_vi(stored(result)[1], "constrained", names)
    assert far["summary"] == (
        "Con không thuộc diện được xếp trong đợt này: mọi trường đều xa nhà hơn mức tối đa 500 m "
        "của đợt."
    )
    assert "not eligible, every school is beyond the round's maximum of 500 m" in (
        result.explanations[1].reason
    )
    late = explain_vi(stored(result)[2], "constrained", names)
    assert late["summary"] == (
        "Con chưa được xếp vào trường nào trong đợt này: mọi trường con có thể được xếp đều đã "
        f"hết chỗ ({NAMES[0]})."
    )
    assert "không thuộc diện" not in late["text"]
    assert late["passed_over"] == [f"{NAMES[0]} (cách nhà 300 m) đã hết chỗ: đã dùng 1/1 chỗ."]


def test_an_estimated_distance_is_said_in_both_languages() -> None:
    explanation = {
        "school_id": DB_ID,
        "cost": 1840,
        "passed_over": [],
        "ranked": 0,
        "choice": None,
        "estimated": {"offset_m": 230.4, "factor": 1.3},
    }
    told = explain_vi(explanation, "nearest", {DB_ID: NAMES[0]})
    assert told["summary"].endswith(
        "Nhà cách con đường gần nhất có trên bản đồ 230 m, nên các khoảng cách ở đây là ước "
        "tính: đoạn từ nhà ra con đường đó được tính bằng đường thẳng nhân 1,3."
    )
    assert told["summary_en"].endswith(
        "The home is 230 m from the nearest mapped road, so the distances here are estimated: "
        "that stretch is counted as the straight line times 1.3."
    )
    plain = explain_vi({**explanation, "estimated": None}, "nearest", {DB_ID: NAMES[0]})
    assert "ước tính" not in plain["text"] and "estimated" not in plain["text_en"]


def test_parents_never_read_internal_words() -> None:
    """A child behind a priority-group child reads that, not a tier number."""
    p = Problem(
        applicant_ids=("a", "b"),
        school_ids=(str(DB_ID), str(DB_ID + 1)),
        cost=np.array([[800, 900], [300, 600]]),
        classes=np.array([1, 1]),
        class_size=np.array([1, 1]),
        tier=np.array([0, 1]),
        preferences=((0, 1), (0, 1)),
        ranked_count=(1, 2),
    )
    result = solve(p, "da")
    assert result.assignment.tolist() == [0, 1]
    told = explain_vi(stored(result)[1], "da", {DB_ID: NAMES[0], DB_ID + 1: NAMES[1]})
    assert "nguyện vọng 2 của gia đình" in told["summary"]
    assert "trẻ cuối cùng được nhận thuộc diện ưu tiên, được xét trước con" in told["text"]
    for text in (told["text"], told["text_en"]):
        assert not FORBIDDEN.search(text), text
    # The library's own sentence (for officers' tools) names schools by id, but no tier.
    for text in (told["text"], told["text_en"], result.explanations[1].reason):
        assert not re.search(r"\btier\b|nhóm ưu tiên \d", text), text
        assert "lottery" not in text and "bốc thăm" not in text


def test_a_ranked_count_must_describe_the_list() -> None:
    cost = np.array([[300, 900, 500]])
    base = {
        "applicant_ids": ("a",),
        "school_ids": ("x", "y", "z"),
        "cost": cost,
        "classes": np.array([1, 1, 1]),
        "class_size": np.array([1, 1, 1]),
        "tier": np.array([0]),
    }
    Problem(**base, preferences=((1, 0, 2),), ranked_count=(1,)).validate()  # type: ignore[arg-type]
    with pytest.raises(ProblemError, match="in order of cost"):
        Problem(**base, preferences=((1, 2, 0),), ranked_count=(1,)).validate()  # type: ignore[arg-type]
    with pytest.raises(ProblemError, match="her list has 3 schools"):
        Problem(**base, preferences=((1, 0, 2),), ranked_count=(4,)).validate()  # type: ignore[arg-type]
    with pytest.raises(ProblemError, match="needs preferences"):
        Problem(**base, ranked_count=(0,)).validate()  # type: ignore[arg-type]
