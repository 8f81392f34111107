"""/deploy canary: one extra machine on the new image (fake Fly, replayed against the Prism mock of Fly's spec),
judged against the other machines on Fly's metrics (a real Prometheus loaded with a healthy and a bad canary), then
Promote or Discard, each its own plan and Confirm; from Slack (signed HTTP) and the console (a drill)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from bot.adapters.console import Console
from bot.features.playbooks import executions as ex
from bot.features.postmortem import service as postmortem
from bot.service import jobs
from playbooks import canary as canary_playbooks
from playbooks import fleet
from playbooks.canary import parse_canary_thresholds
from bot.adapters.http.server import build_http_app
from bot.adapters.slack.bolt import build_bolt_app
from bot.store.models import CanaryRun, DeployChecklist, MitigationLock
from tests.support import prometheus as prom
from tests.support.factories import make_container
from tests.support.fake_fly import config, replay_against
from tests.support.fake_sentry import FakeSentry
from tests.support.fly_fixtures import fly_container
from tests.support.harness import SlackHarness
from tests.support.playbook_harness import audit_rows, buttons_in, executions, newest_button, timeline

OLD = "registry.fly.io/{app}:deployment-v42"
NEW = "registry.fly.io/{app}:deployment-v43"


def canary_slack(db_url, recorder, clock, fake, prometheus, app, canary_id, stable_prefix, **settings):
    """Fly (the fake) holds the fixture's two stable machines of `app`; the canary it creates gets `canary_id`,
    the instance the real Prometheus has the canary's series for."""
    fake.apps.clear()
    for n in range(2):
        fake.add(f"{stable_prefix}{n:02x}".ljust(14, "0"), "iad", app=app, cfg=config(OLD.format(app=app)))
    fake.new_ids.append(canary_id)
    for release in fake.releases:
        release["imageRef"] = release["imageRef"].replace("cgraph-api", app)
    clock.now = prom.END - timedelta(minutes=12)  # the fixture's canary went out 30 min before its END
    container = fly_container(db_url, recorder, clock, fake, fly_app=app, deploy_canary_minutes=5,
                              **prom.settings_for(prometheus), **settings)
    return container


@pytest.fixture
def harness_for(db_url, recorder, clock, fake_fly, fly_prometheus):
    made = []

    def make(app, canary_id, prefix, **settings):
        container = canary_slack(db_url, recorder, clock, fake_fly, fly_prometheus, app, canary_id, prefix, **settings)
        client = TestClient(build_http_app(container, build_bolt_app(container)), raise_server_exceptions=False)
        client.__enter__()
        made.append((client, container))
        harness = SlackHarness(container, recorder, client)
        harness.fake = fake_fly  # type: ignore[attr-defined]
        return harness

    yield make
    for client, container in made:
        client.__exit__(None, None, None)
        container.engine.dispose()


@pytest.fixture
def fake_sentry():
    fake = FakeSentry()
    yield fake
    fake.close()


def press(slack, label, user="U0LEAD", ts="1.1", channel="CGENERAL"):
    action_id, value = newest_button(slack.recorder, label)
    slack.press(action_id, value, user_id=user, action_ts=ts, channel_id=channel)


def watch(slack, clock, minutes=6):
    for _ in range(minutes):
        clock.advance(minutes=1)
        slack.run_jobs()


def canary_messages(slack):
    return [c for c in slack.recorder.calls if c.method in ("chat.postMessage", "chat.update") and "Canary" in c.text()]


def run_row(container) -> CanaryRun:
    with Session(container.engine) as session:
        [run] = session.exec(select(CanaryRun)).all()
        session.expunge(run)
        return run


