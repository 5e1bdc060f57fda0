"""The planning commands: `schoolmap forecast|gap|site|scenario`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gis_service.config import Settings
from gis_service.db.connection import Connection, transaction
from gis_service.importers.report import print_progress

if TYPE_CHECKING:
    from gis_service.planning.gap import GapSettings, NewSite
    from gis_service.routing.service import RoutingService

forecast_app = typer.Typer(
    help="Grade-1 and grade-6 demand by ward or commune: forecast, backtest, yearly series.",
    no_args_is_help=True,
)
EDITION_HELP = "unit edition: 2019 (census wards by district) or 2025 (default: the current one)"
UNIT_HELP = "codes of communes/wards of the edition (default all)"
scenario_app = typer.Typer(help="Planning scenarios: save, list, compare.", no_args_is_help=True)


def _label(row: dict[str, Any]) -> str:
    """A unit as a person reads it: 'District / ward' (2019) or 'Phường X (province)'."""
    if row.get("district_name"):
        return f"{row['district_name']} / {row['unit_label']}"
    province = row.get("province_name")
    return f"{row['unit_label']} ({province})" if province else str(row["unit_label"])


def _print_coverage(rows: list[dict[str, Any]]) -> None:
    """Units whose children do not rest on full census figures, by what they rest on."""
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["figures"] != "census":
            seen.setdefault(row["figures"], {})[_label(row)] = row["note"]
    titles = {
        "none": "units without census figures / đơn vị không có số liệu điều tra",
        "reported": "units counted from their own report / đơn vị dùng số trẻ tự báo cáo",
        "census_partial": "units the census covers in part / đơn vị chỉ có số liệu một phần",
    }
    for figures, title in titles.items():
        units = seen.get(figures, {})
        if units:
            typer.echo(f"{title}: {len(units)}")
            for label, note in units.items():
                typer.echo(f"  {label}: {note}")


def _open() -> Connection:
    from gis_service.cli import open_database

    return open_database(Settings())


def _years(text: str) -> list[int]:
    """'2026' or '2026-2030' or '2026,2028' as a list of years."""
    years: list[int] = []
    for part in text.split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            years += range(int(first), int(last) + 1)
        elif part.strip():
            years.append(int(part))
    if not years:
        raise typer.BadParameter(f"no years in {text!r}")
    return years


@forecast_app.command("run")
def forecast_run(
    years: Annotated[str, typer.Option(help="school years (first calendar year): 2026-2030")],
    grade: Annotated[list[int] | None, typer.Option(help="1 and/or 6 (default both)")] = None,
    district: Annotated[list[str] | None, typer.Option(help="district codes (default all)")] = None,
    base_year: Annotated[int | None, typer.Option(help="default: the census year")] = None,
    csv: Annotated[Path | None, typer.Option(help="write every ward row to this CSV")] = None,
    wards: Annotated[bool, typer.Option(help="print every ward, not only totals")] = False,
    edition: Annotated[str | None, typer.Option(help=EDITION_HELP)] = None,
    unit: Annotated[list[str] | None, typer.Option(help=UNIT_HELP)] = None,
) -> None:
    """Children entering grade 1 and grade 6 per ward and school year, with 50 % and 80 %
    prediction intervals."""
    from gis_service.planning.forecast import run_forecast
    from gis_service.planning.inputs import load_inputs

    conn = _open()
    try:
        inputs = load_inputs(conn, district, edition, unit)
        forecast = run_forecast(inputs, _years(years), grade, None, base_year)
    finally:
        conn.close()
    statement = forecast.statement()
    typer.echo(f"units of edition {forecast.edition}")
    typer.echo(f"base year {forecast.base_year}, census {forecast.census_year}")
    typer.echo(f"inputs: {json.dumps(statement['inputs'], ensure_ascii=False)}")
    typer.echo(f"method: {statement['method']}")
    typer.echo(f"parameters: {json.dumps(statement['parameters'])}")
    typer.echo(
        f"{'grade':>5} {'year':>9} {'children':>10} {'low 80%':>10} {'high 80%':>10} {'classes':>8}"
    )
    for g in forecast.grades:
        for year in forecast.years:
            mid, low, high = forecast.total(g, year)
            classes = sum(r.classes_needed or 0 for r in forecast.unit_rows(g, year))
            typer.echo(
                f"{g:>5} {year}-{year + 1} {mid:>10,.0f} {low:>10,.0f} {high:>10,.0f} {classes:>8}"
            )
    rows = [r.as_dict() for r in forecast.rows]
    _print_coverage(rows)
    if wards:
        for d in rows:
            head = f"  {_label(d)} grade {d['grade']} {d['school_year']}: "
            if d["children"] is None:
                typer.echo(head + str(d["note"]))
                continue
            note = f" [{d['note']}]" if d["note"] else ""
            typer.echo(
                head + f"{d['children']} (50 %: {d['low_50']}-{d['high_50']}, 80 %: "
                f"{d['low']}-{d['high']}), "
                f"{d['classes_needed']} classes{note}"
            )
    if csv:
        _write_forecast_csv(csv, [r.as_dict() for r in forecast.rows])
        typer.echo(f"wrote {len(forecast.rows)} rows to {csv}")


def _write_forecast_csv(path: Path, rows: list[dict[str, object]]) -> None:
    """Ward rows as a CSV a spreadsheet opens as it is (UTF-8 with BOM, no formula cells)."""
    from gis_service.safe_text import SpreadsheetSafeWriter

    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = SpreadsheetSafeWriter(handle)
        if rows:
            writer.writerow(rows[0].keys())
        writer.writerows(row.values() for row in rows)


@forecast_app.command("backtest")
def forecast_backtest(
    base_year: Annotated[int, typer.Option(help="forecast from this year's knowledge only")],
    target_year: Annotated[int, typer.Option(help="a later year with ward counts")],
    district: Annotated[list[str] | None, typer.Option(help="district codes (default all)")] = None,
) -> None:
    """Score the population trend from an earlier base year against a later count (MAPE), on
    the 2019 census units the counts were taken on."""
    from gis_service.planning.backtest import run_backtest
    from gis_service.planning.inputs import load_inputs
    from gis_service.units.editions import EDITION_2019

    conn = _open()
    try:
        result = run_backtest(load_inputs(conn, district, EDITION_2019), base_year, target_year)
    finally:
        conn.close()
    for line in result.table():
        typer.echo(line)


@forecast_app.command("import-series")
def forecast_import_series(
    path: Annotated[Path, typer.Argument(help="CSV, Shapefile, GeoJSON or GeoPackage")],
    code_field: Annotated[str, typer.Option(help="column with the unit's GSO code")],
    level: Annotated[str, typer.Option(help="district, ward or province")] = "district",
    prefix: Annotated[str, typer.Option(help="population columns: prefix + year")] = "Pop_",
    edition: Annotated[
        str, typer.Option(help="edition of the units the codes name (default: 2019 census)")
    ] = "2019",
) -> None:
    """A yearly population series (e.g. Pop_2009 … Pop_2017) for loaded units."""
    from gis_service.planning.series import import_series

    conn = _open()
    try:
        with transaction(conn):
            report = import_series(
                conn,
                path,
                level=level,
                code_field=code_field,
                prefix=prefix,
                progress=print_progress,
                edition=edition,
            )
    finally:
        conn.close()
    for line in report.lines():
        typer.echo(line)


def _routing() -> RoutingService:
    from gis_service.routing.service import RoutingService

    return RoutingService(Settings().database.home)


def gap_command(
    grade: Annotated[int, typer.Option(help="1 or 6")],
    year: Annotated[int, typer.Option(help="school year (first calendar year), e.g. 2026")],
    district: Annotated[list[str] | None, typer.Option(help="district codes (default all)")] = None,
    mode: Annotated[str, typer.Option(help="walk, motorbike or car")] = "motorbike",
    norm_m: Annotated[float | None, typer.Option(help="distance norm (default 4000/7000)")] = None,
    class_size: Annotated[int | None, typer.Option(help="default: the legal size")] = None,
    assume_classes: Annotated[
        int | None, typer.Option(help="classes of the grade at schools with no registry figure")
    ] = None,
    per_ward: Annotated[int, typer.Option(help="demand points per ward")] = 5,
    top: Annotated[int, typer.Option(help="wards and schools listed, shortest first")] = 15,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result")] = None,
    edition: Annotated[str | None, typer.Option(help=EDITION_HELP)] = None,
    unit: Annotated[list[str] | None, typer.Option(help=UNIT_HELP)] = None,
    per_unit: Annotated[
        bool,
        typer.Option(
            help="each unit's forecast and gap on its own, as its planners see it (computed "
            "side by side: local processes, or the Dask cluster of SCHOOLMAP_DASK_SCHEDULER)"
        ),
    ] = False,
) -> None:
    """Forecast children placed in schools by road distance: classes short, over size, far."""
    from gis_service.planning.gap import GapSettings, compute_gap

    settings = GapSettings(
        grade,
        year,
        mode,
        norm_m,
        class_size,
        per_ward,
        assume_classes=assume_classes,
        district_codes=district,
        edition=edition,
        unit_codes=unit,
    )
    if per_unit:
        _gap_per_unit(settings, json_out)
        return
    conn = _open()
    try:
        result = compute_gap(conn, _routing(), settings)
    finally:
        conn.close()
    typer.echo(f"units of edition {result.statement['edition']}")
    typer.echo(result.statement["method"])
    for key, value in result.metrics.items():
        typer.echo(f"  {key}: {value:,}")
    typer.echo(f"wards with the most children over the legal class size (top {top}):")
    head = "district / ward" if result.statement["edition"] == "2019" else "ward (province)"
    typer.echo(
        f"  {head:<40}{'children':>9}{'classes':>8}{'in ward':>8}"
        f"{'over size':>10}{'short':>6}{'beyond norm':>12}{'mean m':>8}"
    )
    counted = [w for w in result.wards if w["children"] is not None]
    ranked = sorted(counted, key=lambda w: (-w["children_over_size"], -w["children_beyond_norm"]))
    for w in ranked[:top]:
        label = _label(w)[:39]
        typer.echo(
            f"  {label:<40}{w['children']:>9,}{w['classes_needed']:>8}{w['classes_in_ward']:>8}"
            f"{w['children_over_size']:>10,}{w['classes_short']:>6}"
            f"{w['children_beyond_norm']:>12,}{w['mean_m'] or 0:>8,.0f}"
        )
    typer.echo(f"schools most short of classes (top {top}):")
    for s in sorted(result.schools, key=lambda s: -s["classes_short"])[:top]:
        assumed = " (classes assumed)" if s["classes_assumed"] else ""
        typer.echo(
            f"  {s['name'][:50]:<51}{s['classes']:>4} classes, {s['children']:>6,} children, "
            f"{s['classes_short']:>3} short, {s['classes_over_size']:>3} over size{assumed}"
        )
    _print_coverage(result.wards)
    if json_out:
        payload = {
            "statement": result.statement,
            "metrics": result.metrics,
            "wards": result.wards,
            "schools": result.schools,
        }
        json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=1))
        typer.echo(f"wrote {json_out}")


def _gap_per_unit(settings: GapSettings, json_out: Path | None) -> None:
    """`gap --per-unit`: every unit's gap on its own, one line each; exit 1 if any failed."""
    from gis_service.planning.unit_batch import compute_unit_gaps

    conn = _open()
    try:
        batch = compute_unit_gaps(conn, _routing(), settings, progress=print_progress)
    finally:
        conn.close()
    typer.echo(
        f"{len(batch.gaps)} unit(s), each on its own"
        + (f"; {len(batch.failed)} failed" if batch.failed else "")
    )
    typer.echo(
        f"  {'unit':<40}{'children':>9}{'classes':>8}{'available':>10}{'short':>6}"
        f"{'over size':>10}{'beyond norm':>12}"
    )
    for done in batch.gaps:
        m = done.gap.metrics
        counted = [w for w in done.gap.wards if w["children"] is not None]
        label = (_label(counted[0]) if counted else done.code)[:39]
        typer.echo(
            f"  {label:<40}{m['children']:>9,}{m['classes_needed']:>8}"
            f"{m['classes_available']:>10}{m['classes_short']:>6}{m['children_over_size']:>10,}"
            f"{m['children_beyond_norm']:>12,}"
        )
    for failure in batch.failed:
        typer.echo(f"  FAILED {failure.message}", err=True)
    if json_out:
        payload = {
            "units": [
                {
                    "unit": done.code,
                    "statement": done.gap.statement,
                    "metrics": done.gap.metrics,
                    "wards": done.gap.wards,
                    "schools": done.gap.schools,
                }
                for done in batch.gaps
            ],
            "failed": [{"unit": f.code, "error": str(f.error)} for f in batch.failed],
        }
        json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=1))
        typer.echo(f"wrote {json_out}")
    if batch.failed:
        raise typer.Exit(1)


