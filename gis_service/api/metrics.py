"""Prometheus metrics at GET /metrics: requests, latency, the database pool, allocation runs.

Protection. /metrics answers only when SCHOOLMAP_METRICS_TOKEN is set (16 characters or
more), and only to a scrape sending `Authorization: Bearer <token>`, compared in constant
time: 404 when no token is configured (as if there were no such page), 401 when the header is
missing or wrong. A token on the one port was chosen over a second port: the workers each
listen on the service's port with SO_REUSEPORT, a second listener would need the same care,
and a token passes through the same reverse proxy (Prometheus: `authorization:
{credentials: <token>}` in the scrape config).

What is exported:
- `schoolmap_http_requests_total{method, route, status}` and
  `schoolmap_http_request_duration_seconds{route}` (until the response's last byte). `route`
  is the matched route's template (`/applications/{application_id}`), "unmatched" when no
  route matched: never the path sent, which may carry an identity code or a coordinate.
- `schoolmap_db_pool_connections{state="in_use"|"idle"|"max"}`, summed over the live workers,
  as each worker last saw its pool (at the end of each request it served, and at a scrape).
- `schoolmap_allocation_runs_total{mechanism, status}`: the runs stored, counted in the
  database at scrape time. Runs are made by any worker and by the command line (`schoolmap
  round run`), and the stored rows are their record, so a count read there is right across
  workers, restarts and processes, where a counter kept in a worker would see only its own
  runs. A run that failed is not stored and not counted; its request shows in the request
  metrics with its 4xx or 5xx status.

Several workers. The supervisor (serving.py) gives each of its runs a fresh directory in
PROMETHEUS_MULTIPROC_DIR; every worker writes its counts there (prometheus_client's
multiprocess mode) and the worker answering a scrape reads them all. One process with no such
directory keeps its counts in memory.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg2
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from gis_service.api.asgi import HttpMiddleware
from gis_service.api.deps import lent_connection
from gis_service.config import MetricsSettings
from gis_service.db.connection import Connection, ConnectionPool
from gis_service.errors import NotAuthenticatedError, NotFoundError, SchoolmapError

logger = logging.getLogger(__name__)

PATH = "/metrics"
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404, or refused before routing)."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests take milliseconds; allocation runs and imports take up to minutes.
_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

NOT_CONFIGURED = "no metrics here (SCHOOLMAP_METRICS_TOKEN is not set)"
WRONG_TOKEN = "metrics need the header Authorization: Bearer <SCHOOLMAP_METRICS_TOKEN>"

# The process's own metrics, in a registry of their own (not the library's global one).
_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "schoolmap_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=_REGISTRY,
)
LATENCY = Histogram(
    "schoolmap_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template.",
    ["route"],
    buckets=_BUCKETS_S,
    registry=_REGISTRY,
)
POOL = Gauge(
    "schoolmap_db_pool_connections",
    "Database connections of the service's pools: lent to requests (in_use), idle, and the "
    "most the pools may open (max); summed over the live worker processes.",
    ["state"],
    multiprocess_mode="livesum",
    registry=_REGISTRY,
)


def route_label(scope: Scope) -> str:
    """The template of the route that took the request, or UNMATCHED."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def record_pool(app: Any) -> None:
    """Set the pool gauges from the app's pool (none when it has no ConnectionPool)."""
    pool = getattr(getattr(app, "state", None), "pool", None)
    if isinstance(pool, ConnectionPool):
        stats = pool.stats()
        POOL.labels("in_use").set(stats.in_use)
        POOL.labels("idle").set(stats.idle)
        POOL.labels("max").set(stats.max)


class RequestMetrics(HttpMiddleware):
    """Pure ASGI middleware counting each request and timing it to its last byte."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = route_label(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)
            record_pool(scope.get("app"))


def count_runs(conn: Connection) -> list[tuple[str, str, int]]:
    """The stored allocation runs by mechanism and status."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT mechanism, status, count(*) FROM allocation_runs "
            "GROUP BY mechanism, status ORDER BY mechanism, status"
        )
        return [(str(m), str(s), int(n)) for m, s, n in cur.fetchall()]


def runs_metric(counts: Iterable[tuple[str, str, int]]) -> Metric:
    """The runs counted in the database as a Prometheus counter."""
    family = CounterMetricFamily(
        "schoolmap_allocation_runs",
        "Allocation runs stored, by mechanism and how the mechanism ended (read from the "
        "database at each scrape, so every worker and the command line are counted).",
        labels=["mechanism", "status"],
    )
    for mechanism, status, number in counts:
        family.add_metric([mechanism, status], number)
    return family


class _Scrape(Collector):
    """What one scrape exports: the processes' metrics and the runs read for it."""

    def __init__(self, runs: Metric | None) -> None:
        self.runs = runs

    def collect(self) -> Iterator[Metric]:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            yield from MultiProcessCollector(None, path=directory).collect()
        else:
            yield from _REGISTRY.collect()
        if self.runs is not None:
            yield self.runs


def check_token(configured: SecretStr | None, authorization: str | None) -> None:
    """Raise NotFoundError when no token is configured, NotAuthenticatedError unless the
    header carries it (compared in constant time)."""
    if configured is None:
        raise NotFoundError(NOT_CONFIGURED)
    scheme, _, sent = (authorization or "").partition(" ")
    expected = configured.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected):
        raise NotAuthenticatedError(WRONG_TOKEN)


async def _read_runs(request: Request) -> Metric | None:
    """The runs metric, or None (logged) when the database cannot be read now."""
    try:
        async with lent_connection(request, autocommit=True) as conn:
            counts = await run_in_threadpool(count_runs, conn)
    except (SchoolmapError, psycopg2.Error) as exc:
        logger.warning("allocation runs left out of the metrics: %s", type(exc).__name__)
        return None
    return runs_metric(counts)


def metrics_router(settings: MetricsSettings) -> APIRouter:
    """The /metrics route, guarded by the settings' token."""
    router = APIRouter(include_in_schema=False)

    @router.get(PATH)
    async def metrics(request: Request) -> Response:
        check_token(settings.token, request.headers.get("authorization"))
        record_pool(request.app)
        runs = await _read_runs(request)
        body = await run_in_threadpool(generate_latest, _Scrape(runs))
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return router


def install_metrics(app: FastAPI, settings: MetricsSettings) -> None:
    """Serve /metrics (404 unless a token is set) and, with a token, count every request."""
    if settings.token is not None:
        app.add_middleware(RequestMetrics)
    app.include_router(metrics_router(settings))