def test_a_bad_canary_is_judged_bad_on_fly_metrics_and_discarded(harness_for, clock, prism):
    app = "cgraph-canary-bad"
    slack = harness_for(app, prom.BAD_CANARY, "7f8e")
    fake = slack.fake
    image = NEW.format(app=app)
    slack.command(f"canary {image}", command="/deploy")
    plan = slack.recorder.responses()[-1].text()
    assert f"Plan: Canary of deployment-v43 on {app}" in plan
    assert "Adds ONE machine in iad" in plan and "The other 2 machines are not touched" in plan
    assert fake.changes() == []
    press(slack, "Confirm")
    [create] = [r for r in fake.requests if r.method == "POST" and r.path == f"/v1/apps/{app}/machines"]
    assert create.body["config"]["image"] == image and create.body["config"]["metadata"]["fireline_canary"] == "true"
    assert create.body["config"]["env"] == {"PORT": "8080"}  # the rest of the config is the source machine's
    assert run_row(slack.container).status == "watching"
    watch(slack, clock, 2)
    run = run_row(slack.container)
    assert run.status == "judged" and run.verdict == "bad"  # a bad canary ends the watch at its first look
    text = "\n".join(run.reasons)
    assert "5xx (BAD): canary 5xx 15.0%" in text and "at or over error_share_bad 5%" in text
    assert "p95 (BAD): canary p95" in text and "median of the other 2" in text
    verdict = [c for c in canary_messages(slack) if "Canary verdict: bad" in c.text()]
    assert verdict and "Discard it" in verdict[-1].text()
    labels = [label for label, _, _ in buttons_in(verdict[-1].data)]
    assert labels == ["Promote", "Discard", "Declare"]
    # Declare: an incident with the checklist's answers (none made) and the canary's create execution attached
    press(slack, "Declare")
    assert "Declared #1" in slack.reply_text()
    kinds = [e.kind for e in timeline(slack.container, 1)]
    assert "canary" in kinds and "deploy_checklist" in kinds
    draft = postmortem.generate(slack.container, 1).markdown  # the postmortem that follows shows both
    assert "Pre-deploy checklist for the canary of deployment-v43: none was made" in draft
    assert "5xx (BAD): canary 5xx 15.0%" in draft
    press(slack, "Promote")  # offered, but its plan says what the watch found
    assert "judged it BAD: promoting puts that image on every machine" in slack.reply_text()
    press(slack, "Discard")
    plan = slack.recorder.responses()[-1].text()
    assert "Discard the canary of deployment-v43" in plan and "keep `" in plan
    press(slack, "Confirm", ts="3.3")
    assert fake.machine(prom.BAD_CANARY, app=app)["state"] == "destroyed"
    assert {m["config"]["image"] for k, m in fake.apps[app].items() if k != prom.BAD_CANARY} == {OLD.format(app=app)}
    assert run_row(slack.container).status == "discarded"
    assert any("discarded: the canary is gone" in c.text() for c in slack.recorder.of("chat.postMessage"))
    runs = executions(slack.container)
    assert [(e.playbook, e.status) for e in runs] == [("canary", "succeeded"), ("canary-promote", "proposed"),
                                                     ("canary-discard", "succeeded")]
    assert {e.incident_id for e in runs} == {1}
    with Session(slack.container.engine) as session:
        assert session.exec(select(MitigationLock)).all() == []
    assert {"proposed", "confirmed", "succeeded"} <= {a.action for a in audit_rows(slack.container)}
    assert replay_against(prism("fly"), fake.requests) == []


def test_a_canary_whose_release_errors_far_more_is_judged_bad_on_sentry_though_fly_is_fine(harness_for, clock,
                                                                                           fake_sentry):
    """Fly's metrics of the good canary are fine; Sentry says its release errs twelve times as often per machine as
    the old one's on the other two: the verdict is BAD on Sentry with its figures, and offers Discard."""
    app = "cgraph-canary-good"
    fake_sentry.counts = {"deployment-v43": 120.0, "deployment-v42": 20.0}  # over any window: 120 on one machine
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e", **fake_sentry.settings())
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    watch(slack, clock, 2)
    run = run_row(slack.container)
    assert run.status == "judged" and run.verdict == "bad", run.reasons
    text = "\n".join(run.reasons)
    assert "5xx (ok): canary 5xx 0.2%" in text and "p95 (ok)" in text, text
    assert "Sentry (BAD): 120 errors on the canary's release in 1 min (120.0/min) against 10.0/min per machine on the " \
           "old one: 12.0x, at or over sentry_ratio_bad 3x" in text, text
    queries = {q.get("query") for _, q in fake_sentry.requests}
    assert queries == {"release:deployment-v43", "release:deployment-v42"}
    [verdict] = [c for c in canary_messages(slack) if "Canary verdict: bad" in c.text()]
    assert "Sentry (BAD)" in verdict.text() and "12.0x" in verdict.text() and "Discard it" in verdict.text()
    assert [label for label, _, _ in buttons_in(verdict.data)] == ["Promote", "Discard", "Declare"]
    press(slack, "Discard")
    assert "Discard the canary of deployment-v43" in slack.recorder.responses()[-1].text()
    press(slack, "Confirm", ts="3.3")
    assert slack.fake.machine(prom.GOOD_CANARY, app=app)["state"] == "destroyed"
    assert run_row(slack.container).status == "discarded"


