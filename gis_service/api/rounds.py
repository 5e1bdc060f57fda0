"""Admission rounds over HTTP: create, open and close, import applicants, run, compare,
publish and export, for district officers (inside their area) and city admins."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.demand import demand_by_unit, demand_geopackage, demand_layer
from gis_service.admissions.disclosure import SMALLEST_GROUP, hide_small_groups
from gis_service.admissions.eligibility import birth_years_by_group
from gis_service.admissions.enrolment import (
    MAX_CONTACT_CHARS,
    MAX_PAPER_CHARS,
    MAX_PAPERS,
    EnrolmentNotice,
    load_notice,
)
from gis_service.admissions.estimated import estimated_homes, estimated_schools
from gis_service.admissions.exports import HOMES_WARNING, export_run
from gis_service.admissions.identity import installation_key, key_of_database
from gis_service.admissions.lifecycle import (
    PARENT_CHANGES,
    Action,
    may,
    review_window_ended,
    set_round_status,
)
from gis_service.admissions.next_round import open_next_round
from gis_service.admissions.retention import purge_round
from gis_service.admissions.rounds import (
    Round,
    area_units,
    count_round,
    create_round,
    list_rounds,
    load_round,
)
from gis_service.admissions.run_changes import changes_between
from gis_service.admissions.runs import (
    COMPARED,
    METRIC_NOTES,
    NORM_M,
    compare_runs,
    placed_by_school,
    publish_run,
    run_round,
    verify_run,
)
from gis_service.admissions.runs import (
    check_run_of_round as run_for,
)
from gis_service.api.deps import MAX_UPLOAD_BODY_BYTES, file_answer, get_connection, json_response
from gis_service.api.routing import routing_service
from gis_service.api.security import CurrentUser, require_roles, roles_note
from gis_service.api.uploads import (
    LARGE_UPLOAD_BYTES,
    import_limits,
    receive_to_file,
    run_while_connected,
)
from gis_service.auth.roles import CITY_ADMIN, DISTRICT_OFFICER, PARENT, WARD_OFFICER
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection, transaction
from gis_service.errors import (
    ImportFileError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from gis_service.importers.memory import release_memory_later
from gis_service.importers.report import ImportReport, no_progress
from gis_service.routing.service import ESTIMATED_DETOUR, MAX_SNAP_M, RoutingService

router = APIRouter(tags=["admission rounds"])

OFFICERS = (WARD_OFFICER, DISTRICT_OFFICER, CITY_ADMIN)
READERS = (PARENT, WARD_OFFICER, DISTRICT_OFFICER, CITY_ADMIN)
OFFICERS_NOTE = (
    roles_note(*OFFICERS) + " A ward or district officer only for rounds inside their area."
)

Officer = Annotated[CurrentUser, Depends(require_roles(*OFFICERS))]
Conn = Annotated[Connection, Depends(get_connection)]
Routing = Annotated[RoutingService, Depends(routing_service)]


def identity_key(request: Request, conn: Connection) -> bytes:
    """The key children's identity codes are hashed with, read and checked against the
    database (`key_of_database`, in the caller's transaction) once per app: building the
    settings and reading the key file cost more than the rest of a submission."""
    key: bytes | None = getattr(request.app.state, "identity_key", None)
    if key is None:
        home: Path = request.app.state.routing.home
        key, settled = key_of_database(
            conn, installation_key(Settings(database=DatabaseSettings(home=home)))
        )
        if settled:
            request.app.state.identity_key = key
    return key


class RoundIn(BaseModel):
    """A new round: one grade, one school year, an area of wards/communes of one unit edition
    (for the 2019 edition, districts too)."""

    name: str = Field(min_length=1, max_length=200)
    grade: Literal[1, 6]
    school_year: str = Field(examples=["2025-2026"])
    edition: str | None = Field(
        default=None,
        description="unit edition of the area's codes: 2025 or 2019 (default: the current one)",
    )
    districts: list[str] = Field(default_factory=list, description="2019 district codes")
    wards: list[str] = Field(default_factory=list, description="ward or commune codes")
    round_number: int = Field(default=1, ge=1, le=9)
    review_until: datetime | None = Field(
        default=None,
        description="end of the parents' review window (with time zone); after it the "
        "applicant data is locked",
    )


class NoticeIn(BaseModel):
    """A round's enrolment notice (replaces the one before). Days are Vietnam's; the last
    days are included."""

    enrol_from: date | None = Field(default=None, description="first day of enrolment")
    enrol_until: date | None = Field(default=None, description="last day of enrolment")
    papers: list[Annotated[str, Field(max_length=MAX_PAPER_CHARS)]] = Field(
        default_factory=list,
        max_length=MAX_PAPERS,
        description="the papers a family brings to enrol, one per item",
    )
    review_contact: str | None = Field(
        default=None,
        max_length=MAX_CONTACT_CHARS,
        description="whom and where to ask for a review of a result (office, address, phone)",
    )
    review_requests_until: date | None = Field(
        default=None, description="last day to ask for a review"
    )

    def notice(self) -> EnrolmentNotice:
        return EnrolmentNotice(
            self.enrol_from,
            self.enrol_until,
            tuple(self.papers),
            self.review_contact,
            self.review_requests_until,
        )


class NoticeOut(NoticeIn):
    """The notice as stored."""

    updated_at: datetime | None = None


class AreaUnitOut(BaseModel):
    """A commune-level unit of a round's area."""

    code: str
    name: str


class RoundOut(BaseModel):
    """A round as stored, with how many applications it has."""

    id: int
    name: str
    grade: int
    school_year: str
    admission_year: int
    round_number: int
    status: str
    edition: str = Field(description="unit edition of the round's area")
    wards: list[str]
    area: list[AreaUnitOut] = Field(description="the area's units with their names")
    review_until: datetime | None = Field(
        description="end of the parents' review window; after it only an officer, with a "
        "written reason, changes the applicant data"
    )
    review_window_open: bool
    birth_years: dict[str, list[int]] = Field(
        description='first and last birth year the round takes, by priority group ("": no '
        "group), for a form to check before sending; the verdict is the service's"
    )
    applications: int | None = Field(description="null for a parent when under 10")
    eligible: int | None = Field(description="null for a parent when under 10")
    pending_claims: int | None = Field(
        description="priority claims waiting for an officer's decision (officers only)"
    )
    conflicts: int | None = Field(
        description="imported rows that met a parent's own application (officers only)"
    )
    residence_mismatches: int | None = Field(
        default=None,
        description="applications whose stated unit of residence differs from the home's "
        "unit or names no known unit (officers only)",
    )
    actions: list[str] = Field(
        description="what the round's state allows now (import, apply, edit, decide_claim, "
        "notice, open, review, close, run, publish, next, purge), from the one table every "
        "door uses"
    )
    notice: NoticeOut = Field(
        description="the enrolment notice its officers set: enrolment dates, papers to bring, "
        "whom to ask for a review and until when (empty fields: not announced yet)"
    )


class RunIn(BaseModel):
    """How to allocate: the mechanism, the published lottery seed and its options."""

    mechanism: Literal["nearest", "da", "constrained", "greedy"] = Field(
        default="da",
        description="da (default): the result every parent can check alone; nearest: least "
        "total distance; constrained: siblings together, a hard maximum distance; greedy: "
        "first come, first served",
    )
    seed: int = Field(ge=0, le=2**62, description="the published lottery seed")
    mode: Literal["walk", "motorbike", "car"] = "motorbike"
    squared: bool = Field(default=False, description="minimise squared distance (nearest)")
    max_cost_m: int | None = Field(
        default=None, gt=0, description="hard maximum road distance in metres (constrained)"
    )
    time_limit_s: float = Field(default=60.0, gt=0, le=600)


class RunOut(BaseModel):
    """A stored run: reproducibility record and metrics."""

    id: int
    round_id: int
    mechanism: str
    seed: int
    status: str
    input_hash: str | None
    output_hash: str | None
    published: bool
    metrics: dict[str, Any]
    pending_claims: int | None = Field(
        default=None, description="priority claims not yet decided, so not counted in the run"
    )


class ImportOut(BaseModel):
    """What an applicant import did."""

    round_id: int
    counts: dict[str, int]
    seconds: float


def round_out(conn: Connection, the_round: Round, *, for_parent: bool = False) -> RoundOut:
    """The round with its counts; a parent sees counts only as the public map would (no
    group under SMALLEST_GROUP, none recoverable from another) and nothing of the officers'
    queue."""
    counts = count_round(conn, the_round.round_id)
    shown: dict[str, int | None] = {
        "applications": counts.applications,
        "eligible": counts.eligible,
        "pending_claims": counts.pending_claims,
        "conflicts": counts.conflicts,
        "residence_mismatches": counts.residence_mismatches,
    }
    if for_parent:
        shown = hide_small_groups(
            {"applications": counts.applications, "eligible": counts.eligible},
            nested=(("applications", "eligible"),),
        ) | {"pending_claims": None, "conflicts": None, "residence_mismatches": None}
    return RoundOut(
        id=the_round.round_id,
        name=the_round.name,
        grade=the_round.grade,
        school_year=the_round.school_year,
        admission_year=the_round.admission_year,
        round_number=the_round.round_number,
        status=the_round.status,
        edition=the_round.edition,
        wards=list(the_round.ward_codes),
        area=[AreaUnitOut(code=u.code, name=u.label) for u in area_units(conn, the_round)],
        review_until=the_round.review_until,
        review_window_open=not review_window_ended(the_round),
        birth_years=birth_years_by_group(the_round.grade, the_round.admission_year),
        notice=NoticeOut(**load_notice(conn, the_round.round_id).as_dict()),
        actions=[
            action.value
            for action in Action
            if may(action, the_round.status)
            and not (action in PARENT_CHANGES and review_window_ended(the_round))
        ],
        **shown,
    )


def outside_area(round_id: int) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"Đợt {round_id} nằm ngoài địa bàn của bạn / round {round_id} lies outside your area"
    )


