"""Many ward rounds, and the forecasts and gaps of many units, through one executor: a Dask
cluster gives the same records as local processes, survives a worker killed mid-job, and an
unreachable scheduler is a clear error that leaves nothing half-recorded."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from allocation.errors import ProblemError
from gis_service import cli
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.admissions.runs import RoundBatch, closed_rounds, run_round, run_rounds
from gis_service.db.connection import Connection
from gis_service.errors import ClusterUnavailableError, ConflictError, InvalidRequestError
from gis_service.executor import DaskCluster, Executor, LocalProcesses, Outcome, catching
from gis_service.importers.report import ProgressCallback, no_progress
from gis_service.planning import cli as planning_cli
from gis_service.planning.gap import GapResult, GapSettings, compute_gap
from gis_service.planning.unit_batch import UnitBatch, compute_unit_gaps
from gis_service.routing.service import RoutingService
from tests.conftest import ROOT, rolled_back
from tests.dask_cluster import KillingOnce, RunningCluster, local_cluster

WARDS = ("90001", "90002", "90006", "90011")
SCHOOL_YEAR = "2025-2026"  # the demo children born in 2019 enter grade 1


@dataclass
class WardRounds:
    conn: Connection
    routing: RoutingService
    round_ids: list[int]  # closed, one per ward of WARDS
    open_round: int  # a ward round still taking applications

    def run(
        self,
        executor: Executor,
        rounds: list[int] | None = None,
        mechanism: str = "da",
        progress: ProgressCallback = no_progress,
    ) -> RoundBatch:
        """`run_rounds` of these rounds (default: the closed ones), seed 1."""
        return run_rounds(
            self.conn,
            self.routing,
            self.round_ids if rounds is None else rounds,
            mechanism,
            seed=1,
            executor=executor,
            progress=progress,
        )


def _ward_file(households: Path, ward: str, out: Path) -> Path:
    """The demo households living in one ward, as an officer's applicant file."""
    with households.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["ward_code"] == ward]
        fields = reader.fieldnames or []
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def _ward_round(conn: Connection, households: Path, ward: str, folder: Path, close: bool) -> int:
    made = create_round(
        conn, name=f"Lớp 1 phường {ward}", grade=1, school_year=SCHOOL_YEAR, wards=[ward]
    )
    path = _ward_file(households, ward, folder / f"{ward}.csv")
    import_applicants(conn, made.round_id, path, b"k", no_progress)
    set_round_status(conn, made.round_id, "open")
    if close:
        set_round_status(conn, made.round_id, "closed")
    return made.round_id


@pytest.fixture(scope="module")
def ward_rounds(
    demo_db_url: str, demo_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WardRounds]:
    """A closed grade-1 round for each of a few demo wards, and one still open."""
    households = demo_home / "demo" / "households.csv"
    folder = tmp_path_factory.mktemp("ward-files")
    with rolled_back(demo_db_url) as conn:
        ids = [_ward_round(conn, households, w, folder, close=True) for w in WARDS]
        still_open = _ward_round(conn, households, "90003", folder, close=False)
        routing = RoutingService(tmp_path_factory.mktemp("home"))
        yield WardRounds(conn, routing, ids, still_open)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    with local_cluster(ROOT) as running:
        yield running


