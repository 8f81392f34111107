"""/deploy checklist: the guide's seven pre-deploy items, seen by Fireline or ticked by people, stored with the deploy
and shown in its watch and in the incident (so the postmortem) declared from it; from Slack and the console."""

from __future__ import annotations

import io

from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.store.models import DeployChecklist, OnCallSnapshot
from playbooks.predeploy import ITEMS, Facts, assess
from tests.support.factories import make_container
from tests.support.playbook_harness import newest_button

NEW = "registry.fly.io/cgraph-api:deployment-v43"


def put_oncall(container, names=("Chen",)):
    with Session(container.engine) as session:
        session.add(OnCallSnapshot(policy_id="PPOLICY", entries=[{"level": 1, "user": n} for n in names],
                                   fetched_at=container.clock(), attempted_at=container.clock()))
        session.commit()


def test_the_seven_items_each_seen_or_left_for_a_person():
    facts = Facts(app="cgraph-api", image=NEW, oncall=("Chen",), oncall_known=True, previous_release="v42",
                  previous_image="registry.fly.io/cgraph-api:deployment-v42", sentry_ready=False,
                  health_url="https://api.cgraph.org/api/health", ci_url="https://ci.example/run?q=deployment-v43")
    checklist = assess(facts, {"reviewed": {"by": "Ana", "at": "19:04 UTC"}})
    assert [m.item.text for m in checklist.marks] == [i.text for i in ITEMS] and len(ITEMS) == 7
    states = {m.item.key: m.state for m in checklist.marks}
    assert states == {"ci": "open", "reviewed": "ticked", "migrations": "open", "secrets": "open",
                      "monitoring": "missing", "rollback": "ok", "oncall": "missing"}
    marks = {m.item.key: m for m in checklist.marks}
    assert marks["ci"].links == ("https://ci.example/run?q=deployment-v43",)
    assert "Safe Migration Strategy" in marks["migrations"].said
    assert "`/rollback v42`" in marks["rollback"].said
    assert "Sentry is not readable" in marks["monitoring"].said
    assert "Chen on call now, not told yet" in marks["oncall"].said
    assert checklist.summary().startswith("2 of 7 done; open: All tests pass in CI, Migrations")
    told = assess(Facts(**{**facts.__dict__, "told": "Chen, 19:05 UTC by Ana"}), {})
    assert {m.item.key: m.state for m in told.marks}["oncall"] == "ok"


def test_checklist_from_slack_ticks_once_and_tells_on_call(fly_slack, clock):
    slack = fly_slack
    slack.container.settings.pagerduty_api_token = __import__("pydantic").SecretStr("pd-token")
    slack.container.settings.pagerduty_escalation_policy_id = "PPOLICY"
    slack.container.settings.deploy_ci_url = "https://ci.example/actions?query={tag}"
    put_oncall(slack.container)
    slack.command(f"checklist {NEW}", command="/deploy")
    assert "Checklist #1 for deployment-v43: 1 of 7 done" in slack.reply_text()
    [posted] = [c for c in slack.recorder.of("chat.postMessage") if "Pre-deploy checklist" in c.text()]
    text = posted.text()
    assert "Rollback plan clear" in text and "back to v42" in text and "/rollback v42" in text
    assert "https://ci.example/actions?query=deployment-v43" in text
    assert "Chen on call now, not told yet" in text
    action_id, value = newest_button(slack.recorder, "Tick: Code reviewed and approved")
    slack.press(action_id, value, user_id="U0LEAD")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="2.2")  # a double click ticks once
    assert "Ticked *Code reviewed and approved*" in slack.reply_text()
    action_id, value = newest_button(slack.recorder, "Tell on-call")
    slack.press(action_id, value)
    slack.press(action_id, value, action_ts="3.3")  # a double press pings once
    told = [c for c in slack.recorder.of("chat.postMessage") if "is about to deploy" in c.text()]
    assert len(told) == 1 and "On call (Chen)" in told[0].text()
    assert "On call was already told (Chen, " in slack.reply_text() and "not pinged again" in slack.reply_text()
    edits = [c for c in slack.recorder.of("chat.update") if "Pre-deploy checklist #1" in c.text()]
    assert edits and len({e.data["ts"] for e in edits}) == 1 and "3 of 7 done" in edits[-1].text()
    with Session(slack.container.engine) as session:
        [row] = session.exec(select(DeployChecklist)).all()
        assert list(row.ticks) == ["reviewed"] and row.told["names"] == "Chen" and row.image == NEW
        assert "told" not in row.facts  # kept once, in its own column


def test_two_presses_of_tell_on_call_at_once_ping_once(fly_slack, monkeypatch):
    """The second press reads the row before the first stores `told`: only the conditional UPDATE tells them apart."""
    from bot.features.deploy_watch import checklist

    slack = fly_slack
    slack.container.settings.pagerduty_api_token = __import__("pydantic").SecretStr("pd-token")
    slack.container.settings.pagerduty_escalation_policy_id = "PPOLICY"
    put_oncall(slack.container)
    slack.command(f"checklist {NEW}", command="/deploy")
    action_id, value = newest_button(slack.recorder, "Tell on-call")
    reads = []
    original = checklist._update

    def interleaved(ctx, checklist_id, change):
        reads.append(checklist_id)
        if len(reads) == 2:  # the first press's claim: the second press has read the row (untold) by now
            slack.press(action_id, value, action_ts="2.2", run=False)
            from bot.service import jobs
            jobs.run_due(slack.container)
        return original(ctx, checklist_id, change)

    monkeypatch.setattr(checklist, "_update", interleaved)
    slack.press(action_id, value)
    told = [c for c in slack.recorder.of("chat.postMessage") if "is about to deploy" in c.text()]
    assert len(told) == 1


def test_console_checklist_for_the_next_deploy(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    run_console(container, io.StringIO("/deploy checklist\n!Tick: No secrets in code\n"), out)
    text = out.getvalue()
    assert "Pre-deploy checklist #1" in text and "the next deploy of cgraph-api" in text
    assert "PagerDuty is not configured" in text and "back to v42" in text  # the example fleet runs v42
    assert "Ticked *No secrets in code*" in text or "Ticked No secrets in code" in text
    assert "(ticked by" in text
