"""Health endpoint: is the database there, with PostGIS and the current schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gis_service.api.deps import get_connection
from gis_service.api.models import Health
from gis_service.db.connection import Connection

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Service and database health")
def health(conn: Annotated[Connection, Depends(get_connection)]) -> Health:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT postgis_lib_version(),
                   (SELECT COALESCE(max(version), 0) FROM schema_migrations),
                   (SELECT count(*) FROM schools),
                   (SELECT count(*) FROM admin_units WHERE level = 'ward')
            """
        )
        postgis, version, schools, wards = cur.fetchone()  # type: ignore[misc]
    return Health(
        status="ok",
        database="ok",
        postgis=postgis,
        schema_version=version,
        schools=schools,
        wards=wards,
    )
