"""Hook names, in one place: every `registry.emit(...)` and every `registry.on(...)` uses these.

A hook name typed twice as a string can drift (a listener on `incident.resolve` never runs and nothing
says so); a constant fails at import. `StrEnum`, so a team plug-in that still writes the string
`"incident.declared"` keeps working.
"""

from __future__ import annotations

from enum import StrEnum


class Hooks(StrEnum):
    # the app's life
    RUNTIME_STARTED = "runtime.started"  # (ctx=None, container): after the runtime is built, before serving
    SLACK_APP = "slack.app"  # (app, container): add Bolt listeners
    HTTP_ROUTES = "http.routes"  # (container, worker=None) -> routes: add HTTP routes (webhooks, /metrics)
    # an incident's life (each with ctx and incident=...)
    INCIDENT_DECLARED = "incident.declared"
    INCIDENT_SEVERITY_CHANGED = "incident.severity_changed"  # old=, new=
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"  # via=, old= (the state before)
    INCIDENT_LEAD_CHANGED = "incident.lead_changed"  # old=, new=
    INCIDENT_STATUS_CHANGED = "incident.status_changed"  # old=, new=
    INCIDENT_UPDATED = "incident.updated"  # text=
    INCIDENT_NOTED = "incident.noted"  # text=
    INCIDENT_RESOLVED = "incident.resolved"  # old= (the state before)
    INCIDENT_QUIET = "incident.quiet"  # seconds=, nudge=, due=: the response clock's update nudge came, no update
    CHANNEL_MESSAGE = "channel.message"  # channel_id=, text=: a person wrote in a channel (the console's `:say`)
    POSTMORTEM_DONE = "postmortem.done"  # link=, first=: `/postmortem done` recorded where it is published
    POSTMORTEM_DUE = "postmortem.due"  # due=: the due time passed and the postmortem is not done
    INCIDENT_ROLE_CHANGED = "incident.role_changed"  # role=, old=, new= (not the commander: LEAD_CHANGED)
    ALERT_RECEIVED = "alert.received"  # alert=, incident= (None: a new alert that joined none) or joined one
    # PagerDuty
    PAGERDUTY_ASSIGNED = "pagerduty.assigned"  # (ctx, incident, assignees=[names]): escalated or reassigned there
    # playbooks
    PLAYBOOK_FINISHED = "playbook.finished"  # (ctx, execution, plan): a confirmed run ended, or a read-only one ran
    PLAYBOOK_PROPOSED = "playbook.proposed"  # (ctx, execution, plan): a plan was shown and waits for its Confirm
    # the status page
    STATUS_PUBLISHED = "status.published"  # (ctx, incident, update): a person published a public update


__all__ = ["Hooks"]
