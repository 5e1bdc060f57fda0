"""Backtest: the population trend from an earlier base year against a later census, by ward.

Census age groups exist for one year only, so what can be checked against a known later year
is the part of the forecast that moves children between years and wards: each ward's
population projected from the base year (its last census before it, and the district yearly
series up to the base year) against its population counted in the target year. Two naive
baselines use the same ward shares: no growth (the base-year population) and a linear trend
(a straight line through the district series up to the base year).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gis_service.errors import InvalidRequestError
from gis_service.planning.inputs import ForecastInputs, WardInput
from gis_service.planning.method import (
    MethodParameters,
    PredictionInterval,
    WardTrend,
    district_trends,
    fit_interval,
    ward_trend,
)

METHODS = ("cohort-trend", "no-growth", "linear-trend")


@dataclass(frozen=True)
class MethodError:
    """Errors of one method against the target year."""

    method: str
    ward_mape: float
    ward_median_ape: float
    worst_ward: str
    worst_ape: float
    district_mape: float
    total_error: float


@dataclass(frozen=True)
class Backtest:
    """What was compared, over how many units, and each method's errors."""

    base_year: int
    target_year: int
    ward_years_used: list[int]
    series_years_used: list[int]
    wards: int
    districts: int
    results: list[MethodError]

    def table(self) -> list[str]:
        lines = [
            f"backtest: ward population {self.target_year} forecast from base year "
            f"{self.base_year} ({self.wards} wards, {self.districts} districts)",
            f"  known at the base year: ward counts {self.ward_years_used}, district series "
            f"{self.series_years_used}",
            f"  {'method':<14}{'ward MAPE':>10}{'median':>8}{'district MAPE':>15}"
            f"{'city total':>12}  worst ward",
        ]
        for r in self.results:
            lines.append(
                f"  {r.method:<14}{r.ward_mape:>9.1%}{r.ward_median_ape:>8.1%}"
                f"{r.district_mape:>15.1%}{r.total_error:>+12.1%}  {r.worst_ward} "
                f"({r.worst_ape:+.1%})"
            )
        return lines


def linear_value(series: dict[int, float], last_year: int, year: int, first_year: int) -> float:
    """A straight line fitted through the series' years in [first_year, last_year], at `year`."""
    years = sorted(y for y in series if first_year <= y <= last_year)
    if len(years) < 2:
        return series[years[-1]]
    slope, intercept = np.polyfit(years, [series[y] for y in years], 1)
    return float(max(0.0, slope * year + intercept))


def _scored_wards(inputs: ForecastInputs, base_year: int, target_year: int) -> list[WardInput]:
    """The wards counted in the target year and at least once up to the base year."""
    if target_year <= base_year:
        raise InvalidRequestError("the target year must come after the base year")
    wards = [
        w for w in inputs.wards if target_year in w.population and w.population[target_year] > 0
    ]
    wards = [w for w in wards if any(y <= base_year for y in w.population)]
    if not wards:
        raise InvalidRequestError(
            f"không có phường nào có dân số năm {target_year} và trước {base_year} / no ward has "
            f"a population count for {target_year} and one up to {base_year}"
        )
    return wards


def _method_trends(
    inputs: ForecastInputs, wards: list[WardInput], base_year: int, params: MethodParameters
) -> dict[int, WardTrend]:
    """The forecast's trend of every ward, from what was known at the base year."""
    trends: dict[int, WardTrend] = {}
    for district_id in sorted({w.district_id for w in wards}):
        known_series = {
            y: v for y, v in inputs.districts[district_id].series.items() if y <= base_year
        }
        trends |= district_trends(
            [(w.id, w.population, w.area_m2) for w in wards if w.district_id == district_id],
            known_series,
            base_year,
            params,
        )
    return trends


