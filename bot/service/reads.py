"""What the front ends read (team pages, App Home, the console, the public status page), each read taking the
viewer and applying the private-incident rule of bot/service/lookups.py itself.

A viewer is a person's Slack id, or None for a view of everything (the console's operator, Fireline's own
jobs). The front ends (bot/adapters/) import no store model and build no query: they call these and render
what comes back (rows, or the small records below), so the rule is applied here, once, and a new page cannot
forget it (tests/adapters/test_read_path.py fails on a front end that queries the store itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, not_, or_
from sqlmodel import Session, col, select

from bot.service.lookups import person_may_see, visible_to
from bot.store.models import (
    OPEN_STATES,
    STATES,
    FollowUp,
    Incident,
    PagerDutyLink,
    PlaybookExecution,
    Postmortem,
    StatusUpdate,
    TimelineEvent,
    WorkflowRun,
)
from bot.store.models.status import Maintenance

Viewer = str | None  # a person's Slack id; None sees every incident


@dataclass(frozen=True)
class Visible:
    """The incidents a reader may see: all of them but the private incidents they are not a member of.

    Held as the few it hides (private incidents are rare), so a list of 10,000 incidents needs no
    10,000-id IN clause; `number in visible` and `hidden` are what the pages and the figures ask.
    """

    hidden: frozenset[int]

    def __contains__(self, incident_id: object) -> bool:
        return incident_id not in self.hidden


def visible(session: Session, viewer: Viewer) -> Visible:
    """Which incidents `viewer` may see, by the rule's WHERE clause (`lookups.visible_to`)."""
    hidden = session.exec(select(Incident.id).where(not_(visible_to(viewer)))).all()
    return Visible(frozenset(hidden))


def sees_number(session: Session, viewer: Viewer, number: int | None) -> bool:
    """Whether `viewer` may see incident `number` (`lookups.sees` for a person known by id)."""
    if viewer is None or number is None:
        return True
    incident = session.get(Incident, number)
    return incident is not None and person_may_see(session, incident, viewer)


# -- the team pages ------------------------------------------------------------------------------------------
def incidents_for(session: Session, viewer: Viewer, *, limit: int, state: str = "", severity: int | None = None,
                  since: datetime | None = None, until: datetime | None = None, lead: str = "", text: str = "",
                  before: int | None = None) -> list[Any]:
    """Incidents newest first, as rows of the list's columns: `state` is "", "open" or one of STATES; `text`
    matches title or summary (case-insensitive, taken literally); `before`: numbered below it (paging)."""
    query = select(Incident.id, Incident.title, Incident.severity, Incident.status, Incident.lead_id,
                   Incident.declared_at, Incident.acknowledged_at, Incident.resolved_at)
    if state == "open":
        query = query.where(col(Incident.status).in_(OPEN_STATES))
    elif state:
        query = query.where(Incident.status == state)
    if severity:
        query = query.where(Incident.severity == severity)
    if since:
        query = query.where(Incident.declared_at >= since)
    if until:
        query = query.where(Incident.declared_at < until)
    if lead:
        query = query.where(Incident.lead_id == lead)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(Incident.title).like(pattern, escape="\\"),
                                func.lower(Incident.summary).like(pattern, escape="\\")))
    if before:
        query = query.where(col(Incident.id) < before)
    query = query.where(visible_to(viewer))
    return list(session.execute(query.order_by(col(Incident.id).desc()).limit(limit)).all())


@dataclass
class IncidentRecord:
    """One incident with everything the team page shows about it, detached from the session."""

    incident: Incident
    events: list[TimelineEvent]
    runs: list[PlaybookExecution]
    page: PagerDutyLink | None
    public: list[StatusUpdate]
    followups: list[FollowUp]
    postmortem: Postmortem | None


def incident_record(session: Session, viewer: Viewer, number: int, *, timeline_limit: int) -> IncidentRecord | None:
    """Incident `number` and what hangs off it; None when there is none `viewer` may see (the same answer)."""
    incident = session.get(Incident, number)
    if incident is None or not (viewer is None or person_may_see(session, incident, viewer)):
        return None
    events = session.execute(select(TimelineEvent).where(TimelineEvent.incident_id == number)
                             .order_by(col(TimelineEvent.at), col(TimelineEvent.id)).limit(timeline_limit)
                             ).scalars().all()
    runs = session.execute(select(PlaybookExecution).where(PlaybookExecution.incident_id == number)
                           .order_by(col(PlaybookExecution.id))).scalars().all()
    page = session.get(PagerDutyLink, number)
    public = session.execute(select(StatusUpdate).where(StatusUpdate.incident_id == number,
                                                        col(StatusUpdate.published_at).is_not(None))
                             .order_by(col(StatusUpdate.published_at))).scalars().all()
    followups = session.execute(select(FollowUp).where(FollowUp.incident_id == number)
                                .order_by(col(FollowUp.id))).scalars().all()
    postmortem = session.execute(select(Postmortem).where(Postmortem.incident_id == number)).scalar_one_or_none()
    for row in (incident, *events, *runs, *public, *followups, *([page] if page else []),
                *([postmortem] if postmortem else [])):
        session.expunge(row)
    return IncidentRecord(incident, list(events), list(runs), page, list(public), list(followups), postmortem)


def newest_incident_number(session: Session) -> int | None:
    """The number of the incident declared last (what `fireline drill` just declared through the console)."""
    return session.execute(select(Incident.id).order_by(col(Incident.id).desc()).limit(1)).scalar_one_or_none()


