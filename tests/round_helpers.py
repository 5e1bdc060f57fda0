"""Children, applicant files and reads of the record for the round race and machine tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from gis_service.db.connection import Connection
from gis_service.routing.service import RoutingService

GRADE = 1
ENTRY_AGE = 6


@dataclass(frozen=True)
class Child:
    """One child as an officer's file or a parent's form gives it."""

    code: str
    birth_date: date
    lon: float
    lat: float
    priority_group: str | None = None

    def form(self) -> dict[str, Any]:
        """The body of a parent's application for the child."""
        return {
            "child_id": self.code,
            "birth_date": self.birth_date.isoformat(),
            "lon": self.lon,
            "lat": self.lat,
            "priority_group": self.priority_group,
        }


def homes_in(home: Path, wards: Iterable[str]) -> list[tuple[float, float, str]]:
    """The demo city's homes (lon, lat, ward) inside the given wards, in the file's order."""
    wanted = set(wards)
    with (home / "demo" / "households.csv").open(encoding="utf-8") as handle:
        return [
            (float(row["lon"]), float(row["lat"]), row["ward_code"])
            for row in csv.DictReader(handle)
            if row["ward_code"] in wanted
        ]


def school_year_of(admission_year: int) -> str:
    """'2100-2101' for 2100."""
    return f"{admission_year}-{admission_year + 1}"


def entry_birth_date(admission_year: int) -> date:
    """A birth date that makes a child the grade's entry age in the admission year."""
    return date(admission_year - ENTRY_AGE, 3, 15)


def applicants_csv(children: Iterable[Child], siblings: dict[str, str] | None = None) -> bytes:
    """An officer's applicant file for the children; `siblings` names a brother or sister of
    some of them (by code)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["child_id", "birth_date", "lon", "lat", "priority_group", "sibling_id"])
    for child in children:
        writer.writerow(
            [
                child.code,
                child.birth_date.isoformat(),
                f"{child.lon:.7f}",
                f"{child.lat:.7f}",
                child.priority_group or "",
                (siblings or {}).get(child.code, ""),
            ]
        )
    return out.getvalue().encode()


def one(conn: Connection, query: str, *args: object) -> Any:
    """The first column of the query's one row."""
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    assert row is not None, query
    return row[0]


def every(conn: Connection, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Every row of the query."""
    with conn.cursor() as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def published_runs(conn: Connection, round_id: int) -> list[int]:
    """The round's published runs (one at most, if the record is whole)."""
    return [
        int(row[0])
        for row in every(
            conn,
            "SELECT id FROM allocation_runs WHERE round_id = %s AND published_at IS NOT NULL "
            "ORDER BY id",
            round_id,
        )
    ]


def uncovered_applications(conn: Connection, run_id: int) -> list[tuple[Any, ...]]:
    """Where a run and its round's eligible applications differ: eligible applications without
    exactly one assignment row in the run, and assignment rows for a child with no eligible
    application in the round."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT 'eligible application ' || a.id, count(x.applicant_id)
            FROM allocation_runs run
            JOIN applications a ON a.round_id = run.round_id AND a.status = 'eligible'
            LEFT JOIN assignments x ON x.run_id = run.id AND x.applicant_id = a.applicant_id
            WHERE run.id = %(run)s
            GROUP BY a.id HAVING count(x.applicant_id) <> 1
            UNION ALL
            SELECT 'assignment of applicant ' || x.applicant_id, 0
            FROM allocation_runs run
            JOIN assignments x ON x.run_id = run.id
            WHERE run.id = %(run)s AND NOT EXISTS (
                SELECT 1 FROM applications a WHERE a.round_id = run.round_id
                  AND a.applicant_id = x.applicant_id AND a.status = 'eligible')
            """,
            {"run": run_id},
        )
        return list(cur.fetchall())


def bearer(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    """Sign in (a served app's client or a TestClient) and return the Authorization header."""
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class DemoRound:
    """A closed grade-1 round of the whole demo city with its applicants, in a transaction."""

    conn: Connection
    routing: RoutingService
    round_id: int


@contextmanager
def demo_round(demo_db_url: str, demo_home: Path, routing_home: Path) -> Iterator[DemoRound]:
    """The demo city's households applying to one grade-1 round (rolled back at the end), with
    a routing service keeping its fields in `routing_home`."""
    from gis_service.admissions.applicant_import import import_applicants
    from gis_service.admissions.lifecycle import set_round_status
    from gis_service.admissions.rounds import create_round
    from gis_service.importers.report import no_progress
    from tests.conftest import rolled_back

    with rolled_back(demo_db_url) as conn:
        the_round = create_round(
            conn, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901", "902", "903"]
        )
        import_applicants(
            conn, the_round.round_id, demo_home / "demo" / "households.csv", b"k", no_progress
        )
        set_round_status(conn, the_round.round_id, "open")
        set_round_status(conn, the_round.round_id, "closed")
        yield DemoRound(conn, RoutingService(routing_home), the_round.round_id)
