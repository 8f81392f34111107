"""scale: count (bounds, clone up, stopped first down), vm, memory, advice; against a fake Fly, Slack and Prism."""

from __future__ import annotations

import io
import re

import pytest

from bot.adapters.console import run_console
from tests.support.factories import make_container
from tests.support.fake_fly import replay_against
from tests.support.fly_fixtures import fly_container
from tests.support.playbook_harness import audit_rows, executions, newest_button, timeline

M1, M2, M3, M4 = "m1aaaaaaaaaaaa", "m2bbbbbbbbbbbb", "m3cccccccccccc", "m4dddddddddddd"


def confirm(slack, ts="1.1", channel="CGENERAL"):
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", action_ts=ts, channel_id=channel)


def alive(fake) -> dict[str, str]:
    return {mid: m["region"] for mid, m in fake.apps["cgraph-api"].items() if m["state"] != "destroyed"}


def test_scale_up_clones_a_healthy_machine_and_spreads_regions(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare WebSocket fails for everyone sev2")
    slack.command("count 6", command="/scale", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Plan: Scale cgraph-api from 4 to 6 machines" in plan
    assert "Adds 2 machines (1 in iad, 1 in lhr)" in plan and "shared-cpu-1x, 1024 MB" in plan
    assert "Serving capacity grows from 4 to 6" in plan and "Cost goes up" in plan and "$6/month" in plan
    confirm(slack, channel="CINC0001")
    creates = fake.calls("POST", r"/machines$")
    assert [c.body["region"] for c in creates] == ["iad", "lhr"]
    source = fake.machine(M4)["config"]
    assert all(c.body["config"] == source for c in creates)  # a copy of a healthy machine's whole config
    assert len(alive(fake)) == 6 and all(m["state"] == "started" for m in fake.apps["cgraph-api"].values())
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and execution.results[0]["created"].startswith("new")
    assert timeline(slack.container, 1)[-1].data["status"] == "succeeded"


def test_scale_below_the_minimum_is_refused(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("count 1", command="/scale")
    text = slack.recorder.responses()[-1].text()
    assert "Cannot scale*: that would leave 1 machine in cgraph-api, below FLY_MIN_MACHINES (2" in text
    assert "Confirm" not in text and executions(slack.container) == [] and fake.changes() == []
    assert audit_rows(slack.container)[-1].action == "plan_blocked"
    slack.command("count 0 --region lhr", command="/scale")  # 2 left in iad: allowed by the bound
    assert "Plan: Scale cgraph-api in lhr from 2 to 0 machines" in slack.recorder.responses()[-1].text()
    slack.command("count 25", command="/scale")
    assert "above FLY_MAX_MACHINES (20)" in slack.recorder.responses()[-1].text()
    slack.command("count 4", command="/scale")
    assert "already has 4 machines" in slack.recorder.responses()[-1].text()


def test_scale_down_removes_stopped_machines_first(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.machine(M3)["state"] = "stopped"
    slack.command("count 2", command="/scale")
    plan = slack.recorder.responses()[-1].text()
    assert f"{M3} (lhr) (stopped)" in plan and "Destroy stopped machine m3cccccccccccc" in plan
    assert "Serving capacity goes from 3 to 2" in plan
    confirm(slack)
    removed = [r.path.rsplit("/", 1)[1] for r in fake.requests if r.method == "DELETE" and "lease" not in r.path]
    assert removed[0] == M3 and len(removed) == 2
    assert not fake.calls("POST", f"{M3}/stop$")  # already stopped: destroyed straight away
    started_one = removed[1]
    assert fake.calls("POST", f"{started_one}/stop$") and fake.calls("GET", f"{started_one}/wait$")
    assert len(alive(fake)) == 2
    assert executions(slack.container)[0].status == "succeeded"


def test_scale_count_in_a_region(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("count 3 --region lhr", command="/scale")
    confirm(slack)
    assert [c.body["region"] for c in fake.calls("POST", r"/machines$")] == ["lhr"]
    assert sorted(alive(fake).values()) == ["iad", "iad", "lhr", "lhr", "lhr"]


def test_a_new_machine_that_never_starts_stops_the_scale_up(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.new_machines_fail = True
    slack.command("count 6", command="/scale")
    confirm(slack)
    [execution] = executions(slack.container)
    assert execution.status == "failed" and len(fake.calls("POST", r"/machines$")) == 1
    assert "did not reach `started`" in execution.results[0]["summary"]
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert "Failed: new machine 1 in iad" in outcome and "Not done: new machine 2 in lhr" in outcome


def test_machines_with_volumes_are_not_cloned(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    for machine in fake.apps["cgraph-api"].values():
        machine["config"]["mounts"] = [{"volume": "vol_123", "path": "/data"}]
    slack.command("count 5", command="/scale")
    assert "has a volume mounted" in slack.recorder.responses()[-1].text()


def test_scale_vm_rolls_every_machine_keeping_memory(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("vm shared-cpu-2x", command="/scale")
    plan = slack.recorder.responses()[-1].text()
    assert "Resize cgraph-api to shared-cpu-2x" in plan and "to shared-cpu-2x with 1024 MB" in plan
    assert "Cost goes up" in plan
    confirm(slack)
    updates = [r for r in fake.requests if r.method == "POST" and r.path.endswith(("aaaa", "bbbb", "cccc", "dddd"))]
    assert len(updates) == 4
    assert all(u.body["config"]["guest"] == {"cpu_kind": "shared", "cpus": 2, "memory_mb": 1024} for u in updates)
    assert all(u.body["config"]["image"].endswith("deployment-v42") for u in updates)
    assert executions(slack.container)[0].status == "succeeded"
    slack.command("vm dedicated-cpu-1x", command="/scale")
    text = slack.recorder.responses()[-1].text()
    assert "performance-1x with 2048 MB" in text and "old name" in text


def test_scale_memory_bounds_and_update(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("memory 4096", command="/scale")
    text = slack.recorder.responses()[-1].text()
    assert "shared-cpu-1x machines take 256 to 2048 MB, so 4096 MB does not fit" in text
    assert "/scale vm shared-cpu-2x" in text
    slack.command("memory 1000", command="/scale")
    assert "a multiple of 256" in slack.recorder.responses()[-1].text()
    slack.command("memory 512", command="/scale")
    plan = slack.recorder.responses()[-1].text()
    assert "Cost goes down" in plan and "OOM" in plan
    slack.command("memory 2gb", command="/scale")
    confirm(slack, ts="2")
    assert {m["config"]["guest"]["memory_mb"] for m in fake.apps["cgraph-api"].values()} == {2048}
    assert [e.status for e in executions(slack.container)] == ["proposed", "succeeded"]


def test_advice_from_the_guide_table(fly_slack):
    slack = fly_slack
    slack.command("advice high cpu across nodes", command="/scale")
    text = slack.recorder.responses()[-1].text()
    assert "High CPU across nodes*: Add more machines. Run `/scale count &lt;N&gt;`" in text
    slack.command("advice database connection exhausted", command="/scale")
    text = slack.recorder.responses()[-1].text()
    assert "Add PgBouncer, increase pool" in text and "not a Fly scaling change" in text
    slack.command("advice websocket fails", command="/scale")
    assert "WebSocket fails*: Scale up machines" in slack.recorder.responses()[-1].text()
    slack.command("advice", command="/scale")
    assert "Say the symptom" in slack.recorder.responses()[-1].text()
    assert slack.fake.requests == []


@pytest.mark.prism
def test_every_request_of_scaling_is_accepted_by_the_official_spec(fly_slack, prism):
    slack, fake = fly_slack, fly_slack.fake
    fake.machine(M3)["state"] = "stopped"
    for n, text in enumerate(["count 6", "count 3", "vm shared-cpu-2x --batch 2", "memory 2048"]):
        slack.command(text, command="/scale")
        confirm(slack, ts=f"{n}.1")
    assert [e.status for e in executions(slack.container)] == ["succeeded"] * 4
    assert replay_against(prism("fly"), fake.requests) == []


def test_console_dry_run(db_url, clock):
    container = make_container(db_url, clock=clock)
    out = io.StringIO()
    run_console(container, io.StringIO("/scale count 1\n/scale count 3\n!Confirm\n/scale advice redis\n"), out)
    text = out.getvalue()
    assert "below FLY_MIN_MACHINES" in text
    assert "Plan: Scale cgraph-api from 4 to 3 machines [DRY RUN]" in text
    assert "Destroy stopped machine 91852e7a4d6008 (lhr)" in text
    assert "finished: its one step is done. [DRY RUN: nothing was sent to Fly]" in text
    assert "Redis memory full" in text


def test_scale_down_keeps_regions_balanced(fly_slack):
    """Down to 2 from 2+2: one from each region (the most crowded at each pick), never a whole region gone."""
    slack, fake = fly_slack, fly_slack.fake
    slack.command("count 2", command="/scale")
    plan = slack.recorder.responses()[-1].text()
    assert f"Stop and destroy machine {M1} (iad)" in plan and f"Stop and destroy machine {M3} (lhr)" in plan
    confirm(slack)
    assert sorted(alive(fake).values()) == ["iad", "lhr"]
    fake.machine(M2)["state"] = "stopped"  # 1 started in lhr, 1 stopped in iad: the stopped one goes first
    for n in range(3):
        fake.add(f"n{n}eeeeeeeeeeee", "lhr")["created_at"] = f"2026-11-2{n}T10:00:00Z"
    slack.command("count 3", command="/scale")
    plan = slack.recorder.responses()[-1].text()  # then the newest of crowded lhr (4 there, 1 in iad)
    assert f"Destroy stopped machine {M2} (iad)" in plan and "Stop and destroy machine n2eeeeeeeeeeee (lhr)" in plan
    assert "n1eeeeeeeeeeee" not in plan.split("Steps")[-1]


def test_scale_up_from_a_sick_fleet_says_the_copy_may_fail_too(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    for machine in fake.apps["cgraph-api"].values():
        machine["checks"] = [{"name": "http", "status": "critical", "output": "HTTP 500"}]
    slack.command("count 5", command="/scale")
    plan = slack.recorder.responses()[-1].text()
    assert "No machine is started with its checks passing, so the copy is of m4dddddddddddd (lhr) (started, " \
           "checks failing)" in plan and "/diagnose" in plan


def test_scale_up_into_a_new_region_says_so(fly_slack):
    slack = fly_slack
    slack.command("count 2 --region FRA", command="/scale")
    plan = slack.recorder.responses()[-1].text()
    assert "Scale cgraph-api in fra from 0 to 2 machines" in plan
    assert "`fra` is a new region for cgraph-api (it runs in iad, lhr now)" in plan


@pytest.mark.parametrize("command, text, expected", [
    ("/scale", "count banana", "`banana` is not a number of machines"),
    ("/scale", "count ²", "`²` is not a number of machines"),
    ("/scale", "count -1", "`-1` is not a number of machines"),
    ("/scale", "count 3 --region", "`--region` needs a value"),
    ("/scale", "count 3 --region iadd", "`--region iadd` is not a Fly region code"),
    ("/scale", "vm shared-cpu-2x --batch 0", "for example `/scale vm shared-cpu-2x --batch 2`"),
    ("/scale", "vm shared-cpu-2x --batch ²", "`--batch ²` is not a batch size"),
    ("/scale", "vm sharedcpu-2x", "Did you mean `shared-cpu-2x`?"),
    ("/scale", "memory ²gb", "`²gb` is not a memory size Fly offers"),
    ("/scale", "memory 1000", "a multiple of 256"),
    ("/scale", "memory 2048 now", "does not understand `now`"),
    ("/restart", "--batch ²", "`--batch ²` is not a batch size"),
    ("/restart", "--machine", "`--machine` needs a value"),
    ("/restart", "--region 1ad", "not a Fly region code"),
    ("/rollback", "--batch 99", "from 1 to 50"),
])
def test_bad_input_gets_what_was_wrong_and_what_to_type(fly_slack, command, text, expected):
    slack = fly_slack
    slack.command(text, command=command)
    answer = slack.recorder.responses()[-1]
    assert expected in answer.text() and answer.data["response_type"] == "ephemeral"
    assert "went wrong" not in answer.text()
    assert executions(slack.container) == [] and slack.fake.changes() == []


def test_fly_rate_limits_and_errors_during_scale_down_are_retried(fly_slack):
    """429 with Retry-After, then 500 then success, in the middle of a real execution."""
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", f"{M1}/stop$", (429, {"error": "rate limited"}, {"Retry-After": "2"}))
    fake.script("DELETE", f"{M1}$", (500, {"error": "flyd hiccup"}))
    slack.command("count 3", command="/scale")
    assert f"Stop and destroy machine {M1} (iad)" in slack.recorder.responses()[-1].text()
    confirm(slack)
    [execution] = executions(slack.container)
    assert execution.status == "succeeded" and M1 not in alive(fake)
    assert 2.0 in slack.container.knobs.sleeps  # Retry-After honoured (a recorded sleep, nobody waited)
    calls = execution.results[0]["calls"]
    assert [c["status"] for c in calls if c["call"].endswith(f"{M1}/stop")] == [429, 200]
    assert [c["status"] for c in calls if c["call"].endswith(M1) and c["call"].startswith("DELETE")] == [500, 200]


@pytest.mark.parametrize("failure, expected", [
    (("GET", f"{M1}/wait$", (408, {"error": "deadline_exceeded"})), "did not stop within 30 s; it was not destroyed"),
    (("DELETE", f"{M1}$", (412, {"error": "failed_precondition: machine still has a volume"})),
     rf"request id req-\d+\] It is stopped but still exists: `fly machine start {M1}` brings it back"),
])
def test_a_machine_that_cannot_be_removed_stops_the_scale_down_and_its_lease_is_given_back(fly_slack, failure,
                                                                                           expected):
    slack, fake = fly_slack, fly_slack.fake
    method, pattern, answer = failure
    fake.script(method, pattern, answer)
    slack.command("count 2", command="/scale")
    confirm(slack)
    [execution] = executions(slack.container)
    assert execution.status == "failed" and M1 in alive(fake)
    assert re.search(expected, execution.results[0]["summary"]), execution.results[0]["summary"]
    assert fake.calls("DELETE", f"{M1}/lease$")  # released now, not left to block a deploy until its TTL
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert f"Failed: {M1}" in outcome and f"Not done: {M3}" in outcome


def test_bounds_that_cannot_both_hold_are_said_plainly(db_url, recorder, clock, fake_fly):
    container = fly_container(db_url, None, clock, fake_fly, fly_min_machines=5, fly_max_machines=3)
    out = io.StringIO()
    run_console(container, io.StringIO("/scale count 4\n"), out)
    assert "FLY_MIN_MACHINES (5) is above FLY_MAX_MACHINES (3), so no number of machines is allowed" in out.getvalue()
    assert fake_fly.changes() == []
    container.engine.dispose()
