"""The `playbook_finished` and `role_assigned` triggers in the console, as a person types: a read-only playbook that
ran, a destructive one's plan shown (outcome `planned`), and a role given."""

from __future__ import annotations

import io

from sqlmodel import Session, select

from bot.adapters.console import Console
from bot.store.models import WorkflowRun
from tests.support.factories import make_container

TEAM = """
workflows:
  - name: After diagnose
    on: {playbook_finished: {playbook: diagnose, outcome: done}}
    steps:
      - post: {channel: incident, text: "diagnose {{ playbook.outcome }} on #{{ incident.number }}"}
  - name: A restart is planned
    on: {playbook_finished: {playbook: restart, outcome: planned}}
    steps:
      - post: {channel: "#leadership", text: "a restart of #{{ incident.number }} waits for its Confirm"}
  - name: New comms
    on: {role_assigned: {role: comms}}
    steps:
      - post: {channel: "#support", text: "{{ role.person }} now speaks for #{{ incident.number }}"}
"""


def test_playbook_finished_and_role_assigned_run_from_what_a_person_types(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text(TEAM, encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), provider_status_pages="")
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/incident declare Checkout down sev3")
    console.run_line("/diagnose")
    assert "diagnose done on #1" in out.getvalue()
    console.run_line("/restart")
    assert "[#leadership]\n  a restart of #1 waits for its Confirm" in out.getvalue()
    console.run_line("/incident role comms @fox")
    assert "[#support]\n  fox now speaks for #1" in out.getvalue()
    with Session(container.engine) as session:
        ran = sorted(r.workflow for r in session.exec(select(WorkflowRun)).all())
    assert ran == ["A restart is planned", "After diagnose", "New comms"]
    container.engine.dispose()


def test_a_workflow_with_no_outcome_runs_at_the_plan_and_again_at_the_end(sqlite_url, recorder, clock, tmp_path):
    path = tmp_path / "team.yaml"
    path.write_text("""
workflows:
  - name: Restart news
    on: {playbook_finished: {playbook: restart}}
    steps:
      - post: {channel: "#leadership", text: "restart of #{{ incident.number }}: {{ playbook.outcome }}"}
""", encoding="utf-8")
    container = make_container(sqlite_url, recorder, clock, workflows=str(path), provider_status_pages="")
    out = io.StringIO()
    console = Console(container, out)
    console.run_line("/incident declare Checkout down sev3")
    console.run_line("/restart")
    console.run_line("!Confirm")
    assert "restart of #1: planned" in out.getvalue()
    assert "restart of #1: done" in out.getvalue()  # the end is an occurrence of its own, not the plan's run
    container.engine.dispose()
