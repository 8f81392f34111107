"""What the team sees of its workflows: the console's live rehearsal (`:workflows test ...`), through the real
console on a real database; it must print the plan and leave every table as it was."""

from __future__ import annotations

import io

from sqlalchemy import func
from sqlmodel import Session, select

from bot.adapters.console import Console
from bot.store.models import Job, PlaybookAudit, Postmortem, TimelineEvent, WorkflowRun

TEAM = """
workflows:
  - name: Exec escalation
    on: declared
    when: {severity: 1}
    steps:
      - post: {channel: incident, text: "Exec heads-up for #{{ incident.number }} {{ incident.title }}"}
      - remind: {after: 30m, text: "Update the execs"}
  - name: Support heads-up
    on: state_changed
    when: {state: resolved}
    steps:
      - post: {channel: "#support", text: "#{{ incident.number }} is resolved"}
"""


def _counts(container) -> tuple[int, ...]:
    with Session(container.engine) as session:
        return tuple(session.exec(select(func.count()).select_from(model)).one()
                     for model in (WorkflowRun, Job, TimelineEvent, PlaybookAudit))


def test_the_console_rehearses_the_incident_at_hand_and_touches_nothing(make_container, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(TEAM, encoding="utf-8")
    container = make_container(workflows=str(path))
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/incident declare Checkout down sev3")
    before, said = _counts(container), len(out.getvalue())
    console.run_line(":workflows test declared sev1")
    shown = out.getvalue()[said:]
    assert "Rehearsal on #1" in shown
    assert "Exec escalation (" in shown and "team.yaml:3) runs:" in shown
    assert "post in the incident channel: “Exec heads-up for #1 Checkout down”" in shown
    assert "remind lead after 30m" in shown
    assert "Support heads-up" not in shown.split("left out")[0]  # another trigger: left out, not listed
    assert "1 workflow would run. This was a rehearsal: nothing was sent." in shown
    assert _counts(container) == before  # no run claimed, no job queued, nothing in the timeline or audit log

    said = len(out.getvalue())
    console.run_line(":workflows test declared")  # the incident's own severity: SEV3, so the exec one does not run
    assert "Exec escalation (" in out.getvalue()[said:] and "does not run: the incident is SEV3, not SEV1" \
        in out.getvalue()[said:]

    said = len(out.getvalue())
    console.run_line(":workflows test state_changed new_state=resolved")
    assert "post in #support: “#1 is resolved”" in out.getvalue()[said:]
    assert _counts(container) == before


def test_a_rehearsal_refusal_says_what_to_type(make_container):
    out = io.StringIO()
    console = Console(make_container(), out)
    console.run_line(":workflows test")
    assert "Which trigger?" in out.getvalue() and "`:workflows test declared sev1`" in out.getvalue()
    console.run_line(":workflows test declared loud")
    assert "`loud` is not sevN" in out.getvalue()
    console.run_line(":workflows test declared sev1")  # in #incidents: no incident here, a sample one
    assert "Rehearsal on a sample incident" in out.getvalue() and "Page the on-call for SEV1 and SEV2" in out.getvalue()


FAILING = """
workflows:
  - name: Heads-up
    on: declared
    steps:
      - bookmark: {title: Runbook, url: "ftp://not-a-web-link"}
      - remind: {after: 30m, text: "Post an update"}
"""


def _published_home(recorder, user: str) -> str:
    return "\n".join(call.text() for call in recorder.of("views.publish") if call.data.get("user_id") == user)


def test_incident_workflows_and_app_home_show_a_private_incidents_runs_to_its_members_only(db_url, recorder,
                                                                                           clock, tmp_path):
    """Signed slash commands and app_home_opened events to the real Bolt app; the recording Slack stand-in."""
    from tests.support.pagerduty import build, harness

    path = tmp_path / "team.yaml"
    path.write_text(FAILING, encoding="utf-8")
    recorder.names.update({"U0LEAD": "Dana Lead", "U0ANA": "Ana Souza"})
    container = build(db_url, recorder, clock, workflows=str(path))
    with harness(container, recorder) as slack:
        slack.command("declare --private Payroll export leaks salaries sev2")  # U0LEAD: member and commander
        slack.command("workflows", channel_id="CINC0001")
        shown = slack.reply_text()
        assert "Heads-up" in shown and "declared" in shown
        # one wording for a step in every front end (here, App Home and the team page): before, three
        assert "step 1 (bookmark): failed: " in shown and "is not a link" in shown  # the failed step and why
        assert "step 2 (remind): reminder due" in shown  # the step that ran
        assert "scheduled" in shown and "reminder of “Heads-up”" in shown  # what is still to come
        assert "team.yaml" in shown

        slack.command("workflows #1", user_id="U0ANA")  # not a member: the incident does not exist for her
        refused = slack.reply_text()
        assert "Heads-up" not in refused and "Payroll" not in refused and "#1" in refused

        recorder.reset()
        slack.event({"type": "app_home_opened", "user": "U0LEAD", "channel": "D1", "tab": "home"}, event_id="EvH1")
        slack.event({"type": "app_home_opened", "user": "U0ANA", "channel": "D2", "tab": "home"}, event_id="EvH2")
        lead_home, ana_home = _published_home(recorder, "U0LEAD"), _published_home(recorder, "U0ANA")
        assert "Workflow steps that failed on my incidents" in lead_home
        assert "“Heads-up” step 1 (bookmark): failed: " in lead_home and "is not a link" in lead_home
        assert "Workflow steps that failed" not in ana_home and "Payroll" not in ana_home

        slack.command("resolve fixed", channel_id="CINC0001")  # resolved: no longer something to act on
        recorder.reset()
        clock.advance(minutes=2)
        slack.event({"type": "app_home_opened", "user": "U0LEAD", "channel": "D1", "tab": "home"}, event_id="EvH3")
        assert "Workflow steps that failed" not in _published_home(recorder, "U0LEAD")
    container.engine.dispose()


def test_the_team_page_lists_the_workflows_with_their_last_runs_hiding_private_ones(db_url, recorder, clock,
                                                                                    fake_fly, pd, tmp_path):
    """Signed HTTP to the real app; the incidents made through the front ends (tests/support/real_run.py)."""
    from tests.support.real_run import real_site, team_client

    path = tmp_path / "team.yaml"
    path.write_text(FAILING + """
  - name: Tell support on resolve
    enabled: false
    on: state_changed
    when: {state: resolved}
    steps:
      - post: {channel: "#support", text: "#{{ incident.number }} is resolved"}
""", encoding="utf-8")
    with real_site(db_url, recorder, clock, fake_fly, pd, workflows=str(path)) as slack:
        slack.command("declare Checkout down sev2", user_id="U0AISHA")
        slack.command("declare --private Payroll export leaks salaries sev2", user_id="U0AISHA")
        member, other = team_client(slack, "U0AISHA"), team_client(slack, "U0BEN")
        seen = member.get("/team/workflows")
        assert seen.status_code == 200 and seen.headers["cache-control"] == "no-store"
        page = seen.text
        assert "Heads-up" in page and "team.yaml:3</code>" in page and "declared" in page
        assert "Tell support on resolve" in page and ">off<" in page and "not run yet" in page
        assert "#1</a> Checkout down" in page and "#2</a> Payroll export leaks salaries" in page
        assert "step 1 (bookmark): failed: " in page and "is not a link" in page
        hidden = other.get("/team/workflows").text
        assert "Heads-up" in hidden and "#1</a> Checkout down" in hidden
        assert "Payroll" not in hidden and "/team/incidents/2" not in hidden  # a non-member: not even its number
        assert "/team/workflows" in other.get("/team/").text  # in the navigation
        assert team_client(slack, "U0BEN").get("/team/workflows").status_code == 200
        signed_out = slack.client.get("/team/workflows", follow_redirects=False)
        assert signed_out.status_code in (302, 303, 307) and "/team/workflows" not in signed_out.text


def test_the_postmortem_times_each_step_from_the_declaration_and_says_why_one_failed(sqlite_url, recorder, clock,
                                                                                      tmp_path):
    """Signed slash commands; the step after a 12-minute wait runs when the clock has moved 12 minutes."""
    from tests.support.pagerduty import build, harness

    path = tmp_path / "team.yaml"
    path.write_text("""
workflows:
  - name: Slow chain
    on: declared
    steps:
      - post: {channel: incident, text: "Chain started"}
      - wait: 12m
      - bookmark: {title: Runbook, url: "ftp://not-a-web-link"}
""", encoding="utf-8")
    container = build(sqlite_url, recorder, clock, workflows=str(path))
    with harness(container, recorder) as slack:
        slack.command("declare Checkout down sev3")
        clock.advance(minutes=12, seconds=5)
        slack.run_jobs()
        slack.command("resolve fixed", channel_id="CINC0001")
        slack.command("#1", command="/postmortem", channel_id="CINC0001")
        with Session(container.engine) as session:
            [row] = session.exec(select(Postmortem)).all()
    container.engine.dispose()
    automation = row.markdown.split("## Automation", 1)[1]
    assert "- 0:00 after declare: Workflow “Slow chain” step 1 (post)" in automation
    assert "- 0:12 after declare: Workflow “Slow chain” step 3 (bookmark): failed:" in automation
    assert "is not a link" in automation


COMPONENTS = """
workflows:
  - name: Payments heads-up
    on: declared
    when: {components: [Payments]}
    steps:
      - post: {channel: incident, text: "Payments is affected: {{ incident.components | join(', ') }}"}
"""


def test_components_named_when_declaring_are_the_incidents_until_a_status_update_names_others(make_container,
                                                                                              tmp_path):
    """Typed `--components` (the modal's Affected components): a `components` condition under `declared` holds."""
    path = tmp_path / "team.yaml"
    path.write_text(COMPONENTS, encoding="utf-8")
    out = io.StringIO()
    console = Console(make_container(workflows=str(path)), out)
    console.run_line("/incident declare Card payments failing sev2 --components Payments,API")
    assert "Payments is affected: Payments, API" in out.getvalue()
    assert "Incident #1: Card payments failing\n" in out.getvalue()  # the flag is not part of the title
    console.run_line(":channel incidents")
    console.run_line("/incident declare Search is slow sev2")
    assert out.getvalue().count("Payments is affected") == 1  # no components named: the condition does not hold
    console.run_line("/incident declare Broken --components")
    assert "`--components` needs the component names, comma-separated." in out.getvalue()


def test_a_sample_rehearsal_fills_every_field_a_template_reads(make_container, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(TEAM, encoding="utf-8")
    out = io.StringIO()
    console = Console(make_container(workflows=str(path)), out)
    console.run_line(":workflows test declared sev1")  # in #incidents: no incident here, a sample one
    shown = out.getvalue()
    assert "Rehearsal on a sample incident" in shown
    assert "“Exec heads-up for #1 Checkout returns 502 for every request”" in shown  # not "#None a rehearsal"
    assert "#None" not in shown


def test_the_team_page_lists_an_alerts_run_that_has_no_incident(db_url, recorder, clock, fake_fly, pd, tmp_path):
    """An alert_received run before anyone declared belongs to no incident: the team page is where it is seen."""
    from tests.support.alerts import ALERT_SECRET, post_alert
    from tests.support.real_run import real_site, team_client

    path = tmp_path / "team.yaml"
    path.write_text("""
workflows:
  - name: Payments alert heard
    on: alert_received
    when: {alert_labels: {team: payments}}
    steps:
      - post: {channel: "#support", text: "heard {{ alert.title }}"}
""", encoding="utf-8")
    with real_site(db_url, recorder, clock, fake_fly, pd, workflows=str(path),
                   alerts_webhook_secret=ALERT_SECRET) as slack:
        assert post_alert(slack.client, {"title": "Charge failures up 40%", "source": "stripe",
                                         "labels": {"team": "payments"}, "id": "d-1"}).status_code == 202
        slack.run_jobs()
        page = team_client(slack, "U0BEN").get("/team/workflows").text
        assert "Payments alert heard" in page and "alert #1, no incident" in page and "done" in page
