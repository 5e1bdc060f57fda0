"""The `schoolmap` command line: database, importers, demo city and the HTTP service."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import psycopg2
import psycopg2.extensions
import typer

from gis_service import __version__
from gis_service.admissions.review_cli import (
    amend_command,
    changes_command,
    estimated_command,
    notice_command,
    residence_command,
    review_until_command,
)
from gis_service.auth.cli import user_app
from gis_service.config import Settings
from gis_service.db.connection import (
    Connection,
    connect,
    first_line,
    mask_password,
    transaction,
)
from gis_service.db.local_server import ensure_database, resolve_database_url
from gis_service.db.migrate import pending_migrations, require_current_schema, upgrade
from gis_service.errors import InvalidRequestError, NotFoundError, SchoolmapError
from gis_service.importers.report import ImportReport, print_progress
from gis_service.planning.cli import (
    forecast_app,
    gap_command,
    scenario_app,
    site_command,
    zones_command,
)
from gis_service.units.cli import units_app

if TYPE_CHECKING:
    from gis_service.open_data import Table

app = typer.Typer(
    help="School map and admissions allocation on PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
open_data_app = typer.Typer(
    help="Open data: schools and units as CSV (Excel) or GeoPackage (QGIS).", no_args_is_help=True
)


def _show_version(asked: bool) -> None:
    if asked:
        typer.echo(f"schoolmap {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="print the version and stop"
        ),
    ] = False,
) -> None:
    """School map and admissions allocation on PostGIS."""


import_app = typer.Typer(
    help="Load real data: OSM, wards, population, school registry.", no_args_is_help=True
)
network_app = typer.Typer(help="Road networks per travel mode.", no_args_is_help=True)
round_app = typer.Typer(help="Admission rounds: create, import applicants.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(network_app, name="network")
app.add_typer(round_app, name="round")
app.add_typer(user_app, name="user")
app.add_typer(forecast_app, name="forecast")
app.add_typer(scenario_app, name="scenario")
app.add_typer(units_app, name="units")
app.add_typer(open_data_app, name="open-data")
app.command("gap")(gap_command)
round_app.command("residence")(residence_command)
round_app.command("review-until")(review_until_command)
round_app.command("notice")(notice_command)
round_app.command("amend")(amend_command)
round_app.command("estimated")(estimated_command)
round_app.command("changes")(changes_command)
app.command("site")(site_command)
app.command("zones")(zones_command)


def database_url(settings: Settings) -> str:
    """The database to use (found or started when DATABASE_URL is unset), created if missing."""
    url = resolve_database_url(settings.database, progress=print_progress)
    ensure_database(url, progress=print_progress)
    return url


def open_database(settings: Settings, *, migrate: bool = False) -> Connection:
    """A connection to a database whose schema is current (migrating it when asked)."""
    url = database_url(settings)
    conn = connect(url)
    if migrate:
        for migration in upgrade(conn):
            print_progress(f"applied migration {migration.version:04d}_{migration.name}")
    else:
        require_current_schema(conn)
    return conn


def run_import(work: Callable[[Connection], ImportReport]) -> ImportReport:
    """Run one import in one transaction and print its report."""
    conn = open_database(Settings())
    try:
        # End the schema check's read, so the import's transaction starts with its own first
        # statement (an importer checks its file before that, with no transaction open).
        conn.rollback()
        with transaction(conn):
            report = work(conn)
    finally:
        conn.close()
    for line in report.lines():
        typer.echo(line)
    return report


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    settings = Settings()
    url = database_url(settings)
    conn = connect(url)
    try:
        applied = upgrade(conn)
        pending = pending_migrations(conn)
    finally:
        conn.close()
    typer.echo(
        f"database {mask_password(url)}: {len(applied)} migration(s) applied, "
        f"{len(pending)} pending"
    )


@db_app.command("backup")
def db_backup_command(
    path: Annotated[Path, typer.Argument(help="the file to write (pg_dump custom format)")],
) -> None:
    """Back up the whole service state: the database (the field cache is rebuilt from it)."""
    from gis_service.db.backup import backup

    size = backup(database_url(Settings()), path)
    typer.echo(f"backed up to {path} ({size / 1e6:.1f} MB)")


@db_app.command("restore")
def db_restore_command(
    path: Annotated[Path, typer.Argument(help="a file written by `schoolmap db backup`")],
) -> None:
    """Restore a backup into the database of DATABASE_URL (a new one: it is created when
    missing, and one already holding a schoolmap schema is refused), then migrate it."""
    from gis_service.db.backup import restore

    url = resolve_database_url(Settings().database, progress=print_progress)
    restore(path, url)
    typer.echo(f"restored {path} into {mask_password(url)}")


@db_app.command("url")
def db_url() -> None:
    """Print the database URL the service uses (password masked)."""
    typer.echo(mask_password(database_url(Settings())))


@import_app.command("osm")
def import_osm_command(
    path: Annotated[Path | None, typer.Argument(help=".osm.pbf, .osm or .osm.bz2 file")] = None,
    place: Annotated[
        str | None, typer.Option(help="download a named place (needs network)")
    ] = None,
) -> None:
    """Roads and schools from an OpenStreetMap extract."""
    from gis_service.importers.osm import download_place_extract, import_osm

    if (path is None) == (place is None):
        raise typer.BadParameter("give either a PATH or --place NAME")
    if place is not None:
        folder = Path(tempfile.mkdtemp(prefix="schoolmap-osm-"))
        print_progress(f"downloading {place!r} from Overpass")
        path = download_place_extract(place, folder / "place.osm")
    source = path
    assert source is not None
    run_import(lambda conn: import_osm(conn, source, print_progress))


@import_app.command("wards")
def import_wards_command(
    path: Annotated[Path, typer.Argument(help="GeoJSON, Shapefile or GeoPackage of wards")],
    code_field: Annotated[str, typer.Option(help="field with the GSO ward code")] = "code",
    name_field: Annotated[
        str | None,
        typer.Option(
            help="field with the unit's full name (default: fullName for 2025, else name)"
        ),
    ] = None,
    edition: Annotated[
        str, typer.Option(help="unit edition: 2019 (province > district > ward) or 2025")
    ] = "2019",
    type_field: Annotated[
        str | None, typer.Option(help="field with each unit's type (Phường/Xã, Ward/Commune)")
    ] = None,
    district_field: Annotated[str | None, typer.Option(help="field with the district name")] = None,
    district_code_field: Annotated[
        str | None, typer.Option(help="field with the GSO district code")
    ] = None,
    province_field: Annotated[str | None, typer.Option(help="field with the province name")] = None,
    province_name: Annotated[
        str | None, typer.Option(help="province of every ward, when no field says")
    ] = None,
    province_code: Annotated[str | None, typer.Option(help="GSO code of that province")] = None,
    population_field: Annotated[
        list[str] | None, typer.Option(help="population field, e.g. Pop_2019 (repeatable)")
    ] = None,
    population_year: Annotated[
        list[int] | None, typer.Option(help="year of each population field, if not in its name")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of a file that does not say, e.g. EPSG:32648")
    ] = None,
) -> None:
    """Ward polygons (any CRS) with their districts, province and population."""
    from gis_service.importers.wards import WardFields, import_wards

    fields = WardFields(
        code=code_field,
        name=name_field,
        district=district_field,
        district_code=district_code_field,
        province=province_field,
        population=population_field or [],
        population_years=population_year or [],
        province_name=province_name,
        province_code=province_code,
        crs=crs,
        edition=edition,
        unit_type=type_field,
    )
    run_import(lambda conn: import_wards(conn, path, fields, print_progress))


@import_app.command("population")
def import_population_command(
    path: Annotated[Path, typer.Argument(help="CSV with age_0_04 … age_85_plus columns")],
    level: Annotated[str, typer.Option(help="district or ward")] = "district",
    code_field: Annotated[str | None, typer.Option(help="column with the unit's code")] = None,
    name_field: Annotated[str | None, typer.Option(help="column with the unit's name")] = None,
    province_field: Annotated[str | None, typer.Option(help="column with the province")] = None,
    year: Annotated[int | None, typer.Option(help="year of every row")] = None,
    year_field: Annotated[str | None, typer.Option(help="column with each row's year")] = None,
    total_field: Annotated[str, typer.Option(help="column with the total, checked")] = "total",
    edition: Annotated[
        str, typer.Option(help="unit edition the rows name: 2019 (census units) or 2025")
    ] = "2019",
) -> None:
    """Population by age group per district or ward of one unit edition."""
    from gis_service.importers.population import PopulationFields, import_population

    fields = PopulationFields(
        level=level,
        code=code_field,
        name=name_field,
        province=province_field,
        year=year,
        year_field=year_field,
        total=total_field,
        edition=edition,
    )
    run_import(lambda conn: import_population(conn, path, fields, print_progress))


@import_app.command("schools")
def import_schools_command(
    path: Annotated[Path, typer.Argument(help="school registry CSV")],
    show_matches: Annotated[bool, typer.Option(help="list every match")] = True,
) -> None:
    """An official school registry: adds or updates schools and their classes per grade."""
    from gis_service.importers.registry import Match, import_registry

    matches: list[Match] = []

    def work(conn: Connection) -> ImportReport:
        report, found = import_registry(conn, path, print_progress)
        matches.extend(found)
        return report

    run_import(work)
    if show_matches:
        for m in matches:
            if m.how != "code":
                typer.echo(
                    f"  line {m.line}: {m.registry_name!r} = {m.map_name!r} "
                    f"({m.how}, {m.distance_m:.0f} m)"
                )


def parse_speeds(values: list[str]) -> dict[str, float]:
    """'residential=18' pairs as a highway -> km/h mapping."""
    speeds: dict[str, float] = {}
    for value in values:
        highway, _, number = value.partition("=")
        try:
            speeds[highway.strip()] = float(number)
        except ValueError:
            raise typer.BadParameter(f"expected HIGHWAY=KMH, got {value!r}") from None
        if speeds[highway.strip()] <= 0:
            raise typer.BadParameter(f"speed must be positive in {value!r}")
    return speeds


def build_networks(conn: Connection, modes: list[str], speeds: dict[str, float]) -> None:
    """Build, store and cache each mode's network, printing sizes and times."""
    from gis_service.routing.profiles import default_profile
    from gis_service.routing.store import build_and_store

    settings = Settings()
    for mode in modes:
        profile = default_profile(mode, speeds or None)
        with transaction(conn):
            record, graph, timings = build_and_store(
                conn, profile, settings.database.home, progress=print_progress
            )
        typer.echo(
            f"{mode} network {record.network_id} (extract {record.extract_id}, "
            f"parameters {record.params_hash[:12]}): {graph.n_nodes:,} nodes, "
            f"{graph.n_edges:,} edges, {graph.dropped_nodes:,} nodes outside the largest "
            "strongly connected part left out"
        )
        for step, seconds in timings.items():
            typer.echo(f"  {step}: {seconds:.2f} s")


