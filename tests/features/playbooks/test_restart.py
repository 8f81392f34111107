"""restart: rolling, health-gated, stops at the first failure; against a fake Fly, Slack, the console and Prism."""

from __future__ import annotations

import io
import json

import pytest
from sqlmodel import Session

from bot.adapters.console import run_console
from bot.store.models import Incident
from tests.support.factories import make_container
from tests.support.fake_fly import replay_against
from tests.support.playbook_harness import executions, newest_button, timeline

M1, M2, M3, M4 = "m1aaaaaaaaaaaa", "m2bbbbbbbbbbbb", "m3cccccccccccc", "m4dddddddddddd"


def confirm(slack, user="U0LEAD", ts="1.1", channel="CINC0001"):
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id=user, action_ts=ts, channel_id=channel)


def restarted(fake) -> list[str]:
    return [r.path.split("/")[5] for r in fake.requests if r.path.endswith(("/restart", "/start"))]


def test_rolling_restart_plan_confirm_execute_timeline(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare Checkout returns 502 sev1")
    slack.command("", command="/restart", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Plan: Rolling restart of 4 machines of cgraph-api" in plan
    assert "Now: iad: 2 started · lhr: 2 started" in plan
    assert f"{M1} (iad), {M3} (lhr), {M2} (iad), {M4} (lhr)" in plan  # alternating regions
    assert "3 of 4 started machines keep serving" in plan and f"{fake.url}/health must answer" in plan
    assert fake.changes() == []  # planning changes nothing
    confirm(slack)
    assert restarted(fake) == [M1, M3, M2, M4]
    # each machine: lease, restart, wait, checks, health, lease released; the token on every call
    first = [c for c in fake.changes() if M1 in c]
    assert first == [f"POST /v1/apps/cgraph-api/machines/{M1}/lease", f"POST /v1/apps/cgraph-api/machines/{M1}/restart",
                     f"DELETE /v1/apps/cgraph-api/machines/{M1}/lease"]
    assert all(r.headers.get("Authorization") == "Bearer fly-test-token-abcdef123456" for r in fake.requests
               if r.path.startswith("/v1/"))
    restart_call = next(r for r in fake.requests if r.path.endswith(f"{M1}/restart"))
    assert restart_call.headers["fly-machine-lease-nonce"] == f"nonce-{M1}"
    [execution] = executions(slack.container)
    assert execution.status == "succeeded"
    assert [r["status"] for r in execution.results] == ["ok"] * 4
    assert f"{M1} started, 1 check passing" in execution.results[0]["details"]
    assert any(c["call"].endswith("/restart") and c["request_id"] for c in execution.results[0]["calls"])
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert "finished: all 4 steps done" in outcome and f"Restarted: {M1}, {M3}, {M2}, {M4}" in outcome
    with Session(slack.container.engine) as session:
        assert session.get(Incident, 1).status == "mitigating"
    finished = timeline(slack.container, 1)[-1]
    assert finished.kind == "playbook_finished" and len(finished.data["request_ids"]) > 10


def test_one_machine_never_reaching_started_stops_the_rolling_restart(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.never_starts.add(M3)
    slack.command("declare Checkout returns 502 sev1")
    slack.command("", command="/restart", channel_id="CINC0001")
    confirm(slack)
    assert restarted(fake) == [M1, M3]  # M2 and M4 were never touched
    [execution] = executions(slack.container)
    assert execution.status == "failed"
    assert [r["status"] for r in execution.results] == ["ok", "failed", "skipped", "skipped"]
    assert f"{M3} did not reach `started` within 60 s (it is stopped, last exit code 1)" in \
        execution.results[1]["summary"]
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert "stopped at a failure after 1 of 4 steps" in outcome
    assert f"Restarted: {M1}" in outcome and f"Did not come back: {M3}" in outcome
    assert f"Not restarted: {M2}, {M4}" in outcome
    assert not fake.calls("POST", "/lease$") or all(  # every lease taken was released
        any(d.path == c.path and d.method == "DELETE" for d in fake.requests) for c in fake.calls("POST", "/lease$"))


def test_health_endpoint_failing_after_a_batch_stops_it(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("--batch 2", command="/restart")
    fake.health_status = 503
    confirm(slack, channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "failed" and sorted(restarted(fake)) == [M1, M3]  # one batch, restarted together
    assert "came back, but the health endpoint" in execution.results[0]["summary"]
    assert "HTTP 503" in execution.results[0]["summary"]
    assert slack.container.knobs.sleeps == [5]  # between the two health probes; nobody really waited


def test_failing_checks_stop_it(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.failing_checks.add(M1)
    slack.command("--region iad", command="/restart")
    plan = slack.recorder.responses()[-1].text()
    assert "Rolling restart of 2 machines of cgraph-api in iad" in plan and M3 not in plan
    confirm(slack, channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "failed" and restarted(fake) == [M1]
    assert "checks still fail after 15 s (http critical: HTTP 500)" in execution.results[0]["summary"]


def test_429_with_retry_after_then_success(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", f"{M2}/restart$", (429, {"error": "rate limited"}, {"Retry-After": "3"}))
    slack.command(f"--machine {M2}", command="/restart")
    confirm(slack, channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and restarted(fake) == [M2, M2]
    assert 3.0 in slack.container.knobs.sleeps
    statuses = [c["status"] for c in execution.results[0]["calls"] if c["call"].endswith("/restart")]
    assert statuses == [429, 200]


def test_a_lease_held_by_a_deploy_stops_it_with_a_clear_reason(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", f"{M1}/lease$", (409, {"error": "lease currently held by marcus@cgraph.org"}))
    slack.command("", command="/restart")
    confirm(slack, channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "failed" and restarted(fake) == []
    summary = execution.results[0]["summary"]
    assert "Could not take a lease on machine m1aaaaaaaaaaaa" in summary and "held by marcus@cgraph.org" in summary
    assert "409" in summary and "fly-test-token" not in summary


def test_crashed_machines_are_started_first_and_stopped_ones_left_alone(fly_slack, clock):
    slack, fake = fly_slack, fly_slack.fake
    crashed = fake.machine(M4)
    crashed["state"] = "stopped"
    crashed["events"] = [{"id": "e1", "type": "exit", "status": "stopped", "source": "flyd", "timestamp": 1,
                          "request": {"exit_event": {"exit_code": 137, "oom_killed": True}}}]
    parked = fake.machine(M2)
    parked["state"] = "stopped"
    parked["events"] = [{"id": "e2", "type": "exit", "status": "stopped", "source": "user", "timestamp": 1,
                         "request": {"exit_event": {"exit_code": 0, "requested_stop": True}}}]
    slack.command("", command="/restart")
    plan = slack.recorder.responses()[-1].text()
    assert f"1. Batch 1: Start {M4} (lhr)" in plan and f"Left alone (stopped on purpose, not crashed): {M2}" in plan
    assert f"Crashed machines are started rather than restarted: {M4} (lhr)." in plan
    slack.command(f"--machine {M2}", command="/restart")  # named, so included: started, and not called crashed
    assert f"Stopped machines are started rather than restarted: {M2} (iad)." in slack.recorder.responses()[-1].text()
    slack.command("", command="/restart")
    confirm(slack, channel="CGENERAL")
    assert restarted(fake) == [M4, M1, M3]
    assert fake.calls("POST", f"{M4}/start$") and not fake.calls("POST", f"{M2}/")


@pytest.mark.parametrize("text, expected", [
    ("--batch 0", "`--batch 0` is not a batch size"),
    ("--region fra", "has no machines in region `fra`"),
    ("--machine nope", "`nope` is not a machine of this app"),
    ("now please", "does not understand `now please`"),
])
def test_bad_input_is_refused_with_what_to_type(fly_slack, text, expected):
    slack = fly_slack
    slack.command(text, command="/restart")
    answer = slack.recorder.responses()[-1].text()
    assert expected in answer and "Confirm" not in answer.split("\n", 1)[0]
    assert executions(slack.container) == [] and slack.fake.changes() == []


@pytest.mark.prism
def test_every_request_of_a_rolling_restart_is_accepted_by_the_official_spec(fly_slack, prism):
    slack, fake = fly_slack, fly_slack.fake
    fake.never_starts.add(M4)
    slack.command("--batch 2", command="/restart")
    confirm(slack, channel="CGENERAL")
    slack.command("", command="/diagnose")
    assert len(fake.requests) > 20
    assert replay_against(prism("fly"), fake.requests) == []


def test_console_dry_run(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    run_console(container, io.StringIO("declare Site down sev1\n/restart --batch 2\n!Confirm\n"), out)
    text = out.getvalue()
    assert "Plan: Rolling restart of 4 machines of cgraph-api [DRY RUN]" in text
    assert "1. Batch 1: Start 91852e7a4d6008 (lhr); Restart 48ed6e5b2d1189 (iad)" in text
    assert "allowed: RESPONDERS (nobody, and you at this console)" in text  # the console's user may confirm
    assert "finished: all 2 steps done. [DRY RUN: nothing was sent to Fly]" in text
    # the console prints the progress message once and the outcome: both count, by the same (test) clock
    assert "Restarting: 0 of 4 machines, batch 1 of 2, 0s" in text
    assert "Restarted 4 of 4 machines in 0s." in text
    with Session(container.engine) as session:
        [execution] = executions(container)
        details = execution.results[0]["details"]
        # the batch's machines take their leases side by side, so either may be listed first
        [would] = [d for d in details if d.startswith("Dry run: a live run would send ")]
        assert "POST /v1/apps/cgraph-api/machines/91852e7a4d6008/lease" in would
        assert "POST /v1/apps/cgraph-api/machines/48ed6e5b2d1189/lease" in would
        assert session.get(Incident, 1).status == "declared"


def test_a_lease_refused_half_way_through_a_batch_says_what_was_restarted(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", f"{M3}/lease$", (409, {"error": "lease currently held by chen@cgraph.org"}))
    slack.command("--batch 2", command="/restart")
    confirm(slack, channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "failed" and restarted(fake) == [M1]
    assert f"{M1} was restarted but not health-checked" in execution.results[0]["details"][0]
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert f"Restarted: {M1}" in outcome and f"Not restarted: {M3}, {M2}, {M4}" in outcome
    assert "Did not come back" not in outcome
    assert fake.calls("DELETE", f"{M1}/lease$")  # the lease it took is given back


def test_restart_plan_in_slack_is_a_header_fields_risks_and_confirm(fly_slack):
    """The plan as Block Kit: a header, the three facts as fields, the risks as a list, Confirm primary."""
    import json

    slack = fly_slack
    slack.command("declare Checkout returns 502 sev1")
    slack.command("", command="/restart", channel_id="CINC0001")
    call = slack.recorder.responses()[-1]
    blocks = call.data["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                    "text": ":clipboard: Plan: Rolling restart of 4 machines of "
                                                            "cgraph-api"}}
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == ["*Machines*\n4 of 4", "*Batches*\n4, 1 machine at a time",
                      "*Capacity left during it*\n3 of 4 serving"]
    text = json.dumps(blocks)
    assert "\\u2022 Restarting drops the requests" in text and "\n- " not in text
    assert "console user" not in text + call.data["text"]
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [(e["text"]["text"], e.get("style")) for e in actions["elements"]] == [("Confirm", "primary"),
                                                                                  ("Cancel", None)]


def test_restart_plan_in_the_console_prints_the_same_parts(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    run_console(container, io.StringIO("declare Site down sev1\n/restart --batch 2\n"), out)
    text = out.getvalue()
    plan = text[text.index("Plan: Rolling restart"):]
    assert plan.startswith("Plan: Rolling restart of 4 machines of cgraph-api [DRY RUN]\n  Machines: 4 of 4\n"
                           "  Batches: 2, 2 machines at a time\n  Capacity left during it: ")
    assert "What could go wrong" in plan and "\u2022 Restarting drops" in plan and "[Confirm] [Cancel]" in plan


def test_progress_counts_machines_and_the_time_taken_by_the_test_clock(fly_slack, clock):
    """Every edit of the one progress message says how far it is; the last says the total and the time taken."""
    slack, fake = fly_slack, fly_slack.fake
    answer = fake.handle

    def slow_restart(method, path, *rest):
        if path.endswith("/restart"):
            clock.advance(seconds=25)  # each machine takes 25 s to restart, as Fly's wait would
        return answer(method, path, *rest)

    fake.handle = slow_restart
    slack.command("declare Checkout returns 502 sev1")
    slack.command("--batch 2", command="/restart", channel_id="CINC0001")
    confirm(slack)
    [execution] = executions(slack.container)
    posted = [c for c in slack.recorder.of("chat.postMessage") if "Rolling restart" in c.text()]
    edits = [c.text() for c in slack.recorder.of("chat.update") if "Rolling restart" in c.text()]
    first = posted[0].text()
    # At most as many edits as the same restart made before it counted (8): the count rides on edits already
    # made, and states made while an edit is in flight are replaced by the newest (the final one always sent).
    assert 1 <= len(slack.recorder.of("chat.update")) <= 8
    assert "Restarting: 0 of 4 machines, batch 1 of 2, 0s" in first
    counts = [line for text in edits for line in text.split("\n") if line.startswith("*Restart")]
    said = list(dict.fromkeys(counts))
    expected = ["*Restarting: 0 of 4 machines, batch 1 of 2, 0s*", "*Restarting: 2 of 4 machines, batch 2 of 2, 50s*",
                "*Restarted 4 of 4 machines in 1m 40s*"]
    assert said[-1] == expected[-1] and all(line in expected for line in said)
    assert said == [line for line in expected if line in said]  # in order, never an older state after a newer one
    blocks = slack.recorder.of("chat.update")[-1].data["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    assert blocks[0]["text"]["text"].split("\n")[:2] == [  # right under the title: the first thing read
        ":white_check_mark: *Rolling restart of 4 machines of cgraph-api*: finished", counts[-1]]
    assert "Restarted 4 of 4 machines in 1m 40s." in posted[-1].text()  # the outcome in the thread says it too
    seconds = (execution.finished_at - execution.started_at).total_seconds()
    assert seconds == 100  # the stored times are the truth the message is counted from


def test_progress_after_a_failure_counts_what_was_restarted(fly_slack, clock):
    slack, fake = fly_slack, fly_slack.fake
    fake.never_starts.add(M3)
    slack.command("", command="/restart")
    clock.advance(seconds=5)
    confirm(slack, channel="CGENERAL")
    final = slack.recorder.of("chat.update")[-1].text()
    assert "*Restarted 1 of 4 machines in 0s; stopped at a failure*" in final
