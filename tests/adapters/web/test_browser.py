"""The team pages in a real browser: headless Chromium signs in through the development stand-in
(`fireline web --dev`'s app on a real uvicorn), opens the list, an incident and the insights page.

Incidents are made through the front ends (tests/support/real_run.py: declared, acknowledged, a restart confirmed
against the fake Fly, paged, published, resolved), so the incident page shows a confirmed playbook. Skips, with
the reason, where Chromium is absent (`.ci/run` installs it and sets FIRELINE_REQUIRE_BROWSER=1). The
screenshots are written by tests/adapters/web/test_browser_incidents.py (the incident pages) and
test_insights_browser.py (insights), with FIRELINE_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.assembly import assemble
from bot.adapters.web.dev import dev_app
from tests.support.browser import Browser
from tests.support.oidc import free_port, serve_app
from tests.support.real_run import make_incident, real_site

REPO = Path(__file__).resolve().parents[3]
WIDTH = 390  # a phone


pytestmark = pytest.mark.usefixtures("needs_a_browser")


@pytest.fixture
def site(sqlite_url, recorder, clock, fake_fly, pd):
    with real_site(sqlite_url, recorder, clock, fake_fly, pd) as slack:
        make_incident(slack, clock, "Checkout failing for all customers", update="Rolling back the 14:02 deploy")
        make_incident(slack, clock, "Search is slow", severity=3, ack=False)
        settings = slack.container.settings
        port = free_port()
        app, web_container = dev_app(settings, assemble(settings), port)
        with serve_app(app, port) as base:
            yield base
        web_container.engine.dispose()


def test_a_person_signs_in_and_reads_incidents_and_insights(site, tmp_path):
    with Browser(width=WIDTH, height=844) as browser:
        browser.open(f"{site}/team/")
        assert "/team/login" in browser.url() and "Sign in with Slack" in browser.text()
        browser.click("a.button")  # Sign in with Slack -> the stand-in's page
        assert "Development sign-in" in browser.text()
        browser.type_into("input[name=name]", "Aisha Khan")
        browser.click("button[type=submit]")
        assert browser.url() == f"{site}/team/"
        text = browser.text()
        assert "Aisha Khan" in text and "Checkout failing for all customers" in text and "Search is slow" in text
        assert browser.evaluate("document.querySelectorAll('script').length") == 0
        assert browser.evaluate("document.documentElement.scrollWidth") <= WIDTH  # no sideways scrolling

        browser.click("a[href='/team/incidents/1']")
        text = browser.text()
        for seen in ("#1 Checkout failing for all customers", "SEV1", "Rolling back the 14:02 deploy", "Postmortem",
                     "target 15 min", "Batch 1: Restart m1aaaaaaaaaaaa (iad): planned", "confirmed by Dana Lead",
                     "to Chen Li"):
            assert seen in text, seen
        assert browser.evaluate("document.documentElement.scrollWidth") <= WIDTH

        browser.click("a[href='/team/insights']")
        text = browser.text()
        assert "Response by severity and month" in text and "Incidents per week" in text
        assert browser.evaluate("document.querySelectorAll('svg.chart').length") == 6
        assert browser.evaluate("document.documentElement.scrollWidth") <= WIDTH

        browser.click("header button[type=submit]")  # sign out (a POST with the CSRF token)
        assert "/team/login" in browser.url()
        browser.open(f"{site}/team/")
        assert "/team/login" in browser.url()
