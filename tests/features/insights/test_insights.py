"""The insights figures: time to acknowledge against the SEV targets, pages, postmortems on time, playbooks.

The pure arithmetic is checked against hand-made cases; the database path on SQLite and PostgreSQL, from
timestamps a real run could not make (an acknowledgement before the declare, a declare just before midnight).
`fireline report` as a person reads it is tested from real runs (tests/proofs/test_real_runs.py).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.store.db import session_scope
from bot.features.insights.feature import FIGURES, figures, parse_since
from bot.store.models import Incident, PagerDutyLink, PlaybookExecution, Postmortem
from playbooks import insights as pure
from tests.support.factories import make_container

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
TARGETS = {1: timedelta(minutes=15), 2: timedelta(hours=1), 3: timedelta(hours=4), 4: None}


def _inc(i, sev, ack_min=None, at=T0, mit=None, res=None):
    return pure.IncidentTimes(i, sev, at, at + timedelta(minutes=ack_min) if ack_min is not None else None,
                              at + timedelta(minutes=mit) if mit is not None else None,
                              at + timedelta(minutes=res) if res is not None else None)


def test_percentiles_are_nearest_rank():
    assert pure.median([5, 1, 3]) == 3
    assert pure.median([1, 2, 3, 4]) == 2.5
    assert pure.percentile(range(1, 11), 90) == 9
    assert pure.percentile([7], 90) == 7
    assert pure.median([]) is None and pure.percentile([], 90) is None


def test_time_to_acknowledge_against_the_sev_target():
    incidents = [_inc(1, 1, 5, mit=20, res=60), _inc(2, 1, 10, mit=30, res=90), _inc(3, 1, 40, res=120),
                 _inc(4, 1, None),  # never acknowledged, long past 15 min: a miss
                 _inc(5, 4, 600), _inc(6, 2, 30)]
    found = pure.compute_times(incidents, [], [], [], TARGETS, since=T0 - timedelta(days=1), now=NOW)
    sev1 = next(r for r in found.rows if r.severity == 1)
    assert sev1.incidents == 4 and sev1.target_minutes == 15
    assert sev1.tta_median == 10 and sev1.tta_p90 == 40
    assert (sev1.within, sev1.judged) == (2, 4) and sev1.share_within == 0.5
    assert sev1.ttm_median == 25 and sev1.ttr_median == 90
    sev4 = next(r for r in found.rows if r.severity == 4)
    assert sev4.target_minutes is None and sev4.share_within is None  # next business day: no timed share
    assert next(r for r in found.rows if r.severity == 2).share_within == 1.0
    assert found.incidents_per_week == [("2026-W45", 6)]


def test_an_unacknowledged_incident_inside_its_target_is_not_judged_yet():
    fresh = _inc(1, 1, None, at=NOW - timedelta(minutes=5))
    row = pure.compute_times([fresh], [], [], [], TARGETS, since=T0, now=NOW).rows[0]
    assert row.judged == 0 and row.share_within is None


def test_pages_postmortems_and_playbooks():
    pages = [pure.PageRecord(T0, ("Ana", "Bo")), pure.PageRecord(T0 + timedelta(days=7), ("Ana",)),
             pure.PageRecord(T0 + timedelta(days=8), ("Ana", "Ana"))]
    pms = [pure.PostmortemRecord(T0, T0 - timedelta(hours=1)), pure.PostmortemRecord(T0, T0 + timedelta(hours=1)),
           pure.PostmortemRecord(T0, None), pure.PostmortemRecord(NOW + timedelta(days=1), None)]
    runs = [pure.RunRecord("restart", "succeeded"), pure.RunRecord("restart", "failed"),
            pure.RunRecord("restart", "interrupted"), pure.RunRecord("scale", "succeeded"),
            pure.RunRecord("rollback", "proposed"), pure.RunRecord("rollback", "cancelled")]
    found = pure.compute_times([], pages, pms, runs, TARGETS, since=T0, now=NOW)
    assert found.pages_per_week == [("2026-W45", 1), ("2026-W46", 2)]
    assert found.pages_per_person == [("Ana", 3), ("Bo", 1)]
    assert (found.postmortems_owed, found.postmortems_on_time, found.postmortems_late,
            found.postmortems_overdue) == (4, 1, 1, 1)
    assert found.postmortems_share == pytest.approx(1 / 3)
    assert [(p.playbook, p.runs, p.failed) for p in found.playbooks] == [("restart", 3, 2), ("scale", 1, 0)]


def test_csv_cells_never_run_as_formulas():
    found = pure.compute_times([], [pure.PageRecord(T0, ("=HYPERLINK(1)",))], [], [], TARGETS, since=T0, now=NOW)
    rows = list(csv.reader(io.StringIO(pure.csv_text(found))))
    assert ["Pages per person", "'=HYPERLINK(1)", "1"] in rows


@pytest.mark.parametrize("text,days", [("90d", 90), ("12w", 84), (" 7D ", 7)])
def test_parse_since(text, days):
    assert parse_since(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "90", "0d", "-3d", "1y", "99999d", "9٠d"])
def test_parse_since_refuses_with_what_to_write(text):
    with pytest.raises(ValueError, match="90d|at most"):
        parse_since(text)


def _seed(container):
    with session_scope(container.engine) as session:
        for i, (sev, ack) in enumerate([(1, 5), (1, 30), (2, 20), (3, None)], start=1):
            session.add(Incident(id=i, title=f"inc {i}", severity=sev, declared_by="U1", declared_at=T0,
                                 acknowledged_at=T0 + timedelta(minutes=ack) if ack else None,
                                 resolved_at=T0 + timedelta(hours=2), status="resolved"))
        session.add(Incident(id=9, title="old", severity=1, declared_by="U1", declared_at=T0 - timedelta(days=400),
                             status="resolved"))
        session.flush()
        session.add(PagerDutyLink(incident_id=1, incident_key="k1", mode="rest", paged_at=T0, assignees=["Ana Ops"]))
        session.add(PagerDutyLink(incident_id=2, incident_key="k2", mode="dry-run", paged_at=T0, assignees=[]))
        session.add(Postmortem(incident_id=1, due_at=T0 + timedelta(hours=50), done_at=T0 + timedelta(hours=10)))
        session.add(PlaybookExecution(playbook="restart", app="web", incident_id=1, status="failed", nonce="n",
                                      proposed_by="U1", proposed_at=T0))


def test_figures_from_the_database(db_url, recorder, clock):
    container = make_container(db_url, recorder, clock=clock)
    try:
        _seed(container)
        found = figures(container, NOW - timedelta(days=90))
    finally:
        container.engine.dispose()
    assert sum(r.incidents for r in found.rows) == 4  # the 400-day-old one is outside the period
    sev1 = next(r for r in found.rows if r.severity == 1)
    assert (sev1.tta_median, sev1.within, sev1.judged) == (17.5, 1, 2)
    assert found.pages_per_person == [("Ana Ops", 1)]
    # a dry-run page (PagerDuty not configured) woke nobody: counted apart, never as a page
    assert found.pages_per_week == [("2026-W45", 1)] and found.dry_run_pages == 1
    assert found.postmortems_on_time == 1
    assert [(p.playbook, p.runs, p.failed) for p in found.playbooks] == [("restart", 1, 1)]


def test_sev_response_minutes_moves_the_target(sqlite_url, recorder, clock):
    container = make_container(sqlite_url, recorder, sev_response_minutes="1=60", clock=clock)
    try:
        _seed(container)
        sev1 = next(r for r in figures(container, NOW - timedelta(days=90)).rows if r.severity == 1)
    finally:
        container.engine.dispose()
    assert sev1.target_minutes == 60 and sev1.within == 2


def test_the_web_page_reuses_figures_for_a_minute_and_the_report_never_does(sqlite_url, recorder, clock):
    container = make_container(sqlite_url, recorder, clock=clock)
    try:
        _seed(container)
        since = NOW - timedelta(days=90)
        first = figures(container, since, cached=True)
        with session_scope(container.engine) as session:
            session.add(Incident(id=20, title="new", severity=2, declared_by="U1", declared_at=T0))
        assert figures(container, since, cached=True) is first  # the page, within the minute
        assert sum(r.incidents for r in figures(container, since).rows) == 5  # the report: always fresh
        cache = container.parts.get(FIGURES)
        key = next(iter(cache))
        cache[key] = (0.0, first)  # the minute is over
        assert sum(r.incidents for r in figures(container, since, cached=True).rows) == 5
        from bot.service.reads import Visible

        hide_one = Visible(frozenset({1}))  # a reader who may not see #1 (a private incident)
        assert figures(container, since, cached=True, visible=hide_one).rows != first.rows  # another scope, own entry
    finally:
        container.engine.dispose()


def test_the_database_measures_as_the_python_definitions_do(db_url, recorder, clock):
    """bot.features.insights.feature lets SQLite (julianday) or PostgreSQL (epoch) measure the durations and days; the figures
    must equal those `playbooks.insights.measure` computes from the same timestamps in Python, including a
    declare just before midnight UTC, an acknowledgement stamped before the declare (clamped to 0), a
    postmortem done exactly at its due time (on time), an open one past due, and fractions of a second."""
    late_evening = datetime(2026, 11, 8, 23, 59, 59, 500000, tzinfo=UTC)  # a Sunday: ISO week 45, not 46
    cases = [  # id, sev, declared, ack, mitigated, resolved
        (1, 1, late_evening, late_evening + timedelta(seconds=1.25), None, late_evening + timedelta(hours=3)),
        (2, 2, T0, T0 - timedelta(minutes=3), T0 + timedelta(minutes=44.5), T0 + timedelta(days=2)),
        (3, 1, NOW - timedelta(minutes=20), None, None, None),  # unacknowledged, past SEV1's 15 minutes
        (4, 1, NOW - timedelta(minutes=5), None, None, None),  # unacknowledged, inside it
        (5, 3, T0 + timedelta(days=10, microseconds=1), T0 + timedelta(days=10, hours=5), None, None),
    ]
    pm_cases = [(1, T0, T0), (2, T0, T0 + timedelta(microseconds=1)), (3, NOW - timedelta(seconds=1), None),
                (4, NOW + timedelta(hours=1), None)]
    container = make_container(db_url, recorder, clock=lambda: NOW)
    try:
        with session_scope(container.engine) as session:
            for i, sev, declared, ack, mitigated, resolved in cases:
                session.add(Incident(id=i, title=f"inc {i}", severity=sev, declared_by="U1", declared_at=declared,
                                     acknowledged_at=ack, mitigated_at=mitigated, resolved_at=resolved,
                                     status="resolved" if resolved else "investigating"))
            session.flush()
            for i, due, done in pm_cases:
                session.add(Postmortem(incident_id=i, due_at=due, done_at=done))
            session.add(PagerDutyLink(incident_id=1, incident_key="k1", mode="rest", paged_at=late_evening,
                                      assignees=["Ana Ops", "Bo"]))
        since = NOW - timedelta(days=60)
        from_database = figures(container, since)
    finally:
        container.engine.dispose()
    in_python = pure.compute_times(
        [pure.IncidentTimes(*case) for case in cases], [pure.PageRecord(late_evening, ("Ana Ops", "Bo"))],
        [pure.PostmortemRecord(due, done) for _, due, done in pm_cases], [], TARGETS, since, NOW)

    def rounded(found):  # float minutes from julianday differ from Python's in the last bits
        return [(r.month, r.severity, r.incidents, r.within, r.judged,
                 *(None if v is None else round(v, 3) for v in (r.tta_median, r.tta_p90, r.ttm_median, r.ttr_median)))
                for r in found.rows]

    assert rounded(from_database) == rounded(in_python)
    assert rounded(from_database)[0][:5] == ("2026-11", 1, 3, 1, 2)  # #1 within, #3 missed, #4 not judged yet
    sev2 = next(r for r in from_database.rows if r.severity == 2)
    assert sev2.tta_median == 0.0 and sev2.ttm_median == pytest.approx(44.5, abs=1e-3)
    assert from_database.incidents_per_week == in_python.incidents_per_week == [
        ("2026-W45", 2), ("2026-W46", 1), ("2026-W48", 2)]
    assert from_database.pages_per_week == [("2026-W45", 1)]
    assert (from_database.postmortems_on_time, from_database.postmortems_late, from_database.postmortems_overdue) \
        == (in_python.postmortems_on_time, in_python.postmortems_late, in_python.postmortems_overdue) == (1, 1, 1)
