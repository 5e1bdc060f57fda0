"""Nothing personal reaches the service's logs: not a home's coordinates, a typed address, a
child's identity code, a password or a token, whichever endpoint it was sent to."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from uvicorn.logging import AccessFormatter

from benchmarks.load import serving
from gis_service import log_privacy
from gis_service.api.app import create_app
from gis_service.api.ogc_features import COLLECTION_ID
from gis_service.api.request_ids import HEADER, RequestIds, accepted_request_id, new_request_id
from gis_service.auth.users import create_user
from gis_service.db.connection import connect
from gis_service.log_format import JsonFormatter, RequestContext, RequestIdFilter, current_request
from gis_service.log_privacy import (
    ALLOWED_QUERY_PARAMS,
    PrivacyFilter,
    logging_config,
    safe_request_target,
    scrub,
)
from tests.browser_support import copy_database, drop_database, free_port

pytestmark = pytest.mark.timeout(300)

# ----------------------------------------------------------------------- the scrubbing rules

CHILD = "079219473815"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("DETAIL:  Key (child_id)=(079219473815) already exists.", CHILD),
        ("DETAIL:  Key (lower(address::text))=(12 hẻm kietlamvien) already exists.", "kietlam"),
        ("Key (a)=(1 Kietlamvien) conflicts with existing key (a)=(2 Kietlamvien).", "Kietlam"),
        ("DETAIL:  Failing row contains (7, 12 Hẻm Kietlamvien, null).", "Kietlamvien"),
        ('invalid input syntax for type integer: "12 Hẻm Kietlamvien"', "Kietlamvien"),
        ("LINE 1: ...WHERE address = '12 Hẻm Kietlamvien' AND x = 1", "Kietlamvien"),
        ("input_value={'child_id': 'an-7'}, input_type=dict]", "an-7"),
        ("home at POINT(106.70047183 10.77315920)", "106.70047"),
        ("home at 10.773, 106.700", "10.773"),
        ("from=10.7731592%2C106.70047183", "10.7731"),
        ("lat=10.7731 lon=106.7004", "10.7731"),
        (f"child {CHILD} rejected", CHILD),
        ("cannot connect to postgresql://schoolmap:s3cret-pw@db:5432/x", "s3cret-pw"),
        ("Authorization: Bearer Zm9vYmFyLXRva2VuLTEyMw", "Zm9vYmFy"),
        ("sent bearer Zm9vYmFyLXRva2VuLTEyMw", "Zm9vYmFy"),
        ("login password=mat-khau-rieng-99 failed", "mat-khau-rieng-99"),
        ('{"username": "me.an", "password": "mat khau co dau cach"}', "mat khau"),
        ("token tS9q_Xb2Lw8NcVr4mKp1Hf7Zd3Ya6Ue0Ji5Og2Qs", "tS9q_Xb2Lw8NcVr4"),
    ],
)
def test_scrub_removes_what_has_a_shape(line: str, secret: str) -> None:
    cleaned = scrub(line)
    assert secret not in cleaned, cleaned
    assert cleaned == scrub(cleaned)


@pytest.mark.parametrize(
    "line",
    [
        "Started server process [48213]",
        "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
        '127.0.0.1:51234 - "GET /schools?limit=5 HTTP/1.1" 200 OK',
        "worker process [123456] exited with code 1; starting another",
        "road networks not loaded at start-up: no network for mode walk",
        "answered in 0.125 s, 12345678 rows",
        "output_hash 3f2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a",
        "the sign-in token is unknown, expired or signed out",
    ],
)
def test_scrub_leaves_ordinary_lines_alone(line: str) -> None:
    assert scrub(line) == line


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        (
            "/schools/near?lat=10.7731592&lon=106.70047183&mode=walk&level=tieu_hoc&limit=5",
            "/schools/near?lat=*&lon=*&mode=walk&level=tieu_hoc&limit=5",
        ),
        ("/route?from=10.7731592%2C106.70047183&to_school=12", "/route?from=*&to_school=*"),
        ("/reach?lat=10.7731592&lon=106.70047183&minutes=5", "/reach?lat=*&lon=*&minutes=5"),
        ("/geocode?q=12%20H%E1%BA%BBm%20Kietlamvien&limit=5", "/geocode?q=*&limit=5"),
        ("/schools?bbox=106.70,10.77,106.71,10.78&q=le+loi", "/schools?bbox=*&q=*"),
        ("/auth/me?access_token=tS9q_Xb2Lw8NcVr4mKp1Hf7Zd3Ya6Ue0", "/auth/me?access_token=*"),
        ("/rounds/3/applicants?filename=Tran%20Thi%20An.csv", "/rounds/3/applicants?filename=*"),
        ("/wards?simplify=30&limit=9&ward=90001", "/wards?simplify=30&limit=9&ward=*"),
        (
            "/planning/gap?grade=1&year=2025&district=901",
            "/planning/gap?grade=1&year=2025&district=901",
        ),
        ("/rounds/1/runs/compare?run=1&run=2", "/rounds/1/runs/compare?run=1&run=2"),
        ("/x?limit=079219473815&mode=10.7731592", "/x?limit=*&mode=*"),
        ("/x?%E1%BA%BBm=1&10.7731,106.7004", "/x?"),
        ("/tiles/12/3264/1927.pbf", "/tiles/12/3264/1927.pbf"),
        ("/tiles/16/52234/30841.pbf", "/tiles/16/*/*.pbf"),
        (f"/applications/{CHILD}", "/applications/*"),
        ("/applications/42", "/applications/42"),
        ("/schools/near/10.7731592,106.70047183", "/schools/near/*"),
        ("/geocode/12%20H%E1%BA%BBm", "/geocode/*"),
        ("/web/vendor/maplibre-gl/maplibre-gl.js", "/web/vendor/maplibre-gl/maplibre-gl.js"),
    ],
)
def test_the_access_log_keeps_only_harmless_parts_of_a_request(target: str, logged: str) -> None:
    assert safe_request_target(target) == logged
    assert safe_request_target(logged) == logged


def test_the_access_log_remembers_only_the_pieces_it_leaves_alone() -> None:
    """Pieces of access lines the scrubber leaves alone are remembered so that the next
    request's are not scrubbed again: asked twice, a target is logged the same, nothing the
    filter hides is ever remembered, and what is remembered stays bounded."""
    log_privacy._UNCHANGED.clear()
    targets = [
        "/schools/near?lat=10.7731592&lon=106.70047183&mode=walk&level=tieu_hoc&limit=5",
        f"/applications/{CHILD}",
        "/x?limit=079219473815&mode=10.7731592",
        "/auth/me?access_token=tS9q_Xb2Lw8NcVr4mKp1Hf7Zd3Ya6Ue0",
        "/tiles/16/52234/30841.pbf",
    ]
    first = [safe_request_target(t) for t in targets]
    assert [safe_request_target(t) for t in targets] == first
    remembered = set(log_privacy._UNCHANGED)
    assert {"schools", "near", "walk", "tieu_hoc", "5"} <= remembered
    assert all(scrub(text) == text for text in remembered)
    for secret in (CHILD, "079219473815", "10.7731592", "106.70047183", "tS9q_Xb2Lw8NcVr4"):
        assert not any(secret in text for text in remembered), secret
    for n in range(log_privacy._UNCHANGED_MAX + 10):
        safe_request_target(f"/schools/{n}")
    assert len(log_privacy._UNCHANGED) <= log_privacy._UNCHANGED_MAX
    assert safe_request_target(targets[0]) == first[0]


def test_the_allow_list_names_api_parameters_that_locate_nobody() -> None:
    schema = create_app().openapi()
    query_params = set()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "query":
                    query_params.add(param["name"])
                if param["in"] == "path":
                    # A path segment is logged as sent: none may carry text, a code or a place
                    # (a collection's id is a short lower-case name, nothing else).
                    kind = param["schema"]["type"], param["schema"].get("pattern")
                    assert kind in {("integer", None), ("string", COLLECTION_ID)}, (path, kind)
    assert query_params >= ALLOWED_QUERY_PARAMS
    personal = {"lat", "lon", "from", "bbox", "q", "ward", "to_school", "filename"}
    assert personal <= query_params and not personal & ALLOWED_QUERY_PARAMS


def filtered_output(
    formatter: logging.Formatter, copies: int = 2
) -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through `copies` handlers with the privacy filter, then the request-id
    filter (as `logging_config` sets them), into one buffer."""
    out = io.StringIO()
    logger = logging.getLogger(f"tests.log_privacy.{uuid.uuid4().hex}")
    logger.propagate = False
    for _ in range(copies):
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        handler.addFilter(PrivacyFilter())
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
    return logger, out