def site_command(
    grade: Annotated[int, typer.Option(help="1 or 6")],
    year: Annotated[int, typer.Option(help="school year (first calendar year)")],
    k: Annotated[int, typer.Option(help="how many sites to choose")] = 1,
    candidates: Annotated[str, typer.Option(help="wards, grid, file or schools")] = "wards",
    parcels: Annotated[Path | None, typer.Option(help="CSV (lon,lat,name) or GeoJSON")] = None,
    spacing_m: Annotated[float, typer.Option(help="grid spacing")] = 1500.0,
    classes: Annotated[int, typer.Option(help="classes of the grade per site (or added)")] = 5,
    minutes: Annotated[float, typer.Option(help="travel-time threshold")] = 15.0,
    objective: Annotated[str, typer.Option(help="coverage or travel")] = "coverage",
    district: Annotated[list[str] | None, typer.Option(help="district codes (default all)")] = None,
    mode: Annotated[str, typer.Option(help="walk, motorbike or car")] = "motorbike",
    assume_classes: Annotated[
        int | None, typer.Option(help="classes of the grade at schools with no registry figure")
    ] = None,
    per_ward: Annotated[int, typer.Option(help="demand points per ward")] = 3,
    time_limit: Annotated[float, typer.Option(help="solver seconds")] = 60.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result")] = None,
    edition: Annotated[str | None, typer.Option(help=EDITION_HELP)] = None,
    unit: Annotated[list[str] | None, typer.Option(help=UNIT_HELP)] = None,
) -> None:
    """Choose k new schools (or schools gaining classes) serving the most children in reach."""
    from gis_service.planning.gap import GapSettings
    from gis_service.planning.siting import site_schools

    settings = GapSettings(
        grade,
        year,
        mode,
        None,
        None,
        per_ward,
        assume_classes=assume_classes,
        district_codes=district,
        edition=edition,
        unit_codes=unit,
    )
    conn = _open()
    try:
        result = site_schools(
            conn,
            _routing(),
            settings,
            kind=candidates,
            k=k,
            classes=classes,
            minutes=minutes,
            objective=objective,
            spacing_m=spacing_m,
            parcels=parcels,
            time_limit_s=time_limit,
        )
    finally:
        conn.close()
    typer.echo(f"units of edition {result['edition']}")
    typer.echo(result["method"])
    typer.echo(
        f"children {result['children']:,}; within {minutes:g} min: "
        f"{result['served_within_before']:,} now, {result['served_within_after']:,} with the "
        f"sites ({'optimal' if result['optimal'] else 'best found in the time limit'})"
    )
    for site in result["sites"]:
        wards = ", ".join(f"{w['unit_label']} {w['children']}" for w in site["wards"][:5])
        typer.echo(
            f"  {site['name']} ({site['lat']:.5f}, {site['lon']:.5f}): serves "
            f"{site['children_served']:,} children, mean {site['mean_min']} min; {wards}"
        )
    left = result["gap_left"]
    typer.echo(
        f"children still not served within {minutes:g} min: "
        f"{sum(w['children_not_served'] for w in left):,}"
    )
    for w in left[:10]:
        typer.echo(f"  {w['unit_label']}: {w['children_not_served']:,}")
    missing = result["units_without_figures"]
    if missing:
        typer.echo(f"units left out, without figures / đơn vị không có số liệu: {len(missing)}")
        for w in missing:
            typer.echo(f"  {w['unit_label']}: {w['note']}")
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
        typer.echo(f"wrote {json_out}")


