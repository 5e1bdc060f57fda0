"""Public reads in editions of the units, on Ho Chi Minh City's real 2019 census wards and its
168 units of 1 July 2025: the current edition by default, old names searchable, units the
census does not cover saying so, schools in both editions, and tiles per edition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.api.models import Health, SchoolCollection, SchoolDetail, WardCollection
from gis_service.db.connection import Connection
from gis_service.importers.report import no_progress
from gis_service.importers.sql import assign_school_wards
from gis_service.importers.wards import WardFields
from gis_service.units.coverage import NO_CENSUS_EN, NO_CENSUS_VI
from tests.conftest import SHARED_DATA, SingleConnection, rolled_back
from tests.hcmc_data import load_hcmc_units_2025, load_hcmc_wards_2019
from tests.test_tiles import layer_features, tile_of

pytestmark = pytest.mark.hcmc

WARDS_2025 = SHARED_DATA / "vn_wards_2025" / "79_ho_chi_minh_wards_2025.geojson"
FIELDS_2025 = WardFields(edition="2025", province_name="Thành phố Hồ Chí Minh", province_code="79")
# The census counts of the 2019 wards (test_hcmc_import checks them against the importer).
POPULATION = {"2009": 7_162_864, "2019": 8_993_082}


@dataclass
class Hcmc:
    conn: Connection
    client: TestClient
    schools: dict[str, int]
    """Two hand-placed schools by name: one in the former Bến Nghé, one in Thủ Dầu Một."""


def scalar(conn: Connection, query: str, *args: object) -> Any:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    assert row is not None
    return row[0]


def place_school(conn: Connection, name: str, edition: str, code: str) -> int:
    """A school at a point inside the unit of the edition with the code."""
    return int(
        scalar(
            conn,
            "INSERT INTO schools (name, name_folded, levels, geom, source) "
            "SELECT %s, lower(%s), '{tieu_hoc}', ST_PointOnSurface(geom), 'test' "
            "FROM admin_units WHERE edition = %s AND level = 'ward' AND code = %s RETURNING id",
            name,
            name,
            edition,
            code,
        )
    )


@pytest.fixture(scope="module")
def hcmc(empty_db_url: str) -> Iterator[Hcmc]:
    with rolled_back(empty_db_url) as conn:
        load_hcmc_wards_2019(conn)
        load_hcmc_units_2025(conn)
        schools = {
            "Ben Nghe school": place_school(conn, "Ben Nghe school", "2019", "26740"),
            "Thu Dau Mot school": place_school(conn, "Thu Dau Mot school", "2025", "25747"),
        }
        assign_school_wards(conn)
        with TestClient(create_app(pool=SingleConnection(conn))) as client:
            yield Hcmc(conn, client, schools)


def wards(client: TestClient, **params: object) -> dict[str, Any]:
    response = client.get("/wards", params={"geometry": "false", **params})
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    WardCollection.model_validate(payload)
    return payload


def by_code(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["code"]: f["properties"] for f in payload["features"]}


def test_the_current_edition_is_the_default(hcmc: Hcmc) -> None:
    payload = wards(hcmc.client)
    assert payload["edition"] == "2025"
    assert payload["numberMatched"] == payload["numberReturned"] == 168
    props = [f["properties"] for f in payload["features"]]
    assert {p["edition"] for p in props} == {"2025"}
    assert all(p["district_code"] is None and p["district_name"] is None for p in props)
    assert {p["province_name"] for p in props} == {"Thành phố Hồ Chí Minh"}
    kinds = {k: sum(1 for p in props if p["unit_type"] == k) for k in ("phuong", "xa", "dac_khu")}
    assert kinds == {"phuong": 113, "xa": 54, "dac_khu": 1}
    special = next(p for p in props if p["unit_type"] == "dac_khu")
    assert special["unit_type_vi"] == "Đặc khu" and special["full_name"] == "Đặc khu Côn Đảo"
    # The same code names different units in the two editions.
    assert by_code(payload)["26740"]["full_name"] == "Phường Sài Gòn"
    # The full answer (with outlines) is the same units.
    full = hcmc.client.get("/wards", params={"simplify": 50})
    assert full.status_code == 200
    assert {f["id"] for f in full.json()["features"]} == {f["id"] for f in payload["features"]}
    assert all(
        f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in full.json()["features"]
    )


def test_health_counts_the_units_of_each_edition(hcmc: Hcmc) -> None:
    health = Health.model_validate(hcmc.client.get("/health").json())
    assert health.edition == "2025"
    assert health.wards == 168
    assert health.wards_by_edition == {"2019": 322, "2025": 168}


def test_the_2019_edition_keeps_its_wards_and_population(hcmc: Hcmc) -> None:
    payload = wards(hcmc.client, edition="2019")
    assert payload["edition"] == "2019"
    assert payload["numberMatched"] == payload["numberReturned"] == 322
    props = [f["properties"] for f in payload["features"]]
    for year, total in POPULATION.items():
        assert sum(p["population"][year] for p in props) == total
    assert all(set(p["population"]) == set(POPULATION) for p in props)
    assert all(p["population_year"] == 2019 and p["population_source"] == "census" for p in props)
    assert all(p["population_latest"] == p["population"]["2019"] for p in props)
    assert all(p["census_coverage"] == 1.0 and not p["no_census"] for p in props)
    assert all(p["district_code"] and p["district_name"] for p in props)
    ben_nghe = by_code(payload)["26740"]
    assert (ben_nghe["name"], ben_nghe["district_name"]) == ("Ben Nghe", "District 1")
    assert ben_nghe["former"] == [] and ben_nghe["former_note_vi"] is None
    district_1 = wards(hcmc.client, edition="2019", district="760")
    expected = scalar(
        hcmc.conn,
        "SELECT count(*) FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
        "WHERE w.level = 'ward' AND d.code = '760'",
    )
    assert district_1["numberMatched"] == expected == 10
    assert {f["properties"]["district_code"] for f in district_1["features"]} == {"760"}


@pytest.mark.parametrize("query", ["Ben Nghe", "Bến Nghé", "phuong ben nghe", "Bến Nghé, Quận 1"])
def test_an_old_ward_name_finds_the_unit_that_took_it(hcmc: Hcmc, query: str) -> None:
    found = wards(hcmc.client, q=query)
    assert found["edition"] == "2025"
    first = found["features"][0]["properties"]
    assert first["full_name"] == "Phường Sài Gòn"
    assert first["matched_by"] == "former_name"
    assert first["former_note_vi"].startswith("trước đây: Ben Nghe (District 1)")
    assert first["former_note_en"].startswith("formerly: Ben Nghe (District 1)")
    took = {f["code"]: f for f in first["former"]}
    assert took["26740"]["share"] > 0.95
    # Nothing else took a real share of Bến Nghé (slivers where the maps disagree do not count).
    assert [f["properties"]["code"] for f in found["features"]] == ["26740"]


def test_a_new_name_is_found_first_and_old_names_after(hcmc: Hcmc) -> None:
    found = wards(hcmc.client, q="Sài Gòn")
    first = found["features"][0]["properties"]
    assert first["full_name"] == "Phường Sài Gòn" and first["matched_by"] == "name"
    assert wards(hcmc.client, q="26740")["features"][0]["properties"]["name"] == "Phường Sài Gòn"
    # In the 2019 edition the name is the census ward's own.
    old = wards(hcmc.client, q="Ben Nghe", edition="2019")
    assert [f["properties"]["name"] for f in old["features"]] == ["Ben Nghe"]
    assert old["features"][0]["properties"]["matched_by"] == "name"
    assert wards(hcmc.client, q="Sài Gòn", edition="2019")["numberMatched"] == 0
    assert wards(hcmc.client, q="zzz qqq")["numberMatched"] == 0
    # A word must start where the name's word starts: 'an phu' is not found in 'Tân Phước'.
    names = [f["properties"]["name"] for f in wards(hcmc.client, q="an phu")["features"]]
    assert names[0] == "Phường An Phú" and "Phường Tân Phước" not in names


def test_a_unit_the_census_does_not_cover_says_so(hcmc: Hcmc) -> None:
    (feature,) = wards(hcmc.client, q="Phường Thủ Dầu Một")["features"]
    p = feature["properties"]
    assert p["full_name"] == "Phường Thủ Dầu Một"
    assert p["no_census"] is True and p["census_coverage"] < 0.05
    assert p["population"] is None and p["population_latest"] is None
    assert (p["census_note_vi"], p["census_note_en"]) == (NO_CENSUS_VI, NO_CENSUS_EN)
    assert p["former"] == []
    props = [f["properties"] for f in wards(hcmc.client)["features"]]
    # The former Bình Dương and Bà Rịa – Vũng Tàu: no 2019 census figures, never a 0.
    uncovered = [q for q in props if q["no_census"]]
    assert len(uncovered) == 66
    assert all(q["population"] is None and q["census_note_vi"] == NO_CENSUS_VI for q in uncovered)
    assert all(q["census_coverage"] >= 0.95 for q in props if not q["no_census"])
    assert not any(q["population_latest"] == 0 for q in props)
    # Before a crosswalk has carried the figures, a covered unit says it has none yet.
    covered = next(q for q in props if q["code"] == "26740")
    assert covered["population"] == {} and covered["population_latest"] is None
    assert covered["census_note_vi"] and "chưa" in covered["census_note_vi"]


def test_a_crosswalk_s_figures_are_the_new_units_population(hcmc: Hcmc) -> None:
    from gis_service.units.crosswalk import run_crosswalk

    conn = hcmc.conn
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT crosswalk")
    try:
        run_crosswalk(conn, "2019", "2025", "area", no_progress)
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO unit_reported_children (admin_unit_id, birth_year, children, source) "
                "SELECT id, 2019, 4321, 'test' FROM admin_units "
                "WHERE edition = '2025' AND code = '25747'"
            )
        # The carried figures move the public data version: the next answer holds them.
        props = by_code(wards(hcmc.client))
        carried = dict(
            (str(year), int(n))
            for year, n in _rows(
                conn,
                "SELECT p.year, p.population FROM admin_population p "
                "JOIN admin_units u ON u.id = p.admin_unit_id "
                "WHERE u.edition = '2025' AND u.code = '26740' ORDER BY 1",
            )
        )
    finally:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT crosswalk")
    saigon = props["26740"]
    assert saigon["population_source"] == "crosswalk"
    assert saigon["population"] == carried and set(carried) == set(POPULATION)
    # Phường Sài Gòn took Bến Nghé (10,633 people in 2019) and parts of its neighbours.
    assert 10_633 < saigon["population"]["2019"] < 30_000
    assert saigon["former_note_vi"].startswith("trước đây: Ben Nghe (District 1)")
    thu_dau_mot = props["25747"]
    assert thu_dau_mot["no_census"] is True and thu_dau_mot["population"] is None
    assert thu_dau_mot["reported_children"] == {"2019": 4321}
    covered = [p for p in props.values() if not p["no_census"]]
    for year, total in POPULATION.items():
        # What the covered units hold is nearly all of the 2019 figures (slivers aside).
        held = sum(p["population"][year] for p in covered if p["population"])
        assert 0.99 * total < held <= total


def _rows(conn: Connection, query: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


@pytest.mark.parametrize(
    "url", ["/wards?edition=2030", "/wards?edition=abc", "/schools?edition=1999"]
)
def test_a_bad_edition_is_a_400_naming_the_editions(hcmc: Hcmc, url: str) -> None:
    response = hcmc.client.get(url)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Không có bộ đơn vị hành chính" in detail and "editions are 2019, 2025" in detail


def test_a_district_filter_needs_the_2019_edition(hcmc: Hcmc) -> None:
    response = hcmc.client.get("/wards", params={"district": "760"})
    assert response.status_code == 400
    assert "edition=2019" in response.json()["detail"]


def test_schools_say_their_unit_in_both_editions(hcmc: Hcmc) -> None:
    listing = hcmc.client.get("/schools", params={"ward": "26740"}).json()
    SchoolCollection.model_validate(listing)
    assert listing["edition"] == "2025"
    names = {f["properties"]["name"]: f["properties"] for f in listing["features"]}
    school = names["Ben Nghe school"]
    assert school["edition"] == "2025" and school["ward_code"] == "26740"
    assert school["ward_name"] == school["ward_full_name"] == "Phường Sài Gòn"
    assert (school["district_code"], school["district_name"]) == ("760", "District 1")
    old, new = school["units"]["2019"], school["units"]["2025"]
    assert (old["code"], old["name"], old["district_code"]) == ("26740", "Ben Nghe", "760")
    assert (new["full_name"], new["unit_type_vi"], new["district_code"]) == (
        "Phường Sài Gòn",
        "Phường",
        None,
    )
    in_2019 = hcmc.client.get("/schools", params={"ward": "26740", "edition": "2019"}).json()
    assert in_2019["edition"] == "2019"
    assert {f["properties"]["ward_name"] for f in in_2019["features"]} == {"Ben Nghe"}
    # The ward filter of the current edition is the school's ward_id.
    assert listing["numberMatched"] == scalar(
        hcmc.conn,
        "SELECT count(*) FROM schools s JOIN admin_units w ON w.id = s.ward_id "
        "WHERE w.edition = '2025' AND w.code = '26740'",
    )
    detail = hcmc.client.get(f"/schools/{hcmc.schools['Thu Dau Mot school']}").json()
    SchoolDetail.model_validate(detail)
    p = detail["properties"]
    assert set(p["units"]) == {"2025"}, "no 2019 census unit covers Thủ Dầu Một"
    assert p["ward_full_name"] == "Phường Thủ Dầu Một" and p["district_code"] is None
    by_district = hcmc.client.get("/schools", params={"district": "760"}).json()
    assert "Ben Nghe school" in {f["properties"]["name"] for f in by_district["features"]}


def test_the_ward_layer_of_a_tile_is_one_edition(hcmc: Hcmc) -> None:
    # Bến Nghé / Phường Sài Gòn at zoom 14.
    x, y = tile_of(106.703, 10.778, 14)
    current = hcmc.client.get(f"/tiles/14/{x}/{y}.pbf")
    old = hcmc.client.get(f"/tiles/14/{x}/{y}.pbf", params={"edition": "2019"})
    assert current.status_code == old.status_code == 200
    new_units = {w["code"]: w for w in layer_features(current.content, "wards")}
    old_units = {w["code"]: w for w in layer_features(old.content, "wards")}
    assert {w["edition"] for w in new_units.values()} == {"2025"}
    assert {w["edition"] for w in old_units.values()} == {"2019"}
    assert new_units["26740"]["full_name"] == "Phường Sài Gòn"
    assert new_units["26740"]["no_census"] is False
    assert old_units["26740"]["name"] == "Ben Nghe"
    assert old_units["26740"]["district_name"] == "District 1"
    assert layer_features(current.content, "schools") == layer_features(old.content, "schools")
    # Thủ Dầu Một: no 2019 census unit under it.
    x, y = tile_of(106.66, 10.97, 14)
    north = {
        w["code"]: w
        for w in layer_features(hcmc.client.get(f"/tiles/14/{x}/{y}.pbf").content, "wards")
    }
    assert (
        north["25747"]["no_census"] is True and north["25747"]["full_name"] == "Phường Thủ Dầu Một"
    )


def test_public_answers_are_kept_per_edition(hcmc: Hcmc) -> None:
    store = hcmc.client.app.state.public_answers  # type: ignore[attr-defined]
    hcmc.client.get("/wards", params={"geometry": "false", "limit": 3})
    hcmc.client.get("/wards", params={"geometry": "false", "limit": 3, "edition": "2019"})
    keys = [k for k in store._entries if k.startswith("/wards?") and "limit=3" in k]
    assert sorted(keys) == [
        "/wards?edition=2019&geometry=false&limit=3#edition=2019",
        "/wards?geometry=false&limit=3#edition=2025",
    ]
