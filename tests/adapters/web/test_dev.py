"""`fireline web --dev` after `fireline console`: the status page and the team pages over the same database,
signed in as the console's user, so a person trying Fireline without Slack sees what they made."""

from __future__ import annotations

import io

import httpx

from bot.adapters.console import run_console
from bot.adapters.web.dev import dev_app
from bot.app.assembly import assemble
from tests.support.factories import make_container, make_settings
from tests.support.oidc import free_port, serve_app


def test_what_the_console_made_is_on_the_dev_status_page_and_readable_as_the_console_user(sqlite_url, clock):
    console = make_container(sqlite_url, clock=clock)
    out = io.StringIO()
    run_console(console, io.StringIO("\n".join([
        "/incident declare Card payments declined at checkout sev1 --private",
        '/incident statuspage Payments --text "Some card payments are failing. We are investigating."',
        "!Publish",
    ]) + "\n"), out)
    console.engine.dispose()
    assert "Published on the status page" in out.getvalue(), out.getvalue()

    settings = make_settings(sqlite_url)
    port = free_port()
    app, container = dev_app(settings, assemble(settings), port)
    try:
        with serve_app(app, port) as base, httpx.Client(base_url=base, follow_redirects=True) as browser:
            status = browser.get("/").text
            assert "Some card payments are failing" in status and "Subscribe to updates" in status
            authorize = browser.get("/team/login/slack")
            query = dict(authorize.url.params)
            landed = browser.post("/team/dev-oidc/authorize", data={**query, "name": "console"})
            assert landed.url.path == "/team/"
            assert "Card payments declined at checkout" in landed.text  # private: the console's user is its member

            other = httpx.Client(base_url=base, follow_redirects=True)
            with other:
                query = dict(other.get("/team/login/slack").url.params)
                stranger = other.post("/team/dev-oidc/authorize", data={**query, "name": "Someone Else"})
                assert stranger.url.path == "/team/" and "Card payments declined" not in stranger.text
    finally:
        container.engine.dispose()
