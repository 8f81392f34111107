"""PagerDuty in `fireline check` and in `fireline console` (dry-run, and against the Prism mock)."""

from __future__ import annotations

import io

import httpx
import respx

from bot.app.assembly import build_container
from bot.adapters.console import run_console
from bot.features.pagerduty.feature import check_pagerduty
from tests.support.factories import make_container, make_settings
from tests.support.pagerduty import API, EVENTS_SETTINGS, POLICY, REST_SETTINGS, TOKEN


def console_run(container, script: str) -> str:
    out = io.StringIO()
    assert run_console(container, io.StringIO(script), out) == 0
    return out.getvalue()


def test_check_without_credentials_is_a_dry_run(sqlite_url):
    status = check_pagerduty(make_settings(sqlite_url))
    assert status.state == "dry-run" and "PAGERDUTY_API_TOKEN, PAGERDUTY_FROM_EMAIL, PAGERDUTY_SERVICE_ID" in \
        status.detail and "6 escalation areas" in status.detail


def test_check_live_reads_who_is_on_call(sqlite_url):
    with respx.mock(assert_all_called=True) as router:
        router.get(f"{API}/oncalls").mock(return_value=httpx.Response(200, json={"oncalls": [
            {"escalation_level": 1, "user": {"id": "PU1", "summary": "Chen Li"}}], "more": False}))
        status = check_pagerduty(make_settings(sqlite_url, **REST_SETTINGS))
    assert status.state == "live"
    assert "paging through the REST API" in status.detail and f"1 on call for {POLICY}" in status.detail
    assert "POST /webhooks/pagerduty on" in status.detail


def test_check_reports_a_refused_token_without_showing_it(sqlite_url):
    with respx.mock() as router:
        router.get(f"{API}/oncalls").mock(return_value=httpx.Response(401, json={"error": {"message": "no"}}))
        status = check_pagerduty(make_settings(sqlite_url, **REST_SETTINGS))
    assert status.state == "error" and "Check PAGERDUTY_API_TOKEN" in status.detail and TOKEN not in status.detail


def test_check_events_mode_and_a_broken_contacts_file(sqlite_url, tmp_path):
    status = check_pagerduty(make_settings(sqlite_url, **EVENTS_SETTINGS))
    assert status.state == "live" and "Events API (no notes, escalation" in status.detail
    bad = tmp_path / "contacts.yaml"
    bad.write_text("areas: [", encoding="utf-8")
    status = check_pagerduty(make_settings(sqlite_url, escalation_contacts=str(bad)))
    assert status.state == "error" and "ESCALATION_CONTACTS" in status.detail and "contacts.yaml" in status.detail


def test_console_dry_run_as_a_new_user_would(sqlite_url, clock):
    container = make_container(sqlite_url, clock=clock)
    out = console_run(container, "\n".join([
        "/oncall",
        "/incident declare Site is down for everyone sev1",
        "/incident show",
        "/incident page @marcus",
        "/incident escalate backend",
        "/incident escalate plumbing",
    ]) + "\n")
    assert "Dry-run: PagerDuty is not configured, so Fireline cannot say who is on call." in out
    assert "PagerDuty: dry-run: nobody was paged (PagerDuty is not configured)" in out
    assert "Dry-run: recording a page of @marcus for #1; nothing is sent." in out
    assert "#1 escalated to Backend/Database by @console" in out and "Contact: @marcus" in out
    assert "`plumbing` is not a known area" in out
    clock.advance(minutes=15)
    out = console_run(container, "/incident list\n")  # the timers run when the console runs its jobs
    assert "#1 (SEV1) is not acknowledged 15m after it was declared (nobody was paged: dry-run)" in out
    assert "would escalate to level 2 (dry-run" in out
    assert "Traceback" not in out
    container.engine.dispose()


def test_console_against_the_prism_mock(sqlite_url, clock, prism):
    settings = make_settings(sqlite_url, **{**REST_SETTINGS, "pagerduty_api_url": prism("pagerduty")})
    container = build_container(settings, clock=clock)
    out = console_run(container, "/oncall\n/incident declare Site is down sev1\n/incident ack\n/oncall\n")
    assert "No on-call data yet" in out and "On call now (escalation policy PPOL001)" in out
    assert "Level 2: Tim Wright (Daily Engineering Rotation)" in out  # the spec's example
    assert "PagerDuty for #1 (declared SEV1): incident #1234" in out
    assert "Could not" not in out and "Traceback" not in out
    container.engine.dispose()
