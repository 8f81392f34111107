"""The HTTP front end (`fireline serve`): Slack's endpoint, webhooks and health, on Starlette/uvicorn.

Slack must never see a 500 from us: an unexpected error answers 200 with a short message and is
logged. Features add their own routes (webhooks, metrics) through the registry hook `http.routes`.
"""

from __future__ import annotations

import logging

from slack_bolt import BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.container import Container
from bot.errors import INTERNAL

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000


def database_ok(container: Container) -> tuple[bool, str]:
    from sqlalchemy import text

    try:
        with container.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:
        return False, type(exc).__name__


def build_http_app(container: Container, bolt_app, worker=None) -> Starlette:
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response("request too large", status_code=413)
        bolt_request = BoltRequest(body=body.decode("utf-8", errors="replace"), query=request.query_params,
                                   headers=dict(request.headers))
        try:
            bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        except Exception:
            log.exception("Slack request failed")
            return JSONResponse({"response_type": "ephemeral", "text": INTERNAL})
        if bolt_response.status >= 500:
            return JSONResponse({"response_type": "ephemeral", "text": INTERNAL})
        if bolt_response.status == 404:  # an event nobody listens to: fine, and Slack must not retry it
            return Response(status_code=200)
        return Response(content=bolt_response.body, status_code=bolt_response.status,
                        headers=bolt_response.first_headers_without_set_cookie())

    async def healthz(request: Request) -> Response:
        ok, detail = await run_in_threadpool(database_ok, container)
        return JSONResponse({"status": "ok" if ok else "degraded", "database": detail},
                            status_code=200 if ok else 503)

    routes = [Route("/slack/events", slack_events, methods=["POST"]),
              Route("/healthz", healthz, methods=["GET"])]
    for hook in container.registry.hooks.get("http.routes", []):
        routes += hook(container=container, worker=worker)
    app = Starlette(routes=routes)
    app.state.container = container
    return app
