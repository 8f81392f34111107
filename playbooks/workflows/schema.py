"""The file's vocabulary: each step's fields, each trigger's arguments, each condition, as data.

The loader validates against these tables and docs/workflows.md is written from them (tests/playbooks/
test_workflows_docs.py holds the page to them), so a field added here and not documented fails a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from playbooks.statuspage import COMPONENT_STATUSES, STAGES


@dataclass(frozen=True)
class FieldSpec:
    """One field: `kind` is text | template | duration | names | mapping | bool | choice | conditions."""

    kind: str
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()


# Durations are text: "90s", "30m", "2h", "1h30m", "1d"; or a named duration the runner reads from settings.
NAMED_DURATIONS: Mapping[str, str] = {
    "response_target": "the SEV table's response time for the incident's severity (SEV_RESPONSE_MINUTES where set; "
                       "SEV1 and SEV2 use SEV1's, 15 min)",
    "update_nudge": "UPDATE_NUDGE_MINUTES (30 min unless set)",
}

# Where a step says "to" or "person": a role of the incident, or a person's name.
ROLE_WORDS = ("lead", "comms", "scribe", "oncall", "declared_by")

STEP_FIELDS: Mapping[str, Mapping[str, FieldSpec]] = {
    "page": {
        "policy": FieldSpec("text", "a PagerDuty escalation policy id (PXXXXXX), or `default`: the configured one"),
        "person": FieldSpec("text", "page one person (a name known to PagerDuty) instead of a policy"),
        "urgency": FieldSpec("choice", "high or low; default: high for SEV1-2, low otherwise", choices=("high", "low")),
        "message": FieldSpec("template", "the page's title; default `[Fireline #N] SEVn: title`"),
        "escalate_after": FieldSpec("duration", "unacknowledged this long: escalate to the policy's next level, "
                                                "and again after as long (three rounds; a severity change keeps it)"),
    },
    "invite": {
        "people": FieldSpec("names", "people to invite to the incident channel, by name or @handle"),
        "groups": FieldSpec("names", "Slack user groups (@exec-oncall) whose members are invited"),
    },
    "post": {
        "channel": FieldSpec("text", "`#name`, or `incident` for the incident's own channel", required=True),
        "text": FieldSpec("template", "the message", required=True),
    },
    "draft_status": {
        "components": FieldSpec("names", "status page components; default: the incident's"),
        "status": FieldSpec("choice", "the components' status; default from the severity", choices=COMPONENT_STATUSES),
        "stage": FieldSpec("choice", "the update's stage; default investigating", choices=STAGES),
        "text": FieldSpec("template", "the public text; default: the drafted one. Published only after a person "
                                      "confirms"),
    },
    "plan_playbook": {
        "playbook": FieldSpec("text", "diagnose, providers, restart, rollback, scale-count, ... (a plug-in's name)",
                              required=True),
        "args": FieldSpec("text", "the words after the command, as typed: `--region ams`"),
    },
    "set_role": {
        "role": FieldSpec("text", "lead, comms, scribe, or a role the team added", required=True),
        "person": FieldSpec("text", "a name, or oncall: whoever PagerDuty has on call", required=True),
    },
    "add_followup": {
        "text": FieldSpec("template", "the follow-up", required=True),
        "owner": FieldSpec("text", "who owns it: a name or a role word (lead, ...)"),
    },
    "remind": {
        "after": FieldSpec("duration", "how long to wait; default 0 (now)"),
        "to": FieldSpec("text", "lead (default), comms, scribe, oncall, declared_by, a name, or #channel"),
        "text": FieldSpec("template", "the reminder", required=True),
        "unless": FieldSpec("conditions", "conditions read when the reminder is due: if they hold, it is not sent"),
        "nudge": FieldSpec("bool", "under `no_update`: said as the response clock's update nudge (how long it has "
                                   "been quiet, `text`, Update / No change buttons, the third in a row the last)"),
    },
    "escalate": {
        "area": FieldSpec("text", "an escalation contacts area (ESCALATION_CONTACTS): database, fly, payments, ...",
                          required=True),
        "text": FieldSpec("template", "why, said to the contact"),
    },
    "bookmark": {
        "title": FieldSpec("template", "the link's title", required=True),
        "url": FieldSpec("template", "https://...", required=True),
    },
    "wait": {
        "for": FieldSpec("duration", "how long the following steps wait", required=True),
        "unless": FieldSpec("conditions", "conditions read when the wait ends: if they hold, the workflow's "
                                          "remaining steps are skipped (the end of a reminder chain)"),
    },
}

# `- wait: 10m` stands for `- wait: {for: 10m}`: the field a bare value fills.
SHORTHAND: Mapping[str, str] = {
    "page": "policy", "wait": "for", "plan_playbook": "playbook", "escalate": "area", "add_followup": "text",
}

TRIGGER_ARGS: Mapping[str, Mapping[str, FieldSpec]] = {
    "declared": {},
    "severity_changed": {
        "direction": FieldSpec("choice", "up (more severe) or down; default either", choices=("up", "down")),
        "from": FieldSpec("severity", "the severity before (same forms as the severity condition)"),
        "to": FieldSpec("severity", "the severity after"),
    },
    "state_changed": {
        "to": FieldSpec("choice", "the new state; default any", choices=("acknowledged", "mitigated", "resolved",
                                                                          "reopened")),
        "from": FieldSpec("choice", "the state before the change; default any",
                          choices=("declared", "investigating", "mitigating", "monitoring", "resolved")),
    },
    "role_assigned": {
        "role": FieldSpec("text", "only this role (lead, comms, scribe, ...)"),
    },
    "alert_received": {},
    "no_update": {
        "after": FieldSpec("duration", "how long without a status update", required=True),
    },
    "postmortem_due": {},
    "playbook_finished": {
        "playbook": FieldSpec("text", "only this playbook"),
        "outcome": FieldSpec("choice", "only this outcome", choices=("done", "failed", "not_done", "planned")),
    },
}

CONDITIONS: Mapping[str, FieldSpec] = {
    "severity": FieldSpec("severity", "`1`; `{at_least: 2}` (SEV2 or worse); `{at_most: 3}`; `{in: [1, 2]}`"),
    "state": FieldSpec("names", "the incident's state is one of these: declared, investigating, mitigating, "
                                  "monitoring, resolved; `open` is any but resolved"),
    "acknowledged": FieldSpec("bool", "the page was acknowledged"),
    "private": FieldSpec("bool", "the incident is private"),
    "title_matches": FieldSpec("regex", "a regular expression searched in the title, case-insensitive"),
    "alert_text_matches": FieldSpec("regex", "a regular expression searched in the alert's title and text"),
    "alert_source": FieldSpec("names", "the alert came from one of these senders (sentry, fly, pagerduty, ...)"),
    "alert_labels": FieldSpec("mapping", "every label given has this value (`{env: production}`)"),
    "components": FieldSpec("names", "the incident affects at least one of these components"),
    "declared_by": FieldSpec("names", "declared by one of these people (names)"),
    "business_hours": FieldSpec("bool", "inside (true) or outside (false) Monday-Friday 09:00-17:00 in `timezone`"),
    "time_of_day": FieldSpec("text", "`HH:MM-HH:MM` in `timezone`, may wrap midnight (`22:00-07:00`)"),
    "days": FieldSpec("names", "weekday names (mon, tue, ...) in `timezone`"),
    "timezone": FieldSpec("text", "an IANA zone (Europe/Paris) for business_hours, time_of_day and days; "
                                  "default UTC"),
    "status_published": FieldSpec("bool", "the public status page shows the incident: an update was published and "
                                          "the last one is not a resolved one"),
    "postmortem_done": FieldSpec("bool", "the postmortem was marked done (`/postmortem done`)"),
    "updated": FieldSpec("bool", "(in `unless` only) a status update was posted since the step was queued"),
}

# Conditions that read the alert: they can only hold under the alert_received trigger.
ALERT_CONDITIONS = frozenset({"alert_text_matches", "alert_source", "alert_labels"})

# The built-in playbooks and whether they change anything (playbooks.catalog); `providers` reads the providers'
# status pages (bot.features.providers). A destructive playbook in a workflow is planned only: a person confirms.
KNOWN_PLAYBOOKS: Mapping[str, bool] = {
    "diagnose": False, "providers": False, "restart": True, "rollback": True, "scale-count": True,
    "scale-vm": True, "scale-memory": True,
}


# The steps that act on an incident: under an `alert_received` run for an alert that has joined none, they fail
# ("no incident yet: ..."), and the others go on. (`post` and `remind` need one only for the incident channel or a
# person; `wait` only for a named duration.)
STEPS_NEED_INCIDENT = frozenset({"page", "invite", "set_role", "add_followup", "bookmark", "plan_playbook",
                                 "draft_status", "escalate"})
