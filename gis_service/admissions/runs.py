"""Allocation runs of a round: run a mechanism, store it atomically, compare, publish, export."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from psycopg2.extras import Json

from allocation.errors import AllocationError
from allocation.result import Result
from allocation.solve import solve
from gis_service import audit
from gis_service.admissions.applications import already_placed
from gis_service.admissions.build import RoundProblem, build_round_problem
from gis_service.admissions.disclosure import hide_small_groups
from gis_service.admissions.lifecycle import Action, lock_round
from gis_service.admissions.rounds import Round, count_round, load_round
from gis_service.admissions.run_store import store_assignments
from gis_service.admissions.seats import record_seats_given, runs_followed
from gis_service.admissions.solving import SolveJob, solve_job
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ConflictError, InvalidRequestError, NotFoundError, SchoolmapError
from gis_service.executor import Executor, catching, configured_executor
from gis_service.importers.eta import format_seconds
from gis_service.importers.report import ProgressCallback, no_progress
from gis_service.routing.service import ESTIMATED_DETOUR, MAX_SNAP_M, RoutingService

# Distance norms in practice: 4 km to a primary school, 7 km to a lower-secondary one.
NORM_M = {1: 4_000, 6: 7_000}
# Metrics shown side by side, in this order.
COMPARED = (
    "placed",
    "unassigned",
    "mean_cost",
    "p90_cost",
    "max_cost",
    "share_at_nearest",
    "share_first_choice",
    "beyond_norm",
    "classes_over_size",
    "children_with_justified_envy",
    "siblings_split",
    "estimated_homes",
    "estimated_schools",
)

DEFAULT_MECHANISM = "da"
"""The mechanism a round runs unless the officer chooses another: deferred acceptance with
schools admitting by priority group, then road distance, then the published lottery. Its result
is the one a parent can check alone: no child is refused a school that admitted a child of the
same priority living farther away (no justified envy)."""

METRIC_NOTES: dict[str, tuple[str, str]] = {
    "placed": ("Số trẻ được xếp trường.", "Children given a school."),
    "unassigned": (
        "Số trẻ chưa có trường (khi mọi trường gần đã đủ chỗ).",
        "Children without a school (every school they could go to was full).",
    ),
    "mean_cost": (
        "Quãng đường trung bình từ nhà đến trường được xếp, theo đường đi (mét).",
        "Average road distance from home to the school given (metres).",
    ),
    "p90_cost": (
        "9 trên 10 trẻ đi học không xa hơn quãng đường này (mét).",
        "Nine children in ten travel no farther than this (metres).",
    ),
    "max_cost": ("Quãng đường xa nhất một trẻ phải đi (mét).", "The longest trip (metres)."),
    "share_at_nearest": (
        "Tỷ lệ trẻ được xếp vào trường gần nhà nhất mà trẻ được nhận.",
        "Share of children given the nearest school they may attend.",
    ),
    "share_first_choice": (
        "Tỷ lệ trẻ được xếp vào nguyện vọng 1 (trẻ không ghi nguyện vọng: trường gần nhất).",
        "Share given their first choice (the nearest school when they ranked none).",
    ),
    "beyond_norm": (
        "Số trẻ phải đi xa hơn chuẩn (4 km tiểu học, 7 km THCS).",
        "Children placed beyond the distance norm (4 km primary, 7 km lower secondary).",
    ),
    "classes_over_size": (
        "Số lớp vượt sĩ số quy định (35 tiểu học, 45 THCS).",
        "Classes above the legal size (35 primary, 45 lower secondary).",
    ),
    "children_with_justified_envy": (
        "Số trẻ có thể chỉ ra một trẻ khác cùng diện ưu tiên, nhà xa hơn, lại được nhận vào "
        "trường mà trẻ muốn hơn. Bằng 0 thì mỗi phụ huynh tự kiểm tra được kết quả của con.",
        "Children who could point to a child of the same priority living farther away who was "
        "admitted where they wanted to be. Zero means every parent can check the result alone.",
    ),
    "siblings_split": (
        "Số nhóm anh chị em bị xếp vào các trường khác nhau.",
        "Sibling groups placed at different schools.",
    ),
    "estimated_homes": (
        "Số trẻ có nhà cách đường trên bản đồ quá 1 km: quãng đường được ước tính.",
        "Children whose home is over 1 km from a mapped road: their distances are estimated.",
    ),
    "estimated_schools": (
        "Số trường cách đường trên bản đồ quá 1 km: quãng đường đến các trường này được ước tính.",
        "Schools over 1 km from a mapped road: distances to them are estimated.",
    ),
}
"""What each compared number means, in plain Vietnamese and in English."""


@dataclass(frozen=True)
class RunSummary:
    """A stored run: its id, status, reproducibility record and metrics."""

    run_id: int
    round_id: int
    mechanism: str
    status: str
    seed: int
    input_hash: str
    output_hash: str
    metrics: dict[str, Any]
    solve_seconds: float
    pending_claims: int = 0
    """Priority claims of the round no officer had decided: not counted in this run."""


def _beyond_radius(built: RoundProblem, assignment: np.ndarray) -> np.ndarray:
    """Homes with no school within the fields' radius by road, or placed at a school beyond
    it: their distance to the school given is estimated (admissions.build)."""
    beyond = (
        built.beyond_radius.copy()
        if built.beyond_radius is not None
        else np.zeros(len(assignment), bool)
    )
    if built.radius_m is not None:
        placed = np.flatnonzero(assignment >= 0)
        given = built.problem.cost[placed, assignment[placed]]
        beyond[placed[given > built.radius_m]] = True
    return beyond


def run_round(
    conn: Connection,
    routing: RoutingService,
    round_id: int,
    mechanism: str,
    *,
    seed: int,
    mode: str = "motorbike",
    squared: bool = False,
    time_limit_s: float = 60.0,
    max_cost_m: int | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
    progress: ProgressCallback = no_progress,
    executor: Executor | None = None,
) -> RunSummary:
    """Solve the round with a mechanism and store the run with every explanation, all or nothing.

    A run that fails stores nothing, so earlier runs of the round stay as they were, and its
    error is raised. Each step is reported to `progress`, the allocation with the time the
    round's last run of the mechanism took, the storing with the share written and the time
    left. The round is a batch of one (`run_rounds`).
    """
    batch = run_rounds(
        conn,
        routing,
        [round_id],
        mechanism,
        seed=seed,
        mode=mode,
        squared=squared,
        time_limit_s=time_limit_s,
        max_cost_m=max_cost_m,
        actor=actor,
        remote_addr=remote_addr,
        progress=progress,
        executor=executor,
    )
    if batch.failed:
        raise batch.failed[0].error
    return batch.runs[0]


@dataclass(frozen=True)
class RoundFailure:
    """A round of a batch that stored no run, and why."""

    round_id: int
    name: str
    error: Exception

    @property
    def message(self) -> str:
        return f"đợt {self.round_id} «{self.name}» / round {self.round_id}: {self.error}"


@dataclass(frozen=True)
class RoundBatch:
    """What a batch of rounds gave: the runs stored, in the rounds' order, and the rounds
    that failed, each with its error."""

    runs: list[RunSummary]
    failed: list[RoundFailure]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class _Prepared:
    """A round locked for running, with its problem built (read in this process)."""

    the_round: Round
    built: RoundProblem


def closed_rounds(conn: Connection, school_year: str, grade: int) -> list[int]:
    """Ids of the closed rounds (ready to run) of a school year and grade, oldest first."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM rounds WHERE school_year = %s AND grade = %s AND status = 'closed' "
            "ORDER BY id",
            (school_year, grade),
        )
        return [int(row[0]) for row in cur.fetchall()]


