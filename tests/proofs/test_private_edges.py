"""Private incidents off the numbered paths: alerts, App Home, /metrics, and requests from another workspace."""

from __future__ import annotations

import json

from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.features.alerts.payloads import from_generic
from bot.store.models import Alert, Incident, IncidentMember, Job, TimelineEvent
from bot.store.models.web import WebLoginLink
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from bot.adapters.slack.home import sections
from tests.support.factories import make_container, slack_harness
from tests.support.signing import action_body, slash_body
from tests.adapters.slack.test_home import home_opened, published
from tests.core.test_metrics import scrape

TITLE = "Payroll export leaks salaries"
SECRET = "payroll"
EVE = "U0EVE"


def _declare(slack) -> None:
    slack.command(f"declare --private {TITLE} sev2")  # U0LEAD: a member
    slack.recorder.reset()


def _said(slack) -> str:
    return "\n".join(call.text() for call in slack.recorder.calls).lower()


# -- alerts --------------------------------------------------------------------------------------------------------
def test_alert_list_leaves_out_the_alerts_of_a_private_incident(slack):
    _declare(slack)
    with Session(slack.container.engine) as session:
        session.add(Alert(source="grafana", dedup_key="grafana:payroll", title="Export job 5xx", level=2,
                          status="linked", incident_id=1))
        session.add(Alert(source="grafana", dedup_key="grafana:api", title="API latency", level=3))
        session.commit()
    slack.command("list", command="/alert", user_id=EVE)
    assert "API latency" in slack.reply_text()
    assert "#1" not in slack.reply_text().replace("*#1*", "") and "Export job" not in slack.reply_text()
    slack.command("list", command="/alert")  # a member sees both
    assert "Export job 5xx" in slack.reply_text() and "linked #1" in slack.reply_text()


def test_a_pasted_alert_with_the_private_incidents_key_stays_out_of_it(slack):
    """PagerDuty's key for #1 is `fireline-1-<epoch>`; pasting it must not count into #1, link to it or say so."""
    _declare(slack)
    payload = {"title": "Export job 5xx", "source": "pagerduty", "dedup_key": "fireline-1-1764079200"}
    key = from_generic(payload).dedup_key
    with Session(slack.container.engine) as session:
        session.add(Alert(source="pagerduty", dedup_key=key, title="Export job 5xx", level=2, status="linked",
                          incident_id=1, first_seen_at=slack.container.clock(), last_seen_at=slack.container.clock()))
        session.commit()
    slack.recorder.reset()
    slack.command(json.dumps(payload), command="/alert", user_id=EVE)
    answer = slack.reply_text()
    assert "incident #1" not in answer and "2×" not in answer, answer
    assert all(call.data.get("channel") != "CINC0001" for call in slack.recorder.calls)
    assert SECRET not in _said(slack)
    slack.command(json.dumps({"dedup_key": "fireline-1-1764079200", "source": "pagerduty", "status": "resolved"}),
                  command="/alert", user_id=EVE)
    assert "alert #1" not in slack.reply_text()  # their own paste (#2) resolves; the private incident's does not
    with Session(slack.container.engine) as session:
        private_one = session.exec(select(Alert).where(Alert.dedup_key == key)).one()
        assert private_one.count == 1 and not (private_one.details or {}).get("resolved_at")
        assert session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == 1,
                                                        TimelineEvent.kind == "alert")).all() == []
    # a member's paste still joins the incident's alert, as before
    slack.command(json.dumps(payload), command="/alert")
    assert "incident #1" in slack.reply_text()


# -- App Home ----------------------------------------------------------------------------------------------------
def test_home_shows_no_follow_up_or_postmortem_of_a_private_incident_to_a_non_member(slack):
    _declare(slack)
    slack.command("followup rotate the export keys <@U0EVE|eve> #1", channel_id="CINC0001")
    slack.command("lead <@U0EVE|eve>", channel_id="CINC0001")  # Eve leads, so a member, and owes the postmortem
    slack.command("resolve contained", channel_id="CINC0001")
    slack.event({"type": "member_left_channel", "channel": "CINC0001", "user": EVE}, event_id="EvLeft")
    with Session(slack.container.engine) as session:
        assert session.get(IncidentMember, (1, EVE)) is None and session.get(Incident, 1).lead_id == EVE
    slack.recorder.reset()
    home_opened(slack, user=EVE, event_id="EvHomeEve")
    [home] = published(slack)
    assert SECRET not in home["text"].lower() and "#1" not in home["text"], home["text"]


