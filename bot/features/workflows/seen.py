"""Workflows, seen: the console's live rehearsal for the incident at hand (`:workflows test declared sev1`).

The runner (`runner`, `feature`) does; this module only shows. A rehearsal builds the same `Event` the runner
would build for the current incident (its real fields, read, never written), changes what the words ask
(a severity, a state, a role...), and prints `playbooks.workflows.rehearse` of the workflows in force: nothing
is claimed, queued, sent or recorded (tests/features/workflows/test_seen.py counts the rows before and after).
"""

from __future__ import annotations

from typing import Any

from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.reply import Reply, escape
from bot.service import lookups
from bot.features.workflows import loading
from bot.features.workflows.events import make_event
from playbooks.workflows import TRIGGERS, Event, rehearse, sample_incident

USAGE = "`:workflows test <trigger> [sev1-4] [key=value ...]`, e.g. `:workflows test declared sev1`"

# What each trigger's detail holds when the words do not say (the same defaults as `fireline workflows test`).
DEFAULT_DETAIL: dict[str, dict[str, Any]] = {
    "severity_changed": {},
    "state_changed": {"new_state": "resolved"},
    "role_assigned": {"role": "lead", "person": "someone"},
    "alert_received": {"alert_source": "console", "alert_title": "", "alert_text": "", "alert_labels": {}},
    "no_update": {"minutes": 30},
    "postmortem_due": {"due": "", "overdue": False},
    "playbook_finished": {"playbook": "diagnose", "outcome": "done"},
}


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    return int(text) if text.isdigit() else text


def event_for(ctx: Context, words: list[str]) -> tuple[Event, bool]:
    """The event the words describe, on the incident of the channel the console is in (else a sample one, and
    True)."""
    if not words or words[0] not in TRIGGERS:
        raise UserError(f"Which trigger? {USAGE}.", "Triggers: " + ", ".join(sorted(TRIGGERS)) + ".")
    trigger, rest = words[0], words[1:]
    with ctx.session() as session:
        incident = lookups.named_incident(ctx, session, None, None)
        if incident is not None:
            session.expunge(incident)
    base = make_event(ctx, trigger, incident, depth=0) if incident is not None else None
    fields: dict[str, Any] = dict(base.incident) if base is not None else sample_incident(severity=2)
    detail = dict(DEFAULT_DETAIL.get(trigger, {}))
    for word in rest:
        low = word.lower()
        if low.startswith("sev") and low[3:].isdigit() and 1 <= int(low[3:]) <= 4:
            fields["severity"] = int(low[3:])
        elif low == "private":
            fields["private"] = True
        elif "=" in word:
            key, _, value = word.partition("=")
            if key in fields:
                fields[key] = [c for c in value.split(",") if c] if key == "components" else _value(value)
            else:
                detail[key] = _value(value)
        else:
            raise UserError(f"`{escape(word[:40])}` is not sevN, `private` or key=value.", USAGE)
    if trigger == "severity_changed":
        new = int(detail.get("new_severity") or fields["severity"])
        old = int(detail.get("old_severity") or (new + 1 if new < 4 else 3))
        detail.update(new_severity=new, old_severity=old, direction="up" if new < old else "down")
        fields["severity"] = new
    if trigger == "state_changed":
        detail.setdefault("old_state", fields.get("state") or "investigating")
        fields["state"] = detail["new_state"]
    return Event(trigger, fields, detail, ctx.now(), 0), base is None


def rehearse_here(ctx: Context, text: str) -> Reply:
    """`:workflows test ...` in the console: what the workflows in force would do now, touching nothing."""
    words = text.split()
    if words[:1] == ["test"]:
        words = words[1:]
    event, sample = event_for(ctx, words)
    held = loading.current(ctx.app)
    lines = rehearse(held.enabled(), event, loading.known_playbooks(ctx.app.registry))
    where = "a sample incident (no incident here)" if sample else f"#{event.incident['number']}"
    footer = f"Workflows in force: {held.source}" + (f" ({held.problem})" if held.problem else "")
    return Reply(f"*Rehearsal on {escape(where)}*", lines=[escape(line) for line in lines], footer=escape(footer))
