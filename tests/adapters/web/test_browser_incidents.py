"""The incident pages in headless Chromium at a laptop's 1280x900 and a phone's 390x844: what a person notices.

The incidents are made through the front ends (tests/support/real_run.py): an open SEV2 nobody has picked up, a
resolved SEV1 with a restart, a page, a published update and its postmortem draft. At each width: the page never
scrolls sideways, every column of the list is visible or reachable, the pills are there, the postmortem's tables
are tables. Skips, with the reason, where Chromium is absent. With FIRELINE_UPDATE_SCREENSHOT=1 the screenshots
go to docs/images/ (web-incident-*.png, web-incidents-*.png, web-postmortem-*.png; referenced from docs/web.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.assembly import assemble
from bot.adapters.web.dev import dev_app
from tests.support.browser import Browser, screenshot_for_docs
from tests.support.oidc import free_port, serve_app
from tests.support.real_run import make_incident, real_site

REPO = Path(__file__).resolve().parents[3]
SIZES = ((1280, 900), (390, 844))
COLUMNS = ("#", "Title", "Severity", "State", "Lead", "Declared (UTC)")


pytestmark = pytest.mark.usefixtures("needs_a_browser")


def _no_sideways_scroll(browser: Browser, width: int, what: str) -> None:
    scroll = browser.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{what} at {width}px scrolls sideways ({scroll}px wide)"


def _reachable(browser: Browser, selector: str) -> list[dict]:
    """Each matching element: shown (not display:none, some size) and inside the page's width or inside a box of
    its own that scrolls sideways."""
    return browser.evaluate(f"""Array.from(document.querySelectorAll({selector!r})).map(el => {{
        const r = el.getBoundingClientRect(); let box = el.parentElement, scrolls = false;
        while (box) {{ const s = getComputedStyle(box);
            if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && box.scrollWidth > box.clientWidth) scrolls = true;
            box = box.parentElement; }}
        return {{text: el.innerText.trim(), shown: r.width > 0 && r.height > 0 && getComputedStyle(el).display !== 'none',
                 inside: r.left >= 0 && r.right <= document.documentElement.clientWidth + 0.5, scrolls}};
    }})""")


@pytest.mark.parametrize("width,height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_incident_pages_read_well_at_a_laptops_and_a_phones_width(sqlite_url, recorder, clock, fake_fly, pd,
                                                                       tmp_path, width, height):
    with real_site(sqlite_url, recorder, clock, fake_fly, pd) as slack:
        make_incident(slack, clock, "Checkout failing for all customers",
                      update="Rolling back the 14:02 deploy, see https://status.example.com/deploys/1402")
        make_incident(slack, clock, "Search is slow for EU customers", severity=2, ack=False)
        settings = slack.container.settings
        port = free_port()
        app, web_container = dev_app(settings, assemble(settings), port)
        try:
            with serve_app(app, port) as base, Browser(width=width, height=height) as browser:
                browser.open(f"{base}/team/")
                browser.click("a.button")
                browser.type_into("input[name=name]", "Aisha Khan")
                browser.click("button[type=submit]")
                assert browser.url() == f"{base}/team/"

                # the list: the open SEV2 first, badges, every column reachable, the filters folded away
                text = browser.text()
                assert text.index("Open (1)") < text.index("Search is slow") < text.index("Resolved") \
                    < text.index("Checkout failing")
                assert browser.evaluate("document.querySelector('details.filters').open") is False
                first_row = browser.evaluate("document.querySelector('table.list tbody tr')"
                                             ".getBoundingClientRect().bottom")
                assert first_row <= height, "the first incident is below the first screen"
                assert browser.evaluate("document.querySelectorAll('table.list .pill').length") == 4
                cells = _reachable(browser, "table.list tbody tr:first-child td")[:len(COLUMNS)]  # the Open table
                assert len(cells) == len(COLUMNS)
                for column, cell in zip(COLUMNS, cells):
                    assert cell["shown"] and (cell["inside"] or cell["scrolls"]), (column, cell)
                assert "SEV2" in cells[2]["text"] and "declared" in cells[3]["text"] and "2026" in cells[5]["text"]
                if width == 1280:  # a laptop: the table's own header row is shown
                    headers = _reachable(browser, "table.list thead th")[:len(COLUMNS)]
                    assert [h["text"] for h in headers] == list(COLUMNS) and all(h["inside"] for h in headers)
                _no_sideways_scroll(browser, width, "the list")
                screenshot_for_docs(browser, f"web-incidents-{width}.png", tmp_path)

                # the incident: pills at the top, the timeline in words, links clickable
                browser.click("a[href='/team/incidents/1']")
                pills = browser.evaluate("Array.from(document.querySelectorAll('.pills .pill')).map(p => p.innerText)")
                assert pills == ["SEV1", "resolved"]
                timeline = browser.evaluate("document.querySelector('ol.events').innerText")
                assert "State changed from" in timeline and "status_changed" not in timeline
                assert "Dana Lead" in timeline and "U0LEAD" not in timeline
                links = browser.evaluate("Array.from(document.querySelectorAll('ol.events a')).map(a => a.href)")
                assert "https://status.example.com/deploys/1402" in links
                _no_sideways_scroll(browser, width, "the incident page")
                screenshot_for_docs(browser, f"web-incident-{width}.png", tmp_path)

                # the postmortem: its tables are tables, each scrolling inside its own box at most
                browser.click("a[href='/team/incidents/1/postmortem']")
                assert "| --- |" not in browser.text() and "|---|" not in browser.text()
                tables = browser.evaluate("Array.from(document.querySelectorAll('.postmortem table'))"
                                          ".map(t => t.querySelector('th') ? t.querySelector('th').innerText : '')")
                for header in ("Point", "Time (UTC)", "Measure"):
                    assert header in tables, (header, tables)
                _no_sideways_scroll(browser, width, "the postmortem")
                screenshot_for_docs(browser, f"web-postmortem-{width}.png", tmp_path)
        finally:
            web_container.engine.dispose()
