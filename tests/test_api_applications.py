"""Parents' applications over the API: idempotent submission, eligibility, privacy, and the
result explained in Vietnamese."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gis_service import audit
from gis_service.admissions.applications import with_school_names
from gis_service.admissions.eligibility import check_eligibility
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.identity import child_id_hash, installation_key
from gis_service.admissions.lifecycle import set_round_status
from gis_service.admissions.rounds import create_round
from gis_service.config import DatabaseSettings, Settings
from gis_service.text import metres
from tests.test_auth import RequestTransactions, add_user, api_client, one, sign_in


def point_in(conn: RequestTransactions, district: str) -> tuple[float, float]:
    """A point inside the first ward of a district."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(w.geom) AS p "
            "FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
            "WHERE d.code = %s ORDER BY w.code LIMIT 1) x",
            (district,),
        )
        lon, lat = cur.fetchone()  # type: ignore[misc]
    return float(lon), float(lat)


class Setting:
    """An open grade-1 round of district 901, two parents and an officer, signed in."""

    def __init__(self, client: TestClient, conn: RequestTransactions) -> None:
        made = create_round(conn, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901"])
        set_round_status(conn, made.round_id, "open")
        add_user(conn, "me.an", "parent")
        add_user(conn, "bo.binh", "parent")
        add_user(conn, "can.bo", "district_officer", area=["901"])
        self.round_id = made.round_id
        self.lon, self.lat = point_in(conn, "901")
        self.an = sign_in(client, "me.an")
        self.binh = sign_in(client, "bo.binh")
        self.officer = sign_in(client, "can.bo")
        self.client = client

    def body(self, child: str = "079219000001", **extra: Any) -> dict[str, Any]:
        return {
            "child_id": child,
            "birth_date": "2019-06-01",
            "lon": self.lon,
            "lat": self.lat,
            **extra,
        }

    def submit(self, who: dict[str, str], key: str, body: dict[str, Any]) -> Any:
        return self.client.post(
            f"/rounds/{self.round_id}/applications",
            json=body,
            headers={**who, "Idempotency-Key": key},
        )


@pytest.fixture
def setting(client: TestClient, conn: RequestTransactions) -> Setting:
    made = Setting(client, conn)
    conn.commit()
    return made


def test_the_same_idempotency_key_twice_makes_one_application(
    setting: Setting, conn: RequestTransactions
) -> None:
    first = setting.submit(setting.an, "k-1", setting.body())
    second = setting.submit(setting.an, "k-1", setting.body())
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert one(conn, "SELECT count(*) FROM applications") == 1
    assert one(conn, "SELECT count(*) FROM applicants") == 1
    reused = setting.submit(setting.an, "k-1", setting.body(birth_date="2019-07-01"))
    assert reused.status_code == 409 and "different application" in reused.json()["detail"]
    # Another parent's identical key is another request.
    other = setting.submit(setting.binh, "k-1", setting.body("079219000009"))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    twice = setting.submit(setting.an, "k-2", setting.body())
    assert twice.status_code == 409 and "already has an application" in twice.json()["detail"]
    assert [e.actor for e in audit.entries(conn, action_prefix="application.")] == [
        "me.an",
        "bo.binh",
    ]


def test_the_answer_to_a_submission_is_the_application_as_stored(
    setting: Setting, conn: RequestTransactions
) -> None:
    """The first answer is made from what was just written; it must read exactly like the
    stored application (its replay and GET /applications/{id}), byte for byte."""
    primary = one(conn, "SELECT min(id) FROM schools WHERE levels = ARRAY['tieu_hoc']")
    setting.submit(setting.an, "older", setting.body("079219000003"))
    body = setting.body(
        "079219000004",
        birth_date="2016-02-29",  # too old for grade 1: stored with its reasons
        address="12 Đường Số 3, phường Một",
        priority_group="liet_si",
        sibling_child_id="079219000003",
        preferences=[primary],
    )
    first = setting.submit(setting.an, "stored", body)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["status"] == "rejected" and made["reasons"] and made["has_sibling"]
    replay = setting.submit(setting.an, "stored", body)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    read = setting.client.get(f"/applications/{made['id']}", headers=setting.an)
    assert read.status_code == 200
    assert read.content == first.content


def test_a_process_hashing_with_another_key_is_refused_rather_than_count_a_child_twice(
    setting: Setting, conn: RequestTransactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines each with a key file of their own: the second is refused, so a child
    applied for through one machine is never a new child through the other."""
    monkeypatch.delenv("SCHOOLMAP_SECRET_KEY", raising=False)
    assert setting.submit(setting.an, "k-1", setting.body()).status_code == 201
    with api_client(conn, tmp_path / "other-machine") as other:
        again = other.post(
            f"/rounds/{setting.round_id}/applications",
            json=setting.body(),
            headers={**setting.binh, "Idempotency-Key": "k-2"},
        )
    assert again.status_code == 500
    assert "SCHOOLMAP_SECRET_KEY to the same value on every machine" in again.json()["detail"]
    assert one(conn, "SELECT count(*) FROM applications") == 1


def test_a_request_needs_a_key_and_a_home_on_the_map_or_by_address(
    setting: Setting, conn: RequestTransactions
) -> None:
    no_key = setting.client.post(
        f"/rounds/{setting.round_id}/applications", json=setting.body(), headers=setting.an
    )
    assert no_key.status_code == 400 and "Idempotency-Key" in no_key.json()["detail"]
    body = setting.body()
    del body["lon"], body["lat"]
    no_home = setting.submit(setting.an, "k", body)
    assert no_home.status_code == 400 and "lon and lat" in no_home.json()["detail"]
    vague = setting.submit(setting.an, "k", {**body, "address": "Đường Không Có Thật"})
    assert vague.status_code == 400
    assert "does not place the home within 300 m (not found)" in vague.json()["detail"]
    # A house number of the district: the home is that house.
    text, lon, lat = one(
        conn,
        """
        SELECT json_build_array(a.housenumber || ' ' || a.street || ', ' || w.name,
                                ST_X(a.geom), ST_Y(a.geom))
        FROM addresses a JOIN admin_units w ON w.level = 'ward' AND ST_Covers(w.geom, a.geom)
        JOIN admin_units d ON d.id = w.parent_id
        WHERE d.code = '901' AND a.street_source = 'tag' AND a.housenumber ~ '^[0-9]+$'
          AND (SELECT count(*) FROM addresses b
               WHERE b.street_key = a.street_key AND b.number_key = a.number_key) = 1
        ORDER BY a.osm_id LIMIT 1
        """,
    )  # type: ignore[misc]
    placed = setting.submit(setting.an, "k", {**body, "address": text})
    assert placed.status_code == 201, placed.text
    home = placed.json()["home"]
    assert (home["lon"], home["lat"], home["address"]) == (
        round(lon, 7),
        round(lat, 7),
        text,
    )
    assert placed.json()["status"] == "eligible"


def test_eligibility_is_checked_with_the_import_rules_and_reasons(
    setting: Setting, conn: RequestTransactions
) -> None:
    young = setting.submit(setting.an, "k-young", setting.body(birth_date="2020-01-15"))
    far_lon, far_lat = point_in(conn, "903")
    far = setting.submit(
        setting.an, "k-far", setting.body("079219000002", lon=far_lon, lat=far_lat)
    )
    assert young.status_code == far.status_code == 201
    assert young.json()["status"] == far.json()["status"] == "rejected"
    expected_young = check_eligibility(
        grade=1,
        admission_year=2025,
        birth_date=date(2020, 1, 15),
        ward_code=None,
        area_ward_codes=[],
        residence_required=False,
    )
    assert young.json()["reasons"] == [
        {"code": r.code, "vi": r.vi, "en": r.en} for r in expected_young.reasons
    ]
    assert [r["code"] for r in far.json()["reasons"]] == ["outside_area"]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT w.name FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
            "WHERE d.code = '903' ORDER BY w.code LIMIT 1"
        )
        far_ward = cur.fetchone()[0]  # type: ignore[index]
    # The unit is named, never given as a bare code.
    assert far.json()["reasons"][0]["vi"] == (
        f"Nơi ở ({far_ward}) không thuộc địa bàn tuyển sinh của đợt này."
    )


def test_child_id_codes_are_kept_only_as_keyed_hashes(
    setting: Setting, conn: RequestTransactions, demo_home: Path
) -> None:
    response = setting.submit(setting.an, "k", setting.body("079 219 000 001"))
    assert "079219000001" not in response.text
    key = installation_key(Settings(database=DatabaseSettings(home=demo_home)))
    assert one(conn, "SELECT child_id_hash FROM applicants") == child_id_hash("079219000001", key)


def test_a_parent_reads_only_their_own_applications(setting: Setting) -> None:
    mine = setting.submit(setting.an, "k", setting.body()).json()["id"]
    assert setting.client.get(f"/applications/{mine}", headers=setting.an).status_code == 200
    other = setting.client.get(f"/applications/{mine}", headers=setting.binh)
    missing = setting.client.get("/applications/999999", headers=setting.binh)
    assert other.status_code == missing.status_code == 404
    assert str(mine) in other.json()["detail"]
    assert setting.client.get("/applications", headers=setting.binh).json() == []
    assert [a["id"] for a in setting.client.get("/applications", headers=setting.an).json()] == [
        mine
    ]
    assert setting.client.get("/applications", headers=setting.officer).status_code == 403
    assert setting.client.get("/applications").status_code == 401
    # Officers apply for nobody; another parent cannot take over a child already registered.
    assert setting.submit(setting.officer, "k", setting.body("1")).status_code == 403
    taken = setting.submit(setting.binh, "k-b", setting.body())
    assert taken.status_code == 403 and "cannot be used from your account" in taken.json()["detail"]


def test_preferences_and_siblings(setting: Setting, conn: RequestTransactions) -> None:
    primary = one(conn, "SELECT min(id) FROM schools WHERE levels = ARRAY['tieu_hoc']")
    secondary = one(conn, "SELECT min(id) FROM schools WHERE levels = ARRAY['thcs']")
    wrong_level = setting.submit(setting.an, "k1", setting.body(preferences=[secondary]))
    assert (
        wrong_level.status_code == 400 and "does not teach grade 1" in wrong_level.json()["detail"]
    )
    unknown = setting.submit(setting.an, "k2", setting.body(preferences=[999999]))
    assert unknown.status_code == 400 and "no school 999999" in unknown.json()["detail"]
    first = setting.submit(setting.an, "k3", setting.body(preferences=[primary]))
    assert first.json()["preferences"] == [primary]
    twin = setting.submit(
        setting.an, "k4", setting.body("079219000002", sibling_child_id="079219000001")
    )
    assert twin.json()["has_sibling"] is True
    groups = one(conn, "SELECT array_agg(DISTINCT sibling_group) FROM applicants")
    assert groups is not None and len(groups) == 1 and groups[0] is not None  # type: ignore[arg-type]


def test_submissions_only_while_the_round_is_open(setting: Setting) -> None:
    closed = setting.client.post(f"/rounds/{setting.round_id}/close", headers=setting.officer)
    assert closed.status_code == 200
    late = setting.submit(setting.an, "k", setting.body())
    assert late.status_code == 409 and "needs a round that is open" in late.json()["detail"]
    assert (
        setting.client.post(
            "/rounds/999999/applications",
            json=setting.body(),
            headers={**setting.an, "Idempotency-Key": "x"},
        ).status_code
        == 404
    )


# Explanations as the mechanisms store them (allocation/mechanisms/*), told in Vietnamese.
NAMES = {11: "Trường Tiểu học Lê Văn Tám", 12: "Trường Tiểu học Hòa Bình"}


def test_a_deferred_acceptance_result_in_vietnamese() -> None:
    explanation = {
        "school_id": 11,
        "cost": 1840,
        "reason": "Placed at school 11 (1,840 m), your 2nd choice. ...",
        "passed_over": [
            {
                "school_id": 12,
                "cost": 950,
                "why": "full",
                "cutoff": {"tier": 1, "cost": 720, "lottery": 88},
            }
        ],
    }
    told = explain_vi(explanation, "da", NAMES, preferences=[12, 11])
    assert told["summary"] == (
        "Con được xếp vào Trường Tiểu học Lê Văn Tám, cách nhà 1.840 m theo đường đi, "
        "nguyện vọng 2 của gia đình. Các trường gia đình xếp nguyện vọng cao hơn không nhận "
        "được con: Trường Tiểu học Hòa Bình."
    )
    assert told["passed_over"] == [
        "Trường Tiểu học Hòa Bình (cách nhà 950 m) đã hết chỗ: trẻ cuối cùng được nhận ở cách "
        "trường 720 m; trẻ thuộc diện ưu tiên được xét trước, cùng mức ưu tiên thì trẻ ở gần "
        "hơn được xét trước."
    ]
    tie = dict(explanation["passed_over"][0], cutoff={"tier": 1, "cost": 950, "lottery": 4})  # type: ignore[arg-type]
    assert (
        "số bốc thăm 4"
        in explain_vi({**explanation, "passed_over": [tie]}, "da", NAMES)["passed_over"][0]
    )


def test_nearest_greedy_and_unplaced_results_in_vietnamese() -> None:
    nearest = {
        "school_id": 11,
        "cost": 2100,
        "passed_over": [
            {
                "school_id": 12,
                "cost": 1500,
                "why": "full",
                "cutoff": {"price": 300, "others_further": 900, "you_would_save": 600, "unit": "m"},
            }
        ],
    }
    told = explain_vi(nearest, "nearest", NAMES)
    assert told["summary"].startswith(
        "Con được xếp vào Trường Tiểu học Lê Văn Tám, cách nhà 2.100 m"
    )
    # The near-home flow passes over closer schools, even when the family ranked schools.
    ranked = explain_vi(nearest, "nearest", NAMES, preferences=[11, 12])
    assert ranked["summary"] == (
        "Con được xếp vào Trường Tiểu học Lê Văn Tám, cách nhà 2.100 m theo đường đi, "
        "nguyện vọng 1 của gia đình. Các trường gần nhà hơn đều đã hết chỗ: Trường Tiểu học "
        "Hòa Bình. Đợt này xếp mọi trẻ vào trường gần nhà nhất có thể (tổng quãng đường ngắn "
        "nhất, trẻ thuộc diện ưu tiên được xếp trước), không theo thứ tự nguyện vọng."
    )
    assert told["passed_over"][0].endswith(
        "đi xa thêm tổng cộng 900 m, nhiều hơn 600 m con được rút ngắn."
    )
    greedy = {
        **nearest,
        "passed_over": [{**nearest["passed_over"][0], "cutoff": {"filled_before": 37}}],
    }  # type: ignore[dict-item]
    assert "hồ sơ thứ 37" in explain_vi(greedy, "greedy", NAMES)["passed_over"][0]
    alone = explain_vi({"school_id": 12, "cost": 400, "passed_over": []}, "nearest", NAMES)
    assert alone["summary"] == (
        "Con được xếp vào Trường Tiểu học Hòa Bình, cách nhà 400 m theo đường đi, "
        "là trường gần nhà nhất con có thể được xếp."
    )
    unplaced = explain_vi({"school_id": None, "cost": None, "passed_over": []}, "da", NAMES)
    assert "con không thuộc diện được xếp trong đợt này" in unplaced["summary"]
    assert metres(12345.6) == "12.346 m"


def test_english_explanations_name_schools_not_ids() -> None:
    names = {19: "Trường Tiểu học Lê Văn Thọ", 7: "Trường Tiểu học Kim Đồng"}
    sentence = (
        "Placed at school 19 (1,317 m). Closer schools were not given: school 7 (900 m) was "
        "full; school 8 (950 m) offers no seats."
    )
    assert with_school_names(sentence, names) == (
        "Placed at Trường Tiểu học Lê Văn Thọ (1,317 m). Closer schools were not given: "
        "Trường Tiểu học Kim Đồng (900 m) was full; school 8 (950 m) offers no seats."
    )


def test_a_child_id_is_a_personal_identification_number_of_12_digits(
    setting: Setting, conn: RequestTransactions
) -> None:
    for k, typed in enumerate(
        ("abc!!", "07921900001", "0792190000011", "０７９２１９０００００１")
    ):
        refused = setting.submit(setting.an, f"k-{k}", setting.body(typed))
        assert refused.status_code == 400, typed
        detail = refused.json()["detail"]
        assert detail.startswith("Mã định danh cá nhân của con gồm 12 chữ số"), detail
        assert typed not in detail  # the code typed is never echoed (it reaches logs)
    sibling = setting.submit(setting.an, "k-s", setting.body(sibling_child_id="12345"))
    assert sibling.status_code == 400
    assert "Mã định danh cá nhân của anh/chị/em" in sibling.json()["detail"]
    assert one(conn, "SELECT count(*) FROM applications") == 0
    # Spaces as people group the digits are fine: the same child as without them.
    spaced = setting.submit(setting.an, "k-ok", setting.body("079 219 000 001"))
    assert spaced.status_code == 201, spaced.text
    again = setting.submit(setting.an, "k-again", setting.body("079219000001"))
    assert again.status_code == 409 and "already has an application" in again.json()["detail"]


def test_a_round_says_which_birth_years_it_takes_by_the_eligibility_rule(
    setting: Setting,
) -> None:
    shown = setting.client.get(f"/rounds/{setting.round_id}", headers=setting.an).json()
    years = shown["birth_years"]
    # Grade 1 of 2025: children born in 2019; special cases up to three years older.
    assert years[""] == [2019, 2019] and years["liet_si"] == [2019, 2019]
    assert years["khuyet_tat"] == [2016, 2019]
    for group, (first, last) in years.items():
        for year in (first - 1, first, last, last + 1):
            verdict = check_eligibility(
                grade=1,
                admission_year=2025,
                birth_date=date(year, 6, 1),
                ward_code=None,
                area_ward_codes=[],
                priority_group=group or None,
                residence_required=False,
            )
            assert verdict.eligible == (first <= year <= last), (group, year)
