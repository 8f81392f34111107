"""docs/examples/workflows/exec-escalation.yaml from declare to resolve, as docs/workflows.md shows it: signed
slash commands to the real Bolt app, the recording Slack stand-in (with the @exec-oncall user group), the scripted
PagerDuty and the test clock. And a page step's own `escalate_after` is a real timer, not only words."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from bot.features.status.service import publish_value
from bot.store.models import FollowUp, StatusUpdate, WorkflowRun
from tests.support.factories import make_container
from tests.support.pagerduty import REST_SETTINGS, escalations, harness, incident_posts, install_clients

CHANNEL = "CINC0001"
EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "workflows" / "exec-escalation.yaml"


def posts_in(recorder, channel: str, needle: str) -> list[str]:
    return [c.text() for c in recorder.of("chat.postMessage") if c.data.get("channel") == channel
            and needle in c.text()]


def runs(container) -> dict[str, WorkflowRun]:
    with Session(container.engine) as session:
        return {r.workflow: r for r in session.exec(select(WorkflowRun)).all()}


def build(sqlite_url, recorder, clock, path: Path):
    recorder.usergroups = [{"id": "S0EXEC", "handle": "exec-oncall", "users": ["U0CHEN", "U0MARCUS"]}]
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), responders="U0LEAD", **REST_SETTINGS)
    install_clients(container)
    return container


def test_the_exec_escalation_example_from_declare_to_resolve(sqlite_url, recorder, clock, pd):
    container = build(sqlite_url, recorder, clock, EXAMPLE)
    with harness(container, recorder) as slack:
        slack.command("declare Checkout returns 502 sev1")
        assert len(pd.calls("POST", "/incidents")) == 1  # paged once (the default file's page and this one)
        invited = {u for c in recorder.of("conversations.invite") if c.data.get("channel") == CHANNEL
                   for u in str(c.data.get("users")).split(",")}
        assert {"U0CHEN", "U0MARCUS"} <= invited  # @exec-oncall's members
        [told] = posts_in(recorder, "#leadership", "SEV1 declared by")
        assert "Checkout returns 502" in told and "the next update is due within 30 minutes" in told
        # the draft names its components (a new incident names none): drafted for a person's Publish, not failed
        assert not incident_posts(recorder, "step 4 (draft_status) failed")
        with Session(container.engine) as session:
            [draft] = session.exec(select(StatusUpdate)).all()
        assert draft.state == "draft" and set(draft.components) == {"API", "Web app"}
        assert draft.body == "We are investigating reports of problems with Checkout returns 502."
        run = runs(container)["Exec escalation on SEV1"]
        assert [s["kind"] for s in run.steps] == ["page", "invite", "post", "draft_status", "plan_playbook", "remind"]
        assert "escalates in PagerDuty if not acknowledged within 15m" in run.steps[0]["text"]
        assert run.steps[3]["text"] == "drafted the status page update (investigating); it waits for a person's Publish"
        # 15 minutes unacknowledged: PagerDuty escalates to the next level
        clock.advance(minutes=15)
        slack.run_jobs()
        assert escalations(pd) == [2]
        # 30 minutes without an update: the lead is reminded
        clock.advance(minutes=15)
        slack.run_jobs()
        assert incident_posts(recorder, "30 minutes without an update on SEV1 #1: #leadership is waiting.")
        slack.press("status_publish", publish_value(draft))  # the public heard: the resolve offers the closing words
        slack.command("resolve Rolled back v42", channel_id=CHANNEL)
        offered = [c.text() for c in recorder.responses() if "publish the closing update" in c.text()]
        assert offered and "Checkout returns 502 is resolved; thank you for your patience." in offered[-1]
        with Session(container.engine) as session:
            [closing] = session.exec(select(StatusUpdate).where(StatusUpdate.state == "draft")).all()
        assert closing.stage == "resolved" and set(closing.components) == {"API", "Web app"}
        [over] = posts_in(recorder, "#leadership", "Resolved: SEV1 #1 Checkout returns 502")
        assert "A postmortem follows." in over
        assert runs(container)["Tell the executives it is over"].status == "done"
        with Session(container.engine) as session:
            texts = [f.text for f in session.exec(select(FollowUp)).all()]
        assert "Brief the executives on #1's postmortem" in texts
        assert "Exec escalation when raised to SEV1" not in runs(container)
    container.engine.dispose()


def test_a_page_steps_own_escalate_after_runs_as_a_timer(sqlite_url, recorder, clock, pd, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace("escalate_after: 15m", "escalate_after: 5m"),
                    encoding="utf-8")
    container = build(sqlite_url, recorder, clock, path)
    with harness(container, recorder) as slack:
        slack.command("declare Checkout returns 502 sev1")
        clock.advance(minutes=4, seconds=59)
        slack.run_jobs()
        assert escalations(pd) == []
        clock.advance(seconds=1)
        slack.run_jobs()
        assert escalations(pd) == [2]  # at 5 minutes, not the SEV table's 15
    container.engine.dispose()


def test_escalate_after_holds_for_every_round_and_across_a_severity_change(sqlite_url, recorder, clock, pd,
                                                                           tmp_path):
    """The step's 5 minutes is the clock's target for the second and third rounds too, and a severity change that
    re-arms the clock keeps it (before: the second round came 15 minutes later, the SEV table's target, and a
    change re-armed the clock with the SEV table's 15 minutes)."""
    path = tmp_path / "team.yaml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace("escalate_after: 15m", "escalate_after: 5m"),
                    encoding="utf-8")
    container = build(sqlite_url, recorder, clock, path)
    with harness(container, recorder) as slack:
        slack.command("declare Checkout returns 502 sev1")
        clock.advance(minutes=5)
        slack.run_jobs()
        assert escalations(pd) == [2]
        [first] = incident_posts(recorder, "is not acknowledged")
        assert "not acknowledged* 5m after the page" in first and "within 5 min" in first and "again in 5m" in first
        clock.advance(minutes=5)
        slack.run_jobs()
        assert escalations(pd) == [2, 3]  # the second round, 5 minutes on
        slack.command("sev 2", channel_id=CHANNEL)  # the clock re-arms from the change
        clock.advance(minutes=4, seconds=59)
        slack.run_jobs()
        assert len(incident_posts(recorder, "is not acknowledged")) == 2
        clock.advance(seconds=1)
        slack.run_jobs()
        assert len(incident_posts(recorder, "is not acknowledged")) == 3  # 5 minutes after the change, not 15
    container.engine.dispose()
