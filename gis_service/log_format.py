"""How log lines are written: as text, or one JSON object a line carrying its request's id.

The request being served is kept in a context variable (`current_request`, set by the API's
request-id middleware); `RequestIdFilter` copies its id onto every record logged while it is
served, and the access line's time since the request arrived. `JsonFormatter` writes only
named fields of a record, never its extras, after `PrivacyFilter` has cleaned it: the
handlers of `log_privacy.logging_config` run that filter first, and formatting always comes
after every filter of a handler.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

ACCESS_LOGGER = "uvicorn.access"
# uvicorn's access record: client, method, target, HTTP version, status.
_ACCESS_ARGS = 5


@dataclass(frozen=True)
class RequestContext:
    """The request being served: its id, and when it arrived (seconds since the epoch)."""

    request_id: str
    started: float = field(default_factory=time.time)


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)
"""The request the running code serves, None outside of one."""


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on each record logged while a request is served, and on the access
    line `duration_ms`: from the request's arrival to the record (uvicorn writes the access
    line as the response's status line is sent). Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = current_request.get()
        if request is not None:
            record.request_id = request.request_id
            if record.name == ACCESS_LOGGER:
                record.duration_ms = round(max(0.0, record.created - request.started) * 1000, 1)
        return True


def _utc_time(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, request_id in a
    request; on access lines method, path (the target as the privacy filter kept it), status
    and duration_ms; exception and stack when the record has them (already scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = record.__dict__.get("request_id")
        if isinstance(request_id, str):
            line["request_id"] = request_id
        args = record.args
        if record.name == ACCESS_LOGGER and isinstance(args, tuple) and len(args) == _ACCESS_ARGS:
            line["method"] = str(args[1])
            line["path"] = str(args[2])
            line["status"] = args[4]
            duration = record.__dict__.get("duration_ms")
            if isinstance(duration, float):
                line["duration_ms"] = duration
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)
