"""Reading workflow files: YAML with line numbers, validated against playbooks.workflows.schema.

Every problem is collected (not only the first) and named `file:line: problem`; a file with any problem loads
nothing (WorkflowFileError), so the runner keeps its last good set. The YAML is composed, not loaded, with
PyYAML's SafeLoader: the nodes keep their marks, and keys are read as written, so `on:` stays the word `on`
(YAML 1.1 would make it `True`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from playbooks.workflows import schema
from playbooks.workflows.conditions import DAYS, parse_clock_range
from playbooks.workflows.model import STEP_KINDS, TRIGGERS, Problem, Step, Workflow, WorkflowFileError
from playbooks.workflows.template import GIVEN_BY, TemplateRefused, namespace_fields, variables

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "data" / "workflows.default.yaml"
WORKFLOW_FIELDS = ("name", "on", "when", "steps", "enabled", "description")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_CLOCK_RANGE = re.compile(r"^\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2}\s*$")


def parse_duration(text: str) -> int | None:
    """Seconds in `90s`, `30m`, `2h`, `1h30m`, `1d`; None for a named duration (schema.NAMED_DURATIONS), which the
    runner reads from settings. ValueError for anything else."""
    if text in schema.NAMED_DURATIONS:
        return None
    found = _DURATION.match(str(text))
    if not found or not any(found.groups()):
        raise ValueError(f"`{text}` is not a duration: write 90s, 30m, 2h, 1h30m or 1d, or one of "
                         f"{', '.join(schema.NAMED_DURATIONS)}")
    days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _suggest(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean `{close[0]}`?)" if close else f" (known: {', '.join(sorted(known))})"


class _Reader:
    """One file: turns nodes into values and problems into the list, with the node's line."""

    def __init__(self, text: str, source: str, playbooks: Mapping[str, bool]):
        self.source = source
        self.problems: list[Problem] = []
        self.playbooks = playbooks
        self._text = text
        self._constructor: yaml.SafeLoader | None = None

    def problem(self, node: yaml.Node | int, message: str) -> None:
        line = node if isinstance(node, int) else node.start_mark.line + 1
        self.problems.append(Problem(self.source, line, message))

    def root(self) -> yaml.Node | None:
        try:
            self._constructor = yaml.SafeLoader(self._text)
            return self._constructor.get_single_node()
        except yaml.reader.ReaderError as exc:
            line = self._text.count("\n", 0, max(exc.position, 0)) + 1
            self.problem(line, f"not valid YAML: the character U+{exc.character:04X} is not allowed in YAML text")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.problem((mark.line + 1) if mark else 1, f"not valid YAML: {exc.problem or exc}")
        except yaml.YAMLError as exc:
            self.problem(1, f"not valid YAML: {exc}")
        return None

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} should be a mapping (`key: value` lines)")
            return None
        pairs, seen = [], set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                self.problem(key, f"`{name}` is given twice in {what}")
                continue
            seen.add(name)
            pairs.append((name, key, value))
        return pairs

    # -- the file ----------------------------------------------------------------------------------------
    def workflows(self) -> list[Workflow]:
        root = self.root()
        if root is None:
            if not self.problems:
                self.problem(1, "the file is empty: write `workflows:` and a list of workflows")
            return []
        items = root
        if isinstance(root, yaml.MappingNode):
            pairs = self.mapping(root, "the file") or []
            items = None
            for name, key, value in pairs:
                if name == "workflows":
                    items = value
                else:
                    self.problem(key, f"unknown top-level field `{name}`: the file has `workflows:` only")
            if items is None:
                self.problem(root, "no `workflows:` list in the file")
                return []
        if not isinstance(items, yaml.SequenceNode):
            self.problem(items, "`workflows:` should be a list (lines starting with `- name: ...`)")
            return []
        found = [self.workflow(node) for node in items.value]
        return [wf for wf in found if wf is not None]

    def workflow(self, node: yaml.Node) -> Workflow | None:
        pairs = self.mapping(node, "a workflow")
        if pairs is None:
            return None
        before = len(self.problems)
        fields = {name: (key, value) for name, key, value in pairs}
        for name, key, _value in pairs:
            if name not in WORKFLOW_FIELDS:
                self.problem(key, f"unknown field `{name}` in a workflow{_suggest(name, WORKFLOW_FIELDS)}")
        name = ""
        if "name" not in fields:
            self.problem(node, "a workflow needs a `name:`")
        else:
            name = self.value(fields["name"][1])
            if not isinstance(name, str) or not name.strip():
                self.problem(fields["name"][1], "`name:` should be some text")
                name = ""
        trigger, trigger_args = "", {}
        if "on" not in fields:
            self.problem(node, f"workflow `{name}` needs `on:` (its trigger: {', '.join(sorted(TRIGGERS))})")
        else:
            trigger, trigger_args = self.trigger(fields["on"][1])
        conditions: dict[str, Any] = {}
        if "when" in fields:
            conditions = self.conditions(fields["when"][1], trigger, "`when:`")
        enabled = True
        if "enabled" in fields:
            enabled = self.value(fields["enabled"][1])
            if not isinstance(enabled, bool):
                self.problem(fields["enabled"][1], "`enabled:` is true or false")
                enabled = True
        steps: list[Step] = []
        if "steps" not in fields:
            self.problem(node, f"workflow `{name}` has no `steps:`")
        elif not isinstance(fields["steps"][1], yaml.SequenceNode) or not fields["steps"][1].value:
            self.problem(fields["steps"][1], "`steps:` should be a list with at least one step (`- post: ...`)")
        else:
            for index, step_node in enumerate(fields["steps"][1].value):
                step = self.step(step_node, index, trigger)
                if step is not None:
                    steps.append(step)
        if len(self.problems) > before:
            return None
        return Workflow(name=name.strip(), trigger=trigger, trigger_args=MappingProxyType(trigger_args),
                        conditions=MappingProxyType(conditions), steps=tuple(steps), source=self.source,
                        line=node.start_mark.line + 1, enabled=enabled)

    def trigger(self, node: yaml.Node) -> tuple[str, dict[str, Any]]:
        if isinstance(node, yaml.ScalarNode):
            word, args_node = str(node.value), None
        elif isinstance(node, yaml.MappingNode) and len(node.value) == 1:
            word, args_node = str(node.value[0][0].value), node.value[0][1]
        else:
            self.problem(node, "`on:` is one trigger: `on: declared`, or with arguments "
                               "`on: {severity_changed: {direction: up}}`")
            return "", {}
        if word not in TRIGGERS:
            self.problem(node, f"unknown trigger `{word}`{_suggest(word, sorted(TRIGGERS))}")
            return "", {}
        specs = schema.TRIGGER_ARGS[word]
        args: dict[str, Any] = {}
        if args_node is not None and not (isinstance(args_node, yaml.ScalarNode) and args_node.value in ("", "~")):
            args = self.fields(args_node, specs, f"trigger {word}", word)
        for field, spec in specs.items():
            if spec.required and field not in args and not any(p.line > node.start_mark.line for p in self.problems):
                self.problem(node, f"trigger {word} needs `{field}:` ({spec.help}), e.g. "
                                   f"`on: {{{word}: {{{field}: 30m}}}}`")
        return word, args

    def fields(self, node: yaml.Node, specs: Mapping[str, schema.FieldSpec], what: str, trigger: str) -> dict[str, Any]:
        pairs = self.mapping(node, what)
        if pairs is None:
            return {}
        out: dict[str, Any] = {}
        for name, key, value in pairs:
            if name not in specs:
                self.problem(key, f"unknown field `{name}` in {what}{_suggest(name, list(specs))}")
                continue
            ok, parsed = self.field(value, specs[name], f"`{name}` of {what}", trigger)
            if ok:
                out[name] = parsed
        return out

    def field(self, node: yaml.Node, spec: schema.FieldSpec, what: str, trigger: str) -> tuple[bool, Any]:
        kind = spec.kind
        if kind == "conditions":
            return True, MappingProxyType(self.conditions(node, trigger, what, unless=True))
        if kind == "severity":
            return self.severity(node, what)
        value = self.value(node)
        if kind in ("text", "template", "regex", "duration", "choice"):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and kind in ("text", "choice"):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                hint = " (durations are text: 30m, 2h)" if kind == "duration" else ""
                self.problem(node, f"{what} should be some text{hint}")
                return False, None
        if kind == "template":
            return self.template(node, value, what, trigger), value
        if kind == "regex":
            try:
                re.compile(value, re.IGNORECASE)
            except re.error as exc:
                self.problem(node, f"{what} is not a regular expression: {exc}")
                return False, None
            return True, value
        if kind == "duration":
            try:
                parse_duration(value)
            except ValueError as exc:
                self.problem(node, f"{what}: {exc}")
                return False, None
            return True, value.strip()
        if kind == "choice":
            if value not in spec.choices:
                self.problem(node, f"{what} is one of {', '.join(spec.choices)}, not `{value}`")
                return False, None
            return True, value
        if kind == "bool":
            if not isinstance(value, bool):
                self.problem(node, f"{what} is true or false")
                return False, None
            return True, value
        if kind == "names":
            items = value if isinstance(value, list) else [value]
            if not items or not all(isinstance(v, (str, int)) and str(v).strip() for v in items):
                self.problem(node, f"{what} should be a name or a list of names")
                return False, None
            return True, tuple(str(v).strip() for v in items)
        if kind == "mapping":
            if not isinstance(value, dict) or not all(isinstance(v, (str, int, float, bool)) for v in value.values()):
                self.problem(node, f"{what} should be `key: value` pairs")
                return False, None
            return True, MappingProxyType({str(k): str(v) for k, v in value.items()})
        return True, value.strip() if isinstance(value, str) else value

    def severity(self, node: yaml.Node, what: str) -> tuple[bool, Any]:
        value = self.value(node)
        levels = (1, 2, 3, 4)
        hint = "a severity is 1-4, a list `[1, 2]`, or `{at_least: 2}` / `{at_most: 3}` / `{in: [1, 2]}`"
        if isinstance(value, str) and re.fullmatch(r"(?i)sev\s*[1-4]", value.strip()):
            value = int(value.strip()[-1])
        if isinstance(value, int) and not isinstance(value, bool):
            if value in levels:
                return True, value
        elif isinstance(value, list) and value and all(v in levels and not isinstance(v, bool) for v in value):
            return True, tuple(value)
        elif isinstance(value, dict) and value and set(value) <= {"at_least", "at_most", "in"}:
            good = all(value[k] in levels for k in ("at_least", "at_most") if k in value)
            if "in" in value:
                good = good and isinstance(value["in"], list) and all(v in levels for v in value["in"])
                value = {**value, "in": tuple(value["in"]) if isinstance(value["in"], list) else value["in"]}
            if good:
                return True, MappingProxyType(value)
        self.problem(node, f"{what}: {hint}")
        return False, None

    def template(self, node: yaml.Node, text: str, what: str, trigger: str) -> bool:
        try:
            free, reads = variables(text)
        except TemplateRefused as exc:
            self.problem(node, f"{what}: {exc}")
            return False
        allowed = namespace_fields(trigger) if trigger else namespace_fields("declared")
        ok = True
        for name in sorted(free):
            if name in allowed:
                continue
            ok = False
            if name in GIVEN_BY:
                self.problem(node, f"{what}: `{{{{ {name} }}}}` cannot fire under {trigger or 'this trigger'}: only "
                                   f"{' and '.join(GIVEN_BY[name])} events carry it")
            else:
                self.problem(node, f"{what}: unknown template variable `{name}`{_suggest(name, list(allowed))}")
        for name, field, _line in sorted(reads):
            fields = allowed.get(name)
            if name in allowed and (fields is None or field not in fields):
                ok = False
                known = sorted(fields) if fields else []
                self.problem(node, f"{what}: unknown template variable `{name}.{field}`" +
                             (_suggest(field, known) if known else f" (`{name}` has no fields)"))
        return ok

    def conditions(self, node: yaml.Node, trigger: str, what: str, unless: bool = False) -> dict[str, Any]:
        pairs = self.mapping(node, what)
        if pairs is None:
            return {}
        out: dict[str, Any] = {}
        for name, key, value in pairs:
            spec = schema.CONDITIONS.get(name)
            if spec is None:
                self.problem(key, f"unknown condition `{name}` in {what}{_suggest(name, list(schema.CONDITIONS))}")
                continue
            if name == "updated" and not unless:
                self.problem(key, "`updated` is read when a reminder is due: it belongs in a remind step's `unless:`")
                continue
            if name in schema.ALERT_CONDITIONS and trigger and trigger != "alert_received":
                self.problem(key, f"`{name}` can never hold under {trigger}: only alert_received events carry an "
                                  "alert")
                continue
            ok, parsed = self.field(value, spec, f"condition `{name}`", trigger)
            if not ok:
                continue
            if name == "timezone":
                try:
                    ZoneInfo(parsed)
                except (ZoneInfoNotFoundError, ValueError):
                    self.problem(value, f"unknown time zone `{parsed}`: an IANA name like Europe/Paris or "
                                        "America/New_York")
                    continue
            if name == "time_of_day":
                try:
                    if not _CLOCK_RANGE.match(parsed):
                        raise ValueError
                    parse_clock_range(parsed)
                except ValueError:
                    self.problem(value, f"time_of_day `{parsed}` should be HH:MM-HH:MM, e.g. 09:00-17:00")
                    continue
            if name == "days":
                bad = [d for d in parsed if d.lower()[:3] not in DAYS]
                if bad:
                    self.problem(value, f"`{bad[0]}` is not a weekday: mon, tue, wed, thu, fri, sat, sun")
                    continue
            out[name] = parsed
        return out

    def step(self, node: yaml.Node, index: int, trigger: str) -> Step | None:
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            self.problem(node, f"a step is one `kind: fields` line, the kind one of {', '.join(sorted(STEP_KINDS))}")
            return None
        key, body = node.value[0]
        kind = str(key.value)
        if kind not in STEP_KINDS:
            self.problem(key, f"unknown step `{kind}`{_suggest(kind, sorted(STEP_KINDS))}")
            return None
        specs = schema.STEP_FIELDS[kind]
        before = len(self.problems)
        if isinstance(body, yaml.ScalarNode) and kind in schema.SHORTHAND:
            field = schema.SHORTHAND[kind]
            ok, parsed = self.field(body, specs[field], f"`{field}` of step {kind}", trigger)
            args = {field: parsed} if ok else {}
        elif isinstance(body, yaml.MappingNode):
            args = self.fields(body, specs, f"step {kind}", trigger)
        else:
            short = f", or `- {kind}: <{schema.SHORTHAND[kind]}>`" if kind in schema.SHORTHAND else ""
            self.problem(body, f"step {kind} wants its fields as a mapping: `- {kind}: {{...}}`{short}")
            return None
        for field, spec in specs.items():
            if spec.required and field not in args and len(self.problems) == before:
                self.problem(node, f"step {kind} needs `{field}:` ({spec.help})")
        if kind == "page" and not ({"policy", "person"} & set(args)) and len(self.problems) == before:
            self.problem(node, "step page needs `policy:` (an escalation policy, or `default`) or `person:`")
        if kind == "page" and {"policy", "person"} <= set(args):
            self.problem(node, "step page takes `policy:` or `person:`, not both")
        if kind == "invite" and not ({"people", "groups"} & set(args)) and len(self.problems) == before:
            self.problem(node, "step invite needs `people:` or `groups:`")
        wanted = args.get("playbook")
        if kind == "plan_playbook" and wanted and wanted not in self.playbooks:
            self.problem(body, f"unknown playbook `{wanted}`{_suggest(wanted, list(self.playbooks))}")
        channel = args.get("channel")
        if kind == "post" and channel and not (channel == "incident" or channel.startswith("#")):
            self.problem(body, f"step post: channel is `#name` or `incident`, not `{args['channel']}`")
        if len(self.problems) > before:
            return None
        return Step(kind=kind, args=MappingProxyType(args), line=node.start_mark.line + 1, index=index)


