"""`/oncall` from the database cache, the recurring refresh, and `/incident escalate <area>`."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, select

from bot.store.models import Job
from bot.store.models.pagerduty import OnCallSnapshot
from bot.features.pagerduty import oncall
from bot.service import jobs
from playbooks.contacts import ContactsError, load_contacts
from tests.support.pagerduty import POLICY, REST_SETTINGS, build, harness, install_clients, rest_harness

CHANNEL = "CINC0001"


@pytest.fixture
def slack(db_url, recorder, clock, pd):
    with rest_harness(db_url, recorder, clock) as h:
        yield h


def oncall_calls(pd):
    return pd.calls("GET", "/oncalls")


def test_first_oncall_fetches_in_the_background_and_answers_the_asker(slack, pd):
    slack.command("", command="/oncall", run=False)
    assert oncall_calls(pd) == []
    slack.run_jobs()  # the command job, then the refresh it queued
    assert "No on-call data yet" in slack.recorder.responses()[0].text()
    fresh = slack.recorder.of("chat.postEphemeral")[-1].text()
    assert "Level 1: *Chen Li* (Primary rotation), hands over 2026-11-30 09:00 UTC (in 4d 19h)" in fresh
    assert "Level 2: *Marcus Webb*, always on call at this level" in fresh
    assert len(oncall_calls(pd)) == 1


def test_cached_answer_is_served_without_asking_pagerduty_and_says_its_age(slack, pd, clock):
    oncall.refresh(slack.container)
    clock.advance(minutes=3)
    slack.command("", command="/oncall")
    text = slack.reply_text()
    assert "Chen Li" in text and "As of 2026-11-25 14:00 UTC (3m ago)" in text and "refreshing" not in text
    assert len(oncall_calls(pd)) == 1

    pd.fail_next = [httpx.Response(503, text="down")] * 4
    clock.advance(minutes=3)  # older than PAGERDUTY_ONCALL_REFRESH_MINUTES (5)
    slack.command("", command="/oncall")
    assert "refreshing now" in slack.reply_text() and "Chen Li" in slack.reply_text()
    slack.command("", command="/oncall")  # PagerDuty is down: the cache still answers, and says the refresh failed
    text = slack.reply_text()
    assert "Chen Li" in text and "The latest refresh" in text and "HTTP 503" in text


def test_slow_pagerduty_never_delays_the_answer(slack, pd, clock):
    oncall.refresh(slack.container)
    clock.advance(minutes=10)
    pd.fail_next = [httpx.ReadTimeout("slow")] * 8
    slack.command("", command="/oncall", run=False)
    jobs.run_due(slack.container, kinds=["slack.command"])  # only the answer, not the refresh
    assert "Chen Li" in slack.recorder.responses()[-1].text()
    assert len(oncall_calls(pd)) == 1


def test_recurring_refresh_runs_once_per_slot_across_replicas_and_restarts(db_url, recorder, clock, pd):
    a = build(db_url, recorder, clock, **REST_SETTINGS)
    b = build(db_url, recorder, clock, **REST_SETTINGS)
    for container in (a, b):
        install_clients(container)
        oncall.start_chain(container)
        oncall.start_chain(container)
    jobs.run_due(a)
    jobs.run_due(b)
    assert len(oncall_calls(pd)) == 1
    for _ in range(3):
        clock.advance(minutes=5)
        jobs.run_due(b)
        jobs.run_due(a)
        oncall.start_chain(a)  # a restart in the middle arms the same slot again: still one row
    assert len(oncall_calls(pd)) == 4
    with Session(a.engine) as session:
        pending = session.exec(select(Job).where(Job.kind == oncall.REFRESH_JOB, Job.status == "pending")).all()
        row = session.get(OnCallSnapshot, POLICY)
    assert len(pending) == 1 and row.fetched_at is not None and len(row.entries) == 2
    a.engine.dispose()
    b.engine.dispose()


def test_not_configured_says_dry_run(db_url, recorder, clock, pd):
    container = build(db_url, recorder, clock)
    with harness(container, recorder) as h:
        h.command("", command="/oncall")
        assert "Dry-run: PagerDuty is not configured" in h.reply_text()
        assert "PAGERDUTY_API_TOKEN and PAGERDUTY_ESCALATION_POLICY_ID" in h.reply_text()
        h.command("now please", command="/oncall")
        assert "takes no arguments" in h.reply_text()
    assert pd.requests == []
    container.engine.dispose()


def test_refresh_failure_without_any_data_tells_the_asker(slack, pd):
    pd.fail_next = [httpx.Response(401, json={"error": {"message": "Unauthorized"}})]
    slack.command("", command="/oncall")
    assert "Could not ask PagerDuty who is on call" in slack.recorder.of("chat.postEphemeral")[-1].text()
    slack.command("", command="/oncall")
    assert "The last attempt" in slack.reply_text() and "PAGERDUTY_API_TOKEN" in slack.reply_text()


def test_handover_times_are_worked_out_from_now(slack, clock):
    oncall.refresh(slack.container)
    clock.advance(days=5)
    text = oncall.render(slack.container, _row(slack.container), clock()).reply.plain_text()
    assert "hands over 2026-11-30 09:00 UTC (due now)" in text


def _row(container):
    with Session(container.engine) as session:
        row = session.get(OnCallSnapshot, POLICY)
        session.expunge(row)
        return row


# -- /incident escalate --------------------------------------------------------------------------------------------
def test_escalate_posts_the_guides_contact(slack, pd):
    slack.command("declare Database is slow sev2")
    slack.command("escalate database", channel_id=CHANNEL)
    assert "Escalated #1 to Backend/Database" in slack.reply_text()
    posted = [c.text() for c in slack.recorder.of("chat.postMessage") if c.data.get("channel") == CHANNEL]
    assert any("escalated to *Backend/Database*" in t and "@marcus" in t for t in posted)
    assert pd.responder_requests == []


def test_escalate_pages_the_areas_policy_when_configured(db_url, recorder, clock, pd, tmp_path):
    team = tmp_path / "contacts.yaml"
    team.write_text("areas:\n  infrastructure:\n    name: Infrastructure\n    slack: '@chen'\n"
                    "    pagerduty_policy: PINFRA1\n", encoding="utf-8")
    container = build(db_url, recorder, clock, **REST_SETTINGS, escalation_contacts=str(team))
    install_clients(container)
    with harness(container, recorder) as h:
        h.command("declare Machines crash looping sev1")
        h.command("escalate infrastructure", channel_id=CHANNEL)
        assert pd.responder_requests[-1]["responder_request_targets"] == [
            {"responder_request_target": {"id": "PINFRA1", "type": "escalation_policy_reference"}}]
        h.command("escalate security", channel_id=CHANNEL)  # the guide's other areas are still there
        assert "security@cgraph.org" in h.reply_text()
    container.engine.dispose()


def test_unknown_area_lists_the_known_ones(slack):
    slack.command("declare Site is down sev1")
    slack.command("escalate plumbing", channel_id=CHANNEL)
    text = slack.reply_text()
    assert "`plumbing` is not a known area" in text
    for area in ("infrastructure", "backend", "frontend", "security", "fly-support", "cloudflare"):
        assert f"`{area}`" in text
    slack.command("escalate", channel_id=CHANNEL)
    assert "Say which area" in slack.reply_text()


def test_contacts_default_to_the_guides_table():
    contacts = load_contacts()
    assert contacts.find("infrastructure").slack == "@chen"
    assert contacts.find("db").slack == "@marcus"
    assert contacts.find("Frontend").slack == "@aisha"
    assert contacts.find("security").email == "security@cgraph.org"
    assert contacts.find("fly").email == "support@fly.io"
    assert "dashboard" in contacts.find("cloudflare").how()


@pytest.mark.parametrize("text, problem", [
    ("areas: [1, 2]", "expected `areas:`"),
    ("areas:\n  x:\n    pagerduty_policy: nope\n", "is not a PagerDuty id"),
    ("areas:\n  x:\n    phone: 123\n", "unknown field(s) phone"),
    ("areas: {x: [", "not valid YAML"),
    ("replace: true\nareas: {}\n", "no areas left"),
])
def test_bad_contacts_files_are_named_with_the_problem(tmp_path, text, problem):
    path = tmp_path / "contacts.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContactsError, match="contacts.yaml") as info:
        load_contacts(str(path))
    assert problem in str(info.value)


def test_a_missing_contacts_file_is_a_clear_error(slack, tmp_path):
    slack.container.settings.escalation_contacts = str(tmp_path / "nope.yaml")
    slack.command("declare Site is down sev1")
    slack.command("escalate infrastructure", channel_id=CHANNEL)
    assert "escalation contacts file is broken" in slack.reply_text() and "cannot be read" in slack.reply_text()