def test_a_canary_whose_release_errs_as_the_old_one_did_is_healthy_on_sentry(harness_for, clock, fake_sentry):
    app = "cgraph-canary-good"
    fake_sentry.counts = {"deployment-v43": 10.0, "deployment-v42": 20.0}  # one machine against two: the same rate
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e", **fake_sentry.settings())
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    watch(slack, clock, 6)
    run = run_row(slack.container)
    assert run.status == "judged" and run.verdict == "healthy", run.reasons
    text = "\n".join(run.reasons)
    assert "Sentry (ok): 10 errors on the canary's release in 5 min (2.0/min) against 2.0/min per machine on the " \
           "old one: 1.0x" in text, text
    assert "not judged" not in text


@pytest.mark.parametrize("template", ["{version}", "cgraph-api@{version}"])
def test_sentry_releases_named_by_flys_release_number_are_not_judged_on_a_canary(harness_for, clock, fake_sentry,
                                                                                 template):
    """A canary's image is no Fly release, so it has no {version}: "cgraph-api@{version}" named both the canary's
    release and the old one "cgraph-api@", and the canary was judged against itself; "{version}" alone named neither,
    and the verdict said to set SENTRY_API_TOKEN, which was set."""
    app = "cgraph-canary-bad"
    fake_sentry.counts = {"cgraph-api@": 40.0, "": 40.0}
    slack = harness_for(app, prom.BAD_CANARY, "7f8e", deploy_sentry_release=template, **fake_sentry.settings())
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    watch(slack, clock, 2)
    run = run_row(slack.container)
    [sentry] = [line for line in run.reasons if line.startswith("Sentry")]
    assert "not judged" in sentry and "DEPLOY_SENTRY_RELEASE" in sentry and "{tag}" in sentry, sentry
    assert "SENTRY_API_TOKEN" not in sentry, sentry
    assert fake_sentry.requests == []  # no release compared with itself
    assert run.verdict == "bad"  # Fly's metrics still judge it


def test_a_good_canary_is_promoted_and_the_count_kept(harness_for, clock, prism):
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    fake = slack.fake
    image = NEW.format(app=app)
    slack.command("checklist", command="/deploy")  # for the next deploy: the canary's image takes it
    press(slack, "Tick: Code reviewed and approved")
    slack.command(f"canary {image}", command="/deploy")
    press(slack, "Confirm")
    assert fake.machine(prom.GOOD_CANARY, app=app)["state"] == "started"
    assert run_row(slack.container).checklist_id == 1  # stored with the run: each minute reads it by id
    watch(slack, clock, 6)
    run = run_row(slack.container)
    assert run.status == "judged" and run.verdict == "healthy", run.reasons
    text = "\n".join(run.reasons)
    assert "5xx (ok): canary 5xx 0.2%" in text and "p95 (ok)" in text and "Fly (ok): canary c0ffee00000001 started" in text
    edits = [c for c in slack.recorder.of("chat.update") if "Canary machine" in c.text()]
    assert len({e.data["ts"] for e in edits}) == 1 and "watching, 1 of 5 min" in edits[0].text()
    assert "Pre-deploy checklist #1: 2 of 7 done" in edits[-1].text()  # the unnamed checklist took the image
    with Session(slack.container.engine) as session:
        assert session.get(DeployChecklist, 1).image == image
    press(slack, "Promote")
    plan = slack.recorder.responses()[-1].text()
    assert f"Promote deployment-v43 to the rest of {app}" in plan
    assert "Updates 2 machine(s)" in plan and "Then removes the canary" in plan
    press(slack, "Confirm", ts="4.4")
    machines = fake.apps[app]
    live = {k: m for k, m in machines.items() if m["state"] != "destroyed"}
    assert len(live) == 2 and prom.GOOD_CANARY not in live
    assert {m["config"]["image"] for m in live.values()} == {image}
    assert run_row(slack.container).status == "promoted"
    assert replay_against(prism("fly"), fake.requests) == []


