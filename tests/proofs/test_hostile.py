"""Hostile input: replayed signed requests, people who may not run destructive playbooks, text that tries to ping.

All through the real Bolt app and HTTP app with signed requests (a forged button payload is signed
too: it passes the signature check, so only the authorization check stands in its way).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.store.models import Alert, CanaryRun, Job
from bot.adapters.http.server import build_http_app
from bot.service.incidents import slugify
from bot.adapters.slack.bolt import build_bolt_app
from tests.support.factories import make_container
from tests.support.alerts import ALERT_SECRET, incidents, post_alert
from tests.support.fly_fixtures import fly_container
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import audit_rows, executions, newest_button, timeline
from tests.support.signing import action_body, sign, slash_body
from tests.support.slack_recorder import strings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "cdn_flush.py"


@pytest.fixture
def app(db_url, recorder, clock):
    """The app with alert intake on (ALERTS_WEBHOOK_SECRET); `.clock` moves paced jobs along."""
    container = make_container(db_url, recorder, alerts_webhook_secret=ALERT_SECRET, clock=clock)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        harness = SlackHarness(container, recorder, client)
        harness.clock = clock  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()


# -- signatures: a replayed Slack request runs once ------------------------------------------------------------
def test_a_replayed_slash_command_declares_once(slack):
    body = slash_body("declare Checkout returns 502 sev1", response_url=slack.recorder.response_url())
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    for _ in range(2):  # the very same bytes, signature and timestamp
        assert slack.client.post("/slack/events", content=body, headers=headers).status_code == 200
    slack.run_jobs()
    assert [i.title for i in incidents(slack.container)] == ["Checkout returns 502"]


def test_a_replayed_or_retried_confirm_restarts_once(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("--machine m1aaaaaaaaaaaa", command="/restart")
    action_id, value = newest_button(slack.recorder, "Confirm")
    body = action_body(action_id, value, response_url=slack.recorder.response_url("action"), action_ts="7.7")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    slack.client.post("/slack/events", content=body, headers=headers)
    slack.client.post("/slack/events", content=body, headers=headers)  # replayed
    slack.client.post("/slack/events", content=body, headers={**headers, "X-Slack-Retry-Num": "1",
                                                                "X-Slack-Retry-Reason": "http_timeout"})
    with Session(slack.container.engine) as session:
        assert len(session.exec(select(Job).where(Job.kind == "slack.action")).all()) == 1
    slack.run_jobs()
    assert len(fake.calls("POST", "/restart$")) == 1
    assert [e.status for e in executions(slack.container)] == ["succeeded"]


@pytest.mark.parametrize("header", [{}, {"X-Fireline-Signature": ""}, {"X-Fireline-Signature": "sha256="},
                                    {"X-Fireline-Signature": "sha256=" + "0" * 64},
                                    {"X-PagerDuty-Signature": "v1="}, {"Sentry-Hook-Signature": "nothex"}])
def test_alert_webhook_without_a_valid_signature_is_401_and_stores_nothing(app, header):
    body = json.dumps({"title": "Site is down", "id": "delivery-1"}).encode()
    response = app.client.post("/webhooks/alerts", content=body, headers={"Content-Type": "application/json",
                                                                          **header})
    assert response.status_code == 401 and response.json()["error"]
    with Session(app.container.engine) as session:
        assert session.exec(select(Alert)).all() == [] and session.exec(select(Job)).all() == []


def test_a_replayed_alert_delivery_is_counted_once(app):
    payload = {"title": "Site is down", "id": "delivery-1", "source": "checkly"}
    assert post_alert(app.client, payload).status_code == 202
    replay = post_alert(app.client, payload)  # same signed body again
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    with Session(app.container.engine) as session:
        [alert] = session.exec(select(Alert)).all()
    assert alert.count == 1
    assert ALERT_SECRET not in replay.text


# -- authorization: every destructive playbook, from the command and from a forged Confirm ------------------------
CASES = {  # playbook name -> (command, text)
    "restart": ("restart", ""),
    "rollback": ("rollback", ""),
    "scale-count": ("scale", "count 6"),
    "scale-vm": ("scale", "vm performance-1x"),
    "scale-memory": ("scale", "memory 2048"),
    "cdn-flush": ("cdn", "flush --prefix www.example.com/assets/"),
    "canary": ("deploy", "canary registry.fly.io/cgraph-api:deployment-v43"),
}
# Promote and Discard act on a canary that is already running: their cases start one first (below).
RUNNING_CANARY_CASES = {"canary-promote": "promote", "canary-discard": "discard"}


@pytest.fixture
def guarded(db_url, recorder, clock, fake_fly, tmp_path, monkeypatch):
    """Live Fly (the fake), RESPONDERS=U0LEAD, and the docs' CDN plug-in installed from PLAYBOOKS_PATH."""
    from tests.app.test_plugins import LoopbackCdn

    cdn = LoopbackCdn()
    monkeypatch.setenv("CDN_PURGE_URL", cdn.url)
    monkeypatch.setenv("CDN_API_TOKEN", "cdn-token-abc")
    folder = tmp_path / "playbooks.d"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    container = fly_container(db_url, recorder, clock, fake_fly, playbooks_path=str(folder), responders="U0LEAD")
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        harness = SlackHarness(container, recorder, client)
        harness.fake, harness.cdn, harness.clock = fake_fly, cdn, clock  # type: ignore[attr-defined]
        yield harness
    container.engine.dispose()
    cdn.close()


