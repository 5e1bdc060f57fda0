"""Public map answers kept per worker: served again only while the data behind them is
unchanged, revalidated by ETag, bounded in size."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from gis_service.api import public_cache
from gis_service.api.public_cache import Kept, PublicAnswers
from gis_service.db.connection import Connection
from gis_service.db.version_reader import public_data_version
from tests.test_auth import RequestTransactions

# The zoom-14 tile holding the point (106.61, 10.455) of the demo city.
DEMO_TILE = "/tiles/14/13043/7713.pbf"


def store(client: TestClient) -> PublicAnswers:
    kept: PublicAnswers = client.app.state.public_answers  # type: ignore[attr-defined]
    return kept


def rename_first_school(conn: RequestTransactions, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE schools SET name = %s WHERE id = (SELECT min(id) FROM schools)", (name,)
        )
        cur.execute("SELECT min(id) FROM schools")
        school_id = int(cur.fetchone()[0])  # type: ignore[index]
    conn.commit()
    return school_id


def test_a_second_request_is_served_kept_and_identical(client: TestClient) -> None:
    first = client.get("/schools", params={"level": "tieu_hoc", "limit": 7})
    hits = store(client).hits
    again = client.get("/schools", params={"limit": 7, "level": "tieu_hoc"})
    assert first.status_code == again.status_code == 200
    assert store(client).hits == hits + 1, "the same query in another order is the same answer"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["etag"] == first.headers["etag"]


def test_a_changed_school_is_seen_by_the_next_request(
    client: TestClient, conn: RequestTransactions
) -> None:
    school_id = client.get("/schools", params={"limit": 5000}).json()["features"][0]["id"]
    before = client.get(f"/schools/{school_id}").json()
    client.get(f"/schools/{school_id}")
    tile_before = client.get(DEMO_TILE).content
    renamed = rename_first_school(conn, "Trường Tiểu học Đổi Tên")
    assert renamed == school_id or client.get(f"/schools/{renamed}").status_code == 200
    listing = client.get("/schools", params={"limit": 5000}).json()["features"]
    assert "Trường Tiểu học Đổi Tên" in {f["properties"]["name"] for f in listing}
    after = client.get(f"/schools/{renamed}").json()
    assert after["properties"]["name"] == "Trường Tiểu học Đổi Tên"
    if renamed == school_id:
        assert before["properties"]["name"] != after["properties"]["name"]
    # The tile carries school names: it is made again, not served from before the change.
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE schools SET geom = ST_SetSRID(ST_MakePoint(106.61, 10.455), 4326), "
            "name = 'Trường mới trong ô' WHERE id = %s",
            (renamed,),
        )
    conn.commit()
    assert (
        b"Tr\xc6\xb0\xe1\xbb\x9dng m\xe1\xbb\x9bi trong \xc3\xb4" in client.get(DEMO_TILE).content
    )
    assert client.get(DEMO_TILE).content != tile_before


def test_a_ward_population_change_is_seen(client: TestClient, conn: RequestTransactions) -> None:
    first = client.get("/wards").json()["features"][0]
    client.get("/wards")
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE admin_population SET population = population + 1000 "
            "WHERE admin_unit_id = %s AND year = %s",
            (first["id"], first["properties"]["population_year"]),
        )
    conn.commit()
    again = client.get("/wards").json()["features"][0]
    assert (
        again["properties"]["population_latest"] == first["properties"]["population_latest"] + 1000
    )


def test_a_browser_holding_the_answer_gets_304_until_the_data_changes(
    client: TestClient, conn: RequestTransactions
) -> None:
    answer = client.get("/wards", params={"simplify": 20})
    etag = answer.headers["etag"]
    unchanged = client.get("/wards", params={"simplify": 20}, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    rename_first_school(conn, "Trường đổi tên lần nữa")
    changed = client.get("/wards", params={"simplify": 20}, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json() == answer.json()


def test_errors_are_not_kept(client: TestClient) -> None:
    assert client.get("/schools/987654321").status_code == 404
    assert client.get("/schools/987654321").status_code == 404
    assert not any(key.startswith("/schools/987654321") for key in store(client)._entries)


def test_a_rolled_back_change_never_lends_its_version_to_a_later_one(demo_db: Connection) -> None:
    start = public_data_version(demo_db)
    with demo_db.cursor() as cur:
        cur.execute("SAVEPOINT first")
        cur.execute("UPDATE schools SET name = name || ' (thử)'")
        abandoned = public_data_version(demo_db)
        cur.execute("ROLLBACK TO SAVEPOINT first")
        assert public_data_version(demo_db) == start
        cur.execute("UPDATE school_grades SET classes = classes + 1")
        later = public_data_version(demo_db)
    assert len({start, abandoned, later}) == 3


def test_the_store_keeps_its_bounds() -> None:
    answers = PublicAnswers(max_entries=3, max_bytes=250)
    for i in range(5):
        answers.put(f"/k{i}", Kept(1, b"x" * 60, "application/json", ()))
    assert len(answers) == 3
    assert answers.get("/k0", 1) is None and answers.get("/k4", 1) is not None
    answers.get("/k2", 1)  # now most recently used
    answers.put("/big", Kept(1, b"y" * 200, None, ()))
    assert answers.get("/big", 1) is not None
    assert answers.get("/k3", 1) is None, "least recently used goes first"
    assert answers.get("/k4", 1) is None
    assert answers.get("/big", 2) is None, "another version is not this answer"


def test_near_home_answers_show_a_renamed_school_at_once(
    client: TestClient, conn: RequestTransactions
) -> None:
    params = {"lat": 10.455, "lon": 106.61, "level": "tieu_hoc", "limit": 3}
    nearest = client.get("/schools/near", params=params).json()["features"][0]
    client.get("/schools/near", params=params)
    with conn.cursor() as cur:
        cur.execute("UPDATE schools SET name = 'Trường gần nhà' WHERE id = %s", (nearest["id"],))
    conn.commit()
    again = client.get("/schools/near", params=params).json()["features"][0]
    assert again["id"] == nearest["id"]
    assert again["properties"]["name"] == "Trường gần nhà" != nearest["properties"]["name"]
    assert again["properties"]["distance_m"] == nearest["properties"]["distance_m"]


def test_answers_about_units_are_kept_under_their_edition(client: TestClient) -> None:
    client.get("/wards", params={"limit": 2})
    client.get("/wards", params={"limit": 2, "edition": "2019"})
    client.get("/schools", params={"limit": 2})
    keys = set(store(client)._entries)
    assert {
        "/wards?limit=2#edition=2019",
        "/wards?edition=2019&limit=2#edition=2019",
        "/schools?limit=2#edition=2019",
    } <= keys
    assert client.get("/wards", params={"edition": "1990"}).status_code == 400
    assert not any("1990" in key for key in store(client)._entries)


class _Tomorrow(date):
    @classmethod
    def today(cls) -> date:
        return date.today() + timedelta(days=1)


def test_an_edition_coming_into_force_is_served_from_its_first_day(
    client: TestClient, conn: RequestTransactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The current edition moves on its start date with no data change: an answer kept in
    the edition before is not served once the day has turned."""
    with conn.cursor() as cur:
        cur.execute("UPDATE unit_editions SET valid_from = current_date + 1 WHERE edition = '2025'")
        cur.execute(
            "INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded, "
            "unit_type, geom, source) SELECT '2025', 'ward', '99001', 'Phường Mới', "
            "'phuong moi', 'moi', 'phuong', geom, 'test' FROM admin_units "
            "WHERE level = 'ward' ORDER BY id LIMIT 1"
        )
    conn.commit()
    before = client.get("/wards", params={"geometry": "false"}).json()
    assert before["edition"] == "2019" and before["numberMatched"] > 1
    # The day it comes into force (the database's date stands still, so its start moves).
    with conn.cursor() as cur:
        cur.execute("UPDATE unit_editions SET valid_from = current_date WHERE edition = '2025'")
    conn.commit()
    monkeypatch.setattr(public_cache, "date", _Tomorrow)
    after = client.get("/wards", params={"geometry": "false"}).json()
    assert after["edition"] == "2025"
    assert [f["properties"]["full_name"] for f in after["features"]] == ["Phường Mới"]