def test_one_canary_per_app_and_promote_waits_for_the_verdict(harness_for, clock):
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    image = NEW.format(app=app)
    slack.command(f"canary {image}", command="/deploy")
    press(slack, "Confirm")
    slack.command(f"canary {image}-2", command="/deploy")
    assert f"{app} has a canary open: `deployment-v43`" in slack.reply_text() and "(watching)" in slack.reply_text()
    [run] = [run_row(slack.container)]
    slack.press("canary_promote", str(run.id), channel_id="CGENERAL")
    assert "still being watched" in slack.reply_text()
    slack.command("promote", command="/deploy")  # typed, the same refusal as the button's
    assert "still being watched: Promote comes with the verdict" in slack.reply_text()
    assert [e.playbook for e in executions(slack.container)] == ["canary"]
    slack.command("canary not-an-image", command="/deploy")
    assert "is not an image" in slack.reply_text()


def test_console_drill_on_the_example_fleet(db_url, clock):
    """With FLY_API_TOKEN unset, or `--drill`, the whole flow runs on the example fleet and says so."""
    container = make_container(db_url, clock=clock, deploy_canary_minutes=2)
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/deploy canary registry.fly.io/cgraph-api:deployment-v43 --drill")
    console.run_line("!Confirm")
    for _ in range(3):
        clock.advance(minutes=1)
        jobs.run_due(container)
    console.run_line("!Promote")
    console.run_line("!Confirm")
    text = out.getvalue()
    assert "Plan: Canary of deployment-v43 on cgraph-api [DRY RUN]" in text
    assert "[DRILL]" in text and "DRILL: the example fleet" in text and "[DRILL]: healthy (finished)" in text
    assert "Promote deployment-v43 to the rest of cgraph-api" in text
    assert "promoted: every machine of cgraph-api runs" in text
    run = run_row(container)
    assert run.dry_run and run.status == "promoted"


def test_an_incident_declared_from_a_canary_offers_its_discard_when_resolved(harness_for, clock):
    app = "cgraph-canary-bad"
    slack = harness_for(app, prom.BAD_CANARY, "7f8e")
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    watch(slack, clock, 1)
    press(slack, "Declare")
    slack.command("resolve", channel_id="CINC0001")
    [offer] = [c for c in slack.recorder.calls if "Still in place after #1" in c.text()]
    assert f"the canary {prom.BAD_CANARY} (iad)" in offer.text() and "still running" in offer.text()
    press(slack, "Discard canary", channel="CINC0001")
    assert "Discard the canary of deployment-v43" in slack.reply_text()
    press(slack, "Confirm", ts="5.5", channel="CINC0001")
    assert slack.fake.machine(prom.BAD_CANARY, app=app)["state"] == "destroyed"
    run = run_row(slack.container)
    assert run.status == "discarded" and run.incident_id == 1


def test_a_canary_cut_short_by_a_crash_is_reported_interrupted_and_offers_discard(harness_for, clock, monkeypatch):
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    original = fleet.gate_batch

    def dies_while_gating(*args, **kwargs):
        raise SystemExit("the machine running Fireline went away")

    monkeypatch.setattr(canary_playbooks, "gate_batch", dies_while_gating)
    with pytest.raises(SystemExit):
        press(slack, "Confirm")
    monkeypatch.setattr(canary_playbooks, "gate_batch", original)
    host, pid, _ = ex.process_identity()
    monkeypatch.setattr(ex, "process_identity", lambda: (host, pid, "restarted"))
    slack.container.registry.emit("runtime.started", None, container=slack.container)
    [execution] = executions(slack.container)
    assert execution.status == "interrupted"
    said = [c.text() for c in slack.recorder.of("chat.postMessage")]
    assert any("was INTERRUPTED after 0 of 1 steps" in t for t in said)
    assert any("did not start well, so it is not watched" in t for t in said)
    assert run_row(slack.container).status == "failed"
    with Session(slack.container.engine) as session:
        assert session.get(MitigationLock, app) is None
    # the machine was created before the crash: Fly says so, and `/deploy discard` finds it by its mark
    slack.command("discard", command="/deploy")
    assert f"Stop and destroy the canary {prom.GOOD_CANARY}" in slack.reply_text()