@network_app.command("build")
def network_build_command(
    mode: Annotated[
        list[str] | None, typer.Option(help="walk, motorbike or car (repeatable; default all)")
    ] = None,
    speed: Annotated[
        list[str] | None, typer.Option(help="override a speed, e.g. residential=18 (km/h)")
    ] = None,
) -> None:
    """Build each mode's routable network from the newest OSM extract."""
    from gis_service.routing.profiles import MODES

    conn = open_database(Settings())
    try:
        build_networks(conn, list(mode or MODES), parse_speeds(speed or []))
    finally:
        conn.close()


@network_app.command("fields")
def network_fields_command(
    mode: Annotated[
        list[str] | None, typer.Option(help="travel mode (repeatable; default all)")
    ] = None,
    level: Annotated[
        list[str] | None,
        typer.Option(help="school level, e.g. tieu_hoc (repeatable; default tieu_hoc and thcs)"),
    ] = None,
) -> None:
    """Compute and cache the distance fields (length and time) of each mode and school level."""
    from gis_service.routing.profiles import MODES
    from gis_service.routing.service import RoutingService

    settings = Settings()
    conn = open_database(settings)
    service = RoutingService(settings.database.home)
    try:
        for one_mode in mode or MODES:
            net = service.network(conn, one_mode)
            for one_level in level or ["tieu_hoc", "thcs"]:
                for weight in ("length", "time"):
                    started = time.perf_counter()
                    fields = service.fields(conn, net, one_level, weight, print_progress)
                    typer.echo(
                        f"{one_mode} {one_level} {weight}: {fields.n_sources} schools x "
                        f"{net.graph.n_nodes:,} nodes in {time.perf_counter() - started:.2f} s"
                    )
    finally:
        conn.close()


