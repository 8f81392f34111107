"""Sentry: initialised only with SENTRY_DSN, and no secret ever leaves in an event."""

from __future__ import annotations

import json
import logging

from bot.core import log_context
from bot.app.observability import init_sentry, make_before_send, release_name, scrub
from tests.support.factories import make_settings

BOT_TOKEN = "xoxb-1111-2222-abcdefSECRET"
SIGNING = "signing-secret-7f3a9c0d"
APP_TOKEN = "xapp-1-A111-222-ffffeeee"
FLY_TOKEN = "FlyV1 fm2_lJPECAAAAAAAAMz5xBBsECRET"
PD_TOKEN = "u+PDTOKENsecretvalue"
ALERTS_SECRET = "alerts-hmac-secret-991"
DSN = "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.example/42"
DB_PASSWORD = "db-pass-Zq81"
RESPONSE_URL = "https://hooks.slack.com/commands/T1/123/SeCrEtPaTh"


def secret_settings(**overrides):
    values = dict(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING, slack_app_token=APP_TOKEN,
                  fly_api_token=FLY_TOKEN, pagerduty_api_token=PD_TOKEN, alerts_webhook_secret=ALERTS_SECRET,
                  sentry_dsn=DSN)
    values.update(overrides)
    return make_settings(f"postgresql://fireline:{DB_PASSWORD}@db.internal:5432/fireline", **values)


SECRETS = [BOT_TOKEN, SIGNING, APP_TOKEN, FLY_TOKEN, PD_TOKEN, ALERTS_SECRET, DSN, DB_PASSWORD, "SeCrEtPaTh",
           "0123456789abcdef0123456789abcdef"]


def leaked(blob: object) -> list[str]:
    text = json.dumps(blob, default=str)
    return [secret for secret in SECRETS if secret in text]


def realistic_event() -> dict:
    """What Sentry's Starlette integration and a logged exception put in an event."""
    return {
        "message": f"Fly said 401 for token {FLY_TOKEN}",
        "exception": {"values": [{
            "type": "IntegrationError",
            "value": f"Slack rejected {BOT_TOKEN} posting to {RESPONSE_URL}",
            "stacktrace": {"frames": [{"function": "post", "vars": {
                "token": BOT_TOKEN, "headers": {"Authorization": f"Bearer {PD_TOKEN}"},
                "url": "https://api.machines.dev/v1/apps/x", "note": f"secret was {SIGNING}",
                "settings": "Settings(slack_bot_token=SecretStr('**********'))", "dsn": DSN}}]},
        }]},
        "request": {
            "url": "https://fireline.fly.dev/slack/events",
            "headers": {"Authorization": f"Bearer {FLY_TOKEN}", "X-Slack-Signature": "v0=abc123",
                        "Cookie": "session=1", "User-Agent": "Slackbot 1.0"},
            "data": f"token=legacytoken&command=%2Fincident&response_url="
                    f"{RESPONSE_URL.replace(':', '%3A').replace('/', '%2F')}&text=declare",
            "query_string": f"token={ALERTS_SECRET}",
        },
        "breadcrumbs": {"values": [
            {"category": "httplib", "data": {"url": "https://api.pagerduty.com?x=1", "Authorization":
                                             f"Token token={PD_TOKEN}"}},
            {"category": "log", "message": f"connecting with {DB_PASSWORD} and xoxb-9999-other-token"},
        ]},
        "extra": {"sys.argv": ["fireline", "serve"], "alerts_webhook_secret": ALERTS_SECRET,
                  "header_pairs": [["authorization", f"Bearer {PD_TOKEN}"], ["accept", "application/json"]]},
    }


def test_before_send_removes_every_secret_and_keeps_the_rest():
    event = make_before_send(secret_settings())(realistic_event(), {})
    assert leaked(event) == []
    text = json.dumps(event)
    assert "xoxb-" not in text and "legacytoken" not in text and "hooks.slack.com" not in text
    assert event["request"]["headers"]["Authorization"] == "[redacted]"
    assert event["request"]["headers"]["X-Slack-Signature"] == "[redacted]"
    assert event["request"]["headers"]["User-Agent"] == "Slackbot 1.0"  # useful context stays
    assert event["request"]["url"] == "https://fireline.fly.dev/slack/events"
    assert "command=%2Fincident" in event["request"]["data"] and "text=declare" in event["request"]["data"]
    assert event["extra"]["header_pairs"] == [["authorization", "[redacted]"], ["accept", "application/json"]]
    assert event["exception"]["values"][0]["type"] == "IntegrationError"
    assert event["exception"]["values"][0]["value"].startswith("Slack rejected [redacted]")


def test_before_send_tags_incident_and_request():
    before_send = make_before_send(secret_settings())
    with log_context.scope(request_id="req-42", incident=7):
        event = before_send({"message": "boom"}, {})
    assert event["tags"] == {"incident": "7", "request_id": "req-42"}
    assert before_send({"message": "outside any scope"}, {})["tags"] == {}


def test_scrub_leaves_non_secret_values_alone():
    value = {"count": 3, "ok": True, "items": ["a", "b"], "nested": {"when": None}, "token_count": 0,
             "api_key": None}
    assert scrub(value, ["zzzz-secret"]) == value  # numbers and empty credential fields say nothing secret
    assert scrub({"api_key": "k-123", "list": ["zzzz-secret!"]}, ["zzzz-secret"]) == {
        "api_key": "[redacted]", "list": ["[redacted]!"]}


def test_no_dsn_no_sentry():
    assert init_sentry(make_settings("sqlite://", sentry_dsn=None)) is False


def test_release_names_the_version_and_the_fly_image(monkeypatch):
    from importlib import metadata

    version = metadata.version("fireline")
    settings = make_settings("sqlite://")
    monkeypatch.delenv("FLY_IMAGE_REF", raising=False)
    assert release_name(settings) == f"fireline@{version}"
    monkeypatch.setenv("FLY_IMAGE_REF", "registry.fly.io/fireline:deployment-01HZX")
    assert release_name(settings) == f"fireline@{version}+deployment-01HZX"
    assert release_name(make_settings("sqlite://", sentry_release="v42")) == "v42"


def test_sentry_events_leave_without_secrets(sentry_kept, monkeypatch):
    import sentry_sdk

    sent, transport = sentry_kept
    settings = secret_settings(sentry_environment="staging")
    assert init_sentry(settings, transport=transport) is True
    log = logging.getLogger("bot.test")
    with log_context.scope(request_id="req-sentry", incident=12):
        log.warning("calling Fly with %s", FLY_TOKEN)  # a breadcrumb
        try:
            token = BOT_TOKEN  # noqa: F841 - a local variable Sentry would send
            raise RuntimeError(f"Slack refused {BOT_TOKEN}; DSN {DSN}; db {DB_PASSWORD}; signing {SIGNING}")
        except RuntimeError as exc:
            sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()
    events = [item for item in sent if item.get("exception")]
    assert len(events) == 1
    event = events[0]
    assert leaked(sent) == []
    assert event["environment"] == "staging" and event["release"].startswith("fireline@")
    assert event["tags"]["incident"] == "12" and event["tags"]["request_id"] == "req-sentry"
    assert "Slack refused [redacted]" in event["exception"]["values"][0]["value"]