def postmortems_for(session: Session, viewer: Viewer, *, limit: int = 200) -> list[Any]:
    """Postmortems newest incident first, with their incident's title, severity and lead, as rows."""
    query = (select(Postmortem.incident_id, Postmortem.due_at, Postmortem.done_at, Postmortem.done_link,
                    Postmortem.generated_at, Incident.title, Incident.severity, Incident.lead_id)
             .join(Incident, col(Incident.id) == Postmortem.incident_id)
             .where(visible_to(viewer)).order_by(col(Postmortem.incident_id).desc()).limit(limit))
    return list(session.execute(query).all())


# -- App Home and the console ----------------------------------------------------------------------------------
def open_followups_of(session: Session, owner: str, *, viewer: Viewer, limit: int = 20) -> list[FollowUp]:
    """`owner`'s open follow-ups by incident, the first `limit`, less those of incidents `viewer` may not see
    (a private incident they left)."""
    mine = session.exec(select(FollowUp).where(FollowUp.owner == owner, FollowUp.status == "open")
                        .order_by(col(FollowUp.incident_id), col(FollowUp.id)).limit(limit)).all()
    return [f for f in mine if sees_number(session, viewer, f.incident_id)]


def postmortems_owed(session: Session, lead: str, *, viewer: Viewer,
                     limit: int = 20) -> list[tuple[Postmortem, Incident]]:
    """The postmortems `lead` owes (due, not done), soonest first, the first `limit`, less those `viewer` may
    not see."""
    owed = session.exec(select(Postmortem, Incident).join(Incident, col(Incident.id) == Postmortem.incident_id)
                        .where(Incident.lead_id == lead, col(Postmortem.due_at).is_not(None),
                               col(Postmortem.done_at).is_(None))
                        .order_by(col(Postmortem.due_at)).limit(limit)).all()
    return [(row, incident) for row, incident in owed if sees_number(session, viewer, incident.id)]


@dataclass(frozen=True)
class FailedStep:
    """A workflow step that failed, with its incident: what App Home shows the incident's commander."""

    incident_id: int
    title: str
    workflow: str
    number: int  # the step's position, from 1
    kind: str
    why: str
    at: str


def failed_workflow_steps(session: Session, lead: str, *, viewer: Viewer, limit: int = 10) -> list[FailedStep]:
    """Failed steps of workflow runs on the open incidents `lead` commands, newest run first, the first `limit`,
    less those of incidents `viewer` may not see. A run's steps are one JSON list, so the failures are picked
    out here (a run holds a dozen steps at most)."""
    rows = session.exec(select(WorkflowRun, Incident).join(Incident, col(Incident.id) == WorkflowRun.incident_id)
                        .where(Incident.lead_id == lead, col(Incident.status).in_(OPEN_STATES),
                               visible_to(viewer))
                        .order_by(col(WorkflowRun.started_at).desc(), col(WorkflowRun.id).desc()).limit(50)).all()
    found = [FailedStep(incident.id, incident.title, run.workflow, int(entry.get("index", 0)) + 1,
                        str(entry.get("kind") or ""), str(entry.get("text") or ""), str(entry.get("at") or ""))
             for run, incident in rows for entry in (run.steps or []) if not entry.get("ok", True)]
    return found[:limit]


def workflow_runs_for(session: Session, viewer: Viewer, *, limit: int = 300) -> list[Any]:
    """The newest workflow runs, newest first, with their incident's title, less the runs on incidents `viewer`
    may not see (the rule's WHERE clause, in the same query): the team pages' "last runs" of each workflow.
    An `alert_received` run for an alert that joined no incident is listed too (incident_id and title None,
    alert_id set): it is nobody's secret, and this page is the only list of runs not about one incident."""
    query = (select(WorkflowRun.workflow, WorkflowRun.incident_id, WorkflowRun.trigger, WorkflowRun.status,
                    WorkflowRun.steps, WorkflowRun.started_at, Incident.title, Incident.severity,
                    WorkflowRun.alert_id)
             .join(Incident, col(Incident.id) == WorkflowRun.incident_id, isouter=True)
             .where(or_(col(WorkflowRun.incident_id).is_(None), visible_to(viewer)))
             .order_by(col(WorkflowRun.started_at).desc(), col(WorkflowRun.id).desc()).limit(limit))
    return list(session.execute(query).all())


def incident_channels(session: Session, viewer: Viewer) -> list[tuple[str, str]]:
    """(channel id, channel name) of every incident with a channel `viewer` may see."""
    rows = session.exec(select(Incident.channel_id, Incident.channel_name).where(visible_to(viewer))).all()
    return [(channel_id, name) for channel_id, name in rows if channel_id and name]


# -- the public status page ------------------------------------------------------------------------------------
def public_fingerprint(session: Session) -> tuple:
    """What the public answers depend on, in two aggregate reads: (count, newest id, newest publish time) of
    published updates and (count, newest id, cancelled count) of maintenance rows. Public by definition:
    only published updates, which carry no private incident's words."""
    published = session.exec(select(func.count(), func.max(StatusUpdate.id), func.max(StatusUpdate.published_at))
                              .where(col(StatusUpdate.state) == "published")).one()
    planned = session.exec(select(func.count(), func.max(Maintenance.id),
                                  func.sum(case((col(Maintenance.cancelled).is_(True), 1), else_=0)))).one()
    return (*published, *planned)


__all__ = ["OPEN_STATES", "STATES", "FailedStep", "IncidentRecord", "Viewer", "Visible", "failed_workflow_steps", "incident_channels", "incident_record",
           "incidents_for", "open_followups_of", "postmortems_for", "postmortems_owed", "public_fingerprint",
           "sees_number", "visible", "workflow_runs_for"]
