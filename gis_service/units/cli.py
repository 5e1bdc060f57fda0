"""The unit-edition commands: `schoolmap units editions|crosswalk|coverage|import-children`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis_service.config import Settings
from gis_service.db.connection import Connection, transaction
from gis_service.importers.report import print_progress

units_app = typer.Typer(
    help="Administrative units in editions (2019 census, 2025 two-tier): crosswalk, coverage, "
    "children reported by units.",
    no_args_is_help=True,
)


def _open() -> Connection:
    from gis_service.cli import open_database

    conn = open_database(Settings())
    # End the schema check's read, so the command's transaction starts with its own work.
    conn.rollback()
    return conn


@units_app.command("editions")
def editions_command() -> None:
    """Every edition: its validity, levels and how many commune-level units are loaded."""
    from gis_service.units.editions import current_edition, list_editions

    conn = _open()
    try:
        editions = list_editions(conn)
        current = current_edition(conn)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT from_edition, to_edition, method, created_at::date::text, "
                "(SELECT count(*) FROM unit_crosswalk_pieces p WHERE p.crosswalk_id = x.id) "
                "FROM unit_crosswalks x ORDER BY created_at"
            )
            crosswalks = cur.fetchall()
    finally:
        conn.close()
    typer.echo(f"{'edition':<8} {'valid from':<10} {'valid to':<10} {'units':>6}  levels / name")
    for e in editions:
        mark = "*" if e.edition == current else " "
        typer.echo(
            f"{e.edition + mark:<8} {e.valid_from:<10} {e.valid_to or '—':<10} {e.wards:>6}  "
            f"{' > '.join(e.levels)} / {e.name}"
        )
    typer.echo("* the current edition (what the service reads by default)")
    for from_edition, to_edition, method, made, pieces in crosswalks:
        typer.echo(f"crosswalk {from_edition}→{to_edition} ({method}), {pieces:,} pieces, {made}")


@units_app.command("crosswalk")
def crosswalk_command(
    from_edition: Annotated[str, typer.Option("--from", help="edition the figures are on")] = (
        "2019"
    ),
    to_edition: Annotated[str, typer.Option("--to", help="edition to carry them to")] = "2025",
    weights: Annotated[
        str,
        typer.Option(
            help="roads: share of road length (area where a unit has too little road); "
            "area: share of area"
        ),
    ] = "roads",
) -> None:
    """Carry population figures from one edition's units to another's (replaces the last)."""
    from gis_service.units.crosswalk import run_crosswalk

    conn = _open()
    try:
        with transaction(conn):
            report = run_crosswalk(conn, from_edition, to_edition, weights, print_progress)
    finally:
        conn.close()
    for line in report.lines():
        typer.echo(line)


@units_app.command("coverage")
def coverage_command(
    edition: Annotated[str, typer.Option(help="edition of the units")] = "2025",
    year: Annotated[
        int | None, typer.Option(help="population of this year (default: the latest)")
    ] = None,
) -> None:
    """Each unit: how much of it the 2019 census units with figures cover, and its population."""
    from gis_service.units.coverage import NO_CENSUS_EN, NO_CENSUS_VI
    from gis_service.units.crosswalk import coverage_table

    conn = _open()
    try:
        rows = coverage_table(conn, edition, year)
    finally:
        conn.close()
    shown_year = next((r.year for r in rows if r.year is not None), None)
    population_head = f"pop. {shown_year}" if shown_year else "population"
    typer.echo(f"{'code':<6} {'unit':<32} {'covered':>8} {population_head:>11}")
    counts = {"none": 0, "partial": 0, "full": 0}
    for r in rows:
        counts[r.coverage] += 1
        population = f"{r.population:,}" if r.population is not None else "—"
        note = (
            f"  {NO_CENSUS_VI} / {NO_CENSUS_EN}" if r.coverage == "none" or not r.population else ""
        )
        typer.echo(f"{r.code:<6} {r.name[:32]:<32} {100 * r.share:>7.1f}% {population:>11}{note}")
    typer.echo(
        f"{len(rows)} units: covered none {counts['none']}, partial {counts['partial']}, "
        f"full {counts['full']}"
    )


@units_app.command("import-children")
def import_children_command(
    path: Annotated[
        Path, typer.Argument(help="CSV: unit_code (or unit_name), birth_year, children")
    ],
    edition: Annotated[
        str | None, typer.Option(help="edition of the units (default: the current one)")
    ] = None,
) -> None:
    """Children by birth year that units report themselves; all or nothing."""
    from gis_service.cli import run_import
    from gis_service.units.reported import import_reported_children

    run_import(lambda conn: import_reported_children(conn, path, edition, print_progress))
