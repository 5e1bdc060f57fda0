"""The `schoolmap round` commands of the review window: stated units of residence that differ
from the home, the window's end, and an officer's reasoned change of an application."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from gis_service.config import Settings
from gis_service.db.connection import transaction
from gis_service.errors import InvalidRequestError


def parse_when(text: str) -> datetime | None:
    if text.strip().lower() in ("", "none", "-"):
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequestError(
            f"Hạn {text!r} không đúng dạng 2026-03-03T17:00+07:00 / {text!r} is not a date and "
            "time like 2026-03-03T17:00+07:00"
        ) from None


def residence_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
) -> None:
    """Applications whose stated unit of residence differs from the unit the home is in."""
    from gis_service.admissions.residence import residence_report
    from gis_service.cli import open_database

    conn = open_database(Settings())
    try:
        report = residence_report(conn, round_id)
    finally:
        conn.close()
    for item in report["items"]:
        stated = item["stated_unit"]
        home = item["home_unit"]
        said = stated["name"] if stated else "(không rõ đơn vị / no such unit)"
        if stated and stated["district"]:
            said += f", {stated['district']}"
        found = home["name"] if home else "(ngoài các đơn vị / outside every unit)"
        away = "" if item["distance_m"] is None else f", {item['distance_m']:,} m outside it"
        typer.echo(
            f"application {item['application_id']}: stated {item['stated']!r} = {said}; "
            f"home in {found}{away}"
        )
    for unit, counts in report["by_unit"].items():
        shown = ", ".join(f"{check} {n}" for check, n in counts.items())
        typer.echo(f"  {unit}: {shown}")
    typer.echo(
        f"{report['stated']:,} stated, {report['matched']:,} match, "
        f"{report['mismatched']:,} mismatch ({report['near_boundary']:,} within "
        f"{report['near_boundary_m']} m of the stated unit), {report['unknown_unit']:,} unknown "
        "unit"
    )


def review_until_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    until: Annotated[
        str, typer.Argument(help="end of the review window, e.g. 2026-03-03T17:00+07:00; none")
    ],
) -> None:
    """Set the end of the parents' review window (audited); after it the data is locked."""
    from gis_service.admissions.lifecycle import set_review_until
    from gis_service.cli import open_database

    conn = open_database(Settings())
    try:
        with transaction(conn):
            changed = set_review_until(conn, round_id, parse_when(until))
    finally:
        conn.close()
    shown = changed.review_until.isoformat() if changed.review_until else "none"
    typer.echo(f"round {round_id}: review window until {shown}")


def parse_day(text: str | None, what_vi: str, what_en: str) -> date | None:
    if text is None or text.strip().lower() in ("", "none", "-"):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequestError(
            f"{what_vi} {text!r} không đúng dạng 2026-07-01 / the {what_en} {text!r} is not a "
            "day like 2026-07-01"
        ) from None


def notice_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    enrol_from: Annotated[
        str | None, typer.Option(help="first day of enrolment, e.g. 2026-07-01")
    ] = None,
    enrol_until: Annotated[
        str | None, typer.Option(help="last day of enrolment (included), e.g. 2026-07-15")
    ] = None,
    paper: Annotated[
        list[str] | None, typer.Option(help="a paper the family brings (repeat the option)")
    ] = None,
    review_contact: Annotated[
        str | None, typer.Option(help="whom and where to ask for a review of a result")
    ] = None,
    review_requests_until: Annotated[
        str | None, typer.Option(help="last day to ask for a review, e.g. 2026-07-10")
    ] = None,
    actor: Annotated[
        str, typer.Option(help="the officer setting the notice, for the audit log")
    ] = "system",
) -> None:
    """Set the round's enrolment notice (replacing the one before; audited): what a family
    reads as its next steps beside the result."""
    from gis_service.admissions.enrolment import EnrolmentNotice, set_notice
    from gis_service.cli import open_database

    notice = EnrolmentNotice(
        parse_day(enrol_from, "Ngày bắt đầu nhập học", "first day of enrolment"),
        parse_day(enrol_until, "Ngày kết thúc nhập học", "last day of enrolment"),
        tuple(paper or ()),
        review_contact,
        parse_day(review_requests_until, "Hạn đề nghị xem lại", "last day to ask for a review"),
    )
    conn = open_database(Settings())
    try:
        with transaction(conn):
            stored = set_notice(conn, round_id, notice, actor=actor)
    finally:
        conn.close()
    shown = stored.as_dict()
    typer.echo(
        f"round {round_id}: enrolment {shown['enrol_from'] or '-'} to {shown['enrol_until'] or '-'}"
        f", {len(stored.papers)} paper(s), review contact {shown['review_contact'] or '-'} until "
        f"{shown['review_requests_until'] or '-'}"
    )