@round_app.command("create")
def round_create_command(
    name: Annotated[str, typer.Option(help="a name officers and parents will see")],
    grade: Annotated[int, typer.Option(help="1 or 6")],
    year: Annotated[str, typer.Option(help="school year, e.g. 2025-2026")],
    ward: Annotated[
        list[str] | None, typer.Option(help="ward or commune code of the area (repeatable)")
    ] = None,
    district: Annotated[
        list[str] | None, typer.Option(help="2019 district code (repeatable)")
    ] = None,
    edition: Annotated[
        str | None, typer.Option(help="unit edition of the codes: 2025 or 2019 (default current)")
    ] = None,
    review_until: Annotated[
        str | None,
        typer.Option(help="end of the parents' review window, e.g. 2026-03-03T17:00+07:00"),
    ] = None,
    round_number: Annotated[int, typer.Option(help="1, or 2 for the seats left")] = 1,
) -> None:
    """Create a draft round for a grade, a school year and an area of units."""
    from gis_service.admissions.review_cli import parse_when
    from gis_service.admissions.rounds import area_units, create_round

    conn = open_database(Settings())
    try:
        with transaction(conn):
            made = create_round(
                conn,
                name=name,
                grade=grade,
                school_year=year,
                districts=district,
                wards=ward,
                round_number=round_number,
                edition=edition,
                review_until=parse_when(review_until) if review_until else None,
            )
            names = [unit.label for unit in area_units(conn, made)]
    finally:
        conn.close()
    shown = ", ".join(names[:6]) + (f" … ({len(names)})" if len(names) > 6 else "")
    typer.echo(
        f"round {made.round_id}: {made.name}, grade {made.grade}, {made.school_year}, "
        f"units of {made.edition}: {shown}"
    )