def test_undo_of_a_promotion_is_the_rollback_to_the_image_before():
    from playbooks.fleet_models import Machine
    from playbooks.undo import ExecutionRecord, leftovers

    new, old = "registry.fly.io/a:v43", "registry.fly.io/a:v42"
    record = ExecutionRecord(7, "canary-promote", {"params": {"image": new, "previous": old}}, [{"status": "ok"}])
    fleet_now = [Machine(id=f"m{i}", state="started", config={"image": new}) for i in range(3)]
    [item] = leftovers([record], fleet_now)
    assert item.undo == ("rollback", [old]) and "runs on all 3 machines" in item.text
    mixed = [*fleet_now[:2], Machine(id="m9", state="started", config={"image": "registry.fly.io/a:v44"})]
    [item] = leftovers([record], mixed)
    assert item.undo is None and "changed since" in item.text


def test_canary_thresholds_are_named_and_checked():
    limits = parse_canary_thresholds("p95_ratio_bad=3, error_share_bad=0.1")
    assert limits.p95_ratio_bad == 3 and limits.error_share_bad == 0.1
    with pytest.raises(ValueError, match="names: error_share_suspicious"):
        parse_canary_thresholds("p95=3")


def test_promote_keeping_the_canary_removes_one_old_machine_instead(db_url, clock):
    container = make_container(db_url, clock=clock, deploy_canary_minutes=1)
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/deploy canary registry.fly.io/cgraph-api:deployment-v43 --drill")
    console.run_line("!Confirm")
    for _ in range(2):
        clock.advance(minutes=1)
        jobs.run_due(container)
    console.run_line("/deploy promote --keep-canary")
    text = out.getvalue()
    assert "Keeps the canary 5e000000000001 (iad) and removes 91852e7a4d6008 (lhr) instead" in text
    assert "1. Remove 91852e7a4d6008 (lhr) (the canary takes its place)" in text
    assert "Make the canary 5e000000000001 (iad) an ordinary machine" in text
    console.run_line("!Confirm")
    assert "promoted: every machine of cgraph-api runs" in out.getvalue()


def test_an_open_canary_holds_the_app_until_promoted_or_discarded(harness_for, clock):
    """The mitigation lock covers each execution only; between the canary's create and its Promote or Discard a
    /restart, /rollback or /scale (or a second canary) would act on the canary too, so each is refused by name."""
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    fake = slack.fake
    image = NEW.format(app=app)
    slack.command("", command="/restart")  # planned before the canary, confirmed during its watch
    early_restart = newest_button(slack.recorder, "Confirm")
    slack.command(f"canary {image}", command="/deploy")
    press(slack, "Confirm")
    assert run_row(slack.container).status == "watching"
    for line, command in [("", "/restart"), ("", "/rollback"), ("count 3", "/scale"), ("vm shared-cpu-2x", "/scale"),
                          (f"canary {image}-2", "/deploy")]:
        slack.command(line, command=command)
        text = slack.reply_text()
        assert f"{app} has a canary open" in text, (command, text)
        assert "Promote or Discard" in text, (command, text)
        assert f"`deployment-v43` on machine `{prom.GOOD_CANARY}` (watching)" in text
    slack.press(*early_restart, user_id="U0LEAD", action_ts="2.2", channel_id="CGENERAL")
    assert f"{app} has a canary open" in slack.reply_text() and "/deploy discard" in slack.reply_text()
    assert [(e.playbook, e.status) for e in executions(slack.container)] == [("restart", "proposed"),
                                                                             ("canary", "succeeded")]
    creates = [r for r in fake.requests if r.method == "POST" and r.path == f"/v1/apps/{app}/machines"]
    assert len(creates) == 1 and not [r for r in fake.requests if r.path.endswith("/restart")]
    assert sum(1 for a in audit_rows(slack.container) if a.action == "refused" and "canary run" in a.detail) == 6
    # after the verdict the canary's own Discard passes, and once it is gone the app is free again
    watch(slack, clock, 6)
    assert run_row(slack.container).status == "judged"
    slack.command("", command="/restart")
    assert "has a canary open" in slack.reply_text() and "(judged)" in slack.reply_text()
    press(slack, "Discard")
    press(slack, "Confirm", ts="3.3")
    assert run_row(slack.container).status == "discarded"
    slack.command("", command="/restart")
    assert "Plan: " in slack.recorder.responses()[-1].text()


