"""Incident roles: who is commander, communications, scribe, or holds a team-defined role.

The commander is the incident's lead (`incidents.lead_id`, what `/incident lead` and *I'm lead* have
always set), so every existing reader of the lead keeps working; the other roles are rows of
`incident_roles`, one holder per role and incident (a unique constraint). A change goes through
`svc.change()`: the incident row is locked, the role written with its timeline event in one
transaction, then the cards are refreshed, the channel told and the hook run.

The declarer leads provisionally. Until someone *takes* the commander role (`/incident lead`,
`/incident role commander`, *I'm lead*: any `lead_changed` event), the PagerDuty responder who
acknowledges the page becomes commander (`on_acknowledged`).
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import object_session
from sqlmodel import Session, select

from bot.core.chat import person
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident, IncidentRole, TimelineEvent
from bot.core.reply import Reply, escape, mention
from bot.service import incidents as svc
from playbooks.framework import Refused
from playbooks.roles import BUILT_IN, COMMANDER, COMMS, Role, find, parse_roles

log = logging.getLogger(__name__)


def definitions(settings) -> tuple[Role, ...]:
    """Built-in roles and INCIDENT_ROLES; a broken setting falls back to the built-in ones (`fireline check`'s
    `roles` line says what is wrong)."""
    try:
        return parse_roles(settings.incident_roles)
    except Refused as exc:
        log.warning("%s", exc.message)
        return BUILT_IN


def role_named(ctx: Context, word: str) -> Role:
    roles = definitions(ctx.app.settings)
    role = find(roles, word)
    if role is None:
        raise UserError(f"`{escape(word[:30])}` is not an incident role.",
                        "Roles: " + ", ".join(f"`{r.word}` ({r.label})" for r in roles) +
                        ". For example `/incident role comms @chen`; a team adds roles with INCIDENT_ROLES.")
    return role


def holders(session: Session, incident: Incident) -> dict[str, str]:
    """Role key -> Slack user id, the commander first (the lead)."""
    held = {COMMANDER.key: incident.lead_id} if incident.lead_id else {}
    for row in session.exec(select(IncidentRole).where(IncidentRole.incident_id == incident.id)
                            .order_by(IncidentRole.id)).all():
        held[row.role] = row.user_id
    return held


def rows(ctx: Context, session: Session, incident: Incident) -> list[tuple[str, str]]:
    """(label, user id) for every held role, in the order roles are defined."""
    held = holders(session, incident)
    return [(r.label, held[r.key]) for r in definitions(ctx.app.settings) if held.get(r.key)]


def commander_taken(session: Session, incident_id: int) -> bool:
    """A person took the commander role (the declarer's default lead, or PagerDuty's pick, is not taking it)."""
    actors = session.exec(select(TimelineEvent.actor).where(TimelineEvent.incident_id == incident_id,
                                                            TimelineEvent.kind == "lead_changed")).all()
    return any(actor != "pagerduty" and not actor.startswith("pagerduty:") for actor in actors)


def assign(ctx: Context, incident_id: int, role: Role, user: str) -> Incident:
    """Give `role` to `user` on the incident; the commander is the lead (`svc.set_lead`)."""
    if role.key == COMMANDER.key:
        return svc.set_lead(ctx, incident_id, user)

    def verb(incident: Incident) -> svc.Change:
        session = object_session(incident)
        row = session.exec(select(IncidentRole).where(IncidentRole.incident_id == incident.id,
                                                      IncidentRole.role == role.key)).first()
        old = row.user_id if row else None
        if old == user:
            raise UserError(f"{mention(user)} is already {role.label} of #{incident.id}.")
        if row is None:
            row = IncidentRole(incident_id=incident.id, role=role.key, user_id=user, assigned_by=ctx.user_id,
                               assigned_at=ctx.now())
        else:
            row.user_id, row.assigned_by, row.assigned_at = user, ctx.user_id, ctx.now()
        session.add(row)
        return svc.Change("role_changed", f"{role.label}: {person(ctx.chat, old)} -> {person(ctx.chat, user)}",
                          {"role": role.key, "label": role.label, "from": old, "to": user},
                          hook={"role": role.key, "old": old, "new": user}, then=invite,
                          announce=Reply(f"{mention(user)} is now *{escape(role.label)}* of #{incident.id}"
                                         + (f" ({escape(role.duty)})." if role.duty else ".")))

    def invite(incident: Incident) -> None:
        if incident.channel_id and user.startswith(("U", "W")):
            try:
                ctx.chat.invite(incident.channel_id, [user])
            except Exception:
                log.info("could not invite the new %s of #%s", role.key, incident.id)

    return svc.change(ctx, incident_id, Hooks.INCIDENT_ROLE_CHANGED, verb)[0]


def comms_name(ctx: Context, incident_id: int) -> str | None:
    """Who holds communications, by name (the checklist's Communicate step names them)."""
    with ctx.session() as session:
        row = session.exec(select(IncidentRole).where(IncidentRole.incident_id == incident_id,
                                                      IncidentRole.role == COMMS.key)).first()
        user = row.user_id if row else None
    return person(ctx.chat, user) if user else None


# -- the card, the PagerDuty responder ----------------------------------------------------------------------------
def card_field(ctx: Context, incident: Incident) -> tuple[str, str] | None:
    """The roles besides the commander (the card's Lead line), e.g. `Communications: @chen, Scribe: @ana`."""
    with ctx.session() as session:
        held = [(label, user) for label, user in rows(ctx, session, incident) if label != COMMANDER.label]
    if not held:
        return None
    return "Roles", ", ".join(f"{escape(label)}: {mention(user)}" for label, user in held)


def on_acknowledged(ctx: Context, incident: Incident, via: str = "", **_: object) -> None:
    """The paged PagerDuty responder who acknowledges becomes commander when nobody has taken it."""
    if via != "pagerduty" or not incident.acknowledged_by:
        return
    with ctx.session() as session:
        if commander_taken(session, incident.id):
            return
    try:
        svc.set_lead(ctx, incident.id, incident.acknowledged_by)
    except UserError:
        pass


def on_assigned(ctx: Context, incident: Incident, assignees: list[str] = (), **_: object) -> None:
    """Escalated or reassigned in PagerDuty: the new responder becomes commander while nobody has taken it."""
    if not assignees or not incident.is_open:
        return
    with ctx.session() as session:
        if commander_taken(session, incident.id):
            return
    try:
        svc.set_lead(ctx, incident.id, f"pagerduty:{assignees[0]}")
    except UserError:
        pass


def register_hooks(registry) -> None:
    registry.card_field(card_field)
    registry.on(Hooks.INCIDENT_ACKNOWLEDGED)(on_acknowledged)
    registry.on(Hooks.PAGERDUTY_ASSIGNED)(on_assigned)
