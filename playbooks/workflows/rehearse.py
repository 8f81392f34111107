"""What would run for an event, step by step, in plain lines, touching nothing.

`fireline workflows test` and the console's rehearsal print these; the runner's `/incident workflows` reuses
`describe_step` so a rehearsal and a real run say a step in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from playbooks.workflows import schema
from playbooks.workflows.conditions import why_not
from playbooks.workflows.model import MAX_DEPTH, Event, Step, Workflow
from playbooks.workflows.template import TemplateRefused, render


SAMPLE_TITLE = "Checkout returns 502 for every request"
SAMPLE_PERSON = "Dana Scully"


def sample_incident(number: int = 1, title: str = SAMPLE_TITLE, severity: int = 1, state: str = "investigating",
                    private: bool = False, components: Iterable[str] = (), declared_by: str = SAMPLE_PERSON,
                    lead: str = SAMPLE_PERSON, acknowledged: bool = False,
                    status_published: bool = False) -> dict[str, object]:
    """The incident fields a rehearsal renders when there is no real incident: every field filled, so a
    template reads as it will live. The console's sample once left the person, the channel and the number
    empty, and its rehearsal said "SEV1 declared by : ... Follow it in #;" and "#None"."""
    return {"number": number, "title": title, "severity": severity, "state": state, "private": private,
            "components": [c for c in components if c], "declared_by": declared_by, "lead": lead,
            "channel": f"inc-{number}", "acknowledged": acknowledged, "status_published": status_published}


def _text(template: str, event: Event) -> str:
    try:
        return f"“{render(template, event)}”"
    except TemplateRefused as exc:
        return f"(its template does not render: {exc})"


_SHORT = {"response_target": "the response target (SEV1-2: 15 min, SEV3: 4 hours, or SEV_RESPONSE_MINUTES)",
          "update_nudge": "UPDATE_NUDGE_MINUTES (30 min unless set)"}


def _after(value: str) -> str:
    return _SHORT.get(value, value)


def describe_step(step: Step, event: Event, playbooks: Mapping[str, bool] | None = None) -> str:
    """One step in words, its templates rendered for `event`."""
    a = step.args
    known = {**schema.KNOWN_PLAYBOOKS, **(playbooks or {})}
    if step.kind == "page":
        who = f"{a['person']}" if "person" in a else \
            ("the configured escalation policy" if a["policy"] == "default" else f"escalation policy {a['policy']}")
        severity = event.incident.get("severity")
        urgency = a.get("urgency") or ("high" if isinstance(severity, int) and severity <= 2 else "low")
        more = f"; unacknowledged after {_after(a['escalate_after'])}: the next level" if "escalate_after" in a else ""
        title = f", titled {_text(a['message'], event)}" if "message" in a else ""
        return f"page {who} in PagerDuty ({urgency} urgency){title}{more}"
    if step.kind == "invite":
        who = [*a.get("people", ()), *(f"the user group {g}" for g in a.get("groups", ()))]
        return f"invite {', '.join(who)} to the incident channel"
    if step.kind == "post":
        where = "the incident channel" if a["channel"] == "incident" else a["channel"]
        return f"post in {where}: {_text(a['text'], event)}"
    if step.kind == "draft_status":
        parts = [f"components {', '.join(a['components'])}" if "components" in a else "the incident's components"]
        if "status" in a:
            parts.append(f"status {a['status']}")
        parts.append(f"stage {a.get('stage', 'investigating')}")
        text = f", text {_text(a['text'], event)}" if "text" in a else ""
        return f"draft a status page update ({', '.join(parts)}){text}: published only after a person confirms"
    if step.kind == "plan_playbook":
        name = a["playbook"]
        words = f"`/{name}{' ' + a['args'] if a.get('args') else ''}`"
        if name == "providers":
            return "read the providers' status pages and say in the incident channel if one is not fine"
        if known.get(name, True):
            return f"plan {words}: plan only, waits for Confirm by an authorised person (destructive)"
        return f"run {words} (reads only, changes nothing)"
    if step.kind == "set_role":
        return f"make {a['person']} the {a['role']}"
    if step.kind == "add_followup":
        owner = f" (owner {a['owner']})" if "owner" in a else ""
        return f"add the follow-up {_text(a['text'], event)}{owner}"
    if step.kind == "remind":
        when = f" after {_after(a['after'])}" if "after" in a else ""
        unless = ""
        if "unless" in a:
            unless = " unless " + ", ".join(f"{k}: {_plain(v)}" for k, v in a["unless"].items())
        return f"remind {a.get('to', 'lead')}{when}{unless}: {_text(a['text'], event)}"
    if step.kind == "escalate":
        why = f": {_text(a['text'], event)}" if "text" in a else ""
        return f"escalate to the {a['area']} contact (and page its PagerDuty policy, if it has one){why}"
    if step.kind == "bookmark":
        return f"bookmark {_text(a['title'], event)} -> {_text(a['url'], event)}"
    if step.kind == "wait":
        unless = ""
        if "unless" in a:
            unless = "; then stop if " + ", ".join(f"{k}: {_plain(v)}" for k, v in a["unless"].items())
        return f"wait {a['for']}{unless}; the steps below run after it"
    return step.kind


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe_event(event: Event) -> str:
    inc = event.incident
    at = (event.at or datetime.now(UTC))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    severity = inc.get("severity")
    label = f"SEV{severity}" if severity else "an incident"
    title = f" “{inc['title']}”" if inc.get("title") else ""
    private = "private" if inc.get("private") else "public"
    detail = ", ".join(f"{k} {_plain(v)}" for k, v in event.detail.items() if v not in (None, "", {}, ()))
    return (f"Event: {event.trigger} on {label}{title} ({private}), {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            + (f"; {detail}" if detail else ""))


def rehearse(workflows: Iterable[Workflow], event: Event, playbooks: Mapping[str, bool] | None = None) -> list[str]:
    """Each workflow: runs (its steps, numbered) or does not (the first reason). Sends nothing, stores nothing."""
    lines = [describe_event(event)]
    if event.depth >= MAX_DEPTH:
        lines.append(f"Nothing runs: this event was caused by workflows {event.depth} deep (the limit is {MAX_DEPTH}).")
        return lines
    ran = other = 0
    for wf in workflows:
        if wf.trigger != event.trigger:
            other += 1
            continue
        reason = why_not(wf, event)
        if reason:
            lines.append(f"- {wf.name} ({wf.where}) does not run: {reason}.")
            continue
        ran += 1
        lines.append(f"- {wf.name} ({wf.where}) runs:")
        for step in wf.steps:
            lines.append(f"    {step.index + 1}. {describe_step(step, event, playbooks)}  [line {step.line}]")
    if other:
        lines.append(f"({other} workflow{'s' if other != 1 else ''} with other triggers left out.)")
    lines.append(f"{ran} workflow{'s' if ran != 1 else ''} would run. This was a rehearsal: nothing was sent.")
    return lines
