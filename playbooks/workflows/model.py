"""What a workflow file says, as frozen values: the contract between the file (the team's) and the runner (ours).

The loader (playbooks.workflows.loader) builds these from YAML and refuses a file it cannot run, naming the line;
the runner (bot.features.workflows) turns an incident's hooks into `Event`s, asks `matches()` and queues each
`Step` as a durable job. Nothing here talks to Slack, PagerDuty or the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TRIGGERS: frozenset[str] = frozenset({
    "declared", "severity_changed", "state_changed", "role_assigned", "alert_received", "no_update",
    "postmortem_due", "playbook_finished",
})

STEP_KINDS: frozenset[str] = frozenset({
    "page", "invite", "post", "draft_status", "plan_playbook", "set_role", "add_followup", "remind", "escalate",
    "bookmark", "wait",
})

# What each trigger puts in Event.detail (the runner fills these; templates and conditions may read only these).
#   severity_changed: old_severity, new_severity (ints 1-4), direction ("up": more severe, i.e. a smaller number)
#   state_changed:    old_state, new_state ("acknowledged", "mitigated", "resolved", "reopened", ...)
#   role_assigned:    role ("lead", "comms", "scribe", ...), person (a name)
#   alert_received:   alert_source, alert_title, alert_text, alert_labels (Mapping[str, str])
#   no_update:        minutes (int, minutes since the last update)
#   postmortem_due:   due (ISO time text), overdue (bool)
#   playbook_finished: playbook (its name), outcome ("done", "failed", "not_done", "planned")
TRIGGER_DETAIL: Mapping[str, frozenset[str]] = {
    "declared": frozenset(),
    "severity_changed": frozenset({"old_severity", "new_severity", "direction"}),
    "state_changed": frozenset({"old_state", "new_state"}),
    "role_assigned": frozenset({"role", "person"}),
    "alert_received": frozenset({"alert_source", "alert_title", "alert_text", "alert_labels"}),
    "no_update": frozenset({"minutes"}),
    "postmortem_due": frozenset({"due", "overdue"}),
    "playbook_finished": frozenset({"playbook", "outcome"}),
}

# The incident's plain fields an Event carries (Event.incident) and templates may read as `incident.<field>`.
INCIDENT_FIELDS: frozenset[str] = frozenset({
    "number", "title", "severity", "state", "private", "components", "declared_by", "lead", "channel", "url",
    "summary", "declared_at", "acknowledged", "status_published", "postmortem_done",
})

# How deep a chain of workflow-caused events may go (a step's effect triggering another workflow): the runner
# refuses to start a run whose Event.depth is at or beyond this, so a workflow cannot trigger itself forever.
MAX_DEPTH = 3


@dataclass(frozen=True)
class Step:
    """One step: `kind` is in STEP_KINDS; `args` are its fields, validated and with shorthands expanded
    (`- wait: 10m` -> {"for": "10m"}); durations stay text ("30m"; `parse_duration` reads them); template
    fields (TEMPLATE_FIELDS in the loader) are rendered by the runner with `render(text, event)`.
    `line` is the step's line in its file; `index` its position in the workflow, from 0."""

    kind: str
    args: Mapping[str, Any]
    line: int
    index: int


@dataclass(frozen=True)
class Workflow:
    name: str
    trigger: str
    trigger_args: Mapping[str, Any]
    conditions: Mapping[str, Any]
    steps: tuple[Step, ...]
    source: str
    line: int
    enabled: bool = True

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file; str() is `file:line: message`, the shape editors and CI annotate."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


class WorkflowFileError(Exception):
    """A file that cannot run: every problem found, not only the first, so one edit-check round fixes them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid workflow file")


@dataclass(frozen=True)
class Event:
    """Something that happened to an incident, in plain values (no ORM rows: the runner copies the fields).

    incident: the INCIDENT_FIELDS (number, title, severity 1-4, state, private, components: list of names,
    declared_by and lead: names, channel: name without #, acknowledged: bool, status_published: the public page
    shows it (published, last update not resolved), postmortem_done: bool, ...). detail: TRIGGER_DETAIL[trigger]'s
    keys. For alert_received with no incident yet: empty (templates then have no `incident`, and conditions
    that read it do not hold: `conditions.NEEDS_INCIDENT`).
    depth: 0 for something a person or a sender did; n+1 for an event caused by a step of a depth-n run."""

    trigger: str
    incident: Mapping[str, Any]
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None
    depth: int = 0


def step_line(entry: Mapping[str, Any]) -> str:
    """One recorded step of a run as every front end says it: `step 2 (bookmark): failed: ... is not a link`
    (`/incident workflows`, the timeline and postmortem, App Home, the team web page)."""
    text = str(entry.get("text") or "")
    return (f"step {int(entry.get('index') or 0) + 1} ({entry.get('kind')}): "
            + (text if entry.get("ok", True) else f"failed: {text}"))