def closed_port_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def assignments_hash(conn: Connection, run_id: int) -> str:
    """sha256 of a run's stored assignments: child, school, cost and explanation."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT applicant_id, school_id, cost, explanation FROM assignments "
            "WHERE run_id = %s ORDER BY applicant_id",
            (run_id,),
        )
        rows = cur.fetchall()
    assert rows, f"run {run_id} stored no assignment"
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


def batch_hashes(conn: Connection, batch: RoundBatch) -> dict[int, tuple[str, str]]:
    """Each round's output hash and stored assignments' hash."""
    return {r.round_id: (r.output_hash, assignments_hash(conn, r.run_id)) for r in batch.runs}


def count(conn: Connection, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")  # a test's own table names
        return int(cur.fetchone()[0])  # type: ignore[index]


@pytest.fixture(scope="module")
def local_rounds(ward_rounds: WardRounds) -> dict[int, tuple[str, str]]:
    """The closed ward rounds run with local processes."""
    said: list[str] = []
    batch = ward_rounds.run(LocalProcesses(workers=2), progress=said.append)
    assert batch.ok and [r.round_id for r in batch.runs] == ward_rounds.round_ids
    assert f"[1/{len(WARDS)}] đợt / round {ward_rounds.round_ids[0]}" in said
    assert any(f"[{len(WARDS)}/{len(WARDS)}] đợt / round" in line for line in said)
    return batch_hashes(ward_rounds.conn, batch)


def test_the_closed_rounds_of_a_year_and_grade(ward_rounds: WardRounds) -> None:
    assert closed_rounds(ward_rounds.conn, SCHOOL_YEAR, 1) == ward_rounds.round_ids
    assert closed_rounds(ward_rounds.conn, SCHOOL_YEAR, 6) == []


def test_rounds_through_dask_equal_the_local_run_and_each_round_alone(
    ward_rounds: WardRounds, local_rounds: dict[int, tuple[str, str]], cluster: RunningCluster
) -> None:
    batch = ward_rounds.run(DaskCluster(cluster.address))
    assert batch.ok
    assert batch_hashes(ward_rounds.conn, batch) == local_rounds
    # A batch of one round is `round run` of that round.
    first = ward_rounds.round_ids[0]
    alone = run_round(ward_rounds.conn, ward_rounds.routing, first, "da", seed=1)
    assert (alone.output_hash, assignments_hash(ward_rounds.conn, alone.run_id)) == local_rounds[
        first
    ]


def test_a_worker_killed_mid_batch_changes_no_round(
    ward_rounds: WardRounds,
    local_rounds: dict[int, tuple[str, str]],
    cluster: RunningCluster,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "killed"
    batch = ward_rounds.run(KillingOnce(cluster.address, marker))
    assert int(marker.read_text()) in cluster.worker_pids
    assert batch.ok
    assert batch_hashes(ward_rounds.conn, batch) == local_rounds


def test_a_failing_round_is_named_and_the_others_are_stored(
    ward_rounds: WardRounds, local_rounds: dict[int, tuple[str, str]], cluster: RunningCluster
) -> None:
    some = ward_rounds.round_ids[:2]
    said: list[str] = []
    batch = ward_rounds.run(
        DaskCluster(cluster.address),
        rounds=[some[0], ward_rounds.open_round, some[1]],
        progress=said.append,
    )
    assert [r.round_id for r in batch.runs] == some
    assert batch_hashes(ward_rounds.conn, batch) == {r: local_rounds[r] for r in some}
    [failed] = batch.failed
    assert (failed.round_id, failed.name) == (ward_rounds.open_round, "Lớp 1 phường 90003")
    assert isinstance(failed.error, ConflictError)
    assert failed.message.startswith(f"đợt {ward_rounds.open_round} «Lớp 1 phường 90003»")
    assert f"  {failed.message}" in said
    # Round alone, the same failure is raised.
    with pytest.raises(ConflictError):
        run_round(ward_rounds.conn, ward_rounds.routing, ward_rounds.open_round, "da", seed=1)


def test_rounds_failing_on_a_worker_are_named_and_store_nothing(
    ward_rounds: WardRounds, cluster: RunningCluster
) -> None:
    runs = count(ward_rounds.conn, "allocation_runs")
    batch = ward_rounds.run(
        DaskCluster(cluster.address), rounds=ward_rounds.round_ids[:2], mechanism="lottery"
    )
    assert batch.runs == []
    assert [f.round_id for f in batch.failed] == ward_rounds.round_ids[:2]
    assert all(isinstance(f.error, ProblemError) for f in batch.failed)
    assert "unknown mechanism" in batch.failed[0].message
    assert count(ward_rounds.conn, "allocation_runs") == runs


def test_an_unreachable_scheduler_stores_no_round(ward_rounds: WardRounds) -> None:
    tables = ("allocation_runs", "assignments", "audit_log")
    before = {t: count(ward_rounds.conn, t) for t in tables}
    address = closed_port_address()
    with pytest.raises(ClusterUnavailableError) as raised:
        ward_rounds.run(DaskCluster(address, 1.0))
    assert str(raised.value).startswith("Không kết nối được với cụm Dask tại " + address)
    assert {t: count(ward_rounds.conn, t) for t in before} == before
    # The connection is still usable: the batch undid only its own part.
    assert count(ward_rounds.conn, "rounds") > 0


class LentConnection:
    """The test's connection lent to a command: its commit and close leave the test's
    transaction as it is (rolled back at the module's end)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def commit(self) -> None:
        """The module's transaction is rolled back at its end."""

    def close(self) -> None:
        """The fixture closes the connection."""


def test_round_run_many_through_the_command(
    ward_rounds: WardRounds,
    local_rounds: dict[int, tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(cli, "open_database", lambda *_, **__: LentConnection(ward_rounds.conn))
    monkeypatch.setenv("SCHOOLMAP_HOME", str(tmp_path))
    monkeypatch.delenv("SCHOOLMAP_DASK_SCHEDULER", raising=False)
    command = ["round", "run-many", "--mechanism", "da", "--seed", "1"]
    ran = CliRunner().invoke(cli.app, [*command, "--year", SCHOOL_YEAR, "--grade", "1"])
    assert ran.exit_code == 0, ran.output
    assert f"{len(WARDS)} of {len(WARDS)} round(s) run: da, seed 1" in ran.stdout
    for round_id in ward_rounds.round_ids:
        assert f"round {round_id}: run " in ran.stdout
        assert f"output {local_rounds[round_id][0][:16]}" in ran.stdout
    assert f"[{len(WARDS)}/{len(WARDS)}] đợt / round" in ran.stderr  # progress per round
    first, still_open = ward_rounds.round_ids[0], ward_rounds.open_round
    failing = CliRunner().invoke(cli.app, [*command, str(first), str(still_open), str(first)])
    assert failing.exit_code == 1
    assert "1 of 2 round(s) run: da, seed 1; 1 failed" in failing.stdout
    assert failing.stdout.count(f"round {first}: run ") == 1  # named twice, run once
    assert f"FAILED đợt {still_open} «Lớp 1 phường 90003»" in failing.stderr
    both = CliRunner().invoke(cli.app, [*command, str(first), "--year", SCHOOL_YEAR])
    assert isinstance(both.exception, InvalidRequestError)


def test_a_piece_that_raises_is_an_outcome() -> None:
    assert catching(divmod, 7, 2) == Outcome((3, 1))
    failed = catching(divmod, 7, 0)
    assert failed.value is None and isinstance(failed.error, ZeroDivisionError)


# Forecasts and gaps of many units.

UNITS = ["90001", "90006", "90011"]
SETTINGS = GapSettings(grade=1, school_year=2025)


def gap_hash(result: GapResult) -> str:
    """sha256 of a gap's figures as `schoolmap gap --json` writes them."""
    payload = {
        "statement": result.statement,
        "metrics": result.metrics,
        "wards": result.wards,
        "schools": result.schools,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def unit_hashes(batch: UnitBatch) -> dict[str, str]:
    assert not batch.failed, [f.message for f in batch.failed]
    return {done.code: gap_hash(done.gap) for done in batch.gaps}


@pytest.fixture(scope="module")
def local_gaps(ward_rounds: WardRounds) -> dict[str, str]:
    """Each unit's gap computed alone, as `schoolmap gap --unit CODE` gives it, and the
    batch of the units through local processes, which must agree."""
    alone = {
        code: gap_hash(
            compute_gap(
                ward_rounds.conn, ward_rounds.routing, GapSettings(1, 2025, unit_codes=[code])
            )
        )
        for code in UNITS
    }
    batch = compute_unit_gaps(
        ward_rounds.conn, ward_rounds.routing, SETTINGS, UNITS, executor=LocalProcesses(2)
    )
    assert [done.code for done in batch.gaps] == UNITS
    assert unit_hashes(batch) == alone
    return alone


def test_unit_gaps_through_dask_equal_the_local_ones(
    ward_rounds: WardRounds, local_gaps: dict[str, str], cluster: RunningCluster
) -> None:
    batch = compute_unit_gaps(
        ward_rounds.conn,
        ward_rounds.routing,
        SETTINGS,
        UNITS,
        executor=DaskCluster(cluster.address),
    )
    assert unit_hashes(batch) == local_gaps
    # Each unit's forecast is its own: one unit's rows only.
    for done in batch.gaps:
        assert {r.ward_code for r in done.forecast.rows} == {done.code}
        assert [w["ward_code"] for w in done.gap.wards] == [done.code]


def test_a_worker_killed_mid_job_changes_no_unit_gap(
    ward_rounds: WardRounds, local_gaps: dict[str, str], cluster: RunningCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    batch = compute_unit_gaps(
        ward_rounds.conn,
        ward_rounds.routing,
        SETTINGS,
        UNITS,
        executor=KillingOnce(cluster.address, marker),
    )
    # A worker of the cluster was killed (maybe one restarted after the rounds' test).
    assert int(marker.read_text()) != os.getpid()
    assert unit_hashes(batch) == local_gaps


def test_gap_per_unit_through_the_command(
    ward_rounds: WardRounds,
    local_gaps: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(planning_cli, "_open", lambda: LentConnection(ward_rounds.conn))
    monkeypatch.setattr(planning_cli, "_routing", lambda: ward_rounds.routing)
    monkeypatch.delenv("SCHOOLMAP_DASK_SCHEDULER", raising=False)
    out = tmp_path / "gaps.json"
    units = [arg for code in UNITS[:2] for arg in ("--unit", code)]
    ran = CliRunner().invoke(
        cli.app,
        ["gap", "--grade", "1", "--year", "2025", *units, "--per-unit", "--json", str(out)],
    )
    assert ran.exit_code == 0, ran.output
    assert "2 unit(s), each on its own" in ran.stdout
    assert "Phường Hòa Bình" in ran.stdout
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [u["unit"] for u in written["units"]] == UNITS[:2]
    for unit in written["units"]:
        figures = {k: unit[k] for k in ("statement", "metrics", "wards", "schools")}
        digest = hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()
        assert digest == local_gaps[unit["unit"]]
    assert written["failed"] == []


def test_an_unknown_unit_is_named_and_the_others_count(
    ward_rounds: WardRounds, local_gaps: dict[str, str]
) -> None:
    batch = compute_unit_gaps(
        ward_rounds.conn,
        ward_rounds.routing,
        SETTINGS,
        ["90001", "99999"],
        executor=LocalProcesses(1),
    )
    assert [(d.code, gap_hash(d.gap)) for d in batch.gaps] == [("90001", local_gaps["90001"])]
    assert [f.code for f in batch.failed] == ["99999"]
    assert "99999" in batch.failed[0].message


def test_unit_gaps_with_an_unreachable_scheduler_are_a_clear_error(
    ward_rounds: WardRounds,
) -> None:
    with pytest.raises(ClusterUnavailableError):
        compute_unit_gaps(
            ward_rounds.conn,
            ward_rounds.routing,
            SETTINGS,
            UNITS,
            executor=DaskCluster(closed_port_address(), 1.0),
        )
