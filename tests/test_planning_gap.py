"""Capacity gap, siting and scenarios on the demo city, through the library, the API and the
command line (the demo's Phường Hòa Bình is built short of grade-1 seats)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis_service.api import planning as planning_api
from gis_service.api.app import create_app
from gis_service.api.security import CurrentUser
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, NotFoundError
from gis_service.planning.gap import GapSettings, NewSite, compute_gap
from gis_service.planning.scenarios import (
    Scenario,
    compare_scenarios,
    list_scenarios,
    load_scenario,
    save_scenario,
)
from gis_service.planning.siting import site_schools
from gis_service.routing.service import RoutingService
from tests.test_auth import RequestScopedSource, RequestTransactions, api_connection
from tests.test_cli import schoolmap

SHORT_WARD = "Phường Hòa Bình"


@pytest.fixture
def routing(demo_home: Path) -> RoutingService:
    return RoutingService(demo_home)


def test_grade_1_gap_in_2025(demo_db: Connection, routing: RoutingService) -> None:
    result = compute_gap(demo_db, routing, GapSettings(grade=1, school_year=2025))
    m = result.metrics
    assert m["children"] == sum(w["children"] for w in result.wards)
    assert m["seats"] == m["classes_available"] * 35
    assert (m["children"], m["classes_available"]) == (3880, 102)
    assert (m["classes_short"], m["children_over_size"]) == (12, 310)
    assert m["children_over_size"] >= m["children"] - m["seats"]
    assert m["children_beyond_norm"] == 0 and m["children_unreachable"] == 0
    worst = max(result.wards, key=lambda w: w["children_over_size"])
    assert worst["ward_name"] == SHORT_WARD
    assert result.statement["forecast"]["base_year"] == 2024
    assert sum(s["children"] for s in result.schools) == m["children"]
    # Each unit's children with the forecast's 80 % interval around them.
    assert all(w["children_low"] <= w["children"] <= w["children_high"] for w in result.wards)


def test_a_unit_whose_forecast_has_no_children_has_a_gap_of_nothing(
    demo_db: Connection, routing: RoutingService
) -> None:
    """A unit with no one to place (here a ward of one resident) has an empty gap, not an
    error: the gap of each unit on its own met such a ward of Ho Chi Minh City."""
    with demo_db.cursor() as cur:
        cur.execute(
            "SELECT id, code FROM admin_units WHERE level = 'ward' AND name = %s", (SHORT_WARD,)
        )
        ward_id, code = cur.fetchone()  # type: ignore[misc]
        cur.execute(
            "UPDATE admin_population SET population = 1 WHERE admin_unit_id = %s", (ward_id,)
        )
    result = compute_gap(
        demo_db, routing, GapSettings(grade=1, school_year=2025, unit_codes=[code])
    )
    assert result.metrics["children"] == 0
    assert result.metrics["classes_needed"] == 0 and result.metrics["classes_short"] == 0
    assert all(s["children"] == 0 for s in result.schools)


def test_added_classes_and_a_larger_class_size_close_the_gap(
    demo_db: Connection, routing: RoutingService
) -> None:
    base = compute_gap(demo_db, routing, GapSettings(grade=1, school_year=2025))
    short = max(base.schools, key=lambda s: s["classes_short"])
    more = GapSettings(grade=1, school_year=2025, added_classes={short["school_id"]: 3})
    helped = compute_gap(demo_db, routing, more).metrics
    assert helped["classes_available"] == base.metrics["classes_available"] + 3
    assert helped["children_over_size"] < base.metrics["children_over_size"]
    roomy = compute_gap(demo_db, routing, GapSettings(grade=1, school_year=2025, class_size=45))
    assert roomy.metrics["children_over_size"] == 0


def test_a_tighter_norm_leaves_children_beyond_it(
    demo_db: Connection, routing: RoutingService
) -> None:
    tight = compute_gap(demo_db, routing, GapSettings(grade=6, school_year=2026, norm_m=800.0))
    assert tight.statement["norm_m"] == 800.0
    assert tight.metrics["children_beyond_norm"] > 0
    assert tight.metrics["p90_m"] > 800.0


def test_a_school_that_does_not_teach_the_grade_cannot_gain_classes(
    demo_db: Connection, routing: RoutingService
) -> None:
    settings = GapSettings(grade=1, school_year=2025, added_classes={999_999: 2})
    with pytest.raises(InvalidRequestError, match="999999"):
        compute_gap(demo_db, routing, settings)


def test_siting_puts_the_first_new_school_in_the_short_ward(
    demo_db: Connection, routing: RoutingService
) -> None:
    result = site_schools(
        demo_db, routing, GapSettings(grade=1, school_year=2025), k=1, minutes=5.0
    )
    assert result["served_within_after"] > result["served_within_before"]
    (site,) = result["sites"]
    assert site["name"] == f"Trung tâm {SHORT_WARD}"
    assert site["children_served"] == site["seats"] == 175
    assert site["wards"][0]["ward_name"] == SHORT_WARD
    assert result["optimal"]
    more = site_schools(demo_db, routing, GapSettings(grade=1, school_year=2025), k=2, minutes=5.0)
    assert more["served_within_after"] >= result["served_within_after"]


def test_siting_on_a_grid_and_at_existing_schools(
    demo_db: Connection, routing: RoutingService
) -> None:
    settings = GapSettings(grade=1, school_year=2025)
    grid = site_schools(demo_db, routing, settings, kind="grid", spacing_m=600.0, minutes=5.0)
    assert grid["candidate_count"] > 14
    assert grid["served_within_after"] >= grid["served_within_before"]
    schools = site_schools(demo_db, routing, settings, kind="schools", classes=2, minutes=5.0)
    assert schools["sites"][0]["school_id"] is not None
    assert schools["sites"][0]["seats"] == 70


def test_scenarios_are_saved_logged_and_compared(
    demo_db: Connection, routing: RoutingService
) -> None:
    with demo_db.cursor() as cur:
        cur.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM admin_units WHERE name = %s",
            (SHORT_WARD,),
        )
        lon, lat = cur.fetchone()
    now = save_scenario(demo_db, Scenario("Hiện trạng", 1, 2025), actor="planner1")
    new_school = Scenario("Trường mới", 1, 2025, new_sites=[NewSite("Trường mới", lon, lat, 5)])
    added = save_scenario(demo_db, new_school, actor="planner1")
    assert load_scenario(demo_db, added).new_sites[0].classes == 5
    table = compare_scenarios(demo_db, routing, [now, added])
    values = {row["metric"]: row["values"] for row in table["rows"]}
    assert values["classes_available"][1] == values["classes_available"][0] + 5
    assert values["children_over_size"][1] < values["children_over_size"][0]
    assert values["classes_short"] == [12, 7]
    listed = {s["id"]: s for s in list_scenarios(demo_db)}
    assert listed[added]["metrics"]["classes_short"] == 7
    with demo_db.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_log WHERE action = 'scenario.save'")
        assert cur.fetchone()[0] >= 2
    with pytest.raises(NotFoundError):
        load_scenario(demo_db, 999_999)
    with pytest.raises(InvalidRequestError, match="limits"):
        save_scenario(demo_db, Scenario("x", 1, 2025, limits={"speed": 3}), actor="planner1")


@pytest.fixture
def api(demo_db_url: str, demo_home: Path) -> Iterator[tuple[TestClient, RequestTransactions]]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with api_connection(demo_db_url) as conn:
        app = create_app(settings, pool=RequestScopedSource(conn))
        with TestClient(app) as client:
            yield client, conn


def as_planner(client: TestClient) -> None:
    client.app.dependency_overrides[planning_api.planner_user] = lambda: CurrentUser(  # type: ignore[attr-defined]
        1, "planner1", "planner", (), None, 1, "127.0.0.1"
    )


def test_api_forecast_and_gap_are_public_and_per_ward(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, _ = api
    body = client.get("/planning/forecast", params={"years": "2025-2026", "grade": 1}).json()
    assert body["base_year"] == 2024 and "Cohort ageing" in body["method"]
    assert len(body["rows"]) == 14 * 2
    geo = client.get("/planning/forecast", params={"years": "2025", "grade": 6, "geojson": True})
    assert geo.status_code == 200
    assert geo.json()["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    gap = client.get("/planning/gap", params={"grade": 1, "year": 2025}).json()
    assert gap["metrics"]["classes_short"] == 12
    assert len(gap["wards"]["features"]) == 14
    assert {"lat", "lon", "birth_date"}.isdisjoint(gap["wards"]["features"][0]["properties"])
    bad = client.get("/planning/gap", params={"grade": 2, "year": 2025})
    assert bad.status_code == 400 and "grade must be 1 or 6" in bad.json()["detail"]
    early = client.get("/planning/forecast", params={"years": "2010"})
    assert early.status_code == 400 and "before the census year" in early.json()["detail"]
    assert client.get("/planner").status_code == 200


def test_api_siting_and_scenarios_need_a_planner(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, _ = api
    assert client.post("/planning/site", json={"grade": 1, "year": 2025}).status_code == 401
    assert client.get("/planning/scenarios").status_code == 401
    as_planner(client)
    site = client.post("/planning/site", json={"grade": 1, "year": 2025, "k": 1, "minutes": 5})
    assert site.status_code == 200
    assert site.json()["sites"][0]["name"] == f"Trung tâm {SHORT_WARD}"
    made = client.post(
        "/planning/scenarios",
        json={"name": "Sĩ số 40", "grade": 1, "school_year": 2025, "class_size": 40},
    )
    assert made.status_code == 201
    scenario_id = made.json()["id"]
    assert any(s["id"] == scenario_id for s in client.get("/planning/scenarios").json())
    compared = client.get("/planning/scenarios/compare", params={"ids": str(scenario_id)})
    rows = {r["metric"]: r["values"] for r in compared.json()["rows"]}
    assert rows["children_over_size"] == [0]
    assert client.get("/planning/scenarios/compare", params={"ids": "x"}).status_code == 400


def test_cli_forecast_gap_and_site(demo_db_url: str, demo_home: Path) -> None:
    run = schoolmap(
        demo_db_url, "forecast", "run", "--years", "2025-2026", "--grade", "1", home=demo_home
    )
    assert run.returncode == 0, run.stderr
    assert "base year 2024, census 2024" in run.stdout
    assert "    1 2025-2026      3,881" in run.stdout
    gap = schoolmap(demo_db_url, "gap", "--grade", "1", "--year", "2025", home=demo_home)
    assert gap.returncode == 0, gap.stderr
    assert "classes_short: 12" in gap.stdout
    assert SHORT_WARD in gap.stdout.split("wards with the most")[1].splitlines()[2]
    site = schoolmap(
        demo_db_url, "site", "--grade", "1", "--year", "2025", "--minutes", "5", home=demo_home
    )
    assert site.returncode == 0, site.stderr
    assert f"Trung tâm {SHORT_WARD}" in site.stdout
    bad = schoolmap(demo_db_url, "gap", "--grade", "3", "--year", "2025", home=demo_home)
    assert bad.returncode != 0 and "grade must be 1 or 6" in bad.stderr