def _pairs(items: list[str] | None) -> dict[int, int]:
    added: dict[int, int] = {}
    for item in items or []:
        school, _, count = item.partition("=")
        try:
            added[int(school)] = int(count)
        except ValueError:
            raise typer.BadParameter(f"{item!r}: write SCHOOL_ID=CLASSES, e.g. 12=2") from None
    return added


def _sites(items: list[str] | None) -> list[NewSite]:
    from gis_service.planning.gap import NewSite

    sites = []
    for item in items or []:
        parts = [p.strip() for p in item.split(",")]
        try:
            name, lon, lat, classes = parts[0], float(parts[1]), float(parts[2]), int(parts[3])
        except (IndexError, ValueError):
            raise typer.BadParameter(
                f"{item!r}: write NAME,LON,LAT,CLASSES, e.g. 'Trường mới,106.70,10.78,5'"
            ) from None
        sites.append(NewSite(name, lon, lat, classes))
    return sites


@scenario_app.command("save")
def scenario_save(
    name: Annotated[str, typer.Option(help="a name planners recognise")],
    grade: Annotated[int, typer.Option(help="1 or 6")],
    year: Annotated[int, typer.Option(help="school year (first calendar year)")],
    add_classes: Annotated[
        list[str] | None, typer.Option(help="SCHOOL_ID=CLASSES added (repeatable)")
    ] = None,
    site: Annotated[
        list[str] | None, typer.Option(help="NAME,LON,LAT,CLASSES (repeatable)")
    ] = None,
    class_size: Annotated[int | None, typer.Option(help="changed class-size limit")] = None,
    norm_m: Annotated[float | None, typer.Option(help="changed distance norm")] = None,
    mode: Annotated[str | None, typer.Option(help="walk, motorbike or car")] = None,
    assume_classes: Annotated[
        int | None, typer.Option(help="classes at schools with no registry figure")
    ] = None,
    district: Annotated[list[str] | None, typer.Option(help="district codes (default all)")] = None,
    edition: Annotated[str | None, typer.Option(help=EDITION_HELP)] = None,
) -> None:
    """Save a scenario: forecast year, added classes, new sites, changed limits."""
    from gis_service.planning.scenarios import Scenario, save_scenario

    limits = {
        key: value
        for key, value in (
            ("class_size", class_size),
            ("norm_m", norm_m),
            ("mode", mode),
            ("assume_classes", assume_classes),
        )
        if value is not None
    }
    scenario = Scenario(
        name,
        grade,
        year,
        district or [],
        _pairs(add_classes),
        _sites(site),
        limits,
        edition=edition,
    )
    conn = _open()
    try:
        with transaction(conn):
            scenario_id = save_scenario(conn, scenario, actor="cli")
    finally:
        conn.close()
    typer.echo(f"scenario {scenario_id}: {name} (units of edition {scenario.edition})")