def test_the_filter_rewrites_uvicorn_access_records() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    handler.addFilter(PrivacyFilter())
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/reach?lat=10.7731592&lon=106.70047183&minutes=5", "1.1", 200),
        None,
    )
    handler.handle(record)
    assert out.getvalue() == '127.0.0.1:5000 - "GET /reach?lat=*&lon=*&minutes=5 HTTP/1.1" 200 OK\n'


def test_the_filter_scrubs_application_messages_and_tracebacks() -> None:
    logger, out = filtered_output(logging.Formatter("%(levelname)s %(message)s"))
    try:
        raise RuntimeError(
            'duplicate key value violates unique constraint "x"\n'
            f"DETAIL:  Key (child_id)=({CHILD}) already exists."
        )
    except RuntimeError:
        logger.exception("could not store the home at %s,%s", 10.7731592, 106.70047183)
    logger.warning("signed in with Bearer %s", "tS9q_Xb2Lw8NcVr4mKp1Hf7Zd3Ya6Ue0Ji5Og2Qs")
    text = out.getvalue()
    for secret in (CHILD, "10.7731592", "106.7004", "tS9q_Xb2"):
        assert secret not in text, text
    # Both handlers wrote the same scrubbed lines; the traceback is kept, minus the value.
    assert text.count("ERROR could not store the home at [coord]") == 2
    assert text.count("Key (child_id)=(***) already exists.") == 2
    assert "Traceback (most recent call last)" in text


