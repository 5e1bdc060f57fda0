"""The Prometheus endpoint: guarded by its token, counting requests by route template (never
the path sent), the database pool, and the allocation runs stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from benchmarks.load import serving
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.admissions.runs import run_round
from gis_service.api.app import create_app
from gis_service.api.metrics import UNMATCHED
from gis_service.config import DatabaseSettings, MetricsSettings, Settings
from gis_service.db.connection import ConnectionPool
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.browser_support import free_port
from tests.round_helpers import Child, applicants_csv, entry_birth_date, homes_in, school_year_of
from tests.test_auth import RequestScopedSource, RequestTransactions

TOKEN = "metrics-token-for-the-tests-7731"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CHILD = "079219473815"
LAT, LON = "10.7731592", "106.70047183"
ADDRESS = "4729 Hẻm Kietlamvien"


def settings_with(home: Path, token: str | None, url: str | None = None) -> Settings:
    return Settings(
        database=DatabaseSettings(url=url, home=home), metrics=MetricsSettings(token=token)
    )


@pytest.fixture
def metrics_client(conn: RequestTransactions, demo_home: Path) -> Iterator[TestClient]:
    """The app on the test's connection, with a metrics token."""
    app = create_app(settings_with(demo_home, TOKEN), pool=RequestScopedSource(conn))
    with TestClient(app) as client:
        yield client


def scrape(client: TestClient) -> tuple[str, list[Sample]]:
    """The metrics text, and every sample in it (parsed by prometheus_client's parser)."""
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.text))
    return response.text, [sample for family in families for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sample's value, 0 when it is not there yet."""
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, found
    return found[0] if found else 0.0


def test_no_token_configured_means_no_metrics(client: TestClient) -> None:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 404
    assert "SCHOOLMAP_METRICS_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-the-same-size-00"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
    ids=["none", "wrong", "longer", "basic", "no-scheme"],
)
def test_a_scrape_without_the_token_is_refused(
    metrics_client: TestClient, headers: dict[str, str]
) -> None:
    response = metrics_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert TOKEN not in response.text


def test_a_short_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        MetricsSettings(token="short")
    assert MetricsSettings(token="").token is None


def test_requests_are_counted_by_route_template(metrics_client: TestClient) -> None:
    _, before = scrape(metrics_client)
    for _ in range(3):
        assert metrics_client.get("/schools", params={"limit": 1}).status_code == 200
    _, after = scrape(metrics_client)
    labels = {"method": "GET", "route": "/schools", "status": "200"}
    counted = "schoolmap_http_requests_total"
    assert value(after, counted, **labels) - value(before, counted, **labels) == 3
    timed = "schoolmap_http_request_duration_seconds_count"
    assert value(after, timed, route="/schools") - value(before, timed, route="/schools") == 3
    # The scrape itself is a request like any other.
    scraped = {"method": "GET", "route": "/metrics", "status": "200"}
    assert value(after, counted, **scraped) > value(before, counted, **scraped)


def test_near_home_answers_from_memory_are_counted_under_their_route(
    metrics_client: TestClient, demo_home: Path
) -> None:
    lon, lat, _ = homes_in(demo_home, ["90001"])[0]
    near = f"/schools/near?lat={lat}&lon={lon}&level=tieu_hoc"
    assert metrics_client.get(near).status_code == 200  # loads what the answer needs
    _, before = scrape(metrics_client)
    for _ in range(3):  # answered from memory (NearFromMemory), before the router
        assert metrics_client.get(near).status_code == 200
    _, after = scrape(metrics_client)
    labels = {"method": "GET", "route": "/schools/near", "status": "200"}
    counted = "schoolmap_http_requests_total"
    assert value(after, counted, **labels) - value(before, counted, **labels) == 3


def test_no_label_holds_what_a_path_or_query_carried(metrics_client: TestClient) -> None:
    metrics_client.get(f"/applications/{CHILD}")
    metrics_client.get(f"/schools/near/{LAT},{LON}")
    metrics_client.get("/schools/near", params={"lat": LAT, "lon": LON, "mode": "walk"})
    metrics_client.get("/geocode", params={"q": ADDRESS})
    metrics_client.get(f"/geocode/{ADDRESS}")
    metrics_client.request("BREW", f"/schools/{CHILD}")
    text, samples = scrape(metrics_client)
    for secret in (CHILD, LAT, LON, "10.773", "106.700", "Kietlamvien", "H%E1%BA%BBm", "BREW"):
        assert secret not in text, secret
    routes = {s.labels["route"] for s in samples if "route" in s.labels}
    assert {"/applications/{application_id}", "/schools/near", "/geocode"} <= routes
    assert UNMATCHED in routes
    methods = {s.labels["method"] for s in samples if "method" in s.labels}
    assert "other" in methods


def test_the_pool_is_exported(demo_db_url: str, demo_home: Path) -> None:
    pool = ConnectionPool(demo_db_url, 3)
    app = create_app(settings_with(demo_home, TOKEN), pool=pool)
    try:
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
            _, samples = scrape(client)
    finally:
        pool.close()
    name = "schoolmap_db_pool_connections"
    assert value(samples, name, state="max") == 3
    # The scrape read the gauges before it borrowed a connection to count the runs.
    assert value(samples, name, state="in_use") == 0
    assert value(samples, name, state="idle") >= 1


def test_the_runs_stored_are_counted(
    metrics_client: TestClient, conn: RequestTransactions, demo_home: Path, tmp_path: Path
) -> None:
    _, before = scrape(metrics_client)
    year = 2100
    the_round = create_round(
        conn, name="Lớp 1", grade=1, school_year=school_year_of(year), wards=["90001"]
    )
    born = entry_birth_date(year)
    children = [
        Child(f"0792{i:08d}", born, lon, lat)
        for i, (lon, lat, _) in enumerate(homes_in(demo_home, ["90001"])[:6])
    ]
    applicants = tmp_path / "applicants.csv"
    applicants.write_bytes(applicants_csv(children))
    import_applicants(conn, the_round.round_id, applicants, b"k", no_progress)
    set_round_status(conn, the_round.round_id, "open")
    set_round_status(conn, the_round.round_id, "closed")
    run = run_round(conn, RoutingService(tmp_path / "home"), the_round.round_id, "da", seed=1)
    conn.commit()
    text, after = scrape(metrics_client)
    labels = {"mechanism": "da", "status": run.status}
    name = "schoolmap_allocation_runs_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1
    assert "0792" not in text


@pytest.mark.timeout(300)
def test_two_workers_count_together(
    demo_db_url: str, demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request on a new connection, so both workers answer some; whichever worker answers
    a scrape counts them all, and both pools."""
    monkeypatch.setenv("SCHOOLMAP_METRICS_TOKEN", TOKEN)
    port = free_port()
    asked = 40
    base = f"http://127.0.0.1:{port}"
    with (
        serving(demo_db_url, demo_home, port, workers=2, pool_max=3),
        httpx.Client(base_url=base, timeout=60, headers={"Connection": "close"}) as client,
    ):
        for _ in range(asked):
            assert client.get("/schools", params={"limit": 1}).status_code == 200
        scrapes = [client.get("/metrics", headers=BEARER) for _ in range(6)]
        assert client.get("/metrics").status_code == 401
    for response in scrapes:
        assert response.status_code == 200, response.text
        samples = [
            sample
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        ]
        labels = {"method": "GET", "route": "/schools", "status": "200"}
        # Before serving, the test's start-up waited on /health, not /schools.
        assert value(samples, "schoolmap_http_requests_total", **labels) == asked
        assert value(samples, "schoolmap_db_pool_connections", state="max") == 2 * 3
