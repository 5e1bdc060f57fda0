"""A round run by a 2025 ward on the real units and roads of District 1's old area: a ward
officer creates, runs and publishes it; another ward's officer is refused; stated units of
residence are checked against the homes; the review window locks the data."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gis_service.db.connection import connect
from gis_service.importers.osm import import_osm
from gis_service.importers.report import no_progress
from gis_service.routing.profiles import default_profile
from gis_service.routing.store import build_and_store
from tests.conftest import SHARED_DATA, recreate_database
from tests.hcmc_data import load_hcmc_units_2025, load_hcmc_wards_2019, register_primary_schools
from tests.test_auth import (
    RequestTransactions,
    add_user,
    api_client,
    api_connection,
    one,
    sign_in,
)
from tests.test_cli import schoolmap

pytestmark = pytest.mark.hcmc

# Three 2025 wards that took most of old District 1's core (the 2026 OSM sample's area).
SAI_GON, BEN_THANH, TAN_DINH = "26740", "26743", "26737"
AREA = [SAI_GON, BEN_THANH, TAN_DINH]
XUAN_HOA = "27139"  # a ward next to them, in old District 3
YEAR = 2026
BORN = f"{YEAR - 6}-04-10"


@dataclass(frozen=True)
class World:
    url: str
    home: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Both unit editions of HCMC, the 2026 District 1 sample's roads and schools, grade-1
    classes from a registry file, and the motorbike network (committed once)."""
    home = tmp_path_factory.mktemp("ward-home")
    url = recreate_database("schoolmap_test_wards2025")
    conn = connect(url)
    try:
        load_hcmc_wards_2019(conn)
        load_hcmc_units_2025(conn)
        import_osm(
            conn, SHARED_DATA / "hcmc_d1_osm_samples" / "velos_district1_2026.osm.pbf", no_progress
        )
        register_primary_schools(conn, home / "registry.csv", 2, 35)
        build_and_store(conn, default_profile("motorbike"), home, progress=no_progress)
        conn.commit()
    finally:
        conn.close()
    return World(url, home)


@pytest.fixture
def conn(world: World) -> Iterator[RequestTransactions]:
    with api_connection(world.url) as connection:
        yield connection


@pytest.fixture
def client(conn: RequestTransactions, world: World) -> Iterator[TestClient]:
    with api_client(conn, world.home) as test_client:
        yield test_client


def homes_in(conn: RequestTransactions, code: str, count: int) -> list[tuple[float, float]]:
    """Road nodes inside a 2025 unit, as homes, in a fixed order."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT ST_X(n.geom), ST_Y(n.geom) FROM road_nodes n
            JOIN admin_units w ON w.edition = '2025' AND w.level = 'ward' AND w.code = %s
            WHERE ST_Covers(w.geom, n.geom) ORDER BY n.node_id LIMIT %s
            """,
            (code, count),
        )
        return [(float(x), float(y)) for x, y in cur.fetchall()]


