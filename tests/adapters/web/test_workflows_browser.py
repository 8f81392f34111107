"""The workflows page in headless Chromium at 1280x900 and 390x844, from runs made through the front ends.

What a person notices: no sideways scrolling of the page; every column (Workflow, Trigger, Source, Enabled, Last
runs) shown at 1280, reachable inside the table's own scroll box at 390; a failed step's reason in the page.
Skips, with the reason, where Chromium is absent. FIRELINE_UPDATE_SCREENSHOT=1 writes docs/images/workflows-1280.png
and workflows-390.png.
"""

from __future__ import annotations

import pytest

from bot.adapters.web.dev import dev_app
from bot.app.assembly import assemble
from tests.support.alerts import ALERT_SECRET, post_alert
from tests.support.browser import Browser, screenshot_for_docs
from tests.support.oidc import free_port, serve_app
from tests.support.real_run import make_incident, real_site

SIZES = [(1280, 900), (390, 844)]
TEAM = """
workflows:
  - name: Exec escalation on SEV1
    on: declared
    when: {severity: 1}
    steps:
      - post: {channel: incident, text: "Execs: SEV1 #{{ incident.number }} {{ incident.title }}"}
      - remind: {after: 30m, to: lead, text: "Post an update for the execs"}
  - name: Runbook link
    on: declared
    steps:
      - bookmark: {title: Runbook, url: "ftp://runbooks.internal/checkout"}
  - name: Payments alert heard in support
    on: alert_received
    when: {alert_labels: {team: payments}}
    steps:
      - post: {channel: "#support", text: "A {{ alert.source }} alert about payments: {{ alert.title }}"}
  - name: Customer-support heads-up
    enabled: false
    on: state_changed
    when: {state: resolved}
    steps:
      - post: {channel: "#support", text: "#{{ incident.number }} is resolved"}
"""

pytestmark = pytest.mark.usefixtures("needs_a_browser")

COLUMNS = """
(() => { const t = document.querySelector('table.workflows'), box = t.parentElement, r = box.getBoundingClientRect();
  const cells = [...t.querySelectorAll('thead th')];
  return [cells.map(c => c.innerText.trim()), cells.every(c => c.getBoundingClientRect().right <= r.right + 0.5),
          getComputedStyle(box).overflowX === 'auto' && r.right <= innerWidth + 0.5]; })()
"""


def test_workflows_page_at_desk_and_phone_widths(sqlite_url, recorder, clock, fake_fly, pd, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(TEAM, encoding="utf-8")
    with real_site(sqlite_url, recorder, clock, fake_fly, pd, workflows=str(path),
                   alerts_webhook_secret=ALERT_SECRET) as slack:
        make_incident(slack, clock, "Checkout failing for all customers", update="Rolling back the 14:02 deploy")
        make_incident(slack, clock, "Search is slow", severity=3, ack=False)
        # a signed alert that joins no incident: its workflow's run belongs to no incident, and shows here only
        assert post_alert(slack.client, {"title": "Charge failures up 40%", "source": "stripe",
                                         "labels": {"team": "payments"}, "id": "d-1"}).status_code == 202
        slack.run_jobs()
        settings = slack.container.settings
        port = free_port()
        app, web_container = dev_app(settings, assemble(settings), port)
        try:
            with serve_app(app, port) as base:
                for width, height in SIZES:
                    with Browser(width=width, height=height) as browser:
                        browser.open(f"{base}/team/login/slack")
                        browser.type_into("input[name=name]", "Priya Manager")
                        browser.click("button[type=submit]")
                        browser.open(f"{base}/team/workflows")
                        text = browser.text()
                        for words in ("Exec escalation on SEV1", "Runbook link", "Customer-support heads-up",
                                      "team.yaml:3", "not run yet", "off", "#1", "#2",
                                      "step 1 (bookmark):", "is not a link", "Payments alert heard in support",
                                      "alert #1, no incident"):
                            assert words in text, (width, words)
                        assert browser.evaluate("document.documentElement.scrollWidth") <= width, \
                            f"the page scrolls sideways at {width}"
                        names, shown, reachable = browser.evaluate(COLUMNS)
                        assert names == ["Workflow", "Trigger", "Source", "Enabled", "Last runs"]
                        assert shown if width >= 1280 else (shown or reachable), width
                        screenshot_for_docs(browser, f"workflows-{width}.png", tmp_path)
        finally:
            web_container.engine.dispose()
