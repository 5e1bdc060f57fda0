"""The `schoolmap` command as a person runs it, against its own PostGIS database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest

from gis_service import __version__
from gis_service.db.connection import connect
from tests.browser_support import wait_for_health
from tests.conftest import recreate_database, table_counts
from tests.osm_fixture import EXPECTED_ROAD_WAYS, write_hand_made_osm

SCHOOLMAP = str(Path(sys.executable).parent / "schoolmap")


@pytest.fixture(scope="module")
def cli_db_url() -> str:
    return recreate_database("schoolmap_test_cli")


def schoolmap(
    url: str, *args: str, timeout: float = 120, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    if home is not None:
        env["SCHOOLMAP_HOME"] = str(home)
    return subprocess.run(
        [SCHOOLMAP, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def counts(url: str) -> dict[str, int]:
    conn = connect(url)
    try:
        return table_counts(conn)
    finally:
        conn.close()


def test_db_upgrade_is_repeatable(cli_db_url: str) -> None:
    result = schoolmap(cli_db_url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "0 migration(s) applied, 0 pending" in result.stdout


def test_import_osm_reports_counts_and_time(cli_db_url: str, tmp_path: Path) -> None:
    path = write_hand_made_osm(tmp_path / "small.osm")
    result = schoolmap(cli_db_url, "import", "osm", str(path))
    assert result.returncode == 0, result.stderr
    assert f"OSM roads and schools from {path} in " in result.stdout
    assert f"road ways: {EXPECTED_ROAD_WAYS}" in result.stdout
    assert "schools: 5" in result.stdout
    assert "(xong / done" in result.stderr  # progress lines go to standard error


def test_bad_file_exits_non_zero_naming_file_and_problem(cli_db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "wards.geojson"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        '"geometry": null, "properties": {"code": "1", "name": "A"}}]}'
    )
    before = counts(cli_db_url)
    result = schoolmap(cli_db_url, "import", "wards", str(bad))
    assert result.returncode == 1
    assert f"error: {bad}: feature '1' has no geometry" in result.stderr
    assert "Traceback" not in result.stderr
    assert counts(cli_db_url) == before


def test_usage_errors_exit_two(cli_db_url: str) -> None:
    result = schoolmap(cli_db_url, "import", "osm")
    assert result.returncode == 2
    assert "give either a PATH or --place NAME" in result.stderr


def test_unreachable_database_is_reported(tmp_path: Path) -> None:
    result = schoolmap("postgresql://nobody:secret@127.0.0.1:1/none", "db", "upgrade", timeout=30)
    assert result.returncode == 1
    assert (
        "cannot connect to PostgreSQL at postgresql://nobody:***@127.0.0.1:1/none" in result.stderr
    )
    assert "secret" not in result.stderr


def test_version_and_the_module_entry_point() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "gis_service", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0 and shown.stdout.strip() == f"schoolmap {__version__}"


def test_serve_listens_where_its_settings_say(demo_db_url: str, demo_home: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": demo_db_url,
        "SCHOOLMAP_HOME": str(demo_home),
        "SCHOOLMAP_API_PORT": str(port),
        "SCHOOLMAP_API_HOST": "127.0.0.1",
    }
    process = subprocess.Popen(
        [SCHOOLMAP, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get_json(f"http://127.0.0.1:{port}/health")["status"] == "ok"
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(f"serve did not listen on {port}:\n{output}") from None
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    import json

    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def demo_service_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def demo_service(
    tmp_path_factory: pytest.TempPathFactory, demo_service_home: Path
) -> Iterator[str]:
    """`schoolmap demo` loading the demo city into a new database and serving it."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database("schoolmap_test_cli_demo"),
        "SCHOOLMAP_HOME": str(demo_service_home),
    }
    log = tmp_path_factory.mktemp("log") / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [SCHOOLMAP, "demo", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, process, log, 120)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demo_serves_the_demo_city(demo_service: str) -> None:
    health = get_json(demo_service + "/health")
    assert health["status"] == "ok" and health["wards"] > 10 and health["schools"] > 50
    found = get_json(demo_service + "/schools?q=truong%20tieu%20hoc%20le%20van%20tho")
    assert [f["properties"]["name"] for f in found["features"]] == ["Trường Tiểu học Lê Văn Thọ"]
    school = found["features"][0]
    lon, lat = school["geometry"]["coordinates"]
    near = get_json(demo_service + f"/schools/near?lat={lat}&lon={lon}&mode=walk&level=tieu_hoc")
    assert near["features"][0]["id"] == school["id"]
    assert near["features"][0]["properties"]["distance_m"] < 100
    wards = get_json(demo_service + "/wards")
    assert wards["numberMatched"] == health["wards"]
    with urllib.request.urlopen(demo_service + "/docs", timeout=10) as response:
        assert b"swagger" in response.read().lower()


