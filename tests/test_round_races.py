"""Rounds raced on through every door at once (API, command, domain calls): the record holds."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.load import serving
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.applications import (
    NOT_YOUR_CHILD,
    ApplicationEntry,
    submit_application,
)
from gis_service.admissions.identity import child_id_hash, installation_key
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.next_round import open_next_round
from gis_service.admissions.rounds import create_round, load_round
from gis_service.admissions.runs import publish_run, run_round
from gis_service.auth.users import create_user
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection, connect, transaction
from gis_service.errors import ConflictError, PermissionDeniedError, SchoolmapError
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.browser_support import copy_database, drop_database, free_port
from tests.round_helpers import (
    GRADE,
    Child,
    applicants_csv,
    bearer,
    entry_birth_date,
    every,
    homes_in,
    one,
    published_runs,
    school_year_of,
    uncovered_applications,
)

pytestmark = pytest.mark.timeout(600)

SCHOOLMAP = str(Path(sys.executable).parent / "schoolmap")
WARD = "90001"  # Phường Hòa Bình (district 901): the one ward of each round here, but…
SHARED_WARD = "90012"  # …that of the rounds sharing seats, in district 903 (few seats there)
TRIES = 20
BATCH = 4  # tries raced at once, each on a round of its own
APPLICANTS = 30
SEATS = 10  # grade-1 seats per school of district 903 here: a round of APPLICANTS fills three
PASSWORD = "Mk-dua-tranh-2071"
OFFICER = "can.bo.dua.tranh"
PARENTS = ("phu.huynh.dua.mot", "phu.huynh.dua.hai")
LOCK_WAIT_S = 90.0  # the longest a contender may take to reach the round's lock
FINISH_S = 180.0  # the longest a released contender may take to finish
ERROR_OF_STATUS: dict[int, type[SchoolmapError]] = {
    409: ConflictError,
    403: PermissionDeniedError,
}

# ------------------------------------------------------------------------------ contenders


@dataclass
class Outcome:
    """How one contender's action ended, whatever its door."""

    door: str  # api, cli or domain
    ok: bool
    status: int | None  # the HTTP status or the command's exit code; None for a domain call
    text: str  # the response body, the command's output, or the error
    value: Any = None  # the JSON answer, the command's stdout, or the function's result
    error: BaseException | None = None

    def shown(self) -> str:
        """The outcome for a failure message: a long text's start and its end."""
        text = self.text if len(self.text) <= 900 else f"{self.text[:300]} … {self.text[-600:]}"
        return f"[{self.door} {self.status}] {text}"


class Contender:
    """One side of a race, started in the background and collected once it ends."""

    door = ""

    def start(self) -> None:
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError

    def outcome(self) -> Outcome:
        raise NotImplementedError


class InThread(Contender):
    """A contender that runs in a thread of the test, after an optional barrier."""

    def __init__(self, barrier: threading.Barrier | None) -> None:
        self.barrier = barrier
        self.thread: threading.Thread | None = None
        self.result: Outcome | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.work, daemon=True)
        self.thread.start()

    def work(self) -> None:
        if self.barrier is not None:
            self.barrier.wait()
        try:
            self.result = self.call()
        except Exception as exc:
            self.result = Outcome(self.door, False, None, traceback.format_exc(), error=exc)

    def call(self) -> Outcome:
        raise NotImplementedError

    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()

    def outcome(self) -> Outcome:
        assert self.thread is not None
        self.thread.join(FINISH_S)
        assert self.result is not None, f"the {self.door} contender did not finish"
        return self.result


class Api(InThread):
    """One request to the served app."""

    door = "api"

    def __init__(
        self,
        client: httpx.Client,
        path: str,
        headers: dict[str, str],
        *,
        json: Any = None,
        content: bytes | None = None,
        barrier: threading.Barrier | None = None,
    ) -> None:
        super().__init__(barrier)
        self.client, self.path, self.headers = client, path, headers
        self.json, self.content = json, content

    def call(self) -> Outcome:
        response = self.client.post(
            self.path, headers=self.headers, json=self.json, content=self.content
        )
        try:
            value = response.json()
        except ValueError:
            value = None
        return Outcome("api", response.is_success, response.status_code, response.text, value)