def _set_status(round_id: int, status: str) -> None:
    from gis_service.admissions.lifecycle import set_round_status

    conn = open_database(Settings())
    try:
        with transaction(conn):
            changed = set_round_status(conn, round_id, status)
    finally:
        conn.close()
    typer.echo(f"round {round_id}: {changed.status}")


@round_app.command("open")
def round_open_command(round_id: Annotated[int, typer.Argument(help="the round's id")]) -> None:
    """Open a draft round for applications (or reopen a closed one: its runs go stale)."""
    _set_status(round_id, "open")


@round_app.command("review")
def round_review_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
) -> None:
    """Stop new applications; parents check their data before it is locked."""
    _set_status(round_id, "review")


@round_app.command("close")
def round_close_command(round_id: Annotated[int, typer.Argument(help="the round's id")]) -> None:
    """Lock the round's data for allocation (a round is run once closed)."""
    _set_status(round_id, "closed")


@round_app.command("claims")
def round_claims_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    pending: Annotated[bool, typer.Option(help="only claims not yet decided")] = False,
) -> None:
    """Priority claims of the round's applications, pending ones first."""
    from gis_service.admissions.claims import list_claims

    conn = open_database(Settings())
    try:
        found = list_claims(conn, round_id, pending_only=pending)
    finally:
        conn.close()
    for claim in found:
        decided = f" by {claim.checked_by}: {claim.note}" if claim.checked_by else ""
        source = "parent" if claim.by_parent else "import"
        typer.echo(
            f"application {claim.application_id}: {claim.priority_group} ({source}) "
            f"{claim.status}{decided}"
        )
    typer.echo(f"{len(found):,} claim(s), {sum(c.status == 'pending' for c in found):,} pending")


@round_app.command("decide-claim")
def round_decide_claim_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    application_id: Annotated[int, typer.Argument(help="the application whose claim to decide")],
    decision: Annotated[str, typer.Option(help="verified or rejected")],
    note: Annotated[str, typer.Option(help="the evidence seen")],
) -> None:
    """Verify or reject one priority claim (runs made before can no longer be published)."""
    from gis_service.admissions.claims import decide_claim

    conn = open_database(Settings())
    try:
        with transaction(conn):
            claim = decide_claim(conn, round_id, application_id, decision, note)
    finally:
        conn.close()
    typer.echo(f"application {claim.application_id}: {claim.priority_group} {claim.status}")


@round_app.command("conflicts")
def round_conflicts_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
) -> None:
    """Imported rows that met a parent's own application (the parent's data was kept)."""
    from gis_service.admissions.claims import list_conflicts

    conn = open_database(Settings())
    try:
        found = list_conflicts(conn, round_id)
    finally:
        conn.close()
    for c in found:
        typer.echo(
            f"application {c.application_id}: {c.source_file} line {c.source_line} differs in "
            f"{', '.join(c.fields)}"
        )
    typer.echo(f"{len(found):,} conflict(s)")


@round_app.command("link-child")
def round_link_child_command(
    round_id: Annotated[int, typer.Argument(help="a round the child applied to")],
    child_id: Annotated[str, typer.Argument(help="the child's identity code")],
    username: Annotated[str, typer.Argument(help="the parent account to hold the child")],
) -> None:
    """Link a child to a parent's account, or move it to another one (audited)."""
    from gis_service.admissions.guardians import link_child
    from gis_service.admissions.identity import database_key

    settings = Settings()
    conn = open_database(settings)
    try:
        with transaction(conn):
            linked = link_child(conn, round_id, child_id, database_key(conn, settings), username)
    finally:
        conn.close()
    before = f" (was {linked.previous_guardian})" if linked.previous_guardian else ""
    typer.echo(f"child linked to {linked.guardian}{before}")


