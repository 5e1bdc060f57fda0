"""The forecast and its backtest on the real Ho Chi Minh City data (wards 2009/2019, district
yearly series 2009-2017, 2019 census age groups), with golden figures measured on them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, replace

import pytest

from gis_service.db.connection import Connection
from gis_service.importers.population import PopulationFields, import_population
from gis_service.importers.report import no_progress
from gis_service.importers.wards import import_wards
from gis_service.planning.backtest import (
    MethodError,
    check_intervals,
    fit_backtest_interval,
    run_backtest,
)
from gis_service.planning.forecast import run_forecast
from gis_service.planning.inputs import ForecastInputs, load_inputs
from gis_service.planning.method import HCMC_INTERVAL
from gis_service.planning.series import import_series
from tests.conftest import SHARED_DATA, rolled_back
from tests.test_hcmc_import import HCMC_WARD_FIELDS

pytestmark = pytest.mark.hcmc
CITYSCOPE = SHARED_DATA / "hcmc_cityscope_pop2019"


@pytest.fixture(scope="module")
def hcmc(empty_db_url: str) -> Iterator[tuple[Connection, ForecastInputs]]:
    with rolled_back(empty_db_url) as conn:
        import_wards(conn, CITYSCOPE / "Population_Ward_Level.shp", HCMC_WARD_FIELDS, no_progress)
        import_population(
            conn,
            SHARED_DATA / "vn_census2019" / "district_population_by_age_2019.csv",
            PopulationFields(name="district", province="province", year=2019),
            no_progress,
        )
        report = import_series(
            conn,
            CITYSCOPE / "Population_District_Level.shp",
            level="district",
            code_field="Dist_ID",
        )
        assert report.counts == {"units": 24, "population figures": 240}
        yield conn, load_inputs(conn)


def test_the_inputs_hold_two_ward_censuses_and_the_district_series(
    hcmc: tuple[Connection, ForecastInputs],
) -> None:
    _, inputs = hcmc
    assert len(inputs.wards) == 322 and len(inputs.districts) == 24
    assert inputs.ward_years() == [2009, 2019]
    assert inputs.series_years() == [2009, 2010, 2011, 2012, 2013, 2014, 2015, 2016, 2017, 2019]
    assert inputs.census_years() == [2019]
    nha_be = next(d for d in inputs.districts.values() if d.code == "786")
    assert nha_be.series[2017] == 177_990


def beats_both_baselines(errors: dict[str, MethodError]) -> None:
    """Never worse than the better baseline on ward MAPE and median APE, better on at least
    one; better than both by district."""
    method, baselines = errors["cohort-trend"], [errors["no-growth"], errors["linear-trend"]]
    best_mape = min(b.ward_mape for b in baselines)
    best_median = min(b.ward_median_ape for b in baselines)
    assert method.ward_mape <= best_mape and method.ward_median_ape <= best_median
    assert method.ward_mape < best_mape or method.ward_median_ape < best_median
    assert method.district_mape < min(b.district_mape for b in baselines)


def test_backtest_from_2014_against_the_2019_census(
    hcmc: tuple[Connection, ForecastInputs],
) -> None:
    result = run_backtest(hcmc[1], 2014, 2019)
    assert (result.wards, result.districts) == (322, 24)
    assert result.ward_years_used == [2009]
    assert result.series_years_used == [2009, 2010, 2011, 2012, 2013, 2014]
    errors = {r.method: r for r in result.results}
    golden = {  # ward MAPE, ward median APE, district MAPE
        "cohort-trend": (0.3998, 0.1190, 0.1013),
        "no-growth": (0.4097, 0.1234, 0.1370),
        "linear-trend": (0.4035, 0.1344, 0.1085),
    }
    for method, (mape, median, district) in golden.items():
        found = (errors[method].ward_mape, errors[method].ward_median_ape)
        assert found == pytest.approx((mape, median), abs=5e-4), method
        assert errors[method].district_mape == pytest.approx(district, abs=5e-4), method
    beats_both_baselines(errors)
    # Wards are dominated by moves such as An Khánh (Thủ Thiêm cleared between the censuses),
    # which no trend foresees.
    assert errors["cohort-trend"].worst_ward == "An Khanh (District 2)"
    assert abs(errors["cohort-trend"].total_error) < 0.01
    assert any("ward MAPE" in line for line in result.table())


def test_backtest_from_2017_is_closer_at_district_level(
    hcmc: tuple[Connection, ForecastInputs],
) -> None:
    errors = {r.method: r for r in run_backtest(hcmc[1], 2017, 2019).results}
    golden = {
        "cohort-trend": (0.4434, 0.1251, 0.0867),
        "no-growth": (0.4464, 0.1277, 0.1013),
        "linear-trend": (0.4689, 0.1428, 0.0899),
    }
    for method, (mape, median, district) in golden.items():
        found = (errors[method].ward_mape, errors[method].ward_median_ape)
        assert found == pytest.approx((mape, median), abs=5e-4), method
        assert errors[method].district_mape == pytest.approx(district, abs=5e-4), method
    beats_both_baselines(errors)


def test_settling_growth_by_land_is_what_beats_the_baselines(
    hcmc: tuple[Connection, ForecastInputs],
) -> None:
    # Without the wards' areas, growth spreads by people alone: worse than no growth at wards.
    inputs = hcmc[1]
    landless = replace(inputs, wards=[replace(w, area_m2=None) for w in inputs.wards])
    errors = {r.method: r for r in run_backtest(landless, 2017, 2019).results}
    assert errors["cohort-trend"].ward_mape > errors["no-growth"].ward_mape


@pytest.mark.parametrize(("fitted_on", "scored_on"), [(2014, 2017), (2017, 2014)])
def test_intervals_fitted_on_one_base_year_hold_on_the_other(
    hcmc: tuple[Connection, ForecastInputs], fitted_on: int, scored_on: int
) -> None:
    checked = check_intervals(hcmc[1], fitted_on, scored_on, 2019)
    assert checked.wards == 322
    assert 0.45 <= checked.coverage_50 <= 0.55
    assert 0.75 <= checked.coverage_80 <= 0.85


def test_the_default_interval_is_the_one_fitted_on_the_city(
    hcmc: tuple[Connection, ForecastInputs],
) -> None:
    fitted = fit_backtest_interval(hcmc[1], [2014, 2017], 2019)
    assert fitted.horizon_years == HCMC_INTERVAL.horizon_years == 10
    assert astuple(fitted) == pytest.approx(astuple(HCMC_INTERVAL), abs=1e-4)


def test_grade_1_forecast_for_2026(hcmc: tuple[Connection, ForecastInputs]) -> None:
    forecast = run_forecast(hcmc[1], [2026], [1])
    mid, low, high = forecast.total(1, 2026)
    assert mid == pytest.approx(124_802, abs=1)
    assert low < mid < high
    # Every unit's figure within its 50 % interval, within its 80 % one.
    for row in forecast.rows:
        assert row.low <= row.low_50 <= row.children <= row.high_50 <= row.high  # type: ignore[operator]
    largest = max(forecast.rows, key=lambda r: r.children)
    assert (largest.ward_name, largest.district_name) == ("Vinh Loc A", "Binh Chanh")
    assert largest.classes_needed == 69
    assert forecast.statement()["inputs"]["district_series_years"][-1] == 2019


def test_children_of_one_cohort_add_up_to_the_city_cohort(
    hcmc: tuple[Connection, ForecastInputs],
) -> None:
    # Grade 6 in 2019 is the cohort born in 2008: 3/4 of age 10 and 1/4 of age 11 at the
    # census, a sixth of the way through the year to September, so nearly that cohort.
    inputs = hcmc[1]
    ten_to_fourteen = sum(
        pop for d in inputs.districts.values() for low, _, pop in d.age_groups[2019] if low == 10
    )
    forecast = run_forecast(inputs, [2019], [6])
    mid, _, _ = forecast.total(6, 2019)
    assert mid == pytest.approx(ten_to_fourteen / 5, rel=0.02)