def amend_command(
    round_id: Annotated[int, typer.Argument(help="the round's id")],
    application_id: Annotated[int, typer.Argument(help="the application to change")],
    reason: Annotated[str, typer.Option(help="the written reason, kept in the audit log")],
    lon: Annotated[float | None, typer.Option(help="the home's longitude")] = None,
    lat: Annotated[float | None, typer.Option(help="the home's latitude")] = None,
    address: Annotated[str | None, typer.Option(help="the home's address")] = None,
    stated_unit: Annotated[str | None, typer.Option(help="unit of residence as stated")] = None,
    birth_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    actor: Annotated[
        str, typer.Option(help="the officer making the change, for the audit log")
    ] = "system",
) -> None:
    """An officer changes an application's home, stated unit or birth date, with a reason."""
    from gis_service.admissions.applications import Amendment, amend_application
    from gis_service.cli import open_database

    born = None
    if birth_date:
        try:
            born = date.fromisoformat(birth_date)
        except ValueError:
            raise InvalidRequestError(f"birth date {birth_date!r} is not YYYY-MM-DD") from None
    conn = open_database(Settings())
    try:
        with transaction(conn):
            done = amend_application(
                conn,
                round_id,
                application_id,
                Amendment(lon, lat, address, stated_unit, born),
                reason=reason,
                actor=actor,
            )
    finally:
        conn.close()
    typer.echo(
        f"application {application_id}: changed {', '.join(done['changed'])}; now "
        f"{done['status']}"
        + (f", stated unit {done['residence_check']}" if done["residence_check"] else "")
    )


def estimated_command(
    run_id: Annotated[int, typer.Argument(help="the run")],
) -> None:
    """Children and schools of a run whose distances are estimated: beyond the mapped roads, or
    beyond every school's distance-field radius."""
    from gis_service.admissions.estimated import estimated_homes, estimated_schools
    from gis_service.cli import open_database

    conn = open_database(Settings())
    try:
        children = estimated_homes(conn, run_id)
        schools = estimated_schools(conn, run_id)
    finally:
        conn.close()
    for far in schools:
        typer.echo(
            f"school {far['school_code'] or far['school_id']} {far['school_name']}: "
            f"{far['road_offset_m']:,} m from the nearest mapped road; {far['placed']:,} "
            "child(ren) placed there at estimated distances"
        )
    for child in children:
        school = child["school_name"] or "(chưa có trường / not placed)"
        where = (
            f"beyond the fields' radius ({child['beyond_radius_m']:,.0f} m by road)"
            if child["beyond_radius_m"] is not None
            else f"{child['road_offset_m']:,} m from the nearest mapped road"
        )
        typer.echo(
            f"application {child['application_id']} ({child['home_unit'] or '?'}): home "
            f"{where}; {school}, {child['distance_m'] or 0:,} m estimated"
        )
    if schools:
        typer.echo(f"{len(schools):,} school(s) beyond the mapped roads in run {run_id}")
    typer.echo(f"{len(children):,} child(ren) with estimated distances in run {run_id}")


def changes_command(
    first_run: Annotated[int, typer.Argument(help="a run")],
    second_run: Annotated[int, typer.Argument(help="another run of the same round")],
    children: Annotated[bool, typer.Option(help="list every child who changes school")] = False,
) -> None:
    """Who changes school between two runs: counts by unit and by school (and the children)."""
    from gis_service.admissions.run_changes import changes_between
    from gis_service.cli import open_database

    conn = open_database(Settings())
    try:
        found = changes_between(conn, first_run, second_run)
    finally:
        conn.close()
    typer.echo(
        f"{found['changed']:,} of {found['children']:,} children change school between runs "
        f"{first_run} and {second_run}"
    )
    for unit, n in found["by_unit"].items():
        typer.echo(f"  {unit}: {n:,}")
    for row in found["by_school"]:
        typer.echo(f"  {row['school']}: {row['leaving']:,} leave, {row['arriving']:,} arrive")
    if children:
        for move in found["children_changed"]:
            typer.echo(
                f"application {move['application_id']} ({move['home_unit'] or '?'}): "
                f"{move['from_school']} -> {move['to_school']}"
            )
