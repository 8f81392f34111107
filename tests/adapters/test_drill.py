"""`fireline drill sev1`: the SEV1 playbook against the simulated fleet, scored; never pages, never touches Fly."""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from bot.app.assembly import assemble
from bot.clients.fly import client as fly_client
from bot.store.models import Incident, Postmortem, TimelineEvent
from bot.features.playbooks import env as playbook_env
from tests.support.factories import make_settings
from tests.support.pagerduty import REST_SETTINGS, ROUTING_KEY


@pytest.fixture
def no_real_fly(monkeypatch):
    """Any attempt to build a live Fly client fails the drill loudly."""
    made = []

    def refuse(*args, **kwargs):
        made.append(args)
        raise AssertionError("the drill built a live Fly client")

    monkeypatch.setattr(fly_client.FlyClient, "__init__", refuse)
    monkeypatch.setattr(playbook_env, "FlyClient", fly_client.FlyClient)
    return made


def _settings(db_url, recorder, **overrides):
    # every outward credential set, as in production: the drill must drop them
    return make_settings(db_url, recorder, **REST_SETTINGS, pagerduty_routing_key=ROUTING_KEY,
                         fly_api_token="fly-real-token", fly_app="cgraph-api", **overrides)


def test_drill_runs_the_playbook_scores_and_leaves_a_drill_incident(sqlite_url, recorder, pd, no_real_fly):
    from bot.adapters.drill import run_drill

    settings = _settings(sqlite_url, recorder)
    out = io.StringIO()
    number, marks = run_drill(settings, assemble(settings), speed=60, think=5, out=out)
    text = out.getvalue()
    assert "Game-day drill: SEV1" in text and "crash-looping" in text
    assert "Rolling restart of 4 machines of cgraph-api finished" in text and "DRY RUN" in text
    assert [(m.name, m.took, m.target, m.met) for m in marks] == [
        ("acknowledge", 5.0, 15.0, True), ("diagnose", 10.0, 30.0, True), ("mitigate", 25.0, 60.0, True)]
    assert "3/3 targets met" in text and "= 5m at 1x" in text
    # never paged, never touched Fly, never talked to Slack
    assert pd.requests == [] and no_real_fly == [] and recorder.calls == []
    from bot.store.db import make_engine

    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        incident = session.get(Incident, number)
        kinds = [e.kind for e in session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == number))]
        postmortem = session.exec(select(Postmortem).where(Postmortem.incident_id == number)).first()
    engine.dispose()
    assert incident.drill and incident.status == "resolved" and incident.title.startswith("[DRILL]")
    assert "acknowledged" in kinds and "resolved" in kinds
    assert postmortem is not None and "[DRILL]" in postmortem.markdown


def test_a_slow_responder_misses_the_scaled_targets(sqlite_url, recorder, pd, no_real_fly):
    from bot.adapters.drill import run_drill

    settings = _settings(sqlite_url, recorder)
    out = io.StringIO()
    _, marks = run_drill(settings, assemble(settings), speed=60, think=20, out=out)
    assert [m.met for m in marks] == [False, False, False]  # 20s > 15s; 40s > 30s; 100s > 60s
    assert "MISSED" in out.getvalue() and "0/3 targets met" in out.getvalue()
    assert pd.requests == []


def test_fireline_drill_command(sqlite_url, monkeypatch, capsys, pd, no_real_fly):
    from bot.app.cli import main

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PROVIDER_STATUS_PAGES", "")
    assert main(["drill", "sev1", "--speed", "120"]) == 0  # 5s per step: 15 min at 120x is 7.5s
    out = capsys.readouterr().out
    assert "clock 120x" in out and "3/3 targets met" in out
    assert main(["drill", "sev1", "--speed", "0"]) == 2
    assert "--speed" in capsys.readouterr().err


@pytest.fixture
def fake_sentry():
    from tests.support.fake_sentry import FakeSentry

    fake = FakeSentry()
    yield fake
    fake.close()


def test_the_drill_never_reads_sentry(sqlite_url, recorder, pd, no_real_fly, fake_sentry):
    """SENTRY_API_TOKEN (/diagnose reads error rates with it) is outward like the DSN: a drill never uses it."""
    from bot.adapters.drill import run_drill

    settings = _settings(sqlite_url, recorder, **fake_sentry.settings())
    out = io.StringIO()
    run_drill(settings, assemble(settings), speed=60, think=5, out=out)
    assert "Sentry is not configured" in out.getvalue()  # /diagnose's line, without asking
    assert fake_sentry.requests == [] and pd.requests == [] and recorder.calls == []


def test_every_outward_setting_is_dropped_and_only_inbound_secrets_stay(sqlite_url):
    """Every secret set, every address pointed outside: the drill keeps only the secrets that check what comes in
    (a secret added to Settings later is dropped unless it is named inbound), and no outward address."""
    from pydantic import SecretStr

    from bot.adapters.drill import INBOUND, drill_settings
    from bot.core.settings import Settings

    secrets = [name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)]
    assert INBOUND <= set(secrets)  # no typo hides a secret from the rule
    everything = make_settings(sqlite_url, **{name: f"secret-{name}-0123456789" for name in secrets},
                               health_url="https://cgraph.example.com/api/health",
                               health_origin_url="https://origin.cgraph.example.com/api/health",
                               provider_status_pages="Fly.io=https://status.flyio.net", deploy_watch=True,
                               sentry_org="cgraph", sentry_project="cgraph-api")
    drilled = drill_settings(everything, 60)
    kept = {name for name in secrets if isinstance(getattr(drilled, name), SecretStr)}
    assert kept == INBOUND
    assert "sentry_api_token" not in kept and not drilled.sentry_readable and drilled.sentry_dsn is None
    assert (drilled.health_url, drilled.health_origin_url, drilled.provider_status_pages) == ("", "", "")
    assert drilled.deploy_watch is False and drilled.response_clock_speed == 60
