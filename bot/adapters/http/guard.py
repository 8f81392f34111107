"""The two ASGI layers in front of every route of `fireline serve`: a body-size guard and a last-resort 500.

`BodyLimit` refuses a request body over its route's limit before it is held in memory: on a declared
`Content-Length` above the limit at once (413), and on a streamed body (chunked, or a Content-Length
that lies) as soon as the bytes received pass the limit (413, and the connection is closed so the rest
is never read). A Content-Length that is not a whole number of bytes is a 400. Why one guard in front
of everything: each handler used to read the whole body and only then compare it with its limit; an
unsigned request streaming 400 MB took the server from 115 MB to 857 MB before its 413.
The limits are per route (`limit_body(route, n)`; Slack's endpoint 1 MB, anything else
`DEFAULT_MAX_BODY`), so a route added later is covered without doing anything.

Measured (bench/oversized_body.py): an unsigned 100 MB body streamed at `fireline serve` now peaks at
1.01x its idle size (+1.3 MB; it was 2.22x, +200 MB); both layers together cost ~6 us per request
on the 2-core machine (a microbenchmark of an ASGI call through them), about 0.5% of an ack's p50.

`ServerErrors` turns an exception nobody handled into a plain 500 (`{"error": "Internal Server Error"}`,
no traceback), logs it once (through the redacting
log handler) and counts every 500 in `fireline_http_server_errors_total{endpoint}`, so a 500 of any
cause shows on /metrics instead of only in uvicorn's log.
"""

from __future__ import annotations

import json
import logging

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core import metrics

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 512 * 1024  # the webhooks' limit; Slack's endpoint declares its own
MAX_DIGITS = 18  # a Content-Length longer than this is no size a client means (and int() of it is not free)


def limit_body(route: BaseRoute, max_body: int) -> BaseRoute:
    """Declare the largest body `route` takes (read by BodyLimit); returns the route."""
    route.max_body = max_body  # type: ignore[attr-defined]
    return route


class BodyTooLarge(Exception):
    """Raised from receive() when the body passes its limit after the app had already started answering."""


def _answer(status: int, text: str, close: bool = False) -> list[Message]:
    """A refusal as the webhooks word theirs, {"error": "..."}, as raw ASGI messages."""
    body = json.dumps({"error": text}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body is never read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    return [{"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body}]


def declared_length(scope: Scope) -> int | str | None:
    """The Content-Length header as a number, None when absent, or a message when it is malformed."""
    found = None
    for name, value in scope.get("headers", ()):
        if name.lower() != b"content-length":
            continue
        text = value.strip()
        if not text.isdigit() or not text.isascii() or len(text) > MAX_DIGITS:
            return "Content-Length must be a whole number of bytes"
        number = int(text)
        if found is not None and found != number:
            return "two different Content-Length headers"
        found = number
    return found


class BodyLimit:
    """ASGI middleware: no request body over its route's limit is ever read (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: dict[str, int], default: int = DEFAULT_MAX_BODY,
                 templated: list[BaseRoute] | None = None) -> None:
        self.app = app
        self.limits = limits
        self.default = default
        self.templated = templated or []  # routes with parameters (`/webhooks/alerts/{source}`), matched when needed

    @classmethod
    def for_routes(cls, app: ASGIApp, routes: list[BaseRoute], default: int = DEFAULT_MAX_BODY) -> BodyLimit:
        limits = {route.path: getattr(route, "max_body", default) for route in routes if hasattr(route, "path")}
        templated = [route for route in routes if "{" in getattr(route, "path", "")]
        return cls(app, limits, default, templated)

    def route_of(self, scope: Scope) -> tuple[str | None, int]:
        """The route's path as declared (`/webhooks/alerts/{source}`) and its limit; (None, default) for no route.

        A dict lookup for literal paths (Slack's, every request); only a miss tries the templated routes, so
        their limits apply and their refusals are counted under the route's name like the others'.
        """
        path = scope["path"]
        if path in self.limits:
            return path, self.limits[path]
        for route in self.templated:
            if route.matches(scope)[0] == Match.FULL:
                return route.path, self.limits[route.path]
        return None, self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _route, limit = self.route_of(scope)
        declared = declared_length(scope)
        if isinstance(declared, str):
            await self._refuse(scope, send, 400, declared)
            return
        if declared is not None and declared > limit:
            await self._refuse(scope, send, 413, f"request body too large ({declared} bytes; at most {limit})")
            return
        state = {"read": 0, "answered": False, "started": False}

        async def limited_receive() -> Message:
            if state["answered"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    if state["started"]:  # the app answered before reading its body: nothing left to say
                        raise BodyTooLarge
                    state["answered"] = True
                    await self._refuse(scope, send, 413, f"request body too large (more than {limit} bytes)")
                    # To the app, the client has gone (it has, as far as the app is concerned): no
                    # exception travels through Starlette's and Sentry's layers as an error to report.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["answered"]:
                return  # the 413 went out; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ClientDisconnect:
            if not state["answered"]:
                raise

    async def _refuse(self, scope: Scope, send: Send, status: int, text: str) -> None:
        route, _limit = self.route_of(scope)
        if route is not None and (route == "/slack/events" or route.startswith("/webhooks/")):
            # counted as those routes' own refusals are (ObservedRequests does not see this answer)
            metrics.webhook_rejected(route, metrics.reason_for_status(status))
        for part in _answer(status, text, close=True):
            await send(part)


class ServerErrors:
    """ASGI middleware: an unhandled exception becomes a plain 500; every 500 is counted (and logged once)."""

    def __init__(self, app: ASGIApp, endpoint=None) -> None:
        self.app = app
        self.endpoint = endpoint or (lambda scope: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, int | None] = {"status": None}
        failed = False

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except ClientDisconnect:
            return  # the client went away: nobody to answer, nothing went wrong here
        except Exception as exc:
            failed = True
            log.error("unhandled error answering %s %s: %s", scope.get("method"), scope.get("path"),
                      type(exc).__name__, exc_info=exc)
            if state["status"] is None:
                for part in _answer(500, "Internal Server Error"):
                    await send(part)
                state["status"] = 500
        if failed or state["status"] == 500:
            metrics.server_error(self.endpoint(scope) or metrics.UNROUTED)
