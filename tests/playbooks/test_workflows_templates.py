"""Workflow templates render the event's fields and nothing else: escapes are refused, not rendered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.workflows import Event, TemplateRefused, render

AT = datetime(2026, 12, 7, 19, 4, tzinfo=UTC)
INCIDENT = {"number": 42, "title": "Checkout returns 502", "severity": 1, "state": "investigating",
            "private": False, "components": ["Payments", "API"], "declared_by": "Dana Scully", "lead": "Fox Mulder",
            "channel": "inc-42-checkout"}


def event(trigger: str = "declared", **detail) -> Event:
    return Event(trigger, INCIDENT, detail, AT)


def test_the_fields_render():
    text = ("{{ incident.sev }} #{{ incident.number }} {{ incident.title }} in #{{ incident.channel }}, "
            "lead {{ incident.lead }}, {{ incident.components | join(', ') }} at {{ now }}")
    assert render(text, event()) == ("SEV1 #42 Checkout returns 502 in #inc-42-checkout, lead Fox Mulder, "
                                     "Payments, API at 2026-12-07 19:04 UTC")


def test_each_triggers_variables_render():
    assert render("{{ change.old }}->{{ change.new }} {{ change.direction }}",
                  event("severity_changed", old_severity=3, new_severity=1, direction="up")) == "3->1 up"
    assert render("{{ alert.source }}: {{ alert.labels.env }} {{ alert.labels['team'] }}",
                  event("alert_received", alert_source="sentry", alert_labels={"env": "prod", "team": "pay"})) == \
        "sentry: prod pay"
    assert render("{{ playbook.name }} {{ playbook.outcome }}",
                  event("playbook_finished", playbook="diagnose", outcome="done")) == "diagnose done"
    assert render("{{ silence.minutes }}m", event("no_update", minutes=31)) == "31m"
    assert render("{{ role.name }}={{ role.person }}", event("role_assigned", role="comms", person="Ann")) == \
        "comms=Ann"


@pytest.mark.parametrize("template", [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ incident.__class__ }}",
    "{{ incident.items() }}",
    "{{ incident.title.upper() }}",
    "{{ incident.title.format }}",
    "{{ incident['__class__'] }}",
    "{{ incident.components.__len__() }}",
    "{{ incident.nope }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ range(10) }}",
    "{{ lipsum() }}",
    "{{ namespace() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ 'x' * 100000000 }}",
    "{{ incident.title | attr('__class__') }}",
    "{{ incident | attr('items') }}",
    "{% for k in incident %}{{ k.__class__ }}{% endfor %}",
    "{{ incident.title | map('upper') | list }}",
    "{{ config }}",
    "{{ request }}",
    "{{ ''|format }}{{ '%s'.format }}",
])
def test_escape_attempts_are_refused(template):
    with pytest.raises(TemplateRefused):
        render(template, event())


def test_a_refusal_says_why_without_a_traceback():
    with pytest.raises(TemplateRefused) as caught:
        render("{{ ''.__class__ }}", event())
    assert "unsafe" in str(caught.value) and "Traceback" not in str(caught.value)


def test_the_output_is_cut_at_slacks_section_limit():
    text = render("{% for c in incident.components %}" + "x" * 2000 + "{% endfor %}", event())
    assert len(text) == 3000 and text.endswith("…")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_template_renders_or_is_refused_in_words(template):
    try:
        out = render(template, event())
    except TemplateRefused as exc:
        assert str(exc)
    else:
        assert isinstance(out, str) and len(out) <= 3000


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["__class__", "__dict__", "__globals__", "mro", "items", "keys", "get", "upper", "_x",
                        "func_globals", "gi_frame"]),
       st.sampled_from(["incident", "incident.title", "incident.components", "now", "''", "1"]))
def test_no_attribute_beyond_the_fields(attribute, base):
    with pytest.raises(TemplateRefused):
        render(f"{{{{ {base}.{attribute} }}}}", event())
