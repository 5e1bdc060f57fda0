"""Eligibility by birth year and residence, with the reasons a parent is shown."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis_service.admissions.eligibility import check_eligibility

AREA = {"26734", "26740"}


def verdict(
    grade: int,
    born: date,
    ward: str | None = "26734",
    group: str | None = None,
    residence: bool = True,
) -> tuple[str, ...]:
    result = check_eligibility(
        grade=grade,
        admission_year=2025,
        birth_date=born,
        ward_code=ward,
        area_ward_codes=AREA,
        priority_group=group,
        residence_required=residence,
    )
    assert result.eligible == (not result.reasons)
    return tuple(r.code for r in result.reasons)


@pytest.mark.parametrize(
    ("grade", "born", "group", "codes"),
    [
        (1, date(2019, 1, 1), None, ()),
        (1, date(2019, 12, 31), None, ()),  # turns 6 on the last day of the year: still in
        (1, date(2020, 1, 1), None, ("too_young",)),
        (1, date(2018, 12, 31), None, ("too_old",)),
        (1, date(2016, 6, 1), "khuyet_tat", ()),  # three years older, a listed special case
        (1, date(2015, 6, 1), "khuyet_tat", ("too_old",)),
        (1, date(2016, 6, 1), "liet_si", ("too_old",)),  # a priority group, not an age case
        (6, date(2014, 3, 3), None, ()),
        (6, date(2013, 3, 3), None, ("too_old",)),
        (6, date(2011, 3, 3), "dan_toc_thieu_so", ()),
        (6, date(2015, 3, 3), None, ("too_young",)),
    ],
)
def test_entry_age_by_birth_year(
    grade: int, born: date, group: str | None, codes: tuple[str, ...]
) -> None:
    assert verdict(grade, born, group=group) == codes


def test_residence_in_the_round_area() -> None:
    assert verdict(1, date(2019, 5, 5), ward="26752") == ("outside_area",)
    assert verdict(1, date(2019, 5, 5), ward=None) == ("outside_area",)
    # Round 2 may take children from elsewhere.
    assert verdict(1, date(2019, 5, 5), ward="26752", residence=False) == ()


def test_every_failed_rule_is_listed_with_both_languages() -> None:
    result = check_eligibility(
        grade=1,
        admission_year=2025,
        birth_date=date(2021, 1, 1),
        ward_code="99999",
        area_ward_codes=AREA,
    )
    assert [r.code for r in result.reasons] == ["too_young", "outside_area"]
    assert "cần sinh năm 2019" in result.reasons[0].vi
    assert "born in 2019" in result.reasons[0].en
    assert "99999" in result.reasons[1].en


def test_only_entry_grades() -> None:
    with pytest.raises(ValueError, match="grade 1 or grade 6"):
        check_eligibility(
            grade=2,
            admission_year=2025,
            birth_date=date(2018, 1, 1),
            ward_code="26734",
            area_ward_codes=AREA,
        )


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2024, 12, 31)))
def test_exactly_one_birth_year_is_eligible_without_special_case(born: date) -> None:
    for grade, age in ((1, 6), (6, 11)):
        eligible = verdict(grade, born) == ()
        assert eligible == (born.year == 2025 - age)
