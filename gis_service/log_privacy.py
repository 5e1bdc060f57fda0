"""Keeps homes, typed addresses, identity codes, passwords and tokens out of the service's logs.

Two lines of defence, both in `PrivacyFilter`, which `logging_config` puts on every handler
the served app writes through:

1. The access log's request target is rebuilt from parts known to be harmless: query
   parameters that only choose what kind of answer is wanted keep their values, any other
   parameter keeps at most its name, path segments that could carry an identity code, a
   coordinate or a token become `*`, and map tiles finer than zoom 12 lose their x and y.
2. Every other message, exception text and stack is scrubbed of what looks like a coordinate,
   a long digit code, a bearer token or password, and of the values PostgreSQL and pydantic
   echo in their error messages. Free text such as an address has no shape to recognise, so
   it must never be logged; the second line only catches what has one.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from gis_service.log_format import JsonFormatter, LogFormat, RequestIdFilter

# Query parameters that choose the kind of answer (travel mode, level, page, format, planning
# options) and never a place, a person or free text. Their values are kept when they look
# harmless too. Everything else (lat, lon, from, bbox, ward, to_school, q, filename, tokens…)
# keeps only its name.
ALLOWED_QUERY_PARAMS = frozenset(
    {
        "assume_classes",
        "class_size",
        "district",
        "edition",
        "format",
        "geojson",
        "grade",
        "homes",
        "ids",
        "level",
        "limit",
        "minutes",
        "mode",
        "norm_m",
        "offset",
        "other",
        "ownership",
        "pending",
        "run",
        "simplify",
        "weight",
        "year",
        "years",
    }
)
# Tiles up to this zoom (about 10 km wide in Viet Nam) are logged whole; finer ones, which
# a map centred on a home asks for, keep only their zoom.
TILE_DETAIL_MAX_ZOOM = 12
HIDDEN = "*"

_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.,:-]{1,40}")
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_.~*-]{1,64}")
_PARAM_NAME = re.compile(r"[a-z][a-z_]{0,23}")
_TILE = re.compile(r"/tiles/(\d{1,2})/\d+/\d+\.pbf")
_ACCESS_ARGS = 5  # uvicorn's access record: client, method, target, HTTP version, status
_TARGET_ARG = 2
# Set on a record once filtered, so a record passing several handlers is rewritten once.
_CHECKED = "_privacy_checked"

_WORD = r"[A-Za-z0-9_-]"
_SECRET_KEY = r"\b\w{0,30}?(?:password|passwd|secret|token)\w{0,30}"
# (pattern, replacement), applied in this order.
_SCRUBS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A password in a URL's user part: postgresql://user:secret@host/db.
    (re.compile(r"(://[^\s:/@?#]*:)[^\s@/?#]+@"), r"\1***@"),
    # An Authorization header, or a bearer token however it is written.
    (
        re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+(?:\s+[^\s\"',}]+)?"),
        r"\1***",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    # password=…, "token": "…", access_token=…, password_hash=…
    (re.compile(rf"(?i)({_SECRET_KEY}[\"']?\s*[:=]\s*)([\"'])(?:\\.|(?!\2).)*\2"), r"\1\2***\2"),
    (re.compile(rf"(?i)({_SECRET_KEY}\s*[:=]\s*)(?![\"'*\s])[^\s\"'&,;)}}\]]+"), r"\1***"),
    # A random token on its own: 32+ URL-safe characters mixing digits, lower and upper case
    # (hexadecimal hashes, all lower case, stay readable).
    (
        re.compile(
            rf"(?<!{_WORD})(?={_WORD}*\d)(?={_WORD}*[a-z])(?={_WORD}*[A-Z]){_WORD}{{32,}}(?!{_WORD})"
        ),
        "[token]",
    ),
    # Values PostgreSQL echoes: Key (col)=(value), Failing row contains (…), invalid input
    # syntax for type integer: "value", and the statement line it quotes (bound values
    # included, psycopg2 binds them in the client).
    (re.compile(r"(?i)(\bkey \((?:[^()]|\([^()]*\))*\)=\()(?:[^()]|\([^()]*\))*\)"), r"\1***)"),
    (re.compile(r"(Failing row contains \().*"), r"\1***)"),
    (
        re.compile(r"(invalid input (?:syntax|value) for [^:\n]*: )\"(?:[^\"\n]|\"\")*\""),
        r'\1"***"',
    ),
    (re.compile(r"(?m)^(LINE \d+: ).*$"), r"\1***"),
    # What pydantic echoes in a validation error: input_value={'child_id': …}, input_type=dict
    (re.compile(r"(input_value=).*?(, input_type=)"), r"\1***\2"),
    # A coordinate pair (even at 3 decimals, ~100 m), then any lone number with 4+ decimals.
    (
        re.compile(r"(?<![\w.])-?\d{1,3}\.\d{3,}\s*(?:,|%2C|;|\s)\s*-?\d{1,3}\.\d{3,}(?!\d)", re.I),
        "[coord]",
    ),
    (re.compile(r"(?<![\w.])-?\d{1,3}\.\d{4,}(?!\d)"), "[coord]"),
    # Identity codes (CCCD 12 digits, CMND 9), phone numbers and the like: 9+ digits in a row.
    (re.compile(r"(?<!\d)\d{9,}(?!\d)"), "[id-code]"),
)


def scrub(text: str) -> str:
    """The text with coordinates, long digit codes, tokens, passwords and values echoed by
    the database or by validation errors replaced by markers."""
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return text


# Short texts the scrubber was found to leave as they are: the pieces of access-log lines
# (path segments, kept query values, methods, the rebuilt targets), which repeat from request
# to request. Only such texts are kept, so the set holds nothing the filter would hide; it is
# emptied when full.
_UNCHANGED: set[str] = set()
_UNCHANGED_MAX = 4096
_UNCHANGED_LONGEST = 200


def _scrub_piece(text: str) -> str:
    """`scrub` of a short piece of an access-log line, remembering those it leaves alone."""
    if text in _UNCHANGED:
        return text
    cleaned = scrub(text)
    if cleaned == text and len(text) <= _UNCHANGED_LONGEST:
        if len(_UNCHANGED) >= _UNCHANGED_MAX:
            _UNCHANGED.clear()
        _UNCHANGED.add(text)
    return cleaned


def _is_harmless(text: str, shape: re.Pattern[str]) -> bool:
    return shape.fullmatch(text) is not None and _scrub_piece(text) == text


def _safe_path(path: str) -> str:
    tile = _TILE.fullmatch(path)
    if tile and int(tile.group(1)) > TILE_DETAIL_MAX_ZOOM:
        return f"/tiles/{tile.group(1)}/{HIDDEN}/{HIDDEN}.pbf"
    segments = path.split("/")
    return "/".join(s if not s or _is_harmless(s, _SAFE_SEGMENT) else HIDDEN for s in segments)


def _safe_query(query: str) -> str:
    kept = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in ALLOWED_QUERY_PARAMS and _is_harmless(value, _SAFE_VALUE):
            kept.append(f"{name}={value}")
        elif _PARAM_NAME.fullmatch(name):
            kept.append(f"{name}={HIDDEN}")
    return "&".join(kept)


def safe_request_target(target: str) -> str:
    """The request target (path and query) as the access log may keep it."""
    path, mark, query = target.partition("?")
    return _scrub_piece(_safe_path(path) + mark + _safe_query(query))


class PrivacyFilter(logging.Filter):
    """Rewrites each record, in place, to hold nothing personal; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(_CHECKED):
            return True
        if record.name == "uvicorn.access" and _is_access_record(record):
            _clean_access_record(record)
        else:
            _clean_record(record)
        record.__dict__[_CHECKED] = True
        return True


def _is_access_record(record: logging.LogRecord) -> bool:
    return isinstance(record.args, tuple) and len(record.args) == _ACCESS_ARGS


def _clean_access_record(record: logging.LogRecord) -> None:
    assert isinstance(record.args, tuple)
    record.args = tuple(
        safe_request_target(str(arg))
        if index == _TARGET_ARG
        else _scrub_piece(arg)
        if isinstance(arg, str)
        else arg
        for index, arg in enumerate(record.args)
    )


def _clean_record(record: logging.LogRecord) -> None:
    record.msg = scrub(record.getMessage())
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


def logging_config(log_format: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's logging set-up with `PrivacyFilter` on each of its handlers, and the root
    logger (the app's own loggers, warnings and up) writing through the filtered one too.

    Each handler then puts the id of the request being served on its records; with
    `log_format` "json" every line is one JSON object (`log_format.JsonFormatter`). A handler
    formats a record only after all its filters, so the JSON holds what the privacy filter
    left and nothing else.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "privacy": {"()": PrivacyFilter},
        "request_id": {"()": RequestIdFilter},
    }
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "privacy", "request_id"]
    if log_format == "json":
        config["formatters"] = {name: {"()": JsonFormatter} for name in config["formatters"]}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