def test_the_logging_config_filters_every_handler_and_the_root_logger() -> None:
    config = logging_config()
    assert all("privacy" in h["filters"] for h in config["handlers"].values())
    assert config["root"]["handlers"]
    # Applied in a process of its own, as a worker does: an app logger's warning is scrubbed.
    script = (
        "import logging, logging.config\n"
        "from gis_service.log_privacy import logging_config\n"
        "logging.config.dictConfig(logging_config())\n"
        "logging.getLogger('gis_service.api.app').warning('home %s', '10.7731592,106.70047183')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "home [coord]" in done.stderr and "10.773" not in done.stderr + done.stdout


# -------------------------------------------------------------- JSON lines and request ids


def json_lines(text: str) -> list[dict[str, object]]:
    """Each line of the text parsed as one JSON object (failing on any other line)."""
    return [json.loads(line) for line in text.splitlines()]


def access_record(target: str, status: int = 200) -> logging.LogRecord:
    """An access record as uvicorn makes it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", target, "1.1", status),
        None,
    )


def test_json_lines_carry_the_request_and_only_what_the_filter_left() -> None:
    logger, out = filtered_output(JsonFormatter(), copies=1)
    handler = logger.handlers[0]
    token = current_request.set(RequestContext("req-7.a_B", started=0.0))
    try:
        try:
            raise RuntimeError(f"DETAIL:  Key (child_id)=({CHILD}) already exists.")
        except RuntimeError:
            logger.exception("could not store the home at %s,%s", 10.7731592, 106.70047183)
        handler.handle(access_record(f"/applications/{CHILD}?q=12+H%E1%BA%BBm+Kietlamvien", 404))
    finally:
        current_request.reset(token)
    logger.warning("outside any request")
    text = out.getvalue()
    for secret in (CHILD, "10.7731592", "106.7004", "Kietlamvien", "H%E1%BA%BBm"):
        assert secret not in text, text
    error, access, outside = json_lines(text)
    assert error["level"] == "ERROR" and error["logger"] == logger.name
    assert error["message"] == "could not store the home at [coord]"
    assert "Key (child_id)=(***) already exists." in str(error["exception"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(error["time"]))
    assert error["request_id"] == access["request_id"] == "req-7.a_B"
    assert access["method"] == "GET"
    assert access["path"] == "/applications/*?q=*"
    assert access["status"] == 404
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] > 0
    assert "request_id" not in outside and "duration_ms" not in outside


def test_the_json_logging_config_scrubs_before_it_writes() -> None:
    config = logging_config("json")
    assert all(f["()"] is JsonFormatter for f in config["formatters"].values())
    for handler in config["handlers"].values():
        assert handler["filters"] == ["privacy", "request_id"]
    script = (
        "import logging, logging.config\n"
        "from gis_service.log_privacy import logging_config\n"
        "logging.config.dictConfig(logging_config('json'))\n"
        "logging.getLogger('gis_service.api.app').warning('home %s', '10.7731592,106.70047183')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    (line,) = json_lines(done.stderr)
    assert line["message"] == "home [coord]" and line["logger"] == "gis_service.api.app"


@pytest.mark.parametrize(
    "sent",
    ["0f8fa3c2-8a9e-4c52-9bd7-1f1d1bd5f1e2", "a", "trace.42_B-c", "x" * 64],
)
def test_a_plain_request_id_is_kept(sent: str) -> None:
    assert accepted_request_id(sent) == sent


@pytest.mark.parametrize(
    "sent",
    [
        None,
        "",
        "x" * 65,
        "has space",
        "semi;colon",
        "Hẻm",
        CHILD,
        f"id-{CHILD}",
        "10.7731592",
        "tS9q_Xb2Lw8NcVr4mKp1Hf7Zd3Ya6Ue0Ji5Og2Qs",
    ],
)
def test_a_request_id_that_could_carry_something_is_replaced(sent: str | None) -> None:
    assert accepted_request_id(sent) is None


def test_new_request_ids_are_plain_and_differ() -> None:
    made = {new_request_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(accepted_request_id(one) == one for one in made)


def app_logging_in_requests(logger: logging.Logger) -> FastAPI:
    """A small app behind the request-id middleware whose routes log, on the event loop and
    in a worker thread, and fail."""
    app = FastAPI()
    app.add_middleware(RequestIds)

    @app.get("/async/{code}")
    async def logs_on_the_loop(code: str) -> dict[str, str]:
        logger.warning("asked for %s", code)
        return {}

    @app.get("/sync/{code}")
    def logs_in_a_thread(code: str) -> dict[str, str]:
        logger.warning("asked for %s", code)
        return {}

    @app.get("/fails")
    def fails() -> None:
        raise RuntimeError(f"child {CHILD}")

    return app


def test_every_line_logged_in_a_request_carries_its_id() -> None:
    logger, out = filtered_output(JsonFormatter(), copies=1)
    app = app_logging_in_requests(logger)
    with TestClient(app, raise_server_exceptions=False) as client:
        kept = client.get(f"/async/{CHILD}", headers={HEADER: "trace-1"})
        made = client.get(f"/sync/{CHILD}", headers={HEADER: CHILD})
        failed = client.get("/fails", headers={HEADER: "trace-3"})
    assert kept.headers[HEADER] == "trace-1"
    assert made.headers[HEADER] != CHILD and accepted_request_id(made.headers[HEADER])
    assert failed.status_code == 500 and failed.headers[HEADER] == "trace-3"
    assert failed.text == "Internal Server Error"
    lines = json_lines(out.getvalue())
    assert [line["request_id"] for line in lines] == ["trace-1", made.headers[HEADER]]
    assert all(line["message"] == "asked for [id-code]" for line in lines)
    assert current_request.get() is None


def test_the_app_answers_with_a_request_id(client: TestClient) -> None:
    first = client.get("/schools", params={"limit": 1})
    second = client.get("/schools", params={"limit": 1}, headers={HEADER: "from-the-proxy"})
    assert accepted_request_id(first.headers[HEADER]) == first.headers[HEADER]
    assert second.headers[HEADER] == "from-the-proxy"


def test_served_json_lines_carry_each_request_id_and_nothing_personal(
    demo_db_url: str, demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests with an identity code, a home and an address in their path or query, each
    with an id of its own (the last with an identity code as its id, which is replaced)."""
    needles, school = home_and_school(demo_db_url)
    home = {"lat": needles.lat_text, "lon": needles.lon_text}
    requests = [
        (f"/applications/{needles.child_id}", {}, 401),
        ("/schools/near", {**home, "mode": "walk", "child": needles.child_id}, 200),
        ("/reach", {**home, "minutes": "5"}, 200),
        ("/route", {"from": f"{needles.lat_text},{needles.lon_text}", "to_school": school}, 200),
        ("/geocode", {"q": needles.address}, 200),
        (f"/geocode/{quote(needles.address)}", {}, 404),
        (f"/schools/near/{needles.lat_text},{needles.lon_text}", {}, 404),
        (f"/schools/{needles.child_id}", {"code": needles.child_id}, 404),
    ]
    monkeypatch.setenv("SCHOOLMAP_LOG_FORMAT", "json")
    port = free_port()
    log = demo_home / f"serve-{port}.log"
    start = log.stat().st_size if log.exists() else 0
    answered = []
    with (
        serving(demo_db_url, demo_home, port, workers=2),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
    ):
        for number, (path, params, status) in enumerate(requests):
            sent = f"privacy-check-{number}"
            got = expect(client.get(path, params=params, headers={HEADER: sent}), status)
            assert got.headers[HEADER] == sent
            answered.append(sent)
        got = expect(client.get("/schools/near", params=home, headers={HEADER: CHILD}), 200)
        answered.append(got.headers[HEADER])
    written = log.read_bytes()[start:].decode("utf-8", errors="replace")
    # `schoolmap serve` prints where it serves before logging starts; every other line is JSON.
    lines = json_lines("\n".join(x for x in written.splitlines() if not x.startswith("schoolmap")))
    access = {line["request_id"]: line for line in lines if line["logger"] == "uvicorn.access"}
    for number, (path, _, status) in enumerate(requests):
        line = access[answered[number]]
        assert (line["method"], line["status"]) == ("GET", status), line
        assert str(line["path"]).startswith(safe_request_target(path)), line
        assert isinstance(line["duration_ms"], float), line
    assert access[answered[-1]]["path"] == "/schools/near?lat=*&lon=*"
    assert CHILD not in answered
    decoded = json.dumps(lines, ensure_ascii=False)
    leaks = {
        name: value
        for name, value in needles.forms().items()
        if value and (value in written or value in decoded)
    }
    assert not leaks, written


# ------------------------------------------------------------------------ the served service


OFFICER, OFFICER_PASSWORD = "can.bo.nhat.ky", "Mk-rieng-can-bo-5512"
ADMIN, ADMIN_PASSWORD = "quan.tri.nhat.ky", "Mk-rieng-quan-tri-6604"
PARENT = "phu.huynh.nhat.ky"


@dataclass
class Needles:
    """The personal values sent to the served app, and where each may not show up."""

    lon_text: str
    lat_text: str
    address: str = "4729 Hẻm Kietlamvien, Phường Hòa Bình"
    child_id: str = "079219473815"
    sibling_id: str = "079217552904"
    uploaded_child_id: str = "079219660412"
    file_name: str = "Danh sach Tranthiquynh.csv"
    parent_password: str = "Mk-rieng-phu-huynh-2719"
    wrong_password: str = "Mk-sai-phu-huynh-8830"
    officer_password: str = OFFICER_PASSWORD
    admin_password: str = ADMIN_PASSWORD
    staff_password: str = "Mk-rieng-nhan-vien-3317"
    tokens: list[str] = field(default_factory=list)
    tile_path: str = ""

    @property
    def lon(self) -> float:
        return float(self.lon_text)

    @property
    def lat(self) -> float:
        return float(self.lat_text)

    def forms(self) -> dict[str, str]:
        """Each value in every form a log could hold it: coordinates at full precision and
        at 4 and 5 decimals (rounded and cut), the address as typed and URL-encoded."""
        found = {}
        for name, value in (("lon", self.lon), ("lat", self.lat)):
            text = self.lon_text if name == "lon" else self.lat_text
            found[f"{name} as sent"] = text
            for places in (4, 5):
                found[f"{name} rounded to {places}"] = f"{value:.{places}f}"
                found[f"{name} cut to {places}"] = text[: text.index(".") + places + 1]
        found["address word"] = "Kietlamvien"
        for name, encode in (("address", str), ("quoted", quote), ("quoted+", quote_plus)):
            found[f"{name} address"] = encode(self.address)
            found[f"{name} street"] = encode("Hẻm Kietlamvien")
        found["file name"] = "Tranthiquynh"
        for name in (
            "child_id",
            "sibling_id",
            "uploaded_child_id",
            "parent_password",
            "wrong_password",
            "officer_password",
            "admin_password",
            "staff_password",
        ):
            found[name] = str(getattr(self, name))
        for number, token in enumerate(self.tokens):
            found[f"token {number}"] = token
        found["fine tile"] = self.tile_path
        return found


@pytest.fixture
def privacy_db_url(demo_db_url: str) -> Iterator[str]:
    """A copy of the demo city with an officer of district 901 and a city administrator."""
    url = copy_database(demo_db_url, "_log_privacy")
    conn = connect(url)
    try:
        create_user(
            conn,
            username=OFFICER,
            password=OFFICER_PASSWORD,
            role="district_officer",
            area=["901"],
        )
        create_user(conn, username=ADMIN, password=ADMIN_PASSWORD, role="city_admin")
        conn.commit()
    finally:
        conn.close()
    yield url
    drop_database(url)


def home_and_school(url: str) -> tuple[Needles, int]:
    """A home inside district 901's first ward, with coordinates no log line could hold by
    chance, and a primary school of that district."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(w.geom) AS p "
                "FROM admin_units w JOIN admin_units d ON d.id = w.parent_id "
                "WHERE d.code = '901' ORDER BY w.code LIMIT 1) x"
            )
            lon, lat = cur.fetchone()  # type: ignore[misc]
            cur.execute(
                "SELECT s.id FROM schools s JOIN admin_units w ON ST_Covers(w.geom, s.geom) "
                "JOIN admin_units d ON d.id = w.parent_id "
                "WHERE d.code = '901' AND 'tieu_hoc' = ANY(s.levels) ORDER BY s.id LIMIT 1"
            )
            school = cur.fetchone()[0]  # type: ignore[index]
    finally:
        conn.close()
    return Needles(lon_text=f"{lon:.3f}47183", lat_text=f"{lat:.3f}31592"), int(school)


def tile_at(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The Web Mercator tile holding a point."""
    side = 1 << zoom
    x = int((lon + 180.0) / 360.0 * side)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * side)
    return x, y


