"""Shared fixtures: databases (SQLite and a real PostgreSQL), the Slack recorder, the app, a clock."""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app.assembly import build_container
from bot.core.container import Container
from bot.core.settings import Settings
from tests.support.harness import FakeClock, SlackHarness
from tests.support.signing import SIGNING_SECRET
from tests.support.slack_recorder import SlackRecorder

pytest_plugins = ["tests.support.fly_fixtures", "tests.support.pagerduty"]

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("FIRELINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def specs_dir() -> Path:
    """The official API specs: ../shared/specs next to the checkout, or FIRELINE_SPECS_DIR."""
    return Path(os.environ.get("FIRELINE_SPECS_DIR", REPO.parent / "shared" / "specs"))


def _postgres_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


_PG_PROBLEM: list[str | None] = []


def postgres_problem() -> str | None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_postgres_available())
    return _PG_PROBLEM[0]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A fresh empty database: a SQLite file, or a new schema on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fireline.db'}"
        return
    problem = postgres_problem()
    if problem:
        if os.environ.get("FIRELINE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({problem}); set FIRELINE_TEST_POSTGRES_URL")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'fireline.db'}"


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))


@pytest.fixture
def recorder():
    """Slack's stand-in; at the end, the test fails if anything sent was something Slack would refuse or cut."""
    rec = SlackRecorder()
    yield rec
    rec.close()
    rec.assert_valid()


def make_settings(db_url: str, recorder: SlackRecorder | None = None, **overrides) -> Settings:
    values = dict(database_url=db_url, slack_signing_secret=SIGNING_SECRET, slack_bot_token="xoxb-test-token-abc",
                  slack_api_url=recorder.api_url if recorder else "http://127.0.0.1:9/api/",
                  incidents_channel="incidents", fly_api_url="http://127.0.0.1:9", pagerduty_api_url=
                  "http://127.0.0.1:9", pagerduty_events_url="http://127.0.0.1:9",
                  fly_graphql_url="http://127.0.0.1:9/graphql", provider_status_pages="", _env_file=None)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_factory(recorder):
    def factory(db_url: str, **overrides) -> Settings:
        return make_settings(db_url, recorder, **overrides)

    return factory


def _built(url: str, recorder, clock):
    built = build_container(make_settings(url, recorder), clock=clock)
    yield built
    built.engine.dispose()


def _harness(container: Container, recorder):
    """The real Bolt app behind the real HTTP app, driven with signed requests."""
    from starlette.testclient import TestClient

    from bot.adapters.http.server import build_http_app
    from bot.adapters.slack.bolt import build_bolt_app

    bolt_app = build_bolt_app(container)
    with TestClient(build_http_app(container, bolt_app), raise_server_exceptions=False) as client:
        yield SlackHarness(container, recorder, client)


@pytest.fixture
def container(db_url, recorder, clock) -> Container:
    yield from _built(db_url, recorder, clock)


@pytest.fixture
def slack(container, recorder):
    """The real Bolt app behind the real HTTP app, driven with signed requests."""
    yield from _harness(container, recorder)


@pytest.fixture(scope="session")
def prism():
    """`prism("fly")` -> base URL of a spec-validating mock of Fly's Machines API (and so on)."""
    from tests.support import prism as prism_support

    yield lambda name: prism_support.prism_url(name, specs_dir())
    prism_support.stop_all()


@pytest.fixture
def sqlite_container(sqlite_url, recorder, clock) -> Container:
    yield from _built(sqlite_url, recorder, clock)


@pytest.fixture
def fuzz_slack(sqlite_container, recorder):
    """The Slack harness on SQLite with one declared incident, for fuzzing (one app for many examples)."""
    for harness in _harness(sqlite_container, recorder):
        harness.command("declare Fuzz target sev3")
        recorder.reset()
        yield harness


@pytest.fixture(autouse=True)
def _log_scope():
    """Each test is one unit of work, as each request and job is in production: what a handler called
    directly binds to the log context (the incident it touched) ends with the test instead of showing up
    in the next test's log lines and Sentry tags."""
    from bot.core import log_context

    tokens = (log_context._request_id.set(None), log_context._incident.set(None))
    yield
    log_context._incident.reset(tokens[1])
    log_context._request_id.reset(tokens[0])


@pytest.fixture(autouse=True)
def _forget_names():
    """Slack names are cached per process by API URL; a new recorder may reuse an old one's port."""
    from bot.adapters.slack import people

    people.forget_all()
    yield


@pytest.fixture(autouse=True)
def _logging_restored():
    """A test that runs `fireline ...` (bot.app.cli.main) configures logging onto pytest's captured stdout, which
    is closed after that test; the root logger's handlers and level are put back so later tests do not log
    into a closed file (which broke the Sentry event of a later test under xdist)."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def sentry_kept():
    """Sentry initialised for real; its events are kept in a list instead of being sent."""
    import sentry_sdk
    from sentry_sdk.transport import Transport

    sent: list[dict] = []

    class Keep(Transport):
        def capture_envelope(self, envelope) -> None:
            for item in envelope.items:
                sent.append(json.loads(item.payload.get_bytes()))

    yield sent, Keep
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: a disabled client for the rest of the run
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers
                                       if "sentry" not in type(h).__module__]
