"""/diagnose reads Sentry's error count now against the hour before (or says why it could not)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.fake_sentry import FakeSentry
from tests.support.fly_fixtures import fly_container
from tests.support.harness import SlackHarness


@pytest.fixture
def fake_sentry():
    fake = FakeSentry()
    yield fake
    fake.close()


def diagnose_text(db_url, recorder, clock, fake_fly, **settings) -> str:
    container = fly_container(db_url, recorder, clock, fake_fly, **settings)
    with TestClient(build_http_app(container, build_bolt_app(container))) as client:
        slack = SlackHarness(container, recorder, client)
        slack.command("", command="/diagnose")
        text = slack.recorder.responses()[-1].text()
    container.engine.dispose()
    return text


def test_diagnose_gives_the_error_count_against_the_hour_before(db_url, recorder, clock, fake_fly, fake_sentry):
    fake_sentry.counts[None] = 120.0
    text = diagnose_text(db_url, recorder, clock, fake_fly, **fake_sentry.settings())
    assert "*Sentry errors*: 120 in the last hour against 120 the hour before (1.0x)" in text
    [(path, first), (_, second)] = fake_sentry.requests
    assert first["end"] == "2026-11-25T14:00:00Z" and first["start"] == "2026-11-25T13:00:00Z"
    assert second["end"] == "2026-11-25T13:00:00Z" and "query" not in first


def test_diagnose_says_when_sentry_is_not_configured_or_unreadable(db_url, recorder, clock, fake_fly, fake_sentry):
    text = diagnose_text(db_url, recorder, clock, fake_fly)
    assert "*Sentry errors*: Sentry is not configured" in text and "SENTRY_API_TOKEN" in text
    fake_sentry.status = 500
    text = diagnose_text(db_url, recorder, clock, fake_fly, **fake_sentry.settings())
    assert "*Sentry errors*: could not read Sentry: Sentry failed (HTTP 500)" in text
    unreachable = {**fake_sentry.settings(), "sentry_api_url": "http://127.0.0.1:9"}
    text = diagnose_text(db_url, recorder, clock, fake_fly, **unreachable)
    assert "*Sentry errors*: could not read Sentry: Could not reach Sentry" in text
    assert fake_sentry.settings()["sentry_api_token"] not in text
