"""Admission rounds over the API: who may do what, areas, and the whole round lifecycle."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gis_service import audit
from tests.test_auth import (
    PASSWORD,
    RequestTransactions,
    add_user,
    one,
    sign_in,
)

ROUND = {"name": "Lớp 1 Quận 901", "grade": 1, "school_year": "2025-2026", "districts": ["901"]}


@pytest.fixture
def people(client: TestClient, conn: RequestTransactions) -> dict[str, dict[str, str]]:
    """Signed-in headers of one account per role; the officer's area is district 901."""
    school = one(conn, "SELECT min(id) FROM schools WHERE 'tieu_hoc' = ANY(levels)")
    add_user(conn, "admin.so", "city_admin")
    add_user(conn, "can.bo.q901", "district_officer", area=["901"])
    add_user(conn, "can.bo.q903", "district_officer", area=["903"])
    add_user(conn, "phu.huynh", "parent")
    add_user(conn, "quy.hoach", "planner")
    add_user(conn, "gv.truong", "school_staff", school_id=int(school))  # type: ignore[call-overload]
    return {
        role: sign_in(client, name)
        for role, name in [
            ("admin", "admin.so"),
            ("officer", "can.bo.q901"),
            ("outsider", "can.bo.q903"),
            ("parent", "phu.huynh"),
            ("planner", "quy.hoach"),
            ("staff", "gv.truong"),
        ]
    }


# The service refuses request bodies over 64 KiB (gis_service/api/deps.py), so the upload is
# the first rows of the demo city's file that live in the district, about 50 KB.
UPLOAD_ROWS = 800


def households(demo_home: Path, ward_codes: list[str]) -> bytes:
    """Header and the first UPLOAD_ROWS children of the demo city living in these wards."""
    lines = (demo_home / "demo" / "households.csv").read_text(encoding="utf-8").splitlines()
    ward_column = lines[0].split(",").index("ward_code")
    inside = [line for line in lines[1:] if line.split(",")[ward_column] in ward_codes]
    return ("\n".join([lines[0], *inside[:UPLOAD_ROWS]]) + "\n").encode()


def test_creating_a_round_by_role_and_area(
    client: TestClient, conn: RequestTransactions, people: dict[str, dict[str, str]]
) -> None:
    for role in ("parent", "planner", "staff"):
        assert client.post("/rounds", json=ROUND, headers=people[role]).status_code == 403
    assert client.post("/rounds", json=ROUND).status_code == 401
    outside = client.post(
        "/rounds", json={**ROUND, "districts": ["901", "902"]}, headers=people["officer"]
    )
    assert outside.status_code == 403 and "outside your area" in outside.json()["detail"]
    assert one(conn, "SELECT count(*) FROM rounds") == 0
    made = client.post("/rounds", json=ROUND, headers=people["officer"])
    assert made.status_code == 201
    shown = made.json()
    wards = one(
        conn,
        "SELECT array_agg(w.code ORDER BY w.code) FROM admin_units w "
        "JOIN admin_units d ON d.id = w.parent_id WHERE d.code = '901'",
    )
    assert (shown["status"], shown["wards"], shown["applications"]) == ("draft", wards, 0)
    anywhere = client.post("/rounds", json={**ROUND, "districts": ["902"]}, headers=people["admin"])
    assert anywhere.status_code == 201
    bad = client.post("/rounds", json={**ROUND, "school_year": "năm nay"}, headers=people["admin"])
    assert bad.status_code == 400 and "2025-2026" in bad.json()["detail"]
    created = audit.entries(conn, action_prefix="round.create")
    assert [(e.actor, e.remote_addr) for e in created] == [
        ("can.bo.q901", "testclient"),
        ("admin.so", "testclient"),
    ]


