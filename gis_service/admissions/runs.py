"""Allocation runs of a round: run a mechanism, store it atomically, compare, publish, export."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg2.extras import Json, execute_values

from allocation.solve import solve
from gis_service import audit
from gis_service.admissions.build import build_round_problem
from gis_service.admissions.rounds import load_round
from gis_service.db.connection import Connection, savepoint
from gis_service.errors import InvalidRequestError, NotFoundError
from gis_service.routing.service import RoutingService

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
    "justified_envy",
    "siblings_split",
)


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
) -> RunSummary:
    """Solve the round with a mechanism and store the run with every explanation, all or nothing.

    A run that fails stores nothing, so earlier runs of the round stay as they were.
    """
    the_round = load_round(conn, round_id)
    if the_round.status in ("published", "archived"):
        raise InvalidRequestError(
            f"round {round_id} is {the_round.status}; open a new round instead"
        )
    built = build_round_problem(
        conn, routing, the_round, mode=mode, seed=seed, max_cost_m=max_cost_m
    )
    norm = NORM_M[the_round.grade]
    result = solve(
        built.problem,
        mechanism,  # type: ignore[arg-type]
        squared=squared,
        time_limit_s=time_limit_s,
        norm=norm,
    )
    parameters = {
        **result.record.parameters,
        "mode": mode,
        "network_id": built.network_id,
        "unreachable_homes": built.unreachable,
        "max_cost_m": max_cost_m,
    }
    metrics = result.metrics.as_dict()
    with savepoint(conn), conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO allocation_runs (round_id, mechanism, seed, parameters, status,
                                         input_hash, output_hash, code_version, metrics)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
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
            ),
        )
        run_id = int(cur.fetchone()[0])  # type: ignore[index]
        rows = []
        for i, explanation in enumerate(result.explanations):
            school = int(result.assignment[i])
            rows.append(
                (
                    run_id,
                    int(built.applicant_ids[i]),
                    int(built.school_ids[school]) if school >= 0 else None,
                    int(built.problem.cost[i, school]) if school >= 0 else None,
                    json.dumps(
                        _with_school_ids(explanation.as_dict(), built.school_ids),
                        ensure_ascii=False,
                    ),
                )
            )
        execute_values(
            cur,
            "INSERT INTO assignments (run_id, applicant_id, school_id, cost, explanation) "
            "VALUES %s",
            rows,
            template="(%s, %s, %s, %s, %s::jsonb)",
            page_size=2000,
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


def verify_run(conn: Connection, routing: RoutingService, run_id: int) -> Verification:
    """Rebuild a run's problem from the database and its record, solve it again, compare hashes.

    The input hash covers applicants, schools, seats, costs and the seed: when it differs, the
    data (or the road network) changed since the run, and the report says what to look at.
    Nothing is stored; the check only reads.
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
    built = build_round_problem(
        conn,
        routing,
        the_round,
        mode=mode,
        seed=int(seed),
        max_cost_m=parameters.get("max_cost_m"),
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
        result = solve(
            built.problem,
            mechanism,
            squared=bool(parameters.get("squared", False)),
            time_limit_s=float(parameters.get("time_limit_s", 60.0)),
            norm=parameters.get("norm"),
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


def _with_school_ids(explanation: dict[str, Any], school_ids: Any) -> dict[str, Any]:
    """Explanations name schools by problem index; store the database ids beside them."""
    if explanation.get("school_index") is not None:
        explanation["school_id"] = int(school_ids[explanation["school_index"]])
    for passed in explanation.get("passed_over", []):
        passed["school_id"] = int(school_ids[passed["school_index"]])
    return explanation


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


def publish_run(
    conn: Connection,
    run_id: int,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> None:
    """Make a run the round's result: one published run per round, then the round is closed."""
    with conn.cursor() as cur:
        cur.execute("SELECT round_id, status FROM allocation_runs WHERE id = %s", (run_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no run with id {run_id}")
        round_id, status = row
        if status not in ("optimal", "feasible", "complete"):
            raise InvalidRequestError(f"run {run_id} ended {status}; it cannot be published")
        cur.execute(
            "SELECT id FROM allocation_runs WHERE round_id = %s AND published_at IS NOT NULL",
            (round_id,),
        )
        already = cur.fetchone()
        if already is not None:
            raise InvalidRequestError(f"round {round_id} already has published run {already[0]}")
        cur.execute("UPDATE allocation_runs SET published_at = now() WHERE id = %s", (run_id,))
        cur.execute("UPDATE rounds SET status = 'published' WHERE id = %s", (round_id,))
        cur.execute("SELECT output_hash FROM allocation_runs WHERE id = %s", (run_id,))
        output_hash = cur.fetchone()[0]  # type: ignore[index]
    audit.record(
        conn,
        actor=actor,
        action="round.publish",
        target=f"run:{run_id}",
        detail={"round": round_id, "output_hash": output_hash},
        remote_addr=remote_addr,
    )
