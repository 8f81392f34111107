"""People by name: Slack's users.info, cached, in postmortems, PagerDuty notes and playbook texts.

A new user saw `@U0ONCALL` in the postmortem draft, a refused Confirm listed as "ran playbooks", a
PagerDuty resolve credited to "@pagerduty", and `&lt;your-postgres-app>` in the Markdown.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlmodel import Session, select

from bot.store.models import Postmortem
from bot.adapters.slack import people
from playbooks import postmortem as pm
from tests.support.pagerduty import incident_data, post_webhook, rest_harness, webhook
from tests.support.playbook_harness import newest_button

NAMES = {"U0LEAD": "Lena Lead", "U0ONCALL": "Omar Oncall", "U0INTERN": "Ivy Intern", "U0CHEN": "Chen Li"}
CHANNEL = "CINC0001"


def draft(container, number: int = 1) -> str:
    with Session(container.engine) as session:
        return session.exec(select(Postmortem).where(Postmortem.incident_id == number)).one().markdown


def section(markdown: str, title: str) -> str:
    start = markdown.index(f"## {title}")
    return markdown[start:markdown.index("\n## ", start + 3)]


def test_names_come_from_users_info_once_then_from_the_cache_until_they_expire(recorder):
    from bot.adapters.slack.slack_chat import make_web_client
    from tests.support.factories import make_settings

    recorder.names.update(NAMES)
    client = make_web_client(make_settings("sqlite://", recorder))
    now = [1000.0]
    cache = people.NameCache(ttl=3600, clock=lambda: now[0])
    assert people.display_name(client, "U0ONCALL", cache) == "Omar Oncall"
    assert people.display_name(client, "U0ONCALL", cache) == "Omar Oncall"
    assert len(recorder.of("users.info")) == 1  # the second came from the cache
    assert people.display_name(client, "console", cache) is None  # not a Slack id: Slack is not asked
    assert len(recorder.of("users.info")) == 1
    recorder.names["U0ONCALL"] = "Omar O."
    now[0] += 3601
    assert people.display_name(client, "U0ONCALL", cache) == "Omar O."  # expired: asked again
    recorder.fail("users.info", "user_not_found")
    assert people.display_name(client, "U0GONE", cache) is None


def test_postmortem_names_people_and_keeps_refusals_out_of_the_playbooks_run(fly_slack, clock):
    slack = fly_slack
    slack.recorder.names.update(NAMES)
    slack.command("declare Checkout returns 502 sev1", user_id="U0LEAD")
    slack.command("ack", user_id="U0ONCALL", channel_id=CHANNEL)
    slack.command("", command="/restart", user_id="U0ONCALL", channel_id=CHANNEL)
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0INTERN", channel_id=CHANNEL, action_ts="1.1")  # not in RESPONDERS
    slack.press(action_id, value, user_id="U0LEAD", channel_id=CHANNEL, action_ts="1.2")
    slack.run_jobs()
    clock.advance(minutes=20)
    slack.command("resolve restarted", user_id="U0ONCALL", channel_id=CHANNEL)
    slack.run_jobs()
    markdown = draft(slack.container)
    ran = section(markdown, "Mitigations and playbooks run")
    assert "Restart" in ran and "Refused" not in ran and "Ivy Intern" not in ran
    involved = section(markdown, "People involved")
    [intern] = [line for line in involved.splitlines() if "Ivy Intern" in line]
    assert "ran playbooks" not in intern and "refused" in intern
    [lead] = [line for line in involved.splitlines() if "Lena Lead" in line]
    assert "ran playbooks" in lead and "declared" in lead
    assert "Omar Oncall" in involved
    for user_id in NAMES:
        assert user_id not in markdown, user_id  # names, never ids
    # the refusal's own timeline text names the person too (it is shown in Slack and in the draft)
    assert "Refused Confirm of" in markdown and "by Ivy Intern" in markdown


def test_markdown_says_placeholders_as_written_and_still_neutralises_html():
    t0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    incident = SimpleNamespace(id=3, title="DB restore", severity=1, status="resolved", declared_by="U1",
                               lead_id="U1", channel_name="inc-3", summary=None, severity_reason=None,
                               declared_at=t0, acknowledged_at=None, acknowledged_by=None, mitigated_at=None,
                               resolved_at=t0 + timedelta(hours=1))
    steps = [{"title": "Restore <your-postgres-app> to 2026-11-25T13:00:00Z", "status": "done", "summary": ""},
             {"title": "<script>alert(1)</script>", "status": "done", "summary": ""}]
    events = [SimpleNamespace(at=t0, kind="playbook_finished", actor="U1", text="Rolled back", data={
        "status": "succeeded", "steps": steps})]
    doc = pm.build(incident, events, [], generated_at=t0, due=None, owed=False)
    markdown = pm.render(doc).markdown
    assert "<your-postgres-app>" in markdown and "&lt;your-postgres-app" not in markdown
    assert "<script>" not in markdown  # other HTML is still neutralised


def test_a_resolve_from_pagerduty_is_credited_to_the_agent(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as slack:
        slack.command("declare Site is down sev1")
        resolved = webhook("incident.resolved", incident_data("PINC101", status="resolved"),
                           occurred_at=clock() + timedelta(minutes=5))
        post_webhook(slack, resolved)
        slack.run_jobs()
        markdown = draft(slack.container)
        texts = [call.text() for call in slack.recorder.of("chat.postMessage")]
    assert "@pagerduty" not in markdown
    involved = section(markdown, "People involved")
    [agent] = [line for line in involved.splitlines() if "Chen Li" in line]
    assert "resolved" in agent and "PagerDuty" in agent
    assert any("resolved by Chen Li (PagerDuty)" in text for text in texts), texts


def test_notes_sent_to_pagerduty_name_the_person(db_url, recorder, clock, pd):
    recorder.names.update(NAMES)
    with rest_harness(db_url, recorder, clock) as slack:
        slack.command("declare Site is down sev1")
        slack.command("note Saw resets from iad", user_id="U0ONCALL", channel_id=CHANNEL)
        slack.run_jobs()
    contents = [content for _, content in pd.notes]
    assert "[Fireline] Omar Oncall: Saw resets from iad" in contents, contents
    assert not [c for c in contents if "U0ONCALL" in c]



def test_ids_in_older_texts_and_mentions_become_names_in_the_draft():
    names = {"U0LEAD": "Lena Lead", "U0NEW": "Ned New"}
    assert pm.from_slack("Lead U0LEAD -> U0NEW, cc <@U0LEAD> and @U0NEW; U0LEADER stays", names) == (
        "Lead Lena Lead -> Ned New, cc @Lena Lead and @Ned New; U0LEADER stays")
    assert pm.from_slack("cc <@U0LEAD>") == "cc @U0LEAD"  # without names, as before
