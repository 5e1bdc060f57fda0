"""What the browser tests share: the real service on a free port, Debian's Chromium, copies of
the demo database, pages that collect script errors, the shared sign-in and screenshots."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = ROOT / "test-artifacts" / "web"
# Software WebGL: headless Chromium on a server has no GPU.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]


def number_shown(text: str) -> float:
    """A number as the Vietnamese page writes it ("1.036,5") or the English one ("1,036.5")."""
    word = text.split()[0]
    if "," in word and (word.rfind(",") > word.rfind(".")):
        return float(word.replace(".", "").replace(",", "."))
    return float(word.replace(",", ""))


SMALL_TARGETS = """() => {
  const wanted = "button, select, textarea, input:not([type=hidden]), nav a, summary, " +
    "[role=button], li[tabindex], tr[tabindex], label:has(> input[type=checkbox])";
  return [...document.querySelectorAll(wanted)].filter((el) => {
    if (el.matches("input[type=checkbox], input[type=radio]")) return false;  // their label is
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden") return false;
    return box.height < 44 || (box.width < 44 && !el.matches("li, tr"));
  }).map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}` +
    `${el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : ""}` +
    ` "${(el.textContent || el.value || el.placeholder || "").trim().slice(0, 20)}" ` +
    `${Math.round(el.getBoundingClientRect().width)}x${Math.round(el.getBoundingClientRect().height)}`);
}"""
"""Visible controls a finger hits less surely than a 44 x 44 px target (list rows: 44 px high)."""


def small_targets(page: Any) -> list[str]:
    """The page's visible tap targets smaller than 44 px, named for the failure message."""
    return list(page.evaluate(SMALL_TARGETS))


def accessibility_faults(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    import axe_playwright_python

    script = Path(axe_playwright_python.__file__).with_name("axe.min.js")
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(script))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) x{len(v['nodes'])}: "
        + "; ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(base: str, process: subprocess.Popen[Any], log: Path, timeout_s: float) -> None:
    """Return once `base`/health answers; fail with the server's log if it stops or is slow."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server did not start:\n" + log.read_text()) from None
            time.sleep(0.5)


@contextmanager
def served(database_url: str, home: Path) -> Iterator[str]:
    """`schoolmap serve` on a free port over a database; its base URL once it answers."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SCHOOLMAP_HOME": str(home)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "schoolmap"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"the server stopped: {output}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (no browser is downloaded)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "install Debian's chromium: scripts/setup.sh"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def copy_database(source_url: str, suffix: str) -> str:
    """A fresh copy of a database (CREATE DATABASE … TEMPLATE), so committed work stays there."""
    source = parse_dsn(source_url)["dbname"]
    target = source + suffix
    admin = psycopg2.connect(make_dsn(source_url, dbname="postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target))
            )
            for attempt in range(50):
                try:
                    cur.execute(
                        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                            sql.Identifier(target), sql.Identifier(source)
                        )
                    )
                    break
                except psycopg2.errors.ObjectInUse:
                    # Another test's connection to the demo database is closing.
                    if attempt == 49:
                        raise
                    time.sleep(0.2)
    finally:
        admin.close()
    return make_dsn(source_url, dbname=target)


def drop_database(url: str) -> None:
    admin = psycopg2.connect(make_dsn(url, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(parse_dsn(url)["dbname"])
            )
        )
    admin.close()


@contextmanager
def demo_copy_with_users(
    demo_db_url: str, suffix: str, users: list[dict[str, Any]]
) -> Iterator[str]:
    """A copy of the demo database holding these accounts (create_user's keywords), dropped
    when done: a browser story commits its work there."""
    from gis_service.auth.users import create_user
    from gis_service.db.connection import connect

    url = copy_database(demo_db_url, suffix)
    conn = connect(url)
    try:
        for user in users:
            create_user(conn, **user)
        conn.commit()
    finally:
        conn.close()
    try:
        yield url
    finally:
        drop_database(url)


def call(
    base: str,
    method: str,
    path: str,
    token: str | None = None,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One API request; the status and the decoded JSON answer."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def token_of(base: str, username: str, password: str) -> str:
    status, answer = call(
        base, "POST", "/auth/login", body={"username": username, "password": password}
    )
    assert status == 200, answer
    return str(answer["access_token"])


def new_page(
    browser: Any,
    server: str,
    width: int = 1280,
    height: int = 860,
    timezone_id: str | None = None,
) -> Any:
    """A page in its own context (its own sessionStorage, and the time zone if given),
    failing on script errors."""
    options: dict[str, Any] = {"timezone_id": timezone_id} if timezone_id else {}
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True, **options
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "request",
        lambda request: (
            errors.append(f"off-site request {request.url}")
            if not request.url.startswith((server, "data:", "blob:"))
            else None
        ),
    )
    page.errors = errors
    return page


def sign_in(page: Any, username: str, password: str) -> None:
    page.wait_for_selector("[data-testid=signin-form]")
    page.fill("[data-testid=signin-form] input[name=username]", username)
    page.fill("[data-testid=signin-form] input[name=password]", password)
    page.click("[data-testid=signin-form] button[data-action=login]")
    page.wait_for_selector("[data-testid=signed-in]")


def shot_into(folder: Path, page: Any, name: str, full_page: bool = False) -> Path:
    """A screenshot of the page as it is into `folder`, which axe-core must find accessible."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert not (faults := accessibility_faults(page)), f"{name}: " + "\n".join(faults)
    return path
