"""The load benchmark at a tiny size: it runs end to end, and its no-loss check catches a lost,
a duplicated, a misreported or a phantom submission."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from psycopg2.extensions import make_dsn

from benchmarks.load import Ack, Outcome, check_no_loss, check_no_phantoms, run_load
from gis_service.db.connection import connect
from tests.conftest import rolled_back, server_url

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    name = "schoolmap_test_load" + os.environ.get("SCHOOLMAP_TEST_DB_SUFFIX", "")
    url = make_dsn(server_url("postgres"), dbname=name)
    home = tmp_path_factory.mktemp("load-home")
    return run_load(url, Path(home), clients=[3], seconds=3, workers=2, port=8108, seed=11)


def test_a_tiny_load_run_loses_nothing(outcome: Outcome) -> None:
    assert outcome.acks, "no submission was acknowledged"
    assert outcome.problems == []
    assert len({a.application_id for a in outcome.acks}) == len(outcome.acks)


def test_the_check_sees_a_submission_that_is_not_stored(outcome: Outcome) -> None:
    made_up = Ack(outcome.acks[0].user_id, "a-key-never-sent", 10**9)
    conn = connect(outcome.url)
    try:
        problems = check_no_loss(conn, outcome.round_id, [*outcome.acks, made_up])
    finally:
        conn.close()
    assert problems == [
        f"lost: application {10**9} (key {made_up.user_id}:a-key-never-sent) is not stored"
    ]


def test_the_check_sees_a_deleted_application(outcome: Outcome) -> None:
    victim = outcome.acks[-1]
    with rolled_back(outcome.url) as conn:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM applications WHERE id = %s", (victim.application_id,))
            assert cur.rowcount == 1
        problems = check_no_loss(conn, outcome.round_id, outcome.acks)
    assert problems == [
        f"lost: application {victim.application_id} "
        f"(key {victim.user_id}:{victim.idempotency_key}) is not stored"
    ]


def test_the_check_sees_one_application_acknowledged_twice(outcome: Outcome) -> None:
    first, second = outcome.acks[0], outcome.acks[1]
    doctored = [
        *outcome.acks[2:],
        first,
        Ack(second.user_id, second.idempotency_key, first.application_id),
    ]
    conn = connect(outcome.url)
    try:
        problems = check_no_loss(conn, outcome.round_id, doctored)
    finally:
        conn.close()
    assert f"duplicated: application {first.application_id} acknowledged for two keys" in problems
    assert any(
        p.startswith(f"wrong: key {second.user_id}:{second.idempotency_key}") for p in problems
    )


def test_the_check_sees_an_application_nobody_sent(outcome: Outcome) -> None:
    forgotten = outcome.acks[0]
    attempted = outcome.attempted - {(forgotten.user_id, forgotten.idempotency_key)}
    conn = connect(outcome.url)
    try:
        problems = check_no_phantoms(conn, outcome.round_id, attempted)
    finally:
        conn.close()
    assert problems == [
        f"phantom: application under key {forgotten.user_id}:{forgotten.idempotency_key} "
        "was never sent"
    ]