def run_rounds(
    conn: Connection,
    routing: RoutingService,
    round_ids: list[int],
    mechanism: str,
    *,
    seed: int,
    mode: str = "motorbike",
    squared: bool = False,
    time_limit_s: float = 60.0,
    max_cost_m: int | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
    progress: ProgressCallback = no_progress,
    executor: Executor | None = None,
) -> RoundBatch:
    """Run many rounds (a city's ward rounds) with one mechanism and seed; store each run.

    Each round's problem is read and its run stored here; the solving of the rounds are pieces
    of `executor` (default: the configured one, local processes unless a Dask cluster is set),
    so they may run side by side. A round that fails (not closed, malformed, a solver error)
    stores nothing and is named in `failed`; the others' runs are stored as they are. When
    the executor itself fails (its cluster unreachable or lost), nothing of the batch is
    stored and its error is raised.
    """
    round_ids = list(dict.fromkeys(round_ids))  # a round named twice runs once
    prepared: list[_Prepared] = []
    failed: dict[int, RoundFailure] = {}
    several = len(round_ids) > 1
    for k, round_id in enumerate(round_ids, 1):
        if several:
            progress(f"[{k}/{len(round_ids)}] đợt / round {round_id}")
        try:
            with savepoint(conn):
                the_round = lock_round(conn, round_id, Action.RUN)
                built = _build(
                    conn, routing, the_round, progress, mode=mode, seed=seed, max_cost_m=max_cost_m
                )
        except (SchoolmapError, AllocationError) as error:
            failed[round_id] = RoundFailure(round_id, _round_name(conn, round_id), error)
            progress(f"  {failed[round_id].message}")
            continue
        prepared.append(_Prepared(the_round, built))
    jobs = [
        SolveJob(p.built.problem, mechanism, squared, time_limit_s, NORM_M[p.the_round.grade])
        for p in prepared
    ]
    stored: dict[int, RunSummary] = {}
    runner = executor or configured_executor()
    if several:
        progress(f"xếp trường / allocating ({mechanism}): {len(jobs)} đợt / rounds")
    elif jobs:
        progress(_solving(conn, round_ids[0], mechanism))
    started = time.perf_counter()
    # The executor failing undoes every run of the batch: none is half the batch's record.
    with savepoint(conn):
        solved = runner.map_blocks(partial(catching, solve_job), jobs, shared=None)
        for k, (ready, outcome) in enumerate(zip(prepared, solved, strict=True), 1):
            round_id = ready.the_round.round_id
            seconds = time.perf_counter() - started
            if outcome.error is not None or outcome.value is None:
                failed[round_id] = RoundFailure(
                    round_id, ready.the_round.name, outcome.error or RuntimeError("no result")
                )
                progress(f"  {failed[round_id].message}")
                continue
            if several:
                progress(
                    f"  [{k}/{len(jobs)}] đợt / round {round_id} «{ready.the_round.name}»: "
                    f"{outcome.value.status.value} ({seconds:.1f} s)"
                )
            else:
                progress(f"  xong / done ({seconds:.1f} s)")
            try:
                stored[round_id] = _record_run(
                    conn,
                    ready,
                    outcome.value,
                    mechanism=mechanism,
                    seed=seed,
                    mode=mode,
                    max_cost_m=max_cost_m,
                    actor=actor,
                    remote_addr=remote_addr,
                    progress=progress,
                )
            except SchoolmapError as refused:
                failed[round_id] = RoundFailure(round_id, ready.the_round.name, refused)
                progress(f"  {failed[round_id].message}")
    runs = [stored[r] for r in round_ids if r in stored]
    return RoundBatch(runs, [failed[r] for r in round_ids if r in failed])