class Domain(InThread):
    """A domain function on a connection of its own, in one transaction."""

    door = "domain"

    def __init__(
        self,
        url: str,
        work: Callable[[Connection], Any],
        barrier: threading.Barrier | None = None,
    ) -> None:
        super().__init__(barrier)
        self.url, self.function = url, work

    def call(self) -> Outcome:
        conn = connect(self.url)
        try:
            with transaction(conn):
                value = self.function(conn)
            return Outcome("domain", True, None, "", value)
        except SchoolmapError as exc:
            return Outcome("domain", False, None, str(exc), error=exc)
        finally:
            conn.close()


class Cli(Contender):
    """One `schoolmap round …` command in a process of its own."""

    door = "cli"

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env, self.args = env, args
        self.process: subprocess.Popen[str] | None = None
        self.result: Outcome | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SCHOOLMAP, "round", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def done(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def outcome(self) -> Outcome:
        assert self.process is not None
        if self.result is None:
            try:
                out, err = self.process.communicate(timeout=FINISH_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                out, err = self.process.communicate()
            code = self.process.returncode
            self.result = Outcome("cli", code == 0, code, out + err, out)
        return self.result


# ---------------------------------------------------------------------------- the collision


@dataclass
class Attempt:
    """One try of a race: a round and its contenders, in the order they queue for its row."""

    round_id: int
    contenders: list[Contender]
    facts: dict[str, Any] = field(default_factory=dict)

    def outcomes(self) -> list[Outcome]:
        return [c.outcome() for c in self.contenders]


def waiting_for_locks(watcher: Connection) -> int:
    """How many of the database's sessions wait for a lock."""
    return int(
        one(
            watcher,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    )


def wait_until_queued(watcher: Connection, started: Sequence[Contender]) -> None:
    """Return once every started contender still working waits for a lock (a bounded wait)."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while time.monotonic() < deadline:
        if waiting_for_locks(watcher) >= sum(not c.done() for c in started):
            return
        time.sleep(0.02)
    raise AssertionError(f"the contenders did not reach the round's lock in {LOCK_WAIT_S} s")


def collide(url: str, attempts: Sequence[Attempt], *, in_turn: bool) -> None:
    """Hold the attempts' round rows, start every contender, and release them all at once
    when all wait for the rows: each attempt's contenders meet on its round for certain.

    `in_turn` starts the contenders one wave after another (each wave queued before the next
    starts), so each attempt's contenders queue in their listed order; otherwise they all
    start together (thread contenders sharing a barrier call at the same moment).
    """
    holder = connect(url)
    watcher = connect(url)
    watcher.autocommit = True
    started: list[Contender] = []
    early: list[Contender] = []
    try:
        with holder.cursor() as cur:
            cur.execute(
                "SELECT id FROM rounds WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                ([a.round_id for a in attempts],),
            )
        waves = max(len(a.contenders) for a in attempts)
        for wave in range(waves):
            for attempt in attempts:
                if wave < len(attempt.contenders):
                    attempt.contenders[wave].start()
                    started.append(attempt.contenders[wave])
            if in_turn:
                wait_until_queued(watcher, started)
        wait_until_queued(watcher, started)
        early = [c for c in started if c.done()]
    finally:
        holder.commit()
        holder.close()
        watcher.close()
        for contender in started:
            contender.outcome()
    assert not early, "these ended while the round was held, meeting nobody:\n" + "\n".join(
        c.outcome().shown() for c in early
    )


def batches(tries: int = TRIES, size: int = BATCH) -> Iterator[range]:
    """The tries, a batch raced at once."""
    for first in range(0, tries, size):
        yield range(first, min(first + size, tries))


def assert_succeeded(outcome: Outcome) -> None:
    assert outcome.ok, outcome.shown()


def assert_refused(outcome: Outcome, status: int, words: str) -> None:
    """A refusal a person can act on, never a crash: the HTTP status with a message, `error: …`
    and exit code 1 from the command, the domain's own error from a call."""
    assert not outcome.ok, f"expected a refusal ({words!r}), got {outcome.shown()}"
    if outcome.door == "api":
        detail = outcome.value.get("detail", "") if isinstance(outcome.value, dict) else ""
        assert outcome.status == status and words in detail, outcome.shown()
    elif outcome.door == "cli":
        assert outcome.status == 1, outcome.shown()
        assert "Traceback" not in outcome.text and "error: " in outcome.text, outcome.shown()
        assert words in outcome.text, outcome.shown()
    else:
        assert isinstance(outcome.error, ERROR_OF_STATUS[status]), outcome.shown()
        assert words in outcome.text, outcome.shown()


def the_winner(outcomes: Sequence[Outcome]) -> int:
    """The index of the one contender that succeeded."""
    won = [i for i, o in enumerate(outcomes) if o.ok]
    assert len(won) == 1, "exactly one should succeed:\n" + "\n".join(o.shown() for o in outcomes)
    return won[0]


def made_id(outcome: Outcome, kind: str) -> int:
    """The id of the run or round a successful action made, whatever its door."""
    if outcome.door == "api":
        return int(outcome.value["id"] if kind == "run" else outcome.value["round"]["id"])
    if outcome.door == "cli":
        found = re.search(rf"^{kind} (\d+)", outcome.value, re.MULTILINE)
        assert found, outcome.shown()
        return int(found.group(1))
    return int(outcome.value.run_id if kind == "run" else outcome.value.the_round.round_id)


# --------------------------------------------------------------------------------- the stage


@dataclass(frozen=True)
class Parent:
    user_id: int
    username: str
    headers: dict[str, str]


@dataclass
class Stage:
    """The served copy of the demo city and what every door needs to reach it."""

    url: str
    home: Path
    files: Path
    client: httpx.Client
    officer: dict[str, str]
    parents: list[Parent]
    key: bytes
    routing: RoutingService
    homes: dict[str, list[tuple[float, float, str]]]
    years: Iterator[int] = field(default_factory=lambda: itertools.count(2030))

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.url, "SCHOOLMAP_HOME": str(self.home)}

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        conn = connect(self.url)
        try:
            with transaction(conn):
                yield conn
        finally:
            conn.close()

    def children(self, year: int, prefix: str, count: int, ward: str = WARD) -> list[Child]:
        """New children of the ward, of entry age in `year`, at homes that vary by year."""
        born = entry_birth_date(year)
        homes = self.homes[ward]
        # A personal identification number: 12 digits, unique per stage, letter and year.
        first = int(hashlib.sha256(f"{prefix}{year}".encode()).hexdigest(), 16) % 10**9
        return [
            Child(f"{first:09d}{i:03d}", born, *homes[(year * 37 + i) % len(homes)][:2])
            for i in range(count)
        ]

    def write(self, name: str, children: Sequence[Child]) -> Path:
        path = self.files / f"{name}.csv"
        path.write_bytes(applicants_csv(children))
        return path

    def new_round(
        self,
        *,
        applicants: int = APPLICANTS,
        status: str = "open",
        year: int | None = None,
        ward: str = WARD,
    ) -> tuple[int, int]:
        """A round of one ward, by default with a school year of its own (so that it shares
        seats with no other round), its applicants imported, moved on to `status`; its id and
        admission year."""
        year = next(self.years) if year is None else year
        prefix = f"S{uuid.uuid4().hex[:6]}-"
        with self.connection() as conn:
            made = create_round(
                conn,
                name=f"Lớp 1 đua {year}",
                grade=GRADE,
                school_year=school_year_of(year),
                wards=[ward],
            )
            if applicants:
                children = self.children(year, prefix, applicants, ward)
                path = self.write(f"{prefix}{year}", children)
                import_applicants(conn, made.round_id, path, self.key, no_progress)
            for step in {"draft": [], "open": ["open"], "closed": ["open", "closed"]}[status]:
                set_round_status(conn, made.round_id, step)
        return made.round_id, year

    def run(self, round_id: int, seed: int) -> int:
        with self.connection() as conn:
            return run_round(conn, self.routing, round_id, "nearest", seed=seed).run_id

    def publish(self, run_id: int) -> None:
        with self.connection() as conn:
            publish_run(conn, run_id)

    def move(self, round_id: int, status: str) -> None:
        with self.connection() as conn:
            set_round_status(conn, round_id, status)

    # The doors, one contender each.

    def publish_by(
        self, door: str, round_id: int, run_id: int, barrier: threading.Barrier | None = None
    ) -> Contender:
        if door == "api":
            path = f"/rounds/{round_id}/runs/{run_id}/publish"
            return Api(self.client, path, self.officer, barrier=barrier)
        if door == "cli":
            return Cli(self.env, "publish", str(run_id))
        return Domain(self.url, lambda conn: publish_run(conn, run_id), barrier)

    def next_by(self, door: str, round_id: int) -> Contender:
        if door == "api":
            return Api(self.client, f"/rounds/{round_id}/next", self.officer)
        if door == "cli":
            return Cli(self.env, "next", str(round_id))
        return Domain(self.url, lambda conn: open_next_round(conn, round_id))

    def run_by(self, door: str, round_id: int, seed: int) -> Contender:
        if door == "api":
            body = {"mechanism": "nearest", "seed": seed}
            return Api(self.client, f"/rounds/{round_id}/runs", self.officer, json=body)
        if door == "cli":
            return Cli(self.env, "run", str(round_id), "--seed", str(seed))
        return Domain(
            self.url, lambda conn: run_round(conn, self.routing, round_id, "nearest", seed=seed)
        )

    def move_by(self, door: str, round_id: int, status: str) -> Contender:
        verb = {"open": "open", "closed": "close"}[status]
        if door == "api":
            return Api(self.client, f"/rounds/{round_id}/{verb}", self.officer)
        if door == "cli":
            return Cli(self.env, verb, str(round_id))
        return Domain(self.url, lambda conn: set_round_status(conn, round_id, status))

    def import_by(self, door: str, round_id: int, path: Path) -> Contender:
        if door == "api":
            headers = {**self.officer, "Content-Type": "text/csv"}
            return Api(
                self.client, f"/rounds/{round_id}/applicants", headers, content=path.read_bytes()
            )
        if door == "cli":
            return Cli(self.env, "import-applicants", str(round_id), str(path))
        return Domain(
            self.url, lambda conn: import_applicants(conn, round_id, path, self.key, no_progress)
        )

    def apply_by(self, door: str, round_id: int, parent: Parent, child: Child) -> Contender:
        key = str(uuid.uuid4())
        if door == "api":
            headers = {**parent.headers, "Idempotency-Key": key}
            path = f"/rounds/{round_id}/applications"
            return Api(self.client, path, headers, json=child.form())
        entry = ApplicationEntry(child.code, child.birth_date, child.lon, child.lat)
        return Domain(
            self.url,
            lambda conn: submit_application(
                conn,
                round_id,
                entry,
                self.key,
                user_id=parent.user_id,
                username=parent.username,
                idempotency_key=key,
            ),
        )


def sign_in(client: httpx.Client, username: str) -> dict[str, str]:
    return bearer(client, username, PASSWORD)


@pytest.fixture(scope="module")
def stage(
    demo_db_url: str, demo_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    """A copy of the demo city served by `schoolmap serve` with two workers, an officer of
    districts 901 and 903 and two parents signed in."""
    url = copy_database(demo_db_url, "_round_races")
    try:
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                # Few seats in district 903, so that two rounds of one grade and year there
                # compete for them.
                cur.execute(
                    """
                    UPDATE school_grades g SET classes = 1, class_size = %s
                    FROM schools s JOIN admin_units w ON w.id = s.ward_id
                    JOIN admin_units d ON d.id = w.parent_id
                    WHERE g.school_id = s.id AND g.grade = %s AND g.classes > 0
                      AND d.code = '903'
                    """,
                    (SEATS, GRADE),
                )
            create_user(
                conn,
                username=OFFICER,
                password=PASSWORD,
                role="district_officer",
                area=["901", "903"],
            )
            parents = [
                create_user(conn, username=name, password=PASSWORD, role="parent")
                for name in PARENTS
            ]
            conn.commit()
        finally:
            conn.close()
        port = free_port()
        with (
            serving(url, demo_home, port, workers=2),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=FINISH_S) as client,
        ):
            yield Stage(
                url=url,
                home=demo_home,
                files=tmp_path_factory.mktemp("race-files"),
                client=client,
                officer=sign_in(client, OFFICER),
                parents=[Parent(p.id, p.username, sign_in(client, p.username)) for p in parents],
                key=installation_key(Settings(database=DatabaseSettings(home=demo_home))),
                routing=RoutingService(demo_home),
                homes={ward: homes_in(demo_home, [ward]) for ward in (WARD, SHARED_WARD)},
            )
    finally:
        drop_database(url)


# ---------------------------------------------------------------------------------- publish


def check_one_published(stage: Stage, attempt: Attempt) -> int:
    """Exactly one of two publishes of different runs won, the other was refused as the round
    is published, and the round has exactly the winner's run published; the winner's index."""
    outcomes = attempt.outcomes()
    winner = the_winner(outcomes)
    assert_refused(outcomes[1 - winner], 409, "it is published")
    with stage.connection() as conn:
        assert published_runs(conn, attempt.round_id) == [attempt.facts["runs"][winner]]
        assert load_round(conn, attempt.round_id).status == "published"
    return winner


def test_two_runs_published_at_once_from_the_api_and_the_command(stage: Stage) -> None:
    won: Counter[str] = Counter()
    for batch in batches():
        attempts = []
        for i in batch:
            round_id, _ = stage.new_round(status="closed")
            runs = [stage.run(round_id, seed=1), stage.run(round_id, seed=2)]
            doors = ["api", "cli"] if i % 2 else ["cli", "api"]
            contenders = [
                stage.publish_by(d, round_id, r) for d, r in zip(doors, runs, strict=True)
            ]
            attempts.append(Attempt(round_id, contenders, {"runs": runs, "doors": doors}))
        collide(stage.url, attempts, in_turn=True)
        for attempt in attempts:
            won[attempt.facts["doors"][check_one_published(stage, attempt)]] += 1
    # Each door queued first in half the tries: each won and lost some.
    assert won["api"] and won["cli"], won


def test_two_runs_published_at_once_from_two_threads(stage: Stage) -> None:
    for batch in batches():
        attempts = []
        for _ in batch:
            round_id, _ = stage.new_round(status="closed")
            runs = [stage.run(round_id, seed=1), stage.run(round_id, seed=2)]
            barrier = threading.Barrier(2, timeout=LOCK_WAIT_S)
            contenders = [stage.publish_by("domain", round_id, r, barrier) for r in runs]
            attempts.append(Attempt(round_id, contenders, {"runs": runs}))
        collide(stage.url, attempts, in_turn=False)
        for attempt in attempts:
            check_one_published(stage, attempt)


# The doors of two publishes of different rounds sharing seats.
SHARED_SEATS_DOORS = [("api", "domain"), ("domain", "api"), ("domain", "domain"), ("api", "api")]


def test_two_rounds_sharing_seats_published_at_once(stage: Stage) -> None:
    for batch in batches():
        attempts = []
        for i in batch:
            year = next(stage.years)
            rounds = [
                stage.new_round(status="closed", year=year, ward=SHARED_WARD)[0] for _ in range(2)
            ]
            runs = [stage.run(round_id, seed=i) for round_id in rounds]
            contenders = [
                stage.publish_by(door, round_id, run_id)
                for door, round_id, run_id in zip(
                    SHARED_SEATS_DOORS[i % len(SHARED_SEATS_DOORS)], rounds, runs, strict=True
                )
            ]
            # Each publish waits on its own round; both go at the same moment.
            attempts += [Attempt(rounds[0], contenders[:1]), Attempt(rounds[1], contenders[1:])]
            attempts[-2].facts = attempts[-1].facts = {"rounds": rounds, "year": year}
        collide(stage.url, attempts, in_turn=False)
        for first, second in zip(attempts[::2], attempts[1::2], strict=True):
            outcomes = first.outcomes() + second.outcomes()
            winner = the_winner(outcomes)
            assert_refused(outcomes[1 - winner], 409, "over their seats")
            with stage.connection() as conn:
                over = every(
                    conn,
                    """
                    SELECT x.school_id, count(*), min(g.classes * g.class_size)
                    FROM allocation_runs run JOIN rounds r ON r.id = run.round_id
                    JOIN assignments x ON x.run_id = run.id AND x.school_id IS NOT NULL
                    JOIN school_grades g ON g.school_id = x.school_id AND g.grade = r.grade
                    WHERE run.published_at IS NOT NULL AND r.school_year = %s
                    GROUP BY x.school_id HAVING count(*) > min(g.classes * g.class_size)
                    """,
                    school_year_of(first.facts["year"]),
                )
            assert over == [], f"schools given more children than their seats: {over}"


# ---------------------------------------------------------------------------------- round 2


def test_round_two_opened_twice_at_once(stage: Stage) -> None:
    won: Counter[str] = Counter()
    for batch in batches():
        attempts = []
        for i in batch:
            round_id, _ = stage.new_round(status="closed")
            stage.publish(stage.run(round_id, seed=3))
            doors = ["api", "cli"] if i % 2 else ["cli", "api"]
            attempts.append(
                Attempt(round_id, [stage.next_by(d, round_id) for d in doors], {"doors": doors})
            )
        collide(stage.url, attempts, in_turn=True)
        for attempt in attempts:
            outcomes = attempt.outcomes()
            winner = the_winner(outcomes)
            assert_refused(outcomes[1 - winner], 409, "already has a next round")
            with stage.connection() as conn:
                rounds_two = one(
                    conn,
                    "SELECT array_agg(id) FROM rounds WHERE parent_round_id = %s",
                    attempt.round_id,
                )
            assert rounds_two == [made_id(outcomes[winner], "round")], rounds_two
            won[attempt.facts["doors"][winner]] += 1
    assert won["api"] and won["cli"], won


# ------------------------------------------------------------------------ run versus reopen

# (run, reopen) doors, in turn; which of the two queues first alternates on its own.
RUN_AND_REOPEN_DOORS = [
    ("api", "cli"),
    ("domain", "api"),
    ("cli", "domain"),
    ("api", "api"),
    ("domain", "cli"),
]


def test_a_run_and_a_reopening_at_once(stage: Stage) -> None:
    seen: Counter[str] = Counter()
    for batch in batches():
        attempts = []
        for i in batch:
            round_id, _ = stage.new_round(status="closed")
            run_door, reopen_door = RUN_AND_REOPEN_DOORS[i % len(RUN_AND_REOPEN_DOORS)]
            run = stage.run_by(run_door, round_id, seed=i)
            reopen = stage.move_by(reopen_door, round_id, "open")
            with stage.connection() as conn:
                revision = load_round(conn, round_id).revision
            order = [run, reopen] if i % 2 else [reopen, run]
            attempts.append(
                Attempt(round_id, order, {"run": run, "reopen": reopen, "revision": revision})
            )
        collide(stage.url, attempts, in_turn=True)
        for i, attempt in zip(batch, attempts, strict=True):
            # The stale run is offered through the API and a domain call in turn.
            door = ["api", "domain"][i // 2 % 2]
            seen[check_run_and_reopen(stage, attempt, door)] += 1
    # The run queued first in half the tries, the reopening in the others.
    assert seen["stale run refused"] and seen["run refused"], seen


def check_run_and_reopen(stage: Stage, attempt: Attempt, door: str) -> str:
    """The reopening went through; the run was refused and stored nothing, or was stored at
    the old revision and can never be published; a run made afresh is published."""
    ran, reopened = attempt.facts["run"].outcome(), attempt.facts["reopen"].outcome()
    assert_succeeded(reopened)
    before = attempt.facts["revision"]
    with stage.connection() as conn:
        the_round = load_round(conn, attempt.round_id)
        stored = one(
            conn,
            "SELECT coalesce(array_agg(ARRAY[id, round_revision] ORDER BY id), '{}') "
            "FROM allocation_runs WHERE round_id = %s",
            attempt.round_id,
        )
    assert (the_round.status, the_round.revision) == ("open", before + 1)
    if ran.ok:
        run_id = made_id(ran, "run")
        assert stored == [[run_id, before]], stored
        # Stale: refused while the round is open, and after it is closed again.
        assert_refused(publish_now(stage, door, attempt.round_id, run_id), 409, "it is open")
        stage.move(attempt.round_id, "closed")
        stale = publish_now(stage, door, attempt.round_id, run_id)
        assert_refused(stale, 409, "was made before")
        verdict = "stale run refused"
    else:
        assert_refused(ran, 409, "it is open")
        assert stored == [], stored
        stage.move(attempt.round_id, "closed")
        verdict = "run refused"
    fresh = stage.run(attempt.round_id, seed=99)
    stage.publish(fresh)
    with stage.connection() as conn:
        assert published_runs(conn, attempt.round_id) == [fresh]
        revisions = one(
            conn,
            "SELECT ARRAY[run.round_revision, r.revision] FROM allocation_runs run "
            "JOIN rounds r ON r.id = run.round_id WHERE run.id = %s",
            fresh,
        )
    assert revisions == [before + 1, before + 1], revisions
    return verdict


def publish_now(stage: Stage, door: str, round_id: int, run_id: int) -> Outcome:
    """Publish a run through the API or a domain call, waiting for the answer."""
    contender = stage.publish_by(door, round_id, run_id)
    contender.start()
    return contender.outcome()


# ------------------------------------------------------------------------ import versus close

IMPORTED = 15
# (import, close) doors.
IMPORT_AND_CLOSE_DOORS = [
    ("api", "cli"),
    ("cli", "domain"),
    ("domain", "api"),
    ("api", "domain"),
    ("cli", "api"),
]


def test_an_import_and_a_closing_at_once(stage: Stage) -> None:
    seen: Counter[str] = Counter()
    for batch in batches():
        attempts = []
        for i in batch:
            round_id, year = stage.new_round(applicants=APPLICANTS - IMPORTED, status="open")
            raced = stage.children(year, "I", IMPORTED)
            import_door, close_door = IMPORT_AND_CLOSE_DOORS[i % len(IMPORT_AND_CLOSE_DOORS)]
            imported = stage.import_by(import_door, round_id, stage.write(f"raced-{year}", raced))
            close = stage.move_by(close_door, round_id, "closed")
            order = [imported, close] if i % 2 else [close, imported]
            attempts.append(
                Attempt(round_id, order, {"import": imported, "close": close, "raced": raced})
            )
        collide(stage.url, attempts, in_turn=True)
        for attempt in attempts:
            seen[check_import_and_close(stage, attempt)] += 1
    assert seen["import landed before the close"] and seen["import refused"], seen


def check_import_and_close(stage: Stage, attempt: Attempt) -> str:
    """The close went through; the import landed whole before it or stored nothing; a run
    made after the close covers exactly the eligible applications stored."""
    imported, closed = attempt.facts["import"].outcome(), attempt.facts["close"].outcome()
    assert_succeeded(closed)
    hashes = [child_id_hash(c.code, stage.key) for c in attempt.facts["raced"]]
    with stage.connection() as conn:
        applications = one(
            conn, "SELECT count(*) FROM applications WHERE round_id = %s", attempt.round_id
        )
        records = one(conn, "SELECT count(*) FROM applicants WHERE child_id_hash = ANY(%s)", hashes)
        order = one(
            conn,
            "SELECT coalesce(array_agg(action ORDER BY id), '{}') FROM audit_log "
            "WHERE target = %s AND action IN ('round.import_applicants', 'round.close')",
            f"round:{attempt.round_id}",
        )
    if imported.ok:
        assert (applications, records) == (APPLICANTS, IMPORTED), (applications, records)
        # The setup's import, then the raced one, then the close.
        assert order == ["round.import_applicants"] * 2 + ["round.close"], order
        verdict = "import landed before the close"
    else:
        assert_refused(imported, 409, "it is closed")
        assert (applications, records) == (APPLICANTS - IMPORTED, 0), (applications, records)
        assert order == ["round.import_applicants", "round.close"], order
        verdict = "import refused"
    run_id = stage.run(attempt.round_id, seed=5)
    with stage.connection() as conn:
        assert uncovered_applications(conn, run_id) == []
        assert one(conn, "SELECT count(*) FROM assignments WHERE run_id = %s", run_id) == one(
            conn,
            "SELECT count(*) FROM applications WHERE round_id = %s AND status = 'eligible'",
            attempt.round_id,
        )
    return verdict


# ------------------------------------------------------------------ application versus close

# (apply, close) doors.
APPLY_AND_CLOSE_DOORS = [
    ("api", "cli"),
    ("domain", "api"),
    ("api", "domain"),
    ("domain", "cli"),
    ("api", "api"),
]


def test_an_application_and_a_closing_at_once(stage: Stage) -> None:
    seen: Counter[str] = Counter()
    parent = stage.parents[0]
    for batch in batches():
        attempts = []
        for i in batch:
            round_id, year = stage.new_round(applicants=10, status="open")
            child = stage.children(year, "A", 1)[0]
            apply_door, close_door = APPLY_AND_CLOSE_DOORS[i % len(APPLY_AND_CLOSE_DOORS)]
            applied = stage.apply_by(apply_door, round_id, parent, child)
            close = stage.move_by(close_door, round_id, "closed")
            order = [applied, close] if i % 2 else [close, applied]
            attempts.append(
                Attempt(round_id, order, {"apply": applied, "close": close, "child": child})
            )
        collide(stage.url, attempts, in_turn=True)
        for attempt in attempts:
            seen[check_apply_and_close(stage, attempt, parent)] += 1
    assert seen["application covered"] and seen["application refused"], seen


def check_apply_and_close(stage: Stage, attempt: Attempt, parent: Parent) -> str:
    """The close went through; the application was taken (201) and the next run covers it, or
    refused (409) and nothing of it was stored."""
    applied, closed = attempt.facts["apply"].outcome(), attempt.facts["close"].outcome()
    assert_succeeded(closed)
    hashed = child_id_hash(attempt.facts["child"].code, stage.key)
    run_id = stage.run(attempt.round_id, seed=11)
    with stage.connection() as conn:
        mine = one(
            conn,
            "SELECT count(*) FROM applications WHERE round_id = %s AND submitted_by = %s",
            attempt.round_id,
            parent.user_id,
        )
        covered = one(
            conn,
            "SELECT count(*) FROM assignments x JOIN applicants p ON p.id = x.applicant_id "
            "WHERE x.run_id = %s AND p.child_id_hash = %s",
            run_id,
            hashed,
        )
        records = one(conn, "SELECT count(*) FROM applicants WHERE child_id_hash = %s", hashed)
        order = one(
            conn,
            "SELECT coalesce(array_agg(action ORDER BY id), '{}') FROM audit_log "
            "WHERE (action = 'application.submit' AND detail->>'round' = %s) "
            "OR (action = 'round.close' AND target = %s)",
            str(attempt.round_id),
            f"round:{attempt.round_id}",
        )
        assert uncovered_applications(conn, run_id) == []
    if applied.ok:
        assert applied.door != "api" or applied.status == 201, applied.shown()
        assert (mine, covered, records) == (1, 1, 1), (mine, covered, records)
        assert order == ["application.submit", "round.close"], order
        return "application covered"
    assert_refused(applied, 409, "it is closed")
    assert (mine, covered, records) == (0, 0, 0), (mine, covered, records)
    assert order == ["round.close"], order
    return "application refused"


# ------------------------------------------------------------- two families, one new child

# The two parents' doors.
TWO_FAMILIES_DOORS = [("api", "api"), ("api", "domain"), ("domain", "api"), ("domain", "domain")]


def test_two_families_applying_for_one_new_child_at_once(stage: Stage) -> None:
    for batch in batches():
        attempts = []
        for i in batch:
            round_id, year = stage.new_round(applicants=0, status="open")
            child = stage.children(year, "F", 1)[0]
            doors = TWO_FAMILIES_DOORS[i % len(TWO_FAMILIES_DOORS)]
            parents = stage.parents if i % 2 else stage.parents[::-1]
            contenders = [
                stage.apply_by(d, round_id, p, child) for d, p in zip(doors, parents, strict=True)
            ]
            attempts.append(Attempt(round_id, contenders, {"parents": parents, "child": child}))
        collide(stage.url, attempts, in_turn=True)
        for attempt in attempts:
            outcomes = attempt.outcomes()
            winner = the_winner(outcomes)
            refused = outcomes[1 - winner]
            assert_refused(refused, 403, NOT_YOUR_CHILD)
            holder = attempt.facts["parents"][winner]
            hashed = child_id_hash(attempt.facts["child"].code, stage.key)
            with stage.connection() as conn:
                records = one(
                    conn,
                    "SELECT array_agg(guardian_id) FROM applicants WHERE child_id_hash = %s",
                    hashed,
                )
                applications = one(
                    conn,
                    "SELECT array_agg(a.submitted_by) FROM applications a "
                    "JOIN applicants p ON p.id = a.applicant_id WHERE p.child_id_hash = %s",
                    hashed,
                )
            assert records == [holder.user_id], (records, holder)
            assert applications == [holder.user_id], (applications, holder)
