"""The insights page in headless Chromium at 1280x900 and 390x844, from incidents made through the front ends.

What a manager would notice: no sideways scrolling of the page; at 1280 every column of every table shown
(no scroll box hiding "Within target" or the times to mitigate and resolve), at 390 each wide table scrolling
inside its own box; each chart's caption (and the response chart's legend) in the page; no value label
touching a target tick or another label (their drawn boxes compared). Skips, with the reason, where
Chromium is absent. FIRELINE_UPDATE_SCREENSHOT=1 writes docs/images/insights-1280.png and insights-390.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.web.charts import bars
from bot.adapters.web.dev import dev_app
from bot.app.assembly import assemble
from tests.support.browser import Browser, screenshot_for_docs
from tests.support.oidc import free_port, serve_app
from tests.support.real_run import make_incident, real_site

REPO = Path(__file__).resolve().parents[3]
SIZES = [(1280, 900), (390, 844)]


pytestmark = pytest.mark.usefixtures("needs_a_browser")


# Boxes as drawn: every text of every chart against every target tick (widened by its 3-unit stroke) and
# every other text; and each text inside its chart.
OVERLAPS = """
(() => {
  const out = [];
  const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  for (const svg of document.querySelectorAll('svg.chart')) {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const ticks = [...svg.querySelectorAll('line.target')].map(l => {
      const r = l.getBoundingClientRect(); const pad = 1.5 * scale;
      return {left: r.left - pad, right: r.right + pad, top: r.top, bottom: r.bottom};
    });
    const texts = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()]);
    const box = svg.getBoundingClientRect();
    texts.forEach(([s, r], i) => {
      ticks.forEach(t => { if (hit(r, t)) out.push(`${s} touches a target tick`); });
      texts.slice(i + 1).forEach(([s2, r2]) => { if (hit(r, r2)) out.push(`${s} overlaps ${s2}`); });
      if (r.right > box.right + 0.5 || r.left < box.left - 0.5) out.push(`${s} leaves its chart`);
    });
  }
  return out;
})()
"""

# Each table against its scroll box and the viewport: [shown in full, reachable by scrolling its own box].
COLUMNS = """
[...document.querySelectorAll('.insights table')].map(t => {
  const box = t.parentElement, r = box.getBoundingClientRect();
  const cells = [...t.querySelectorAll('tr:last-child td, thead tr:last-child th')];
  const inside = cells.every(c => c.getBoundingClientRect().right <= r.right + 0.5);
  return [t.closest('section').querySelector('h2').textContent, box.scrollWidth <= box.clientWidth + 0.5 && inside,
          getComputedStyle(box).overflowX === 'auto' && r.right <= innerWidth + 0.5];
})
"""


def test_insights_at_desk_and_phone_widths(sqlite_url, recorder, clock, fake_fly, pd, tmp_path):
    with real_site(sqlite_url, recorder, clock, fake_fly, pd) as slack:
        make_incident(slack, clock, "Checkout failing for all customers", update="Rolling back the 14:02 deploy")
        make_incident(slack, clock, "Logins slow for some customers", severity=2, playbook=False)
        make_incident(slack, clock, "Search is slow", severity=3, ack=False)
        settings = slack.container.settings
        port = free_port()
        app, web_container = dev_app(settings, assemble(settings), port)
        try:
            with serve_app(app, port) as base:
                for width, height in SIZES:
                    with Browser(width=width, height=height) as browser:
                        _read_insights(browser, base, width, tmp_path)
        finally:
            web_container.engine.dispose()


def _read_insights(browser: Browser, base: str, width: int, tmp_path: Path) -> None:
    browser.open(f"{base}/team/login/slack")
    browser.type_into("input[name=name]", "Priya Manager")
    browser.click("button[type=submit]")
    browser.open(f"{base}/team/insights?since=30d")
    text = browser.text()
    for words in ("Time to acknowledge", "90th percentile", "Within target", "Mitigate", "Resolve",
                  "none acknowledged yet", "Minutes to acknowledge in each severity's latest month",
                  "Median\n", "SEV target"):
        assert words in text, words
    assert browser.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    figures = browser.evaluate("[...document.querySelectorAll('.insights figure')].map(f => "
                               "[f.querySelector('figcaption')?.innerText || '', !!f.querySelector('svg.chart')])")
    assert len(figures) == 6 and all(caption and svg for caption, svg in figures), figures
    assert browser.evaluate(OVERLAPS) == []
    columns = browser.evaluate(COLUMNS)
    assert columns, "no tables"
    for title, shown, reachable in columns:
        assert shown if width >= 1280 else (shown or reachable), (width, title)
    screenshot_for_docs(browser, f"insights-{width}.png", tmp_path)


def test_value_labels_never_touch_the_target_ticks_whatever_the_values(tmp_path):
    """Every median/p90 from 0 to 2x a 15-minute target, in the chart as drawn at both widths."""
    charts = []
    for tenth in range(0, 301, 7):
        value = tenth / 10
        items = [("SEV1 median", value, ""), ("SEV1 p90", value * 1.5 + 0.3, "p90"), ("SEV2 median", 59.9, ""),
                 ("SEV2 p90", 61.0, "p90")]
        marks = {"SEV1 median": 15.0, "SEV1 p90": 15.0, "SEV2 median": 60.0, "SEV2 p90": 60.0}
        charts.append(f"<div style='max-width:34rem'>{bars('t', items, unit=' min', marks=marks)}</div>")
    style = ("svg.chart text { font: 11px system-ui, sans-serif; } svg.chart .target { stroke: red; stroke-width: 3; }"
             "body { margin: 0 1rem; }")
    page = tmp_path / "charts.html"
    page.write_text(f"<!doctype html><meta name=viewport content='width=device-width'><style>{style}</style>"
                    + "".join(charts))
    for width, height in SIZES:
        with Browser(width=width, height=height) as browser:
            browser.open(page.as_uri())
            assert browser.evaluate("document.querySelectorAll('svg.chart').length") == len(charts)
            assert browser.evaluate(OVERLAPS) == []
