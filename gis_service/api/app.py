"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.middleware.gzip import GZipMiddleware

from gis_service import __version__
from gis_service.api import deps, health, routing, schools, wards
from gis_service.api.applications import router as applications_router
from gis_service.api.auth import router as auth_router
from gis_service.api.errors import install_error_handlers
from gis_service.api.geocode import router as geocode_router
from gis_service.api.home_reach import router as home_reach_router
from gis_service.api.map_style import OSM_CREDIT
from gis_service.api.map_style import router as map_style_router
from gis_service.api.metrics import install_metrics
from gis_service.api.ogc_features import landing_page, wants_landing_page
from gis_service.api.ogc_features import router as ogc_features_router
from gis_service.api.open_data import router as open_data_router
from gis_service.api.planning import router as planning_router
from gis_service.api.public_cache import PublicAnswers
from gis_service.api.request_ids import RequestIds
from gis_service.api.round_checks import router as round_checks_router
from gis_service.api.rounds import router as rounds_router
from gis_service.api.tiles import router as tiles_router
from gis_service.api.webapp import router as webapp_router
from gis_service.api.zones import router as zones_router
from gis_service.config import Settings
from gis_service.db.connection import ConnectionPool, ConnectionSource
from gis_service.db.local_server import resolve_database_url
from gis_service.db.replica import open_read_replica
from gis_service.db.version_reader import VersionReader
from gis_service.errors import SchoolmapError
from gis_service.routing.service import RoutingService
from gis_service.web_files import WEB_DIR

logger = logging.getLogger(__name__)

GZIP_FROM_BYTES = 1_000
"""Smaller answers go as they are: compressing them saves less than its own cost."""


def create_app(settings: Settings | None = None, pool: ConnectionSource | None = None) -> FastAPI:
    """Build the app; with no pool given, one is opened on the configured database at start-up."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = pool is None
        if owned:
            url = resolve_database_url(settings.database)
            app.state.pool = ConnectionPool(url, settings.database.pool_max)
        else:
            app.state.pool = pool
        app.state.pool_size = settings.database.pool_max
        if isinstance(app.state.pool, ConnectionPool):
            app.state.version_reader = VersionReader(app.state.pool.url)
            # Public reads from a streaming replica, when one is set (gis_service.db.replica).
            app.state.read_replica = open_read_replica(settings.database)
        app.state.routing = RoutingService(settings.database.home)
        try:
            with app.state.pool.connection() as conn:
                app.state.routing.load_all(conn)
        except SchoolmapError as exc:
            # The map still serves without a database or networks; routing answers say why.
            logger.warning("road networks not loaded at start-up: %s", exc)
        try:
            yield
        finally:
            reader = getattr(app.state, "version_reader", None)
            if reader is not None:
                reader.close()
            replica = getattr(app.state, "read_replica", None)
            if replica is not None:
                replica.close()
            if owned:
                app.state.pool.close()

    app = FastAPI(
        title="schoolmap",
        version=__version__,
        description="School map, road distances and admissions for Vietnamese cities. "
        f"Map data {OSM_CREDIT}.",
        lifespan=lifespan,
        # The service exports no OpenTelemetry: FastAPI would otherwise look up the global
        # providers (and the environment) on every request to learn that.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.public_answers = PublicAnswers()
    install_error_handlers(app)
    # Added first, so innermost: every other middleware sees its answers as the endpoint's.
    app.add_middleware(routing.NearFromMemory)
    deps.limit_request_bodies(app)
    if settings.database.read_url:
        deps.retry_reads_on_primary(app)
    # Answers a client can take compressed are sent gzipped: the script, the GeoJSON layers,
    # vector tiles and exports shrink 4-10 times on a phone's connection.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_FROM_BYTES, compresslevel=6)
    install_metrics(app, settings.metrics)
    # Added last, so outermost: everything a request logs, and its answer, carry its id.
    app.add_middleware(RequestIds)
    app.include_router(health.router)
    # /schools/near must be matched before /schools/{school_id}.
    app.include_router(routing.router)
    app.include_router(schools.router)
    app.include_router(wards.router)
    app.include_router(geocode_router)
    app.include_router(home_reach_router)
    # The style, TileJSON and glyphs before /tiles/{z}/{x}/{y}.pbf, which would take any path.
    app.include_router(map_style_router)
    app.include_router(tiles_router)
    app.include_router(webapp_router)
    app.include_router(planning_router)
    app.include_router(zones_router)
    app.include_router(open_data_router)
    app.include_router(ogc_features_router)
    app.include_router(auth_router)
    app.include_router(rounds_router)
    app.include_router(round_checks_router)
    app.include_router(applications_router)

    @app.get("/", include_in_schema=False, response_model=None)
    def home(request: Request) -> Response:
        # GIS clients ask the same address for the OGC API – Features landing page, as JSON.
        if wants_landing_page(request):
            return landing_page(request)
        page = WEB_DIR / "index.html"
        return FileResponse(page) if page.is_file() else RedirectResponse("/docs")

    return app
