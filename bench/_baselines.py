"""Baseline servers for bench/ack_latency.py, on the same stack as `fireline serve` (uvicorn + Starlette).

    python bench/_baselines.py floor PORT   # checks the Slack signature, answers 200
    python bench/_baselines.py bolt PORT    # a bare slack-bolt app that only acks /incident
    python bench/_baselines.py bolt-pbr PORT  # the same with process_before_response=True
"""

from __future__ import annotations

import os
import sys

import uvicorn
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SECRET = os.environ.get("SLACK_SIGNING_SECRET", "bench-secret")


def floor_app() -> Starlette:
    verifier = SignatureVerifier(SECRET)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return Response(status_code=401)
        return Response(status_code=200)

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


def bolt_app(process_before_response: bool) -> Starlette:
    client = WebClient(token="xoxb-bench", base_url=os.environ.get("SLACK_API_URL", "http://127.0.0.1:9/api/"))
    app = App(signing_secret=SECRET, client=client, token_verification_enabled=False,
              process_before_response=process_before_response)

    @app.command("/incident")
    def ack_only(ack):
        ack()

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        bolt_response = await run_in_threadpool(app.dispatch, BoltRequest(body=body.decode(),
                                                                          headers=dict(request.headers)))
        return Response(content=bolt_response.body, status_code=bolt_response.status)

    return Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asgi = floor_app() if kind == "floor" else bolt_app(kind == "bolt-pbr")
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)
