"""The forecast's backtest on Ho Chi Minh City: the method against the naive baselines, and
its prediction intervals scored out of sample.

Run: .venv/bin/python benchmarks/forecast_backtest.py [--database schoolmap_bench_backtest]
It recreates its own database on the local server and loads the reference data beside the
project (../shared/data, or SCHOOLMAP_SHARED_DATA): the 2019 census wards with their 2009 and
2019 counts, the census age groups per district and the yearly district series 2009-2017.

For base years 2014 and 2017 every ward's 2019 census count is forecast from what was known
then (its 2009 count, the district series up to the base year) by the method and by two naive
baselines (no growth; a straight line through the district series). The table gives ward
MAPE, ward median APE and district MAPE. The prediction intervals are fitted on one base
year's errors and scored on the other's (out of sample): the share of wards whose count falls
in the 50 % and in the 80 % interval. A second table shows the method with the wards' land
left out (growth spread by people alone), the method before this one.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.crosswalk_accuracy import AGES, WARDS_2019  # noqa: E402
from benchmarks.officer_path import fresh_database  # noqa: E402
from gis_service.db.connection import connect  # noqa: E402
from gis_service.db.migrate import upgrade  # noqa: E402
from gis_service.importers.population import PopulationFields, import_population  # noqa: E402
from gis_service.importers.report import no_progress  # noqa: E402
from gis_service.importers.wards import import_wards  # noqa: E402
from gis_service.planning.backtest import (  # noqa: E402
    check_intervals,
    fit_backtest_interval,
    run_backtest,
)
from gis_service.planning.inputs import ForecastInputs, load_inputs  # noqa: E402
from gis_service.planning.method import HCMC_INTERVAL  # noqa: E402
from gis_service.planning.series import import_series  # noqa: E402
from tests.hcmc_data import HCMC_WARD_FIELDS  # noqa: E402

DISTRICTS = WARDS_2019.with_name("Population_District_Level.shp")
BASE_YEARS = (2014, 2017)
TARGET = 2019


def load(url: str) -> ForecastInputs:
    conn = connect(url)
    try:
        upgrade(conn)
        import_wards(conn, WARDS_2019, HCMC_WARD_FIELDS, no_progress)
        ages = PopulationFields(name="district", province="province", year=2019)
        import_population(conn, AGES, ages, no_progress)
        import_series(conn, DISTRICTS, level="district", code_field="Dist_ID")
        conn.commit()
        return load_inputs(conn)
    finally:
        conn.close()


def table(inputs: ForecastInputs, title: str) -> None:
    print(f"\n{title}")
    print(
        f"{'base':>5} {'method':<14}{'ward MAPE':>10}{'median APE':>12}{'district MAPE':>15}"
        f"{'50 % holds':>12}{'80 % holds':>12}"
    )
    for base in BASE_YEARS:
        other = next(b for b in BASE_YEARS if b != base)
        checked = check_intervals(inputs, other, base, TARGET)
        for r in run_backtest(inputs, base, TARGET).results:
            covered = (
                f"{checked.coverage_50:>12.1%}{checked.coverage_80:>12.1%}"
                if r.method == "cohort-trend"
                else f"{'-':>12}{'-':>12}"
            )
            print(
                f"{base:>5} {r.method:<14}{r.ward_mape:>10.1%}{r.ward_median_ape:>12.1%}"
                f"{r.district_mape:>15.1%}{covered}"
            )
    print("(intervals of each base year fitted on the other base year's errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="schoolmap_bench_backtest")
    args = parser.parse_args()
    started = time.perf_counter()
    inputs = load(fresh_database(args.database))
    print(
        f"{len(inputs.wards)} wards, {len(inputs.districts)} districts; ward counts "
        f"{inputs.ward_years()}, district series {inputs.series_years()} "
        f"(loaded in {time.perf_counter() - started:.1f} s)"
    )
    table(inputs, f"Ward population {TARGET}: the method against the naive baselines")
    landless = replace(inputs, wards=[replace(w, area_m2=None) for w in inputs.wards])
    table(landless, "The same with the wards' land left out (growth spread by people alone)")
    fitted = fit_backtest_interval(inputs, list(BASE_YEARS), TARGET)
    print(
        f"\nintervals from both base years ({fitted.horizon_years:.0f} years after the last "
        f"count), log(actual / forecast): 80 % [{fitted.lower_80:+.4f}, {fitted.upper_80:+.4f}]"
        f", 50 % [{fitted.lower_50:+.4f}, {fitted.upper_50:+.4f}]; the service's default "
        f"HCMC_INTERVAL: 80 % [{HCMC_INTERVAL.lower_80:+.4f}, {HCMC_INTERVAL.upper_80:+.4f}], "
        f"50 % [{HCMC_INTERVAL.lower_50:+.4f}, {HCMC_INTERVAL.upper_50:+.4f}]"
    )
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