def _round_name(conn: Connection, round_id: int) -> str:
    """The round's name, or '?' for an id no round has."""
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM rounds WHERE id = %s", (round_id,))
        row = cur.fetchone()
    return "?" if row is None else str(row[0])


def _record_run(
    conn: Connection,
    ready: _Prepared,
    result: Result,
    *,
    mechanism: str,
    seed: int,
    mode: str,
    max_cost_m: int | None,
    actor: str,
    remote_addr: str | None,
    progress: ProgressCallback,
) -> RunSummary:
    """Store a round's solved run with every explanation, and say so in the audit log."""
    built, the_round = ready.built, ready.the_round
    round_id = the_round.round_id
    parameters = {
        **result.record.parameters,
        "mode": mode,
        "network_id": built.network_id,
        "unreachable_homes": built.unreachable,
        "access_rule": {"beyond_m": MAX_SNAP_M, "detour": ESTIMATED_DETOUR},
        "field_radius_m": built.radius_m,
        "max_cost_m": max_cost_m,
        "given_runs": list(built.given_runs),
    }
    metrics = result.metrics.as_dict()
    beyond_radius = _beyond_radius(built, result.assignment)
    estimated = (
        built.estimated if built.estimated is not None else np.zeros(len(result.assignment), bool)
    ) | beyond_radius
    metrics["estimated_homes"] = int(estimated.sum())
    metrics["estimated_homes_placed"] = int((estimated & (result.assignment >= 0)).sum())
    metrics["beyond_radius_homes"] = int(beyond_radius.sum())
    off_road = (
        built.school_access_m
        if built.school_access_m is not None
        else np.full(len(built.school_ids), np.nan)
    )
    far_schools = np.flatnonzero(~np.isnan(off_road))
    metrics["estimated_schools"] = int(far_schools.size)
    parameters["estimated_schools"] = {
        str(int(built.school_ids[s])): round(float(off_road[s]), 1) for s in far_schools
    }
    with savepoint(conn), conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO allocation_runs (round_id, mechanism, seed, parameters, status,
                                         input_hash, output_hash, code_version, metrics,
                                         round_revision)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
            """,
            (
                round_id,
                mechanism,
                seed,
                Json(parameters),
                result.status.value,
                result.record.input_hash,
                result.record.output_hash,
                result.record.code_version,
                Json(
                    {
                        **metrics,
                        "checks": result.checks.as_dict(),
                        "solve_seconds": round(result.solve_seconds, 3),
                    }
                ),
                the_round.revision,
            ),
        )
        run_id = int(cur.fetchone()[0])  # type: ignore[index]
        store_assignments(
            cur,
            run_id,
            result.explanations,
            built.applicant_ids,
            built.school_ids,
            estimated=estimated,
            access_m=built.access_m,
            detour=ESTIMATED_DETOUR,
            school_access_m=off_road,
            beyond_radius=beyond_radius,
            radius_m=built.radius_m,
            progress=progress,
        )
        audit.record(
            conn,
            actor=actor,
            action="round.run",
            target=f"run:{run_id}",
            detail={
                "round": round_id,
                "mechanism": mechanism,
                "seed": seed,
                "status": result.status.value,
                "input_hash": result.record.input_hash,
                "output_hash": result.record.output_hash,
                "code_version": result.record.code_version,
            },
            remote_addr=remote_addr,
        )
    return RunSummary(
        run_id,
        round_id,
        mechanism,
        result.status.value,
        seed,
        result.record.input_hash,
        result.record.output_hash,
        metrics,
        result.solve_seconds,
        pending_claims=count_round(conn, round_id).pending_claims,
    )


@dataclass(frozen=True)
class Verification:
    """Whether a stored run comes out the same when solved again from its record."""

    run_id: int
    same_input: bool
    same_output: bool
    stored_input_hash: str
    input_hash: str
    stored_output_hash: str
    output_hash: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.same_input and self.same_output


def verify_run(
    conn: Connection,
    routing: RoutingService,
    run_id: int,
    *,
    progress: ProgressCallback = no_progress,
) -> Verification:
    """Rebuild a run's problem from the database and its record, solve it again, compare hashes.

    The input hash covers applicants, schools, seats, costs and the seed: when it differs, the
    data (or the road network) changed since the run, and the report says what to look at.
    Nothing is stored; the check only reads. Each step is reported to `progress`.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT round_id, mechanism, seed, parameters, input_hash, output_hash "
            "FROM allocation_runs WHERE id = %s",
            (run_id,),
        )
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(f"no run with id {run_id}")
    round_id, mechanism, seed, parameters, stored_input, stored_output = row
    the_round = load_round(conn, round_id)
    if the_round.status == "archived":
        raise InvalidRequestError(
            f"round {round_id} is archived: its personal data was deleted, so run {run_id} "
            "can no longer be solved again (its hashes stay on record)"
        )
    mode = parameters.get("mode", "motorbike")
    built = _build(
        conn,
        routing,
        the_round,
        progress,
        mode=mode,
        seed=int(seed),
        max_cost_m=parameters.get("max_cost_m"),
        # Runs stored before they recorded this were built on their earlier rounds' runs.
        given_runs=tuple(parameters.get("given_runs", runs_followed(conn, round_id))),
    )
    problems = []
    if built.network_id != parameters.get("network_id"):
        problems.append(
            f"the {mode} road network is now {built.network_id}; the run used "
            f"{parameters.get('network_id')}"
        )
    input_hash = built.problem.input_hash()
    output_hash: str | None = None
    if input_hash != stored_input:
        problems.append(
            "the applicants, schools, seats or road distances changed since the run; "
            "the same input cannot be rebuilt"
        )
    else:
        with _step(progress, _solving(conn, round_id, mechanism, run_id)):
            result = solve(
                built.problem,
                mechanism,
                squared=bool(parameters.get("squared", False)),
                time_limit_s=float(parameters.get("time_limit_s", 60.0)),
                norm=parameters.get("norm"),
                # The hashes compare the assignment: its explanations are not needed.
                explain=False,
            )
        output_hash = result.record.output_hash
        if output_hash != stored_output:
            problems.append("solved again from the same input, the assignment differs")
    return Verification(
        run_id,
        input_hash == stored_input,
        output_hash == stored_output,
        stored_input,
        input_hash,
        stored_output,
        output_hash,
        tuple(problems),
    )


