"""Shared fixtures: databases (SQLite and a real PostgreSQL), the Slack recorder, the app, a clock."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import pytest

from bot.core.container import Container
from bot.core.settings import Settings
from tests.support import factories
from tests.support.databases import (
    POSTGRES_URL,
    PostgresTemplate,
    SqliteTemplate,
    drop_postgres_schema,
    empty_postgres_schema,
    postgres_problem,
)
from tests.support.factories import container_for, make_settings, slack_harness
from tests.support.harness import FakeClock
from tests.support.paths import specs_dir
from tests.support.slack_recorder import SlackRecorder

pytest_plugins = ["tests.support.fly_fixtures", "tests.support.pagerduty"]


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> SqliteTemplate:
    """This process's migrated SQLite file (tests/support/databases.py says why)."""
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _postgres_template():
    """This process's migrated PostgreSQL database, made by the first test that needs one."""
    made: list[PostgresTemplate] = []

    def template() -> PostgresTemplate:
        if not made:
            made.append(PostgresTemplate())
        return made[0]

    yield template
    if made:
        made[0].close()


def _require_postgres() -> None:
    problem = postgres_problem()
    if problem:
        if os.environ.get("FIRELINE_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({problem}); set FIRELINE_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, _sqlite_template, _postgres_template):
    """A fresh database with the schema at head: a SQLite file, or a new database on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield _sqlite_template.copy(tmp_path)
        return
    _require_postgres()
    template = _postgres_template()
    url = template.create()
    yield url
    template.drop(url)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request, tmp_path):
    """A fresh empty database (no schema), for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fireline.db'}"
        return
    _require_postgres()
    url, schema = empty_postgres_schema()
    yield url
    drop_postgres_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path, _sqlite_template):
    """A fresh SQLite database with the schema at head."""
    return _sqlite_template.copy(tmp_path)


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


@pytest.fixture
def settings_factory(recorder):
    def factory(db_url: str, **overrides) -> Settings:
        return make_settings(db_url, recorder, **overrides)

    return factory


def _built(url: str, recorder, clock):
    built = container_for(make_settings(url, recorder), clock)
    yield built
    built.engine.dispose()


@pytest.fixture
def container(db_url, recorder, clock) -> Container:
    yield from _built(db_url, recorder, clock)


@pytest.fixture
def slack(container, recorder):
    """The real Bolt app behind the real HTTP app, driven with signed requests."""
    yield from slack_harness(container, recorder)


@pytest.fixture(scope="session")
def prism():
    """`prism("fly")` -> base URL of a spec-validating mock of Fly's Machines API (and so on)."""
    from tests.support import prism as prism_support

    yield lambda name: prism_support.prism_url(name, specs_dir())
    prism_support.stop_all()


@pytest.fixture(scope="session")
def fly_prometheus(tmp_path_factory):
    """A real Prometheus serving Fly-shaped series of the fleets in tests/support/prometheus.py."""
    from tests.support import prometheus

    running = prometheus.start(tmp_path_factory.mktemp("prometheus"))
    yield running
    running.stop()


@pytest.fixture
def sqlite_container(sqlite_url, recorder, clock) -> Container:
    yield from _built(sqlite_url, recorder, clock)


@pytest.fixture
def fuzz_slack(sqlite_container, recorder):
    """The Slack harness on SQLite with one declared incident, for fuzzing (one app for many examples)."""
    for harness in slack_harness(sqlite_container, recorder):
        harness.command("declare Fuzz target sev3")
        recorder.reset()
        yield harness


@pytest.fixture
def make_container(tmp_path, _sqlite_template, recorder, clock):
    """`make_container(url=None, recorder=..., clock=..., **settings)` -> a wired container, disposed at the end.

    Without `url`, a fresh SQLite database at head (the first one in tmp_path, then numbered); Slack is the
    test's recorder unless `recorder=None` is passed.
    """
    made: list[Container] = []

    def make(url: str | None = None, *, recorder: SlackRecorder | None = recorder, clock=clock,
             **overrides) -> Container:
        if url is None:
            url = _sqlite_template.copy(tmp_path, f"fireline{len(made) or ''}.db")
        made.append(factories.make_container(url, recorder, clock, **overrides))
        return made[-1]

    yield make
    for built in made:
        built.engine.dispose()


@pytest.fixture
def make_incident():
    """`make_incident(container, title=..., level=3, user_id=..., **declare_kwargs)` -> the stored incident,
    declared through the service as a front end declares one."""
    return factories.make_incident


@pytest.fixture
def signed_request():
    """`signed_request("command", "declare X sev2", user_id=...)` -> (body, headers) signed as Slack signs."""
    return factories.signed_request


@pytest.fixture
def needs_a_browser():
    """For browser tests (`pytestmark = pytest.mark.usefixtures("needs_a_browser")`): skips with the reason where
    Chromium is absent, fails where CI requires it."""
    from tests.support.browser import require_browser

    require_browser()


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
