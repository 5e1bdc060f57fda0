"""Forecasts and capacity gaps of many units, each unit on its own as its planners see it,
computed as pieces of the configured executor (local processes, or a Dask cluster)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from gis_service.db.connection import Connection
from gis_service.errors import SchoolmapError
from gis_service.executor import Executor, Outcome, catching, configured_executor
from gis_service.importers.report import ProgressCallback, no_progress
from gis_service.planning.forecast import Forecast, run_forecast
from gis_service.planning.gap import GapInputs, GapResult, GapSettings, gap_figures, read_gap_inputs
from gis_service.planning.inputs import ForecastInputs, load_inputs
from gis_service.routing.service import RoutingService
from gis_service.units.editions import edition_or_current


@dataclass(frozen=True)
class UnitFailure:
    """A unit whose forecast or gap could not be made, and why."""

    code: str
    error: Exception

    @property
    def message(self) -> str:
        return f"đơn vị / unit {self.code}: {self.error}"


@dataclass
class UnitGap:
    """One unit's forecast and gap, computed as if it were asked for alone."""

    code: str
    forecast: Forecast
    gap: GapResult


@dataclass
class UnitBatch:
    """The units done, in the order asked, and the units that failed, each with its error."""

    gaps: list[UnitGap]
    failed: list[UnitFailure]


@dataclass(frozen=True)
class _ForecastJob:
    inputs: ForecastInputs
    years: list[int]
    grades: list[int]


def _forecast_piece(_shared: None, job: _ForecastJob) -> Forecast:
    return run_forecast(job.inputs, job.years, job.grades)


def _gap_piece(_shared: None, inputs: GapInputs) -> GapResult:
    return gap_figures(inputs)


def unit_codes(conn: Connection, edition: str | None = None) -> list[str]:
    """Codes of every commune-level unit of the edition (the current one by default)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT code FROM admin_units WHERE edition = %s AND level = 'ward' ORDER BY code",
            (edition_or_current(conn, edition),),
        )
        return [str(row[0]) for row in cur.fetchall()]


def forecast_units(
    conn: Connection,
    codes: list[str],
    years: list[int],
    grades: list[int],
    *,
    edition: str | None = None,
    executor: Executor | None = None,
    progress: ProgressCallback = no_progress,
) -> tuple[dict[str, Forecast], list[UnitFailure]]:
    """Each unit's forecast on its own (`schoolmap forecast run --unit CODE`), the units'
    figures read here and their forecasts made as pieces of `executor` (default: the
    configured one). A unit that fails is named in the failures; the others still count."""
    jobs: list[tuple[str, _ForecastJob]] = []
    failed: list[UnitFailure] = []
    for code in dict.fromkeys(codes):
        try:
            inputs = load_inputs(conn, None, edition, [code])
        except SchoolmapError as error:
            failed.append(UnitFailure(code, error))
            progress(f"  {failed[-1].message}")
            continue
        jobs.append((code, _ForecastJob(inputs, years, grades)))
    progress(f"dự báo / forecasting: {len(jobs)} đơn vị / units")
    runner = executor or configured_executor()
    made: dict[str, Forecast] = {}
    outcomes = runner.map_blocks(
        partial(catching, _forecast_piece), [job for _, job in jobs], shared=None
    )
    for k, ((code, _), outcome) in enumerate(zip(jobs, outcomes, strict=True), 1):
        if _failed(code, outcome, failed, progress):
            continue
        assert outcome.value is not None
        made[code] = outcome.value
        progress(f"  [{k}/{len(jobs)}] {code}")
    return made, failed


def compute_unit_gaps(
    conn: Connection,
    routing: RoutingService,
    settings: GapSettings,
    codes: list[str] | None = None,
    *,
    executor: Executor | None = None,
    progress: ProgressCallback = no_progress,
) -> UnitBatch:
    """The gap of each unit (default: every unit of the settings' edition) computed on its own,
    as `compute_gap` with that one unit gives it: its forecast, its children placed in the
    schools by road distance.

    Forecasts and placements are pieces of `executor` (default: the configured one); what
    they read is read here. A unit that fails is named in `failed`; the others still count.
    """
    # A unit named twice is computed once.
    chosen = list(dict.fromkeys(codes or settings.unit_codes or unit_codes(conn, settings.edition)))
    forecasts, failed = forecast_units(
        conn,
        chosen,
        [settings.school_year],
        [settings.grade],
        edition=settings.edition,
        executor=executor,
        progress=progress,
    )
    jobs: list[tuple[str, GapInputs]] = []
    for code in chosen:
        if code not in forecasts:
            continue
        mine = replace(settings, unit_codes=[code], district_codes=None)
        try:
            jobs.append((code, read_gap_inputs(conn, routing, mine, forecasts[code])))
        except SchoolmapError as error:
            failed.append(UnitFailure(code, error))
            progress(f"  {failed[-1].message}")
    progress(f"khoảng thiếu / gaps: {len(jobs)} đơn vị / units")
    runner = executor or configured_executor()
    outcomes = runner.map_blocks(partial(catching, _gap_piece), [j for _, j in jobs], shared=None)
    done: dict[str, UnitGap] = {}
    for k, ((code, _), outcome) in enumerate(zip(jobs, outcomes, strict=True), 1):
        if _failed(code, outcome, failed, progress):
            continue
        assert outcome.value is not None
        done[code] = UnitGap(code, forecasts[code], outcome.value)
        progress(f"  [{k}/{len(jobs)}] {code}")
    order = {code: i for i, code in enumerate(chosen)}
    return UnitBatch(
        [done[c] for c in chosen if c in done], sorted(failed, key=lambda f: order[f.code])
    )


def _failed(
    code: str, outcome: Outcome[Any], failed: list[UnitFailure], progress: ProgressCallback
) -> bool:
    """Whether a unit's piece failed; if so it is named in `failed` and said."""
    if outcome.error is None and outcome.value is not None:
        return False
    failed.append(UnitFailure(code, outcome.error or RuntimeError("no result")))
    progress(f"  {failed[-1].message}")
    return True
