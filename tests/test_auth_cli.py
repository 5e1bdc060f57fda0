"""`schoolmap user create` and `user list` as a person runs them, against their own database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gis_service import audit
from gis_service.auth.passwords import verify_password
from gis_service.db.connection import connect
from tests.conftest import recreate_database

SCHOOLMAP = str(Path(sys.executable).parent / "schoolmap")
PASSWORD = "mat-khau-quan-tri"


@pytest.fixture(scope="module")
def url() -> str:
    return recreate_database("schoolmap_test_auth_cli")


def schoolmap(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCHOOLMAP, "user", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": url},
        timeout=120,
        check=False,
    )


def test_the_first_city_admin_from_stdin(url: str) -> None:
    made = schoolmap(
        url, "create", "admin.so", "--role", "city_admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().endswith("admin.so (city_admin)")
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT password_hash, role FROM users WHERE username = 'admin.so'")
            stored, role = cur.fetchone()  # type: ignore[misc]
        logged = audit.entries(conn, action_prefix="user.create")
    finally:
        conn.close()
    assert role == "city_admin" and verify_password(stored, PASSWORD)
    assert [(e.actor, e.detail["username"]) for e in logged] == [("system", "admin.so")]
    listed = schoolmap(url, "list")
    assert listed.returncode == 0
    assert "admin.so" in listed.stdout and "city_admin" in listed.stdout


def test_the_password_is_asked_twice(url: str) -> None:
    same = schoolmap(
        url, "create", "quy.hoach", "--role", "planner", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert same.returncode == 0, same.stderr
    differ = schoolmap(
        url, "create", "quy.hoach2", "--role", "planner", stdin=f"{PASSWORD}\nsomething-else\n"
    )
    assert differ.returncode != 0
    assert "do not match" in differ.stdout + differ.stderr
    assert "quy.hoach2" not in schoolmap(url, "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x.y.z", "--role", "root"], "unknown role 'root'"),
        (["can.bo", "--role", "district_officer"], "needs an area"),
        (
            ["can.bo", "--role", "district_officer", "--area", "760"],
            "unknown code(s) in the 2019 units",
        ),
        (["admin.so", "--role", "planner"], "is taken"),
        (["ngan", "--role", "parent"], "at least 10 characters"),
    ],
)
def test_refusals_say_what_to_fix(url: str, args: list[str], message: str) -> None:
    password = "short\n" if args[0] == "ngan" else PASSWORD + "\n"
    result = schoolmap(url, "create", *args, "--password-stdin", stdin=password)
    assert result.returncode != 0
    assert message in result.stderr
