"""Accounts, passwords and sessions over the API: login, logout, expiry, roles, registration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gis_service import audit
from gis_service.api.app import create_app
from gis_service.api.security import CurrentUser, require_roles
from gis_service.auth.passwords import hash_password, verify_password
from gis_service.auth.users import AreaUnit, create_user
from gis_service.config import DatabaseSettings, Settings

PASSWORD = "mat-khau-du-dai"


class RequestTransactions(psycopg2.extensions.connection):
    """A connection whose commit and rollback end a savepoint, inside one outer transaction.

    The API commits its work as in production, and the test still undoes everything at the end.
    """

    def begin(self) -> None:
        with self.cursor() as cur:
            cur.execute("SAVEPOINT request")

    def commit(self) -> None:
        with self.cursor() as cur:
            cur.execute("RELEASE SAVEPOINT request; SAVEPOINT request")

    def rollback(self) -> None:
        with self.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT request")

    def discard(self) -> None:
        psycopg2.extensions.connection.rollback(self)


class RequestScopedSource:
    """Lends the test connection to the API and, like the pool, rolls back what was not
    committed when the request ends, so a missing commit shows in the tests."""

    def __init__(self, conn: RequestTransactions) -> None:
        self.conn = conn

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        try:
            yield self.conn
        finally:
            self.conn.rollback()

    def close(self) -> None:
        """The test closes the connection."""


@contextmanager
def api_connection(url: str) -> Iterator[RequestTransactions]:
    conn = psycopg2.connect(url, connection_factory=RequestTransactions)
    assert isinstance(conn, RequestTransactions)
    conn.begin()
    try:
        yield conn
    finally:
        conn.discard()
        conn.close()


@contextmanager
def api_client(conn: RequestTransactions, home: Path) -> Iterator[TestClient]:
    settings = Settings(database=DatabaseSettings(home=home))
    with TestClient(create_app(settings, pool=RequestScopedSource(conn))) as client:
        yield client


def add_user(
    conn: RequestTransactions,
    username: str,
    role: str,
    area: list[str] | None = None,
    school_id: int | None = None,
) -> int:
    user = create_user(
        conn, username=username, password=PASSWORD, role=role, area=area or [], school_id=school_id
    )
    conn.commit()
    return user.id


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def one(conn: psycopg2.extensions.connection, query: str, *args: object) -> object:
    with conn.cursor() as cur:
        cur.execute(query, args)
        row = cur.fetchone()
    assert row is not None
    return row[0]


def test_login_me_and_the_audit_log(client: TestClient, conn: RequestTransactions) -> None:
    user_id = add_user(conn, "admin.so", "city_admin")
    response = client.post("/auth/login", json={"username": " Admin.So ", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer" and token["role"] == "city_admin"
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["username"]) == (user_id, "admin.so")
    # Only a hash of the token is stored.
    assert (
        one(conn, "SELECT count(*) FROM sessions WHERE token_hash = %s", token["access_token"]) == 0
    )
    logged = audit.entries(conn, action_prefix="user.login")
    assert [(e.actor, e.action, e.target, e.remote_addr) for e in logged] == [
        ("admin.so", "user.login", f"user:{user_id}", "testclient")
    ]


def test_wrong_password_and_unknown_user_are_the_same_401_and_logged(
    client: TestClient, conn: RequestTransactions
) -> None:
    add_user(conn, "can.bo.q1", "district_officer", area=["901"])
    wrong = client.post("/auth/login", json={"username": "can.bo.q1", "password": "not-the-one"})
    nobody = client.post("/auth/login", json={"username": "khong.co", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json()
    assert "username or password is wrong" in wrong.json()["detail"]
    # The refused attempts were committed although the requests failed.
    failed = audit.entries(conn, action_prefix="user.login_failed")
    assert [(e.actor, e.detail["why"], e.remote_addr) for e in failed] == [
        ("can.bo.q1", "wrong password", "testclient"),
        ("khong.co", "unknown user", "testclient"),
    ]


def test_a_disabled_account_is_refused_with_403(
    client: TestClient, conn: RequestTransactions
) -> None:
    user_id = add_user(conn, "nghi.viec", "planner")
    headers = sign_in(client, "nghi.viec")
    with conn.cursor() as cur:
        cur.execute("UPDATE users SET disabled = true WHERE id = %s", (user_id,))
    conn.commit()
    login = client.post("/auth/login", json={"username": "nghi.viec", "password": PASSWORD})
    assert login.status_code == 403 and "disabled" in login.json()["detail"]
    # A session opened before the account was disabled stops working too.
    assert client.get("/auth/me", headers=headers).status_code == 403


def test_tokens_expire(client: TestClient, conn: RequestTransactions) -> None:
    add_user(conn, "phu.huynh", "parent")
    headers = sign_in(client, "phu.huynh")
    assert client.get("/auth/me", headers=headers).status_code == 200
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE sessions SET created_at = now() - interval '13 hours', "
            "expires_at = now() - interval '1 hour'"
        )
    conn.commit()
    expired = client.get("/auth/me", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_logout_revokes_the_token(client: TestClient, conn: RequestTransactions) -> None:
    add_user(conn, "phu.huynh", "parent")
    headers = sign_in(client, "phu.huynh")
    other = sign_in(client, "phu.huynh")
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401
    assert client.post("/auth/logout", headers=headers).status_code == 401
    # Another session of the same account is untouched.
    assert client.get("/auth/me", headers=other).status_code == 200
    assert [e.action for e in audit.entries(conn, action_prefix="user.logout")] == ["user.logout"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer ", "Bearer not-a-token", "Basic dXNlcjpwYXNz"]
)
def test_no_or_a_bad_token_is_401(client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert "/auth/login" in response.json()["detail"]


def test_parents_register_themselves_and_only_as_parents(
    client: TestClient, conn: RequestTransactions
) -> None:
    made = client.post(
        "/auth/register",
        json={"username": "me.cua.an", "password": PASSWORD, "role": "city_admin"},
    )
    assert made.status_code == 201
    assert made.json()["role"] == "parent"
    assert "password" not in made.text
    stored = str(one(conn, "SELECT password_hash FROM users WHERE username = 'me.cua.an'"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    again = client.post("/auth/register", json={"username": "ME.CUA.AN", "password": PASSWORD})
    assert again.status_code == 409 and "taken" in again.json()["detail"]
    short = client.post("/auth/register", json={"username": "bo.cua.an", "password": "123"})
    assert short.status_code == 400 and "at least 10 characters" in short.json()["detail"]
    created = audit.entries(conn, action_prefix="user.create")
    assert [(e.actor, e.detail["role"], e.remote_addr) for e in created] == [
        ("me.cua.an", "parent", "testclient")
    ]
    sign_in(client, "me.cua.an")


def test_only_a_city_admin_creates_and_lists_accounts(
    client: TestClient, conn: RequestTransactions
) -> None:
    add_user(conn, "admin.so", "city_admin")
    add_user(conn, "can.bo.q1", "district_officer", area=["901"])
    add_user(conn, "phu.huynh", "parent")
    school = one(conn, "SELECT min(id) FROM schools WHERE 'tieu_hoc' = ANY(levels)")
    officer = {"username": "can.bo.q2", "password": PASSWORD, "role": "district_officer"}
    body = {**officer, "area": ["902"]}
    admin = sign_in(client, "admin.so")
    for name in ("can.bo.q1", "phu.huynh"):
        refused = client.post("/users", json=body, headers=sign_in(client, name))
        assert refused.status_code == 403 and "city_admin" in refused.json()["detail"]
        assert client.get("/users", headers=sign_in(client, name)).status_code == 403
    assert client.post("/users", json=body).status_code == 401
    made = client.post("/users", json=body, headers=admin)
    assert made.status_code == 201
    assert (made.json()["role"], made.json()["area"]) == ("district_officer", ["902"])
    no_area = client.post("/users", json={**officer, "username": "x.y.z"}, headers=admin)
    assert no_area.status_code == 400 and "needs an area" in no_area.json()["detail"]
    staff = {"username": "gv.th1", "password": PASSWORD, "role": "school_staff"}
    assert (
        client.post("/users", json={**staff, "school_id": school}, headers=admin).status_code == 201
    )
    unknown = client.post(
        "/users", json={**body, "username": "can.bo.q9", "area": ["999"]}, headers=admin
    )
    assert unknown.status_code == 404 and "999" in unknown.json()["detail"]
    listed = client.get("/users", headers=admin).json()
    assert [u["username"] for u in listed] == sorted(
        ["admin.so", "can.bo.q1", "can.bo.q2", "gv.th1", "phu.huynh"]
    )
    me = client.get("/auth/me", headers=sign_in(client, "can.bo.q2")).json()
    wards_902 = one(
        conn,
        "SELECT array_agg(w.code ORDER BY w.code) FROM admin_units w "
        "JOIN admin_units d ON d.id = w.parent_id WHERE d.code = '902'",
    )
    assert me["area_ward_codes"] == wards_902 and len(me["area_ward_codes"]) > 1
    created = audit.entries(conn, action_prefix="user.create")
    assert [e.actor for e in created][-2:] == ["admin.so", "admin.so"]


def test_public_endpoints_stay_public(client: TestClient, conn: RequestTransactions) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM schools WHERE 'tieu_hoc' = ANY(levels) "
            "ORDER BY id LIMIT 1"
        )
        school, lon, lat = cur.fetchone()  # type: ignore[misc]
    for path in (
        "/schools",
        f"/schools/{school}",
        "/wards",
        "/health",
        f"/schools/near?lat={lat + 0.003}&lon={lon}",
        f"/route?from={lat + 0.003},{lon}&to_school={school}",
        f"/schools/{school}/reach?minutes=5",
    ):
        assert client.get(path).status_code == 200, path


def test_every_signed_in_endpoint_states_who_may_call_it(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith(("/auth", "/users", "/rounds", "/applications")):
            continue
        for method, operation in operations.items():
            description = operation.get("description", "")
            assert "Roles:" in description or description.startswith("Public"), (method, path)
            checked += 1
    assert checked >= 20


def test_passwords_are_salted_and_checked() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    assert verify_password(first, PASSWORD) and verify_password(second, PASSWORD)
    assert not verify_password(first, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)


def test_require_roles_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        require_roles("superuser")


unit_ids = st.sets(st.integers(1, 12), max_size=12)


@given(area=unit_ids, round_wards=unit_ids)
def test_an_officer_acts_exactly_on_rounds_inside_their_area(
    area: set[int], round_wards: set[int]
) -> None:
    def user(role: str) -> CurrentUser:
        # Codes repeat across unit editions: the area is its units' ids, whatever the code.
        units = tuple(AreaUnit(i, "2025", "26740", f"Phường {i}") for i in sorted(area))
        return CurrentUser(1, "u", role, units, None, 1, None)

    assert user("district_officer").may_act_on(round_wards) == (round_wards <= area)
    assert user("ward_officer").may_act_on(round_wards) == (round_wards <= area)
    assert user("city_admin").may_act_on(round_wards)
    assert not user("parent").may_act_on(round_wards)
    assert not user("planner").may_act_on(round_wards)