@scenario_app.command("list")
def scenario_list() -> None:
    """Saved scenarios with their last figures."""
    from gis_service.planning.scenarios import list_scenarios

    conn = _open()
    try:
        for s in list_scenarios(conn):
            metrics = s["metrics"] or {}
            typer.echo(
                f"{s['id']:>4}  {s['name']}  grade {s['grade']} {s['school_year']}  "
                f"+classes {s['added_classes']}  sites {len(s['new_sites'])}  limits "
                f"{s['limits']}  classes short {metrics.get('classes_short', '-')}"
            )
    finally:
        conn.close()


@scenario_app.command("compare")
def scenario_compare(
    scenario_ids: Annotated[list[int], typer.Argument(help="scenario ids")],
) -> None:
    """Scenarios side by side: classes short, mean / p90 distance, children beyond the norm."""
    from gis_service.planning.scenarios import compare_scenarios

    conn = _open()
    try:
        with transaction(conn):
            table = compare_scenarios(conn, _routing(), scenario_ids)
    finally:
        conn.close()
    width = 16
    header = "".join(
        f"{str(s['id']) + ' ' + s['name']:>{width}.{width - 1}}" for s in table["scenarios"]
    )
    typer.echo(f"{'':<52}{header}")
    for row in table["rows"]:
        values = "".join(f"{v:>{width},}" for v in row["values"])
        typer.echo(f"{row['label']:<52}{values}")


