"""The safety rules, for each real Fly playbook (restart, rollback, scale count/vm/memory), through the real
Bolt app with signed requests and through the console: plan -> Confirm -> execution -> timeline, refusals
audited, a double-clicked or retried Confirm executes once, one mitigation per app, one progress message,
an interrupted execution reported on restart. (tests/playbooks/test_framework.py checks the same machinery
with a test playbook; this file checks the Fly playbooks really ride on it.)
"""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from bot.adapters.console import run_console
from bot.store.models import Incident, Job, MitigationLock
from bot.features.playbooks import executions as ex
from bot.service import jobs
from bot.features.playbooks.render import Actions
from bot.adapters.slack.bolt import ACTION_JOB, COMMAND_JOB
from playbooks.restart import Restart
from playbooks.scale import ScaleCount
from tests.support.fly_fixtures import fly_container
from tests.support.playbook_harness import audit_rows, executions, newest_button, timeline
from tests.support.signing import action_body

M1, M2, M3, M4 = "m1aaaaaaaaaaaa", "m2bbbbbbbbbbbb", "m3cccccccccccc", "m4dddddddddddd"
V41 = "registry.fly.io/cgraph-api:deployment-v41"
FRONT_DOOR = [COMMAND_JOB, ACTION_JOB]  # run what Slack sent, but not the execution it queues


def restarts(fake) -> list[str]:
    return [r.path.split("/")[5] for r in fake.requests
            if r.method == "POST" and r.path.endswith(("/restart", "/start"))]


def updates(fake) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in fake.requests
            if r.method == "POST" and r.path.endswith(("aaaa", "bbbb", "cccc", "dddd"))]


def creates(fake) -> list[str]:
    return [r.body["region"] for r in fake.requests if r.method == "POST" and r.path.endswith("/machines")]


# (slash command, text, what one execution sends to Fly, how the fleet looks after it)
CASES = [
    pytest.param("/restart", "", lambda f: restarts(f) == [M1, M3, M2, M4],
                 lambda f: all(m["state"] == "started" for m in f.apps["cgraph-api"].values()), id="restart"),
    pytest.param("/rollback", "", lambda f: updates(f) == [M1, M3, M2, M4],
                 lambda f: {m["config"]["image"] for m in f.apps["cgraph-api"].values()} == {V41}, id="rollback"),
    pytest.param("/scale", "count 6", lambda f: creates(f) == ["iad", "lhr"],
                 lambda f: len(f.apps["cgraph-api"]) == 6, id="scale-count"),
    pytest.param("/scale", "vm shared-cpu-2x", lambda f: updates(f) == [M1, M3, M2, M4],
                 lambda f: {m["config"]["guest"]["cpus"] for m in f.apps["cgraph-api"].values()} == {2},
                 id="scale-vm"),
    pytest.param("/scale", "memory 2048", lambda f: updates(f) == [M1, M3, M2, M4],
                 lambda f: {m["config"]["guest"]["memory_mb"] for m in f.apps["cgraph-api"].values()} == {2048},
                 id="scale-memory"),
]


