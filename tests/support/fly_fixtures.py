"""Fixtures for playbook tests: a fake Fly on loopback and the real app wired to it (pytest plugin)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from playbooks.framework import Limits
from tests.support.factories import container_for, make_settings
from tests.support.fake_fly import APP, DB_APP, FakeFly
from tests.support.harness import SlackHarness

TOKEN = "fly-test-token-abcdef123456"


@pytest.fixture
def fake_fly():
    fake = FakeFly()
    fake.guide_fleet()
    yield fake
    fake.close()


def fly_settings(db_url, recorder, fake: FakeFly, **overrides):
    values = dict(fly_api_url=fake.url, fly_graphql_url=f"{fake.url}/graphql", fly_api_token=TOKEN, fly_app=APP,
                  fly_db_app=DB_APP, health_url=f"{fake.url}/health", responders="U0LEAD")
    values.update(overrides)
    return make_settings(db_url, recorder, **values)


def fly_container(db_url, recorder, clock, fake: FakeFly, **overrides):
    container = container_for(fly_settings(db_url, recorder, fake, **overrides), clock)
    sleeps: list[float] = []
    container.knobs.sleep = sleeps.append
    container.knobs.sleeps = sleeps
    container.knobs.playbook_limits = Limits(wait_calls=2, wait_seconds=30, check_polls=3, health_polls=2,
                                                 poll_seconds=5, lease_ttl=300)
    return container


@pytest.fixture
def fly_slack(db_url, recorder, clock, fake_fly):
    """The real Bolt app behind the real HTTP app, with Fly at the fake; `.fake` is the fake Fly."""
    container = fly_container(db_url, recorder, clock, fake_fly)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        harness = SlackHarness(container, recorder, client)
        harness.fake = fake_fly  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()
