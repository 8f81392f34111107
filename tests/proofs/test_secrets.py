"""Secrets: with every token and secret set to a distinctive value, a declare, a rolling restart (one that
works, one Fly refuses), an alert and a few refused requests leave no secret in the logs (every logger, at
DEBUG), in anything sent to Slack, in what is stored, in the clients' exceptions or in Sentry events.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from starlette.testclient import TestClient

from bot.features.alerts.webhook import sign as sign_alert
from bot.app.assembly import build_container
from bot.adapters.http.server import build_http_app
from bot.core.settings import Settings
from bot.adapters.slack.bolt import build_bolt_app
from playbooks.framework import Limits
from tests.support.factories import make_settings
from tests.support.fake_fly import APP, DB_APP
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import newest_button
from tests.support.signing import action_body, slash_body

SECRETS = {
    "slack_bot_token": "xoxb-4242-SECRETbot",
    "slack_signing_secret": "SIGNINGsecret4242",
    "slack_app_token": "xapp-1-SECRETapp4242",
    "metrics_token": "METRICSsecret4242",
    "sentry_dsn": "https://SENTRYkey4242abcdef@o1.ingest.sentry.example/42",
    "fly_api_token": "FlyV1 fm2_FLYsecret4242",
    "pagerduty_api_token": "PDsecretToken4242",
    "pagerduty_routing_key": "ROUTINGsecret4242",
    "pagerduty_webhook_secret": "PDWEBHOOKsecret4242",
    "alerts_webhook_secret": "ALERTSsecret4242",
    "statuspage_api_key": "SPkeySECRET4242",
    "alerts_source_tokens": "alertmanager=SOURCEtoken4242",
    "sentry_api_token": "sntrys_SENTRYapi4242",
    "web_session_secret": "WEBSESSIONsecret4242",
    "slack_oidc_client_secret": "OIDCclientSECRET4242",
    "fly_metrics_token": "FLYMETRICSsecret4242",
}
DB_PASSWORD = "DBpassword4242"


def needles() -> list[str]:
    values = list(SECRETS.values()) + [DB_PASSWORD, "fm2_FLYsecret4242", "SENTRYkey4242abcdef", "SOURCEtoken4242"]
    return values


def leaks(blob: object) -> list[str]:
    text_ = blob if isinstance(blob, str) else json.dumps(blob, default=str)
    return [secret for secret in needles() if secret in text_]


def test_every_secret_setting_is_in_this_test():
    secret_fields = {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}
    assert secret_fields == set(SECRETS), "a new secret setting: add it to SECRETS"


def with_password(db_url: str) -> str:
    """The same database, with a password in the URL (PostgreSQL here trusts local connections)."""
    return db_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@", 1)


@pytest.fixture
def secret_app(db_url, recorder, clock, fake_fly):
    values = dict(SECRETS, fly_api_url=fake_fly.url, fly_graphql_url=f"{fake_fly.url}/graphql", fly_app=APP,
                  fly_metrics_url=f"{fake_fly.url}/prometheus",
                  fly_db_app=DB_APP, health_url=f"{fake_fly.url}/health", responders="U0LEAD")
    settings = make_settings(with_password(db_url), recorder, **values)
    container = build_container(settings, clock=clock)
    container.knobs.sleep = lambda seconds: None
    container.knobs.playbook_limits = Limits(wait_calls=2, wait_seconds=30, check_polls=3, health_polls=2,
                                                 poll_seconds=5, lease_ttl=300)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        harness = SlackHarness(container, recorder, client)
        harness.fake = fake_fly  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()


def signed_post(slack, body: str, content_type: str = "application/x-www-form-urlencoded"):
    return slack.post(body, content_type, secret=SECRETS["slack_signing_secret"])


def test_no_secret_in_logs_slack_messages_or_the_database(secret_app, caplog):
    slack, fake = secret_app, secret_app.fake
    # Fly refuses one call and says the token back (a proxy or a bug could): it must not travel further
    fake.script("POST", "m2bbbbbbbbbbbb/restart$", (401, {"error": f"bad token {SECRETS['fly_api_token']}"}))
    slack.recorder.fail("conversations.invite", "not_authed")
    answers = []
    with caplog.at_level(logging.DEBUG):
        answers.append(signed_post(slack, slash_body("declare Checkout returns 502 sev1",
                                                     response_url=slack.recorder.response_url())))
        slack.run_jobs()
        for text_ in ("--machine m1aaaaaaaaaaaa", "--machine m2bbbbbbbbbbbb"):
            answers.append(signed_post(slack, slash_body(text_, command="/restart", channel_id="CINC0001",
                                                         response_url=slack.recorder.response_url())))
            slack.run_jobs()
            action_id, value = newest_button(slack.recorder, "Confirm")
            answers.append(signed_post(slack, action_body(action_id, value, channel_id="CINC0001",
                                                          action_ts=text_[-4:],
                                                          response_url=slack.recorder.response_url())))
            slack.run_jobs()
        body = json.dumps({"title": "Checkout 502s", "source": "grafana"}).encode()
        answers.append(slack.client.post("/webhooks/alerts", content=body, headers={
            "Content-Type": "application/json",
            "X-Fireline-Signature": sign_alert(body, SECRETS["alerts_webhook_secret"])}))
        answers.append(slack.client.post("/webhooks/alerts", content=body, headers={
            "Content-Type": "application/json", "X-Fireline-Signature": "sha256=" + "0" * 64}))
        answers.append(slack.post(slash_body("list"), "application/x-www-form-urlencoded", secret="wrong"))
        answers.append(slack.client.get("/metrics", headers={"Authorization": "Bearer nope"}))
        answers.append(slack.client.get("/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics_token']}"}))
        slack.run_jobs()
    # it all happened
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 202, 401, 401, 401, 200]
    assert len(fake.calls("POST", "/restart$")) == 2
    assert any("answered 401: bad token [redacted]" in c.text() for c in slack.recorder.of("chat.postMessage"))
    # logs: every record of every logger, with its exception
    logged = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}\n" + (
        "".join(traceback.format_exception(*r.exc_info)) if r.exc_info else "") for r in caplog.records)
    assert caplog.records and leaks(logged) == []
    # Slack: every message, edit and answer (the bot token goes only in the Authorization header)
    sent = [call.data for call in slack.recorder.calls]
    assert leaks(sent) == []
    assert all(leaks({k: v for k, v in call.headers.items() if k.lower() != "authorization"}) == []
               for call in slack.recorder.calls)
    # HTTP answers
    assert leaks([a.text for a in answers]) == []
    # what is stored (timeline, audit, executions, jobs, alerts) ends up in postmortems and Slack later
    with slack.container.engine.connect() as connection:
        for table in ("timeline_events", "playbook_audit", "playbook_executions", "jobs", "alerts", "incidents"):
            rows = connection.execute(text(f"SELECT * FROM {table}")).all()
            assert leaks([list(map(str, row)) for row in rows]) == [], table


class EchoServer:
    """Answers every request 400 with what it was sent: headers and body (the worst a server can do)."""

    def __init__(self, status: int = 400) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return None

            def _echo(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
                said = f"you sent {self.headers.get('Authorization')} {raw} to {self.path} with {dict(self.headers)}"
                payload = json.dumps({"ok": False, "error": said, "message": said,
                                      "errors": [said]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _echo  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_exceptions_never_carry_a_secret_even_when_the_server_echoes_it(status, sqlite_url):
    from bot.clients.fly.client import FlyClient
    from bot.clients.pagerduty import EventsClient, RestClient
    from bot.adapters.slack.slack_chat import SlackChat, make_web_client

    echo = EchoServer(status)
    settings = make_settings(sqlite_url, None, **dict(SECRETS, slack_api_url=f"{echo.url}/api/",
                                                      pagerduty_api_url=echo.url, pagerduty_events_url=echo.url,
                                                      pagerduty_from_email="oncall@example.com"))
    failures = []
    try:
        fly = FlyClient(echo.url, SecretStr(SECRETS["fly_api_token"]), APP, sleep=lambda s: None)
        rest = RestClient(settings, sleep=lambda s: None)
        events = EventsClient(settings, sleep=lambda s: None)
        chat = SlackChat(make_web_client(settings, sleep=lambda s: None))
        from bot.core.reply import Reply
        from bot.clients.statuspage import StatuspageClient

        statuspage = StatuspageClient(echo.url, SECRETS["statuspage_api_key"], "pg1", sleep=lambda s: None)

        calls = [lambda: fly.restart("m1aaaaaaaaaaaa", lease_nonce="n"), lambda: fly.list_machines(),
                 lambda: rest.list_oncalls("P1"), lambda: events.send("trigger", "k1", {"summary": "x"}),
                 lambda: chat.post("#incidents", Reply("hello")), lambda: chat.create_channel("inc-1"),
                 lambda: statuspage.create_incident("Outage: API", "investigating", "API is down.", {})]
        for call in calls:
            with pytest.raises(Exception) as caught:  # noqa: PT011 - each client raises its own error type
                call()
            failures.append(caught.value)
    finally:
        echo.close()
    for exc in failures:
        shown = f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))
        assert leaks(shown) == [], f"{type(exc).__name__}: {shown[:600]}"


def test_before_send_scrubs_every_secret_setting_wherever_it_appears():
    from bot.app.observability import make_before_send

    settings = make_settings(f"postgresql://fireline:{DB_PASSWORD}@db.internal:5432/fireline", None, **SECRETS)
    values = needles()
    event = {
        "message": " ".join(values),
        "exception": {"values": [{"type": "FlyError", "value": f"failed with {' '.join(values)}",
                                  "stacktrace": {"frames": [{"vars": {"settings_dump": {k: v for k, v in
                                                                                      SECRETS.items()},
                                                                      "note": " ".join(values)}}]}}]},
        "breadcrumbs": {"values": [{"message": f"calling with {value}", "data": {"header": value}}
                                   for value in values]},
        "request": {"headers": {"X-Custom": " ".join(values), "Authorization": "Bearer x"},
                    "data": {"payload": " ".join(values)}},
        "extra": {"context": " ".join(values), "nested": [[value] for value in values]},
    }
    scrubbed = make_before_send(settings)(event, {})
    assert leaks(scrubbed) == []
    assert scrubbed["exception"]["values"][0]["type"] == "FlyError"
    assert scrubbed["exception"]["values"][0]["value"].startswith("failed with [redacted]")