def expect(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, (response.request.url.path, response.text)
    return response


def sign_in(client: httpx.Client, needles: Needles, username: str, password: str) -> dict[str, str]:
    token = expect(
        client.post("/auth/login", json={"username": username, "password": password}), 200
    ).json()["access_token"]
    needles.tokens.append(token)
    return {"Authorization": f"Bearer {token}"}


def search_near_home(client: httpx.Client, needles: Needles, school: int) -> None:
    """The public map's calls that carry a home: near-home schools, reach, route, the map
    around it, and a typed address."""
    home = {"lat": needles.lat_text, "lon": needles.lon_text}
    expect(client.get("/schools/near", params={**home, "mode": "walk", "level": "tieu_hoc"}), 200)
    expect(client.get("/reach", params={**home, "minutes": "5"}), 200)
    route = {"from": f"{needles.lat_text},{needles.lon_text}", "to_school": str(school)}
    expect(client.get("/route", params=route), 200)
    bbox = f"{needles.lon_text},{needles.lat_text},{needles.lon + 0.01},{needles.lat + 0.01}"
    expect(client.get("/schools", params={"bbox": bbox}), 200)
    x, y = tile_at(needles.lon, needles.lat, 16)
    needles.tile_path = f"/16/{x}/{y}.pbf"
    expect(client.get(f"/tiles{needles.tile_path}"), 200)
    expect(client.get("/geocode", params={"q": needles.address}), 200)
    # What a careless client might send: the home in the path, an identity code as an id.
    expect(client.get(f"/schools/near/{needles.lat_text},{needles.lon_text}"), 404)


def apply_as_a_parent(client: httpx.Client, needles: Needles, round_id: int) -> None:
    """A parent registers, signs in (once wrongly), applies, and reads the application back."""
    account = {"username": PARENT, "password": needles.parent_password}
    expect(client.post("/auth/register", json=account), 201)
    wrong = {"username": PARENT, "password": needles.wrong_password}
    expect(client.post("/auth/login", json=wrong), 401)
    parent = sign_in(client, needles, PARENT, needles.parent_password)
    expect(client.get("/auth/me", headers=parent), 200)
    expect(client.get("/auth/me", params={"access_token": needles.tokens[-1]}), 401)
    body = {
        "child_id": needles.child_id,
        "birth_date": "2019-06-01",
        "lon": needles.lon,
        "lat": needles.lat,
        "address": needles.address,
        "sibling_child_id": needles.sibling_id,
    }
    submit = f"/rounds/{round_id}/applications"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    made = expect(client.post(submit, json=body, headers={**parent, **key}), 201).json()
    by_address = {**body, "lon": None, "lat": None, "child_id": needles.uploaded_child_id}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    expect(client.post(submit, json=by_address, headers={**parent, **key}), 400)
    expect(client.get("/applications", headers=parent), 200)
    expect(client.get(f"/applications/{made['id']}", headers=parent), 200)
    expect(client.get(f"/applications/{needles.child_id}", headers=parent), 404)
    expect(client.post("/auth/logout", headers=parent), 204)


def applicants_file(needles: Needles) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["child_id", "birth_date", "lon", "lat", "address"])
    writer.writerow(
        [needles.uploaded_child_id, "2019-03-02", needles.lon_text, needles.lat_text, "x"]
    )
    return out.getvalue().encode()


