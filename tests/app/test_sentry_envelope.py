"""A failed command's event, as the installed sentry-sdk sends it over HTTP to a Sentry stand-in on loopback.

The other Sentry tests hand events to a transport inside the process; this one keeps the SDK's own HTTP
transport, compression and envelope format, so an SDK upgrade that changes what leaves (or stops it leaving)
fails here: the event must carry the exception and its stack, and no secret or `response_url`.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from sentry_sdk.envelope import Envelope

from bot.features.incident import feature as incident_commands
from bot.app.observability import init_sentry
from tests.support.factories import make_settings
from tests.support.quiet_server import QuietHTTPServer
from tests.support.signing import SIGNING_SECRET

SENTRY_KEY = "5f0e1d2c3b4a59687766554433221100"
FLY_TOKEN = "FlyV1 fm2_envelopeTESTsecret"


class SentryStandIn:
    """Accepts envelopes at /api/<project>/envelope/ like Sentry's ingest, and keeps their items."""

    def __init__(self) -> None:
        self.items: list[tuple[dict, dict]] = []  # (item header, payload)
        self.auth: list[str] = []
        self.status = 200
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                elif self.headers.get("Content-Encoding") == "br":
                    import brotli  # only when the SDK found brotli installed

                    body = brotli.decompress(body)
                stand_in.auth.append(self.headers.get("X-Sentry-Auth", ""))
                for item in Envelope.deserialize(body).items:
                    stand_in.items.append((item.headers, json.loads(item.payload.get_bytes())))
                self.send_response(stand_in.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": "0"}')

            def log_message(self, *args) -> None:
                pass

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.dsn = f"http://{SENTRY_KEY}@127.0.0.1:{self.server.server_port}/42"

    def events(self) -> list[dict]:
        return [payload for header, payload in self.items if header.get("type") == "event"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sentry_stand_in():
    import logging

    import sentry_sdk

    stand_in = SentryStandIn()
    yield stand_in
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: a disabled client for the rest of the run
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers
                                       if "sentry" not in type(h).__module__]
    stand_in.close()


def test_a_failed_command_reaches_sentry_with_its_stack_and_without_secrets(slack, recorder, sentry_stand_in,
                                                                             mocker):
    import sentry_sdk

    from bot.core.logging_setup import setup_logging

    settings = make_settings("sqlite://", recorder, sentry_dsn=sentry_stand_in.dsn, fly_api_token=FLY_TOKEN)
    bot_token = settings.slack_bot_token.get_secret_value()
    response_url = "https://hooks.slack.com/commands/T0001/1234/ReSpOnSeSeCrEt"  # as Slack sends them
    setup_logging(settings)  # what `serve` does: our handler, with its redacting filter, on the root logger
    assert init_sentry(settings) is True  # the SDK's own HTTP transport

    def explode(*args, **kwargs):
        token = bot_token  # noqa: F841 - a frame variable the SDK sends, scrubbed on the way
        raise RuntimeError(f"store said no to {FLY_TOKEN} while {bot_token} posted to {response_url}; "
                           f"signed with {SIGNING_SECRET}")

    mocker.patch.object(incident_commands.svc, "open_incidents", side_effect=explode)
    slack.command("list")
    assert "Something went wrong on Fireline's side" in slack.reply_text()
    sentry_sdk.flush(timeout=5)
    deadline = time.monotonic() + 5
    while not sentry_stand_in.events() and time.monotonic() < deadline:
        time.sleep(0.05)

    events = sentry_stand_in.events()
    assert len(events) == 1, sentry_stand_in.items
    event = events[0]
    assert SENTRY_KEY in sentry_stand_in.auth[0]  # the DSN was parsed and used
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"].startswith("store said no to [redacted]")
    frames = exception["stacktrace"]["frames"]
    assert any(frame["function"] == "explode" for frame in frames)  # the stack, down to where it failed
    assert any(frame["function"] == "guarded" for frame in frames)
    sent = json.dumps(sentry_stand_in.items)
    for secret in (FLY_TOKEN, bot_token, SIGNING_SECRET, "ReSpOnSeSeCrEt", recorder.response_url(), SENTRY_KEY):
        assert secret not in sent
    assert event.get("user") in (None, {})  # no user data


def test_check_says_live_only_after_sentry_accepted_an_envelope(sentry_stand_in):
    from bot.app.observability import check_sentry

    settings = make_settings("sqlite://", sentry_dsn=sentry_stand_in.dsn)
    status = check_sentry(settings)
    assert status.state == "live", status.detail
    assert f"127.0.0.1:{sentry_stand_in.server.server_port}, project 42" in status.detail
    assert [header["type"] for header, _ in sentry_stand_in.items] == ["client_report"]  # no issue made
    assert f"sentry_key={SENTRY_KEY}" in sentry_stand_in.auth[0]
    assert SENTRY_KEY not in status.detail  # the DSN is never echoed

    sentry_stand_in.status = 403
    refused = check_sentry(settings)
    assert refused.state == "error" and "refused the DSN's key (HTTP 403)" in refused.detail


def test_check_names_a_dsn_that_does_not_parse_or_answer():
    from bot.app.observability import check_sentry

    broken = check_sentry(make_settings("sqlite://", sentry_dsn="https://sentry.example.com/1"))
    assert broken.state == "error" and broken.detail.startswith("SENTRY_DSN is not a DSN")
    gone = check_sentry(make_settings("sqlite://", sentry_dsn=f"http://{SENTRY_KEY}@127.0.0.1:9/42"))
    assert gone.state == "error" and gone.detail.startswith("could not reach Sentry at 127.0.0.1:9, project 42")
    assert SENTRY_KEY not in broken.detail + gone.detail
