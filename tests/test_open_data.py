"""Open data: the schools with their official codes and the units of an edition, as CSV that
Excel opens with Vietnamese intact and as GeoPackage that a GIS reads, through the API and the
command line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gis_service.cli import app
from tests.test_auth import RequestTransactions, api_client, api_connection, one


@pytest.fixture
def api(demo_db_url: str, demo_home: Path) -> Iterator[tuple[TestClient, RequestTransactions]]:
    with api_connection(demo_db_url) as conn, api_client(conn, demo_home) as client:
        yield client, conn


def test_the_schools_as_a_spreadsheet_with_their_codes(
    api: tuple[TestClient, RequestTransactions],
) -> None:
    client, conn = api
    # A name made to run as a formula in a spreadsheet stays text.
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE schools SET name = '=HYPERLINK(\"x\")' WHERE id = (SELECT min(id) FROM schools)"
        )
    conn.commit()
    got = client.get("/open-data/schools", params={"format": "csv"})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    assert 'filename="truong_hoc.csv"' in got.headers["content-disposition"]
    assert got.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 by its BOM
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert len(rows) == one(conn, "SELECT count(*) FROM schools")
    # Every official code the registry gave, once each (schools mapped only in OSM have none).
    coded = [r["code"] for r in rows if r["code"]]
    assert len(set(coded)) == len(coded) == one(conn, "SELECT count(code) FROM schools") > 0
    assert any(r["name"].startswith("Trường Tiểu học") for r in rows)
    assert any(r["name"] == '\'=HYPERLINK("x")' for r in rows)
    primary = [r for r in rows if r["levels"] == "tieu_hoc"]
    assert primary and all(r["grade_1_classes"] and r["unit_name"] for r in primary)


def test_the_schools_and_units_as_geopackages(
    api: tuple[TestClient, RequestTransactions], tmp_path: Path
) -> None:
    client, conn = api
    got = client.get("/open-data/schools", params={"format": "gpkg"})
    assert got.status_code == 200
    path = tmp_path / "schools.gpkg"
    path.write_bytes(got.content)
    info = pyogrio.read_info(path, layer="truong_hoc")
    assert info["features"] == one(conn, "SELECT count(*) FROM schools")
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "Point"
    units = client.get("/open-data/units", params={"format": "gpkg", "edition": "2019"})
    assert units.status_code == 200
    (tmp_path / "units.gpkg").write_bytes(units.content)
    frame = pyogrio.read_dataframe(tmp_path / "units.gpkg", layer="don_vi_2019")
    assert len(frame) == one(conn, "SELECT count(*) FROM admin_units WHERE edition = '2019'")
    assert frame.crs.to_epsg() == 4326
    assert "Phường Hòa Bình" in set(frame["name"])
    wards = frame[frame["level"] == "ward"]
    assert (wards["population"] > 0).all() and (wards["area_km2"] > 0).all()
    assert client.get("/open-data/units", params={"edition": "1975"}).status_code in (400, 404)
    assert client.get("/open-data/schools", params={"format": "xls"}).status_code == 422


def test_the_command_line_writes_the_same_files(demo_db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": demo_db_url}
    made = CliRunner().invoke(
        app,
        [
            "open-data",
            "schools",
            "--csv",
            str(tmp_path / "s.csv"),
            "--gpkg",
            str(tmp_path / "s.gpkg"),
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "rows to" in made.output and "(layer truong_hoc)" in made.output
    assert (tmp_path / "s.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert pyogrio.read_info(tmp_path / "s.gpkg")["features"] > 0
    units = CliRunner().invoke(
        app, ["open-data", "units", "--gpkg", str(tmp_path / "u.gpkg")], env=env
    )
    assert units.exit_code == 0, units.output
    nothing = CliRunner().invoke(app, ["open-data", "units"], env=env)
    assert nothing.exit_code == 2 and "give --csv PATH and/or --gpkg PATH" in nothing.output
