"""Near-home answers from memory (NearFromMemory): the same bytes as the endpoint's, for
every plain question, and everything else left to the endpoint's checks."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gis_service.api.app import create_app
from gis_service.api.deps import feature_collection
from gis_service.api.routing import (
    NearQuery,
    _feature_opening,
    _near_answer,
    plain_near_query,
    routing_service,
)
from gis_service.config import DatabaseSettings, Settings
from gis_service.db.connection import Connection
from tests.conftest import SingleConnection


@pytest.fixture
def client(demo_db: Connection, demo_home: Path) -> Iterator[TestClient]:
    settings = Settings(database=DatabaseSettings(home=demo_home))
    with TestClient(create_app(settings, pool=SingleConnection(demo_db))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def homes(demo_home: Path) -> list[tuple[float, float]]:
    with (demo_home / "demo" / "households.csv").open(encoding="utf-8") as handle:
        return [(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(handle)][::97]


def endpoint_only(client: TestClient, query: str) -> tuple[int, bytes]:
    """The endpoint's own answer: an extra parameter (which the endpoint ignores) makes the
    question one NearFromMemory leaves alone."""
    answer = client.get(f"/schools/near?{query}&other=1")
    return answer.status_code, answer.content


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_answers_from_memory_are_the_endpoints_byte_for_byte(
    client: TestClient, homes: list[tuple[float, float]], data: st.DataObject
) -> None:
    lon, lat = data.draw(st.sampled_from(homes))
    lon += data.draw(st.floats(-0.02, 0.02))  # some homes far from any road too
    parts = [f"lat={lat:.7f}", f"lon={lon:.7f}"]
    level = data.draw(st.sampled_from([None, "tieu_hoc", "thcs", "mam_non", "thpt"]))
    if level is not None:
        parts.append(f"level={level}")
    limit = data.draw(st.sampled_from([None, 1, 3, 100]))
    if limit is not None:
        parts.append(f"limit={limit}")
    if data.draw(st.booleans()):
        parts.append("mode=motorbike")
    query = "&".join(data.draw(st.permutations(parts)))
    assert plain_near_query(query.encode()) is not None
    expected = endpoint_only(client, query)
    answer = client.get(f"/schools/near?{query}")
    assert (answer.status_code, answer.content) == expected
    assert answer.headers["content-type"] == "application/json" or expected[0] != 200


def test_a_plain_question_held_in_memory_is_answered_without_the_endpoint(
    client: TestClient, homes: list[tuple[float, float]]
) -> None:
    lon, lat = homes[3]
    query = f"lat={lat}&lon={lon}&level=tieu_hoc&limit=5"
    first = client.get(f"/schools/near?{query}")
    assert first.status_code == 200 and first.json()["numberReturned"] == 5

    def refused() -> None:
        raise AssertionError("the endpoint was reached")

    client.app.dependency_overrides[routing_service] = refused  # type: ignore[attr-defined]
    try:
        again = client.get(f"/schools/near?{query}")
        assert again.content == first.content
        with pytest.raises(AssertionError, match="the endpoint was reached"):
            client.get(f"/schools/near?{query}&other=1")
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def test_an_unplain_question_gets_the_endpoints_check(client: TestClient) -> None:
    for query, status in [
        ("lat=abc&lon=106.7", 422),
        ("lat=95&lon=106.7", 422),
        ("lat=10.7&lon=106.7&limit=0", 422),
        ("lat=10.7&lon=106.7&limit=101", 422),
        ("lat=10.7&lon=106.7&mode=bike", 422),
        ("lat=10.7&lon=106.7&level=dai_hoc", 422),
        ("lon=106.7", 422),
    ]:
        answer = client.get(f"/schools/near?{query}")
        assert answer.status_code == status, query
        assert answer.json()["detail"], query


@pytest.mark.parametrize(
    "query",
    [
        b"lat=abc&lon=106.7",
        b"lat=95&lon=106.7",
        b"lat=10.7&lon=190",
        b"lat=10.7&lon=106.7&limit=0",
        b"lat=10.7&lon=106.7&limit=101",
        b"lat=10.7&lon=106.7&limit=010",
        b"lat=10.7&lon=106.7&mode=bike",
        b"lat=10.7&lon=106.7&level=",
        b"lat=10.7&lat=10.8&lon=106.7",
        b"lat=10.7&lon=106.7&other=1",
        b"lat=1e1&lon=106.7",
        b"lat=+10.7&lon=106.7",
        b"lat=10.7&lon=106.7%00",
        b"lat=10.7&lon=106.7&level=ti%E1%BB%83u",
        b"lat=nan&lon=106.7",
        b"lon=106.7",
    ],
)
def test_only_plain_questions_are_taken_from_memory(query: bytes) -> None:
    assert plain_near_query(query) is None


def test_a_plain_question_reads_as_the_endpoint_reads_it() -> None:
    assert plain_near_query(b"lon=106.7001&lat=-10.5") == NearQuery(
        106.7001, -10.5, "motorbike", None, 10
    )
    assert plain_near_query(b"lat=10&lon=106&mode=walk&level=thcs&limit=100") == NearQuery(
        106.0, 10.0, "walk", "thcs", 100
    )


texts = st.one_of(st.none(), st.text(max_size=30))


@settings(max_examples=200, deadline=None)
@given(
    schools=st.lists(
        st.tuples(
            st.integers(1, 10**9),
            st.fixed_dictionaries(
                {
                    "type": st.just("Point"),
                    "coordinates": st.lists(st.floats(-180, 180), min_size=2, max_size=2),
                }
            ),
            texts,
            st.one_of(st.none(), st.lists(st.sampled_from(["tieu_hoc", "thcs"]), max_size=2)),
            texts,
            texts,
            texts,
        ),
        max_size=6,
        unique_by=lambda school: school[0],
    ),
    mode=st.sampled_from(["walk", "motorbike", "car"]),
    costs=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=18, max_size=18),
    estimated=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_a_near_answer_is_the_json_of_its_features(
    schools: list[tuple], mode: str, costs: list[float], estimated: list[bool]
) -> None:
    """The answer written from each school's opening is the JSON of the features themselves."""
    found = [
        {
            "school_id": school[0],
            "distance_m": round(costs[3 * k], 1),
            "time_min": round(costs[3 * k + 1] / 60, 2),
            "straight_m": round(costs[3 * k + 2], 1),
            **({"estimated": True} if estimated[k] else {}),
        }
        for k, school in enumerate(schools)
    ]
    features = [
        {
            "type": "Feature",
            "id": school_id,
            "geometry": geometry,
            "properties": {
                "id": school_id,
                "name": name,
                "levels": levels,
                "ownership": ownership,
                "address": address,
                "ward_name": ward,
                "mode": mode,
                **{k: v for k, v in row.items() if k != "school_id"},
            },
        }
        for (school_id, geometry, name, levels, ownership, address, ward), row in zip(
            schools, found, strict=True
        )
    ]
    openings = {school[0]: _feature_opening(*school) for school in schools}
    assert (
        _near_answer(found, openings, mode).body == feature_collection(len(features), features).body
    )
