"""The key children's identity codes are hashed with: one per home, however many workers meet
a new home at once."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from gis_service.admissions.identity import installation_key, key_of_database
from gis_service.config import DatabaseSettings, SecuritySettings, Settings
from gis_service.db.connection import Connection
from gis_service.errors import ConfigurationError

WORKERS = 16
ROUNDS = 8


def read_key(home: Path, barrier: object, out: object) -> None:
    """In a worker process: wait for the others, then read (or make) the key."""
    barrier.wait()  # type: ignore[attr-defined]
    try:
        key = installation_key(
            Settings(database=DatabaseSettings(home=home), security=SecuritySettings())
        )
        out.put(key.decode())  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the test
        out.put(f"error: {type(exc).__name__}: {exc}")  # type: ignore[attr-defined]
    out.close()  # type: ignore[attr-defined]
    out.join_thread()  # type: ignore[attr-defined]
    # A forked copy of the test process leaves without running pytest's exit handlers.
    os._exit(0)


def test_workers_meeting_a_new_home_at_once_all_get_one_whole_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_number in range(ROUNDS):
        home = tmp_path / f"home{round_number}"
        barrier = context.Barrier(WORKERS)
        out = context.Queue()
        workers = [
            context.Process(target=read_key, args=(home, barrier, out)) for _ in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        keys = [out.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert not [k for k in keys if k.startswith("error")], keys
        assert len(set(keys)) == 1 and len(keys[0]) == 64, keys
        key_file = home / "secret.key"
        assert key_file.read_text().strip() == keys[0]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert sorted(p.name for p in home.iterdir()) == ["secret.key"], "drafts left behind"


def test_a_configured_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    settings = Settings(
        database=DatabaseSettings(home=tmp_path), security=SecuritySettings(secret_key="k" * 40)
    )
    assert installation_key(settings) == b"k" * 40
    assert not (tmp_path / "secret.key").exists()


def test_a_database_keeps_to_the_first_key_it_meets_and_refuses_another(db: Connection) -> None:
    first, other = b"a" * 64, b"b" * 64
    assert key_of_database(db, first) == (first, False)  # recorded now: not settled yet
    assert key_of_database(db, first) == (first, True)
    with db.cursor() as cur:
        cur.execute("SELECT check_value FROM identity_key_check")
        stored = cur.fetchone()
    assert stored is not None and first.decode() not in stored[0]
    with pytest.raises(ConfigurationError, match="SCHOOLMAP_SECRET_KEY to the same value"):
        key_of_database(db, other)
