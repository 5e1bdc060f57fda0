"""Load the synthetic demo city through the same importers a real city goes through."""

from __future__ import annotations

import secrets
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


# Accounts the demo makes so every page can be tried: (username, role, area).
DEMO_ACCOUNTS = (
    ("admin", "city_admin", ()),
    ("can.bo.901", "district_officer", ("901", "902", "903")),
    ("quy.hoach", "planner", ()),
    ("phu.huynh", "parent", ()),
)
DEMO_ROUND_NAME = "Tuyển sinh lớp 1 — thành phố mẫu"


def create_demo_accounts(conn: Connection, home: Path) -> dict[str, str]:
    """Create the demo accounts that do not exist yet, each with a new random password.

    The passwords are written to `home/demo/accounts.txt` (readable by its owner only) and
    returned; accounts made by an earlier demo keep the passwords that file already lists.
    """
    from gis_service.auth.users import create_user

    path = home / "demo" / "accounts.txt"
    known = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, password = line.partition(" ")
            known[name] = password
    with conn.cursor() as cur:
        cur.execute("SELECT username FROM users")
        existing = {row[0] for row in cur.fetchall()}
    for username, role, area in DEMO_ACCOUNTS:
        if username in existing:
            continue
        known[username] = secrets.token_urlsafe(9)
        create_user(conn, username=username, password=known[username], role=role, area=area)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(
        "".join(f"{name} {password}\n" for name, password in sorted(known.items())),
        encoding="utf-8",
    )
    return {name: known[name] for name, _, _ in DEMO_ACCOUNTS if name in known}


def create_demo_round(conn: Connection, home: Path, key: bytes) -> int:
    """An open grade-1 round of the whole demo city with its households, unless one exists."""
    from gis_service.admissions.applicant_import import import_applicants
    from gis_service.admissions.lifecycle import set_round_status
    from gis_service.admissions.rounds import create_round

    with conn.cursor() as cur:
        cur.execute("SELECT id FROM rounds WHERE name = %s", (DEMO_ROUND_NAME,))
        found = cur.fetchone()
    if found is not None:
        return int(found[0])
    made = create_round(
        conn,
        name=DEMO_ROUND_NAME,
        grade=1,
        school_year="2025-2026",
        districts=["901", "902", "903"],
    )
    import_applicants(conn, made.round_id, home / "demo" / "households.csv", key, print_progress)
    set_round_status(conn, made.round_id, "open")
    return made.round_id