def test_console_an_open_drill_canary_refuses_a_restart_with_what_to_type(db_url, clock):
    container = make_container(db_url, clock=clock, deploy_canary_minutes=2)
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/deploy canary registry.fly.io/cgraph-api:deployment-v43 --drill")
    console.run_line("!Confirm")
    mark = len(out.getvalue())
    console.run_line("/restart")
    console.run_line("/scale count 5")
    refused = out.getvalue()[mark:]
    assert refused.count("cgraph-api has a canary open: `deployment-v43`") == 2, refused
    assert "`/deploy promote` or `/deploy discard`" in refused and "Plan:" not in refused
    console.run_line("/deploy discard")
    console.run_line("!Confirm")
    assert run_row(container).status == "discarded"
    mark = len(out.getvalue())
    console.run_line("/restart")
    assert "Plan: " in out.getvalue()[mark:]


def test_the_app_is_held_from_the_canarys_confirm_not_only_once_it_is_watched(harness_for, clock):
    """The lock ends with the create execution and the watch starts after it: a restart typed after Confirm, while
    the create is queued, is refused as it is during the watch, so nothing slips in between."""
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    action_id, value = newest_button(slack.recorder, "Confirm")
    slack.press(action_id, value, user_id="U0LEAD", action_ts="1.1", channel_id="CGENERAL", run=False)
    jobs.run_due(slack.container, kinds=["slack.action"])  # confirmed; the create execution is still queued
    assert [e.status for e in executions(slack.container)] == ["queued"]
    slack.command("", command="/restart", run=False)
    jobs.run_due(slack.container, kinds=["slack.command"])
    assert f"{app} has a canary open: `deployment-v43`" in slack.reply_text() and "(starting)" in slack.reply_text()
    assert run_row(slack.container).status == "starting"
    slack.run_jobs()
    assert run_row(slack.container).status == "watching"
    assert [e.playbook for e in executions(slack.container)] == ["canary"]


def test_a_drill_canary_never_holds_the_real_app_and_a_real_one_never_holds_drills(harness_for, clock):
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    image = NEW.format(app=app)
    slack.command(f"canary {image} --drill", command="/deploy")
    press(slack, "Confirm")
    assert run_row(slack.container).dry_run
    slack.command(f"canary {image}", command="/deploy")  # the real app: not held by the drill
    assert "Plan: Canary of deployment-v43" in slack.reply_text() and "[DRY RUN]" not in slack.reply_text()
    press(slack, "Confirm", ts="2.2")
    with Session(slack.container.engine) as session:
        runs = session.exec(select(CanaryRun).order_by(CanaryRun.id)).all()
    assert [(r.dry_run, r.status) for r in runs] == [(True, "watching"), (False, "watching")]
    slack.command(f"canary {image}-2 --drill", command="/deploy")  # a second drill: held by the first drill only
    assert f"{app} has a canary open" in slack.reply_text() and "`deployment-v43`" in slack.reply_text()
    slack.command("", command="/restart")  # a real restart: held by the real canary
    assert f"{app} has a canary open" in slack.reply_text() and f"machine `{prom.GOOD_CANARY}`" in slack.reply_text()


def test_a_canary_destroyed_outside_fireline_mid_watch_ends_its_run_and_frees_the_app(harness_for, clock):
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    watch(slack, clock, 1)
    del slack.fake.apps[app][prom.GOOD_CANARY]  # `fly machine destroy` by hand: Fly answers 404 for it now
    watch(slack, clock, 1)
    run = run_row(slack.container)
    assert run.status == "discarded" and "(404)" in run.reasons[-1]
    [said] = [c.text() for c in slack.recorder.of("chat.postMessage") if "is gone" in c.text()]
    assert f"its machine `{prom.GOOD_CANARY}` is gone" in said and f"{app} is free again" in said
    [gone] = [a for a in audit_rows(slack.container) if a.action == "canary_gone"]
    assert gone.actor == "fireline" and "the watch ended its run as discarded" in gone.detail
    watch(slack, clock, 6)  # no more ticks, no second message
    assert len([c for c in slack.recorder.of("chat.postMessage") if "is gone" in c.text()]) == 1
    slack.command("", command="/restart")
    assert "Plan: Rolling restart" in slack.recorder.responses()[-1].text()


