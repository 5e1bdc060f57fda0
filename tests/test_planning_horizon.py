"""The forecast's horizon (one limit, refused alike by the library, the API, the command line
and a saved scenario) and the per-unit exports (CSV for a spreadsheet, GeoPackage for a GIS),
on the demo city (census 2024)."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pyogrio
import pytest
from fastapi.testclient import TestClient

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.planning.forecast import HORIZON_YEARS, forecast_years, run_forecast
from gis_service.planning.inputs import load_inputs
from gis_service.planning.scenarios import Scenario, save_scenario
from tests.test_auth import RequestTransactions
from tests.test_cli import schoolmap
from tests.test_planning_gap import SHORT_WARD, api, as_planner  # noqa: F401  (the API fixture)

CENSUS = 2024  # the demo city's census year
LAST = CENSUS + HORIZON_YEARS


def test_the_horizon_is_the_census_year_and_sixteen_years_after() -> None:
    assert forecast_years(2019) == (2019, 2035)
    assert forecast_years(CENSUS) == (2024, 2040)


def test_the_library_takes_the_last_year_and_refuses_the_next(demo_db: Connection) -> None:
    inputs = load_inputs(demo_db)
    made = run_forecast(inputs, [LAST], [1, 6])
    assert made.statement()["years_allowed"] == {"first": 2024, "last": 2040, "horizon_years": 16}
    with pytest.raises(InvalidRequestError) as refused:
        run_forecast(inputs, [LAST + 1], [1])
    said = str(refused.value)
    assert said.startswith("năm học 2041 quá xa: chỉ dự báo năm học 2024–2040")
    assert "school years 2024-2040 only" in said
    with pytest.raises(InvalidRequestError, match="before the census year 2024"):
        run_forecast(inputs, [CENSUS - 1], [6])


def test_a_scenario_of_a_year_beyond_the_horizon_is_refused(demo_db: Connection) -> None:
    with pytest.raises(InvalidRequestError, match="chỉ dự báo năm học 2024–2040"):
        save_scenario(demo_db, Scenario("Xa quá", 1, 2100), actor="planner1")


def test_the_api_states_the_years_and_refuses_others_in_vietnamese_first(
    api: tuple[TestClient, RequestTransactions],  # noqa: F811
) -> None:
    client, _ = api
    years = client.get("/planning/years").json()
    assert (years["first"], years["last"], years["census_year"]) == (2024, 2040, 2024)
    assert years["why"].startswith("Dự báo từ điều tra dân số 2024")
    for path, params, year in (
        ("/planning/forecast", {"years": "2035-2041", "grade": 1}, 2041),
        ("/planning/gap", {"grade": 1, "year": 2100}, 2100),
        ("/planning/export", {"grade": 6, "year": 2041}, 2041),
    ):
        refused = client.get(path, params=params)
        assert refused.status_code == 400, (path, refused.text)
        said = refused.json()["detail"]
        assert said.startswith(f"năm học {year} quá xa: chỉ dự báo năm học 2024–2040"), said
    as_planner(client)
    saved = client.post("/planning/scenarios", json={"name": "Xa", "grade": 1, "school_year": 2050})
    assert saved.status_code == 400 and "2024–2040" in saved.json()["detail"]


def test_the_command_line_refuses_a_year_beyond_the_horizon(
    demo_db_url: str, demo_home: Path
) -> None:
    run = schoolmap(demo_db_url, "forecast", "run", "--years", "2040-2041", home=demo_home)
    assert run.returncode != 0
    assert "năm học 2041 quá xa: chỉ dự báo năm học 2024–2040" in run.stderr
    gap = schoolmap(demo_db_url, "gap", "--grade", "1", "--year", "2045", home=demo_home)
    assert gap.returncode != 0 and "school years 2024-2040 only" in gap.stderr


def test_the_gap_exports_as_csv_with_bom_and_as_a_geopackage(
    api: tuple[TestClient, RequestTransactions],  # noqa: F811
    tmp_path: Path,
) -> None:
    client, _ = api
    params = {"grade": 1, "year": 2026}
    gap = client.get("/planning/gap", params=params).json()
    units = {f["properties"]["ward_code"]: f["properties"] for f in gap["wards"]["features"]}
    got = client.get("/planning/export", params={**params, "format": "csv"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert 'filename="thieu_cho_lop1_2026.csv"' in got.headers["content-disposition"]
    assert got.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert len(rows) == len(units) == 14
    short = next(r for r in rows if r["unit_label"] == SHORT_WARD)
    assert int(short["classes_short"]) == units[short["ward_code"]]["classes_short"] > 0
    assert short["school_year"] == "2026-2027" and short["grade"] == "1"
    assert {"lat", "lon", "birth_date", "child_id"}.isdisjoint(rows[0])

    package = client.get("/planning/export", params={**params, "format": "gpkg"})
    assert package.status_code == 200
    assert package.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "gap.gpkg"
    path.write_bytes(package.content)
    assert pyogrio.list_layers(path)[0][0] == "thieu_cho_lop1_2026"
    info = pyogrio.read_info(path)
    assert info["features"] == 14 and info["crs"] == "EPSG:4326"
    assert info["geometry_type"] == "MultiPolygon"
    frame = pyogrio.read_dataframe(path)
    assert SHORT_WARD in set(frame["unit_label"])
    by_code = frame.set_index("ward_code")
    for code, unit in units.items():
        assert by_code.loc[code, "classes_short"] == unit["classes_short"]
    assert frame.geometry.is_valid.all() and not frame.geometry.is_empty.any()
    # The GeoPackage's own tables, as any reader finds them.
    with sqlite3.connect(path) as db:
        contents = db.execute("SELECT table_name, data_type, srs_id FROM gpkg_contents").fetchall()
        assert contents == [("thieu_cho_lop1_2026", "features", 4326)]
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"


def test_the_forecast_exports_with_its_band(
    api: tuple[TestClient, RequestTransactions],  # noqa: F811
    tmp_path: Path,
) -> None:
    client, _ = api
    params = {"grade": 6, "year": 2030, "what": "forecast"}
    got = client.get("/planning/export", params={**params, "format": "gpkg"})
    assert got.status_code == 200, got.text
    path = tmp_path / "forecast.gpkg"
    path.write_bytes(got.content)
    frame = pyogrio.read_dataframe(path, layer="du_bao_lop6_2030")
    assert len(frame) == 14
    assert ((frame["low"] <= frame["children"]) & (frame["children"] <= frame["high"])).all()
    # The 50 % interval inside the 80 % one, and the unit's people with theirs.
    assert ((frame["low"] <= frame["low_50"]) & (frame["high_50"] <= frame["high"])).all()
    assert (frame["population_low"] <= frame["population"]).all()
    assert set(frame["school_year"]) == {"2030-2031"}
