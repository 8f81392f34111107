"""The playbook framework through the real Bolt app: plan -> Confirm -> execute -> audit, and every refusal."""

from __future__ import annotations

import io
import json

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.features.playbooks.feature import add_playbook
from bot.adapters.console import run_console
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from bot.features.playbooks import executions as ex
from bot.store.models import Incident, Job, MitigationLock, PlaybookExecution
from playbooks.framework import Param, Plan, Playbook, Step, StepResult
from tests.support.factories import make_container
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import audit_rows, executions, newest_button, timeline


class Poke(Playbook):
    """A test playbook: N steps that each 'poke' a target; one can be told to fail or to crash the process."""

    name = "poke"
    command = "poke"
    usage = "[--steps N] [--fail K] [--crash K] [--manual K]"
    help = "poke machines (a test playbook)"
    params = (Param("--steps N", "how many"),)
    verb = "poke"

    def __init__(self) -> None:
        self.ran: list[int] = []

    def parse(self, args):
        out = {}
        for name in ("steps", "fail", "crash", "manual", "confirm"):
            value = args.flag(name)
            if value is not None:
                out[name] = int(value)
        return out

    def plan(self, env, params):
        steps = []
        for i in range(1, params.get("steps", 3) + 1):
            manual = f"poke-by-hand m{i}" if params.get("manual") == i else None
            steps.append(Step(f"Poke m{i}", "poke", {"i": i}, targets=[f"m{i}"], manual=manual,
                              confirm=params.get("confirm") == i))
        if params.get("steps") == 0:
            return Plan("poke", env.app, "Poke nothing", blocked="there is nothing to poke", hints=["Try --steps 2"])
        return Plan("poke", env.app, f"Poke {env.app}", lines=[f"Pokes {len(steps)} machines"], steps=steps,
                    risks=["a poke may hurt"], params=params)

    def run_step(self, env, plan, step, progress):
        i = step.args["i"]
        progress(f"poking m{i}")
        self.ran.append(i)
        if plan.params.get("crash") == i:
            raise SystemExit("the process died")
        if plan.params.get("fail") == i:
            return StepResult(False, f"m{i} did not answer", failed=[f"m{i}"])
        return StepResult(True, f"poked m{i}", done=[f"m{i}"])


def build(db_url, recorder, clock, **overrides):
    values = dict(fly_api_token="fly-test-token", fly_app="cgraph-api", responders="U0LEAD,@oncall")
    values.update(overrides)
    container = make_container(db_url, recorder, **values, clock=clock)
    container.knobs.sleep = lambda seconds: None
    poke = Poke()
    add_playbook(container.registry, poke)
    return container, poke


@pytest.fixture
def harness(db_url, recorder, clock):
    container, poke = build(db_url, recorder, clock)
    with TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False) as client:
        yield SlackHarness(container, recorder, client), poke
    container.engine.dispose()


def declare(slack) -> None:
    slack.command("declare Site is down sev1")
    slack.recorder.reset()


def confirm(slack, user: str = "U0LEAD", ts: str = "1.1", channel: str = "CINC0001"):
    action_id, value = newest_button(slack.recorder, "Confirm")
    return slack.press(action_id, value, user_id=user, action_ts=ts, channel_id=channel)


