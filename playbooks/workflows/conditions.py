"""Does a workflow run for an event: its trigger, the trigger's arguments, then its conditions, in that order.

`why_not` answers in words (the rehearsal prints them: "does not run: outside business hours in Europe/Paris,
it is Sat 10:12"); `matches` is `why_not(...) is None`. Conditions were validated at load (regexes compiled,
time zones found), so evaluating them raises nothing for a file the loader accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from playbooks.workflows.model import Event, Workflow
from playbooks.workflows.schema import STEPS_NEED_INCIDENT

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUSINESS_DAYS = DAYS[:5]
BUSINESS_HOURS = (time(9, 0), time(17, 0))
# The incident's states (bot.store.models.incident); `open` in a state condition stands for every one but resolved.
STATES = ("declared", "investigating", "mitigating", "monitoring", "resolved", "open")


def severity_holds(spec: Any, level: Any) -> bool:
    """`1`; `[1, 2]`; `{at_least: 2}`: SEV2 or worse (a smaller number is more severe); `{at_most: 3}`; `{in: [..]}`."""
    if not isinstance(level, int):
        return False
    if isinstance(spec, bool):
        return False
    if isinstance(spec, int):
        return level == spec
    if isinstance(spec, (list, tuple)):
        return level in spec
    if isinstance(spec, Mapping):
        if "at_least" in spec and not level <= spec["at_least"]:
            return False
        if "at_most" in spec and not level >= spec["at_most"]:
            return False
        return not ("in" in spec and level not in spec["in"])
    return False


def severity_words(spec: Any) -> str:
    if isinstance(spec, int):
        return f"SEV{spec}"
    if isinstance(spec, (list, tuple)):
        return " or ".join(f"SEV{s}" for s in spec)
    parts = []
    if "at_least" in spec:
        parts.append(f"SEV{spec['at_least']} or worse")
    if "at_most" in spec:
        parts.append(f"SEV{spec['at_most']} or milder")
    if "in" in spec:
        parts.append(" or ".join(f"SEV{s}" for s in spec["in"]))
    return " and ".join(parts)


def parse_clock_range(text: str) -> tuple[time, time]:
    start, end = (part.strip() for part in text.split("-", 1))
    return time.fromisoformat(start), time.fromisoformat(end)


def local_time(conditions: Mapping[str, Any], at: datetime | None) -> datetime:
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(conditions.get("timezone") or "UTC"))


def _in_range(now: time, start: time, end: time) -> bool:
    return start <= now < end if start <= end else (now >= start or now < end)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def _names(value: Any) -> set[str]:
    return {str(v).strip().lower().lstrip("@#") for v in _items(value) if v is not None and str(v).strip()}


def trigger_why_not(wf: Workflow, event: Event) -> str | None:
    if event.trigger != wf.trigger:
        return f"its trigger is {wf.trigger}, not {event.trigger}"
    args, d = wf.trigger_args, event.detail
    if wf.trigger == "severity_changed":
        old, new = d.get("old_severity"), d.get("new_severity")
        numbers = isinstance(old, int) and isinstance(new, int)
        direction = d.get("direction") or (("up" if new < old else "down") if numbers and old != new else None)
        if args.get("direction") and args["direction"] != direction:
            return f"the severity went {direction or 'nowhere'}, not {args['direction']}"
        if "from" in args and not severity_holds(args["from"], old):
            return f"the severity was SEV{old}, not {severity_words(args['from'])}"
        if "to" in args and not severity_holds(args["to"], new):
            return f"the severity is now SEV{new}, not {severity_words(args['to'])}"
    elif wf.trigger == "state_changed" and (args.get("to") or args.get("from")):
        old, new = d.get("old_state"), d.get("new_state")
        reopened = new == "reopened" or (old == "resolved" and new not in (None, "resolved"))
        if args.get("to") and not (new == args["to"] or (args["to"] == "reopened" and reopened)):
            return f"the state went to {new}, not {args['to']}"
        if args.get("from") and old != args["from"]:
            return f"the state was {old}, not {args['from']}"
    elif wf.trigger == "role_assigned" and args.get("role") and _names(args["role"]) != _names(d.get("role")):
        return f"the role assigned is {d.get('role')}, not {args['role']}"
    elif wf.trigger == "playbook_finished":
        if args.get("playbook") and args["playbook"] != d.get("playbook"):
            return f"the playbook was {d.get('playbook')}, not {args['playbook']}"
        if args.get("outcome") and args["outcome"] != d.get("outcome"):
            return f"the playbook's outcome was {d.get('outcome')}, not {args['outcome']}"
    return None


# The conditions that read an incident: under `alert_received` for an alert that has joined no incident they do not
# hold (the workflow waits: it runs when the alert joins one). `private` does hold as false: no incident, no secret.
NEEDS_INCIDENT = frozenset({"severity", "state", "acknowledged", "status_published", "postmortem_done",
                            "title_matches", "components", "declared_by"})


def condition_why_not(name: str, want: Any, conditions: Mapping[str, Any], event: Event,
                      extra: Mapping[str, Any] | None = None) -> str | None:
    """Why condition `name: want` does not hold for `event`, or None when it holds."""
    inc, d = event.incident, event.detail
    if name == "timezone":
        return None
    if not inc and name in NEEDS_INCIDENT:  # an alert_received run for an alert that joined no incident (yet)
        return f"no incident yet: `{name}` reads the incident, and the alert has joined none"
    if name == "severity":
        return None if severity_holds(want, inc.get("severity")) else \
            f"the incident is SEV{inc.get('severity')}, not {severity_words(want)}"
    if name == "state":
        state = str(inc.get("state") or "").lower()
        if state in _names(want) or ("open" in _names(want) and state not in ("", "resolved")):
            return None
        return \
            f"the incident is {inc.get('state')}, not {' or '.join(sorted(_names(want)))}"
    if name == "private" and not inc and want:
        return "no incident yet: the alert has joined none, so nothing is private"
    if name in ("private", "acknowledged", "status_published", "postmortem_done"):
        have = bool(inc.get(name))
        words = {"private": ("private", "public"), "acknowledged": ("acknowledged", "not acknowledged"),
                 "status_published": ("on the status page", "not on the status page"),
                 "postmortem_done": ("past its postmortem", "still without its postmortem")}[name]
        return None if have == want else f"the incident is {words[0] if have else words[1]}"
    if name == "updated":
        have = bool((extra or {}).get("updated"))
        return None if have == want else ("a status update was posted" if have else "no status update was posted")
    if name == "title_matches":
        return None if re.search(want, str(inc.get("title") or ""), re.IGNORECASE) else \
            f"the title does not match /{want}/"
    if name == "alert_text_matches":
        text = f"{d.get('alert_title') or ''}\n{d.get('alert_text') or ''}"
        return None if re.search(want, text, re.IGNORECASE) else f"the alert's text does not match /{want}/"
    if name == "alert_source":
        return None if _names(d.get("alert_source")) & _names(want) else \
            f"the alert came from {d.get('alert_source') or 'no sender'}, not {', '.join(sorted(_names(want)))}"
    if name == "alert_labels":
        given = d.get("alert_labels")
        labels = {str(k): str(v) for k, v in given.items()} if isinstance(given, Mapping) else {}
        for key, value in want.items():
            if labels.get(str(key)) != str(value):
                return f"the alert's label {key} is {labels.get(str(key), 'absent')}, not {value}"
        return None
    if name == "components":
        have = _items(inc.get("components"))
        return None if _names(have) & _names(want) else \
            f"the incident affects {', '.join(map(str, have)) or 'no component'}, not {', '.join(map(str, want))}"
    if name == "declared_by":
        return None if _names(inc.get("declared_by")) & _names(want) else \
            f"declared by {inc.get('declared_by') or 'nobody known'}"
    local = local_time(conditions, event.at)
    zone = conditions.get("timezone") or "UTC"
    said = local.strftime("%a %H:%M")
    if name == "business_hours":
        inside = DAYS[local.weekday()] in BUSINESS_DAYS and _in_range(local.time(), *BUSINESS_HOURS)
        return None if inside == want else \
            f"{'inside' if inside else 'outside'} business hours (Mon-Fri 09:00-17:00 {zone}; it is {said})"
    if name == "time_of_day":
        start, end = parse_clock_range(want)
        return None if _in_range(local.time().replace(second=0, microsecond=0), start, end) else \
            f"outside {want} {zone} (it is {said})"
    if name == "days":
        return None if DAYS[local.weekday()] in {w[:3] for w in _names(want)} else \
            f"not on {', '.join(sorted(_names(want)))} in {zone} (it is {said})"
    return f"unknown condition {name}"


def conditions_why_not(conditions: Mapping[str, Any], event: Event,
                       extra: Mapping[str, Any] | None = None) -> str | None:
    for name, want in conditions.items():
        reason = condition_why_not(name, want, conditions, event, extra)
        if reason:
            return reason
    return None


def holds(conditions: Mapping[str, Any], event: Event, extra: Mapping[str, Any] | None = None) -> bool:
    """For a remind step's `unless`: read when the reminder is due; extra={"updated": bool} from the runner."""
    return conditions_why_not(conditions, event, extra) is None