@round_app.command("import-applicants")
def round_import_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: child_id, birth_date, lon, lat, ward, "
            "priority_group, sibling_id, preferences"
        ),
    ],
) -> None:
    """Add applicants to a round, checking each for eligibility."""
    from gis_service.admissions.applicant_import import import_applicants
    from gis_service.admissions.identity import installation_key, key_of_database

    key = installation_key(Settings())

    def work(conn: Connection) -> ImportReport:
        report = import_applicants(conn, round_id, path, key, print_progress)
        # Checked in the import's transaction, which a key other than the database's undoes.
        key_of_database(conn, key)
        return report

    run_import(work)


@round_app.command("run")
def round_run_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    mechanism: Annotated[
        str,
        typer.Option(help="da (default: every parent can check it), nearest, constrained, greedy"),
    ] = "da",
    seed: Annotated[int, typer.Option(help="the published lottery seed")] = 0,
    mode: Annotated[str, typer.Option(help="travel mode for distances")] = "motorbike",
    squared: Annotated[bool, typer.Option(help="minimise squared distance (nearest)")] = False,
    max_distance: Annotated[
        int | None, typer.Option(help="hard maximum distance in metres (constrained)")
    ] = None,
    time_limit: Annotated[float, typer.Option(help="solver time limit, seconds")] = 60.0,
) -> None:
    """Allocate the round's eligible applicants with one mechanism and store the run."""
    from gis_service.admissions.runs import run_round
    from gis_service.routing.service import RoutingService

    settings = Settings()
    conn = open_database(settings)
    try:
        with transaction(conn):
            run = run_round(
                conn,
                RoutingService(settings.database.home),
                round_id,
                mechanism,
                seed=seed,
                mode=mode,
                squared=squared,
                time_limit_s=time_limit,
                max_cost_m=max_distance,
                progress=print_progress,
            )
    finally:
        conn.close()
    typer.echo(
        f"run {run.run_id} of round {run.round_id}: {run.mechanism}, seed {run.seed}, "
        f"{run.status} in {run.solve_seconds:.2f} s"
    )
    typer.echo(f"  input {run.input_hash[:16]}  output {run.output_hash[:16]}")
    if run.pending_claims:
        typer.echo(
            f"  {run.pending_claims:,} priority claim(s) not yet decided were not counted "
            f"(schoolmap round claims {run.round_id} --pending)"
        )
    for key, value in run.metrics.items():
        typer.echo(f"  {key}: {value}")


@round_app.command("run-many")
def round_run_many_command(
    round_ids: Annotated[
        list[int] | None, typer.Argument(help="the rounds' ids (default: --year and --grade)")
    ] = None,
    year: Annotated[
        str | None,
        typer.Option(help="school year, e.g. 2026-2027: every closed round of it and --grade"),
    ] = None,
    grade: Annotated[int | None, typer.Option(help="1 or 6, with --year")] = None,
    mechanism: Annotated[
        str,
        typer.Option(help="da (default: every parent can check it), nearest, constrained, greedy"),
    ] = "da",
    seed: Annotated[int, typer.Option(help="the published lottery seed")] = 0,
    mode: Annotated[str, typer.Option(help="travel mode for distances")] = "motorbike",
    squared: Annotated[bool, typer.Option(help="minimise squared distance (nearest)")] = False,
    max_distance: Annotated[
        int | None, typer.Option(help="hard maximum distance in metres (constrained)")
    ] = None,
    time_limit: Annotated[float, typer.Option(help="solver time limit per round, seconds")] = 60.0,
) -> None:
    """Allocate many rounds (a city's ward rounds) with one mechanism and seed; store each run.

    The rounds are solved side by side (local processes, or the Dask cluster of
    SCHOOLMAP_DASK_SCHEDULER). A round that fails is named and stores nothing; the others'
    runs are stored. The exit status is 1 when any round failed.
    """
    from gis_service.admissions.runs import closed_rounds, run_rounds
    from gis_service.routing.service import RoutingService

    if bool(round_ids) == (year is not None or grade is not None):
        raise InvalidRequestError(
            "Hãy nêu số các đợt, hoặc --year và --grade / give round ids, or --year and --grade"
        )
    if not round_ids and (year is None or grade is None):
        raise InvalidRequestError("Hãy nêu cả --year và --grade / give both --year and --grade")
    settings = Settings()
    conn = open_database(settings)
    try:
        with transaction(conn):
            chosen = list(
                dict.fromkeys(round_ids or closed_rounds(conn, str(year), int(grade or 0)))
            )
            if not chosen:
                raise NotFoundError(
                    f"Không có đợt nào đã đóng của năm học {year}, lớp {grade} / no closed "
                    f"round of {year}, grade {grade}"
                )
            batch = run_rounds(
                conn,
                RoutingService(settings.database.home),
                chosen,
                mechanism,
                seed=seed,
                mode=mode,
                squared=squared,
                time_limit_s=time_limit,
                max_cost_m=max_distance,
                progress=print_progress,
            )
    finally:
        conn.close()
    typer.echo(
        f"{len(batch.runs)} of {len(chosen)} round(s) run: {mechanism}, seed {seed}"
        + (f"; {len(batch.failed)} failed" if batch.failed else "")
    )
    for run in batch.runs:
        typer.echo(
            f"  round {run.round_id}: run {run.run_id}, {run.status}, "
            f"{run.metrics['placed']:,} placed, {run.metrics['unassigned']:,} unassigned, "
            f"output {run.output_hash[:16]}"
            + (f", {run.pending_claims:,} claim(s) not decided" if run.pending_claims else "")
        )
    for failure in batch.failed:
        typer.echo(f"  FAILED {failure.message}", err=True)
    if batch.failed:
        raise typer.Exit(1)