def zones_command(
    grade: Annotated[int, typer.Option(help="1 or 6")],
    year: Annotated[int, typer.Option(help="school year (first calendar year)")],
    mode: Annotated[str, typer.Option(help="walk, motorbike or car")] = "motorbike",
    edition: Annotated[str | None, typer.Option(help=EDITION_HELP)] = None,
    publish: Annotated[
        bool, typer.Option(help="make them the public zones of the grade at once")
    ] = False,
    geojson: Annotated[Path | None, typer.Option(help="write the zones as GeoJSON")] = None,
) -> None:
    """Each school's expected admission distance for a coming school year, with its interval,
    and its zone of homes: the forecast children admitted by road distance under its seats."""
    import time

    from gis_service.planning.zones import (
        SHRINKS_BELOW_UNIT,
        ZoneSettings,
        make_zones,
        zones_geojson,
    )

    started = time.perf_counter()
    conn = _open()
    try:
        with transaction(conn):
            run_id = make_zones(
                conn, _routing(), ZoneSettings(grade, year, mode, edition), publish=publish
            )
            made = zones_geojson(conn, run_id)
    finally:
        conn.close()
    schools = [f["properties"] for f in made["features"]]
    full = [p for p in schools if p["full"]]
    cutoffs = sorted(p["cutoff_m"] for p in full)
    statement = made["statement"]
    typer.echo(
        f"zone run {run_id} ({'published' if publish else 'not published'}): grade "
        f"{grade}, {made['school_year']}, units of edition {made['edition']}, {mode}"
    )
    typer.echo(statement["method_en"])
    typer.echo(
        f"{statement['children']:,} children at {statement['homes']:,} homes, "
        f"{statement['unplaced']:,} without a seat ({statement['no_road']:,} of them with no road "
        f"to any school); {len(schools)} schools, {len(full)} full"
        + (
            f", admission distance median {cutoffs[len(cutoffs) // 2]:,.0f} m (from "
            f"{cutoffs[0]:,.0f} to {cutoffs[-1]:,.0f} m)"
            if cutoffs
            else ""
        )
    )
    short = [p for p in schools if p["shrinks_below_unit"]]
    typer.echo(
        f"{len(short)} schools whose zone holds less than {SHRINKS_BELOW_UNIT:.0%} of their own "
        "unit:"
    )
    for p in sorted(short, key=lambda p: p["unit_share"])[:20]:
        high = "-" if p["cutoff_high_m"] is None else f"{p['cutoff_high_m']:,.0f}"
        typer.echo(
            f"  {p['name']} ({p['unit_name']}): {p['unit_share']:.0%} of it, admits to "
            f"{p['cutoff_m']:,.0f} m ({p['cutoff_low_m']:,.0f} to {high} m)"
        )
    if geojson:
        geojson.write_text(json.dumps(made, ensure_ascii=False, default=str), encoding="utf-8")
        typer.echo(f"wrote {geojson}")
    typer.echo(f"{time.perf_counter() - started:.1f} s")
