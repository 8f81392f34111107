"""The `alert_received` and `postmortem_due` triggers through the real front ends: a captured Alertmanager
delivery to the real HTTP app and a Declare press signed as Slack signs it; the console with the test clock."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from bot.adapters.console import Console
from bot.features.alerts import render as alert_render, service as alert_service
from bot.store.models import FollowUp, Postmortem, WorkflowRun
from tests.features.alerts.test_senders import CORPUS, TOKENS
from tests.support.alerts import ALERT_SECRET, alerts, incidents, pagerduty_event, post_alert
from tests.support.factories import make_container
from tests.support.pagerduty import harness, incident_posts

CAPTURE = "alertmanager-inres-webhook_md-highcpu.json"  # firing; labels environment=production, team=platform

ALERT_FILE = """
workflows:
  - name: Platform alert joins an incident
    on: alert_received
    when:
      state: open
      alert_source: [alertmanager]
      alert_labels: {environment: production, team: platform}
    steps:
      - post: {channel: incident, text: "{{ alert.source }} alert on {{ alert.labels.instance }}: {{ alert.title }}"}
  - name: Staging alerts only
    on: alert_received
    when: {alert_labels: {environment: staging}}
    steps:
      - post: {channel: incident, text: "staging alert"}
"""


def runs(container) -> list[WorkflowRun]:
    with Session(container.engine) as session:
        return list(session.exec(select(WorkflowRun).order_by(WorkflowRun.id)).all())


def deliver_capture(client):
    body = (CORPUS / CAPTURE).read_bytes()
    return client.post("/webhooks/alerts/alertmanager", content=body,
                       headers={"Content-Type": "application/json",
                                "Authorization": f"Bearer {TOKENS['alertmanager']}"})


def test_alert_received_runs_when_an_alert_opens_an_incident_and_when_one_joins_it(sqlite_url, recorder, clock,
                                                                                tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(ALERT_FILE, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), alerts_webhook_secret=ALERT_SECRET,
                               alerts_source_tokens=f"alertmanager={TOKENS['alertmanager']}")
    with harness(container, recorder) as slack:
        assert deliver_capture(slack.client).status_code == 202
        slack.run_jobs()
        assert runs(container) == []  # `state: open` reads the incident: it waits until the alert joins one
        [alert] = alerts(container)
        slack.press(alert_render.DECLARE, str(alert.id))
        expected = ("alertmanager alert on prod-web-server-01:9100: Critical CPU usage detected on production "
                    "web server 3")
        assert len(incident_posts(recorder, expected)) == 1
        [run] = runs(container)
        assert (run.workflow, run.trigger, run.status) == ("Platform alert joins an incident", "alert_received",
                                                           "done")
        assert run.event["event"]["detail"]["alert_labels"]["team"] == "platform"
        # the same alert delivered again within its window is a repeat: no second run
        deliver_capture(slack.client)
        slack.run_jobs()
        assert len(runs(container)) == 1
        # a new firing after the window is a new alert that joins the open incident: it runs once more
        clock.advance(hours=3)
        deliver_capture(slack.client)
        slack.run_jobs()
        assert [a.incident_id for a in alerts(container)] == [1, 1]
        assert [r.workflow for r in runs(container)] == ["Platform alert joins an incident"] * 2
        assert len(incident_posts(recorder, expected)) == 2
        assert not incident_posts(recorder, "staging alert")  # its labels condition did not hold
    container.engine.dispose()


DUE_FILE = """
workflows:
  - name: Postmortem overdue
    on: postmortem_due
    when: {postmortem_done: false}
    steps:
      - post: {channel: incident, text: "The postmortem of #{{ incident.number }} is overdue (due {{ postmortem.due }})."}
      - add_followup: {text: "Write the postmortem of #{{ incident.number }}", owner: lead}
