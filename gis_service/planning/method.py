"""The forecast arithmetic: single-year cohorts, survival, population trend, migration,
prediction intervals.

Pure numpy, no database. Every number the forecast uses is a parameter of `MethodParameters`
with its meaning; `METHOD_TEXT` states the method in words for every forecast it produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

# Legal class sizes: Circular 28/2020 (primary), 32/2020 (THCS).
LEGAL_CLASS_SIZE = {1: 35, 6: 45}
SCHOOL_YEAR_START = 0.67  # fraction of the calendar year gone when the school year opens

METHOD_TEXT = (
    "Cohort ageing: census age groups of each district (5-year groups, split evenly into single "
    "years) give the children born in each year; a child aged a at the census (1 April) was born "
    "in the year before the census minus a (3/4) or the census year minus a (1/4). A cohort "
    "born in year c enters grade 1 in school year c+6 and grade 6 in c+11. Cohorts are aged "
    "with yearly survival probabilities; cohorts not yet born at the census are births at the "
    "district's recent yearly birth count, growing with the ward's population (a constant birth "
    "rate). District cohorts go to wards by each ward's share of the district population in the "
    "base year. Population trend: each ward grows at its district's recent yearly growth "
    "(log-linear fit to the yearly series over the last years up to the base year) plus the "
    "ward's own drift against its district between two censuses, damped each year ahead. "
    "Where a ward has one count only, its district's growth since that count settles where there "
    "is land: in proportion to the ward's people times its area against the people-weighted "
    "mean area of its district's wards. "
    "Migration: children move with their ward's population, net of natural increase (the "
    "ward's growth minus the natural increase rate). Intervals: 80 % and 50 % prediction "
    "intervals from the backtest's errors (the quantiles of actual / forecast of every ward's "
    "population 10 years after its last count), scaled by the square root of the years from "
    "the last count; they hold the error of the ward's population, not that of future births. "
    "Classes needed = ceil(children / legal class size)."
)
UNIT_METHOD_TEXT = (
    "Units with no district (the two-tier units in force since 1 July 2025): each unit is "
    "forecast as a district holding one ward, itself, from the census figures carried to it "
    "from the census wards that overlap it: its carried age groups give its cohorts and births "
    "(keeping the age structure of the districts it came from); its carried counts of the "
    "census years give its level and its drift; its pace is the yearly series of the census "
    "districts its people lived in, each weighted by the people it took from it at the last "
    "ward count. It needs no share of a larger unit. A unit the census units cover only in "
    "part is forecast from the part covered and says so; a unit they do not cover has no "
    "census figures: it shows the children it reports for the cohort (as reported, not aged "
    "forward), or says it has no figures, never zero."
)


@dataclass(frozen=True)
class PredictionInterval:
    """How far a ward's real population fell from its forecast in a backtest, `horizon_years`
    after the ward's last count: quantiles of log(actual / forecast). Bounds of a forecast
    further or nearer than that are scaled by the square root of its years from the last count
    (an assumption: the backtest has one horizon)."""

    horizon_years: float
    lower_80: float
    lower_50: float
    upper_50: float
    upper_80: float

    def bounds(self, value: float, years: float) -> tuple[float, float, float, float]:
        """low (80 %), low (50 %), high (50 %), high (80 %) of a forecast `years` after the
        last count."""
        scale = math.sqrt(max(years, 0.0) / self.horizon_years)
        return (
            value * math.exp(self.lower_80 * scale),
            value * math.exp(self.lower_50 * scale),
            value * math.exp(self.upper_50 * scale),
            value * math.exp(self.upper_80 * scale),
        )


def fit_interval(log_errors: Sequence[float], horizon_years: float) -> PredictionInterval:
    """The interval whose quantiles are those of the errors (log of actual / forecast)."""
    if len(log_errors) < 10:
        raise ValueError("an interval needs the errors of at least 10 units")
    q10, q25, q75, q90 = (float(q) for q in np.quantile(log_errors, [0.1, 0.25, 0.75, 0.9]))
    return PredictionInterval(float(horizon_years), q10, q25, q75, q90)


HCMC_INTERVAL = PredictionInterval(10.0, -0.2368, -0.1399, 0.0745, 0.2315)
"""Fitted on Ho Chi Minh City: the errors of every ward's 2019 census count forecast from its
2009 count, from the base years 2014 and 2017 together (benchmarks/forecast_backtest.py
prints it; tests/test_planning_backtest.py fits it again)."""


@dataclass(frozen=True)
class MethodParameters:
    """Every assumption of the forecast, with defaults for a Vietnamese city."""

    census_day_fraction: float = 0.25
    """Fraction of the census year gone at the census date (1 April)."""
    infant_death_rate: float = 0.014
    """Probability of dying in the first year of life (2019 census, national: 14 per 1000)."""
    child_death_rate: float = 0.0006
    """Yearly probability of dying at ages 1-14."""
    natural_increase_rate: float = 0.008
    """Yearly births minus deaths per person; the rest of a ward's growth is migration."""
    trend_years: int = 5
    """How many years before the base year the district growth is fitted over."""
    damping: float = 0.9
    """Each further year ahead keeps this fraction of the previous year's growth."""
    birth_years: int = 3
    """The youngest full cohorts averaged for the yearly birth count."""
    interval: PredictionInterval = HCMC_INTERVAL
    """The prediction intervals: quantiles of the backtest's errors (see PredictionInterval)."""

    def as_dict(self) -> dict[str, Any]:
        return {k: v if isinstance(v, dict) else float(v) for k, v in asdict(self).items()}


