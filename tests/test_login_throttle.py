"""Sign-in throttling: an account or an address that failed too often in the window is refused
with 429 and Retry-After, before any password is checked; others are not affected."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.test_auth import PASSWORD, RequestTransactions, add_user, one

WRONG = "not-the-password-123"


def attempt(client: TestClient, username: str, password: str) -> int:
    return client.post("/auth/login", json={"username": username, "password": password}).status_code


def log_at(
    conn: RequestTransactions, actor: str, action: str, minutes_ago: float, addr: str
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO audit_log (at, actor, action, remote_addr) "
            "VALUES (now() - make_interval(secs => %s), %s, %s, %s)",
            (minutes_ago * 60, actor, action, addr),
        )
    conn.commit()


def test_ten_failures_lock_the_account_even_against_the_right_password(
    client: TestClient, conn: RequestTransactions
) -> None:
    add_user(conn, "phuhuynh.a", "parent")
    add_user(conn, "phuhuynh.b", "parent")
    assert [attempt(client, "phuhuynh.a", WRONG) for _ in range(10)] == [401] * 10
    refused = client.post("/auth/login", json={"username": "Phuhuynh.A", "password": PASSWORD})
    assert refused.status_code == 429
    assert 800 <= int(refused.headers["retry-after"]) <= 901
    assert "quá nhiều lần" in refused.json()["detail"]
    assert "too many failed sign-ins for this account" in refused.json()["detail"]
    # Another account from the same address still signs in.
    assert attempt(client, "phuhuynh.b", PASSWORD) == 200
    assert (
        one(
            conn,
            "SELECT count(*) FROM audit_log WHERE action = 'user.login_throttled' "
            "AND actor = 'phuhuynh.a' AND detail ->> 'scope' = 'account'",
        )
        == 1
    )


def test_an_unknown_name_is_throttled_like_a_real_one(client: TestClient) -> None:
    assert [attempt(client, "khong.co.ai", WRONG) for _ in range(10)] == [401] * 10
    assert attempt(client, "khong.co.ai", WRONG) == 429


def test_failures_before_the_window_or_before_a_sign_in_do_not_count(
    client: TestClient, conn: RequestTransactions
) -> None:
    add_user(conn, "phuhuynh.c", "parent")
    for _ in range(12):
        log_at(conn, "phuhuynh.c", "user.login_failed", 20, "10.9.9.9")
    assert attempt(client, "phuhuynh.c", PASSWORD) == 200, "failures 20 minutes ago"
    add_user(conn, "phuhuynh.d", "parent")
    for _ in range(9):
        log_at(conn, "phuhuynh.d", "user.login_failed", 10, "10.9.9.9")
    log_at(conn, "phuhuynh.d", "user.login", 5, "10.9.9.9")
    for _ in range(3):
        log_at(conn, "phuhuynh.d", "user.login_failed", 1, "10.9.9.9")
    assert attempt(client, "phuhuynh.d", PASSWORD) == 200, "9 failures were before a sign-in"
    add_user(conn, "phuhuynh.f", "parent")
    for _ in range(9):
        log_at(conn, "phuhuynh.f", "user.login_failed", 10, "10.9.9.9")
    log_at(conn, "phuhuynh.f", "user.login", 12, "10.9.9.9")
    log_at(conn, "phuhuynh.f", "user.login_failed", 1, "10.9.9.9")
    assert attempt(client, "phuhuynh.f", PASSWORD) == 429, "10 failures since the last sign-in"


def test_one_address_trying_many_accounts_is_throttled(
    client: TestClient, conn: RequestTransactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHOOLMAP_LOGIN_MAX_FAILURES_PER_ADDRESS", "6")
    add_user(conn, "phuhuynh.e", "parent")
    statuses = [attempt(client, f"doan.ten.{i}", WRONG) for i in range(6)]
    assert statuses == [401] * 6
    answer = client.post("/auth/login", json={"username": "phuhuynh.e", "password": PASSWORD})
    assert answer.status_code == 429
    assert "for this address" in answer.json()["detail"]