def test_demo_accounts_sign_in_and_the_demo_round_is_open(
    demo_service: str, demo_service_home: Path
) -> None:
    import json

    accounts = demo_service_home / "demo" / "accounts.txt"
    assert accounts.stat().st_mode & 0o777 == 0o600
    passwords = dict(line.split(" ", 1) for line in accounts.read_text().splitlines())
    assert set(passwords) == {"admin", "can.bo.901", "quy.hoach", "phu.huynh"}
    request = urllib.request.Request(
        demo_service + "/auth/login",
        data=json.dumps({"username": "phu.huynh", "password": passwords["phu.huynh"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["access_token"]
    listed = urllib.request.Request(
        demo_service + "/rounds", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(listed, timeout=10) as response:
        rounds = json.loads(response.read())
    assert [(r["status"], r["grade"], r["applications"]) for r in rounds] == [("open", 1, 5500)]


def test_round_create_and_import_through_the_command(tmp_path: Path) -> None:
    url = recreate_database("schoolmap_test_cli_round")
    home = tmp_path / "home"
    demo = schoolmap(url, "demo", "--no-serve", timeout=300, home=home)
    assert demo.returncode == 0, demo.stderr
    made = schoolmap(
        url,
        "round",
        "create",
        "--name",
        "Lớp 1 Quận Một",
        "--grade",
        "1",
        "--year",
        "2025-2026",
        "--district",
        "901",
        home=home,
    )
    assert made.returncode == 0, made.stderr
    round_id = made.stdout.split()[1].rstrip(":")
    households = home / "demo" / "households.csv"
    imported = schoolmap(url, "round", "import-applicants", round_id, str(households), home=home)
    assert imported.returncode == 0, imported.stderr
    assert "applicants: 5,500" in imported.stdout
    assert "reason: too_old: 2,500" in imported.stdout
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600
    # The CLI keeps the round's rules as the API does: a draft or open round is not run.
    early = schoolmap(url, "round", "run", round_id, home=home)
    assert early.returncode == 1 and "needs a round that is closed" in early.stderr
    for step in ("open", "close"):
        moved = schoolmap(url, "round", step, round_id, home=home)
        assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == f"round {round_id}: closed"
    late = schoolmap(url, "round", "import-applicants", round_id, str(households), home=home)
    assert late.returncode == 1 and "it is closed" in late.stderr
    runs = []
    for mechanism in ("nearest", "greedy"):
        ran = schoolmap(
            url,
            "round",
            "run",
            round_id,
            "--mechanism",
            mechanism,
            "--seed",
            "2025",
            timeout=300,
            home=home,
        )
        assert ran.returncode == 0, ran.stderr
        runs.append(ran.stdout.split()[1])
    compared = schoolmap(url, "round", "compare", *runs, home=home)
    assert compared.returncode == 0, compared.stderr
    assert "mean_cost" in compared.stdout and "greedy" in compared.stdout
    published = schoolmap(url, "round", "publish", runs[0], home=home)
    assert published.returncode == 0, published.stderr
    # The enrolment notice, with the API's rules: a wrong notice is refused saying why.
    notice = ["round", "notice", round_id, "--enrol-from", "2025-07-15", "--enrol-until"]
    backwards = schoolmap(url, *notice, "2025-07-01", home=home)
    assert backwards.returncode == 1 and "sau ngày kết thúc 01/07/2025" in backwards.stderr
    noticed = schoolmap(
        url,
        *notice,
        "2025-07-20",
        "--paper",
        "Bản sao giấy khai sinh",
        "--paper",
        "Giấy xác nhận cư trú",
        "--review-contact",
        "UBND phường, 0283 822 1234",
        home=home,
    )
    assert noticed.returncode == 0, noticed.stderr
    assert noticed.stdout.strip() == (
        f"round {round_id}: enrolment 2025-07-15 to 2025-07-20, 2 paper(s), review contact "
        "UBND phường, 0283 822 1234 until -"
    )
    demand = tmp_path / "demand.gpkg"
    packed = schoolmap(url, "round", "demand", round_id, "--run", runs[0], "--gpkg", str(demand))
    assert packed.returncode == 0, packed.stderr
    assert f"(layer nhu_cau_dot{round_id}_lan{runs[0]})" in packed.stdout
    assert pyogrio.read_info(demand)["features"] >= 5
    wrong = schoolmap(url, "round", "demand", round_id, "--run", "999999", "--gpkg", str(demand))
    assert wrong.returncode == 1 and "has no run with id 999999" in wrong.stderr
    verified = schoolmap(url, "round", "verify", runs[0], timeout=300, home=home)
    assert verified.returncode == 0, verified.stderr
    assert "verified: the same input gives the same assignment" in verified.stdout
    again = schoolmap(url, "round", "publish", runs[1], home=home)
    assert again.returncode == 1 and "it is published" in again.stderr
    imported_late = schoolmap(
        url, "round", "import-applicants", round_id, str(households), home=home
    )
    assert imported_late.returncode == 1 and "it is published" in imported_late.stderr
    exported = schoolmap(
        url, "round", "export", runs[0], "--csv", str(tmp_path / "out.csv"), home=home
    )
    assert exported.returncode == 0, exported.stderr
    assert len((tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()) > 1000
    second = schoolmap(url, "round", "next", round_id, home=home)
    assert second.returncode == 0, second.stderr
    assert "(round 2)" in second.stdout and "seats left" in second.stdout
    second_id = second.stdout.split()[1].rstrip(":")
    for step in ("open", "close"):
        assert schoolmap(url, "round", step, second_id, home=home).returncode == 0
    ran = schoolmap(
        url, "round", "run", second_id, "--mechanism", "nearest", "--seed", "1", home=home
    )
    assert ran.returncode == 0, ran.stderr
    twice = schoolmap(url, "round", "next", round_id, home=home)
    assert twice.returncode == 1 and "already has a next round" in twice.stderr
    unconfirmed = schoolmap(url, "round", "purge", round_id, home=home)
    assert unconfirmed.returncode != 0 and "--yes" in unconfirmed.stderr
    refused = schoolmap(url, "round", "purge", round_id, "--yes", home=home)
    assert refused.returncode == 1 and "finish it first" in refused.stderr
