"""Secrets that guard a route fail closed: an empty or short one stops `serve`, `socket` and `web` with a message
naming the setting, `fireline check` reports it as an error, no request is accepted unsigned and no session key
is derived from an empty value. The list of such secrets is read from Settings (fields marked `guards`), so a
new one is covered here without editing this file; every other secret must be named as an outbound credential.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from bot.core.check import run_checks
from bot.app.cli import cli_registry, cmd_check, cmd_serve, cmd_socket
from bot.store.models import Incident
from bot.core.settings import MIN_SECRET_LENGTH, Settings
from bot.adapters.web.dev import cmd_web
from tests.support.factories import make_container, make_settings
from tests.support.signing import slash_body

# Credentials Fireline sends to someone else; they guard none of its routes.
OUTBOUND = {"slack_bot_token", "slack_app_token", "sentry_dsn", "fly_api_token", "pagerduty_api_token",
            "pagerduty_routing_key", "statuspage_api_key", "sentry_api_token", "slack_oidc_client_secret",
            "fly_metrics_token"}
ROUTE_SECRETS = sorted(Settings.route_secrets())
LONG = "x" * MIN_SECRET_LENGTH


def test_every_secret_setting_either_guards_a_route_or_is_an_outbound_credential():
    secret_fields = {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}
    assert secret_fields == set(ROUTE_SECRETS) | OUTBOUND, "a new secret: mark it `guards` or add it to OUTBOUND"
    assert set(ROUTE_SECRETS) >= {"slack_signing_secret", "alerts_webhook_secret", "alerts_source_tokens",
                                  "pagerduty_webhook_secret", "metrics_token", "web_session_secret"}
    assert make_settings("sqlite://").weak_route_secrets() == []  # the tests' (and the console's) settings are fine


def _value(name: str, secret: str) -> str:
    return f"alertmanager={secret}" if name == "alerts_source_tokens" else secret


def _serving_settings(sqlite_url: str, name: str, secret: str) -> Settings:
    values = {"slack_app_token": "xapp-1-A1-" + LONG, name: _value(name, secret)}
    return make_settings(sqlite_url, **values)


@pytest.mark.parametrize("secret", ["", "   ", "short-secret"], ids=["empty", "blank", "short"])
@pytest.mark.parametrize("name", ROUTE_SECRETS)
def test_serving_commands_refuse_an_empty_or_short_route_secret(name, secret, sqlite_url, capsys):
    settings = _serving_settings(sqlite_url, name, secret)
    registry = cli_registry(None)
    args = argparse.Namespace(host="127.0.0.1", port=1, dev=True, child_of=None)
    for command, run in (("serve", cmd_serve), ("socket", cmd_socket), ("web", cmd_web)):
        assert run(settings, args, registry) == 2, command
        err = capsys.readouterr().err
        assert name.upper() in err and "Traceback" not in err, (command, err)
        assert secret.strip() == "" or secret not in err, "the value itself is never printed"
    [line] = [r for r in run_checks(settings, registry) if r.name == "secrets"]
    assert line.state == "error" and name.upper() in line.detail
    assert cmd_check(settings, args, registry) == 1


def test_check_names_the_route_secrets_that_are_fine(sqlite_url):
    settings = make_settings(sqlite_url, alerts_webhook_secret=LONG, metrics_token=LONG)
    [line] = [r for r in run_checks(settings, cli_registry(None)) if r.name == "secrets"]
    assert line.state == "live" and "ALERTS_WEBHOOK_SECRET" in line.detail and LONG not in line.detail


@pytest.fixture
def open_secret_app(sqlite_url, recorder, clock):
    """The real HTTP app, started the way `SLACK_SIGNING_SECRET= fireline serve` would have started it."""
    from tests.support.factories import slack_harness

    container = make_container(sqlite_url, recorder, slack_signing_secret="",
                                              metrics_token="", clock=clock)
    yield from slack_harness(container, recorder)
    container.engine.dispose()


def test_an_empty_signing_secret_accepts_no_unsigned_request(open_secret_app):
    slack = open_secret_app
    body = slash_body("declare Forged outage sev1", user_id="U0EVE", channel_id="CGENERAL",
                      response_url=slack.recorder.response_url())
    for headers in ({}, {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}):
        response = slack.post(body, "application/x-www-form-urlencoded", headers=headers, signed=False)
        assert response.status_code in (401, 503), response.text
    slack.run_jobs()
    with Session(slack.container.engine) as session:
        assert session.exec(select(Incident)).all() == []
    assert slack.client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def _forged_cookie(key_material: bytes, payload: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    key = hmac.new(key_material, b"fireline-web/session", hashlib.sha256).digest()
    body = b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def test_no_session_key_is_derived_from_an_empty_secret(open_secret_app):
    slack = open_secret_app
    payload = {"u": "U0EVE", "t": "T1", "n": "Eve", "c": "csrf", "exp": int(time.time()) + 3600}
    slack.client.cookies.set("fireline_session", _forged_cookie(b"", payload), path="/team")
    page = slack.client.get("/team/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/team/login")
    # an empty WEB_SESSION_SECRET beside a real signing secret: the signing secret keys sessions, not ""
    from bot.adapters.web import auth

    settings = make_settings("sqlite://", web_session_secret="")
    assert auth.read_session(settings, _forged_cookie(b"", payload)) is None
    signed = auth.new_session(settings, "U0LEAD", "T1", "Lead")[1]
    assert auth.read_session(settings, signed).user_id == "U0LEAD"
    assert isinstance(settings.web_session_secret, SecretStr)
