"""Grade-1 and grade-6 entrants per unit and school year, with their prediction intervals and
classes needed,
and what figures each unit's number rests on (census, census of part of it, its own report,
or none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from gis_service.errors import InvalidRequestError
from gis_service.planning.inputs import DistrictInput, ForecastInputs, UnitInfo, WardInput
from gis_service.planning.method import (
    LEGAL_CLASS_SIZE,
    METHOD_TEXT,
    SCHOOL_YEAR_START,
    UNIT_METHOD_TEXT,
    MethodParameters,
    census_cohorts,
    classes_needed,
    cohort_entrants,
    district_trends,
    single_year_ages,
    yearly_births,
)
from gis_service.school_levels import ENTRY_AGE
from gis_service.units.coverage import NO_CENSUS_EN, NO_CENSUS_VI
from gis_service.units.editions import EDITION_2019

# Ages split out of the census groups: the oldest child a grade-6 forecast can age forward.
MAX_AGE = 14
# How far the forecast is defended: school years from the census year to HORIZON_YEARS after
# it. Grade-1 entrants of the last year were born by the next census (Vietnam counts every ten
# years: 2009, 2019, 2029), so no cohort rests on more than ten years of births extrapolated
# from the census's youngest cohorts at a birth rate the census saw; later ones would be a
# birth rate nobody has counted, which the next census replaces. Grade 6 keeps the same years:
# its children age forward on the same damped ward trends.
HORIZON_YEARS = 16

# What a row's children rest on.
FIGURES_CENSUS = "census"
FIGURES_PARTIAL = "census_partial"
FIGURES_REPORTED = "reported"
FIGURES_NONE = "none"
NO_CENSUS = f"{NO_CENSUS_VI} / {NO_CENSUS_EN}"


def partial_note(coverage: float, census_year: int) -> str:
    """What a unit only partly covered by the census units says about its figures."""
    pct = f"{coverage:.0%}"
    return (
        f"số liệu điều tra dân số {census_year} chỉ phủ {pct} diện tích đơn vị; số trẻ là của "
        f"phần đó / {census_year} census figures cover {pct} of the unit's area; the children "
        "are those of that part"
    )


def reported_note(born: int) -> str:
    return (
        f"số trẻ sinh năm {born} do đơn vị báo cáo / children born in {born} as reported by "
        "the unit"
    )


@dataclass(frozen=True)
class WardDemand:
    """Entrants of one unit, grade and school year (expected, low, high) and classes needed;
    None where the unit has no figures (`figures` == 'none', said in `note`)."""

    ward_id: int
    ward_code: str
    ward_name: str
    district_code: str | None
    district_name: str | None
    grade: int
    school_year: int
    children: float | None
    low: float | None
    high: float | None
    classes_needed: int | None
    edition: str = EDITION_2019
    unit_label: str = ""
    unit_type: str | None = None
    unit_type_name: str | None = None
    province_name: str | None = None
    figures: str = FIGURES_CENSUS
    coverage: float = 1.0
    note: str | None = None
    low_50: float | None = None
    high_50: float | None = None
    """`low` and `high` bound the 80 % prediction interval, these the 50 % one."""
    population: float | None = None
    population_low: float | None = None
    population_high: float | None = None
    """The unit's people when the school year opens, with the 80 % interval (census units)."""

    @property
    def has_figures(self) -> bool:
        return self.children is not None

    def unit_fields(self) -> dict[str, Any]:
        """Who the unit is and what its figures rest on, as shown beside any of its figures."""
        return {
            "edition": self.edition,
            "unit_label": self.unit_label or self.ward_name,
            "unit_type": self.unit_type,
            "unit_type_name": self.unit_type_name,
            "province_name": self.province_name,
            "figures": self.figures,
            "coverage": round(self.coverage, 3),
            "note": self.note,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "ward_id": self.ward_id,
            "ward_code": self.ward_code,
            "ward_name": self.ward_name,
            "district_code": self.district_code,
            "district_name": self.district_name,
            "grade": self.grade,
            "school_year": f"{self.school_year}-{self.school_year + 1}",
            "children": None if self.children is None else round(self.children),
            "low": None if self.low is None else round(self.low),
            "high": None if self.high is None else round(self.high),
            "low_50": None if self.low_50 is None else round(self.low_50),
            "high_50": None if self.high_50 is None else round(self.high_50),
            "population": None if self.population is None else round(self.population),
            "population_low": None if self.population_low is None else round(self.population_low),
            "population_high": (
                None if self.population_high is None else round(self.population_high)
            ),
            "classes_needed": self.classes_needed,
            **self.unit_fields(),
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
    edition: str = EDITION_2019
    coverage: dict[str, Any] = field(default_factory=dict)

    def statement(self) -> dict[str, Any]:
        method = (
            METHOD_TEXT if self.edition == EDITION_2019 else f"{METHOD_TEXT} {UNIT_METHOD_TEXT}"
        )
        return {
            "edition": self.edition,
            "base_year": self.base_year,
            "census_year": self.census_year,
            "inputs": self.inputs,
            "coverage": self.coverage,
            "method": method,
            "parameters": self.parameters.as_dict(),
            "years_allowed": dict(
                zip(("first", "last"), forecast_years(self.census_year), strict=True),
                horizon_years=HORIZON_YEARS,
            ),
        }

    def unit_rows(self, grade: int, year: int) -> list[WardDemand]:
        """Every unit's row of a grade and year, with figures or without."""
        return [r for r in self.rows if r.grade == grade and r.school_year == year]

    def total(self, grade: int, year: int) -> tuple[float, float, float]:
        """The area's children with the sums of its units' 80 % bounds: wider than the total's
        own interval, as the units' errors partly cancel (district errors are smaller than ward
        errors in the backtest)."""
        chosen = [r for r in self.unit_rows(grade, year) if r.has_figures]
        return (
            sum(r.children or 0.0 for r in chosen),
            sum(r.low or 0.0 for r in chosen),
            sum(r.high or 0.0 for r in chosen),
        )

    def ward_children(self, grade: int, year: int) -> dict[int, float]:
        """Children of every unit with figures (census or reported)."""
        return {
            r.ward_id: r.children for r in self.unit_rows(grade, year) if r.children is not None
        }

    def without_figures(self, grade: int, year: int) -> list[WardDemand]:
        """Rows of units with neither census figures nor a report: no number, not zero."""
        return [r for r in self.unit_rows(grade, year) if not r.has_figures]


FIRST_SCHOOL_MONTH = 9
"""A school year opens in September; its first-year admissions run before, in the summer."""


def coming_school_year(today: date) -> int:
    """The school year (first calendar year) whose first-year admissions come next: this
    year's until it opens in September, next year's from then."""
    return today.year if today.month < FIRST_SCHOOL_MONTH else today.year + 1


def forecast_years(census_year: int) -> tuple[int, int]:
    """The first and last school year (first calendar year) a forecast from a census covers."""
    return census_year, census_year + HORIZON_YEARS


def years_allowed(inputs: ForecastInputs) -> dict[str, Any]:
    """The school years the forecast of these inputs accepts, and why, as the API states it."""
    census_year = _census_year(inputs, None)
    first, last = forecast_years(census_year)
    return {
        "edition": inputs.edition,
        "census_year": census_year,
        "first": first,
        "last": last,
        "horizon_years": HORIZON_YEARS,
        "why": (
            f"Dự báo từ điều tra dân số {census_year}: năm học {first}–{last}; trẻ vào lớp 1 năm "
            f"{last} sinh năm {last - ENTRY_AGE[1]}, trước kỳ điều tra sau; xa hơn là số sinh "
            f"chưa ai đếm / Forecast from the {census_year} census: school years {first}-{last}; "
            f"grade-1 entrants of {last} are born in {last - ENTRY_AGE[1]}, by the next census; "
            "further out are births nobody has counted"
        ),
    }


def check_years(inputs: ForecastInputs, years: list[int]) -> None:
    """Refuse school years outside the forecast's horizon, saying which years it takes."""
    census_year = _census_year(inputs, None)
    first, last = forecast_years(census_year)
    for year in years:
        if year < first:
            raise InvalidRequestError(
                f"năm học {year} trước năm điều tra {census_year}: chỉ dự báo năm học {first}–"
                f"{last} / school year {year} is before the census year {census_year}: "
                f"forecasts look forward from it, for school years {first}-{last}"
            )
        if year > last:
            raise InvalidRequestError(
                f"năm học {year} quá xa: chỉ dự báo năm học {first}–{last} (điều tra dân số "
                f"{census_year} và {HORIZON_YEARS} năm sau) / school year {year} is beyond the "
                f"forecast's horizon: school years {first}-{last} only ({census_year} census "
                f"and {HORIZON_YEARS} years after it)"
            )


def _census_year(inputs: ForecastInputs, base_year: int | None) -> int:
    """The census year the forecast ages from, or an error naming what to load."""
    census_years = inputs.census_years()
    if not census_years:
        if inputs.grouped_by_district:
            raise InvalidRequestError(
                "chưa có dân số theo nhóm tuổi của quận/huyện / no census age groups loaded: "
                "run `schoolmap import population --level district ...` first"
            )
        raise InvalidRequestError(
            f"các đơn vị bộ {inputs.edition} chưa có số liệu điều tra dân số chuyển sang / the "
            f"{inputs.edition} units have no census figures carried to them: make the "
            f"crosswalk from the 2019 units to the {inputs.edition} units first"
        )
    earlier = [y for y in census_years if base_year is None or y <= base_year]
    if not earlier:
        raise InvalidRequestError(
            f"base year {base_year} is before the census year {min(census_years)}"
        )
    return max(earlier)


def _check_request(
    inputs: ForecastInputs, years: list[int], grades: list[int], base_year: int | None
) -> tuple[int, int]:
    """The census year and base year, or an error a person can act on."""
    for grade in grades:
        if grade not in ENTRY_AGE:
            raise InvalidRequestError(f"lớp {grade} không phải lớp đầu cấp / grade must be 1 or 6")
    census_year = _census_year(inputs, base_year)
    base = base_year or census_year
    if base < census_year:
        raise InvalidRequestError(f"base year {base} is before the census year {census_year}")
    check_years(inputs, years)
    for year in years:
        for grade in grades:
            if year - ENTRY_AGE[grade] < census_year - MAX_AGE - 1:
                raise InvalidRequestError(
                    f"năm học {year} lớp {grade}: trẻ sinh năm {year - ENTRY_AGE[grade]} "
                    f"lớn hơn độ tuổi điều tra / grade {grade} in {year} is older than the "
                    f"census ages ({census_year} census, ages 0-{MAX_AGE})"
                )
    return census_year, base


def _members(
    inputs: ForecastInputs, district: DistrictInput, has_groups: bool, base: int
) -> list[WardInput]:
    """The wards of a group the census arithmetic runs on.

    Census edition: every ward with a count (a district without age groups is an error).
    A later edition: the unit itself, when census units cover some of it and carried counts
    up to the base year and age groups stand behind it.
    """
    wards = [w for w in inputs.wards if w.district_id == district.id and w.population]
    if inputs.grouped_by_district:
        return wards
    if not has_groups:
        return []
    return [
        w
        for w in wards
        if _unit(inputs, w, district).covered
        and any(v > 0 for y, v in w.population.items() if y <= base)
    ]


def _unit(inputs: ForecastInputs, ward: WardInput, district: DistrictInput) -> UnitInfo:
    known = inputs.units.get(ward.id)
    if known is not None:
        return known
    return UnitInfo(
        ward.id,
        ward.code,
        ward.name,
        None,
        district.code,
        district.name,
        1.0 if ward.population else 0.0,
    )


def run_forecast(
    inputs: ForecastInputs,
    years: list[int],
    grades: list[int] | None = None,
    params: MethodParameters | None = None,
    base_year: int | None = None,
) -> Forecast:
    """Forecast entrants per unit for each school year (its first calendar year) and grade.

    Units without census figures get a row saying so (children None), or the children they
    report for the cohort when they report them; a unit the census units only partly cover is
    forecast from the part covered (or from its report, when it reports), and says so.
    """
    params = params or MethodParameters()
    grades = grades or [1, 6]
    census_year, base = _check_request(inputs, years, grades, base_year)
    grouped = inputs.grouped_by_district
    forecast = Forecast(
        base,
        census_year,
        grades,
        sorted(years),
        params,
        {
            "census_age_groups": f"district population by age group, {census_year}"
            if grouped
            else f"age groups of each {inputs.edition} unit, {census_year}, carried from the "
            "census units",
            "ward_population_years": inputs.ward_years(),
            "district_series_years": inputs.series_years(),
            "districts": len(inputs.districts) if grouped else 0,
            "wards": len(inputs.wards),
        },
        edition=inputs.edition,
    )
    census: dict[tuple[int, int, int], tuple[float, float, float, float, float]] = {}
    populations: dict[tuple[int, int], tuple[float, float, float]] = {}
    order: list[tuple[WardInput, DistrictInput]] = []
    for district in inputs.districts.values():
        order += [(w, district) for w in inputs.wards if w.district_id == district.id]
        groups = district.age_groups.get(census_year)
        if not groups and grouped:
            raise InvalidRequestError(
                f"quận/huyện {district.name} thiếu dân số theo tuổi năm {census_year} / "
                f"district {district.name} ({district.code}) has no age groups for {census_year}"
            )
        members = _members(inputs, district, bool(groups), base)
        if not groups or not members:
            continue
        cohorts = census_cohorts(single_year_ages(groups, MAX_AGE + 1), census_year, params)
        births = yearly_births(cohorts, census_year, params)
        trends = district_trends(
            [(w.id, w.population, w.area_m2) for w in members], district.series, base, params
        )
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
                    children = entrants()
                    counted = trend.last_year + params.census_day_fraction
                    census[(ward.id, grade, year)] = (
                        children,
                        *params.interval.bounds(children, year + SCHOOL_YEAR_START - counted),
                    )
            for year in forecast.years:
                opens = year + SCHOOL_YEAR_START
                people = trend.population(opens)
                low_80, _, _, high_80 = params.interval.bounds(
                    people, opens - trend.last_year - params.census_day_fraction
                )
                populations[(ward.id, year)] = (people, low_80, high_80)
    shown: list[UnitInfo] = []
    for ward, district in order:
        if inputs.keep is not None and ward.id not in inputs.keep:
            continue
        unit = _unit(inputs, ward, district)
        shown.append(unit)
        for grade in grades:
            for year in forecast.years:
                forecast.rows.append(
                    _row(
                        inputs,
                        unit,
                        district,
                        grade,
                        year,
                        census.get((ward.id, grade, year)),
                        census_year,
                        populations.get((ward.id, year)),
                    )
                )
    forecast.coverage = {
        "units": len(shown),
        "full": sum(1 for u in shown if u.fully_covered),
        "partial": [
            {"unit": u.label, "coverage": round(u.coverage, 3)}
            for u in shown
            if u.covered and not u.fully_covered
        ],
        "none": [u.label for u in shown if not u.covered],
        "note": NO_CENSUS,
    }
    return forecast


def _row(
    inputs: ForecastInputs,
    unit: UnitInfo,
    district: DistrictInput,
    grade: int,
    year: int,
    made: tuple[float, float, float, float, float] | None,
    census_year: int,
    people: tuple[float, float, float] | None = None,
) -> WardDemand:
    """One unit's row: the census forecast, its own report, or a statement that it has none."""
    born = year - ENTRY_AGE[grade]
    reported = unit.reported.get(born)
    note: str | None = None
    if not unit.fully_covered and reported is not None:
        figures = FIGURES_REPORTED
        children: float | None = float(reported)
        low: float | None = children
        high: float | None = children
        low_50: float | None = children
        high_50: float | None = children
        note = reported_note(born)
    elif made is not None:
        children, low, low_50, high_50, high = made
        figures = FIGURES_CENSUS if unit.fully_covered else FIGURES_PARTIAL
        if figures == FIGURES_PARTIAL:
            note = partial_note(unit.coverage, census_year)
    else:
        figures, children, low, high = FIGURES_NONE, None, None, None
        low_50 = high_50 = None
        note = NO_CENSUS
    grouped = inputs.grouped_by_district
    return WardDemand(
        unit.id,
        unit.code,
        unit.name,
        district.code if grouped else None,
        district.name if grouped else None,
        grade,
        year,
        children,
        low,
        high,
        None if children is None else classes_needed(children, LEGAL_CLASS_SIZE[grade]),
        edition=inputs.edition,
        unit_label=unit.label,
        unit_type=unit.unit_type,
        unit_type_name=unit.type_name,
        province_name=None if grouped else unit.parent_name,
        figures=figures,
        coverage=unit.coverage,
        note=note,
        low_50=low_50,
        high_50=high_50,
        population=None if people is None else people[0],
        population_low=None if people is None else people[1],
        population_high=None if people is None else people[2],
    )