def applicant_file(rows: list[tuple[str, tuple[float, float], str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["child_id", "birth_date", "lon", "lat", "stated_unit"])
    for child, (lon, lat), stated in rows:
        writer.writerow([child, BORN, lon, lat, stated])
    return out.getvalue().encode()


def test_a_ward_officer_runs_a_round_of_2025_wards(
    client: TestClient, conn: RequestTransactions
) -> None:
    add_user(conn, "admin", "city_admin")
    admin = sign_in(client, "admin")
    for username, area in (("phuong.saigon", AREA), ("phuong.xuanhoa", [XUAN_HOA])):
        made = client.post(
            "/users",
            json={
                "username": username,
                "password": "mat-khau-du-dai-1",
                "role": "ward_officer",
                "area": area,
            },
            headers=admin,
        )
        assert made.status_code == 201, made.text
        assert made.json()["area"] == sorted(area)
    officer = sign_in(client, "phuong.saigon", "mat-khau-du-dai-1")
    other = sign_in(client, "phuong.xuanhoa", "mat-khau-du-dai-1")
    me = client.get("/auth/me", headers=officer).json()
    assert {u["name"] for u in me["area_units"]} == {
        "Phường Sài Gòn",
        "Phường Bến Thành",
        "Phường Tân Định",
    }
    assert {u["edition"] for u in me["area_units"]} == {"2025"}

    # A district round is not possible on units without districts; a ward round is.
    refused = client.post(
        "/rounds",
        json={
            "name": "Lớp 1",
            "grade": 1,
            "school_year": f"{YEAR}-{YEAR + 1}",
            "districts": ["760"],
        },
        headers=officer,
    )
    assert refused.status_code == 400 and "không có quận/huyện" in refused.json()["detail"]
    until = datetime.now(UTC) + timedelta(hours=2)
    created = client.post(
        "/rounds",
        json={
            "name": "Lớp 1 phường Sài Gòn, Bến Thành, Tân Định",
            "grade": 1,
            "school_year": f"{YEAR}-{YEAR + 1}",
            "wards": AREA,
            "review_until": until.isoformat(),
        },
        headers=officer,
    )
    assert created.status_code == 201, created.text
    the_round = created.json()
    round_id = the_round["id"]
    assert the_round["edition"] == "2025"
    assert [u["name"] for u in the_round["area"]] == [
        "Phường Bến Thành",
        "Phường Sài Gòn",
        "Phường Tân Định",
    ]
    # Codes 26740 and 26743 were also 2019 wards (Bến Nghé, Bến Thành): the round holds the
    # 2025 units only.
    assert (
        one(
            conn,
            "SELECT count(*) FROM rounds r JOIN admin_units u ON u.id = ANY(r.area_unit_ids) "
            "WHERE r.id = %s AND u.edition = '2025'",
            round_id,
        )
        == 3
    )

    # The officer of another ward sees and does nothing of it.
    assert client.get(f"/rounds/{round_id}", headers=other).status_code == 403
    assert client.post(f"/rounds/{round_id}/open", headers=other).status_code == 403
    assert round_id not in [r["id"] for r in client.get("/rounds", headers=other).json()]

    # Applicants: homes in the three wards stating their unit in old or new words, one home
    # in Tân Định stating Sài Gòn, one stating no real unit, one living in Xuân Hoà.
    saigon, benthanh, tandinh = (homes_in(conn, code, 40) for code in AREA)
    outside = homes_in(conn, XUAN_HOA, 1)
    assert len(saigon) == len(benthanh) == len(tandinh) == 40 and outside
    rows = [(f"0792{i:08d}", home, "Phường Sài Gòn") for i, home in enumerate(saigon[:-1])]
    rows.append(("079299999901", saigon[-1], ""))  # unit not stated
    rows += [(f"0793{i:08d}", h, "phuong ben thanh") for i, h in enumerate(benthanh)]
    rows += [(f"0794{i:08d}", h, "Tân Định") for i, h in enumerate(tandinh[:-2])]
    rows.append(("079400000098", tandinh[-2], "Phường Sài Gòn"))
    rows.append(("079400000099", tandinh[-1], "Phường Hoa Hồng"))
    rows.append(("079500000001", outside[0], "Xuân Hòa"))
    uploaded = client.post(
        f"/rounds/{round_id}/applicants?filename=phuong.csv",
        content=applicant_file(rows),
        headers={**officer, "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 200, uploaded.text
    counts = uploaded.json()["counts"]
    assert counts["applicants"] == len(rows)
    assert counts["reason: outside_area"] == 1
    assert counts["stated unit: mismatch"] == 1
    assert counts["stated unit: unknown_unit"] == 1
    assert counts["stated unit: match"] == len(rows) - 3
    reason = one(
        conn,
        "SELECT a.rejection_reasons->0->>'vi' FROM applications a "
        "WHERE a.round_id = %s AND a.status = 'rejected'",
        round_id,
    )
    assert reason == "Nơi ở (Phường Xuân Hoà) không thuộc địa bàn tuyển sinh của đợt này."

    listed = client.get(f"/rounds/{round_id}/residence", headers=officer).json()
    assert (listed["mismatched"], listed["unknown_unit"]) == (1, 1)
    wrong = next(i for i in listed["items"] if i["check"] == "mismatch")
    assert wrong["stated_unit"]["name"] == "Phường Sài Gòn"
    assert wrong["home_unit"]["name"] == "Phường Tân Định"
    # How far outside the stated unit the home lies, measured here independently.
    metres = one(
        conn,
        "SELECT ST_Distance(u.geom::geography, a.home::geography) FROM applications a "
        "JOIN admin_units u ON u.edition = '2025' AND u.code = %s WHERE a.id = %s",
        SAI_GON,
        wrong["application_id"],
    )
    assert metres > 0 and wrong["distance_m"] == round(metres)  # type: ignore[operator]
    assert wrong["near_boundary"] == (metres < 50)  # type: ignore[operator]
    unknown = next(i for i in listed["items"] if i["check"] == "unknown_unit")
    assert unknown["distance_m"] is None and listed["items"][0] == unknown
    assert listed["by_unit"] == {"Phường Tân Định": {"mismatch": 1, "unknown_unit": 1}}
    assert client.get(f"/rounds/{round_id}", headers=officer).json()["residence_mismatches"] == 2
    assert client.get(f"/rounds/{round_id}/residence", headers=other).status_code == 403

    # A parent applies stating the old 2019 ward of a Sài Gòn home: Bến Nghé, District 1.
    assert client.post(f"/rounds/{round_id}/open", headers=officer).status_code == 200
    add_user(conn, "me.an", "parent")
    parent = sign_in(client, "me.an")
    home_lon, home_lat = homes_in(conn, SAI_GON, 45)[-1]
    form = {
        "child_id": "079201234567",
        "birth_date": BORN,
        "lon": home_lon,
        "lat": home_lat,
        "stated_unit": "Phường Bến Nghé, Quận 1",
    }
    applied = client.post(
        f"/rounds/{round_id}/applications",
        json=form,
        headers={**parent, "Idempotency-Key": "an-1"},
    )
    assert applied.status_code == 201, applied.text
    assert applied.json()["residence_check"] == "match"
    assert applied.json()["home"]["unit"] == "Phường Sài Gòn"
    assert applied.json()["status"] == "eligible"
    application_id = applied.json()["id"]
    corrected = client.put(
        f"/applications/{application_id}",
        json={**form, "stated_unit": "Phường Tân Định"},
        headers=parent,
    )
    assert corrected.status_code == 200 and corrected.json()["residence_check"] == "mismatch"

    # The review window ends: parents and imports are refused, an officer amends with a reason.
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    moved = client.put(
        f"/rounds/{round_id}/review-until", json={"review_until": past}, headers=officer
    )
    assert moved.status_code == 200 and moved.json()["review_window_open"] is False
    assert "edit" not in moved.json()["actions"] and "apply" not in moved.json()["actions"]
    late = client.put(f"/applications/{application_id}", json=form, headers=parent)
    assert late.status_code == 409 and "hết hạn rà soát" in late.json()["detail"]
    late_new = client.post(
        f"/rounds/{round_id}/applications",
        json={**form, "child_id": "079201234568"},
        headers={**parent, "Idempotency-Key": "an-2"},
    )
    assert late_new.status_code == 409 and "hết hạn rà soát" in late_new.json()["detail"]
    late_file = client.post(
        f"/rounds/{round_id}/applicants?filename=late.csv",
        content=applicant_file(rows[:1]),
        headers={**officer, "Content-Type": "text/csv"},
    )
    assert late_file.status_code == 409
    no_reason = client.post(
        f"/rounds/{round_id}/applications/{application_id}/amend",
        json={"stated_unit": "Phường Sài Gòn", "reason": "sửa"},
        headers=officer,
    )
    assert no_reason.status_code == 422
    amended = client.post(
        f"/rounds/{round_id}/applications/{application_id}/amend",
        json={"stated_unit": "Phường Sài Gòn", "reason": "Theo xác nhận cư trú số 12/CT ngày 5/3"},
        headers=officer,
    )
    assert amended.status_code == 200, amended.text
    assert amended.json()["changed"] == ["stated_unit"]
    assert amended.json()["residence_check"] == "match"
    audited = one(
        conn,
        "SELECT detail FROM audit_log WHERE action = 'application.amend' AND target = %s",
        f"application:{application_id}",
    )
    assert audited["reason"] == "Theo xác nhận cư trú số 12/CT ngày 5/3"  # type: ignore[index]
    assert audited["after_review_window"] is True  # type: ignore[index]
    assert (
        client.post(
            f"/rounds/{round_id}/applications/{application_id}/amend",
            json={"stated_unit": "Phường Sài Gòn", "reason": "Theo xác nhận cư trú số 12/CT"},
            headers=other,
        ).status_code
        == 403
    )

    # Close, run, publish: the ward officer's whole job; the map counts name the units.
    assert client.post(f"/rounds/{round_id}/close", headers=officer).status_code == 200
    ran = client.post(
        f"/rounds/{round_id}/runs", json={"mechanism": "da", "seed": 2026}, headers=officer
    )
    assert ran.status_code in (200, 201), ran.text
    run_id = ran.json()["id"]
    assert ran.json()["metrics"]["unassigned"] == 0
    assert (
        client.post(f"/rounds/{round_id}/runs/{run_id}/publish", headers=other).status_code == 403
    )
    published = client.post(f"/rounds/{round_id}/runs/{run_id}/publish", headers=officer)
    assert published.status_code == 200, published.text
    demand = client.get(f"/rounds/{round_id}/demand?run={run_id}", headers=officer).json()
    shown = {f["properties"]["name"]: f["properties"] for f in demand["features"]}
    assert set(shown) == {
        "Phường Sài Gòn",
        "Phường Bến Thành",
        "Phường Tân Định",
        "Phường Xuân Hoà",
    }
    assert shown["Phường Sài Gòn"]["in_area"] and not shown["Phường Xuân Hoà"]["in_area"]
    assert shown["Phường Sài Gòn"]["eligible"] == 41  # 40 imported, 1 parent
    result = client.get(f"/applications/{application_id}", headers=parent).json()
    assert result["result"]["school"] is not None
    assert result["home"]["unit"] == "Phường Sài Gòn"


def test_the_command_line_keeps_the_same_rules(world: World, tmp_path: Path) -> None:
    """The officer's other door: a ward round, the stated units listed with both names, and
    after the review window an import refused and a change only with a written reason."""

    def run(*args: str) -> str:
        done = schoolmap(world.url, "round", *args, home=world.home)
        assert done.returncode == 0, done.stderr
        return done.stdout

    made = run(
        "create",
        "--name",
        "Lớp 1 Tân Định",
        "--grade",
        "1",
        "--year",
        "2026-2027",
        "--ward",
        TAN_DINH,
    )
    assert "units of 2025: Phường Tân Định" in made
    round_id = made.split(":")[0].split()[-1]
    homes = [(lon, lat) for lon, lat in _committed_homes(world.url, TAN_DINH, 3)]
    path = tmp_path / "td.csv"
    path.write_bytes(
        applicant_file(
            [
                ("079600000001", homes[0], "Tân Định"),
                ("079600000002", homes[1], "Phường Đa Kao, Quận 1"),
                ("079600000003", homes[2], ""),
            ]
        )
    )
    run("import-applicants", round_id, str(path))
    listed = run("residence", round_id)
    assert "stated 'Phường Đa Kao, Quận 1' = Da Kao, District 1; home in Tan Dinh" in listed
    assert "2 stated, 1 match, 1 mismatch (" in listed and "0 unknown unit" in listed
    assert "m outside it" in listed
    run("review-until", round_id, "2001-01-01T00:00+07:00")
    late = schoolmap(world.url, "round", "import-applicants", round_id, str(path), home=world.home)
    assert late.returncode == 1 and "hết hạn rà soát" in late.stderr
    application = _one(
        world.url,
        "SELECT a.id FROM applications a WHERE a.round_id = %s AND a.residence_check = 'mismatch'",
        int(round_id),
    )
    short = schoolmap(
        world.url,
        "round",
        "amend",
        round_id,
        str(application),
        "--stated-unit",
        "Tân Định",
        "--reason",
        "ok",
        home=world.home,
    )
    assert short.returncode == 1 and "lý do" in short.stderr
    amended = run(
        "amend",
        round_id,
        str(application),
        "--stated-unit",
        "Tân Định",
        "--reason",
        "Giấy xác nhận cư trú số 7",
        "--actor",
        "can.bo.tandinh",
    )
    assert "changed stated_unit" in amended and "stated unit match" in amended
    assert (
        _one(
            world.url,
            "SELECT actor || ' ' || (detail->>'reason') FROM audit_log "
            "WHERE action = 'application.amend' AND target = %s",
            f"application:{application}",
        )
        == "can.bo.tandinh Giấy xác nhận cư trú số 7"
    )


def _committed_homes(url: str, code: str, count: int) -> list[tuple[float, float]]:
    with api_connection(url) as connection:
        return homes_in(connection, code, count)


def _one(url: str, query: str, *args: object) -> object:
    with api_connection(url) as connection:
        return one(connection, query, *args)