def open_a_round(client: httpx.Client, officer: dict[str, str]) -> int:
    """An officer creates and opens a round of district 901; its id."""
    new_round = {"name": "Lớp 1", "grade": 1, "school_year": "2025-2026", "districts": ["901"]}
    round_id = int(
        expect(client.post("/rounds", json=new_round, headers=officer), 201).json()["id"]
    )
    expect(client.post(f"/rounds/{round_id}/open", headers=officer), 200)
    return round_id


def import_run_and_export(
    client: httpx.Client, needles: Needles, officer: dict[str, str], round_id: int
) -> None:
    """The officer uploads applicants, closes the round, runs it and exports the run."""
    upload = f"/rounds/{round_id}/applicants"
    headers = {**officer, "Content-Type": "text/csv"}
    sent = applicants_file(needles)
    params = {"filename": needles.file_name}
    expect(client.post(upload, content=sent, params=params, headers=headers), 200)
    expect(client.post(f"/rounds/{round_id}/close", headers=officer), 200)
    made = client.post(f"/rounds/{round_id}/runs", json={"seed": 7}, headers=officer)
    run_id = expect(made, 201).json()["id"]
    for form in ("csv", "geojson"):
        export = f"/rounds/{round_id}/runs/{run_id}/export"
        asked = {"format": form} if form == "csv" else {"format": form, "homes": "true"}
        expect(client.get(export, params=asked, headers=officer), 200)


