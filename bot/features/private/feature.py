"""Private incidents: a private channel, and the incident exists only for its members.

Membership is the channel's members as Fireline recorded them: the declarer and the lead when it
is declared, everyone it invites (a new lead), and everyone Slack reports joining the channel
(`member_joined_channel`); leaving (`member_left_channel`) removes them. Why a table and not
`conversations.members` on every read: `/incident list` and `show` must answer inside Slack's
ack without a Web API call per incident, and the record stays the truth when Slack is slow.

A non-member is told what anyone asking for a missing incident is told (`There is no incident #N.`),
so the answer does not even confirm that it exists. Everything that leaves Fireline for people who
may not be members (the `#incidents` card, PagerDuty's incident title, postmortem exports, metrics,
webhook answers) carries the number, never the title.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context
from bot.store.db import session_scope
from bot.core.hooks import Hooks
from bot.store.models import Incident, IncidentMember
from bot.service import lookups

log = logging.getLogger(__name__)



def add_member(session: Session, incident_id: int, user_id: str, via: str, *, now=None) -> bool:
    """Record a member once; True if new."""
    if not user_id or session.get(IncidentMember, (incident_id, user_id)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(IncidentMember(incident_id=incident_id, user_id=user_id, via=via,
                                       **({"added_at": now} if now else {})))
            session.flush()
    except IntegrityError:  # another replica recorded the same join
        return False
    return True


def is_member(session: Session, incident_id: int, user_id: str) -> bool:
    return session.get(IncidentMember, (incident_id, user_id)) is not None


may_see = lookups.may_see  # THE rule lives with the lookups, so the registry's resolution applies it


visible_to = lookups.visible_to


shown_title = lookups.shown_title


# -- hooks and events ----------------------------------------------------------------------------------------
def on_declared(ctx: Context, incident: Incident) -> None:
    if not incident.private:
        return
    with ctx.session() as session:
        for user in {incident.declared_by, incident.lead_id} - {None, ""}:
            add_member(session, incident.id, user, "declared", now=ctx.now())


def on_lead_changed(ctx: Context, incident: Incident, old=None, new=None) -> None:
    """The new lead is invited to the channel (bot.service.incidents.set_lead), so a member."""
    if incident.private and new:
        with ctx.session() as session:
            add_member(session, incident.id, new, "lead", now=ctx.now())


def member_event(container: Container, event: dict, joined: bool) -> None:
    channel, user = event.get("channel") or "", event.get("user") or ""
    if not channel or not user:
        return
    with session_scope(container.engine) as session:
        incident = session.exec(select(Incident).where(Incident.channel_id == channel)).first()
        if incident is None or not incident.private:
            return
        if joined:
            add_member(session, incident.id, user, "joined", now=container.clock())
        else:
            session.execute(delete(IncidentMember).where(col(IncidentMember.incident_id) == incident.id,
                                                         col(IncidentMember.user_id) == user))


def on_slack_app(app=None, container=None) -> None:
    @app.event("member_joined_channel")
    def on_join(event):
        member_event(container, event, joined=True)

    @app.event("member_left_channel")
    def on_leave(event):
        member_event(container, event, joined=False)


def register(registry: Registry) -> None:
    registry.on(Hooks.INCIDENT_DECLARED)(on_declared)
    registry.on(Hooks.INCIDENT_LEAD_CHANGED)(on_lead_changed)
    registry.on(Hooks.SLACK_APP)(on_slack_app)
