"""Backtest: the population trend from an earlier base year against a later census, by ward.

Census age groups exist for one year only, so what can be checked against a known later year
is the part of the forecast that moves children between years and wards: each ward's
population projected from the base year (its last census before it, and the district yearly
series up to the base year) against its population counted in the target year. Two naive
baselines use the same ward shares: no growth (the base-year population) and a linear trend
(a straight line through the district series up to the base year).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gis_service.errors import InvalidRequestError
from gis_service.planning.inputs import ForecastInputs
from gis_service.planning.method import MethodParameters, ward_trend

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


def run_backtest(
    inputs: ForecastInputs,
    base_year: int,
    target_year: int,
    params: MethodParameters | None = None,
) -> Backtest:
    """Project every ward from `base_year` to `target_year` by each method; score on counts."""
    params = params or MethodParameters()
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
    forecasts: dict[str, dict[int, float]] = {m: {} for m in METHODS}
    for ward in wards:
        district = inputs.districts[ward.district_id]
        known_series = {y: v for y, v in district.series.items() if y <= base_year}
        trend = ward_trend(ward.population, known_series, base_year, params)
        forecasts["cohort-trend"][ward.id] = trend.population(target_year)
        forecasts["no-growth"][ward.id] = trend.base_population
        share = trend.base_population / known_series[base_year] if base_year in known_series else 0
        if share:
            first = base_year - params.trend_years
            forecasts["linear-trend"][ward.id] = share * linear_value(
                known_series, base_year, target_year, first
            )
        else:
            forecasts["linear-trend"][ward.id] = trend.base_population
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
