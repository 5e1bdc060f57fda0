"""Networks stored in PostGIS and the road-distance API on the demo city."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from gis_service.api.app import create_app
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection
from gis_service.importers.report import no_progress
from gis_service.routing.profiles import default_profile
from gis_service.routing.store import build_and_store, cache_path, latest_network, load_graph
from tests.conftest import SingleConnection


@pytest.fixture
def client(demo_db: Connection, demo_home: Path) -> Iterator[TestClient]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with TestClient(create_app(settings, pool=SingleConnection(demo_db))) as test_client:
        yield test_client


def one(conn: Connection, query: str, *args: object) -> tuple[object, ...]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    assert row is not None
    return row


def a_home(conn: Connection) -> tuple[float, float]:
    """A point 15 m off a residential street in the middle of the demo city."""
    lon, lat = one(
        conn,
        """
        SELECT ST_X(p), ST_Y(p) FROM (
            SELECT ST_Project(ST_LineInterpolatePoint(geom, 0.5)::geography, 15, radians(0))
                   ::geometry AS p
            FROM road_ways WHERE highway = 'residential' ORDER BY osm_id LIMIT 1 OFFSET 20) x""",
    )
    return float(lon), float(lat)  # type: ignore[arg-type]


def test_network_rows_match_the_graph(demo_db: Connection, demo_home: Path) -> None:
    record = latest_network(demo_db, "motorbike")
    _, graph = load_graph(demo_db, "motorbike", demo_home)
    nodes, edges, km = one(
        demo_db,
        """
        SELECT (SELECT count(*) FROM road_nodes WHERE network_id = %s),
               (SELECT count(*) FROM road_edges WHERE network_id = %s),
               (SELECT sum(length_m) / 1000 FROM road_edges WHERE network_id = %s)""",
        record.network_id,
        record.network_id,
        record.network_id,
    )
    assert (
        (nodes, edges) == (graph.n_nodes, graph.n_edges) == (record.node_count, record.edge_count)
    )
    assert float(km) == pytest.approx(graph.edge_length_m.sum() / 1000, abs=0.01)  # type: ignore[arg-type]
    assert record.parameters["mode"] == "motorbike"
    assert record.params_hash == default_profile("motorbike").params_hash()


def test_rebuild_is_idempotent_and_new_speeds_are_a_new_version(
    demo_db: Connection, demo_home: Path
) -> None:
    first = latest_network(demo_db, "walk")
    again, _, _ = build_and_store(demo_db, default_profile("walk"), demo_home, progress=no_progress)
    assert again.network_id == first.network_id and again.edge_count == first.edge_count
    slower, _, _ = build_and_store(
        demo_db, default_profile("walk", {"footway": 3.0}), demo_home, progress=no_progress
    )
    assert slower.network_id != first.network_id
    assert slower.params_hash != first.params_hash


def test_graph_file_is_rebuilt_when_missing(
    demo_db: Connection, demo_home: Path, tmp_path: Path
) -> None:
    record, cached = load_graph(demo_db, "car", demo_home)
    assert cache_path(demo_home, record).is_file()
    _, rebuilt = load_graph(demo_db, "car", tmp_path)
    assert cache_path(tmp_path, record).is_file()
    assert np.array_equal(rebuilt.edge_length_m, cached.edge_length_m)
    assert np.array_equal(rebuilt.node_osm_ids, cached.node_osm_ids)


def test_near_orders_schools_by_road_distance(client: TestClient, demo_db: Connection) -> None:
    lon, lat = a_home(demo_db)
    near = client.get(
        "/schools/near", params={"lat": lat, "lon": lon, "level": "tieu_hoc", "limit": 8}
    ).json()
    props = [f["properties"] for f in near["features"]]
    assert len(props) == 8
    distances = [p["distance_m"] for p in props]
    assert distances == sorted(distances)
    assert all("tieu_hoc" in p["levels"] for p in props)
    # A road is never shorter than the straight line (UTM vs great circle: 0.5 % slack).
    assert all(p["distance_m"] >= p["straight_m"] * 0.995 for p in props)
    assert all(p["time_min"] > 0 for p in props)
    # The nearest by road is not always the nearest as the crow flies; both are shown.
    assert {"distance_m", "straight_m", "time_min"} <= set(props[0])


def test_route_length_equals_the_near_distance(client: TestClient, demo_db: Connection) -> None:
    lon, lat = a_home(demo_db)
    first = client.get("/schools/near", params={"lat": lat, "lon": lon, "mode": "walk"}).json()
    school = first["features"][0]
    found = client.get(
        "/route", params={"from": f"{lat},{lon}", "to_school": school["id"], "mode": "walk"}
    ).json()
    assert found["geometry"]["type"] == "LineString"
    assert found["properties"]["length_m"] == pytest.approx(
        school["properties"]["distance_m"], abs=1.0
    )
    start = found["geometry"]["coordinates"][0]
    end = found["geometry"]["coordinates"][-1]
    # The route runs from the home's snap point to the school's, each near its point.
    assert shapely.Point(start).distance(shapely.Point(lon, lat)) < 0.0005
    assert shapely.Point(end).distance(shapely.Point(school["geometry"]["coordinates"])) < 0.01


def test_reach_grows_with_time_and_holds_the_school(client: TestClient) -> None:
    school = client.get("/schools?level=tieu_hoc&limit=1").json()["features"][0]
    small = client.get(f"/schools/{school['id']}/reach", params={"mode": "walk", "minutes": 5})
    large = client.get(f"/schools/{school['id']}/reach", params={"mode": "walk", "minutes": 15})
    assert small.status_code == large.status_code == 200
    small_area = shapely.geometry.shape(small.json()["geometry"])
    large_area = shapely.geometry.shape(large.json()["geometry"])
    assert large_area.area > small_area.area > 0
    # 5 minutes on foot at 4.5 km/h reach at most 375 m, plus the drawn road width.
    assert 0 < small.json()["properties"]["area_km2"] < np.pi * 0.45**2
    assert large_area.buffer(1e-6).contains(small_area)
    point = shapely.Point(school["geometry"]["coordinates"])
    assert small_area.distance(point) < 0.001


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"lat": 0.0, "lon": 0.0}, 422, "outside the network area"),
        ({"lat": 10.45, "lon": 106.62, "mode": "bicycle"}, 422, ""),
        ({"lat": 95, "lon": 106.62}, 422, ""),
    ],
)
def test_bad_near_requests_are_clear_4xx(
    client: TestClient, params: dict[str, object], status: int, message: str
) -> None:
    response = client.get("/schools/near", params=params)
    assert response.status_code == status
    assert message in str(response.json()["detail"])


def test_route_errors(client: TestClient, demo_db: Connection) -> None:
    lon, lat = a_home(demo_db)
    assert client.get("/route", params={"from": "x,y", "to_school": 1}).status_code == 400
    missing = client.get("/route", params={"from": f"{lat},{lon}", "to_school": 987654})
    assert missing.status_code == 404


def test_no_network_built_says_how_to_build_one(db: Connection, tmp_path: Path) -> None:
    settings = Settings(database=DatabaseSettings(home=tmp_path))
    with TestClient(create_app(settings, pool=SingleConnection(db))) as empty:
        response = empty.get("/schools/near", params={"lat": 10.45, "lon": 106.62})
    assert response.status_code == 409
    assert "schoolmap network build --mode motorbike" in response.json()["detail"]


def test_fields_are_cached_and_follow_the_schools(
    demo_db: Connection, demo_home: Path, tmp_path: Path
) -> None:
    from gis_service.routing.service import RoutingService

    lon, lat = a_home(demo_db)
    service = RoutingService(tmp_path)
    before = service.near(demo_db, lon, lat, "walk", "tieu_hoc", 3)
    files = sorted((tmp_path / "fields").glob("walk-*.npz"))
    assert len(files) == 2  # length and time
    # A second service (a restart) reads the same files instead of computing again.
    again = RoutingService(tmp_path)
    stamps = [f.stat().st_mtime_ns for f in files]
    assert again.near(demo_db, lon, lat, "walk", "tieu_hoc", 3) == before
    assert [f.stat().st_mtime_ns for f in files] == stamps
    # A new school at the home's door is the nearest at once: the fields were recomputed.
    with demo_db.cursor() as cur:
        cur.execute(
            "INSERT INTO schools (name, name_folded, levels, geom, source) VALUES "
            "('Trường Tiểu học Mới', 'truong tieu hoc moi', ARRAY['tieu_hoc'], "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326), 'test') RETURNING id",
            (lon, lat),
        )
        new_id = cur.fetchone()[0]  # type: ignore[index]
    after = again.near(demo_db, lon, lat, "walk", "tieu_hoc", 3)
    assert after[0]["school_id"] == new_id
    assert after[0]["distance_m"] < before[0]["distance_m"]
    assert after[1:] == before[:2]
    assert len(list((tmp_path / "fields").glob("walk-*.npz"))) == 4


def test_moving_a_school_by_hand_refreshes_the_fields(demo_db: Connection, tmp_path: Path) -> None:
    from gis_service.routing.service import RoutingService

    lon, lat = a_home(demo_db)
    service = RoutingService(tmp_path)
    before = service.near(demo_db, lon, lat, "walk", "tieu_hoc", 1)[0]
    farthest = service.near(demo_db, lon, lat, "walk", "tieu_hoc", 100)[-1]["school_id"]
    with demo_db.cursor() as cur:  # no updated_at in the statement: the trigger sets it
        cur.execute(
            "UPDATE schools SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 4326) WHERE id = %s",
            (lon, lat, farthest),
        )
    after = service.near(demo_db, lon, lat, "walk", "tieu_hoc", 1)[0]
    assert after["school_id"] == farthest != before["school_id"]


def test_near_from_memory_answers_as_near_only_at_the_version_it_holds(
    demo_db: Connection, tmp_path: Path
) -> None:
    from gis_service.db.version_reader import public_data_version
    from gis_service.routing.service import RoutingService

    lon, lat = a_home(demo_db)
    service = RoutingService(tmp_path)
    version = public_data_version(demo_db)
    assert service.near_from_memory(lon, lat, "walk", "tieu_hoc", 5, version) is None
    made = service.near(demo_db, lon, lat, "walk", "tieu_hoc", 5, data_version=version)
    assert len(made) == 5
    assert service.near_from_memory(lon, lat, "walk", "tieu_hoc", 5, version) == made
    # Another home, another limit: the same as asking the database.
    for dlon, dlat, limit in ((0.004, -0.003, 1), (-0.006, 0.002, 9)):
        here = (lon + dlon, lat + dlat)
        memory = service.near_from_memory(*here, "walk", "tieu_hoc", limit, version)
        assert memory == service.near(demo_db, *here, "walk", "tieu_hoc", limit, version)
    # Another level, or any later version, is not held: the caller goes to the database.
    assert service.near_from_memory(lon, lat, "walk", "thcs", 5, version) is None
    assert service.near_from_memory(lon, lat, "walk", "tieu_hoc", 5, version + 1) is None
    assert service.near_from_memory(lon, lat, "motorbike", "tieu_hoc", 5, version) is None