def press_raw(slack, action_id: str, value: str, *, user: str, action_ts: str, retry: str | None = None):
    """One delivery of a Confirm press; `retry` sets X-Slack-Retry-Num as Slack does when it re-sends."""
    body = action_body(action_id, value, user_id=user, channel_id="CINC0001",
                       response_url=slack.recorder.response_url("action"), action_ts=action_ts)
    return slack.post(body, "application/x-www-form-urlencoded",
                      headers={"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} if retry else None)


@pytest.mark.parametrize("command, text, sent_once, after", CASES)
def test_from_slack_refusal_double_click_retry_then_one_execution_on_the_timeline(fly_slack, command, text,
                                                                                  sent_once, after):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare Checkout returns 502 sev1")
    slack.command(text, command=command, channel_id="CINC0001")
    plan = slack.recorder.responses()[-1]
    assert plan.data["response_type"] == "in_channel" and "Plan: " in plan.text() and "For incident *#1*" in plan.text()
    assert fake.changes() == []  # planning reads only
    action_id, value = newest_button(slack.recorder, "Confirm")
    assert action_id.startswith(Actions.CONFIRM)

    # someone not in RESPONDERS: refused, told why, audited, on the timeline; Fly untouched
    slack.press(action_id, value, user_id="U0INTERN", action_ts="1.0", channel_id="CINC0001")
    refusal = slack.recorder.responses()[-1].data
    assert refusal["response_type"] == "ephemeral" and "not in RESPONDERS (<@U0LEAD>)" in refusal["text"]
    assert (audit_rows(slack.container)[-1].action, audit_rows(slack.container)[-1].actor) == ("refused", "U0INTERN")
    assert timeline(slack.container, 1)[-1].kind == "playbook_refused"
    assert fake.changes() == [] and executions(slack.container)[0].status == "proposed"

    # the lead double-clicks, and Slack re-sends the first click (a retry, and the same delivery again)
    for ts in ("1.1", "1.2"):
        assert press_raw(slack, action_id, value, user="U0LEAD", action_ts=ts).status_code == 200
    assert press_raw(slack, action_id, value, user="U0LEAD", action_ts="1.1", retry="1").status_code == 200
    assert press_raw(slack, action_id, value, user="U0LEAD", action_ts="1.1").status_code == 200
    slack.run_jobs()
    with Session(slack.container.engine) as session:
        assert len(session.exec(select(Job).where(Job.kind == ex.EXECUTE_JOB)).all()) == 1
    texts = [r.text() for r in slack.recorder.responses()]
    assert sum(t.startswith("Confirmed: ") for t in texts) == 1 and any("Already confirmed by" in t for t in texts)
    assert sent_once(fake), fake.changes()  # what one execution sends, exactly once
    assert after(fake)

    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and execution.confirmed_by == "U0LEAD"
    assert all(r["status"] == "ok" for r in execution.results)
    assert any(c.get("request_id") for r in execution.results for c in r["calls"])  # Fly's request ids kept
    with Session(slack.container.engine) as session:
        assert session.get(Incident, 1).status == "mitigating"
        assert session.get(MitigationLock, "cgraph-api") is None
    kinds = [e.kind for e in timeline(slack.container, 1)]
    assert kinds[-3:] == ["playbook_confirmed", "status_changed", "playbook_finished"]
    assert timeline(slack.container, 1)[-1].data["status"] == "succeeded"
    assert [a.action for a in audit_rows(slack.container)].count("confirmed") == 1

    # progress: ONE message in the incident channel, edited in place; the outcome in its thread
    title = execution.plan["title"]
    posts = [c for c in slack.recorder.of("chat.postMessage") if title in c.text()]
    assert [p.data.get("thread_ts") for p in posts] == [None, execution.progress_ts]
    assert posts[0].data["channel"] == "CINC0001" and "finished" in posts[1].text()
    edits = [c for c in slack.recorder.of("chat.update") if c.data.get("ts") == execution.progress_ts]
    assert len(edits) >= len(execution.results) and "finished" in edits[-1].text()


@pytest.mark.parametrize("command, text, sent_once, after", CASES)
def test_one_mitigation_per_app_the_second_is_refused_with_who_runs_what(fly_slack, command, text, sent_once, after):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare Checkout returns 502 sev1")
    slack.command(text, command=command, channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="1.1", channel_id="CINC0001", run=False)
    jobs.run_due(slack.container, kinds=FRONT_DOOR)
    assert executions(slack.container)[0].status == "queued"  # confirmed, holding the app's lock, not yet run

    other = ("/restart", "") if command == "/scale" else ("/scale", "count 5")
    slack.command(other[1], command=other[0], channel_id="CINC0001", run=False)
    jobs.run_due(slack.container, kinds=FRONT_DOOR)
    assert "cgraph-api already has a mitigation in progress" in slack.recorder.responses()[-1].text()
    second_id, second_value = newest_button(slack.recorder, "Confirm")
    slack.press(second_id, second_value, user_id="U0LEAD", action_ts="2.1", channel_id="CINC0001", run=False)
    jobs.run_due(slack.container, kinds=FRONT_DOOR)
    refusal = slack.recorder.responses()[-1].text()
    first_title = executions(slack.container)[0].plan["title"]
    assert f"already has a mitigation in progress: {first_title} for #1 (execution 1), confirmed by <@U0LEAD>" \
        in refusal.replace("&gt;", ">").replace("&lt;", "<") and "one mitigation per app at a time" in refusal
    assert audit_rows(slack.container)[-1].action == "refused" and fake.changes() == []

    slack.run_jobs()  # the first runs; the second stays a plan
    assert [e.status for e in executions(slack.container)] == ["succeeded", "proposed"]
    assert sent_once(fake) and after(fake)
    slack.press(second_id, second_value, user_id="U0LEAD", action_ts="3.1", channel_id="CINC0001")
    assert executions(slack.container)[1].status == "succeeded"  # the lock went with the first


@pytest.mark.parametrize("playbook_class, command, text, words", [
    pytest.param(Restart, "/restart", "", ("Restarted: m1aaaaaaaaaaaa", "Not restarted: m2bbbbbbbbbbbb, "
                                           "m4dddddddddddd", "2. Batch 2: Restart m3cccccccccccc (lhr)"), id="restart"),
    pytest.param(ScaleCount, "/scale", "count 7", ("Done: new machine 1 in iad", "Not done: new machine 3 in iad",
                                                   "2. Create machine 2 of 3 in lhr"), id="scale-count"),
])
def test_an_execution_cut_short_by_a_crash_is_reported_interrupted_on_restart(fly_slack, monkeypatch, playbook_class,
                                                                              command, text, words):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare Checkout returns 502 sev1")
    slack.command(text, command=command, channel_id="CINC0001")
    original = playbook_class.run_step

    def dies_in_step_2(self, env, plan, step, progress):
        if step.title == plan.steps[1].title:
            raise SystemExit("the machine running Fireline went away")
        return original(self, env, plan, step, progress)

    monkeypatch.setattr(playbook_class, "run_step", dies_in_step_2)
    action_id, value = newest_button(slack.recorder, "Confirm")
    with pytest.raises(SystemExit):
        slack.press(action_id, value, user_id="U0LEAD", action_ts="1", channel_id="CINC0001")
    host, pid, _ = ex.process_identity()
    monkeypatch.setattr(ex, "process_identity", lambda: (host, pid, "restarted"))
    slack.recorder.reset()
    slack.container.registry.emit("runtime.started", None, container=slack.container)
    [execution] = executions(slack.container)
    assert execution.status == "interrupted"
    assert [r["status"] for r in execution.results][:3] == ["ok", "unknown", "skipped"]
    said = slack.recorder.of("chat.postMessage")[-1]
    assert said.data["thread_ts"] == execution.progress_ts and "was INTERRUPTED after 1 of" in said.text()
    for word in words:
        assert word in said.text(), said.text()
    assert timeline(slack.container, 1)[-1].data["status"] == "interrupted"
    with Session(slack.container.engine) as session:
        assert session.get(MitigationLock, "cgraph-api") is None
    before = len(fake.changes())
    slack.run_jobs()
    assert len(fake.changes()) == before  # never silently redone


@pytest.mark.parametrize("line, changed", [
    pytest.param("/restart --batch 2", lambda f: [set(restarts(f)[:2]), set(restarts(f)[2:])] == [{M1, M3}, {M2, M4}],
                 id="restart"),  # a batch's machines are restarted at the same time, so in no set order
    pytest.param("/rollback", lambda f: updates(f) == [M1, M3, M2, M4], id="rollback"),
    pytest.param("/scale count 5", lambda f: creates(f) == ["iad"], id="scale-count"),
    pytest.param("/scale memory 2gb", lambda f: len(updates(f)) == 4, id="scale-memory"),
])
def test_from_the_console_against_fly(db_url, clock, fake_fly, line, changed):
    """The console is a front door too: the same plan, Confirm (the console user may), execution, timeline."""
    container = fly_container(db_url, None, clock, fake_fly, responders="")
    out = io.StringIO()
    script = f"declare Checkout returns 502 sev1\n{line}\n!Confirm\n!Confirm\n/incident show\n"
    assert run_console(container, io.StringIO(script), out) == 0
    text = out.getvalue()
    assert "Plan: " in text and "DRY RUN" not in text and "[Confirm] [Cancel]" in text
    assert "Confirmed: " in text and "finished: " in text and "This plan already ran" in text
    assert changed(fake_fly), fake_fly.changes()
    [execution] = executions(container)
    assert execution.status == "succeeded" and execution.confirmed_by == "console" and execution.source == "console"
    kinds = [e.kind for e in timeline(container, 1)]
    assert kinds[-3:] == ["playbook_confirmed", "status_changed", "playbook_finished"]
    assert "playbook_finished" in text.split("Incident #1:")[-1]  # `/incident show` prints the timeline
    with Session(container.engine) as session:
        assert session.get(Incident, 1).status == "mitigating"
    container.engine.dispose()