def test_plan_confirm_execute_audit_from_slack(harness):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 3", command="/poke", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1]
    assert plan.data["response_type"] == "in_channel"
    text = plan.text()
    assert "Plan: Poke cgraph-api" in text and "1. Poke m1" in text and "a poke may hurt" in text
    assert "For incident *#1*" in text and "DRY RUN" not in text and poke.ran == []
    assert [e.status for e in executions(slack.container)] == ["proposed"]

    confirm(slack)
    assert poke.ran == [1, 2, 3]
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and execution.confirmed_by == "U0LEAD"
    assert [r["status"] for r in execution.results] == ["ok", "ok", "ok"]
    assert "Confirmed: Poke cgraph-api" in slack.recorder.responses()[-1].text()
    # ONE progress message, edited in place; the outcome as a reply in its thread
    posts = [c for c in slack.recorder.of("chat.postMessage") if "Poke cgraph-api" in c.text()]
    progress, outcome = posts[0], posts[-1]
    assert progress.data["channel"] == "CINC0001" and "thread_ts" not in progress.data
    assert outcome.data["thread_ts"] == execution.progress_ts and "finished: all 3 steps done" in outcome.text()
    assert len(posts) == 2
    edits = [c for c in slack.recorder.of("chat.update") if c.data.get("ts") == execution.progress_ts]
    # edited from its own thread: states made while an edit is in flight are replaced by the newest one,
    # so at most one edit per step (3) and the final one, which is always sent
    assert 1 <= len(edits) <= 4 and "finished" in edits[-1].text() and "Stop" not in edits[-1].text()
    # the incident moved to mitigating, and the timeline tells the story
    with Session(slack.container.engine) as session:
        assert session.get(Incident, 1).status == "mitigating"
        assert session.get(MitigationLock, "cgraph-api") is None
    kinds = [e.kind for e in timeline(slack.container, 1)]
    assert kinds == ["declared", "playbook_confirmed", "status_changed", "playbook_finished"]
    finished = timeline(slack.container, 1)[-1]
    assert finished.data["status"] == "succeeded" and finished.actor == "U0LEAD"
    assert [s["status"] for s in finished.data["steps"]] == ["ok", "ok", "ok"]
    assert [a.action for a in audit_rows(slack.container)] == ["proposed", "confirmed", "succeeded"]


def test_failure_stops_and_reports_what_was_and_was_not_done(harness):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 4 --fail 2", command="/poke", channel_id="CINC0001")
    confirm(slack)
    assert poke.ran == [1, 2]
    [execution] = executions(slack.container)
    assert execution.status == "failed"
    assert [r["status"] for r in execution.results] == ["ok", "failed", "skipped", "skipped"]
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert "stopped at a failure after 1 of 4 steps" in outcome
    assert "Done: m1" in outcome and "Failed: m2" in outcome and "Not done: m3, m4" in outcome


def test_unauthorized_confirm_is_refused_and_audited(harness):
    slack, poke = harness
    declare(slack)
    slack.command("", command="/poke", channel_id="CINC0001")
    confirm(slack, user="U0INTERN")
    assert poke.ran == [] and executions(slack.container)[0].status == "proposed"
    answer = slack.recorder.responses()[-1].data
    assert answer["response_type"] == "ephemeral"
    assert "You may not confirm this: not in RESPONDERS (<@U0LEAD>, @oncall)" in answer["text"]
    refusal = audit_rows(slack.container)[-1]
    assert (refusal.action, refusal.actor) == ("refused", "U0INTERN") and "not in RESPONDERS" in refusal.detail
    assert timeline(slack.container, 1)[-1].kind == "playbook_refused"
    confirm(slack, user="U0LEAD", ts="2.2")  # the plan is still there for someone allowed
    assert poke.ran == [1, 2, 3]


