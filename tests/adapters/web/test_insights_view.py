"""The insights page's words: headers a manager reads, each empty cell's reason, dry-run pages said apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.adapters.web import insights_view
from bot.adapters.web.charts import bars
from playbooks import insights as pure

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
TARGETS = {1: timedelta(minutes=15), 2: timedelta(hours=1), 3: timedelta(hours=4), 4: None}


def _figures(incidents, dry_run_pages=0):
    return pure.compute(incidents, [], [], [], TARGETS, NOW - timedelta(days=30), NOW, dry_run_pages=dry_run_pages)


def test_empty_cells_say_why_and_a_time_past_the_target_is_marked():
    found = _figures([pure.IncidentSpan(1, 1, "2026-11-20", 9.9, None, None, 600.0),
                      pure.IncidentSpan(2, 1, "2026-11-20", 33.7, 40.0, 90.0, 600.0),
                      pure.IncidentSpan(3, 4, "2026-11-21", None, None, None, 600.0)])
    sev1, sev4 = insights_view.response_rows(found)
    assert [c.text for c in sev1] == ["2026-11", "SEV1", "2", "15 min", "21.8 min", "33.7 min", "50% (1 of 2)",
                                      "40.0 min", "90.0 min"]
    assert [c.css for c in sev1[4:7]] == ["over", "over", "over"]  # the median alone would not say the tail
    assert [(c.text, c.css) for c in sev4[3:]] == [
        ("next business day (no timed target)", "empty"), ("none acknowledged yet", "empty"),
        ("none acknowledged yet", "empty"), ("no timed target", "empty"), ("none mitigated", "empty"),
        ("none resolved yet", "empty")]


def test_dry_run_pages_are_not_pages_and_the_page_says_how_many():
    tables = {t.title: t for t in insights_view.tables(_figures([], dry_run_pages=3))}
    pages = tables["Pages per week"]
    assert pages.rows == [] and "Nobody was paged" in pages.empty and "3 dry-run pages" in pages.empty
    assert tables["Response by severity and month"].empty == "No incidents were declared in this period."
    assert "a proposal nobody confirmed is not a run" in tables["Playbooks most run"].empty


def test_a_bar_without_a_value_says_so_clear_of_its_tick():
    svg = bars("t", [("SEV3 median", None, "")], unit=" min", marks={"SEV3 median": 240.0}, missing="none acknowledged")
    assert 'class="value none">none acknowledged</text>' in svg