def test_every_destructive_playbook_is_covered_here(guarded):
    destructive = {name for name, playbook in guarded.container.registry.playbooks.items() if playbook.destructive}
    assert destructive == set(CASES) | set(RUNNING_CANARY_CASES), "add the new destructive playbook to CASES"


@pytest.mark.parametrize("name", sorted(CASES))
def test_destructive_playbooks_refuse_people_outside_responders(guarded, name):
    slack, fake, cdn = guarded, guarded.fake, guarded.cdn
    command, text = CASES[name]
    slack.command("declare Checkout returns 502 sev1")
    slack.recorder.reset()

    # 1. an outsider runs the command: a plan (read-only), and their own Confirm is refused
    slack.command(text, command=f"/{command}", user_id="U0INTERN", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Confirm" in plan and "RESPONDERS" in plan, plan
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0INTERN", channel_id="CINC0001", action_ts="1.1")
    assert "You may not confirm this: not in RESPONDERS" in slack.recorder.responses()[-1].text()

    # 2. a responder's plan, and a forged (signed) Confirm payload carrying the outsider's id
    slack.command(text, command=f"/{command}", user_id="U0LEAD", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    forged = action_body(action_id, value, user_id="U0INTERN", channel_id="CINC0001", action_ts="2.2",
                         response_url=slack.recorder.response_url("forged"))
    assert slack.post(forged, "application/x-www-form-urlencoded").status_code == 200
    slack.run_jobs()
    assert "You may not confirm this: not in RESPONDERS" in slack.recorder.responses()[-1].text()

    # nothing ran, nothing was sent to Fly or the CDN, and both refusals are audited and in the timeline
    assert [e.status for e in executions(slack.container)] == ["proposed", "proposed"]
    assert [e.playbook for e in executions(slack.container)] == [name, name]
    assert fake.changes() == [] and cdn.requests == []
    refusals = [a for a in audit_rows(slack.container) if a.action == "refused"]
    assert [(a.actor, a.execution_id) for a in refusals] == [("U0INTERN", 1), ("U0INTERN", 2)]
    assert all("not in RESPONDERS" in a.detail for a in refusals)
    refused_events = [e for e in timeline(slack.container, 1) if e.kind == "playbook_refused"]
    assert len(refused_events) == 2 and all("U0INTERN" in e.text for e in refused_events)

    # the responder's own Confirm still works: the refusals did not break the plan
    slack.press(action_id, value, user_id="U0LEAD", channel_id="CINC0001", action_ts="3.3")
    assert executions(slack.container)[1].status not in ("proposed", "expired")


@pytest.mark.parametrize("name", sorted(RUNNING_CANARY_CASES))
def test_promote_and_discard_of_a_running_canary_refuse_people_outside_responders(guarded, name):
    slack, fake = guarded, guarded.fake
    word = RUNNING_CANARY_CASES[name]
    slack.command("declare Checkout returns 502 sev1")
    # a responder starts a canary through the front end, and its watch ends with a verdict
    slack.command("canary registry.fly.io/cgraph-api:deployment-v43", command="/deploy", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", channel_id="CINC0001", action_ts="0.1")
    for _ in range(slack.container.settings.deploy_canary_minutes + 1):
        slack.clock.advance(minutes=1)
        slack.run_jobs()
    assert [(e.playbook, e.status) for e in executions(slack.container)] == [("canary", "succeeded")]
    with Session(slack.container.engine) as session:
        assert session.exec(select(CanaryRun.status)).all() == ["judged"]
    changes = list(fake.changes())
    assert any(c.endswith("/machines") for c in changes)  # the canary was created
    slack.recorder.reset()

    # 1. an outsider types it: a plan (read-only), and their own Confirm is refused
    slack.command(word, command="/deploy", user_id="U0INTERN", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Confirm" in plan and "RESPONDERS" in plan, plan
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0INTERN", channel_id="CINC0001", action_ts="1.1")
    assert "You may not confirm this: not in RESPONDERS" in slack.recorder.responses()[-1].text()

    # 2. a responder's plan, and a forged (signed) Confirm payload carrying the outsider's id
    slack.command(word, command="/deploy", user_id="U0LEAD", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    forged = action_body(action_id, value, user_id="U0INTERN", channel_id="CINC0001", action_ts="2.2",
                         response_url=slack.recorder.response_url("forged"))
    assert slack.post(forged, "application/x-www-form-urlencoded").status_code == 200
    slack.run_jobs()
    assert "You may not confirm this: not in RESPONDERS" in slack.recorder.responses()[-1].text()

    # nothing ran and nothing more went to Fly; both refusals are audited and on the incident's timeline
    assert [(e.playbook, e.status) for e in executions(slack.container)][1:] == [(name, "proposed")] * 2
    assert fake.changes() == changes
    with Session(slack.container.engine) as session:
        assert session.exec(select(CanaryRun.status)).all() == ["judged"]
    refusals = [a for a in audit_rows(slack.container) if a.action == "refused"]
    assert [(a.actor, a.execution_id) for a in refusals] == [("U0INTERN", 2), ("U0INTERN", 3)]
    assert all("not in RESPONDERS" in a.detail for a in refusals)
    refused_events = [e for e in timeline(slack.container, 1) if e.kind == "playbook_refused"]
    assert len(refused_events) == 2 and all("U0INTERN" in e.text for e in refused_events)

    # the responder's own Confirm still works: the canary is promoted or discarded
    slack.press(action_id, value, user_id="U0LEAD", channel_id="CINC0001", action_ts="3.3")
    assert executions(slack.container)[2].status == "succeeded"
    with Session(slack.container.engine) as session:
        assert session.exec(select(CanaryRun.status)).all() == ["promoted" if word == "promote" else "discarded"]


def test_a_forged_step_confirm_of_a_database_rollback_is_refused(guarded):
    slack, fake = guarded, guarded.fake
    slack.command("declare Bad migration sev1")
    slack.command("--with-db-restore 13:10", command="/rollback", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", channel_id="CINC0001", action_ts="1.1")
    [execution] = executions(slack.container)
    assert execution.status == "waiting"
    changes = list(fake.changes())
    pressed = 0
    for label in ("Confirm", "Done", "Stop"):  # the waiting step's own buttons, forged by an outsider
        try:
            step_action, step_value = newest_button(slack.recorder, label)
        except AssertionError:
            continue
        slack.press(step_action, step_value, user_id="U0INTERN", channel_id="CINC0001", action_ts=f"2.{label}")
        assert "not in RESPONDERS" in slack.recorder.responses()[-1].text()
        pressed += 1
    assert pressed >= 2
    [execution] = executions(slack.container)
    assert execution.status == "waiting" and fake.changes() == changes
    assert [a.actor for a in audit_rows(slack.container) if a.action == "refused"] == ["U0INTERN"] * pressed


# -- injection: nothing anyone types can ping, and channel names stay Slack's ------------------------------------
# Slack's own markup (a real @channel, a mention, a link) and what Slack sends when someone types `<!channel>`.
HOSTILE = "<!channel> <!here> <@U123> <#C1> *bold* <http://x|y> <!subteam^S1> &lt;!channel&gt;"
SENT = HOSTILE.removesuffix(" &lt;!channel&gt;")  # as an alert sender writes it: plain text, nothing escaped
RAW = ["<!channel>", "<!here>", "<@U123>", "<#C1>", "<http://x|y>", "<!subteam^S1>"]


def assert_cannot_ping(recorder, methods=("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")):
    seen_escaped = False
    for call in recorder.calls:
        if call.method not in methods:
            continue
        for text in strings(call.data):
            for raw in RAW:
                assert raw not in text, f"{raw} reached Slack unescaped in {call.method}: {text[:300]}"
            seen_escaped = seen_escaped or "&lt;!channel&gt;" in text
    assert seen_escaped, "the hostile text was never shown at all"


def test_incident_title_update_note_and_show_cannot_ping(slack):
    slack.command(f"declare {HOSTILE} checkout down sev1")
    slack.command(f"update {HOSTILE} rolled back", channel_id="CINC0001")
    slack.command(f"note {HOSTILE} seen in logs", channel_id="CINC0001")
    slack.command("sev 2", channel_id="CINC0001")  # edits the cards (chat.update)
    slack.command("show", channel_id="CINC0001")
    slack.command("list")
    slack.command(f"resolve {HOSTILE} fixed", channel_id="CINC0001")
    assert slack.recorder.of("chat.update") and slack.recorder.responses()
    assert_cannot_ping(slack.recorder)
    shown = slack.recorder.responses()
    assert any("*bold*" in c.text() for c in shown)  # shown as typed (formatting, which cannot ping)
    [name] = [c.data["name"] for c in slack.recorder.of("conversations.create")]
    assert re.fullmatch(r"[a-z0-9_-]{1,80}", name) and name.startswith("inc-1-")


def test_alert_text_cannot_ping(app):
    from tests.support.alerts import run_all

    refused = post_alert(app.client, {"title": "CPU high", "link": "http://x|<!channel>"})
    assert refused.status_code == 422 and "`link` must be an http:// or https:// URL" in refused.json()["error"]
    response = post_alert(app.client, {"title": f"{SENT} CPU high", "text": f"details {SENT}",
                                       "source": f"<!here>{SENT}", "link": "https://grafana.example/d/1?x=1&y=2"})
    assert response.status_code == 202, response.text
    run_all(app, app.clock)
    assert app.recorder.of("chat.postMessage")
    assert_cannot_ping(app.recorder)


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=300), number=st.integers(min_value=1, max_value=10**9))
def test_channel_names_from_any_title_are_slack_names(title, number):
    name = slugify(title, number)
    assert re.fullmatch(r"[a-z0-9_-]{1,80}", name), name
    assert name.startswith(f"inc-{number}")
    # the suffix Fireline adds when a name is taken keeps it within 80 characters
    assert len(f"{name[:76]}-6") <= 80