def test_home_of_a_member_still_shows_them(slack):
    _declare(slack)
    slack.command("followup rotate the keys <@U0LEAD|lead> #1", channel_id="CINC0001")
    from bot.adapters.slack.context import ack_context

    text = "\n".join(line for reply in sections(ack_context(slack.container, "U0LEAD", ""), "U0LEAD")
                     for line in [reply.text, *reply.lines])
    assert "#1: rotate the keys" in text


# -- /metrics ------------------------------------------------------------------------------------------------------
def test_open_metrics_leave_private_incidents_out_and_a_token_puts_them_back(slack, sqlite_url, recorder, clock):
    _declare(slack)
    slack.command("declare Checkout returns 502 sev2")
    samples = scrape(slack.client)
    assert samples[("fireline_open_incidents", (("severity", "2"),))] == 1  # the public one only
    with_token = make_container(slack.container.settings.database_url, recorder,
                                               metrics_token="scrape-me-123", clock=clock)
    client = TestClient(build_http_app(with_token, build_bolt_app(with_token)))
    samples = scrape(client, Authorization="Bearer scrape-me-123")
    assert samples[("fireline_open_incidents", (("severity", "2"),))] == 2
    with_token.engine.dispose()


# -- another workspace -------------------------------------------------------------------------------------------
def _one_workspace(sqlite_url, recorder, clock):
    container = make_container(sqlite_url, recorder, slack_team_id="T1", clock=clock)
    return container, slack_harness(container, recorder)


def test_requests_from_another_workspace_are_refused_everywhere(sqlite_url, recorder, clock):
    container, harnesses = _one_workspace(sqlite_url, recorder, clock)
    for slack in harnesses:
        slack.command("declare Checkout returns 502 sev2")
        recorder.reset()
        # `/incident web` (the fast HTTP lane), `/incident help` (answered by Bolt in the ack)
        for text in ("web", "help", "show #1"):
            body = slash_body(text, user_id="U0MAL", response_url=recorder.response_url()).replace("team_id=T1",
                                                                                                 "team_id=T9")
            response = slack.post(body, "application/x-www-form-urlencoded")
            slack.run_jobs()
            assert response.status_code == 200 and "another Slack workspace" in response.text, (text, response.text)
        # a button and an event
        body = action_body("incident_ack", "1", user_id="U0MAL", response_url=recorder.response_url("action"))
        assert slack.post(body.replace("%22T1%22", "%22T9%22"), "application/x-www-form-urlencoded").status_code \
            == 200
        slack.run_jobs()
        # no DM with a sign-in link, no answer, nothing posted (Bolt's own token check, auth.test, aside)
        assert [call.method for call in recorder.calls if call.method != "auth.test"] == []
        with Session(container.engine) as session:
            assert session.exec(select(WebLoginLink)).all() == []
            assert session.get(Incident, 1).acknowledged_at is None
            assert session.exec(select(Job).where(Job.kind == "slack.command",
                                                  Job.status == "pending")).all() == []
        # the configured workspace is served as before
        slack.command("web", user_id="U0ANA")
        assert any(call.data.get("channel") == "U0ANA" for call in recorder.of("chat.postMessage"))
    container.engine.dispose()


def test_a_sign_in_link_of_another_workspace_signs_nobody_in(sqlite_url, recorder, clock):
    from bot.adapters.web import auth

    container, harnesses = _one_workspace(sqlite_url, recorder, clock)
    for slack in harnesses:
        elsewhere = container.settings.model_copy(update={"slack_team_id": "T9"})
        token = auth.issue_link(container.engine, elsewhere, "U0MAL", "Mal", clock())
        response = slack.client.post("/team/login/link", data={"t": token}, follow_redirects=False)
        assert response.status_code == 403 and "set-cookie" not in response.headers
    container.engine.dispose()


def test_events_from_another_workspace_change_nothing(sqlite_url, recorder, clock):
    container, harnesses = _one_workspace(sqlite_url, recorder, clock)
    for slack in harnesses:
        slack.command(f"declare --private {TITLE} sev2")
        body = json.dumps({"token": "legacy", "team_id": "T9", "api_app_id": "A1", "type": "event_callback",
                           "event_id": "EvOther", "event_time": 1, "event": {"type": "member_joined_channel",
                                                                             "channel": "CINC0001", "user": EVE}})
        assert slack.post(body, "application/json").status_code == 200
        slack.run_jobs()
        with Session(container.engine) as session:
            assert session.get(IncidentMember, (1, EVE)) is None
    container.engine.dispose()