@round_app.command("compare")
def round_compare_command(
    run_ids: Annotated[list[int], typer.Argument(help="run ids to show side by side")],
) -> None:
    """Metrics of several runs side by side."""
    from gis_service.admissions.runs import COMPARED, METRIC_NOTES, compare_runs

    conn = open_database(Settings())
    try:
        table = compare_runs(conn, run_ids)
    finally:
        conn.close()
    keys = ["run", "mechanism", "seed", "status", *COMPARED]
    width = max(len(k) for k in keys)
    for key in keys:
        cells = "".join(f"{_cell(row[key]):>14}" for row in table)
        typer.echo(f"{key:<{width}}{cells}")
    typer.echo("")
    for key in COMPARED:
        typer.echo(f"{key}: {METRIC_NOTES[key][0]}")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


@round_app.command("publish")
def round_publish_command(
    run_id: Annotated[int, typer.Argument(help="the run to publish")],
) -> None:
    """Publish a run as its round's result."""
    from gis_service.admissions.runs import publish_run

    conn = open_database(Settings())
    try:
        with transaction(conn):
            publish_run(conn, run_id)
    finally:
        conn.close()
    typer.echo(f"run {run_id} published")


@round_app.command("next")
def round_next_command(
    round_id: Annotated[int, typer.Argument(help="the published round")],
    name: Annotated[str | None, typer.Option(help="the new round's name")] = None,
) -> None:
    """Open the next round for the seats left and the children not placed."""
    from gis_service.admissions.next_round import open_next_round

    conn = open_database(Settings())
    try:
        with transaction(conn):
            made = open_next_round(conn, round_id, name=name)
    finally:
        conn.close()
    typer.echo(
        f"round {made.the_round.round_id}: {made.the_round.name} (round "
        f"{made.the_round.round_number}); {made.carried:,} children carried over, "
        f"{made.eligible:,} eligible ({made.newly_eligible:,} newly), "
        f"{made.seats_left:,} seats left"
    )


@round_app.command("verify")
def round_verify_command(
    run_id: Annotated[int, typer.Argument(help="the run to verify, e.g. a published one")],
) -> None:
    """Solve a stored run again from its record and check it gives the same result."""
    from gis_service.admissions.runs import verify_run
    from gis_service.routing.service import RoutingService

    settings = Settings()
    conn = open_database(settings)
    try:
        checked = verify_run(
            conn, RoutingService(settings.database.home), run_id, progress=print_progress
        )
    finally:
        conn.close()
    typer.echo(f"run {run_id}")
    typer.echo(f"  input hash   stored {checked.stored_input_hash}")
    typer.echo(f"               now    {checked.input_hash}")
    typer.echo(f"  output hash  stored {checked.stored_output_hash}")
    typer.echo(f"               now    {checked.output_hash or '-'}")
    if not checked.ok:
        raise SchoolmapError(f"run {run_id} does not verify: " + "; ".join(checked.problems))
    typer.echo("verified: the same input gives the same assignment")


