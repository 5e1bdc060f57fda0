"""Round 2, verification, retention and the aggregated demand map over the API."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from fastapi.testclient import TestClient

from gis_service import audit
from gis_service.admissions.disclosure import SMALLEST_GROUP, hide_small_groups
from tests.test_api_rounds import ROUND, households
from tests.test_auth import (
    RequestTransactions,
    add_user,
    one,
    sign_in,
)


def test_round_two_verify_demand_and_purge(
    client: TestClient, conn: RequestTransactions, demo_home: Path, tmp_path: Path
) -> None:
    add_user(conn, "admin.so", "city_admin")
    add_user(conn, "can.bo.q901", "district_officer", area=["901"])
    add_user(conn, "can.bo.q903", "district_officer", area=["903"])
    admin, officer = sign_in(client, "admin.so"), sign_in(client, "can.bo.q901")
    outsider = sign_in(client, "can.bo.q903")
    round_id = client.post("/rounds", json=ROUND, headers=officer).json()["id"]
    wards = client.get(f"/rounds/{round_id}", headers=officer).json()["wards"]
    neighbour = one(
        conn,
        "SELECT min(w.code) FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
        "WHERE d.code = '902'",
    )
    client.post(
        f"/rounds/{round_id}/applicants?filename=households.csv",
        # Some children live next door, outside the area: refused in round 1, not in round 2.
        content=households(demo_home, [*wards, str(neighbour)]),
        headers={**officer, "Content-Type": "text/csv"},
    ).raise_for_status()
    for step in ("open", "close"):
        client.post(f"/rounds/{round_id}/{step}", headers=officer).raise_for_status()
    run = client.post(
        f"/rounds/{round_id}/runs", json={"mechanism": "nearest", "seed": 7}, headers=officer
    ).json()

    # The aggregated map: counts by ward, small groups hidden, no home anywhere.
    demand = client.get(f"/rounds/{round_id}/demand?run={run['id']}", headers=officer)
    assert demand.status_code == 200, demand.text
    body = demand.json()
    assert body["smallest_group"] == SMALLEST_GROUP == 10
    in_area = [f["properties"] for f in body["features"] if f["properties"]["in_area"]]
    assert {p["ward"] for p in in_area} == set(wards)
    shown = [p["eligible"] for p in in_area if p["eligible"] is not None]
    assert all(n >= SMALLEST_GROUP for n in shown)
    assert sum(shown) <= run["metrics"]["applicants"]
    assert {"lon", "lat", "home", "applicant_id"}.isdisjoint(in_area[0])
    # The same counts as a GeoPackage for a GIS: one feature per unit, no child, no home.
    packed = client.get(f"/rounds/{round_id}/demand?run={run['id']}&format=gpkg", headers=officer)
    assert packed.status_code == 200
    assert f"nhu_cau_dot{round_id}_lan{run['id']}.gpkg" in packed.headers["content-disposition"]
    path = tmp_path / "demand.gpkg"
    path.write_bytes(packed.content)
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == len(body["features"]) and frame.crs.to_epsg() == 4326
    by_unit = {f["properties"]["ward"]: f["properties"] for f in body["features"]}
    for _, row in frame.iterrows():
        shown = by_unit[row["ward"]]["eligible"]
        assert (shown is None and pd.isna(row["eligible"])) or row["eligible"] == shown
    assert {"lon", "lat", "home", "applicant_id"}.isdisjoint(frame.columns)
    assert client.get(f"/rounds/{round_id}/demand", headers=outsider).status_code == 403
    assert client.get(f"/rounds/{round_id}/demand").status_code == 401

    verified = client.post(f"/rounds/{round_id}/runs/{run['id']}/verify", headers=officer)
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] and verified.json()["output_hash"] == run["output_hash"]

    early = client.post(f"/rounds/{round_id}/next", headers=officer)
    assert early.status_code == 409 and "needs a round that is published" in early.json()["detail"]
    client.post(f"/rounds/{round_id}/runs/{run['id']}/publish", headers=officer).raise_for_status()
    assert client.post(f"/rounds/{round_id}/next", headers=outsider).status_code == 403
    second = client.post(f"/rounds/{round_id}/next", json={"name": "Đợt 2"}, headers=officer)
    assert second.status_code == 200, second.text
    made = second.json()
    assert made["round"]["round_number"] == 2 and made["round"]["name"] == "Đợt 2"
    assert made["carried"] == made["round"]["applications"] > 0
    assert made["newly_eligible"] > 0
    assert made["seats_left"] > 0
    second_id = made["round"]["id"]
    for step in ("open", "close"):
        client.post(f"/rounds/{second_id}/{step}", headers=officer).raise_for_status()
    ran = client.post(
        f"/rounds/{second_id}/runs", json={"mechanism": "da", "seed": 7}, headers=officer
    )
    assert ran.status_code == 201, ran.text
    client.post(
        f"/rounds/{second_id}/runs/{ran.json()['id']}/publish", headers=officer
    ).raise_for_status()

    # Retention is for the city admin only.
    assert client.post(f"/rounds/{round_id}/purge", headers=officer).status_code == 403
    purged = client.post(f"/rounds/{round_id}/purge", headers=admin)
    assert purged.status_code == 200, purged.text
    assert purged.json()["assignments"] == run["metrics"]["applicants"]
    assert client.get(f"/rounds/{round_id}", headers=officer).json()["status"] == "archived"
    gone = client.post(f"/rounds/{round_id}/runs/{run['id']}/verify", headers=officer)
    assert gone.status_code == 400 and "personal data was deleted" in gone.json()["detail"]
    assert client.post("/rounds/999999/purge", headers=admin).status_code == 404
    actions = [e.action for e in audit.entries(conn, action_prefix="round.")]
    assert "round.open_next" in actions and actions[-1] == "round.purge"


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Small groups are hidden on their own.
        ({"eligible": 9, "placed": 9}, {"eligible": None, "placed": None}),
        # 40 eligible, 35 placed: showing both would reveal the 5 not placed.
        ({"eligible": 40, "placed": 35}, {"eligible": 40, "placed": None}),
        ({"eligible": 40, "placed": 40}, {"eligible": 40, "placed": 40}),
        ({"eligible": 40, "placed": 30}, {"eligible": 40, "placed": 30}),
        # Hiding placed leaves nothing to subtract beyond_norm from.
        (
            {"eligible": 40, "placed": 35, "beyond_norm": 30},
            {"eligible": 40, "placed": None, "beyond_norm": 30},
        ),
        (
            {"eligible": 60, "placed": 50, "beyond_norm": 45},
            {"eligible": 60, "placed": 50, "beyond_norm": None},
        ),
    ],
)
def test_small_groups_are_hidden_alone_and_by_subtraction(
    counts: dict[str, int], expected: dict[str, int | None]
) -> None:
    nested = (("eligible", "placed"), ("placed", "beyond_norm"))
    assert hide_small_groups(counts, nested) == expected
