"""Health endpoint: is the database there, with PostGIS, the current schema and its units."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gis_service.api.deps import get_connection
from gis_service.api.models import Health
from gis_service.db.connection import Connection
from gis_service.units.editions import current_edition, list_editions

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Service and database health")
def health(conn: Annotated[Connection, Depends(get_connection)]) -> Health:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT postgis_lib_version(),
                   (SELECT COALESCE(max(version), 0) FROM schema_migrations),
                   (SELECT count(*) FROM schools)
            """
        )
        postgis, version, schools = cur.fetchone()  # type: ignore[misc]
    by_edition = {e.edition: e.wards for e in list_editions(conn)}
    edition = current_edition(conn)
    return Health(
        status="ok",
        database="ok",
        postgis=postgis,
        schema_version=version,
        schools=schools,
        wards=by_edition.get(edition, 0),
        edition=edition,
        wards_by_edition=by_edition,
    )