def test_forged_button_payloads_are_refused_and_audited(harness):
    slack, poke = harness
    declare(slack)
    slack.command("", command="/poke", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    execution_id, nonce = value.split(":")
    for n, forged in enumerate([f"{execution_id}:not-the-nonce", f"{execution_id}", "999:abc", "'; drop table", ""]):
        slack.press(action_id, forged, user_id="U0LEAD", action_ts=f"9.{n}")
        assert "does not match a plan Fireline showed" in slack.recorder.responses()[-1].text(), forged
    assert poke.ran == [] and executions(slack.container)[0].status == "proposed"
    refusals = [a for a in audit_rows(slack.container) if a.action == "refused"]
    assert len(refusals) == 5 and {a.actor for a in refusals} == {"U0LEAD"}
    assert refusals[0].execution_id == int(execution_id) and refusals[2].execution_id is None


def test_double_confirm_executes_once(harness):
    slack, poke = harness
    declare(slack)
    slack.command("", command="/poke", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    for ts in ("1.1", "1.2"):  # two clicks: two deliveries with different action_ts, both queued
        slack.press(action_id, value, user_id="U0LEAD", action_ts=ts, run=False)
    slack.press(action_id, value, user_id="U0CHEN", action_ts="1.3", run=False)  # not a responder
    slack.run_jobs()
    assert poke.ran == [1, 2, 3]
    texts = [r.text() for r in slack.recorder.responses()]
    assert sum("Confirmed: Poke" in t for t in texts) == 1
    assert any("Already confirmed by <@U0LEAD>" in t for t in texts)
    with Session(slack.container.engine) as session:
        assert len(session.exec(select(Job).where(Job.kind == ex.EXECUTE_JOB)).all()) == 1


def test_one_mitigation_per_app(harness):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 2 --confirm 2", command="/poke", channel_id="CINC0001")
    confirm(slack)  # runs step 1, then waits for step 2's own Confirm: still in progress
    assert executions(slack.container)[0].status == "waiting"
    slack.command("--steps 1", command="/poke", channel_id="CINC0001")
    assert "cgraph-api already has a mitigation in progress" in slack.recorder.responses()[-1].text()
    confirm(slack, ts="3.3")
    refusal = slack.recorder.responses()[-1].text()
    assert "already has a mitigation in progress: Poke cgraph-api for #1 (execution 1), confirmed by <@U0LEAD>" \
        in refusal and "waiting for a person at step 2 of 2" in refusal
    assert executions(slack.container)[1].status == "proposed" and poke.ran == [1]
    assert audit_rows(slack.container)[-1].action == "refused"
    # Stop the first one: the lock goes, and the second can run
    action_id, value = newest_button(slack.recorder, "Stop")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="4.4")
    assert executions(slack.container)[0].status == "stopped"
    action_id, value = newest_button(slack.recorder, "Confirm")
    assert value.startswith("2:")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="5.5")
    assert executions(slack.container)[1].status == "succeeded" and poke.ran == [1, 1]


def test_steps_that_need_a_person_are_confirmed_in_turn(harness):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 3 --manual 2 --confirm 3", command="/poke", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "you run: `poke-by-hand m2`" in plan and "asks for its own Confirm" in plan
    confirm(slack)
    assert poke.ran == [1] and executions(slack.container)[0].status == "waiting"
    ask = slack.recorder.of("chat.postMessage")[-1]
    assert "Step 2 of 3 needs you" in ask.text() and "poke-by-hand m2" in ask.text() and ask.data.get("thread_ts")
    action_id, value = newest_button(slack.recorder, "Done")
    slack.press(action_id, value, user_id="U0INTERN", action_ts="6.1")  # not allowed
    assert executions(slack.container)[0].status == "waiting"
    slack.press(action_id, value, user_id="U0LEAD", action_ts="6.2")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="6.3")  # a double click
    assert "not waiting for anyone" in slack.recorder.responses()[-1].text()
    assert executions(slack.container)[0].status == "waiting" and poke.ran == [1]
    assert "Step 3 of 3 waits for Confirm" in slack.recorder.of("chat.postMessage")[-1].text()
    confirm(slack, ts="6.4")
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and poke.ran == [1, 3]
    assert execution.results[1]["summary"] == "done by hand, reported by U0LEAD"
    kinds = [e.kind for e in timeline(slack.container, 1)]
    assert kinds.count("playbook_step") == 2 and kinds.count("playbook_refused") == 1


def test_stop_after_current_step(harness):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 3", command="/poke", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="1", run=False)
    slack.run_jobs(), None
    assert poke.ran == [1, 2, 3]  # it ran to the end before the stop arrived
    action_id, value = newest_button(slack.recorder, "Stop")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="2")
    assert "nothing to stop" in slack.recorder.responses()[-1].text()


def test_stop_requested_while_running_stops_before_the_next_step(db_url, recorder, clock):
    container, poke = build(db_url, recorder, clock)
    from bot.adapters.console import console_context
    from bot.adapters.console_chat import ConsoleChat

    ctx = console_context(container, ConsoleChat(io.StringIO()), user_id="console", channel_id="#incidents")
    execution, _ = ex.propose(ctx, poke, {"steps": 3}, None)
    ex.confirm(ctx, f"{execution.id}:{execution.nonce}")
    original = poke.run_step

    def run_and_press_stop(env, plan, step, progress):
        result = original(env, plan, step, progress)
        if step.args["i"] == 1:
            ex.request_stop(ctx, f"{execution.id}:{execution.nonce}")
        return result

    poke.run_step = run_and_press_stop
    from bot.service import jobs

    jobs.run_due(container)
    [stored] = executions(container)
    assert stored.status == "stopped" and poke.ran == [1]
    assert [r["status"] for r in stored.results] == ["ok", "skipped", "skipped"]
    assert "Stopped by console before step 2" in stored.outcome and "Not done: m2, m3" in stored.outcome


