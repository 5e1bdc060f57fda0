"""Grade-1 and grade-6 entrants per ward and school year, with their band and classes needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gis_service.errors import InvalidRequestError
from gis_service.planning.inputs import ForecastInputs
from gis_service.planning.method import (
    ENTRY_AGE,
    LEGAL_CLASS_SIZE,
    METHOD_TEXT,
    MethodParameters,
    census_cohorts,
    classes_needed,
    cohort_entrants,
    single_year_ages,
    ward_trend,
    yearly_births,
)

# Ages split out of the census groups: the oldest child a grade-6 forecast can age forward.
MAX_AGE = 14


@dataclass(frozen=True)
class WardDemand:
    """Entrants of one ward, grade and school year (expected, low, high) and classes needed."""

    ward_id: int
    ward_code: str
    ward_name: str
    district_code: str
    district_name: str
    grade: int
    school_year: int
    children: float
    low: float
    high: float
    classes_needed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "ward_id": self.ward_id,
            "ward_code": self.ward_code,
            "ward_name": self.ward_name,
            "district_code": self.district_code,
            "district_name": self.district_name,
            "grade": self.grade,
            "school_year": f"{self.school_year}-{self.school_year + 1}",
            "children": round(self.children),
            "low": round(self.low),
            "high": round(self.high),
            "classes_needed": self.classes_needed,
        }


@dataclass
class Forecast:
    """A forecast with everything it rests on: base year, inputs, method and parameters."""

    base_year: int
    census_year: int
    grades: list[int]
    years: list[int]
    parameters: MethodParameters
    inputs: dict[str, Any]
    rows: list[WardDemand] = field(default_factory=list)

    def statement(self) -> dict[str, Any]:
        return {
            "base_year": self.base_year,
            "census_year": self.census_year,
            "inputs": self.inputs,
            "method": METHOD_TEXT,
            "parameters": self.parameters.as_dict(),
        }

    def total(self, grade: int, year: int) -> tuple[float, float, float]:
        chosen = [r for r in self.rows if r.grade == grade and r.school_year == year]
        return (
            sum(r.children for r in chosen),
            sum(r.low for r in chosen),
            sum(r.high for r in chosen),
        )

    def ward_children(self, grade: int, year: int) -> dict[int, float]:
        return {
            r.ward_id: r.children for r in self.rows if r.grade == grade and r.school_year == year
        }


def run_forecast(
    inputs: ForecastInputs,
    years: list[int],
    grades: list[int] | None = None,
    params: MethodParameters | None = None,
    base_year: int | None = None,
) -> Forecast:
    """Forecast entrants per ward for each school year (its first calendar year) and grade."""
    params = params or MethodParameters()
    grades = grades or [1, 6]
    for grade in grades:
        if grade not in ENTRY_AGE:
            raise InvalidRequestError(f"lớp {grade} không phải lớp đầu cấp / grade must be 1 or 6")
    census_years = inputs.census_years()
    if not census_years:
        raise InvalidRequestError(
            "chưa có dân số theo nhóm tuổi của quận/huyện / no census age groups loaded: "
            "run `schoolmap import population --level district ...` first"
        )
    census_year = max(y for y in census_years if base_year is None or y <= base_year)
    base = base_year or census_year
    if base < census_year:
        raise InvalidRequestError(f"base year {base} is before the census year {census_year}")
    for year in years:
        if year < census_year:
            raise InvalidRequestError(
                f"năm học {year} trước năm điều tra {census_year} / school year {year} is "
                f"before the census year {census_year}: forecasts look forward from it"
            )
        for grade in grades:
            if year - ENTRY_AGE[grade] < census_year - MAX_AGE - 1:
                raise InvalidRequestError(
                    f"năm học {year} lớp {grade}: trẻ sinh năm {year - ENTRY_AGE[grade]} "
                    f"lớn hơn độ tuổi điều tra / grade {grade} in {year} is older than the "
                    f"census ages ({census_year} census, ages 0-{MAX_AGE})"
                )
    forecast = Forecast(
        base,
        census_year,
        grades,
        sorted(years),
        params,
        {
            "census_age_groups": f"district population by age group, {census_year}",
            "ward_population_years": inputs.ward_years(),
            "district_series_years": inputs.series_years(),
            "districts": len(inputs.districts),
            "wards": len(inputs.wards),
        },
    )
    for district in inputs.districts.values():
        groups = district.age_groups.get(census_year)
        if not groups:
            raise InvalidRequestError(
                f"quận/huyện {district.name} thiếu dân số theo tuổi năm {census_year} / "
                f"district {district.name} ({district.code}) has no age groups for {census_year}"
            )
        cohorts = census_cohorts(single_year_ages(groups, MAX_AGE + 1), census_year, params)
        births = yearly_births(cohorts, census_year, params)
        members = [w for w in inputs.wards if w.district_id == district.id and w.population]
        trends = {w.id: ward_trend(w.population, district.series, base, params) for w in members}
        total = sum(t.base_population for t in trends.values())
        for ward in members:
            trend = trends[ward.id]
            share = trend.base_population / total if total else 0.0
            for grade in grades:
                for year in forecast.years:
                    entrants = partial(
                        cohort_entrants,
                        born=year - ENTRY_AGE[grade],
                        entry_year=year,
                        census_year=census_year,
                        district_cohorts=cohorts,
                        district_births=births,
                        ward_share=share,
                        trend=trend,
                        params=params,
                    )
                    children = entrants(extra_growth=0.0)
                    low = entrants(extra_growth=-params.band_rate) * (1 - params.level_error)
                    high = entrants(extra_growth=params.band_rate) * (1 + params.level_error)
                    forecast.rows.append(
                        WardDemand(
                            ward.id,
                            ward.code,
                            ward.name,
                            district.code,
                            district.name,
                            grade,
                            year,
                            children,
                            min(low, children),
                            max(high, children),
                            classes_needed(children, LEGAL_CLASS_SIZE[grade]),
                        )
                    )
    return forecast
