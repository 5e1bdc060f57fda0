"""A request id for every request: taken from X-Request-ID when harmless, else made here,
sent back in the response's X-Request-ID and put on every log line written while serving it."""

from __future__ import annotations

import re
import secrets

from starlette.types import Message, Receive, Scope, Send

from gis_service.api.asgi import HttpMiddleware
from gis_service.log_format import RequestContext, current_request
from gis_service.log_privacy import scrub

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,64}")
# What Starlette answers to an error no handler took; sent here so it carries the id.
_SERVER_ERROR = b"Internal Server Error"


def accepted_request_id(sent: str | None) -> str | None:
    """The client's id if it is short, plain and looks like nothing the privacy filter would
    hide (an identity code, a coordinate, a token): it is logged as sent."""
    if sent is None or _ACCEPTED.fullmatch(sent) is None or scrub(sent) != sent:
        return None
    return sent


def new_request_id() -> str:
    """A random id of 16 URL-safe characters."""
    while True:
        made = secrets.token_urlsafe(12)
        if accepted_request_id(made) == made:
            return made


def _sent_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == _HEADER_KEY:
            return value.decode("latin-1")
    return None


class RequestIds(HttpMiddleware):
    """Pure ASGI middleware (a BaseHTTPMiddleware would run the app in another task, where
    the context variable set here is not seen) setting `log_format.current_request`.

    It is left set when the app raises: the server logs that error after the app returns, in
    the request's own task, and its lines then carry the id too. A 500 for such an error is
    sent from here, with the id, when no response had begun.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = accepted_request_id(_sent_id(scope)) or new_request_id()
        header = (_HEADER_KEY, request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER_KEY]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = current_request.set(RequestContext(request_id))
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not started:
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(_SERVER_ERROR)).encode()),
                        ],
                    }
                )
                await send_with_id({"type": "http.response.body", "body": _SERVER_ERROR})
            raise
        current_request.reset(token)
