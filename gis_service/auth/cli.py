"""The `schoolmap user` commands: create accounts (the first city admin too) and list them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gis_service.auth.roles import ROLES
from gis_service.config import Settings
from gis_service.db.connection import transaction

user_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)


@user_app.command("create")
def user_create_command(
    username: Annotated[str, typer.Argument(help="the sign-in name")],
    role: Annotated[str, typer.Option(help=", ".join(ROLES))],
    area: Annotated[
        list[str] | None,
        typer.Option(help="ward (or district) code of an officer's area (repeatable)"),
    ] = None,
    edition: Annotated[
        str | None, typer.Option(help="unit edition of a ward officer's area (default: current)")
    ] = None,
    school: Annotated[int | None, typer.Option(help="school id of school staff")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line")
    ] = False,
) -> None:
    """Create an account; asks for the password twice unless it comes on standard input."""
    from gis_service.auth.users import create_user
    from gis_service.cli import open_database

    if role not in ROLES:
        raise typer.BadParameter(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    conn = open_database(Settings())
    try:
        with transaction(conn):
            user = create_user(
                conn,
                username=username,
                password=password,
                role=role,
                area=area or [],
                school_id=school,
                edition=edition,
            )
    finally:
        conn.close()
    where = f", area {' '.join(user.area_codes)}" if user.area_codes else ""
    if user.school_id is not None:
        where += f", school {user.school_id}"
    typer.echo(f"user {user.id}: {user.username} ({user.role}{where})")


@user_app.command("list")
def user_list_command() -> None:
    """Every account with its role, area or school, and whether it is disabled."""
    from gis_service.auth.users import list_users
    from gis_service.cli import open_database

    conn = open_database(Settings())
    try:
        users = list_users(conn)
    finally:
        conn.close()
    for user in users:
        extra = " ".join(user.area_codes) or (
            f"school {user.school_id}" if user.school_id is not None else ""
        )
        state = " disabled" if user.disabled else ""
        typer.echo(f"{user.id:>5}  {user.username:<24} {user.role:<17} {extra}{state}".rstrip())
