"""Load the synthetic demo city through the same importers a real city goes through."""

from __future__ import annotations

from pathlib import Path

from data.democity import DemoCityFiles, generate_demo_city
from gis_service.db.connection import Connection
from gis_service.importers.osm import import_osm
from gis_service.importers.population import PopulationFields, import_population
from gis_service.importers.registry import import_registry
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress
from gis_service.importers.wards import WardFields, import_wards

DEMO_WARD_FIELDS = WardFields(
    code="ward_code",
    name="ward_name",
    district="district_name",
    district_code="district_code",
    province="province_name",
    population=["pop_2019", "pop_2024"],
    province_code="99",
)
DEMO_POPULATION_FIELDS = PopulationFields(
    level="district", code="district_code", year_field="year", total="total"
)


def load_demo_files(
    conn: Connection, files: DemoCityFiles, progress: ProgressCallback = print_progress
) -> list[ImportReport]:
    """Import the demo city's wards, population, OSM roads and schools, and registry."""
    reports = [
        import_wards(conn, files.wards, DEMO_WARD_FIELDS, progress),
        import_population(conn, files.population, DEMO_POPULATION_FIELDS, progress),
        import_osm(conn, files.osm, progress),
    ]
    registry_report, _ = import_registry(conn, files.registry, progress)
    reports.append(registry_report)
    return reports


def load_demo_city(
    conn: Connection,
    folder: Path,
    seed: int = 2025,
    progress: ProgressCallback = print_progress,
) -> list[ImportReport]:
    """Generate the demo city into `folder` and load it (the caller commits)."""
    progress(f"generating the demo city (seed {seed}) in {folder}")
    files = generate_demo_city(folder, seed=seed)
    return load_demo_files(conn, files, progress)