def _build(
    conn: Connection,
    routing: RoutingService,
    the_round: Round,
    progress: ProgressCallback,
    **options: Any,
) -> RoundProblem:
    """The round's problem, its building reported with its size."""
    with _step(progress, "dựng bài toán: trẻ, trường, quãng đường / building the problem") as done:
        built = build_round_problem(conn, routing, the_round, **options)
        done.append(f"{built.problem.n:,} trẻ / children × {built.problem.m} trường / schools")
    return built


def _solving(conn: Connection, round_id: int, mechanism: str, run_id: int | None = None) -> str:
    """What the allocation step says: the mechanism and, from the round's last run of it (or
    the run checked), about how long it takes."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT (metrics->>'solve_seconds')::float FROM allocation_runs "
            "WHERE round_id = %s AND mechanism = %s AND metrics ? 'solve_seconds' "
            "ORDER BY (id = %s) DESC, id DESC LIMIT 1",
            (round_id, mechanism, run_id),
        )
        row = cur.fetchone()
    line = f"xếp trường / allocating ({mechanism})"
    if row is not None and row[0] is not None:
        eta = format_seconds(float(row[0]))
        line += f", lần trước mất khoảng {eta} / about {eta} last time"
    return line


@contextmanager
def _step(progress: ProgressCallback, label: str) -> Iterator[list[str]]:
    """Report a step's start, then its end with its time and whatever the step added."""
    progress(label)
    started = time.perf_counter()
    said: list[str] = []
    yield said
    seconds = time.perf_counter() - started
    progress(f"  {'; '.join([*said, ''])}xong / done ({seconds:.1f} s)")