@round_app.command("purge")
def round_purge_command(
    round_id: Annotated[int, typer.Argument(help="a published round")],
    yes: Annotated[bool, typer.Option("--yes", help="confirm the deletion")] = False,
) -> None:
    """Delete a finished round's personal data (retention); its aggregate record stays."""
    from gis_service.admissions.retention import purge_round

    if not yes:
        raise typer.BadParameter("this deletes children's data for good; add --yes to confirm")
    conn = open_database(Settings())
    try:
        with transaction(conn):
            purged = purge_round(conn, round_id)
    finally:
        conn.close()
    typer.echo(
        f"round {round_id} archived: {purged.applications:,} applications, "
        f"{purged.assignments:,} assignments and {purged.applicants:,} applicants deleted"
    )


@round_app.command("demand")
def round_demand_command(
    round_id: Annotated[int, typer.Argument(help="the round")],
    gpkg_path: Annotated[Path, typer.Option("--gpkg", help="GeoPackage file to write")],
    run: Annotated[int | None, typer.Option(help="a run of the round, for placed counts")] = None,
) -> None:
    """The round's applicants, placed children and seats per unit, aggregated (groups under 10
    hidden, no home), as a GeoPackage for a GIS."""
    from gis_service.admissions.demand import demand_by_unit, demand_geopackage, demand_layer
    from gis_service.admissions.rounds import load_round
    from gis_service.admissions.runs import NORM_M, check_run_of_round

    conn = open_database(Settings())
    try:
        the_round = load_round(conn, round_id)
        if run is not None:
            check_run_of_round(conn, round_id, run)
        features = demand_by_unit(conn, the_round, run, NORM_M[the_round.grade])
    finally:
        conn.close()
    gpkg_path.write_bytes(demand_geopackage(features, round_id, run))
    typer.echo(f"wrote {len(features)} units (layer {demand_layer(round_id, run)}) to {gpkg_path}")


@round_app.command("export")
def round_export_command(
    run_id: Annotated[int, typer.Argument(help="the run to export")],
    csv_path: Annotated[Path | None, typer.Option("--csv", help="CSV file to write")] = None,
    geojson_path: Annotated[
        Path | None, typer.Option("--geojson", help="GeoJSON file to write (holds homes)")
    ] = None,
    gpkg_path: Annotated[
        Path | None, typer.Option("--gpkg", help="GeoPackage file to write (holds homes)")
    ] = None,
    with_homes: Annotated[
        bool, typer.Option("--with-homes", help="confirm: the file holds children's homes")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="processes writing a large run's CSV/GeoJSON at once (default: CPUs)"
        ),
    ] = None,
) -> None:
    """Write a run's assignments with distances and explanations (CSV for Excel: no home)."""
    from gis_service import audit
    from gis_service.admissions.exports import HOMES_WARNING, export_run

    if csv_path is None and geojson_path is None and gpkg_path is None:
        raise typer.BadParameter("give --csv PATH, --geojson PATH and/or --gpkg PATH")
    if (geojson_path or gpkg_path) and not with_homes:
        raise SchoolmapError(f"{HOMES_WARNING} (--with-homes)")
    if geojson_path or gpkg_path:
        typer.echo(HOMES_WARNING, err=True)
    conn = open_database(Settings())
    try:
        with transaction(conn):
            written = export_run(
                conn,
                run_id,
                csv_path,
                geojson_path,
                gpkg_path=gpkg_path,
                actor=audit.SYSTEM_ACTOR,
                progress=print_progress,
                workers=workers or os.cpu_count() or 1,
            )
    finally:
        conn.close()
    typer.echo(f"{written:,} assignments written")


@app.command("demo")
def demo_command(
    serve: Annotated[bool, typer.Option(help="serve after loading")] = True,
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default SCHOOLMAP_API_PORT, else 8000)")
    ] = None,
    seed: Annotated[int, typer.Option(help="demo-city seed")] = 2025,
) -> None:
    """Generate the synthetic demo city, load it through the importers, then serve it.

    Also makes demo accounts (passwords in SCHOOLMAP_HOME/demo/accounts.txt) and an open
    grade-1 round with the demo city's children.
    """
    from gis_service.admissions.identity import database_key
    from gis_service.demo import create_demo_accounts, create_demo_round, load_demo_city

    settings = Settings()
    home = settings.database.home
    conn = open_database(settings, migrate=True)
    try:
        with transaction(conn):
            reports = load_demo_city(conn, home / "demo", seed=seed)
        for report in reports:
            for line in report.lines():
                typer.echo(line)
        from gis_service.routing.profiles import MODES

        build_networks(conn, list(MODES), {})
        with transaction(conn):
            accounts = create_demo_accounts(conn, home)
            round_id = create_demo_round(conn, home, database_key(conn, settings))
    finally:
        conn.close()
    network_fields_command(mode=None, level=None)
    typer.echo(f"open demo round: {round_id} (grade 1, districts 901–903)")
    typer.echo(f"demo accounts (also in {home / 'demo' / 'accounts.txt'}):")
    for name, password in accounts.items():
        typer.echo(f"  {name:<12} {password}")
    if serve:
        serve_command(port=port, host=None)


