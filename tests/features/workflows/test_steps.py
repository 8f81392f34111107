"""invite, add_followup, escalate, remind and wait (with `unless`) through signed HTTP to the real Bolt app,
the recording Slack stand-in (its usergroups.list) and the test clock."""

from __future__ import annotations


from sqlmodel import Session, select

from bot.store.models import FollowUp, WorkflowRun
from tests.support.factories import make_container
from tests.support.pagerduty import harness, incident_posts

CHANNEL = "CINC0001"
FILE = """
workflows:
  - name: Heads-up chain
    on: declared
    when: {severity: 3}
    steps:
      - invite: {people: ["<@U0ALICE>"], groups: ["exec-oncall"]}
      - add_followup: {text: "Review paging for {{ incident.title }}", owner: lead}
      - escalate: {area: database}
      - remind: {after: 10m, to: lead, text: "Ten minutes in: post an update", unless: {updated: true}}
      - wait: {for: 20m, unless: {acknowledged: true}}
      - post: {channel: incident, text: "Twenty minutes and nobody acknowledged"}
"""


def start(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(FILE, encoding="utf-8")
    recorder.usergroups = [{"id": "S0EXEC", "handle": "exec-oncall", "users": ["U0CHEN", "U0MARCUS"]}]
    return make_container(sqlite_url, recorder, clock, workflows=str(path))


def the_run(container) -> WorkflowRun:
    with Session(container.engine) as session:
        [run] = session.exec(select(WorkflowRun)).all()
        return run


def invited(recorder) -> set[str]:
    return {u for call in recorder.of("conversations.invite") if call.data.get("channel") == CHANNEL
            for u in str(call.data.get("users")).split(",")}


def test_invite_followup_escalate_then_the_reminder_and_the_wait_run_when_nobody_acts(sqlite_url, recorder, clock,
                                                                                  tmp_path):
    container = start(sqlite_url, recorder, clock, tmp_path)
    with harness(container, recorder) as slack:
        slack.command("declare Search is slow sev3")
        assert {"U0ALICE", "U0CHEN", "U0MARCUS"} <= invited(recorder)  # a mention and the group's members
        with Session(container.engine) as session:
            [followup] = session.exec(select(FollowUp)).all()
        assert followup.text == "Review paging for Search is slow" and followup.owner == "U0LEAD"
        assert any("escalated to *Backend/Database*" in t for t in incident_posts(recorder, "escalated"))
        assert not incident_posts(recorder, "Ten minutes in")
        clock.advance(minutes=10, seconds=1)
        slack.run_jobs()
        [reminder] = incident_posts(recorder, "Ten minutes in: post an update")
        assert "<@U0LEAD>" in reminder
        assert not incident_posts(recorder, "nobody acknowledged")
        clock.advance(minutes=10)
        slack.run_jobs()
        assert incident_posts(recorder, "Twenty minutes and nobody acknowledged")
        run = the_run(container)
        assert run.status == "done" and [s["kind"] for s in run.steps] == [
            "invite", "add_followup", "escalate", "remind", "wait", "post"]
    container.engine.dispose()


def test_the_reminder_and_the_rest_of_the_chain_are_skipped_when_their_unless_holds(sqlite_url, recorder, clock,
                                                                                  tmp_path):
    container = start(sqlite_url, recorder, clock, tmp_path)
    with harness(container, recorder) as slack:
        slack.command("declare Search is slow sev3")
        clock.advance(minutes=2)
        slack.command("update Reindexing the search cluster", channel_id=CHANNEL)
        slack.command("ack", channel_id=CHANNEL)
        clock.advance(minutes=30)
        slack.run_jobs()
        assert not incident_posts(recorder, "Ten minutes in")
        assert not incident_posts(recorder, "nobody acknowledged")
        run = the_run(container)
        assert run.status == "done"
        assert run.steps[-1]["kind"] == "skipped" and "1 step(s) skipped" in run.steps[-1]["text"]
        slack.command("workflows", channel_id=CHANNEL)
        assert "the wait's `unless` held" in slack.reply_text()
    container.engine.dispose()


def test_a_group_slack_does_not_know_is_named_and_the_others_are_invited(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text("workflows:\n  - name: Invite\n    on: declared\n    steps:\n"
                    "      - invite: {people: [\"<@U0ALICE>\"], groups: [\"@no-such-group\"]}\n", encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    with harness(container, recorder) as slack:
        slack.command("declare Search is slow sev3")
        assert "U0ALICE" in invited(recorder)
        run = the_run(container)
        assert run.steps[0]["ok"] and "not invited: @no-such-group (no such user group" in run.steps[0]["text"]
    container.engine.dispose()


LEAKY = """
workflows:
  - name: Tell leadership
    on: declared
    steps:
      - post: {channel: "#leadership", text: "{{ incident.sev }} declared: {{ incident.title }}"}
      - remind: {after: 5m, to: "#leadership", text: "Still on {{ incident.title }}"}
      - post: {channel: incident, text: "Leadership was told"}
"""


def test_a_private_incidents_workflow_never_writes_in_another_channel(sqlite_url, recorder, clock, tmp_path):
    """A team file without `private: false`: the title of a private incident must not reach #leadership, where
    non-members read. Each such step fails, saying why in the incident's own channel, and the rest go on."""
    path = tmp_path / "team.yaml"
    path.write_text(LEAKY, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    with harness(container, recorder) as slack:
        slack.command("declare --private Payroll export leaks salaries sev2")
        clock.advance(minutes=6)
        slack.run_jobs()
        outside = [c for c in recorder.calls if c.method in ("chat.postMessage", "chat.update")
                   and c.data.get("channel") not in (CHANNEL, None) and "Payroll" in str(c.data)]
        assert outside == []
        assert any("is private, so its workflows write only in its own channel" in t
                   for t in incident_posts(recorder, "not posted in #leadership"))
        assert incident_posts(recorder, "Leadership was told")
    container.engine.dispose()


def test_a_closing_draft_step_keeps_its_own_words_and_components_in_the_offer_on_resolve(sqlite_url, recorder, clock,
                                                                                        tmp_path):
    """On resolve the resolver is shown the closing draft at once (offer_closing_update); it is the step's draft:
    its text and its components, not a generic one the step then leaves alone as `already waiting`."""
    from bot.features.status.service import publish_value
    from bot.store.models import StatusUpdate

    path = tmp_path / "team.yaml"
    path.write_text("""
workflows:
  - name: Close publicly
    on: {state_changed: {to: resolved}}
    when: {status_published: true}
    steps:
      - draft_status:
          stage: resolved
          components: [Payments, API]
          text: "Card payments and the API work again after {{ incident.title | lower }}."
""", encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), responders="U0LEAD")
    with harness(container, recorder) as slack:
        slack.command("declare Checkout broken sev2")
        slack.command("statuspage Payments", channel_id=CHANNEL)
        with Session(container.engine) as session:
            [draft] = session.exec(select(StatusUpdate)).all()
        slack.press("status_publish", publish_value(draft))
        slack.command("resolve fixed the config", channel_id=CHANNEL)
        offered = [r for r in [c.text() for c in recorder.responses()] if "publish the closing update" in r]
        assert offered and "Card payments and the API work again after checkout broken." in offered[-1]
        with Session(container.engine) as session:
            [closing] = session.exec(select(StatusUpdate).where(StatusUpdate.state == "draft")).all()
        assert closing.body == "Card payments and the API work again after checkout broken."
        assert set(closing.components) == {"Payments", "API"} and closing.stage == "resolved"
    container.engine.dispose()