def round_for(conn: Connection, round_id: int, user: CurrentUser) -> Round:
    """A round the user may act on: 404 if it does not exist, 403 if outside their area."""
    the_round = load_round(conn, round_id)
    if not user.may_act_on(the_round.area_unit_ids):
        raise outside_area(round_id)
    return the_round


@router.post(
    "/rounds",
    response_model=RoundOut,
    status_code=201,
    summary="Create a draft round",
    description=OFFICERS_NOTE,
)
def create(body: RoundIn, conn: Conn, user: Officer) -> RoundOut:
    with transaction(conn):
        made = create_round(
            conn,
            name=body.name,
            grade=body.grade,
            school_year=body.school_year,
            districts=body.districts,
            wards=body.wards,
            round_number=body.round_number,
            edition=body.edition,
            review_until=body.review_until,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
        if not user.may_act_on(made.area_unit_ids):
            raise PermissionDeniedError(
                "Địa bàn của đợt nằm ngoài địa bàn của bạn / the round's area lies outside "
                f"your area ({user.area_names})"
            )
        return round_out(conn, made)


@router.get(
    "/rounds",
    response_model=list[RoundOut],
    summary="Rounds: a parent sees open and published ones, an officer those in their area",
    description=roles_note(*READERS),
)
def rounds(
    conn: Conn, user: Annotated[CurrentUser, Depends(require_roles(*READERS))]
) -> list[RoundOut]:
    shown = []
    for the_round in list_rounds(conn):
        if user.role == PARENT:
            if the_round.status in ("open", "published"):
                shown.append(the_round)
        elif user.may_act_on(the_round.area_unit_ids):
            shown.append(the_round)
    return [round_out(conn, r, for_parent=user.role == PARENT) for r in shown]


@router.get(
    "/rounds/{round_id}",
    response_model=RoundOut,
    summary="One round",
    description=roles_note(*READERS)
    + " A parent sees open and published rounds; an officer rounds inside their area.",
)
def show(
    round_id: int,
    conn: Conn,
    user: Annotated[CurrentUser, Depends(require_roles(*READERS))],
) -> RoundOut:
    if user.role == PARENT:
        the_round = load_round(conn, round_id)
        if the_round.status not in ("open", "published"):
            raise NotFoundError(f"no open or published round with id {round_id}")
    else:
        the_round = round_for(conn, round_id, user)
    return round_out(conn, the_round, for_parent=user.role == PARENT)


@router.post(
    "/rounds/{round_id}/open",
    response_model=RoundOut,
    summary="Open a round for parents' applications (from draft, or reopen a closed one)",
    description=OFFICERS_NOTE,
)
def open_round(round_id: int, conn: Conn, user: Officer) -> RoundOut:
    return move_round(conn, round_id, user, "open")


@router.post(
    "/rounds/{round_id}/review",
    response_model=RoundOut,
    summary="Stop new applications; parents check their data before it is locked",
    description=OFFICERS_NOTE,
)
def review_round(round_id: int, conn: Conn, user: Officer) -> RoundOut:
    return move_round(conn, round_id, user, "review")


@router.post(
    "/rounds/{round_id}/close",
    response_model=RoundOut,
    summary="Close a round: its data is locked for allocation (runs need a closed round)",
    description=OFFICERS_NOTE,
)
def close_round(round_id: int, conn: Conn, user: Officer) -> RoundOut:
    return move_round(conn, round_id, user, "closed")


def move_round(conn: Connection, round_id: int, user: CurrentUser, status: str) -> RoundOut:
    """Open or close a round the user may act on, as one audited change."""
    round_for(conn, round_id, user)
    with transaction(conn):
        changed = set_round_status(
            conn, round_id, status, actor=user.username, remote_addr=user.remote_addr
        )
        return round_out(conn, changed)


@router.post(
    "/rounds/{round_id}/applicants",
    response_model=ImportOut,
    summary="Import applicants from a CSV file sent as the request body (text/csv)",
    description=OFFICERS_NOTE
    + " Columns: child_id, birth_date, lon, lat, and optionally ward, address, "
    "priority_group, sibling_id, preferences (school codes separated by ';'). Every child is "
    "checked for eligibility; the whole file is refused, naming the line, if a row is broken. "
    f"At most {MAX_UPLOAD_BODY_BYTES:,} bytes (413 beyond) and "
    "SCHOOLMAP_IMPORT_MAX_APPLICANTS rows; "
    "a request abandoned by its client stops and imports nothing.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_csv(
    round_id: int,
    request: Request,
    conn: Conn,
    user: Officer,
    filename: Annotated[str, Query(max_length=200, description="the file's name")] = "upload.csv",
) -> ImportOut:
    def check_round() -> bytes:
        round_for(conn, round_id, user)
        key = identity_key(request, conn)
        conn.commit()  # no transaction stays open while the body arrives
        return key

    key = await run_in_threadpool(check_round)
    limits = import_limits(request)
    with tempfile.TemporaryDirectory(prefix="schoolmap-upload-") as folder:
        path = Path(folder) / "applicants.csv"

        def work(stop: threading.Event) -> ImportReport:
            with transaction(conn):
                return import_applicants(
                    conn,
                    round_id,
                    path,
                    key,
                    no_progress,
                    actor=user.username,
                    remote_addr=user.remote_addr,
                    limits=limits,
                    stop=stop,
                    source_name=filename,
                )

        try:
            await receive_to_file(request, path, MAX_UPLOAD_BODY_BYTES)
            report = await run_while_connected(request, work)
        except ImportFileError as exc:
            # Name the uploaded file, not the temporary copy.
            raise ImportFileError(filename, exc.problem) from None
        finally:
            if path.is_file() and path.stat().st_size >= LARGE_UPLOAD_BYTES:
                release_memory_later()
    return ImportOut(round_id=round_id, counts=report.counts, seconds=round(report.seconds, 3))


@router.post(
    "/rounds/{round_id}/runs",
    response_model=RunOut,
    status_code=201,
    summary="Allocate the round's eligible applicants with one mechanism and store the run",
    description=OFFICERS_NOTE
    + " The round must not be open for applications. The same applicants, schools, network "
    "and seed give the same result (compare output_hash).",
)
def run(round_id: int, body: RunIn, conn: Conn, routing: Routing, user: Officer) -> RunOut:
    round_for(conn, round_id, user)
    with transaction(conn):
        summary = run_round(
            conn,
            routing,
            round_id,
            body.mechanism,
            seed=body.seed,
            mode=body.mode,
            squared=body.squared,
            time_limit_s=body.time_limit_s,
            max_cost_m=body.max_cost_m,
            actor=user.username,
            remote_addr=user.remote_addr,
        )
    return RunOut(
        id=summary.run_id,
        round_id=round_id,
        mechanism=summary.mechanism,
        seed=summary.seed,
        status=summary.status,
        input_hash=summary.input_hash,
        output_hash=summary.output_hash,
        published=False,
        metrics={**summary.metrics, "solve_seconds": round(summary.solve_seconds, 3)},
        pending_claims=summary.pending_claims,
    )


@router.get(
    "/rounds/{round_id}/runs",
    response_model=list[RunOut],
    summary="The round's runs, oldest first",
    description=OFFICERS_NOTE,
)
def runs(round_id: int, conn: Conn, user: Officer) -> list[RunOut]:
    round_for(conn, round_id, user)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, mechanism, seed, status, input_hash, output_hash, "
            "published_at IS NOT NULL, metrics FROM allocation_runs WHERE round_id = %s "
            "ORDER BY id",
            (round_id,),
        )
        rows = cur.fetchall()
    return [
        RunOut(
            id=r[0],
            round_id=round_id,
            mechanism=r[1],
            seed=r[2],
            status=r[3],
            input_hash=r[4],
            output_hash=r[5],
            published=r[6],
            metrics=r[7] or {},
        )
        for r in rows
    ]