def test_crash_mid_execution_is_reported_as_interrupted_on_restart(harness, monkeypatch):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 3 --crash 2", command="/poke", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Confirm")
    with pytest.raises(SystemExit):
        slack.press(action_id, value, user_id="U0LEAD", action_ts="1")
    [execution] = executions(slack.container)
    assert execution.status == "running" and [r["status"] for r in execution.results] == ["ok", "running", "pending"]
    # the same process is not mistaken for a dead one
    assert ex.recover_interrupted(slack.container, None) == []
    # a restart: same host, same pid reused, a new process token
    host, pid, _ = ex.process_identity()
    monkeypatch.setattr(ex, "process_identity", lambda: (host, pid, "newproc1"))
    slack.recorder.reset()
    slack.container.registry.emit("runtime.started", None, container=slack.container)
    [execution] = executions(slack.container)
    assert execution.status == "interrupted"
    assert [r["status"] for r in execution.results] == ["ok", "unknown", "skipped"]
    said = slack.recorder.of("chat.postMessage")[-1]
    assert said.data["channel"] == "CINC0001" and said.data["thread_ts"] == execution.progress_ts
    text = said.text()
    assert "was INTERRUPTED after 1 of 3 steps" in text and "Done: m1" in text and "Not done: m3" in text
    assert "In progress when it stopped, so its effect is unknown" in text and "2. Poke m2" in text
    with Session(slack.container.engine) as session:
        assert session.get(MitigationLock, "cgraph-api") is None
    assert timeline(slack.container, 1)[-1].data["status"] == "interrupted"
    # and it is never silently redone
    slack.run_jobs()
    assert poke.ran == [1, 2]


def test_silent_execution_on_another_host_is_interrupted_when_its_lock_is_needed(harness, clock):
    slack, poke = harness
    declare(slack)
    slack.command("--steps 2", command="/poke", channel_id="CINC0001")
    first = executions(slack.container)[0]
    with Session(slack.container.engine) as session:  # another replica took it and then went silent
        row = session.get(PlaybookExecution, first.id)
        row.status, row.worker, row.heartbeat_at, row.confirmed_by = "running", "other-host:1:abc", clock(), "U0CHEN"
        session.add(row)
        session.add(MitigationLock(app="cgraph-api", execution_id=first.id, acquired_by="U0CHEN"))
        session.commit()
    slack.command("--steps 1", command="/poke", channel_id="CINC0001")
    confirm(slack, ts="2")
    assert "already has a mitigation in progress" in slack.recorder.responses()[-1].text()
    clock.advance(minutes=11)
    slack.command("--steps 1", command="/poke", channel_id="CINC0001")
    confirm(slack, ts="3")
    statuses = [e.status for e in executions(slack.container)]
    assert statuses == ["interrupted", "proposed", "succeeded"]


def test_plans_expire(harness, clock):
    slack, poke = harness
    declare(slack)
    slack.command("", command="/poke", channel_id="CINC0001")
    clock.advance(minutes=16)
    confirm(slack)
    assert "minutes old" in slack.recorder.responses()[-1].text() or "16m old" in slack.recorder.responses()[-1].text()
    assert executions(slack.container)[0].status == "expired" and poke.ran == []


def test_cancel(harness):
    slack, poke = harness
    declare(slack)
    slack.command("", command="/poke", channel_id="CINC0001")
    action_id, value = newest_button(slack.recorder, "Cancel")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="1")
    assert "Cancelled: Poke cgraph-api. Nothing was done." in slack.recorder.responses()[-1].text()
    confirm(slack, ts="2")
    assert "was cancelled" in slack.recorder.responses()[-1].text() and poke.ran == []