def single_year_ages(groups: Sequence[tuple[int, int | None, float]], up_to: int) -> np.ndarray:
    """Population of each single age 0..up_to from age groups (min, max, population), split evenly.

    An open-ended group (max None) is not split; ages it covers are left at 0, so `up_to` must
    stay below every open-ended group.
    """
    ages = np.zeros(up_to + 1)
    for low, high, population in groups:
        if high is None:
            if low <= up_to:
                raise ValueError(f"age {up_to} falls in the open-ended group {low}+")
            continue
        width = high - low + 1
        for age in range(low, min(high, up_to) + 1):
            ages[age] += population / width
    return ages


def survival(from_age: float, to_age: float, params: MethodParameters) -> float:
    """Probability of surviving from one exact age to a later one."""
    if to_age <= from_age:
        return 1.0
    first_year = max(0.0, min(1.0, to_age) - from_age)
    later = max(0.0, to_age - max(1.0, from_age))
    return (1 - params.infant_death_rate) ** first_year * (1 - params.child_death_rate) ** later


def census_cohorts(
    ages: np.ndarray, census_year: int, params: MethodParameters
) -> dict[int, float]:
    """Children by birth year at the census, for every birth year fully born before it."""
    before = 1 - params.census_day_fraction
    cohorts = {}
    for age in range(len(ages) - 1):
        # Born in census_year - 1 - age: 3/4 of age `age`, 1/4 of age `age + 1`.
        younger = float(ages[age])
        older = float(ages[age + 1])
        cohorts[census_year - 1 - age] = before * younger + params.census_day_fraction * older
    return cohorts


def yearly_births(
    cohorts: Mapping[int, float], census_year: int, params: MethodParameters
) -> float:
    """Births per year before the census: the youngest full cohorts, survival undone."""
    values = []
    for born in range(census_year - params.birth_years, census_year):
        # A cohort born in `born` is on average census_year - born - 0.5 + fraction years old.
        age = census_year - born - 0.5 + params.census_day_fraction
        values.append(cohorts[born] / survival(0.0, age, params))
    return float(np.mean(values))


def log_growth(series: Mapping[int, float], first: int, last: int) -> float | None:
    """Yearly log growth fitted to a series' years in [first, last]; None below two years."""
    years = sorted(y for y, v in series.items() if first <= y <= last and v > 0)
    if len(years) < 2:
        return None
    x = np.array(years, dtype=float)
    y = np.log([series[year] for year in years])
    return float(np.polyfit(x, y, 1)[0])


def damped_years(horizon: float, damping: float) -> float:
    """Years of growth after `horizon` years ahead when each year keeps `damping` of the last."""
    if horizon <= 0:
        return horizon  # before the base year: undamped, backwards
    if damping >= 1.0:
        return horizon
    return (1 - damping**horizon) / (1 - damping)


@dataclass(frozen=True)
class WardTrend:
    """A ward's population from its last count on.

    Its district grows from the base year at `district_growth` a year (damped); the ward takes
    its part of the district's growth since the ward's last count in proportion to its people
    times `land_factor` (1 for every ward: in proportion to its people; more for a ward with
    more land than its district's people live on, on average), then its own `drift`. A
    district that shrinks shrinks every ward in proportion.
    """

    last_count: float
    last_year: int
    district_at_last: float
    """The district's population in the year of the last ward count (any unit: only ratios to
    `district_base` count)."""
    district_base: float
    district_growth: float
    drift: float
    damping: float
    base_year: int
    land_factor: float = 1.0

    def district(self, year: float) -> float:
        years = damped_years(year - self.base_year, self.damping)
        return self.district_base * math.exp(self.district_growth * years)

    def population(self, year: float) -> float:
        change = self.district(year) / self.district_at_last - 1
        if change > 0:
            change *= self.land_factor
        own = self.drift * (
            (self.base_year - self.last_year) + damped_years(year - self.base_year, self.damping)
        )
        return self.last_count * (1 + change) * math.exp(own)

    @property
    def base_population(self) -> float:
        return self.population(self.base_year)

    @property
    def growth(self) -> float:
        """The yearly growth from the base year with the ward's own share of it (first year)."""
        return math.log(self.population(self.base_year + 1) / self.base_population)