def compare_runs(conn: Connection, run_ids: list[int]) -> list[dict[str, Any]]:
    """The runs' metrics side by side, one dict per run, in the order asked."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, round_id, mechanism, seed, status, metrics, published_at IS NOT NULL "
            "FROM allocation_runs WHERE id = ANY(%s)",
            (run_ids,),
        )
        found = {row[0]: row for row in cur.fetchall()}
    missing = [r for r in run_ids if r not in found]
    if missing:
        raise NotFoundError(f"no run with id {', '.join(map(str, missing))}")
    table = []
    for run_id in run_ids:
        _, round_id, mechanism, seed, status, metrics, published = found[run_id]
        table.append(
            {
                "run": run_id,
                "round": round_id,
                "mechanism": mechanism,
                "seed": seed,
                "status": status,
                "published": published,
                **{key: metrics.get(key) for key in COMPARED},
            }
        )
    return table


PUBLISHABLE = ("optimal", "feasible", "complete")
"""Run statuses that may become a round's result."""


def publish_run(
    conn: Connection,
    run_id: int,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> None:
    """Make a run the round's one result; the round becomes published.

    Under the round's row lock: the round must be closed, and the run made at the round's
    current revision (not before a reopening or a priority decision), ended well, and within
    every school's seats once the other published rounds of the grade and year are counted.
    A unique index keeps a second published run of the round out whatever happens.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT r.id, r.grade, r.school_year FROM allocation_runs run "
            "JOIN rounds r ON r.id = run.round_id WHERE run.id = %s",
            (run_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"Không có lần chạy số {run_id} / no run with id {run_id}")
        # Publications of one grade and year, in turn: two rounds cannot both pass the checks
        # below on the same free seats or the same child. Taken before the round's own lock,
        # so two publishes never wait for each other's locks in opposite orders.
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext('publish:' || %s || ':' || %s))",
            (row[1], row[2]),
        )
    the_round = lock_round(conn, int(row[0]), Action.PUBLISH)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT status, round_revision, output_hash FROM allocation_runs WHERE id = %s",
            (run_id,),
        )
        status, revision, output_hash = cur.fetchone()  # type: ignore[misc]
        if status not in PUBLISHABLE:
            raise ConflictError(
                f"Lần chạy {run_id} kết thúc ở trạng thái {status}, không công bố được / run "
                f"{run_id} ended {status}; it cannot be published"
            )
        if revision != the_round.revision:
            raise ConflictError(
                f"Lần chạy {run_id} được chạy trước khi dữ liệu của đợt {the_round.round_id} "
                "thay đổi (đợt được mở lại hoặc một đối tượng ưu tiên vừa được xét); hãy chạy "
                f"lại / run {run_id} was made before round {the_round.round_id}'s data last "
                "changed (the round was reopened or a priority claim was decided); run it again"
            )
        over = _schools_over_capacity(conn, the_round, run_id)
        if over:
            shown = ", ".join(f"{name} (+{extra})" for name, extra in over[:5])
            raise ConflictError(
                f"Công bố lần chạy {run_id} sẽ vượt chỉ tiêu của {len(over)} trường ({shown}) vì "
                "một đợt khác cùng lớp, cùng năm học đã công bố; hãy chạy lại / publishing run "
                f"{run_id} would put {len(over)} school(s) over their seats ({shown}) as "
                "another round of the same grade and year was published since; run it again"
            )
        cur.execute("UPDATE allocation_runs SET published_at = now() WHERE id = %s", (run_id,))
        cur.execute("UPDATE rounds SET status = 'published' WHERE id = %s", (the_round.round_id,))
    record_seats_given(conn, run_id)
    refused_elsewhere = _refuse_places_given(conn, the_round, run_id)
    audit.record(
        conn,
        actor=actor,
        action="round.publish",
        target=f"run:{run_id}",
        detail={
            "round": the_round.round_id,
            "output_hash": output_hash,
            # Applications of the children placed here, refused in other rounds of the year.
            "refused_elsewhere": refused_elsewhere,
        },
        remote_addr=remote_addr,
    )


def _refuse_places_given(conn: Connection, the_round: Round, run_id: int) -> int:
    """Children the run places who apply to other unpublished rounds of the grade and year are
    judged not eligible there (already placed); those rounds' earlier runs go stale."""
    reason = already_placed(the_round.round_id)
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH refused AS (
                UPDATE applications a SET status = 'rejected',
                    rejection_reasons = a.rejection_reasons || %(reason)s::jsonb
                FROM rounds r
                WHERE r.id = a.round_id AND r.id <> %(round)s AND r.grade = %(grade)s
                  AND r.school_year = %(year)s AND r.status NOT IN ('published', 'archived')
                  AND a.status = 'eligible'
                  AND a.applicant_id IN (SELECT applicant_id FROM assignments
                                         WHERE run_id = %(run)s AND school_id IS NOT NULL)
                RETURNING a.round_id
            ), bumped AS (
                UPDATE rounds SET revision = revision + 1
                WHERE id IN (SELECT round_id FROM refused) RETURNING id
            )
            SELECT (SELECT count(*) FROM refused), (SELECT count(*) FROM bumped)
            """,
            {
                "run": run_id,
                "round": the_round.round_id,
                "grade": the_round.grade,
                "year": the_round.school_year,
                "reason": json.dumps([{"code": reason.code, "vi": reason.vi, "en": reason.en}]),
            },
        )
        refused, _ = cur.fetchone()  # type: ignore[misc]
    return int(refused)


_OVER_CAPACITY = """
    WITH given AS (
        SELECT school_id, sum(n) AS n FROM (
            SELECT s.school_id, s.placed AS n FROM run_school_seats s
            JOIN allocation_runs run ON run.id = s.run_id AND run.published_at IS NOT NULL
            JOIN rounds r ON r.id = run.round_id
            WHERE r.grade = %(grade)s AND r.school_year = %(year)s AND run.id <> %(run)s
            UNION ALL
            SELECT school_id, count(*) FROM assignments
            WHERE run_id = %(run)s AND school_id IS NOT NULL GROUP BY school_id
        ) counted GROUP BY school_id
    )
    SELECT s.name, given.n - g.classes * g.class_size
    FROM given JOIN schools s ON s.id = given.school_id
    JOIN school_grades g ON g.school_id = given.school_id AND g.grade = %(grade)s
    WHERE given.n > g.classes * g.class_size
    ORDER BY s.name
"""


def _schools_over_capacity(
    conn: Connection, the_round: Round, run_id: int
) -> list[tuple[str, int]]:
    """Schools whose seats of the grade the run would overfill, with the published runs of
    every round of the same grade and year, and by how many children."""
    with conn.cursor() as cur:
        cur.execute(
            _OVER_CAPACITY,
            {"run": run_id, "grade": the_round.grade, "year": the_round.school_year},
        )
        return [(name, int(extra)) for name, extra in cur.fetchall()]


def placed_by_school(conn: Connection, run_id: int, norm_m: int) -> list[dict[str, Any]]:
    """Children a run places at each school, and how many of them beyond the distance norm,
    with groups under SMALLEST_GROUP hidden (None): the officer's map, never a child."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT school_id, count(*), count(*) FILTER (WHERE cost > %s) FROM assignments "
            "WHERE run_id = %s AND school_id IS NOT NULL GROUP BY school_id ORDER BY school_id",
            (norm_m, run_id),
        )
        rows = cur.fetchall()
    return [
        {
            "school_id": int(school),
            **hide_small_groups(
                {"placed": int(placed), "beyond_norm": int(beyond)},
                nested=(("placed", "beyond_norm"),),
            ),
        }
        for school, placed, beyond in rows
    ]


def check_run_of_round(conn: Connection, round_id: int, run_id: int) -> None:
    """Raise NotFoundError unless the run is one of the round's."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM allocation_runs WHERE id = %s AND round_id = %s", (run_id, round_id)
        )
        if cur.fetchone() is None:
            raise NotFoundError(f"round {round_id} has no run with id {run_id}")
