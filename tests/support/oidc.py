"""The development OIDC stand-in (bot/adapters/web/dev_oidc.py) served by uvicorn on a loopback port, for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from bot.adapters.web.dev_oidc import StandIn, routes
from tests.support.ports import free_port  # noqa: F401 - the web tests import it from here

TEAM_ID = "TFIRELINE1"
CLIENT_ID = "1234.5678"
CLIENT_SECRET = "stand-in-client-secret-0123456789"


@contextmanager
def serve_app(app, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 in a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def oidc_stand_in() -> Iterator[tuple[StandIn, str]]:
    stand_in = StandIn(team_id=TEAM_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with serve_app(Starlette(routes=routes(stand_in))) as url:
        yield stand_in, url


def oidc_settings(url: str) -> dict:
    return {"slack_team_id": TEAM_ID, "slack_oidc_client_id": CLIENT_ID, "slack_oidc_client_secret": CLIENT_SECRET,
            "slack_oidc_authorize_url": f"{url}/authorize", "slack_oidc_api_url": f"{url}/api/",
            "web_session_secret": "test-web-session-secret-0123456789abcdef"}
