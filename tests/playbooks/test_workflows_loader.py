"""The workflow file's validator: every problem named with its file and line, all of them at once.

Each case is a file a team could write by mistake; the assertion is the exact `file:line: message` start, so a
validator that points at the wrong line or says nothing useful fails.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playbooks.workflows import (
    STEP_KINDS,
    TRIGGERS,
    Problem,
    WorkflowFileError,
    default_workflows,
    load_files,
    load_text,
    parse_duration,
)
from playbooks.workflows.schema import CONDITIONS, STEP_FIELDS, TRIGGER_ARGS


def problems(text: str, source: str = "team.yaml") -> list[str]:
    with pytest.raises(WorkflowFileError) as caught:
        load_text(textwrap.dedent(text), source)
    return [str(p) for p in caught.value.problems]


GOOD = """\
workflows:
  - name: Exec escalation on SEV1
    on: declared
    when:
      severity: 1
      timezone: Europe/Paris
    steps:
      - page: {policy: PEXEC01}
      - invite: {people: [Dana Scully], groups: ["@exec-oncall"]}
      - post:
          channel: "#leadership"
          text: "{{ incident.sev }} #{{ incident.number }}: {{ incident.title }}"
      - wait: 10m
      - plan_playbook: restart
"""


def test_a_good_file_loads_with_lines_and_shorthands_expanded():
    (wf,) = load_text(GOOD, "team.yaml")
    assert (wf.name, wf.trigger, wf.line, wf.source, wf.enabled) == ("Exec escalation on SEV1", "declared", 2,
                                                                     "team.yaml", True)
    assert dict(wf.conditions) == {"severity": 1, "timezone": "Europe/Paris"}
    assert [(s.kind, s.line, s.index) for s in wf.steps] == [("page", 8, 0), ("invite", 9, 1), ("post", 10, 2),
                                                              ("wait", 13, 3), ("plan_playbook", 14, 4)]
    assert dict(wf.steps[3].args) == {"for": "10m"}
    assert dict(wf.steps[4].args) == {"playbook": "restart"}
    assert wf.steps[1].args["groups"] == ("@exec-oncall",)


def test_on_is_read_as_the_word_not_yaml_1_1s_true():
    (wf,) = load_text("workflows:\n- name: x\n  on: declared\n  steps: [{wait: 1m}]\n", "f.yaml")
    assert wf.trigger == "declared"


@pytest.mark.parametrize(("text", "expected"), [
    ("workflows:\n  - name: a\n    on: decalred\n    steps: [{wait: 1m}]\n",
     "team.yaml:3: unknown trigger `decalred` (did you mean `declared`?)"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - wait: 1m\n      - paeg: {policy: default}\n",
     "team.yaml:6: unknown step `paeg` (did you mean `page`?)"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - post: {channel: '#x', txt: hi}\n",
     "team.yaml:5: unknown field `txt` in step post (did you mean `text`?)"),
    ("workflows:\n  - name: a\n    on: declared\n    when:\n      sevrity: 1\n    steps: [{wait: 1m}]\n",
     "team.yaml:5: unknown condition `sevrity` in `when:` (did you mean `severity`?)"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - post:\n          channel: '#x'\n"
     "          text: '{{ incident.titel }}'\n",
     "team.yaml:7: `text` of step post: unknown template variable `incident.titel` (did you mean `title`?)"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - post: {channel: '#x', text: '{{ incidnet }}'}\n",
     "team.yaml:5: `text` of step post: unknown template variable `incidnet` (did you mean `incident`?)"),
    ("workflows:\n  - name: a\n    on: playbook_finished\n    steps:\n"
     "      - post: {channel: '#x', text: 'alert: {{ alert.text }}'}\n",
     "team.yaml:5: `text` of step post: `{{ alert }}` cannot fire under playbook_finished: only alert_received "
     "events carry it"),
    ("workflows:\n  - name: a\n    on: declared\n    when:\n      alert_source: sentry\n    steps: [{wait: 1m}]\n",
     "team.yaml:5: `alert_source` can never hold under declared: only alert_received events carry an alert"),
    ("workflows:\n  - name: a\n    on: alert_received\n    when:\n      alert_text_matches: 'db(\\n'\n"
     "    steps: [{wait: 1m}]\n",
     "team.yaml:5: condition `alert_text_matches` is not a regular expression"),
    ("workflows:\n  - name: a\n    on: declared\n    when:\n      timezone: Europe/Pariss\n    steps: [{wait: 1m}]\n",
     "team.yaml:5: unknown time zone `Europe/Pariss`"),
    ("workflows:\n  - name: a\n    on: declared\n    when:\n      time_of_day: 9-17\n    steps: [{wait: 1m}]\n",
     "team.yaml:5: time_of_day `9-17` should be HH:MM-HH:MM"),
    ("workflows:\n  - name: a\n    on: declared\n    when:\n      severity: 5\n    steps: [{wait: 1m}]\n",
     "team.yaml:5: condition `severity`: a severity is 1-4"),
    ("workflows:\n  - name: a\n    on: {no_update: {}}\n    steps: [{wait: 1m}]\n",
     "team.yaml:3: trigger no_update needs `after:`"),
    ("workflows:\n  - name: a\n    on: {no_update: {after: soon}}\n    steps: [{wait: 1m}]\n",
     "team.yaml:3: `after` of trigger no_update: `soon` is not a duration"),
    ("workflows:\n  - name: a\n    on: {state_changed: {to: closed}}\n    steps: [{wait: 1m}]\n",
     "team.yaml:3: `to` of trigger state_changed is one of acknowledged, mitigated, resolved, reopened, not `closed`"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - plan_playbook: reboot\n",
     "team.yaml:5: unknown playbook `reboot` (known: diagnose, providers, restart,"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - page: {urgency: high}\n",
     "team.yaml:5: step page needs `policy:`"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - post: {channel: leadership, text: hi}\n",
     "team.yaml:5: step post: channel is `#name` or `incident`, not `leadership`"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n      - remind: {text: hi, unless: {alert_source: x}}\n",
     "team.yaml:5: `alert_source` can never hold under declared"),
    ("workflows:\n  - name: a\n    on: declared\n    when: {updated: true}\n    steps: [{wait: 1m}]\n",
     "team.yaml:4: `updated` is read when a reminder is due"),
    ("workflows:\n  - name: a\n    on: declared\n    steps: []\n",
     "team.yaml:4: `steps:` should be a list with at least one step"),
    ("workflows:\n  - name: a\n    steps: [{wait: 1m}]\n",
     "team.yaml:2: workflow `a` needs `on:`"),
    ("workflows:\n  - name: a\n    on: declared\n    trigger: declared\n    steps: [{wait: 1m}]\n",
     "team.yaml:4: unknown field `trigger` in a workflow"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n"
     "      - post: {channel: '#x', text: '{{ incident.title '}\n",
     "team.yaml:5: `text` of step post: template syntax"),
    ("workflows:\n  - name: a\n    on: declared\n    steps: [{wait: 1m}]\n  - name: a\n    on: declared\n"
     "    steps: [{wait: 2m}]\n",
     "team.yaml:5: a workflow named `a` is already at team.yaml:2"),
    ("workflows:\n  - name: a\n    on: declared\n    steps:\n    - wait: 1m\n   bad indent: here\n",
     "team.yaml:6: not valid YAML"),
    ("", "team.yaml:1: the file is empty"),
    ("version: 2\nworkflows: []\n", "team.yaml:1: unknown top-level field `version`"),
])
def test_each_problem_names_the_line_and_what_is_wrong(text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_are_reported_at_once():
    found = problems("""\
        workflows:
          - name: one
            on: declard
            steps: [{wait: 1m}]
          - name: two
            on: declared
            when: {severity: 9}
            steps:
              - post: {channel: '#x', text: '{{ alert.text }}'}
        """)
    assert [p.split(":")[1] for p in found] == ["3", "7", "9"], found


def test_a_destructive_playbook_loads_and_is_marked_plan_only_in_the_rehearsal():
    from playbooks.workflows import Event, rehearse

    (wf,) = load_text(GOOD, "team.yaml")
    lines = rehearse([wf], Event("declared", {"number": 1, "title": "t", "severity": 1}, {}, None))
    assert any("plan `/restart`: plan only, waits for Confirm" in line for line in lines), lines


def test_plug_in_playbooks_are_known_when_named():
    text = "workflows:\n- name: a\n  on: declared\n  steps: [{plan_playbook: cdn-purge}]\n"
    with pytest.raises(WorkflowFileError):
        load_text(text, "f")
    (wf,) = load_text(text, "f", playbooks={"cdn-purge": True})
    assert wf.steps[0].args["playbook"] == "cdn-purge"


def test_several_files_are_one_set_and_their_problems_come_together(tmp_path):
    a, b, c = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    a.write_text("workflows:\n- name: same\n  on: declared\n  steps: [{wait: 1m}]\n")
    b.write_text("workflows:\n- name: other\n  on: declared\n  steps: [{wait: 1m}]\n")
    assert [wf.name for wf in load_files([a, b])] == ["same", "other"]
    c.write_text("workflows:\n- name: same\n  on: declared\n  steps: [{wiat: 1m}]\n")
    with pytest.raises(WorkflowFileError) as caught:
        load_files([a, c, tmp_path / "missing.yaml"])
    said = [str(p) for p in caught.value.problems]
    assert f"{c}:4: unknown step `wiat` (did you mean `wait`?)" in said
    assert any(s.startswith(f"{tmp_path / 'missing.yaml'}:0: cannot read the file") for s in said)


def test_problem_prints_as_file_line_message():
    assert str(Problem("team.yaml", 12, "unknown step `x`")) == "team.yaml:12: unknown step `x`"


def test_durations():
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "1h30m", "1d")] == [90, 1800, 7200, 5400, 86400]
    assert parse_duration("update_nudge") is None
    for bad in ("", "30", "m", "half an hour", "-5m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_default_file_loads_and_validates():
    workflows = default_workflows()
    assert {wf.trigger for wf in workflows} == {"declared", "severity_changed", "no_update", "state_changed"}
    assert all(wf.source == "playbooks/data/workflows.default.yaml" and wf.enabled for wf in workflows)


def test_the_vocabulary_tables_cover_the_contract():
    assert set(STEP_FIELDS) == STEP_KINDS
    assert set(TRIGGER_ARGS) == TRIGGERS
    assert "severity" in CONDITIONS


# -- properties ------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(blank=st.integers(0, 30), comments=st.integers(0, 5), position=st.integers(0, 3))
def test_the_line_follows_the_mistake_wherever_it_moves(blank, comments, position):
    """Padding the file before a misspelt step moves the reported line by exactly the padding."""
    steps = ["      - wait: 1m"] * 4
    steps[position] = "      - pgae: default"
    head = ["workflows:", *["# a comment"] * comments, *[""] * blank, "  - name: a", "    on: declared", "    steps:"]
    text = "\n".join(head + steps) + "\n"
    (found,) = problems(text)
    assert found == f"team.yaml:{len(head) + position + 1}: unknown step `pgae` (did you mean `page`?)"


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=15)


@settings(max_examples=80, deadline=None)
@given(word=_word)
def test_any_unknown_step_kind_is_refused_with_its_line(word):
    text = f"workflows:\n  - name: a\n    on: declared\n    steps:\n      - {word}: x\n"
    if word in STEP_KINDS:
        return
    found = problems(text)
    assert found[0].startswith(f"team.yaml:5: unknown step `{word}`"), found


@settings(max_examples=80, deadline=None)
@given(word=_word)
def test_any_unknown_trigger_is_refused_with_its_line(word):
    if word in TRIGGERS:
        return
    found = problems(f"workflows:\n  - name: a\n    on: {word}\n    steps: [{{wait: 1m}}]\n")
    assert found[0].startswith(f"team.yaml:3: unknown trigger `{word}`"), found


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_either_loads_or_says_file_line_problems(text):
    """Nothing a person types makes the loader crash: it loads, or raises WorkflowFileError with lines."""
    try:
        load_text(text, "team.yaml")
    except WorkflowFileError as exc:
        assert exc.problems and all(str(p).startswith("team.yaml:") and p.message for p in exc.problems)