@router.get(
    "/rounds/{round_id}/runs/compare",
    summary="Runs side by side: distance, share at nearest school, unassigned, classes over size",
    description=OFFICERS_NOTE + f" Rows: {', '.join(COMPARED)}.",
)
def compare(
    round_id: int,
    conn: Conn,
    user: Officer,
    run_ids: Annotated[list[int], Query(alias="run", min_length=1, max_length=10)],
) -> Response:
    round_for(conn, round_id, user)
    for run_id in run_ids:
        run_for(conn, round_id, run_id)
    return json_response(
        {
            "metrics": list(COMPARED),
            "notes": {key: {"vi": vi, "en": en} for key, (vi, en) in METRIC_NOTES.items()},
            "runs": compare_runs(conn, run_ids),
        }
    )


@router.post(
    "/rounds/{round_id}/runs/{run_id}/publish",
    response_model=RoundOut,
    summary="Publish a run as the round's result; parents then see their child's school",
    description=OFFICERS_NOTE + " One published run per round; the round becomes published.",
)
def publish(round_id: int, run_id: int, conn: Conn, user: Officer) -> RoundOut:
    round_for(conn, round_id, user)
    run_for(conn, round_id, run_id)
    with transaction(conn):
        publish_run(conn, run_id, actor=user.username, remote_addr=user.remote_addr)
        return round_out(conn, load_round(conn, round_id))