"""


def test_postmortem_due_runs_when_the_due_time_passes_without_the_postmortem(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(DUE_FILE, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/incident declare Checkout returns 502 sev2")
    console.run_line("/incident resolve fixed the pool size")
    with Session(container.engine) as session:
        due = session.exec(select(Postmortem)).one().due_at
    clock.now = due - timedelta(minutes=1)
    console.run_line("/incident workflows")
    assert runs(container) == []  # not due yet (the 24-hour reminder went out; no workflow)
    clock.now = due + timedelta(seconds=1)
    console.run_line("/incident workflows")
    [run] = runs(container)
    assert (run.trigger, run.status) == ("postmortem_due", "done"), run.steps
    assert "The postmortem of #1 is overdue (due " in out.getvalue()
    console.run_line("/incident workflows")  # its run, step by step
    assert "step 2 (add_followup): follow-up 1 added" in out.getvalue()
    with Session(container.engine) as session:
        [followup] = session.exec(select(FollowUp)).all()
    assert followup.text == "Write the postmortem of #1"
    container.engine.dispose()


def test_postmortem_due_does_not_run_once_the_postmortem_is_done(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(DUE_FILE, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    console = Console(container, io.StringIO())
    console.run_line("/incident declare Checkout returns 502 sev2")
    console.run_line("/incident resolve fixed the pool size")
    console.run_line("/postmortem done https://docs.example.com/pm/1 #1")
    clock.advance(days=10)
    console.run_line("/incident workflows")
    assert runs(container) == []
    container.engine.dispose()


def test_the_update_nudge_trigger_runs_the_steps_its_workflows_name(sqlite_url, recorder, clock, tmp_path):
    """`no_update: {after: update_nudge}` is the response clock's nudge timer (re-armed by updates, three in a row
    at most); when it comes, the team's steps run. Before, the clock posted its own :mega: nudge instead and the
    team's steps never ran."""
    from tests.support.pagerduty import harness, incident_posts

    path = tmp_path / "team.yaml"
    path.write_text("""
workflows:
  - name: Ask support to chase the update
    on: {no_update: {after: update_nudge}}
    when: {severity: {at_least: 2}}
    steps:
      - post: {channel: incident, text: "{{ silence.minutes }} minutes without an update on {{ incident.sev }}"}
""", encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    with harness(container, recorder) as slack:
        slack.command("declare Checkout is slow sev2")
        clock.advance(minutes=30)
        slack.run_jobs()
        assert incident_posts(recorder, "30 minutes without an update on SEV2")
        assert not incident_posts(recorder, "has had no status update")  # the team's steps, not the built-in nudge
        clock.advance(minutes=30)
        slack.run_jobs()
        assert len(incident_posts(recorder, "minutes without an update on SEV2")) == 2  # the clock's next round
        slack.command("update Found the slow query", channel_id="CINC0001")
        clock.advance(minutes=29)
        slack.run_jobs()
        assert len(incident_posts(recorder, "minutes without an update on SEV2")) == 2  # an update re-arms it
    container.engine.dispose()


def test_a_state_change_knows_the_state_before_it(sqlite_url, recorder, clock, tmp_path):
    """Acknowledging and resolving say the state the incident was in (before: the one after the change, and
    `open` for every resolve), so `from:` and `change.old` read what happened."""
    from tests.support.pagerduty import harness, incident_posts

    path = tmp_path / "team.yaml"
    path.write_text("""
workflows:
  - name: Acknowledged as soon as declared
    on: {state_changed: {to: acknowledged, from: declared}}
    steps:
      - post: {channel: incident, text: "Acknowledged; it was {{ change.old }}"}
  - name: Resolved with no mitigation first
    on: {state_changed: {to: resolved, from: investigating}}
    steps:
      - post: {channel: incident, text: "Resolved straight from {{ change.old }}: was it mitigated?"}
""", encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    with harness(container, recorder) as slack:
        slack.command("declare Checkout is slow sev3")
        slack.command("ack", channel_id="CINC0001")
        assert incident_posts(recorder, "Acknowledged; it was declared")
        slack.command("status monitoring", channel_id="CINC0001")
        slack.command("resolve fixed", channel_id="CINC0001")
        assert not incident_posts(recorder, "Resolved straight from")  # it was monitoring
        slack.command("declare Search is slow sev3")
        slack.command("ack", channel_id="CINC0002")
        slack.command("resolve fixed", channel_id="CINC0002")
        assert incident_posts(recorder, "Resolved straight from investigating: was it mitigated?")
    container.engine.dispose()


# -- alert_received when the alert arrives, before anyone declares ----------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[3] / "docs/examples/workflows/customer-support.yaml"
PAYMENTS = {"title": "Stripe charge failures up 40%", "text": "payment charges failing at checkout", "source": "stripe",
            "labels": {"team": "payments"}, "id": "delivery-1"}
HEARD = "A stripe alert about payments: Stripe charge failures up 40%. No incident yet; watch #incidents."


def channel_posts(recorder, needle: str) -> list[str]:
    """The channels of the posts saying `needle`."""
    return [str(c.data.get("channel")) for c in recorder.of("chat.postMessage") if needle in c.text()]


def test_a_payments_alert_is_heard_in_support_when_it_arrives_once_and_not_again_when_declared(
        sqlite_url, recorder, clock):
    container = make_container(sqlite_url, recorder, clock, workflows=str(EXAMPLE), alerts_webhook_secret=ALERT_SECRET)
    with harness(container, recorder) as slack:
        assert post_alert(slack.client, PAYMENTS).status_code == 202
        assert post_alert(slack.client, PAYMENTS).status_code in (200, 202)  # the sender's retry: a replay
        assert post_alert(slack.client, {**PAYMENTS, "id": "delivery-2"}).status_code == 202  # a repeat, same thread
        slack.run_jobs()
        assert incidents(container) == []  # nobody declared
        [alert] = alerts(container)
        assert alert.count == 2
        assert channel_posts(recorder, HEARD) == ["#support"]
        [run] = runs(container)
        assert (run.workflow, run.incident_id, run.alert_id, run.status) == (
            "Support hears about payment alerts at once", None, alert.id, "done")
        # the arrival's job run again (a retry, a second replica): the run is claimed, nothing twice
        alert_service.arrived(container, {"alert_id": alert.id})
        slack.run_jobs()
        assert len(channel_posts(recorder, HEARD)) == 1 and len(runs(container)) == 1
        # declared from the alert: the alert joins #1, and the same workflow does not run again for it
        slack.press(alert_render.DECLARE, str(alert.id))
        slack.run_jobs()
        assert [a.incident_id for a in alerts(container)] == [1]
        assert len(channel_posts(recorder, HEARD)) == 1
        assert [r.workflow for r in runs(container) if r.trigger == "alert_received"] == [
            "Support hears about payment alerts at once"]
    container.engine.dispose()


NO_INCIDENT_FILE = """
workflows:
  - name: Payments alert before anyone declares
    on: alert_received
    when: {alert_labels: {team: payments}}
    steps:
      - page: {policy: default}
      - post: {channel: "#support", text: "heard {{ alert.title }}"}
  - name: Payments incident for support
    on: alert_received
    when: {alert_labels: {team: payments}}
    steps:
      - post: {channel: "#support", text: "about {{ incident.title }}"}
"""


def test_steps_that_need_an_incident_fail_saying_so_and_the_others_go_on(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(NO_INCIDENT_FILE, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), alerts_webhook_secret=ALERT_SECRET)
    with harness(container, recorder) as slack:
        assert post_alert(slack.client, PAYMENTS).status_code == 202
        slack.run_jobs()
        [run] = runs(container)  # the one whose template reads the incident waits for one
        assert run.status == "failed" and run.incident_id is None
        page, heard = run.steps
        assert not page["ok"] and page["text"].startswith(f"no incident yet: cannot page, alert #{run.alert_id}")
        assert heard["ok"] and channel_posts(recorder, "heard Stripe charge failures up 40%") == ["#support"]
        assert not channel_posts(recorder, "about ")  # nothing half-rendered in #support
        assert channel_posts(recorder, "failed: no incident yet") == ["#incidents"]
        # declared from the alert: the waiting workflow runs now, with the incident; the first does not run again
        [alert] = alerts(container)
        slack.press(alert_render.DECLARE, str(alert.id))
        slack.run_jobs()
        assert channel_posts(recorder, "about Stripe charge failures up 40%") == ["#support"]
        assert sorted(r.workflow for r in runs(container)) == ["Payments alert before anyone declares",
                                                               "Payments incident for support"]
    container.engine.dispose()


PRIVATE_FILE = """
workflows:
  - name: Tell support about PagerDuty alerts
    on: alert_received
    when: {alert_source: [pagerduty]}
    steps:
      - post: {channel: "#support", text: "support: {{ alert.title }}"}
"""


def test_an_alert_that_arrives_linked_to_a_private_incident_keeps_to_its_channel(sqlite_url, recorder, clock,
                                                                                 tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(PRIVATE_FILE, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), alerts_webhook_secret=ALERT_SECRET)
    with harness(container, recorder) as slack:
        slack.command("declare --private Card data in the logs sev2")
        slack.run_jobs()
        event = pagerduty_event(title="Fireline #1 card numbers logged by checkout")
        assert post_alert(slack.client, event, header="X-PagerDuty-Signature").status_code == 202
        slack.run_jobs()
        [alert] = alerts(container)
        assert alert.incident_id == 1  # it named the incident: it joined it as it arrived
        [run] = runs(container)
        assert (run.incident_id, run.alert_id, run.status) == (1, alert.id, "failed")
        assert "#1 is private" in run.steps[0]["text"]
        assert not channel_posts(recorder, "support: Fireline #1")  # nothing about a private incident in #support
    container.engine.dispose()


FOLLOWS_FILE = """
workflows:
  - name: Payments alert, then a reminder
    on: alert_received
    when: {alert_labels: {team: payments}}
    steps:
      - post: {channel: "#support", text: "first: {{ alert.title }}"}
      - remind: {after: 40m, to: "#support", text: "reminder: {{ alert.title }}"}
      - wait: 30m
      - post: {channel: "#support", text: "still: {{ alert.title }}"}
"""


def test_a_run_that_began_with_no_incident_keeps_to_the_private_incident_its_alert_joins(sqlite_url, recorder, clock,
                                                                                         tmp_path):
    from bot.store.models import Incident

    path = tmp_path / "team.yaml"
    path.write_text(FOLLOWS_FILE, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), alerts_webhook_secret=ALERT_SECRET)
    with harness(container, recorder) as slack:
        assert post_alert(slack.client, PAYMENTS).status_code == 202
        slack.run_jobs()
        assert channel_posts(recorder, "first: Stripe") == ["#support"]
        [alert] = alerts(container)
        slack.press(alert_render.DECLARE, str(alert.id))  # the alert joins #1 during the wait ...
        slack.run_jobs()
        with Session(container.engine) as session:  # ... which is made members-only (the declare form's choice)
            incident = session.get(Incident, 1)
            incident.private = True
            session.add(incident)
            session.commit()
        clock.advance(minutes=45)
        slack.run_jobs()
        [run] = runs(container)
        assert not channel_posts(recorder, "still: Stripe") and not channel_posts(recorder, "reminder: Stripe")
        assert "#1 is private" in run.steps[3]["text"]  # the post after the wait; the reminder queued before
        assert run.incident_id == 1                       # the alert joined #1 is not sent either
        # the run is #1's now: its failure is said in #1's own channel, not in #incidents for everyone to read
        assert channel_posts(recorder, "step 4 (post) failed") == ["CINC0001"]
    container.engine.dispose()
