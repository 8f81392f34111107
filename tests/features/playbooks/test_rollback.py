"""rollback: quick rollback and the guide's database-restore procedure, against a fake Fly, Slack and Prism."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playbooks.framework import Blocked
from playbooks.rollback import parse_restore_time
from tests.support.fake_fly import replay_against
from tests.support.playbook_harness import executions, newest_button, timeline

M1, M2, M3, M4 = "m1aaaaaaaaaaaa", "m2bbbbbbbbbbbb", "m3cccccccccccc", "m4dddddddddddd"
V41 = "registry.fly.io/cgraph-api:deployment-v41"
V42 = "registry.fly.io/cgraph-api:deployment-v42"


def press(slack, label, user="U0LEAD", ts="1.1", channel="CINC0001"):
    action_id, value = newest_button(slack.recorder, label)
    slack.press(action_id, value, user_id=user, action_ts=ts, channel_id=channel)


def images(fake) -> dict[str, str]:
    return {mid: m["config"]["image"] for mid, m in fake.apps["cgraph-api"].items()}


def test_quick_rollback_to_the_previous_release(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare Checkout returns 502 sev1")
    slack.command("", command="/rollback", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Plan: Roll back cgraph-api to v41" in plan
    assert f"- v42: `{V42}`, 40 min ago, marcus@cgraph.org (current)" in plan
    assert f"- v41: `{V41}`, 2 days ago, chen@cgraph.org (rolling back to this)" in plan
    assert "fly deploy --image" in plan and "--with-db-restore" in plan
    assert fake.changes() == []
    press(slack, "Confirm")
    assert set(images(fake).values()) == {V41}
    updates = [r for r in fake.requests if r.method == "POST" and r.path.endswith(("aaaa", "bbbb", "cccc", "dddd"))]
    assert [u.path.rsplit("/", 1)[1] for u in updates] == [M1, M3, M2, M4]
    first = updates[0].body
    assert first["config"]["image"] == V41 and first["config"]["env"] == {"PORT": "8080"}  # the rest is kept
    assert first["current_version"] and first["skip_launch"] is False
    assert updates[0].headers["fly-machine-lease-nonce"] == f"nonce-{M1}"
    waits = fake.calls("GET", f"{M1}/wait$")
    assert waits[0].query["version"] == fake.machine(M1)["version"]
    [execution] = executions(slack.container)
    assert execution.status == "succeeded"
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert f"Rolled back: {M1}, {M3}, {M2}, {M4}" in outcome
    assert timeline(slack.container, 1)[-1].data["status"] == "succeeded"


def test_rollback_to_a_named_release_or_image(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("v40", command="/rollback")
    assert "Roll back cgraph-api to v40" in slack.recorder.responses()[-1].text()
    slack.command("registry.fly.io/cgraph-api:hotfix-1 --batch 2", command="/rollback")
    plan = slack.recorder.responses()[-1].text()
    assert "Roll back cgraph-api to the given image" in plan and "2 at a time" in plan
    press(slack, "Confirm", channel="CGENERAL")
    assert set(images(fake).values()) == {"registry.fly.io/cgraph-api:hotfix-1"}


def test_no_previous_release_means_no_plan(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.releases = fake.releases[:1]
    slack.command("", command="/rollback")
    text = slack.recorder.responses()[-1].text()
    assert "Cannot roll back*: there is no release before v42 with an image to roll back to" in text
    assert "/rollback registry.fly.io/&lt;app&gt;:&lt;tag&gt;" in text
    assert executions(slack.container) == []


def test_a_release_without_an_image_is_refused(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.releases[1]["imageRef"] = ""
    slack.command("v41", command="/rollback")
    assert "release v41 has no image recorded" in slack.recorder.responses()[-1].text()
    slack.command("", command="/rollback")  # the default skips it and goes to v40
    assert "Roll back cgraph-api to v40" in slack.recorder.responses()[-1].text()


def test_previous_image_missing_from_the_registry_stops_at_the_first_machine(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.missing_images.add(V41)
    slack.command("", command="/rollback")
    press(slack, "Confirm", channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "failed" and set(images(fake).values()) == {V42}
    summary = execution.results[0]["summary"]
    assert "Could not update machine m1aaaaaaaaaaaa" in summary and "manifest unknown" in summary
    assert "Machines not yet updated keep their current config" in summary
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert f"Failed: {M1}" in outcome and f"Not rolled back: {M3}, {M2}, {M4}" in outcome


def test_graphql_down_falls_back_to_machine_versions_and_says_so(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.script("POST", "/graphql$", *[(502, {"errors": [{"message": "bad gateway"}]})] * 8)
    slack.command("", command="/rollback")
    text = slack.recorder.responses()[-1].text()
    assert "Fly's GraphQL API failed" in text and "version history" in text
    assert "Cannot roll back" in text  # one machine's history has only the current image here
    slack.command(V41, command="/rollback")
    assert "Plan: Roll back cgraph-api to the given image" in slack.recorder.responses()[-1].text()


def test_old_code_failing_its_checks_stops_the_rollback(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    fake.failing_checks.add(M1)
    slack.command("", command="/rollback")
    press(slack, "Confirm", channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "failed" and images(fake)[M1] == V41 and images(fake)[M3] == V42
    assert "checks still fail" in execution.results[0]["summary"]


def test_with_db_restore_walks_the_guide_procedure_one_confirm_at_a_time(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("declare Data corrupted after deploy sev1")
    slack.command("--with-db-restore 2026-11-25T13:10:00Z", command="/rollback", channel_id="CINC0001")
    plan = slack.recorder.responses()[-1].text()
    assert "Roll back cgraph-api to v41 with a database restore to 2026-11-25T13:10:00Z" in plan
    assert 'you run: `fly postgres restore --app cgraph-db --time "2026-11-25T13:10:00Z"`' in plan
    assert "instead of the guide's `fly scale count 0`, which would destroy them" in plan
    assert "cgraph-api is DOWN for users from step 1" in plan
    press(slack, "Confirm")
    # step 1 ran: every machine cordoned and stopped; then it waits for the person
    assert {m["state"] for m in fake.apps["cgraph-api"].values()} == {"stopped"}
    assert all(m.get("cordoned") for m in fake.apps["cgraph-api"].values())
    [execution] = executions(slack.container)
    assert execution.status == "waiting" and execution.current_step == 1
    ask = slack.recorder.of("chat.postMessage")[-1].text()
    assert "Step 2 of 4 needs you" in ask and 'fly postgres restore --app cgraph-db --time "2026-11-25T13:10:00Z"' \
        in ask
    press(slack, "Done", user="U0INTERN", ts="2.0")  # not a responder: refused
    assert executions(slack.container)[0].status == "waiting"
    press(slack, "Done", ts="2.1")
    assert "Step 3 of 4 waits for Confirm" in slack.recorder.of("chat.postMessage")[-1].text()
    assert set(images(fake).values()) == {V42}  # nothing deployed before its own Confirm
    press(slack, "Confirm", ts="3.1")
    assert set(images(fake).values()) == {V41}
    assert {m["state"] for m in fake.apps["cgraph-api"].values()} == {"stopped"}  # skip_launch: still stopped
    assert all(r.body["skip_launch"] is True for r in fake.requests
               if r.method == "POST" and r.path.endswith(("aaaa", "bbbb", "cccc", "dddd")))
    press(slack, "Confirm", ts="4.1")
    assert {m["state"] for m in fake.apps["cgraph-api"].values()} == {"started"}
    assert not any(m.get("cordoned") for m in fake.apps["cgraph-api"].values())
    [execution] = executions(slack.container)
    assert execution.status == "succeeded"
    assert execution.results[1]["summary"] == "done by hand, reported by U0LEAD"
    kinds = [e.kind for e in timeline(slack.container, 1)]
    assert kinds.count("playbook_step") == 3 and kinds[-1] == "playbook_finished"
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert "Done: traffic stopped, database restored, previous image deployed, machines started" in outcome


def test_stopping_the_procedure_half_way_says_the_app_is_still_down(fly_slack):
    slack, fake = fly_slack, fly_slack.fake
    assert fake.apps["cgraph-api"]
    slack.command("--with-db-restore 13:10", command="/rollback")
    press(slack, "Confirm", channel="CGENERAL")
    press(slack, "Stop", ts="2", channel="CGENERAL")
    [execution] = executions(slack.container)
    assert execution.status == "stopped"
    outcome = slack.recorder.of("chat.postMessage")[-1].text()
    assert "Done: traffic stopped" in outcome and "cgraph-api is still DOWN" in outcome
    assert "fly machine start &lt;id&gt; -a cgraph-api" in outcome and M1 in outcome


def test_restoring_to_after_the_bad_release_is_warned(fly_slack):
    slack = fly_slack
    slack.command('--with-db-restore "2026-11-25 13:30"', command="/rollback")
    assert "2026-11-25T13:30:00Z is after v42 went out (2026-11-25T13:20:00Z)" in \
        slack.recorder.responses()[-1].text()


@pytest.mark.parametrize("text, expected", [
    ("--with-db-restore", "needs the time"),
    ("--with-db-restore yesterday", "not a time Fireline can read"),
    ("--with-db-restore 2099-01-01T00:00:00Z", "is in the future"),
    ("latest-and-greatest", "neither a release"),
    ("v41 v40", "does not understand `v40`"),
])
def test_bad_input(fly_slack, text, expected):
    fly_slack.command(text, command="/rollback")
    assert expected in fly_slack.recorder.responses()[-1].text()
    assert fly_slack.fake.changes() == []


def test_restore_time_forms():
    now = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert parse_restore_time("2026-11-25T13:10:00Z", now) == datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
    assert parse_restore_time("2026-11-25 13:10", now) == datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
    assert parse_restore_time("2026-11-25T15:10:00+02:00", now) == datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
    assert parse_restore_time("13:10", now) == datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
    assert parse_restore_time("15:10 UTC", now) == datetime(2026, 11, 24, 15, 10, tzinfo=UTC)
    with pytest.raises(Blocked):
        parse_restore_time("13:10 PST", now)


@pytest.mark.prism
def test_every_request_of_both_rollbacks_is_accepted_by_the_official_spec(fly_slack, prism):
    slack, fake = fly_slack, fly_slack.fake
    slack.command("--batch 2", command="/rollback")
    press(slack, "Confirm", channel="CGENERAL")
    slack.command("v40 --with-db-restore 13:10", command="/rollback")
    press(slack, "Confirm", ts="2", channel="CGENERAL")
    press(slack, "Done", ts="3", channel="CGENERAL")
    press(slack, "Confirm", ts="4", channel="CGENERAL")
    press(slack, "Confirm", ts="5", channel="CGENERAL")
    assert [e.status for e in executions(slack.container)] == ["succeeded", "succeeded"]
    assert {r.path.rsplit("/", 1)[-1] for r in fake.requests} >= {"cordon", "uncordon", "stop", "start", "lease"}
    assert replay_against(prism("fly"), fake.requests) == []
