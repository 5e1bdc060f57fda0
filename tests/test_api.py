"""The HTTP API on the demo city: health, schools with filters and search, wards, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis_service.api.app import create_app
from gis_service.api.models import Health, SchoolCollection, SchoolDetail, WardCollection
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection, ConnectionPool
from tests.conftest import SingleConnection


@pytest.fixture
def client(demo_db: Connection, demo_home: Path) -> Iterator[TestClient]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with TestClient(create_app(settings, pool=SingleConnection(demo_db))) as test_client:
        yield test_client


def rows(conn: Connection, query: str, *args: object) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def names(payload: dict[str, object]) -> list[str]:
    return [f["properties"]["name"] for f in payload["features"]]  # type: ignore[attr-defined]


def test_health_reports_database_and_counts(client: TestClient, demo_db: Connection) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    health = Health.model_validate(response.json())
    assert health.schools == rows(demo_db, "SELECT count(*) FROM schools")[0][0]
    assert (
        health.wards == rows(demo_db, "SELECT count(*) FROM admin_units WHERE level='ward'")[0][0]
    )
    assert health.postgis.startswith("3.") and health.schema_version >= 1


def test_all_schools_as_valid_geojson(client: TestClient, demo_db: Connection) -> None:
    payload = client.get("/schools").json()
    collection = SchoolCollection.model_validate(payload)
    total = rows(demo_db, "SELECT count(*) FROM schools")[0][0]
    assert collection.numberMatched == collection.numberReturned == total
    assert len({f.id for f in collection.features}) == total
    with_ward = [f for f in collection.features if f.properties.ward_code]
    assert (
        len(with_ward)
        == rows(demo_db, "SELECT count(*) FROM schools WHERE ward_id IS NOT NULL")[0][0]
    )


@pytest.mark.parametrize("level", ["mam_non", "tieu_hoc", "thcs", "thpt"])
def test_level_filter(client: TestClient, demo_db: Connection, level: str) -> None:
    collection = SchoolCollection.model_validate(client.get(f"/schools?level={level}").json())
    expected = rows(demo_db, "SELECT count(*) FROM schools WHERE %s = ANY(levels)", level)[0][0]
    assert collection.numberMatched == expected > 0
    assert all(level in f.properties.levels for f in collection.features)


def test_unknown_level_and_ownership_filters(client: TestClient, demo_db: Connection) -> None:
    unknown = client.get("/schools?level=unknown").json()
    assert unknown["numberMatched"] > 0
    assert all(f["properties"]["levels"] == [] for f in unknown["features"])
    private = client.get("/schools?ownership=private").json()
    assert (
        private["numberMatched"]
        == rows(demo_db, "SELECT count(*) FROM schools WHERE ownership = 'private'")[0][0]
        > 0
    )
    assert {f["properties"]["ownership"] for f in private["features"]} == {"private"}
    assert client.get("/schools?level=college").status_code == 422


def test_ward_and_district_filters(client: TestClient, demo_db: Connection) -> None:
    ward, district, expected_ward = rows(
        demo_db,
        """
        SELECT w.code, d.code, count(*) FROM schools s JOIN admin_units w ON w.id = s.ward_id
        JOIN admin_units d ON d.id = w.parent_id GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 1""",
    )[0]
    in_ward = client.get(f"/schools?ward={ward}").json()
    assert in_ward["numberMatched"] == expected_ward
    assert {f["properties"]["ward_code"] for f in in_ward["features"]} == {ward}
    in_district = client.get(f"/schools?district={district}").json()
    assert in_district["numberMatched"] >= expected_ward  # type: ignore[operator]
    assert {f["properties"]["district_code"] for f in in_district["features"]} == {district}
    assert client.get("/schools?ward=nowhere").json()["numberMatched"] == 0


def test_bbox_filter(client: TestClient, demo_db: Connection) -> None:
    ((minx, miny, maxx, maxy),) = rows(
        demo_db,
        """
        SELECT ST_XMin(e), ST_YMin(e), (ST_XMin(e) + ST_XMax(e)) / 2, (ST_YMin(e) + ST_YMax(e)) / 2
        FROM (SELECT ST_Extent(geom) AS e FROM schools) x""",
    )
    box = f"{minx},{miny},{maxx},{maxy}"
    payload = client.get(f"/schools?bbox={box}").json()
    expected = rows(
        demo_db,
        "SELECT count(*) FROM schools WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
        minx,
        miny,
        maxx,
        maxy,
    )[0][0]
    assert payload["numberMatched"] == expected > 0
    for feature in payload["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert minx <= lon <= maxx and miny <= lat <= maxy  # type: ignore[operator]


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "10,10,5,5", "0,0,200,1", "nan,1,2,3"])
def test_bad_bbox_is_a_clear_400(client: TestClient, bad: str) -> None:
    response = client.get(f"/schools?bbox={bad}")
    assert response.status_code == 400
    assert "minLon,minLat,maxLon,maxLat" in response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "truong tieu hoc le van tho",
        "TRƯỜNG TIỂU HỌC LÊ VĂN THỌ",
        "Le Van Tho",
        "lê văn thọ",
        "tiểu học   lê-văn-thọ",
    ],
)
def test_name_search_ignores_diacritics_and_case(client: TestClient, query: str) -> None:
    payload = client.get("/schools", params={"q": query}).json()
    assert names(payload) == ["Trường Tiểu học Lê Văn Thọ"]


def test_search_wildcards_are_literal(client: TestClient) -> None:
    for query in ["%", "_", "%%tieu", "\\"]:
        response = client.get("/schools", params={"q": query})
        assert response.status_code == 200
    assert client.get("/schools", params={"q": "zzz%qqq"}).json()["numberMatched"] == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_school_is_found_by_its_folded_name(
    client: TestClient, demo_db: Connection, data: st.DataObject
) -> None:
    named = rows(demo_db, "SELECT id, name, name_folded FROM schools WHERE name <> '' ORDER BY id")
    school_id, name, folded = data.draw(st.sampled_from(named))
    for query in (name, folded, str(folded).upper()):
        found = client.get("/schools", params={"q": query, "limit": 5000}).json()
        assert school_id in [f["id"] for f in found["features"]]


def test_one_school_with_classes_and_seats(client: TestClient, demo_db: Connection) -> None:
    school_id, classes, size = rows(
        demo_db,
        "SELECT school_id, classes, class_size "
        "FROM school_grades WHERE grade = 1 ORDER BY 1 LIMIT 1",
    )[0]
    detail = SchoolDetail.model_validate(client.get(f"/schools/{school_id}").json())
    grade1 = next(g for g in detail.properties.grades if g.grade == 1)
    assert (grade1.classes, grade1.class_size, grade1.seats) == (classes, size, classes * size)


def test_unknown_school_is_404(client: TestClient) -> None:
    response = client.get("/schools/987654321")
    assert response.status_code == 404
    assert response.json() == {"detail": "no school with id 987654321"}
    assert client.get("/schools/abc").status_code == 422


def test_wards_with_population(client: TestClient, demo_db: Connection) -> None:
    collection = WardCollection.model_validate(client.get("/wards").json())
    expected = rows(demo_db, "SELECT count(*) FROM admin_units WHERE level = 'ward'")[0][0]
    assert collection.numberReturned == expected
    total_2019 = rows(
        demo_db,
        "SELECT sum(p.population) FROM admin_population p JOIN admin_units"
        " a ON a.id = p.admin_unit_id WHERE a.level = 'ward' AND p.year = 2019",
    )[0][0]
    assert sum(f.properties.population["2019"] for f in collection.features) == total_2019
    assert all(f.properties.population_year == 2024 for f in collection.features)
    assert all(f.properties.area_km2 > 0 for f in collection.features)


def test_wards_by_district_and_simplified(client: TestClient) -> None:
    full = client.get("/wards").json()
    district = full["features"][0]["properties"]["district_code"]
    subset = client.get(f"/wards?district={district}").json()
    assert 0 < subset["numberMatched"] < full["numberMatched"]
    assert {f["properties"]["district_code"] for f in subset["features"]} == {district}
    simplified = client.get(f"/wards?district={district}&simplify=50")
    assert simplified.status_code == 200
    assert client.get("/wards?simplify=-1").status_code == 422


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/health",
        "/schools",
        "/schools/{school_id}",
        "/wards",
        "/schools/near",
        "/route",
        "/schools/{school_id}/reach",
    }
    assert client.get("/docs").status_code == 200


def test_home_page_is_the_map(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Bản đồ trường học" in page.text
    assert "© OpenStreetMap contributors" in page.text


def test_database_down_is_a_503_with_a_message() -> None:
    pool = ConnectionPool("postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_app(Settings(), pool=pool)) as down:
        response = down.get("/health")
    assert response.status_code == 503
    assert "cannot connect" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"
