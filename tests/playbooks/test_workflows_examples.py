"""The five example files of docs/workflows.md load, validate and do what the page says, rehearsed event by event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from playbooks.workflows import Event, load_files, matches, rehearse

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "workflows"
MONDAY_0000_PARIS = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)


def example(stem: str):
    return load_files([EXAMPLES / f"{stem}.yaml"])


def incident(severity=1, **fields):
    return {"number": 12, "title": "Card payments failing", "severity": severity, "state": "investigating",
            "private": False, "components": [], "declared_by": "Dana Scully", "lead": "Fox Mulder",
            "channel": "inc-12", "acknowledged": False, "status_published": False, **fields}


def steps(workflows, event) -> list[tuple[str, str]]:
    return [(wf.name, s.kind) for wf in workflows if matches(wf, event) for s in wf.steps]


def test_there_are_five_and_each_loads():
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == [
        "business-hours-paging", "customer-support", "exec-escalation", "postmortem-reminders",
        "status-drafts-per-component"]
    for path in EXAMPLES.glob("*.yaml"):
        workflows = load_files([path])
        assert workflows and all(wf.steps for wf in workflows)
        for wf in workflows:  # every workflow rehearses without a template failing
            lines = rehearse(workflows, Event(wf.trigger, incident(), {}, MONDAY_0000_PARIS))
            assert not any("does not render" in line for line in lines), lines


def test_exec_escalation_from_declare_to_resolve():
    workflows = example("exec-escalation")
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    declared = steps(workflows, Event("declared", incident(1), {}, at))
    assert [kind for _, kind in declared] == ["page", "invite", "post", "draft_status", "plan_playbook", "remind"]
    assert steps(workflows, Event("state_changed", incident(1, state="resolved"),
                                  {"old_state": "monitoring", "new_state": "resolved"}, at + timedelta(hours=1))) == \
        [("Tell the executives it is over", "post"), ("Tell the executives it is over", "add_followup")]
    assert steps(workflows, Event("declared", incident(2), {}, at)) == []
    assert steps(workflows, Event("declared", incident(1, private=True), {}, at)) == []
    raised = Event("severity_changed", incident(1), {"old_severity": 2, "new_severity": 1, "direction": "up"}, at)
    assert [kind for _, kind in steps(workflows, raised)] == ["invite", "post"]


@pytest.mark.parametrize("trigger", ["declared", "severity_changed", "state_changed"])
@pytest.mark.parametrize("severity", [1, 2, 3, 4])
def test_customer_support_never_hears_of_a_private_incident(trigger, severity):
    detail = {"severity_changed": {"old_severity": 4, "new_severity": severity, "direction": "up"},
              "state_changed": {"old_state": "monitoring", "new_state": "resolved"}}.get(trigger, {})
    event = Event(trigger, incident(severity, private=True), detail, MONDAY_0000_PARIS)
    assert steps(example("customer-support"), event) == []
    public = Event(trigger, incident(severity), detail, MONDAY_0000_PARIS)
    assert bool(steps(example("customer-support"), public)) is (severity <= 2)


def test_business_hours_paging_over_a_whole_week():
    """Every half hour of a week: a SEV2 pages exactly when it is outside Mon-Fri 09:00-17:00 Paris time, and
    exactly one of the two SEV2 workflows runs; a SEV1 pages at every hour."""
    workflows = example("business-hours-paging")
    for half_hour in range(7 * 48):
        at = MONDAY_0000_PARIS + timedelta(minutes=30 * half_hour)
        local = at.astimezone(ZoneInfo("Europe/Paris"))
        office = local.weekday() < 5 and 9 <= local.hour < 17
        sev2 = steps(workflows, Event("declared", incident(2), {}, at))
        assert (("SEV2 out of hours pages", "page") in sev2) is (not office), local
        assert len({name for name, _ in sev2}) == 1, local
        assert ("SEV1 pages at any hour", "page") in steps(workflows, Event("declared", incident(1), {}, at))


def test_status_drafts_follow_the_components():
    workflows = example("status-drafts-per-component")
    for components in (["Payments"], ["API"], ["Payments", "API"], ["Search"]):
        found = {name for name, _ in steps(workflows, Event("declared", incident(1, components=components), {},
                                                            MONDAY_0000_PARIS))}
        assert found == {f"{c} status draft" for c in components if c in ("Payments", "API")}, components
    assert all(kind == "draft_status" for wf in workflows for kind in [s.kind for s in wf.steps])


def test_the_postmortem_chain_stops_when_the_postmortem_is_done():
    (follow_up, chain) = example("postmortem-reminders")
    assert [s.kind for s in chain.steps] == ["remind", "wait", "remind", "wait", "escalate"]
    waits = [s for s in chain.steps if s.kind == "wait"]
    assert [dict(s.args["unless"]) for s in waits] == [{"postmortem_done": True}] * 2
    assert [s.args["for"] for s in waits] == ["1d", "2d"]
    due = Event("postmortem_due", incident(2, state="resolved"), {"due": "2026-12-09", "overdue": False},
                MONDAY_0000_PARIS)
    assert matches(chain, due) and not matches(chain, Event("postmortem_due", incident(3), {}, MONDAY_0000_PARIS))
    assert follow_up.steps[0].kind == "add_followup"
