"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from gis_service import __version__
from gis_service.api import health, schools, wards
from gis_service.api.errors import install_error_handlers
from gis_service.config import Settings
from gis_service.db.connection import ConnectionPool, ConnectionSource
from gis_service.db.local_server import resolve_database_url

OSM_CREDIT = "© OpenStreetMap contributors"


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
        try:
            yield
        finally:
            if owned:
                app.state.pool.close()

    app = FastAPI(
        title="schoolmap",
        version=__version__,
        description="School map, road distances and admissions for Vietnamese cities. "
        f"Map data {OSM_CREDIT}.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(schools.router)
    app.include_router(wards.router)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