def make_an_account(client: httpx.Client, needles: Needles) -> None:
    admin = sign_in(client, needles, ADMIN, needles.admin_password)
    staff = {"username": "quy.hoach.nhat.ky", "password": needles.staff_password, "role": "planner"}
    expect(client.post("/users", json=staff, headers=admin), 201)


def drive_every_personal_endpoint(base: str, needles: Needles, school: int) -> None:
    """Every endpoint that takes a home, an address, an identity code, a password or a token,
    each request on a new connection so that all workers answer some."""
    with httpx.Client(base_url=base, timeout=120, headers={"Connection": "close"}) as client:
        search_near_home(client, needles, school)
        officer = sign_in(client, needles, OFFICER, needles.officer_password)
        round_id = open_a_round(client, officer)
        apply_as_a_parent(client, needles, round_id)
        import_run_and_export(client, needles, officer, round_id)
        make_an_account(client, needles)


# Requests the access log must show (with their query or id hidden): proof it was captured.
LOGGED_REQUESTS = [
    '"GET /schools/near?lat=*&lon=*&mode=walk&level=tieu_hoc HTTP/1.1" 200',
    '"GET /reach?lat=*&lon=*&minutes=5 HTTP/1.1" 200',
    '"GET /route?from=*&to_school=* HTTP/1.1" 200',
    '"GET /schools?bbox=* HTTP/1.1" 200',
    '"GET /tiles/16/*/*.pbf HTTP/1.1" 200',
    '"GET /geocode?q=* HTTP/1.1" 200',
    '"GET /schools/near/* HTTP/1.1" 404',
    '"POST /auth/register HTTP/1.1" 201',
    '"POST /auth/login HTTP/1.1" 401',
    '"GET /auth/me?access_token=* HTTP/1.1" 401',
    '"GET /applications/* HTTP/1.1" 404',
    '"GET /applications HTTP/1.1" 200',
    '"POST /rounds/{id}/applicants?filename=* HTTP/1.1" 200',
    '"GET /rounds/{id}/runs/{id}/export?format=geojson&homes=true HTTP/1.1" 200',
    '"POST /users HTTP/1.1" 201',
]