def test_responder_groups_by_handle(harness):
    slack, poke = harness
    slack.recorder.usergroups = [{"id": "S0ONCALL", "handle": "oncall", "users": ["U0CHEN", "U0AISHA"]}]
    declare(slack)
    slack.command("", command="/poke", channel_id="CINC0001")
    confirm(slack, user="U0CHEN")
    assert poke.ran == [1, 2, 3]
    assert [e.confirmed_by for e in executions(slack.container)] == ["U0CHEN"]


def test_blocked_plan_has_no_buttons_and_is_audited(harness):
    slack, poke = harness
    slack.command("--steps 0", command="/poke")
    answer = slack.recorder.responses()[-1]
    assert "Cannot poke" in answer.text() and "nothing to poke" in answer.text() and "Try --steps 2" in answer.text()
    assert "Confirm" not in json.dumps(answer.data.get("blocks"))
    assert executions(slack.container) == [] and audit_rows(slack.container)[-1].action == "plan_blocked"


def test_standalone_outside_an_incident_channel(harness):
    slack, poke = harness
    slack.command("", command="/poke", channel_id="CGENERAL")
    assert "Not attached to an incident" in slack.recorder.responses()[-1].text()
    confirm(slack, channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and execution.incident_id is None and execution.channel_id == "CGENERAL"
    assert any(c.data["channel"] == "CGENERAL" for c in slack.recorder.of("chat.postMessage"))


def test_number_attaches_elsewhere_and_resolved_incidents_refuse(harness):
    slack, poke = harness
    declare(slack)
    slack.command("#1", command="/poke", channel_id="CGENERAL")
    assert "For incident *#1*" in slack.recorder.responses()[-1].text()
    assert executions(slack.container)[0].channel_id == "CINC0001"
    slack.command("resolve #1")
    slack.command("#1", command="/poke", channel_id="CGENERAL")
    assert "#1 is resolved" in slack.recorder.responses()[-1].text()


def test_console_plan_confirm_and_execution(db_url, clock):
    container = make_container(db_url, clock=clock)
    poke = Poke()
    add_playbook(container.registry, poke)
    out = io.StringIO()
    script = "declare Site is down sev1\n/poke --steps 2\n!Confirm\n!Confirm\n/incident show\n"
    assert run_console(container, io.StringIO(script), out) == 0
    text = out.getvalue()
    assert "Plan: Poke cgraph-api [DRY RUN]" in text and "[Confirm] [Cancel]" in text
    assert "DRY RUN: FLY_API_TOKEN is not set" in text
    assert "Confirmed (dry run: nothing is sent to Fly): Poke cgraph-api" in text
    assert "Poke cgraph-api finished: all 2 steps done. [DRY RUN: nothing was sent to Fly]" in text
    assert "This plan already ran (confirmed by @console" in text
    assert "playbook_finished" in text and poke.ran == [1, 2]
    with Session(container.engine) as session:
        # a dry run changes nothing, not even the incident's state
        assert session.get(Incident, 1).status == "declared"


def test_concurrent_confirms_start_it_once(db_url, recorder, clock):
    """Two presses racing in two threads: the conditional UPDATE lets exactly one through."""
    import threading

    from bot.adapters.console import console_context
    from bot.adapters.console_chat import ConsoleChat

    container, poke = build(db_url, recorder, clock)
    ctx = console_context(container, ConsoleChat(io.StringIO()), user_id="console", channel_id="#incidents")
    execution, _ = ex.propose(ctx, poke, {"steps": 2}, None)
    value = f"{execution.id}:{execution.nonce}"
    barrier = threading.Barrier(4)
    answers: list[str] = []

    def press() -> None:
        barrier.wait()
        answers.append(container.registry.press(ctx, "playbook_confirm", value).text)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(a.startswith("Confirmed") for a in answers) == 1, answers
    assert sum("Already confirmed" in a for a in answers) == 3, answers
    with Session(container.engine) as session:
        assert len(session.exec(select(Job).where(Job.kind == ex.EXECUTE_JOB)).all()) == 1
    from bot.service import jobs

    jobs.run_due(container)
    assert poke.ran == [1, 2]