@app.command("serve")
def serve_command(
    port: Annotated[
        int | None, typer.Option(help="HTTP port (default SCHOOLMAP_API_PORT, else 8000)")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="interface to listen on (default SCHOOLMAP_API_HOST, else 127.0.0.1)"),
    ] = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request on stdout")] = True,
) -> None:
    """Serve the API and the map on http://HOST:PORT."""
    import os

    from gis_service.serving import ServeOptions, serve

    settings = Settings()
    port = settings.api.port if port is None else port
    host = settings.api.host if host is None else host
    url = database_url(settings)
    conn = connect(url)
    try:
        require_current_schema(conn)
    finally:
        conn.close()
    # Workers read the resolved URL, so they never start a second local server.
    os.environ["DATABASE_URL"] = url
    typer.echo(f"schoolmap on http://{host}:{port} (API docs at /docs)")
    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_format=settings.log.format,
    )
    serve(options)


DATABASE_LOST = (
    "mất kết nối tới cơ sở dữ liệu khi lệnh đang chạy, phần việc chưa xong không được lưu; hãy "
    "kiểm tra PostgreSQL đang chạy rồi chạy lại lệnh / the connection to the database was lost "
    "while the command ran, and its unfinished work was not saved; check that PostgreSQL is "
    "running, then run the command again"
)
COMMAND_STOPPED = (
    "cơ sở dữ liệu đã dừng lệnh giữa chừng (quá thời gian cho phép, hoặc bị huỷ), phần việc "
    "chưa xong không được lưu; hãy chạy lại khi cơ sở dữ liệu bớt bận / the database stopped "
    "the command part-way (over its time limit, or cancelled), and its unfinished work was not "
    "saved; run it again when the database is less busy"
)


def _write_table(table: Table, csv_path: Path | None, gpkg_path: Path | None) -> None:
    from gis_service.open_data import table_csv, table_geopackage

    if csv_path is None and gpkg_path is None:
        raise typer.BadParameter("give --csv PATH and/or --gpkg PATH")
    if csv_path is not None:
        csv_path.write_bytes(table_csv(table))
        typer.echo(f"wrote {len(table.rows):,} rows to {csv_path}")
    if gpkg_path is not None:
        gpkg_path.write_bytes(table_geopackage(table))
        typer.echo(f"wrote {len(table.rows):,} features (layer {table.name}) to {gpkg_path}")


@open_data_app.command("schools")
def open_data_schools_command(
    csv_path: Annotated[Path | None, typer.Option("--csv", help="CSV (UTF-8 with BOM)")] = None,
    gpkg_path: Annotated[Path | None, typer.Option("--gpkg", help="GeoPackage")] = None,
) -> None:
    """Every school with its official code, unit, position and classes."""
    from gis_service.open_data import schools_table

    conn = open_database(Settings())
    try:
        table = schools_table(conn)
    finally:
        conn.close()
    _write_table(table, csv_path, gpkg_path)


@open_data_app.command("units")
def open_data_units_command(
    csv_path: Annotated[Path | None, typer.Option("--csv", help="CSV (UTF-8 with BOM)")] = None,
    gpkg_path: Annotated[Path | None, typer.Option("--gpkg", help="GeoPackage")] = None,
    edition: Annotated[str | None, typer.Option(help="2019 or 2025 (default: current)")] = None,
) -> None:
    """The units of an edition with their outlines and latest population."""
    from gis_service.open_data import units_table

    conn = open_database(Settings())
    try:
        table = units_table(conn, edition)
    finally:
        conn.close()
    _write_table(table, csv_path, gpkg_path)


def main() -> None:
    """Entry point: run the command, turning domain errors, and a database lost or stopping
    the command, into one line and exit code 1."""
    try:
        app()
    except SchoolmapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        stopped = isinstance(exc, psycopg2.extensions.QueryCanceledError)
        message = COMMAND_STOPPED if stopped else DATABASE_LOST
        print(f"error: {message} ({first_line(exc)})", file=sys.stderr)
        raise SystemExit(1) from None