def logged(request: str, lines: list[str]) -> bool:
    """Whether a log line holds the request, {id} standing for any number."""
    pattern = re.compile(re.escape(request).replace(re.escape("{id}"), r"\d+"))
    return any(pattern.search(line) for line in lines)


@pytest.mark.parametrize(
    ("workers", "log_format"),
    [(1, "text"), (2, "text"), (2, "json")],
    ids=["one-process", "two-workers", "two-workers-json"],
)
def test_nothing_personal_reaches_the_served_logs(
    privacy_db_url: str,
    demo_home: Path,
    workers: int,
    log_format: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needles, school = home_and_school(privacy_db_url)
    monkeypatch.setenv("SCHOOLMAP_LOG_FORMAT", log_format)
    port = free_port()
    # `serving` sends the supervisor's and the workers' stdout and stderr to this file.
    log = demo_home / f"serve-{port}.log"
    start = log.stat().st_size if log.exists() else 0
    with serving(privacy_db_url, demo_home, port, workers=workers):
        drive_every_personal_endpoint(f"http://127.0.0.1:{port}", needles, school)
    written = log.read_bytes()[start:].decode("utf-8", errors="replace")
    lines = written.splitlines()
    if log_format == "json":
        # Each line an object (but the address `schoolmap serve` prints); read their messages.
        records = json_lines("\n".join(x for x in lines if not x.startswith("schoolmap")))
        lines = [str(record["message"]) for record in records]
        written += "\n".join(lines)
    # The access log was on and captured: each request shows, whatever its query.
    unseen = [
        r for r in LOGGED_REQUESTS if not logged(r.partition("?")[0].partition("*")[0], lines)
    ]
    assert not unseen, f"not in the access log: {unseen}\n{written}"
    leaks = {
        name: [line for line in lines if value in line]
        for name, value in needles.forms().items()
        if value in written
    }
    assert not leaks, json.dumps(leaks, ensure_ascii=False, indent=1)
    # What the access log keeps of them.
    missing = [request for request in LOGGED_REQUESTS if not logged(request, lines)]
    assert not missing, f"not in the access log: {missing}\n{written}"
