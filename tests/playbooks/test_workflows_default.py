"""The default workflow file says what the code did before workflows were data, decision for decision.

For every severity and every severity change, the workflows that match are compared with the predicates the
features use (playbooks.severity's `pages`, the providers' CARD_SEVERITIES, the response clock's SEV1 nudge):
an edit of the default file that changes today's behaviour fails here, naming the case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from bot.features.providers.feature import CARD_SEVERITIES
from playbooks.severity import SEVERITIES
from playbooks.workflows import Event, default_workflows, matches, rehearse

AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # a night: nothing in today's behaviour depends on the hour


def running(trigger: str, severity: int, incident: dict | None = None, **detail) -> dict[str, list[str]]:
    """Step kind -> the workflows whose steps of that kind would run."""
    fields = {"number": 9, "title": "API down", "severity": severity, "state": "investigating", "private": False,
              "acknowledged": False, "status_published": False, **(incident or {})}
    event = Event(trigger, fields, detail, AT)
    out: dict[str, list[str]] = {}
    for wf in default_workflows():
        if matches(wf, event):
            for step in wf.steps:
                out.setdefault(step.kind if step.kind != "plan_playbook" else step.args["playbook"], []).append(wf.name)
    return out


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_declared_pages_and_checks_providers_as_the_code_does(level):
    found = running("declared", level)
    assert ("page" in found) is SEVERITIES[level].pages  # bot.features.pagerduty.feature.page_on_declare
    assert ("providers" in found) is (level in CARD_SEVERITIES)  # bot.features.providers.feature.queue_check
    assert ("remind" in found) is (level == 3)  # response_clock.arm_ack: SEV3's reminder, nobody paged
    assert len(found.get("page", [])) <= 1


@pytest.mark.parametrize(("old", "new"), [(o, n) for o, n in product((1, 2, 3, 4), repeat=2) if o != n])
def test_a_severity_change_pages_and_checks_as_the_code_does(old, new):
    found = running("severity_changed", new, old_severity=old, new_severity=new,
                    direction="up" if new < old else "down")
    assert ("page" in found) is (SEVERITIES[new].pages and not SEVERITIES[old].pages)  # page_on_raise
    assert ("providers" in found) is (new in CARD_SEVERITIES)  # queue_check on INCIDENT_SEVERITY_CHANGED
    assert ("remind" in found) is (new == 3)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_the_update_nudge_is_for_open_sev1_only(level):
    assert ("remind" in running("no_update", level, minutes=30)) is (level == 1)  # response_clock.arm_nudge
    assert running("no_update", level, {"state": "resolved"}, minutes=30) == {}


def test_the_nudge_waits_update_nudge_minutes_as_set():
    (nudge,) = [wf for wf in default_workflows() if wf.trigger == "no_update"]
    assert nudge.trigger_args["after"] == "update_nudge"


def test_resolving_drafts_the_closing_update_only_when_the_public_still_sees_it():
    resolved = {"old_state": "monitoring", "new_state": "resolved"}
    assert "draft_status" in running("state_changed", 2, {"status_published": True}, **resolved)
    assert running("state_changed", 2, {"status_published": False}, **resolved) == {}
    (draft,) = [s for wf in default_workflows() for s in wf.steps if s.kind == "draft_status"]
    assert draft.args["stage"] == "resolved"


def test_nothing_in_the_default_file_runs_for_the_other_triggers():
    assert running("role_assigned", 1, role="lead", person="Ann") == {}
    assert running("alert_received", 1, alert_source="sentry", alert_title="x", alert_text="", alert_labels={}) == {}
    assert running("playbook_finished", 1, playbook="diagnose", outcome="done") == {}
    assert running("postmortem_due", 1, due="2026-12-09", overdue=False) == {}


def test_the_rehearsal_of_a_sev1_declare_reads_as_today():
    lines = rehearse(default_workflows(), Event("declared", {"number": 9, "title": "API down", "severity": 1}, {},
                                                AT))
    assert lines[0] == "Event: declared on SEV1 “API down” (public), 2026-12-07 03:00 UTC"
    assert any("page the configured escalation policy in PagerDuty (high urgency)" in line for line in lines)
    assert any("read the providers' status pages" in line for line in lines)
    assert lines[-1] == "2 workflows would run. This was a rehearsal: nothing was sent."
