"""Serving the API from several worker processes, each accepting on a socket of its own.

Workers sharing one listening socket share its connections badly: when a client opens many
kept-alive connections at once, the first worker to wake accepts nearly all of them and serves
them alone while the other idles. Here each worker binds its own socket to the same address
with SO_REUSEPORT, so the kernel spreads new connections evenly over the live workers. The
supervisor replaces a worker that dies and stops them all on SIGINT or SIGTERM.

The workers' Prometheus counts meet in a directory the supervisor makes afresh for each run
(PROMETHEUS_MULTIPROC_DIR, removed when it stops), so a scrape answered by any worker counts
them all; see api/metrics.py.
"""

from __future__ import annotations

import logging
import logging.config
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

from gis_service.errors import ConfigurationError
from gis_service.log_format import LogFormat
from gis_service.log_privacy import logging_config

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger("uvicorn.error")

APP = "gis_service.api.app:create_app"
# How long stopping workers may take before they are killed.
STOP_GRACE_S = 15.0
# A worker dying this soon after its start counts as failing to start; after
# MAX_FAILED_STARTS such deaths in a row the supervisor gives up instead of looping.
FAILED_START_S = 3.0
MAX_FAILED_STARTS = 5
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class ServeOptions:
    """Where and how the workers listen."""

    host: str
    port: int
    workers: int = 1
    access_log: bool = True
    log_format: LogFormat = "text"


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to host:port (created as TCP so that asyncio sets TCP_NODELAY on
    every accepted connection; kept-alive responses would otherwise wait ~40 ms for an ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def require_free_port(host: str, port: int) -> None:
    """Fail now if something already listens on host:port.

    Sockets with SO_REUSEPORT would silently share the port with another server of the same
    user; a plain bind cannot, so it tells whether the port is really free.
    """
    listening_socket(host, port, reuse_port=False).close()


def uvicorn_config(options: ServeOptions) -> uvicorn.Config:
    """uvicorn's settings for one server process, logging through the privacy filter."""
    import uvicorn

    return uvicorn.Config(
        APP,
        factory=True,
        log_level="info",
        access_log=options.access_log,
        log_config=logging_config(options.log_format),
        workers=1,
    )


def run_worker(options: ServeOptions) -> None:
    """One worker process: its own SO_REUSEPORT socket, one uvicorn server on it."""
    import uvicorn

    sock = listening_socket(options.host, options.port, reuse_port=True)
    uvicorn.Server(uvicorn_config(options)).run(sockets=[sock])


class Supervisor:
    """Starts the workers, replaces any that dies, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._started_at: list[float] = []
        self._failed_starts = 0
        self._stop = threading.Event()
        self._metrics_dir: str | None = None

    def _start_worker(self) -> BaseProcess:
        worker = self._context.Process(target=run_worker, args=(self.options,), daemon=False)
        worker.start()
        logger.info("started worker process [%s]", worker.pid)
        return worker

    def _replace(self, slot: int) -> None:
        """Start a worker in place of the dead one in `slot`; give up if workers keep failing."""
        dead = self._workers[slot]
        lived = time.monotonic() - self._started_at[slot]
        self._failed_starts = self._failed_starts + 1 if lived < FAILED_START_S else 0
        if self._failed_starts >= MAX_FAILED_STARTS:
            raise SystemExit(
                f"workers keep exiting right after starting (last exit code {dead.exitcode}); "
                "see the log above"
            )
        logger.warning(
            "worker process [%s] exited with code %s; starting another", dead.pid, dead.exitcode
        )
        self._forget_metrics_of(dead)
        self._workers[slot] = self._start_worker()
        self._started_at[slot] = time.monotonic()

    def _ask_to_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serve until told to stop."""
        require_free_port(self.options.host, self.options.port)
        if not logger.handlers and not logging.getLogger().handlers:
            logging.config.dictConfig(logging_config(self.options.log_format))
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._ask_to_stop)
        # Set before the first worker starts: each reads it when it first imports the
        # metrics library, and a spawned worker inherits this environment.
        self._metrics_dir = tempfile.mkdtemp(prefix="schoolmap-metrics-")
        earlier = os.environ.get(METRICS_DIR_ENV)
        os.environ[METRICS_DIR_ENV] = self._metrics_dir
        try:
            self._workers = [self._start_worker() for _ in range(self.options.workers)]
            self._started_at = [time.monotonic()] * len(self._workers)
            while not self._stop.wait(0.5):
                for slot, worker in enumerate(self._workers):
                    if not worker.is_alive():
                        self._replace(slot)
        finally:
            self._stop_workers()
            if earlier is None:
                os.environ.pop(METRICS_DIR_ENV, None)
            else:
                os.environ[METRICS_DIR_ENV] = earlier
            shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _forget_metrics_of(self, dead: BaseProcess) -> None:
        """Drop a dead worker's gauges (its pool), keeping its counts."""
        if self._metrics_dir is not None and dead.pid is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(dead.pid, self._metrics_dir)

    def _stop_workers(self) -> None:
        for worker in self._workers:
            if worker.is_alive() and worker.pid is not None:
                worker.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.kill()
                worker.join()


def serve(options: ServeOptions) -> None:
    """Serve the app: in this process for one worker, else under a supervisor."""
    if options.workers <= 1:
        import uvicorn

        sock = listening_socket(options.host, options.port, reuse_port=False)
        uvicorn.Server(uvicorn_config(options)).run(sockets=[sock])
        return
    Supervisor(options).run()
