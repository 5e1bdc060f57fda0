"""For the executor tests: a small Dask cluster in a process of its own, and a piece of batch
work that kills its worker.

Kept apart from the test modules so Dask workers importing it import nothing else. The
cluster runs in its own process so the test process holds no scheduler threads (a process
running other threads never forks its local workers, and later tests count those).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gis_service.executor import DaskCluster

ALLOWED_FAILURES = 3
"""How often a piece may bring down a worker before the job fails (the scheduler's setting)."""


def killing_once(marker: str, fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> Any:
    """fn(shared, item), except that the first call of all (the one creating `marker`) kills
    the process running it, as a crashed or out-of-memory worker dies, before answering."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return fn(shared, item)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")  # pragma: no cover


def killing_always(fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> Any:
    """A piece that kills every worker it runs on (it never answers)."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")  # pragma: no cover


class KillingOnce(DaskCluster):
    """The cluster, with the first piece run killing its worker process."""

    def __init__(self, address: str, marker: Path) -> None:
        super().__init__(address)
        self.marker = marker

    def map_blocks(self, fn: Any, items: Sequence[Any], *, shared: Any) -> Iterator[Any]:
        killer = functools.partial(killing_once, str(self.marker), fn)
        return super().map_blocks(killer, items, shared=shared)


class KillingAlways(DaskCluster):
    """The cluster, with every piece killing the worker it runs on."""

    def map_blocks(self, fn: Any, items: Sequence[Any], *, shared: Any) -> Iterator[Any]:
        return super().map_blocks(functools.partial(killing_always, fn), items, shared=shared)


@dataclass
class RunningCluster:
    address: str
    worker_pids: list[int]


@contextmanager
def local_cluster(root: Path, workers: int = 2) -> Iterator[RunningCluster]:
    """A scheduler and `workers` single-threaded worker processes, in a child process; closed
    (with its workers) when the block ends."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(ALLOWED_FAILURES)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.dask_cluster", str(workers)],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        started = json.loads(child.stdout.readline())
        yield RunningCluster(started["address"], started["worker_pids"])
        child.stdin.close()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _serve(workers: int) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="1GiB",
        host="127.0.0.1",
    ) as cluster:
        pids = [worker.process.pid for worker in cluster.workers.values()]
        print(json.dumps({"address": cluster.scheduler_address, "worker_pids": pids}), flush=True)
        sys.stdin.read()  # until the test closes it


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
