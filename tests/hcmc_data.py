"""The real Ho Chi Minh City unit files beside the project, and how the tests load them."""

from __future__ import annotations

import csv
from pathlib import Path

from gis_service.db.connection import Connection
from gis_service.importers.registry import import_registry
from gis_service.importers.report import ImportReport, no_progress
from gis_service.importers.wards import WardFields, import_wards
from tests.conftest import SHARED_DATA

HCMC_WARDS_2019 = SHARED_DATA / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp"
HCMC_WARD_FIELDS = WardFields(
    code="Com_ID",
    name="Com_Name",
    district="Dist_Name",
    district_code="Dist_ID",
    population=["Pop_2009", "Pop_2019"],
    province_name="Thành phố Hồ Chí Minh",
    province_code="79",
)
"""The 2019 census wards (CityScope), with their districts and census population."""

HCMC_UNITS_2025 = SHARED_DATA / "vn_wards_2025" / "79_ho_chi_minh_wards_2025.geojson"
HCMC_2025_FIELDS = WardFields(
    edition="2025", province_name="Thành phố Hồ Chí Minh", province_code="79"
)
"""The 168 units of the merged city since 1 July 2025."""


def load_hcmc_wards_2019(conn: Connection) -> ImportReport:
    """Import the 2019 census wards of HCMC (the caller commits or rolls back)."""
    return import_wards(conn, HCMC_WARDS_2019, HCMC_WARD_FIELDS, no_progress)


def load_hcmc_units_2025(conn: Connection) -> ImportReport:
    """Import the 2025 units of HCMC (the caller commits or rolls back)."""
    return import_wards(conn, HCMC_UNITS_2025, HCMC_2025_FIELDS, no_progress)


def primary_schools(conn: Connection) -> list[tuple[str, float, float]]:
    """The named primary schools of the map (name, lon, lat), in OSM id order."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT name, ST_X(geom), ST_Y(geom) FROM schools "
            "WHERE 'tieu_hoc' = ANY(levels) AND name IS NOT NULL ORDER BY osm_id"
        )
        return [(str(n), float(x), float(y)) for n, x, y in cur.fetchall()]


def write_primary_registry(
    path: Path, primary: list[tuple[str, float, float]], classes: int, size: int
) -> Path:
    """A school registry of these primary schools (name, lon, lat): `classes` grade-1 classes
    of `size` each, with made-up codes TH0000, TH0001, …"""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["code", "name", "levels", "lon", "lat", "grade_1_classes", "grade_1_class_size"]
        )
        for i, (name, lon, lat) in enumerate(primary):
            writer.writerow([f"TH{i:04d}", name, "tieu_hoc", lon, lat, classes, size])
    return path


def register_primary_schools(conn: Connection, path: Path, classes: int, size: int) -> int:
    """Give every named primary school of the map `classes` grade-1 classes of `size` through
    the registry importer (a registry file written at `path`); return how many schools."""
    primary = primary_schools(conn)
    import_registry(conn, write_primary_registry(path, primary, classes, size), no_progress)
    return len(primary)
