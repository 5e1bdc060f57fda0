"""What the public map weighs on a phone's connection, and how long a parent waits for it.

Run: .venv/bin/python benchmarks/page_weight.py [--database NAME] [--mbps 1.6] [--latency-ms 150]
It loads the demo city into a fresh database (default schoolmap_bench_page), serves it, and
opens the map in Debian's Chromium under Chromium's network emulation, twice in one run: once
taking answers as they are (Accept-Encoding: identity, the baseline) and once as the browser
asks by itself (gzip). For each it prints the bytes sent over the network, the requests, the
time until the map shows every school, and the time until a typed address lists the schools
nearest by road (the first answer a parent waits for).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.officer_path import fresh_database  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, served  # noqa: E402

SCHOOLMAP = str(ROOT / ".venv" / "bin" / "schoolmap")
ADDRESS = "24 Le Loi"


def visit(browser: Any, base: str, encoding: str | None, mbps: float, latency_ms: float) -> dict:
    """One cold visit: the map, then an address typed and the schools near it."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": latency_ms,
            "downloadThroughput": mbps * 1e6 / 8,
            "uploadThroughput": mbps * 1e6 / 8 / 2,
        },
    )
    if encoding:
        cdp.send("Network.setExtraHTTPHeaders", {"headers": {"Accept-Encoding": encoding}})
    sent = {"bytes": 0, "requests": 0, "gzipped": 0}
    cdp.on(
        "Network.loadingFinished",
        lambda event: sent.update(bytes=sent["bytes"] + event["encodedDataLength"]),
    )

    def answered(event: dict) -> None:
        sent["requests"] += 1
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        sent["gzipped"] += headers.get("content-encoding") == "gzip"

    cdp.on("Network.responseReceived", answered)
    started = time.perf_counter()
    page.goto(base + "/#/map")
    page.wait_for_selector("body[data-ready=yes]", timeout=120_000)
    ready = time.perf_counter() - started
    map_bytes = sent["bytes"]
    page.fill("#home-address", ADDRESS)
    asked = time.perf_counter()
    page.click("#home-form button")
    page.wait_for_selector("[data-testid=near-row]", timeout=120_000)
    answer = time.perf_counter() - asked
    page.wait_for_timeout(500)
    context.close()
    return {**sent, "map_bytes": map_bytes, "ready_s": ready, "answer_s": answer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="schoolmap_bench_page")
    parser.add_argument("--mbps", type=float, default=1.6)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    url = fresh_database(args.database)
    home = Path(tempfile.mkdtemp(prefix="page-weight-"))
    env = {**os.environ, "DATABASE_URL": url, "SCHOOLMAP_HOME": str(home)}
    subprocess.run(
        [SCHOOLMAP, "demo", "--no-serve", "--port", str(free_port())],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    rows = []
    with served(url, home) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for label, encoding in (("as they are (identity)", "identity"), ("gzip", None)):
            rows.append((label, visit(browser, base, encoding, args.mbps, args.latency_ms)))
        browser.close()
    print(
        f"\nThe public map at phone size, {args.mbps} Mbps, {args.latency_ms:.0f} ms latency, "
        "no cache (Chromium's network emulation; demo city)"
    )
    print(
        f"{'answers':<24}{'requests':>9}{'gzipped':>9}{'map KB':>9}{'total KB':>10}"
        f"{'map ready':>11}{'first answer':>14}"
    )
    for label, seen in rows:
        print(
            f"{label:<24}{seen['requests']:>9}{seen['gzipped']:>9}{seen['map_bytes'] / 1024:>9.0f}"
            f"{seen['bytes'] / 1024:>10.0f}{seen['ready_s']:>10.1f}s{seen['answer_s']:>13.1f}s"
        )
    base_row, packed = rows[0][1], rows[1][1]
    print(
        f"gzip: {base_row['bytes'] / max(packed['bytes'], 1):.1f}x fewer bytes, map ready "
        f"{base_row['ready_s'] / max(packed['ready_s'], 1e-9):.1f}x sooner"
    )


if __name__ == "__main__":
    main()
