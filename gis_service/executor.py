"""Batch work over many independent pieces: local forked processes, or a Dask cluster when set."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from gis_service.config import ClusterSettings
from gis_service.errors import ClusterError, ClusterUnavailableError, ConfigurationError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs fn(shared, item) for every item, anywhere; results come back in the items' order.

    `shared` is one large read-only input every piece needs (a search graph): it reaches each
    worker once, never once per item. `fn` must be a module-level function (it is sent by
    name), and so must everything in the items.
    """

    def map_blocks(
        self, fn: Callable[[S, T], R], items: Sequence[T], *, shared: S
    ) -> Iterator[R]: ...


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """What one piece of a batch gave: its value, or the error it raised (then value is None)."""

    value: R | None
    error: Exception | None = None


def catching(fn: Callable[[S, T], R], shared: S, item: T) -> Outcome[R]:
    """fn(shared, item) as an Outcome: a piece that fails (a round whose problem is malformed, a
    unit without figures) is reported as such, and the batch's other pieces still count.

    Send it as `functools.partial(catching, fn)`: a partial of module-level functions travels
    by name as the pieces do.
    """
    try:
        return Outcome(fn(shared, item))
    except Exception as error:  # handed back: the caller names the piece that failed
        return Outcome(None, error)


def default_workers() -> int:
    """The CPUs this process may use, at most 8."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, min(len(usable) if usable else (os.cpu_count() or 1), 8))


# In a forked worker process: the shared input of the pieces it runs.
_forked_shared: Any = None


def _keep_shared(value: Any) -> None:
    global _forked_shared
    _forked_shared = value


def _with_forked_shared(fn: Callable[[Any, T], R], item: T) -> R:
    return fn(_forked_shared, item)


class LocalProcesses:
    """Pieces over `workers` forked processes of this machine (default: its usable CPUs).

    Forked workers share the input without copying or pickling it. Forking only happens in a
    single-threaded process (a CLI or batch job, not a server: forking a process that runs
    other threads can deadlock the child on their locks); otherwise, with one worker or one
    piece, the pieces run here, one after another.
    """

    def __init__(
        self,
        workers: int | None = None,
        pool_class: type[ProcessPoolExecutor] = ProcessPoolExecutor,
    ) -> None:
        self.workers = workers
        self.pool_class = pool_class

    def map_blocks(self, fn: Callable[[S, T], R], items: Sequence[T], *, shared: S) -> Iterator[R]:
        pool_size = min(self.workers or default_workers(), len(items))
        # Decided now, not when the first result is asked for.
        forks = (
            pool_size > 1
            and threading.active_count() == 1
            and "fork" in multiprocessing.get_all_start_methods()
        )
        if not forks:
            return (fn(shared, item) for item in items)
        return self._forked(fn, items, shared, pool_size)

    def _forked(
        self, fn: Callable[[S, T], R], items: Sequence[T], shared: S, pool_size: int
    ) -> Iterator[R]:
        with self.pool_class(
            max_workers=pool_size,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_keep_shared,
            initargs=(shared,),
        ) as pool:
            yield from pool.map(_with_forked_shared, [fn] * len(items), items)


SHARED_RESENDS = 2
"""How often a job sends its shared input again after every worker holding it was lost."""

# How a client may reach a Dask scheduler (ucx needs an extra package).
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


class DaskCluster:
    """Pieces as tasks on a Dask distributed cluster (its scheduler's address, tcp://host:port).

    The shared input is scattered to every worker once; each task gets it from its worker's
    memory. A worker lost mid-job (killed, out of memory, its machine gone) has its tasks run
    again elsewhere, up to the scheduler's `distributed.scheduler.allowed-failures` times. The
    workers must have this package installed (the same version) to run the pieces.
    """

    def __init__(self, address: str, connect_timeout_s: float = 10.0) -> None:
        self.address = address
        self.connect_timeout_s = connect_timeout_s

    def _unreachable(self, why: str) -> ClusterUnavailableError:
        return ClusterUnavailableError(
            f"Không kết nối được với cụm Dask tại {self.address} trong "
            f"{self.connect_timeout_s:g} giây ({why}): hãy kiểm tra SCHOOLMAP_DASK_SCHEDULER, "
            "scheduler có đang chạy, cổng có mở từ máy này và có worker nào nối vào không. / "
            f"Could not use the Dask cluster at {self.address} within "
            f"{self.connect_timeout_s:g} s ({why}): check SCHOOLMAP_DASK_SCHEDULER, that the "
            "scheduler is running, that its port is open from this machine and that workers "
            "are connected to it."
        )

    def map_blocks(self, fn: Callable[[S, T], R], items: Sequence[T], *, shared: S) -> Iterator[R]:
        if not items:
            return iter(())
        # Connected now, so an unreachable scheduler is reported by the call, not later.
        client = self._connect()
        try:
            futures = self._submit(client, fn, items, shared)
        except BaseException:
            client.close()
            raise
        return self._gathered(client, fn, items, shared, futures)

    def _connect(self) -> Any:
        from distributed import Client

        deadline = time.monotonic() + self.connect_timeout_s
        self._wait_for_port(deadline)
        try:
            client = Client(
                self.address,
                timeout=max(deadline - time.monotonic(), 1.0),
                set_as_default=False,
            )
        except (OSError, TimeoutError) as error:
            raise self._unreachable("không trả lời / no answer") from error
        try:
            # A scheduler with no workers would hold every task forever.
            client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 1.0))
        except (OSError, TimeoutError) as error:
            client.close()
            raise self._unreachable("không có worker / no workers") from error
        return client

    def _wait_for_port(self, deadline: float) -> None:
        """Until the deadline, wait for the scheduler's port to take a connection.

        Checked before a client is made: a client that cannot connect leaves its event loop
        thread running, and a process running other threads no longer forks local workers.
        """
        from distributed.comm import parse_address, parse_host_port

        try:
            scheme, location = parse_address(self.address)
            if scheme not in _SCHEMES:
                raise ValueError(f"unknown scheme {scheme!r}")
            host, port = parse_host_port(location, default_port=8786)
        except ValueError as error:
            raise ConfigurationError(
                f"SCHOOLMAP_DASK_SCHEDULER: không hiểu địa chỉ {self.address!r} (ví dụ "
                f"tcp://10.0.0.5:8786). / Not an address: {self.address!r} (for example "
                "tcp://10.0.0.5:8786)."
            ) from error
        if scheme not in ("tcp", "tls"):
            return
        while True:
            left = deadline - time.monotonic()
            try:
                socket.create_connection((host, port), timeout=max(left, 0.1)).close()
                return
            except OSError as error:
                if left <= 0.2:
                    raise self._unreachable(f"{error.strerror or error}") from error
                time.sleep(0.2)

    def _submit(
        self, client: Any, fn: Callable[[S, T], R], items: Sequence[T], shared: S
    ) -> list[Any]:
        on_workers = client.scatter(
            shared, broadcast=True, hash=False, timeout=self.connect_timeout_s
        )
        return [client.submit(fn, on_workers, item, pure=False) for item in items]

    def _failed(self, vietnamese: str, english: str) -> ClusterError:
        return ClusterError(
            f"{vietnamese} (cụm Dask tại {self.address}); xem nhật ký của các worker. / "
            f"{english} (the Dask cluster at {self.address}); see the workers' logs."
        )

    def _gathered(
        self,
        client: Any,
        fn: Callable[[S, T], R],
        items: Sequence[T],
        shared: S,
        futures: list[Any],
    ) -> Iterator[R]:
        from concurrent.futures import CancelledError

        from distributed import KilledWorker

        sent_again = 0
        done = 0
        try:
            while done < len(items):
                try:
                    result = futures[done].result()
                except KilledWorker as error:
                    raise self._failed(
                        "Một phần việc làm hỏng worker quá số lần cho phép",
                        "A piece of work brought down workers more often than allowed",
                    ) from error
                except CancelledError as error:
                    # Every worker holding the shared input was lost (the scheduler cannot
                    # make it again): send it once more, with the pieces not yet answered.
                    if sent_again >= SHARED_RESENDS:
                        raise self._failed(
                            f"Mất mọi worker giữ dữ liệu chung {sent_again + 1} lần",
                            f"Every worker holding the shared input was lost "
                            f"{sent_again + 1} times",
                        ) from error
                    sent_again += 1
                    client.cancel(futures[done:])
                    futures[done:] = self._submit(client, fn, items[done:], shared)
                    continue
                yield result
                done += 1
        finally:
            client.cancel(futures)
            client.close()


def configured_executor(
    settings: ClusterSettings | None = None, local: Executor | None = None
) -> Executor:
    """The Dask cluster of the settings (read from the environment when not given) when one is
    set, else `local` (default: local processes)."""
    settings = settings or ClusterSettings()
    if settings.scheduler:
        return DaskCluster(settings.scheduler, settings.connect_timeout_s)
    return local or LocalProcesses()
