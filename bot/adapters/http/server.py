"""The HTTP front end (`fireline serve`): Slack's endpoint, webhooks and health, on Starlette/uvicorn.

Slack must never see a 500 from us: an unexpected error answers 200 with a short message and is
logged. Features add their own routes (webhooks, metrics) through the registry hook `http.routes`.

Probes: `/healthz` (liveness: 200 while the process serves, its body says whether the database answers,
so a database outage still gets our "try again" answers) and `/readyz` (the database answers and the schema
is at this code's migration heads; a rolling deploy waits for it).
Every request first passes bot/adapters/http/guard.py: no body over its route's limit is read (413, or 400 for a
malformed Content-Length) and an exception nobody handled is a plain 500, counted on /metrics.
Every request runs in a log scope with a request id (Fly-Request-Id / X-Request-Id, or a new one, sent
back as X-Request-Id) and is timed for /metrics; 4xx answers from Slack's endpoint and the webhooks
count as rejections.
"""

from __future__ import annotations

import logging
import time

from slack_bolt import BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.core import log_context, metrics
from bot.core.container import Container
from bot.core.errors import INTERNAL
from bot.core.hooks import Hooks
from bot.adapters.http.guard import BodyLimit, ServerErrors, limit_body
from bot.adapters.slack.fast_ack import FastCommandAck, SlashCommandLane
from bot.core.webhook_guard import slack_verifier
from bot.store.db import applied_revisions, head_revisions

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # Slack's endpoint (BodyLimit enforces it before anything reads the body)
PROBES = ("/healthz", "/readyz", "/metrics")


def database_ok(container: Container) -> tuple[bool, str]:
    from sqlalchemy import text

    try:
        with container.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:
        return False, type(exc).__name__


def schema_state(container: Container) -> tuple[bool, dict[str, object]]:
    """Is the database reachable and at this code's migration heads? (for /readyz)"""
    try:
        applied = applied_revisions(container.engine)
    except Exception as exc:
        return False, {"database": type(exc).__name__, "schema": "unknown"}
    heads = head_revisions()
    if applied == heads:
        return True, {"database": "ok", "schema": "up to date"}
    return False, {"database": "ok", "schema": "behind: run `fireline db upgrade`",
                   "missing": sorted(heads - applied), "unknown": sorted(applied - heads)}


class ObservedRequests:
    """ASGI middleware: request id and log scope, latency histogram, rejection counter."""

    def __init__(self, app: ASGIApp, routes: list[Route]) -> None:
        self.app = app
        self.routes = routes

    def endpoint(self, scope: Scope) -> str | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE:
                return route.path
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = log_context.given_request_id(scope.get("headers", ()))
        status = {"code": 500}

        with log_context.scope(request_id=given) as request_id, metrics.request_note() as note:
            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
                await send(message)

            started = time.perf_counter()
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                endpoint = self.endpoint(scope)
                if endpoint is not None and endpoint not in PROBES:
                    metrics.observe_request(endpoint, time.perf_counter() - started)
                watched = endpoint == "/slack/events" or (endpoint or scope.get("path", "")).startswith("/webhooks/")
                if watched and 400 <= status["code"] < 500 and not note.get("rejection_counted"):
                    # A path no route serves is one label, `other`: the path is the caller's to choose, and each
                    # new one was a new series (3,000 random 8 KB paths took /metrics to 24.9 MB, RSS +21 MB).
                    metrics.webhook_rejected(endpoint or metrics.UNROUTED, metrics.reason_for_status(status["code"]))


def build_http_app(container: Container, bolt_app, worker=None) -> Starlette:
    secret = container.settings.slack_signing_secret
    # Checked here too, before Bolt parses anything, so a forged malformed body is a 401, not a crash; a
    # verifier no header or body can make raise (bot/core/webhook_guard.py).
    verifier = slack_verifier(secret.get_secret_value() if secret else None)
    # Slash commands that become jobs are acked before Starlette's layers and Bolt's dispatch (the hot path,
    # SlashCommandLane); slack_events below gets what the lane passes on.
    fast_commands = FastCommandAck(container, wake=worker.wake if worker is not None else None)

    async def slack_events(request: Request) -> Response:
        body = await request.body()  # at most MAX_BODY: BodyLimit stops anything longer
        headers = dict(request.headers)
        if verifier is None:  # nothing to check a signature with: refuse, never accept unsigned
            return Response("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified", status_code=503)
        if not verifier.is_valid_request(body, headers):
            return Response("invalid or stale signature", status_code=401)
        try:
            bolt_request = BoltRequest(body=body.decode("utf-8", errors="replace"), query=request.query_params,
                                       headers=headers)
        except Exception:  # Bolt cannot even parse it: a signed but malformed body
            return Response("malformed request body", status_code=400)
        try:
            bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        except Exception:
            log.exception("Slack request failed")
            metrics.server_error("/slack/events")  # answered 200 so Slack shows our words, but a fault all the same
            return JSONResponse({"response_type": "ephemeral", "text": INTERNAL})
        if bolt_response.status >= 500:
            metrics.server_error("/slack/events")
            return JSONResponse({"response_type": "ephemeral", "text": INTERNAL})
        if bolt_response.status == 404:  # an event nobody listens to: fine, and Slack must not retry it
            return Response(status_code=200)
        return Response(content=bolt_response.body, status_code=bolt_response.status,
                        headers=bolt_response.first_headers_without_set_cookie())

    async def healthz(request: Request) -> Response:
        # Liveness only: during a database outage every machine shares, Fly must keep routing to us so
        # Slack users get our "try again" instead of Slack's own failure. /readyz gates deploys on the database.
        ok, detail = await run_in_threadpool(database_ok, container)
        return JSONResponse({"status": "ok" if ok else "degraded", "database": detail}, status_code=200)

    async def readyz(request: Request) -> Response:
        ready, detail = await run_in_threadpool(schema_state, container)
        if worker is not None:
            detail["worker"] = worker.state
            ready = ready and worker.state != "stopped"
        return JSONResponse({"status": "ready" if ready else "not ready", **detail},
                            status_code=200 if ready else 503)

    routes = [limit_body(Route("/slack/events", slack_events, methods=["POST"]), MAX_BODY),
              Route("/healthz", healthz, methods=["GET"]),
              Route("/readyz", readyz, methods=["GET"])]
    for hook in container.registry.hooks.get(Hooks.HTTP_ROUTES, []):
        routes += hook(container=container, worker=worker)
    app = FirelineApp(routes=routes, middleware=[Middleware(ObservedRequests, routes=routes)])
    app.command_lane = SlashCommandLane(fast_commands, verifier)
    app.front = ServerErrors(BodyLimit.for_routes(app.dispatch, routes),
                             endpoint=ObservedRequests(app, routes).endpoint)
    app.state.container = container
    return app


class FirelineApp(Starlette):
    """The Starlette app behind the guards (`front`), signed slash commands answered first by their own lane."""

    command_lane: SlashCommandLane | None = None
    front: ASGIApp | None = None  # ServerErrors(BodyLimit(dispatch)), set by build_http_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None:
            await self.front(scope, receive, send)
        else:
            await self.dispatch(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The lane for slash commands (bot/adapters/slack/fast_ack.py), Starlette's routing for everything else."""
        if self.command_lane is not None and SlashCommandLane.wants(scope):
            await self.command_lane(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)