def run_backtest(
    inputs: ForecastInputs,
    base_year: int,
    target_year: int,
    params: MethodParameters | None = None,
) -> Backtest:
    """Project every ward from `base_year` to `target_year` by each method; score on counts."""
    params = params or MethodParameters()
    wards = _scored_wards(inputs, base_year, target_year)
    trends = _method_trends(inputs, wards, base_year, params)
    forecasts: dict[str, dict[int, float]] = {m: {} for m in METHODS}
    for ward in wards:
        district = inputs.districts[ward.district_id]
        known_series = {y: v for y, v in district.series.items() if y <= base_year}
        forecasts["cohort-trend"][ward.id] = trends[ward.id].population(target_year)
        # The baselines keep the ward's share of its district from its last count.
        naive = ward_trend(ward.population, known_series, base_year, params)
        forecasts["no-growth"][ward.id] = naive.base_population
        share = naive.base_population / known_series[base_year] if base_year in known_series else 0
        if share:
            first = base_year - params.trend_years
            forecasts["linear-trend"][ward.id] = share * linear_value(
                known_series, base_year, target_year, first
            )
        else:
            forecasts["linear-trend"][ward.id] = naive.base_population
    actual = {w.id: w.population[target_year] for w in wards}
    names = {w.id: f"{w.name} ({inputs.districts[w.district_id].name})" for w in wards}
    results = []
    for method in METHODS:
        made = forecasts[method]
        ape = {k: (made[k] - actual[k]) / actual[k] for k in actual}
        worst = max(ape, key=lambda k: abs(ape[k]))
        by_district: dict[int, list[float]] = {}
        for w in wards:
            pair = by_district.setdefault(w.district_id, [0.0, 0.0])
            pair[0] += made[w.id]
            pair[1] += actual[w.id]
        results.append(
            MethodError(
                method,
                float(np.mean([abs(v) for v in ape.values()])),
                float(np.median([abs(v) for v in ape.values()])),
                names[worst],
                ape[worst],
                float(np.mean([abs(f - a) / a for f, a in by_district.values()])),
                sum(made.values()) / sum(actual.values()) - 1,
            )
        )
    used_wards = sorted({y for w in wards for y in w.population if y <= base_year})
    used_series = sorted({y for d in inputs.districts.values() for y in d.series if y <= base_year})
    return Backtest(
        base_year,
        target_year,
        used_wards,
        used_series,
        len(wards),
        len({w.district_id for w in wards}),
        results,
    )


@dataclass(frozen=True)
class IntervalCheck:
    """Prediction intervals fitted on one base year's errors and scored on another's."""

    fitted_on: int
    scored_on: int
    target_year: int
    wards: int
    interval: PredictionInterval
    coverage_50: float
    coverage_80: float

    def line(self) -> str:
        return (
            f"  intervals fitted on base {self.fitted_on}, scored on base {self.scored_on} "
            f"({self.wards} wards): 50 % holds {self.coverage_50:.1%}, 80 % holds "
            f"{self.coverage_80:.1%}"
        )


def _errors(
    inputs: ForecastInputs, base_year: int, target_year: int, params: MethodParameters
) -> list[tuple[WardInput, float, float, float]]:
    """Each ward with its forecast, the years from its last count and log(actual / forecast)."""
    wards = _scored_wards(inputs, base_year, target_year)
    trends = _method_trends(inputs, wards, base_year, params)
    made: list[tuple[WardInput, float, float, float]] = []
    for ward in wards:
        forecast = trends[ward.id].population(target_year)
        years = target_year - trends[ward.id].last_year
        made.append((ward, forecast, years, math.log(ward.population[target_year] / forecast)))
    return made


def fit_backtest_interval(
    inputs: ForecastInputs,
    base_years: list[int],
    target_year: int,
    params: MethodParameters | None = None,
) -> PredictionInterval:
    """The interval of the forecast's errors from the base years, pooled (each error brought to
    the errors' median horizon by the square root of the years)."""
    params = params or MethodParameters()
    made = [e for base in base_years for e in _errors(inputs, base, target_year, params)]
    horizon = float(np.median([years for _, _, years, _ in made]))
    scaled = [error / math.sqrt(years / horizon) for _, _, years, error in made if years > 0]
    return fit_interval(scaled, horizon)


def check_intervals(
    inputs: ForecastInputs,
    fitted_on: int,
    scored_on: int,
    target_year: int,
    params: MethodParameters | None = None,
) -> IntervalCheck:
    """Out of sample: fit the intervals on one base year, count how often another's hold."""
    params = params or MethodParameters()
    interval = fit_backtest_interval(inputs, [fitted_on], target_year, params)
    made = _errors(inputs, scored_on, target_year, params)
    held = {50: 0, 80: 0}
    for ward, forecast, years, _ in made:
        low_80, low_50, high_50, high_80 = interval.bounds(forecast, years)
        actual = ward.population[target_year]
        held[50] += low_50 <= actual <= high_50
        held[80] += low_80 <= actual <= high_80
    return IntervalCheck(
        fitted_on,
        scored_on,
        target_year,
        len(made),
        interval,
        held[50] / len(made),
        held[80] / len(made),
    )
