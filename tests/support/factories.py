"""What tests build over and over: settings, a container, the Slack harness, an incident, a signed request.

`tests/conftest.py` exposes these as fixtures (`make_container`, `make_incident`, `signed_request`); test
modules and other support modules may also call them directly.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from bot.app.assembly import build_container
from bot.core.clock import Clock
from bot.core.container import Container
from bot.core.settings import Settings
from tests.support.databases import MIGRATED
from tests.support.harness import SlackHarness
from tests.support.signing import SIGNING_SECRET, action_body, event_body, sign, slash_body
from tests.support.slack_recorder import SlackRecorder

NOWHERE = "http://127.0.0.1:9"  # nothing listens there: an API a test did not set up fails at once


def make_settings(db_url: str, recorder: SlackRecorder | None = None, **overrides: Any) -> Settings:
    """Settings for a test: Slack at the recorder (or nowhere), every other API nowhere, no `.env` read."""
    values = dict(database_url=db_url, slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test-token-abc",
                  slack_api_url=recorder.api_url if recorder else f"{NOWHERE}/api/",
                  incidents_channel="incidents", fly_api_url=NOWHERE, pagerduty_api_url=NOWHERE,
                  pagerduty_events_url=NOWHERE, fly_graphql_url=f"{NOWHERE}/graphql", provider_status_pages="",
                  _env_file=None)
    values.update(overrides)
    return Settings(**values)


def container_for(settings: Settings, clock: Clock | None = None, **kwargs: Any) -> Container:
    """`build_container`, minus the migrations when the database is a copy of a migrated template."""
    migrate = kwargs.pop("migrate", settings.database_url not in MIGRATED)
    return build_container(settings, clock=clock, migrate=migrate, **kwargs)


def make_container(db_url: str, recorder: SlackRecorder | None = None, clock: Clock | None = None,
                   **overrides: Any) -> Container:
    """A wired container on `db_url` with `make_settings(db_url, recorder, **overrides)`."""
    return container_for(make_settings(db_url, recorder, **overrides), clock)


def slack_harness(container: Container, recorder: SlackRecorder) -> Iterator[SlackHarness]:
    """The real Bolt app behind the real HTTP app, driven with signed requests (a generator: yields one harness)."""
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    bolt_app = build_bolt_app(container)
    with TestClient(build_http_app(container, bolt_app), raise_server_exceptions=False) as client:
        yield SlackHarness(container, recorder, client)


def make_incident(container: Container, title: str = "Checkout returns 502", level: int = 3, *,
                  user_id: str = "U0LEAD", reason: str = "test", chat: Any = None, **kwargs: Any):
    """Declare an incident through the service, as the console front end does (its output kept in memory).

    `chat`: another Chat (a SlackChat on the recorder, say); `kwargs` go to `declare` (private, drill, source).
    Returns the stored incident.
    """
    from bot.adapters.console_chat import ConsoleChat
    from bot.adapters.console import console_context
    from bot.service import incidents

    ctx = console_context(container, chat or ConsoleChat(io.StringIO()), user_id=user_id, channel_id="#incidents")
    incident, _problems = incidents.declare(ctx, title, level, reason, **kwargs)
    return incident


FORM = "application/x-www-form-urlencoded"


def signed_request(kind: str = "command", *args: Any, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   **fields: Any) -> tuple[str, dict[str, str]]:
    """(body, headers) of a request signed as Slack signs it.

    `kind`: "command" (`args`: the text), "action" (`args`: action_id, value) or "event" (`args`: the event
    dict); `fields` go to the body's builder in `tests/support/signing.py`.
    """
    if kind == "command":
        body, content_type = slash_body(*args, **fields), FORM
    elif kind == "action":
        body, content_type = action_body(*args, **fields), FORM
    elif kind == "event":
        body, content_type = event_body(*args, **fields), "application/json"
    else:
        raise ValueError(f"unknown kind of Slack request: {kind!r}")
    return body, {"Content-Type": content_type, **sign(body, secret, timestamp)}