def _duplicates(workflows: Sequence[Workflow]) -> list[Problem]:
    seen: dict[str, Workflow] = {}
    problems = []
    for wf in workflows:
        if wf.name in seen:
            problems.append(Problem(wf.source, wf.line, f"a workflow named `{wf.name}` is already at "
                                                        f"{seen[wf.name].where}: names must be unique (runs are "
                                                        "counted by name)"))
        else:
            seen[wf.name] = wf
    return problems


def _parse(text: str, source: str, playbooks: Mapping[str, bool] | None) -> tuple[list[Workflow], list[Problem]]:
    reader = _Reader(text, source, {**schema.KNOWN_PLAYBOOKS, **(playbooks or {})})
    workflows = reader.workflows()
    return workflows, reader.problems


def load_text(text: str, source: str, *, playbooks: Mapping[str, bool] | None = None) -> tuple[Workflow, ...]:
    """The workflows in `text` (named `source` in problems); WorkflowFileError lists every problem.

    `playbooks`: plug-in playbooks' names -> destructive, on top of the built-ins (schema.KNOWN_PLAYBOOKS)."""
    workflows, problems = _parse(text, source, playbooks)
    problems += _duplicates(workflows)
    if problems:
        raise WorkflowFileError(problems)
    return tuple(workflows)


def load_files(paths: Sequence[str | Path], *, playbooks: Mapping[str, bool] | None = None) -> tuple[Workflow, ...]:
    """Several files as one set (names unique across them); every file's problems in one WorkflowFileError."""
    workflows: list[Workflow] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 0, f"cannot read the file: {exc.strerror or exc}"
                                    if isinstance(exc, OSError) else f"not UTF-8 text: {exc}"))
            continue
        found, trouble = _parse(text, str(path), playbooks)
        workflows += found
        problems += trouble
    problems += _duplicates(workflows)
    if problems:
        raise WorkflowFileError(problems)
    return tuple(workflows)


@lru_cache(maxsize=1)
def default_workflows() -> tuple[Workflow, ...]:
    """Today's behaviour as a workflow file (playbooks/data/workflows.default.yaml): what runs with no team file."""
    return load_text(DEFAULT_FILE.read_text(encoding="utf-8"), "playbooks/data/workflows.default.yaml")
