"""Which workflows run for an event: triggers with their arguments, then each condition, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playbooks.workflows import Event, load_text, matches, why_not
from playbooks.workflows.conditions import holds

MONDAY_10_PARIS = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 in Paris (CET)
SATURDAY_10_PARIS = datetime(2026, 12, 12, 9, 0, tzinfo=UTC)
MONDAY_23_PARIS = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


def one(on: str, when: str = "{}") -> object:
    (wf,) = load_text(f"workflows:\n- name: w\n  on: {on}\n  when: {when}\n  steps: [{{wait: 1m}}]\n", "t.yaml")
    return wf


def ev(trigger="declared", severity=1, at=MONDAY_10_PARIS, **detail) -> Event:
    incident = {"number": 3, "title": "Payments API down", "severity": severity, "state": "investigating",
                "private": False, "components": ["Payments"], "declared_by": "Dana Scully", "acknowledged": False}
    incident.update(detail.pop("incident", {}))
    return Event(trigger, incident, detail, at)


@pytest.mark.parametrize(("when", "severity", "runs"), [
    ("{severity: 1}", 1, True), ("{severity: 1}", 2, False),
    ("{severity: {at_least: 2}}", 1, True), ("{severity: {at_least: 2}}", 2, True),
    ("{severity: {at_least: 2}}", 3, False),
    ("{severity: {at_most: 3}}", 4, True), ("{severity: {at_most: 3}}", 2, False),
    ("{severity: {in: [1, 3]}}", 3, True), ("{severity: {in: [1, 3]}}", 2, False),
    ("{severity: [2, 4]}", 4, True), ("{severity: SEV2}", 2, True),
])
def test_severity_forms(when, severity, runs):
    assert matches(one("declared", when), ev(severity=severity)) is runs


def test_the_reason_is_said():
    assert why_not(one("declared", "{severity: {at_least: 2}}"), ev(severity=3)) == \
        "the incident is SEV3, not SEV2 or worse"
    assert why_not(one("declared"), ev("alert_received")) == "its trigger is declared, not alert_received"


def test_severity_changed_direction_and_levels():
    up = one("{severity_changed: {direction: up, from: {at_most: 3}, to: {at_least: 2}}}")
    assert matches(up, ev("severity_changed", old_severity=3, new_severity=2))
    assert not matches(up, ev("severity_changed", old_severity=2, new_severity=1))  # was paging already
    assert not matches(up, ev("severity_changed", old_severity=1, new_severity=3))
    down = one("{severity_changed: {direction: down}}")
    assert matches(down, ev("severity_changed", old_severity=1, new_severity=3))
    assert why_not(down, ev("severity_changed", old_severity=3, new_severity=1)) == "the severity went up, not down"


def test_state_changed_to_each_state():
    resolved = one("{state_changed: {to: resolved}}")
    assert matches(resolved, ev("state_changed", old_state="monitoring", new_state="resolved"))
    assert not matches(resolved, ev("state_changed", old_state="declared", new_state="mitigated"))
    reopened = one("{state_changed: {to: reopened}}")
    assert matches(reopened, ev("state_changed", old_state="resolved", new_state="investigating"))
    assert matches(reopened, ev("state_changed", old_state="resolved", new_state="reopened"))
    assert not matches(reopened, ev("state_changed", old_state="declared", new_state="investigating"))
    assert matches(one("{state_changed: {to: acknowledged}}"),
                   ev("state_changed", old_state="declared", new_state="acknowledged"))


def test_role_and_playbook_arguments():
    assert matches(one("{role_assigned: {role: comms}}"), ev("role_assigned", role="comms", person="Ann"))
    assert not matches(one("{role_assigned: {role: comms}}"), ev("role_assigned", role="scribe", person="Ann"))
    failed = one("{playbook_finished: {playbook: diagnose, outcome: failed}}")
    assert matches(failed, ev("playbook_finished", playbook="diagnose", outcome="failed"))
    assert not matches(failed, ev("playbook_finished", playbook="diagnose", outcome="done"))
    assert not matches(failed, ev("playbook_finished", playbook="restart", outcome="failed"))


def test_alert_conditions():
    wf = one("alert_received", "{alert_source: [sentry, fly], alert_labels: {env: production}, "
                               "alert_text_matches: 'database|postgres'}")
    good = dict(alert_source="Sentry", alert_labels={"env": "production", "team": "pay"},
                alert_title="Postgres connections exhausted", alert_text="")
    assert matches(wf, ev("alert_received", **good))
    assert why_not(wf, ev("alert_received", **{**good, "alert_source": "stripe"})) == \
        "the alert came from stripe, not fly, sentry"
    assert why_not(wf, ev("alert_received", **{**good, "alert_labels": {"env": "staging"}})) == \
        "the alert's label env is staging, not production"
    assert not matches(wf, ev("alert_received", **{**good, "alert_title": "disk full"}))


def test_incident_conditions():
    assert matches(one("declared", "{title_matches: '^payments'}"), ev())
    assert not matches(one("declared", "{title_matches: checkout}"), ev())
    assert matches(one("declared", "{components: [payments, search]}"), ev())
    assert not matches(one("declared", "{components: search}"), ev())
    assert matches(one("declared", "{private: false}"), ev())
    assert not matches(one("declared", "{private: true}"), ev())
    assert matches(one("declared", "{declared_by: [Dana Scully]}"), ev())
    assert not matches(one("declared", "{declared_by: Walter Skinner}"), ev())
    assert matches(one("declared", "{state: open}"), ev())
    assert not matches(one("declared", "{state: open}"), ev(incident={"state": "resolved"}))
    assert matches(one("declared", "{state: [investigating, mitigating]}"), ev())


def test_business_hours_and_time_of_day_in_a_time_zone():
    inside = one("declared", "{business_hours: true, timezone: Europe/Paris}")
    assert matches(inside, ev(at=MONDAY_10_PARIS))
    assert why_not(inside, ev(at=SATURDAY_10_PARIS)) == \
        "outside business hours (Mon-Fri 09:00-17:00 Europe/Paris; it is Sat 10:00)"
    assert not matches(inside, ev(at=MONDAY_23_PARIS))
    assert matches(one("declared", "{business_hours: false, timezone: Europe/Paris}"), ev(at=MONDAY_23_PARIS))
    # 08:30 UTC is 09:30 in Paris but 03:30 in New York
    early = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert matches(one("declared", "{business_hours: true, timezone: Europe/Paris}"), ev(at=early))
    assert not matches(one("declared", "{business_hours: true, timezone: America/New_York}"), ev(at=early))
    night = one("declared", "{time_of_day: '22:00-07:00', timezone: Europe/Paris}")  # wraps midnight
    assert matches(night, ev(at=MONDAY_23_PARIS))
    assert not matches(night, ev(at=MONDAY_10_PARIS))
    weekend = one("declared", "{days: [sat, sunday], timezone: Europe/Paris}")
    assert matches(weekend, ev(at=SATURDAY_10_PARIS)) and not matches(weekend, ev(at=MONDAY_10_PARIS))


def test_disabled_workflows_never_run():
    (wf,) = load_text("workflows:\n- name: w\n  on: declared\n  enabled: false\n  steps: [{wait: 1m}]\n", "t")
    assert why_not(wf, ev()) == "it is turned off (enabled: false)"


def test_unless_reads_updated_from_the_runner():
    (wf,) = load_text("workflows:\n- name: w\n  on: declared\n  steps:\n  - remind: {after: 30m, text: hi, "
                      "unless: {updated: true}}\n", "t")
    unless = wf.steps[0].args["unless"]
    assert holds(unless, ev(), {"updated": True})
    assert not holds(unless, ev(), {"updated": False})
