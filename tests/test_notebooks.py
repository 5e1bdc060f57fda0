"""The planning notebooks run from top to bottom and write their charts, tables and maps."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gis_service.db.connection import connect
from gis_service.importers.report import no_progress
from gis_service.importers.wards import import_wards
from gis_service.planning.series import import_series
from tests.conftest import SHARED_DATA, recreate_database
from tests.test_hcmc_import import HCMC_WARD_FIELDS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}}
    )
    client.execute()
    return notebook


def test_planning_report_on_the_demo_city(
    demo_db_url: str, demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    monkeypatch.setenv("SCHOOLMAP_HOME", str(demo_home))
    monkeypatch.setenv("PLANNING_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("PLANNING_FIRST_YEAR", "2025")
    notebook = execute("planning_report.ipynb", tmp_path)
    out = tmp_path / "out"
    assert (out / "forecast_by_year.png").stat().st_size > 10_000
    assert (out / "forecast_panels.png").stat().st_size > 30_000
    page = (out / "gap_map.html").read_text()
    assert "Phường Hòa Bình" in page and "OpenStreetMap contributors" in page
    table = (out / "gap_by_ward.csv").read_text().splitlines()
    assert len(table) == 1 + 14
    assert "Phường Hòa Bình" in table[1]  # the most children over the legal class size
    printed = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "base year 2024" in printed


@pytest.mark.hcmc
def test_backtest_notebook_on_hcmc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = recreate_database("schoolmap_test_plan_notebook")
    conn = connect(url)
    try:
        cityscope = SHARED_DATA / "hcmc_cityscope_pop2019"
        import_wards(conn, cityscope / "Population_Ward_Level.shp", HCMC_WARD_FIELDS, no_progress)
        import_series(
            conn,
            cityscope / "Population_District_Level.shp",
            level="district",
            code_field="Dist_ID",
        )
        conn.commit()
    finally:
        conn.close()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PLANNING_OUT", str(tmp_path / "out"))
    execute("backtest.ipynb", tmp_path)
    rows = (tmp_path / "out" / "backtest_2014_2019.csv").read_text().splitlines()
    assert rows[0].startswith("method,ward_mape")
    assert rows[1].startswith("cohort-trend,0.3997")
    assert (tmp_path / "out" / "backtest_2014_2019.png").stat().st_size > 10_000