def test_a_watch_that_finds_the_canary_gone_while_its_discard_runs_leaves_the_run_to_the_discard(harness_for, clock):
    from sqlmodel import Session

    from bot.store.models import MitigationLock, PlaybookExecution

    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    watch(slack, clock, 1)
    with Session(slack.container.engine) as session:  # a Discard is running: it holds the app and has destroyed
        execution = PlaybookExecution(playbook="canary-discard", app=app, status="running", nonce="n",  # the machine
                                      plan={}, results=[], proposed_by="U0LEAD", proposed_at=clock())
        session.add(execution)
        session.flush()
        session.add(MitigationLock(app=app, execution_id=execution.id, acquired_by="U0LEAD"))
        session.commit()
    del slack.fake.apps[app][prom.GOOD_CANARY]
    watch(slack, clock, 1)
    assert run_row(slack.container).status == "watching"  # the Discard's own end settles it, not "destroyed outside"
    assert not [a for a in audit_rows(slack.container) if a.action == "canary_gone"]
    assert not [c for c in slack.recorder.of("chat.postMessage") if "is gone" in c.text()]


def test_discard_of_a_canary_already_destroyed_ends_the_run_instead_of_a_plan_that_cannot_run(harness_for, clock):
    app = "cgraph-canary-good"
    slack = harness_for(app, prom.GOOD_CANARY, "6e8e")
    slack.command(f"canary {NEW.format(app=app)}", command="/deploy")
    press(slack, "Confirm")
    slack.command("declare Canary trouble sev2")
    with Session(slack.container.engine) as session:  # as Declare on its verdict would attach it
        run = session.exec(select(CanaryRun)).one()
        run.incident_id = 1
        session.add(run)
        session.commit()
    watch(slack, clock, 6)
    assert run_row(slack.container).status == "judged"
    slack.fake.machine(prom.GOOD_CANARY, app=app)["state"] = "destroyed"
    slack.command("", command="/restart")
    assert "has a canary open" in slack.reply_text()  # held until someone (or the watch) finds it gone
    press(slack, "Discard", user="U0LEAD")
    assert "The canary of `deployment-v43` is gone" in slack.reply_text() and "free for `/restart`" in slack.reply_text()
    assert run_row(slack.container).status == "discarded"
    assert [e.playbook for e in executions(slack.container)] == ["canary"]  # no Discard plan that cannot run
    [event] = [e for e in timeline(slack.container, 1) if e.kind == "canary"]
    assert "Discard ended its run as discarded" in event.text and "destroyed outside Fireline" in event.text
    slack.command("", command="/restart")
    assert "Plan: Rolling restart" in slack.recorder.responses()[-1].text()


def test_the_canary_is_judged_against_the_other_machines_not_every_instance_in_the_metrics():
    """Fly's metrics also name the canary itself and a worker of another process group: neither is "the others"."""
    from playbooks.canary import CanaryObservations, CanaryThresholds, InstanceFigures, judge_metrics

    figures = [InstanceFigures("canary1", 100.0, 2.0, 200.0), InstanceFigures("web1", 100.0, 1.0, 180.0),
               InstanceFigures("web2", 100.0, 1.0, 190.0), InstanceFigures("worker1", 10_000.0, 0.0, 20.0)]
    observed = CanaryObservations(canary="canary1", minutes=5, figures=figures, others=2, other_ids=("web1", "web2"))
    share, p95 = judge_metrics(observed, CanaryThresholds())
    assert share.level == "suspicious" and "against 1.0% on the other 2 (2 of 200)" in share.text, share.text
    assert "against 185 ms (median of the other 2)" in p95.text, p95.text


def test_a_run_written_without_a_status_does_not_hold_its_app(db_url, clock):
    """Only a Confirm makes a run hold its app: the column's default is the plan's state, not `starting`."""
    container = make_container(db_url, clock=clock)
    with Session(container.engine) as session:
        session.add(ex.PlaybookExecution(playbook="canary", app="cgraph-api", status="proposed", nonce="n", plan={}, proposed_by="U1",
                                         results=[], proposed_at=clock()))
        session.flush()
        session.add(CanaryRun(app="cgraph-api", image=NEW.format(app="cgraph-api"), execution_id=1, started_by="U1"))
        session.commit()
        assert ex.open_canary(session, "cgraph-api", False) is None
