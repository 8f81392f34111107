"""Templates in workflow steps, rendered in a sandbox that reads the event's fields and nothing else.

Jinja2's sandbox already refuses `_`-prefixed attributes (`{{ ''.__class__ }}`); this one goes further: a dot or a
subscript only reads a key of the plain mappings the event is turned into, so `{{ incident.title.upper() }}`,
`{{ incident.items() }}` and `{{ x.__class__ }}` are all refused, there are no globals (no `range`, `cycler`,
`namespace`), only a short list of filters, `**` and `*` are refused (`{{ 9**9**9 }}` would hang a worker), and
the output is cut at MAX_OUTPUT characters. A template is checked at load: its syntax, and that each variable and
field it names exists under its workflow's trigger (`variables`, `namespace_fields`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from playbooks.workflows.model import INCIDENT_FIELDS, Event

MAX_OUTPUT = 3000  # one Slack section holds 3,000 characters
SAFE_FILTERS = ("capitalize", "default", "d", "first", "int", "join", "last", "length", "lower", "replace", "round",
                "sort", "string", "title", "trim", "truncate", "unique", "upper", "wordcount", "count")

# What a template may name under each trigger: a variable and its fields. `incident` and `now` always.
_BY_TRIGGER: Mapping[str, Mapping[str, frozenset[str]]] = {
    "severity_changed": {"change": frozenset({"old", "new", "direction"})},
    "state_changed": {"change": frozenset({"old", "new"})},
    "role_assigned": {"role": frozenset({"name", "person"})},
    "alert_received": {"alert": frozenset({"source", "title", "text", "labels"})},
    "no_update": {"silence": frozenset({"minutes"})},
    "postmortem_due": {"postmortem": frozenset({"due", "overdue"})},
    "playbook_finished": {"playbook": frozenset({"name", "outcome"})},
}
# Which trigger gives each variable, for the refusal that says why a template cannot fire.
GIVEN_BY: Mapping[str, tuple[str, ...]] = {
    name: tuple(sorted(t for t, given in _BY_TRIGGER.items() if name in given))
    for name in {n for given in _BY_TRIGGER.values() for n in given}
}
INCIDENT_TEMPLATE_FIELDS = INCIDENT_FIELDS | {"sev"}


class TemplateRefused(ValueError):
    """A template that does not render: a syntax error, a field that is not there, or a sandbox refusal."""


def namespace_fields(trigger: str) -> dict[str, frozenset[str] | None]:
    """Variable -> its fields (None: a plain value) that templates may read under `trigger`."""
    fields: dict[str, frozenset[str] | None] = {"incident": INCIDENT_TEMPLATE_FIELDS, "now": None}
    fields.update(_BY_TRIGGER.get(trigger, {}))
    return fields


class _FieldsOnly(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"**", "*"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return self.unsafe_undefined(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping) and isinstance(argument, str) and argument in obj:
            return obj[argument]
        if isinstance(obj, (list, tuple)) and isinstance(argument, int) and -len(obj) <= argument < len(obj):
            return obj[argument]
        return self.unsafe_undefined(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        raise SecurityError(f"the `{operator}` operator is not allowed in workflow templates")


def _environment() -> _FieldsOnly:
    env = _FieldsOnly(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in SAFE_FILTERS if name in env.filters}
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number", "string", "in",
                                                    "eq", "ne", "lt", "le", "gt", "ge") if name in env.tests}
    return env


_ENV = _environment()


def _plain(value: Any) -> Any:
    """Only str, int, float, bool, None, tuples and string-keyed mappings of those reach a template."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_plain(v) for v in value)
    return str(value)


def namespace(event: Event) -> dict[str, Any]:
    """The event as the plain values a template reads (namespace_fields says which exist per trigger)."""
    d = event.detail
    values: dict[str, Any] = {"now": _plain(event.at or datetime.now(UTC))}
    if event.incident:  # an alert that has joined no incident: `incident` is absent, not a row of blanks
        incident = {name: _plain(event.incident.get(name)) for name in INCIDENT_FIELDS}
        incident["components"] = incident["components"] or ()
        severity = event.incident.get("severity")
        incident["sev"] = f"SEV{severity}" if severity else ""
        values["incident"] = incident
    if event.trigger == "severity_changed":
        values["change"] = {"old": d.get("old_severity"), "new": d.get("new_severity"), "direction": d.get("direction")}
    elif event.trigger == "state_changed":
        values["change"] = {"old": d.get("old_state"), "new": d.get("new_state")}
    elif event.trigger == "role_assigned":
        values["role"] = {"name": d.get("role"), "person": d.get("person")}
    elif event.trigger == "alert_received":
        values["alert"] = {"source": d.get("alert_source"), "title": d.get("alert_title"),
                           "text": d.get("alert_text"),
                           "labels": _plain(d["alert_labels"]) if isinstance(d.get("alert_labels"), Mapping) else {}}
    elif event.trigger == "no_update":
        values["silence"] = {"minutes": d.get("minutes")}
    elif event.trigger == "postmortem_due":
        values["postmortem"] = {"due": _plain(d.get("due")), "overdue": bool(d.get("overdue"))}
    elif event.trigger == "playbook_finished":
        values["playbook"] = {"name": d.get("playbook"), "outcome": d.get("outcome")}
    return values


def render(template: str, event: Event) -> str:
    """The text for `event`; TemplateRefused says why not (never a Python traceback into a channel).

    Under `alert_received` before the alert joins an incident there are no incident fields: a template naming
    `incident` is refused in words (rendering it would print blanks, "SEV: “”", in #support)."""
    if not event.incident:
        named = sorted({f"incident.{f}" for v, f, _ in variables(template)[1] if v == "incident"})
        if named:  # `{% if incident is defined %}` is fine: only a field read is refused
            raise TemplateRefused(f"no incident yet: the template reads {', '.join(named)}, and the alert has "
                                  "joined no incident (add a condition such as `state: open` under `when:` to "
                                  "wait until it does)")
    try:
        text = _ENV.from_string(template).render(namespace(event))
    except SecurityError as exc:
        raise TemplateRefused(f"refused by the sandbox: {exc}") from None
    except TemplateError as exc:
        raise TemplateRefused(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise TemplateRefused(f"{type(exc).__name__}: {exc}") from None
    return text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 1] + "…"


def variables(template: str) -> tuple[set[str], set[tuple[str, str, int]]]:
    """(the free variables, the (variable, field, line) pairs read as `var.field` or `var['field']`).

    Raises TemplateRefused on a syntax error. Loop variables and `{% set %}` names are not free."""
    try:
        tree = _ENV.parse(template)
    except TemplateError as exc:
        line = getattr(exc, "lineno", 1) or 1
        raise TemplateRefused(f"template syntax, its line {line}: {getattr(exc, 'message', None) or exc}") from None
    free = meta.find_undeclared_variables(tree)
    reads: set[tuple[str, str, int]] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node
        if isinstance(base, nodes.Name) and base.name in free:
            if isinstance(node, nodes.Getattr):
                reads.add((base.name, node.attr, node.lineno))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                reads.add((base.name, node.arg.value, node.lineno))
    return set(free), reads
