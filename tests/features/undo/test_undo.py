"""Undo temporary mitigations: a resolved incident lists what its playbooks left in place (loopback Fly fake) and
offers to return each to its state before the incident, as a normal plan to confirm; a change made since is said."""

from __future__ import annotations

from playbooks.undo import ExecutionRecord, leftovers
from tests.support.playbook_harness import buttons_in, executions, newest_button


def confirm(slack, channel="CINC0001"):
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", channel_id=channel)


def alive(fake) -> list[str]:
    return [mid for mid, m in fake.apps["cgraph-api"].items() if m["state"] != "destroyed"]


def scaled_up_and_resolved(slack):
    slack.command("declare WebSocket fails for everyone sev2")
    slack.command("count 6", command="/scale", channel_id="CINC0001")
    confirm(slack)
    assert len(alive(slack.fake)) == 6
    slack.command("resolve", channel_id="CINC0001")


def offers(slack):
    return [c for c in slack.recorder.calls if "Still in place after #1" in c.text()]


def test_a_resolved_incident_with_a_scale_up_offers_the_scale_down_to_the_earlier_count(fly_slack):
    slack = fly_slack
    scaled_up_and_resolved(slack)
    [offer] = offers(slack)
    text = offer.text()
    assert "scale-up from 4 to 6 machines" in text and "/scale count 6" in text
    assert "Scale back to 4" in [label for label, _, _ in buttons_in(offer.data)]
    changes = list(slack.fake.changes())
    action_id, value = newest_button(slack.recorder, "Scale back to 4")
    slack.press(action_id, value, user_id="U0LEAD", channel_id="CINC0001")
    plan = slack.reply_text()
    assert "Scale cgraph-api from 6 to 4 machines" in plan and "Confirm" in plan
    assert slack.fake.changes() == changes  # nothing undone without confirmation
    confirm(slack)
    assert len(alive(slack.fake)) == 4
    undo = executions(slack.container)[-1]
    assert undo.playbook == "scale-count" and undo.status == "succeeded" and undo.incident_id == 1


def test_a_count_changed_since_is_said_not_overwritten(fly_slack):
    slack = fly_slack
    slack.command("declare WebSocket fails for everyone sev2")
    slack.command("count 6", command="/scale", channel_id="CINC0001")
    confirm(slack)
    slack.fake.add("m9zzzzzzzzzzzz", "iad")  # someone scaled to 7 by hand since
    slack.command("resolve", channel_id="CINC0001")
    [offer] = offers(slack)
    assert "changed since" in offer.text() and "7" in offer.text()
    assert not [b for b in buttons_in(offer.data) if b[0].startswith("Scale back")]


def test_nothing_left_in_place_posts_nothing(fly_slack):
    slack = fly_slack
    slack.command("declare WebSocket fails for everyone sev2")
    slack.command("resolve", channel_id="CINC0001")
    assert offers(slack) == []


def test_memory_raised_is_offered_back_to_the_size_before():
    from playbooks.fleet_models import Machine

    def machine(mid, memory):
        return Machine(mid, state="started", region="iad",
                       config={"guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": memory}})

    record = ExecutionRecord(7, "scale-memory", {"params": {"memory": 2048}, "steps": [
        {"title": "Batch 1", "action": "update_guest", "args": {
            "machines": [{"id": "a"}, {"id": "b"}],
            "guest": {"a": {"memory_mb": 2048}, "b": {"memory_mb": 2048}},
            "before": {"a": {"memory_mb": 1024}, "b": {"memory_mb": 1024}}}}]}, [{"ok": True}])
    [found] = leftovers([record], [machine("a", 2048), machine("b", 2048)])
    assert found.undo == ("scale-memory", ["1024"]) and "1024 MB" in found.text
    [changed] = leftovers([record], [machine("a", 4096), machine("b", 2048)])
    assert changed.undo is None and "changed since" in changed.text