def test_who_sees_which_round(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    round_id = client.post("/rounds", json=ROUND, headers=people["admin"]).json()["id"]
    assert client.get(f"/rounds/{round_id}", headers=people["officer"]).status_code == 200
    outsider = client.get(f"/rounds/{round_id}", headers=people["outsider"])
    assert outsider.status_code == 403 and "outside your area" in outsider.json()["detail"]
    assert client.get("/rounds/999999", headers=people["outsider"]).status_code == 404
    assert [r["id"] for r in client.get("/rounds", headers=people["officer"]).json()] == [round_id]
    assert client.get("/rounds", headers=people["outsider"]).json() == []
    # Parents see a round only once it is open.
    assert client.get(f"/rounds/{round_id}", headers=people["parent"]).status_code == 404
    assert client.get("/rounds", headers=people["parent"]).json() == []
    client.post(f"/rounds/{round_id}/open", headers=people["officer"]).raise_for_status()
    assert client.get(f"/rounds/{round_id}", headers=people["parent"]).json()["status"] == "open"
    assert [r["id"] for r in client.get("/rounds", headers=people["parent"]).json()] == [round_id]
    for role in ("planner", "staff"):
        assert client.get("/rounds", headers=people[role]).status_code == 403


def officer_endpoints(round_id: int, run_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Every round endpoint only officers and admins may call, with a valid request."""
    return [
        ("post", f"/rounds/{round_id}/open", {}),
        ("post", f"/rounds/{round_id}/close", {}),
        ("post", f"/rounds/{round_id}/applicants", {"content": b"child_id\n"}),
        ("post", f"/rounds/{round_id}/runs", {"json": {"seed": 1}}),
        ("get", f"/rounds/{round_id}/runs", {}),
        ("get", f"/rounds/{round_id}/runs/compare?run={run_id}", {}),
        ("post", f"/rounds/{round_id}/runs/{run_id}/publish", {}),
        ("get", f"/rounds/{round_id}/runs/{run_id}/export", {}),
    ]


def test_each_role_against_each_officer_endpoint(
    client: TestClient, conn: RequestTransactions, people: dict[str, dict[str, str]]
) -> None:
    round_id = client.post("/rounds", json=ROUND, headers=people["admin"]).json()["id"]
    before = one(conn, "SELECT count(*) FROM audit_log")
    for method, path, extra in officer_endpoints(round_id, 1):
        assert client.request(method, path, **extra).status_code == 401, path
        for role in ("parent", "planner", "staff"):
            refused = client.request(method, path, headers=people[role], **extra)
            assert refused.status_code == 403, (role, path)
        outsider = client.request(method, path, headers=people["outsider"], **extra)
        assert outsider.status_code == 403 and "outside your area" in outsider.json()["detail"]
    for method, path, extra in officer_endpoints(999_999, 1):
        assert client.request(method, path, headers=people["officer"], **extra).status_code == 404
    # Nothing refused left a trace but the refusals themselves.
    assert one(conn, "SELECT count(*) FROM audit_log") == before
    assert one(conn, "SELECT status FROM rounds WHERE id = %s", round_id) == "draft"


def test_round_status_moves_only_forward_and_back_to_open(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    officer = people["officer"]
    round_id = client.post("/rounds", json=ROUND, headers=officer).json()["id"]
    closing_a_draft = client.post(f"/rounds/{round_id}/close", headers=officer)
    assert closing_a_draft.status_code == 409 and "it is draft" in closing_a_draft.json()["detail"]
    assert client.post(f"/rounds/{round_id}/open", headers=officer).json()["status"] == "open"
    assert client.post(f"/rounds/{round_id}/open", headers=officer).status_code == 409
    running_open = client.post(f"/rounds/{round_id}/runs", json={"seed": 1}, headers=officer)
    assert running_open.status_code == 409
    assert "needs a round that is closed" in running_open.json()["detail"]
    assert client.post(f"/rounds/{round_id}/close", headers=officer).json()["status"] == "closed"
    assert client.post(f"/rounds/{round_id}/open", headers=officer).json()["status"] == "open"


def test_a_broken_upload_names_the_file_and_line_and_stores_nothing(
    client: TestClient, conn: RequestTransactions, people: dict[str, dict[str, str]]
) -> None:
    round_id = client.post("/rounds", json=ROUND, headers=people["officer"]).json()["id"]
    broken = b"child_id,birth_date,lon,lat\nA1,2019-01-02,106.7,10.7\nA2,02/03/2019,106.7,10.7\n"
    response = client.post(
        f"/rounds/{round_id}/applicants?filename=q901.csv",
        content=broken,
        headers={**people["officer"], "Content-Type": "text/csv"},
    )
    assert response.status_code == 400
    assert (
        response.json()["detail"] == "q901.csv: line 3: birth_date '02/03/2019' is not YYYY-MM-DD"
    )
    assert one(conn, "SELECT count(*) FROM applications") == 0
    assert one(conn, "SELECT count(*) FROM applicants") == 0


def test_the_round_lifecycle_over_the_api(
    client: TestClient,
    conn: RequestTransactions,
    people: dict[str, dict[str, str]],
    demo_home: Path,
) -> None:
    officer, parent = people["officer"], people["parent"]
    made = client.post("/rounds", json=ROUND, headers=officer).json()
    round_id, wards = made["id"], made["wards"]
    client.post(f"/rounds/{round_id}/open", headers=officer).raise_for_status()
    # A parent applies online for a child living in the round's area.
    lon, lat = one(
        conn,
        "SELECT ARRAY[ST_X(p), ST_Y(p)] FROM (SELECT ST_PointOnSurface(w.geom) AS p "
        "FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
        "WHERE d.code = '901' ORDER BY w.code LIMIT 1) x",
    )  # type: ignore[misc]
    application = {"child_id": "079219000001", "birth_date": "2019-03-04", "lon": lon, "lat": lat}
    submitted = client.post(
        f"/rounds/{round_id}/applications",
        json=application,
        headers={**parent, "Idempotency-Key": "nop-lan-1"},
    )
    assert submitted.status_code == 201 and submitted.json()["status"] == "eligible"
    application_id = submitted.json()["id"]
    # The officer imports the district's file as well.
    upload = households(demo_home, wards)
    imported = client.post(
        f"/rounds/{round_id}/applicants?filename=households.csv",
        content=upload,
        headers={**officer, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    counts = imported.json()["counts"]
    rows = len(upload.decode().splitlines()) - 1
    assert rows == UPLOAD_ROWS
    assert counts["applicants"] == rows
    assert counts["eligible"] + counts["not eligible"] == rows
    shown = client.get(f"/rounds/{round_id}", headers=officer).json()
    assert (shown["applications"], shown["eligible"]) == (rows + 1, counts["eligible"] + 1)
    assert 0 < counts["eligible"] < rows
    client.post(f"/rounds/{round_id}/close", headers=officer).raise_for_status()
    late = client.post(
        f"/rounds/{round_id}/applications",
        json={**application, "child_id": "079219000002"},
        headers={**parent, "Idempotency-Key": "nop-muon"},
    )
    assert late.status_code == 409 and "needs a round that is open" in late.json()["detail"]
    # Two runs, compared side by side.
    runs = []
    for mechanism in ("nearest", "da"):
        made = client.post(
            f"/rounds/{round_id}/runs", json={"mechanism": mechanism, "seed": 2025}, headers=officer
        )
        assert made.status_code == 201, made.text
        assert made.json()["metrics"]["applicants"] == counts["eligible"] + 1
        runs.append(made.json()["id"])
    again = client.post(
        f"/rounds/{round_id}/runs", json={"mechanism": "nearest", "seed": 2025}, headers=officer
    ).json()
    first = client.get(f"/rounds/{round_id}/runs", headers=officer).json()[0]
    assert (again["input_hash"], again["output_hash"]) == (
        first["input_hash"],
        first["output_hash"],
    )
    table = client.get(
        f"/rounds/{round_id}/runs/compare?run={runs[0]}&run={runs[1]}", headers=officer
    ).json()
    assert [row["mechanism"] for row in table["runs"]] == ["nearest", "da"]
    assert table["runs"][0]["mean_cost"] <= table["runs"][1]["mean_cost"]
    assert "share_at_nearest" in table["metrics"]
    # Before publication the parent sees no result.
    assert client.get(f"/applications/{application_id}", headers=parent).json()["result"] is None
    published = client.post(f"/rounds/{round_id}/runs/{runs[1]}/publish", headers=officer)
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert (
        client.post(f"/rounds/{round_id}/runs/{runs[0]}/publish", headers=officer).status_code
        == 409
    )
    # The parent reads the result with its explanation in Vietnamese and English.
    result = client.get(f"/applications/{application_id}", headers=parent).json()["result"]
    stored = one(
        conn,
        "SELECT json_build_array(x.school_id, x.cost) FROM assignments x "
        "JOIN applications a ON a.applicant_id = x.applicant_id "
        "WHERE x.run_id = %s AND a.id = %s",
        runs[1],
        application_id,
    )
    assert [result["school"]["id"] if result["school"] else None, result["distance_m"]] == stored
    assert result["run"] == runs[1] and result["mechanism"] == "da"
    if result["school"]:
        assert result["explanation"]["vi"].startswith(
            f"Con được xếp vào {result['school']['name']}"
        )
    assert result["explanation"]["en"].startswith(("Placed at", "Not placed"))
    # Schools are named in English too, never by their database id.
    assert not re.search(r"\bschool \d", result["explanation"]["en"])
    if result["school"]:
        assert result["explanation"]["en"].startswith(f"Placed at {result['school']['name']}")
    assert all(p["vi"] for p in result["explanation"]["passed_over"])
    # Exports, as CSV and GeoJSON.
    exported = client.get(f"/rounds/{round_id}/runs/{runs[1]}/export?format=csv", headers=officer)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0][:5] == [
        "\ufeffapplicant_id",
        "home_unit",
        "sibling_group",
        "priority_group",
        "school_id",
    ]
    assert len(lines) - 1 == counts["eligible"] + 1
    # Each child's unit is named, never a bare code.
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM admin_units WHERE level = 'ward'")
        unit_names = {row[0] for row in cur.fetchall()}
    assert {line[1] for line in lines[1:]} <= unit_names
    geojson = client.get(
        f"/rounds/{round_id}/runs/{runs[1]}/export?format=geojson&homes=true", headers=officer
    )
    features = json.loads(geojson.content)["features"]
    assert len(features) == counts["eligible"] + 1
    # Runs and publication are audited with who and from where.
    logged = [
        (e.actor, e.action, e.remote_addr)
        for e in audit.entries(conn, action_prefix="round.")
        if e.action in ("round.run", "round.publish", "round.import_applicants")
    ]
    assert logged == [
        ("can.bo.q901", "round.import_applicants", "testclient"),
        ("can.bo.q901", "round.run", "testclient"),
        ("can.bo.q901", "round.run", "testclient"),
        ("can.bo.q901", "round.run", "testclient"),
        ("can.bo.q901", "round.publish", "testclient"),
    ]
    assert PASSWORD  # the accounts above signed in with it


def test_a_review_deadline_says_its_time_zone_and_is_told_in_vietnam_time(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """Regression: a deadline without a time zone was taken in the server's zone; and the
    refusal after it was written in the server's zone, not Vietnam's."""
    naive = client.post(
        "/rounds", json={**ROUND, "review_until": "2026-03-03T17:00:00"}, headers=people["officer"]
    )
    assert naive.status_code == 400 and "múi giờ" in naive.json()["detail"]
    made = client.post(
        "/rounds",
        json={**ROUND, "review_until": "2000-03-03T10:00:00+00:00"},
        headers=people["officer"],
    )
    assert made.status_code == 201, made.text
    round_id = made.json()["id"]
    assert made.json()["review_window_open"] is False
    assert client.post(f"/rounds/{round_id}/open", headers=people["officer"]).status_code == 200
    late = client.post(
        f"/rounds/{round_id}/applications",
        json={"child_id": "079219000001", "birth_date": "2019-05-05", "lon": 0, "lat": 0},
        headers={**people["parent"], "Idempotency-Key": "late-1"},
    )
    assert late.status_code == 409
    assert "03/03/2000 17:00 giờ Việt Nam" in late.json()["detail"]
