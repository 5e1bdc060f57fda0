"""The forecast arithmetic on hand-made cohorts: splits, birth years, survival, trend, band."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis_service.planning.method import (
    MethodParameters,
    census_cohorts,
    classes_needed,
    cohort_entrants,
    damped_years,
    district_trends,
    fit_interval,
    log_growth,
    single_year_ages,
    survival,
    ward_trend,
    yearly_births,
)

# No deaths, no natural increase, no damping: only the cohort bookkeeping is left.
PLAIN = MethodParameters(
    infant_death_rate=0.0, child_death_rate=0.0, natural_increase_rate=0.0, damping=1.0
)
GROUPS = [(0, 4, 500.0), (5, 9, 400.0), (10, 14, 300.0), (15, 19, 250.0), (20, None, 9.0)]


def test_age_groups_split_evenly_into_single_years() -> None:
    ages = single_year_ages(GROUPS, 15)
    assert list(ages[:5]) == [100.0] * 5
    assert list(ages[5:10]) == [80.0] * 5
    assert list(ages[10:15]) == [60.0] * 5
    assert ages[15] == 50.0


def test_an_open_ended_group_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="open-ended"):
        single_year_ages([(0, 4, 10.0), (5, None, 10.0)], 6)


def test_birth_years_take_three_quarters_and_one_quarter_of_two_ages() -> None:
    ages = single_year_ages(GROUPS, 15)
    cohorts = census_cohorts(ages, 2019, PLAIN)
    # Born 2018: 3/4 of age 0 (born Apr-Dec 2018) + 1/4 of age 1 (born Jan-Mar 2018).
    assert cohorts[2018] == pytest.approx(100.0)
    # Born 2014: 3/4 of age 4 (100) + 1/4 of age 5 (80).
    assert cohorts[2014] == pytest.approx(95.0)
    assert cohorts[2009] == pytest.approx(0.75 * 80 + 0.25 * 60)
    assert 2019 not in cohorts  # only part of 2019's births had happened on 1 April


def test_survival_of_the_first_year_and_later_years() -> None:
    params = MethodParameters(infant_death_rate=0.02, child_death_rate=0.001)
    assert survival(0.0, 1.0, params) == pytest.approx(0.98)
    assert survival(0.0, 3.0, params) == pytest.approx(0.98 * 0.999**2)
    assert survival(0.5, 2.0, params) == pytest.approx(0.98**0.5 * 0.999)
    assert survival(4.0, 4.0, params) == 1.0


def test_yearly_births_average_the_youngest_cohorts() -> None:
    cohorts = {2016: 90.0, 2017: 100.0, 2018: 110.0}
    assert yearly_births(cohorts, 2019, PLAIN) == pytest.approx(100.0)


def test_log_growth_of_a_steady_series() -> None:
    series = {2010 + i: 1000 * 1.02**i for i in range(6)}
    assert log_growth(series, 2010, 2015) == pytest.approx(math.log(1.02))
    assert log_growth({2019: 5.0}, 2010, 2019) is None


def test_a_ward_grows_at_its_district_pace_plus_its_own_drift() -> None:
    district = {2009: 1000.0, 2014: 1000.0 * math.exp(0.05), 2019: 1000.0 * math.exp(0.10)}
    # The ward grew 2 %/year faster than its district between the two censuses.
    ward = {2009: 100.0, 2019: 100.0 * math.exp(0.10 + 0.20)}
    trend = ward_trend(ward, district, 2019, PLAIN)
    assert trend.base_population == pytest.approx(ward[2019])
    assert trend.growth == pytest.approx(0.01 + 0.02)
    assert trend.population(2021) == pytest.approx(ward[2019] * math.exp(0.06))


def test_a_ward_counted_only_before_the_base_year_is_carried_at_its_district_pace() -> None:
    district = {2009: 1000.0, 2014: 1200.0}
    trend = ward_trend({2009: 100.0}, district, 2014, PLAIN)
    assert trend.base_population == pytest.approx(120.0)


def test_damping_shortens_the_years_of_growth() -> None:
    assert damped_years(3, 1.0) == 3
    assert damped_years(2, 0.5) == pytest.approx(1.5)
    assert damped_years(0, 0.9) == 0


def test_an_entrant_counted_at_the_census_is_the_ward_share_of_its_cohort() -> None:
    cohorts = census_cohorts(single_year_ages(GROUPS, 15), 2019, PLAIN)
    flat = ward_trend({2019: 250.0}, {2019: 1000.0}, 2019, PLAIN)
    children = cohort_entrants(
        born=2014,
        entry_year=2020,
        census_year=2019,
        district_cohorts=cohorts,
        district_births=100.0,
        ward_share=0.25,
        trend=flat,
        params=PLAIN,
    )
    assert children == pytest.approx(0.25 * 95.0)


def test_an_unborn_cohort_is_births_growing_with_the_ward() -> None:
    params = MethodParameters(
        infant_death_rate=0.0, child_death_rate=0.0, natural_increase_rate=0.01, damping=1.0
    )
    trend = ward_trend({2009: 100.0, 2019: 100.0 * math.exp(0.1)}, {}, 2019, params)
    children = cohort_entrants(
        born=2021,
        entry_year=2027,
        census_year=2019,
        district_cohorts={},
        district_births=200.0,
        ward_share=0.5,
        trend=trend,
        params=params,
    )
    # Births grow 1 %/year from 2019 to mid-2021; then 0 % net migration (1 % growth - 1 %).
    assert children == pytest.approx(100.0 * math.exp(0.01 * 2.5))


def test_classes_needed_rounds_up() -> None:
    assert classes_needed(0, 35) == 0
    assert classes_needed(35, 35) == 1
    assert classes_needed(35.2, 35) == 2
    assert classes_needed(70.0000000001, 35) == 2


@given(
    value=st.floats(0.1, 1e5),
    nearer=st.floats(0.0, 30.0),
    further=st.floats(0.0, 30.0),
)
def test_intervals_hold_the_forecast_and_widen_with_the_years(
    value: float, nearer: float, further: float
) -> None:
    nearer, further = sorted((nearer, further))
    interval = MethodParameters().interval
    low_80, low_50, high_50, high_80 = interval.bounds(value, further)
    assert low_80 <= low_50 <= value <= high_50 <= high_80
    near = interval.bounds(value, nearer)
    assert low_80 <= near[0] + 1e-9 and near[3] <= high_80 + 1e-9
    assert (high_80 - low_80) >= (near[3] - near[0]) - 1e-9
    # At the count itself the figure is the count.
    assert interval.bounds(value, 0.0) == (value, value, value, value)


def test_an_interval_is_the_quantiles_of_the_errors() -> None:
    errors = [i / 100 for i in range(-50, 51)]  # -0.5 ... 0.5, evenly
    fitted = fit_interval(errors, 10)
    assert (fitted.lower_80, fitted.lower_50, fitted.upper_50, fitted.upper_80) == pytest.approx(
        (-0.4, -0.25, 0.25, 0.4)
    )
    # Four times the years, twice the width in logs.
    assert fitted.bounds(100.0, 40)[3] == pytest.approx(100.0 * math.exp(0.8))
    with pytest.raises(ValueError, match="at least 10"):
        fit_interval(errors[:9], 10)


def test_a_district_s_growth_settles_where_there_is_land() -> None:
    # Two wards counted once, in 2009, with 100 people each; the district grew by half since.
    district = {2009: 200.0, 2014: 300.0}
    trends = district_trends(
        [(1, {2009: 100.0}, 1e6), (2, {2009: 100.0}, 3e6)], district, 2014, PLAIN
    )
    # People-weighted mean area 2 km²: the small ward takes half the mean share, the large one
    # one and a half; together they make the district.
    assert trends[1].land_factor == pytest.approx(0.5)
    assert trends[2].land_factor == pytest.approx(1.5)
    assert trends[1].base_population == pytest.approx(125.0)
    assert trends[2].base_population == pytest.approx(175.0)
    # A district that shrank shrinks both in proportion.
    shrunk = district_trends(
        [(1, {2009: 100.0}, 1e6), (2, {2009: 100.0}, 3e6)], {2009: 200.0, 2014: 100.0}, 2014, PLAIN
    )
    assert [t.base_population for t in shrunk.values()] == pytest.approx([50.0, 50.0])
    # A ward counted twice keeps its own drift, and no land factor.
    both = district_trends(
        [(1, {2004: 90.0, 2009: 100.0}, 1e6), (2, {2009: 100.0}, 3e6)], district, 2014, PLAIN
    )
    assert both[1].land_factor == 1.0 and both[2].land_factor == 1.0


@given(
    areas=st.lists(st.floats(1e4, 1e8), min_size=2, max_size=8),
    growth=st.floats(0.0, 1.0),
)
def test_the_wards_add_up_to_their_district(areas: list[float], growth: float) -> None:
    district = {2009: 100.0 * len(areas), 2014: 100.0 * len(areas) * (1 + growth)}
    wards = [(i, {2009: 100.0}, area) for i, area in enumerate(areas)]
    trends = district_trends(wards, district, 2014, PLAIN)
    assert sum(t.base_population for t in trends.values()) == pytest.approx(district[2014])