@router.get(
    "/rounds/{round_id}/runs/{run_id}/export",
    summary="A run's assignments with distances and explanations, as CSV, GeoJSON or GeoPackage",
    description=OFFICERS_NOTE
    + " The CSV (UTF-8 with BOM, for Excel) holds no home. GeoJSON and GeoPackage hold every "
    "child's exact home: they are refused unless `homes=true` says the officer read the "
    "warning; never publish them.",
    response_class=Response,
)
def export(
    round_id: int,
    run_id: int,
    conn: Conn,
    user: Officer,
    format: Literal["csv", "geojson", "gpkg"] = "csv",
    homes: Annotated[
        bool, Query(description="true: I know the file holds children's exact homes")
    ] = False,
) -> Response:
    round_for(conn, round_id, user)
    run_for(conn, round_id, run_id)
    if format != "csv" and not homes:
        raise InvalidRequestError(f"{HOMES_WARNING} (homes=true)")
    folder = Path(tempfile.mkdtemp(prefix="schoolmap-export-"))
    try:
        path = folder / f"run-{run_id}.{format}"
        targets = {"csv": (path, None, None), "geojson": (None, path, None)}
        csv_path, geojson_path, gpkg_path = targets.get(format, (None, None, path))
        with transaction(conn):
            export_run(
                conn,
                run_id,
                csv_path,
                geojson_path,
                gpkg_path=gpkg_path,
                actor=user.username,
                remote_addr=user.remote_addr,
                # A city's run is written by as many processes as the machine has cores.
                workers=os.cpu_count() or 1,
            )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    media = {
        "csv": "text/csv; charset=utf-8",
        "geojson": "application/geo+json",
        "gpkg": "application/geopackage+sqlite3",
    }[format]
    # Sent from the file as it is read (a city's CSV is about 100 MB), then deleted.
    return FileResponse(
        path,
        media_type=media,
        filename=f"run-{run_id}.{format}",
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


class NextRoundOut(BaseModel):
    """The round opened after a published one, and what was carried into it."""

    round: RoundOut
    carried: int
    eligible: int
    newly_eligible: int
    seats_left: int


@router.post(
    "/rounds/{round_id}/next",
    response_model=NextRoundOut,
    summary="Open round 2: the seats a published round left, for the children it left",
    description=OFFICERS_NOTE
    + " Children not placed are carried over and checked again without the residence rule.",
)
def open_next(
    round_id: int,
    conn: Conn,
    user: Officer,
    name: Annotated[str | None, Body(embed=True, max_length=200)] = None,
) -> NextRoundOut:
    round_for(conn, round_id, user)
    with transaction(conn):
        made = open_next_round(
            conn, round_id, name=name, actor=user.username, remote_addr=user.remote_addr
        )
        return NextRoundOut(
            round=round_out(conn, made.the_round),
            carried=made.carried,
            eligible=made.eligible,
            newly_eligible=made.newly_eligible,
            seats_left=made.seats_left,
        )


class VerificationOut(BaseModel):
    """A run solved again from its record: do both hashes match?"""

    run_id: int
    ok: bool
    same_input: bool
    same_output: bool
    stored_input_hash: str
    input_hash: str
    stored_output_hash: str
    output_hash: str | None
    problems: list[str]


@router.post(
    "/rounds/{round_id}/runs/{run_id}/verify",
    response_model=VerificationOut,
    summary="Solve a stored run again from its record and compare its hashes",
    description=OFFICERS_NOTE + " Reads only; says what changed when the hashes differ.",
)
def verify(
    round_id: int, run_id: int, conn: Conn, user: Officer, routing: Routing
) -> VerificationOut:
    round_for(conn, round_id, user)
    run_for(conn, round_id, run_id)
    checked = verify_run(conn, routing, run_id)
    return VerificationOut(
        run_id=checked.run_id,
        ok=checked.ok,
        same_input=checked.same_input,
        same_output=checked.same_output,
        stored_input_hash=checked.stored_input_hash,
        input_hash=checked.input_hash,
        stored_output_hash=checked.stored_output_hash,
        output_hash=checked.output_hash,
        problems=list(checked.problems),
    )


class PurgeOut(BaseModel):
    """What deleting a finished round's personal data removed."""

    round_id: int
    applications: int
    assignments: int
    applicants: int


@router.post(
    "/rounds/{round_id}/purge",
    response_model=PurgeOut,
    summary="Retention: delete a published round's personal data; its aggregate record stays",
    description=roles_note(CITY_ADMIN),
)
def purge(
    round_id: int,
    conn: Conn,
    user: Annotated[CurrentUser, Depends(require_roles(CITY_ADMIN))],
) -> PurgeOut:
    load_round(conn, round_id)
    with transaction(conn):
        purged = purge_round(conn, round_id, actor=user.username, remote_addr=user.remote_addr)
    return PurgeOut(
        round_id=purged.round_id,
        applications=purged.applications,
        assignments=purged.assignments,
        applicants=purged.applicants,
    )


@router.get(
    "/rounds/{round_id}/runs/{run_id}/schools",
    summary="Children a run places at each school and how many beyond the norm, aggregated",
    description=OFFICERS_NOTE
    + f" Counts of fewer than {SMALLEST_GROUP} children are returned as null, never a child.",
)
def schools_of_run(round_id: int, run_id: int, conn: Conn, user: Officer) -> Response:
    the_round = round_for(conn, round_id, user)
    run_for(conn, round_id, run_id)
    norm = NORM_M[the_round.grade]
    return json_response(
        {
            "run": run_id,
            "norm_m": norm,
            "smallest_group": SMALLEST_GROUP,
            "schools": placed_by_school(conn, run_id, norm),
        }
    )


@router.get(
    "/rounds/{round_id}/runs/{run_id}/changes",
    summary="Children whose school differs between this run and another of the round",
    description=OFFICERS_NOTE
    + " Counts per unit and per school (leaving and arriving), and each child's two schools.",
)
def changes_of_run(
    round_id: int,
    run_id: int,
    conn: Conn,
    user: Officer,
    other: Annotated[int, Query(description="the run to compare with")],
) -> Response:
    round_for(conn, round_id, user)
    run_for(conn, round_id, run_id)
    run_for(conn, round_id, other)
    return json_response(changes_between(conn, other, run_id))


@router.get(
    "/rounds/{round_id}/runs/{run_id}/estimated",
    summary="Children and schools whose distances are estimated: beyond the mapped roads",
    description=OFFICERS_NOTE
    + " A home farther than 1 km from every mapped road is joined to the nearest one, that "
    "stretch counted as its straight line times 1.4; each such child is listed with how far "
    "the home is from the road, and the school and estimated distance given; each school "
    "beyond the mapped roads likewise, with how many children were placed there.",
)
def estimated_of_run(round_id: int, run_id: int, conn: Conn, user: Officer) -> Response:
    round_for(conn, round_id, user)
    run_for(conn, round_id, run_id)
    return json_response(
        {
            "run": run_id,
            "beyond_m": MAX_SNAP_M,
            "detour": ESTIMATED_DETOUR,
            "children": estimated_homes(conn, run_id),
            # Schools beyond the mapped roads: distances to them are estimated the same way.
            "schools": estimated_schools(conn, run_id),
        }
    )


@router.get(
    "/rounds/{round_id}/demand",
    summary="Applicants and seats by ward, aggregated; groups under 10 children hidden",
    description=OFFICERS_NOTE
    + f" Counts of fewer than {SMALLEST_GROUP} children are returned as null, never a home.",
)
def demand(
    round_id: int,
    conn: Conn,
    user: Officer,
    run: int | None = None,
    format: Annotated[
        Literal["geojson", "gpkg"], Query(description="geojson, or gpkg for a GIS")
    ] = "geojson",
) -> Response:
    the_round = round_for(conn, round_id, user)
    if run is not None:
        run_for(conn, round_id, run)
    features = demand_by_unit(conn, the_round, run, NORM_M[the_round.grade])
    if format == "gpkg":
        body = demand_geopackage(features, round_id, run)
        return file_answer(body, demand_layer(round_id, run), "gpkg")
    return json_response(
        {
            "type": "FeatureCollection",
            "features": features,
            "smallest_group": SMALLEST_GROUP,
            "norm_m": NORM_M[the_round.grade],
        }
    )
