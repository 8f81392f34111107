"""Uptime per component on the public page: pure arithmetic over the published updates' impact windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from playbooks import statuspage as sp

START = datetime(2026, 9, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_whole_window_up_is_100_percent():
    assert sp.uptime([], "API", START, START + 90 * DAY) == 1.0
    assert sp.uptime_text(1.0) == "100.00%"


def test_a_major_outage_counts_whole_a_partial_outage_30_percent_and_degraded_not_at_all():
    end = START + 100 * DAY
    major = [(START, START + DAY, {"API": "major_outage"}, "t")]
    partial = [(START, START + DAY, {"API": "partial_outage"}, "t")]
    slow = [(START, START + DAY, {"API": "degraded_performance"}, "t")]
    assert sp.uptime(major, "API", START, end) == pytest.approx(0.99)
    assert sp.uptime(partial, "API", START, end) == pytest.approx(1 - 0.003)
    assert sp.uptime(slow, "API", START, end) == 1.0
    assert sp.uptime(major, "Payments", START, end) == 1.0  # another component's outage is not this one's


def test_overlapping_incidents_count_the_worst_status_once():
    spans = [(START, START + 2 * DAY, {"API": "partial_outage"}, "a"),
             (START + DAY, START + 3 * DAY, {"API": "major_outage"}, "b")]
    # day 1 partial (0.3), days 2-3 major (2.0): 2.3 days down of 100
    assert sp.uptime(spans, "API", START, START + 100 * DAY) == pytest.approx(1 - 2.3 / 100)


def test_spans_are_clipped_to_the_window():
    spans = [(START - 5 * DAY, START + DAY, {"API": "major_outage"}, "old"),
             (START + 9 * DAY, START + 20 * DAY, {"API": "major_outage"}, "running")]
    assert sp.uptime(spans, "API", START, START + 10 * DAY) == pytest.approx(0.8)
    assert sp.uptime(spans, "API", START, START) == 1.0  # an empty window is all up


def test_the_text_rounds_down_so_any_downtime_shows():
    assert sp.uptime_text(0.99996) == "99.99%"
    assert sp.uptime_text(0.9995) == "99.95%"
    assert sp.uptime_text(0.5) == "50.00%"
    assert sp.uptime_text(0.0) == "0.00%"


@dataclass
class Update:
    public_id: str
    update_key: str
    stage: str
    title: str
    body: str
    components: dict
    published_at: datetime


def test_the_page_measures_uptime_from_published_updates_over_90_days():
    now = START + 100 * DAY + timedelta(hours=12)  # midday: the window is 89 whole days and today's 12 hours
    at = now - 10 * DAY
    updates = [Update("p1", "u1", "investigating", "Outage", "b", {"API": "major_outage"}, at),
               Update("p1", "u2", "monitoring", "Outage", "b", {"API": "partial_outage"}, at + timedelta(hours=9)),
               Update("p1", "u3", "resolved", "Outage", "b", {"API": "operational"}, at + timedelta(hours=19)),
               Update("p0", "u0", "investigating", "Old", "b", {"Payments": "major_outage"}, now - 200 * DAY),
               Update("p0", "u1", "resolved", "Old", "b", {"Payments": "operational"}, now - 199 * DAY)]
    shown = {c.name: c for c in sp.page(["API", "Payments"], updates, [], now).components}
    window_hours = 89 * 24 + 12
    assert shown["API"].uptime == pytest.approx(1 - (9 + 0.3 * 10) / window_hours)  # 9 h down, 10 h partly
    assert shown["API"].uptime_text == "99.44%"  # 1 - 12 / 2148, rounded down
    assert shown["Payments"].uptime == 1.0  # its outage ended before the 90 days began