def why_not(wf: Workflow, event: Event) -> str | None:
    """None when `wf` runs for `event`; otherwise the first reason it does not, in words."""
    if not wf.enabled:
        return "it is turned off (enabled: false)"
    return trigger_why_not(wf, event) or conditions_why_not(wf.conditions, event)


def matches(wf: Workflow, event: Event) -> bool:
    return why_not(wf, event) is None


_READS_INCIDENT = re.compile(r"\{[{%][^}]*\bincident\.")


def _reads_incident(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_READS_INCIDENT.search(value))
    if isinstance(value, Mapping):
        return any(_reads_incident(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_reads_incident(v) for v in value)
    return False


def waits_for_an_incident(wf: Workflow) -> bool:
    """An `alert_received` workflow that can do nothing before the alert joins an incident: a template reads
    `incident.*`, or every step needs one (page, invite, a post in the incident's channel, ...). It does not run
    when the alert arrives, so its once-per-alert run is still there when the alert is declared or linked; run on
    arrival, every step failed and the run was spent, so the page it exists for never went out."""
    if any(_reads_incident(step.args) for step in wf.steps):
        return True
    return all(step.kind in STEPS_NEED_INCIDENT or (step.kind == "post" and step.args.get("channel") == "incident")
               for step in wf.steps)
