"""Follow-up action items: what the team agreed to change, and who owns it."""

from __future__ import annotations

from bot.core.chat import person
from bot.core.context import Context
from bot.core.errors import UserError
from bot.store.models import FollowUp, Incident
from bot.service import incidents as svc
from bot.features.postmortem.service import followups as listed

MAX_TEXT = 1000


def add(ctx: Context, incident_id: int, text: str, owner: str | None) -> tuple[Incident, FollowUp, int]:
    """Store the item and a timeline event. Returns the incident, the item and its number in the incident."""
    text = " ".join(text.split())[:MAX_TEXT]
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        item = FollowUp(incident_id=incident.id, text=text, owner=owner, created_by=ctx.user_id,
                        created_at=ctx.now())
        session.add(item)
        session.flush()
        number = len(listed(session, incident.id))
        svc.record(session, incident, "followup", ctx.user_id,
                   f"Follow-up {number}: {text}"
                   + (f" (owner {person(ctx.chat, owner)})" if owner else " (no owner yet)"),
                   {"followup_id": item.id, "owner": owner}, at=ctx.now())
    return incident, item, number


def items(ctx: Context, incident_id: int) -> tuple[Incident, list[FollowUp]]:
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        return incident, listed(session, incident.id)


def set_status(ctx: Context, incident_id: int, number: int, status: str) -> tuple[Incident, FollowUp]:
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        rows = listed(session, incident.id)
        if not 1 <= number <= len(rows):
            raise UserError(f"#{incident.id} has no follow-up {number}.",
                            "Type `/incident followups` to see them with their numbers.")
        item = rows[number - 1]
        if item.status == status:
            raise UserError(f"Follow-up {number} of #{incident.id} is already {status}.")
        item.status = status
        session.add(item)
        svc.record(session, incident, "followup", ctx.user_id, f"Follow-up {number} is {status}: {item.text}",
                   {"followup_id": item.id, "status": status}, at=ctx.now())
    return incident, item