def ward_trend(
    ward_series: Mapping[int, float],
    district_series: Mapping[int, float],
    base_year: int,
    params: MethodParameters,
    land_factor: float = 1.0,
) -> WardTrend:
    """The ward's trend, from series known up to the base year only.

    Growth = the district's yearly growth over the last `trend_years` + the ward's drift
    against its district between its first and last known years (0 with one known year).
    A ward not counted in the base year is carried from its last count at its district's pace.
    """
    known = {y: v for y, v in ward_series.items() if y <= base_year and v > 0}
    district = {y: v for y, v in district_series.items() if y <= base_year and v > 0}
    if not known:
        raise ValueError("the ward has no population figure up to the base year")
    first, last = min(known), max(known)
    district_recent = log_growth(district, base_year - params.trend_years, base_year)
    district_long = log_growth(district, first, last) if last > first else None
    drift = 0.0
    if last > first and district_long is not None:
        drift = math.log(known[last] / known[first]) / (last - first) - district_long
    elif last > first:
        drift = math.log(known[last] / known[first]) / (last - first)
    recent = district_recent if district_recent is not None else 0.0
    if last in district and base_year in district:
        at_last, at_base = district[last], district[base_year]
    else:
        at_last, at_base = math.exp(-recent * (base_year - last)), 1.0
    return WardTrend(
        known[last], last, at_last, at_base, recent, drift, params.damping, base_year, land_factor
    )


def district_trends(
    wards: Sequence[tuple[int, Mapping[int, float], float | None]],
    district_series: Mapping[int, float],
    base_year: int,
    params: MethodParameters,
) -> dict[int, WardTrend]:
    """The trends of one district's wards (id, population by year, land area in m²).

    Where a ward has a single count up to the base year (no drift of its own is known), its
    district's growth since that count settles where there is land: each such ward's share
    goes with its people times its area against the people-weighted mean area of those wards.
    On Ho Chi Minh City's 2009 ward counts this beats spreading the growth by people alone,
    and both naive baselines, at wards (benchmarks/forecast_backtest.py).
    """
    plain = {i: ward_trend(series, district_series, base_year, params) for i, series, _ in wards}
    settling = {
        i: area
        for i, series, area in wards
        if area and area > 0 and sum(1 for y, v in series.items() if y <= base_year and v > 0) == 1
    }
    people = sum(plain[i].last_count for i in settling)
    weighted = sum(plain[i].last_count * area for i, area in settling.items())
    if len(settling) < 2 or weighted <= 0:
        return plain
    mean_area = weighted / people
    return {
        i: replace(t, land_factor=settling[i] / mean_area) if i in settling else t
        for i, t in plain.items()
    }


def cohort_entrants(
    *,
    born: int,
    entry_year: int,
    census_year: int,
    district_cohorts: Mapping[int, float],
    district_births: float,
    ward_share: float,
    trend: WardTrend,
    params: MethodParameters,
) -> float:
    """Children of one ward born in `born` who reach school in `entry_year` (expected count)."""
    # The school year opens in early September; a cohort's births centre on 1 July.
    entry = entry_year + SCHOOL_YEAR_START
    age_at_entry = entry - (born + 0.5)
    natural = params.natural_increase_rate

    def migration(start: float, end: float) -> float:
        grown = trend.population(end) / trend.population(start)
        return grown / math.exp(natural * (end - start))

    if born in district_cohorts:
        at_census = ward_share * district_cohorts[born]
        age_at_census = census_year - born - 0.5 + params.census_day_fraction
        start = census_year + params.census_day_fraction
        return at_census * survival(age_at_census, age_at_entry, params) * migration(start, entry)
    if born < census_year:
        raise ValueError(f"children born in {born} are older than the census ages used")
    # Not yet born at the census: births at the base rate, growing with the ward's population.
    mid_birth_year = born + 0.5
    births = (
        ward_share
        * district_births
        * trend.population(mid_birth_year)
        / trend.population(census_year)
    )
    return births * survival(0.0, age_at_entry, params) * migration(mid_birth_year, entry)


def classes_needed(children: float, class_size: int) -> int:
    """Classes for that many children at the legal class size."""
    return math.ceil(round(children, 6) / class_size) if children > 0 else 0
