"""Conditions through the runner, in the console with the test clock (Wednesday 2026-11-25 14:00 UTC): a
workflow runs when its conditions hold and not otherwise. (alert_source and alert_labels: test_triggers.py.)"""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from bot.adapters.console import Console
from bot.store.models import WorkflowRun
from tests.support.factories import make_container

CASES = [
    ("{business_hours: true, timezone: Europe/Paris}", "Checkout returns 502 sev3", True),  # 15:00 in Paris
    ("{business_hours: true, timezone: America/Los_Angeles}", "Checkout returns 502 sev3", False),  # 06:00 there
    ("{business_hours: false, timezone: America/Los_Angeles}", "Checkout returns 502 sev3", True),
    ("{title_matches: 'check(out)? .*50[0-9]'}", "Checkout returns 502 sev3", True),
    ("{title_matches: '^login'}", "Checkout returns 502 sev3", False),
    ("{private: true}", "Checkout returns 502 sev3 --private", True),
    ("{private: true}", "Checkout returns 502 sev3", False),
    ("{private: false}", "Checkout returns 502 sev3 --private", False),
    ("{declared_by: [console]}", "Checkout returns 502 sev3", True),
    ("{declared_by: [someone-else]}", "Checkout returns 502 sev3", False),
    ("{time_of_day: '13:30-14:30', timezone: UTC}", "Checkout returns 502 sev3", True),
    ("{time_of_day: '22:00-07:00', timezone: UTC}", "Checkout returns 502 sev3", False),  # wraps midnight
    ("{time_of_day: '22:00-07:00', timezone: Asia/Tokyo}", "Checkout returns 502 sev3", True),  # 23:00 there
    ("{days: [wed], timezone: UTC}", "Checkout returns 502 sev3", True),
    ("{days: [sat, sun], timezone: UTC}", "Checkout returns 502 sev3", False),
    ("{severity: {at_least: 2}}", "Checkout returns 502 sev3", False),
    ("{severity: {in: [1, 3]}}", "Checkout returns 502 sev3", True),
    ("{components: [Payments]}", "Checkout returns 502 sev3 --components Payments,API", True),
    ("{components: [Payments]}", "Checkout returns 502 sev3 --components API", False),
    ("{acknowledged: true}", "Checkout returns 502 sev3", False),
    ("{acknowledged: false}", "Checkout returns 502 sev3", True),
]


@pytest.mark.parametrize("when, declare, runs", CASES, ids=[f"{c[0]}|{c[1]}" for c in CASES])
def test_a_condition_decides_whether_the_workflow_runs(sqlite_url, recorder, clock, tmp_path, when, declare, runs):
    path = tmp_path / "team.yaml"
    path.write_text("workflows:\n  - name: Conditional\n    on: declared\n    when: " + when + "\n    steps:\n"
                    "      - post: {channel: incident, text: \"conditional ran\"}\n", encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path))
    out = io.StringIO()
    Console(container, out).run_line(f"/incident declare {declare}")
    with Session(container.engine) as session:
        ran = [r.workflow for r in session.exec(select(WorkflowRun)).all()]
    assert ("Conditional" in ran) is runs, out.getvalue()[-2000:]
    assert ("conditional ran" in out.getvalue()) is runs
    container.engine.dispose()
