"""Public updates: draft, edit, publish (exactly once, by an authorized person), and the page's state.

The public page and its JSON read only `status_updates` rows a person published and maintenance rows;
drafts are written here from components, a stage and a severity (playbooks.statuspage), never from the
incident's internal fields.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.core.clock import as_utc, fmt_utc
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.store.models.status import Maintenance, StatusUpdate
from bot.core.reply import escape, mention
from bot.service import incidents as svc
from bot.service.responders import may_confirm
from playbooks import statuspage as sp
from bot.store.db import session_scope

MAX_BODY = 2000
MAX_TITLE = 200
# Slack references would leak a person or a channel onto the public page, and show there as gibberish.
_SLACK_REFERENCE = re.compile(r"<[@#!][^>]*>")


def component_names(settings) -> list[str]:
    names = [n.strip() for n in settings.status_components.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def new_key() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class Request:
    """What a person asked for; None keeps the draft's (or the suggested) value."""

    components: list[str] | None = None
    status: str | None = None
    stage: str | None = None
    text: str | None = None
    title: str | None = None


def parse_request(settings, words: list[str], text: str | None, title: str | None) -> Request:
    stage = status = None
    rest = []
    for word in words:
        if word.lower() in sp.STAGES:
            stage = word.lower()
        elif sp.parse_status(word.strip(",")):
            status = sp.parse_status(word.strip(","))
        else:
            rest.append(word)
    components = None
    if rest:
        try:
            components = sp.parse_components(" ".join(rest), component_names(settings))
        except sp.StatusProblem as exc:
            raise UserError(str(exc), "Separate names with commas, for example "
                            "`/incident statuspage API, Web app partial_outage`.") from None
    return Request(components, status, stage, clean_text(text, MAX_BODY, "text"), clean_text(title, MAX_TITLE,
                                                                                              "title"))


def clean_text(value: str | None, limit: int, what: str) -> str | None:
    if value is None:
        return None
    names = getattr(value, "names", False)  # a Slack mention in the words (bot.core.grammar.Word)
    value = " ".join(value.split())
    if not value:
        raise UserError(f"The public {what} cannot be empty.", f'For example `--{what} "We are investigating."`.')
    if len(value) > limit:
        raise UserError(f"The public {what} is {len(value)} characters; the page takes {limit} at most.")
    if names or _SLACK_REFERENCE.search(value):
        raise UserError(f"The public {what} names a person or a channel; the status page is public.",
                        "Write it for customers, without @mentions or #channels.")
    return value


def published(session: Session, incident_id: int) -> list[StatusUpdate]:
    return list(session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident_id,
                                                        StatusUpdate.state == "published")
                             .order_by(col(StatusUpdate.published_at), col(StatusUpdate.id))).all())


def open_draft(session: Session, incident_id: int) -> StatusUpdate | None:
    return session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident_id,
                                                   StatusUpdate.state == "draft")
                        .order_by(col(StatusUpdate.id).desc())).first()


def _refuse_unless_responder(ctx: Context, what: str) -> str:
    """Public words are changed or thrown away by the people who may publish them, nobody else."""
    decision = may_confirm(ctx)
    if not decision.allowed:
        raise UserError(f"Only responders may {what} the waiting public status update: {decision.why}.",
                        "Ask someone in RESPONDERS to do it, or add yourself to RESPONDERS.")
    return decision.why


def _words(update: StatusUpdate) -> dict:
    return {"stage": update.stage, "title": update.title, "body": update.body,
            "components": dict(update.components)}


def draft(ctx: Context, incident: Incident, request: Request, *, suggested: bool = False) -> StatusUpdate:
    """Create the incident's draft, or change the one waiting; suggestions fill what was not said.

    Anyone may start a draft (nothing is public until a responder publishes it); changing a waiting one takes a
    responder, unless Fireline itself suggests the words (`suggested`: the closing update on resolve). Every
    change adds one to the draft's revision by a conditional UPDATE and goes in the timeline with the words
    before and after, so a Publish button showing older words publishes nothing (see `publish`).
    """
    known = component_names(ctx.app.settings)
    with ctx.session() as session:
        incident = svc.get_incident(session, incident.id)
        done = published(session, incident.id)
        latest = done[-1] if done else None
        current = open_draft(session, incident.id)
        base = current or latest
        components = request.components or (list(base.components) if base else [])
        components = [c for c in known if c in components] or components
        if not components:
            raise UserError("Say which components customers see affected.",
                            f"Components: {', '.join(known)}. For example "
                            f"`/incident statuspage {', '.join(known[:2])} #{incident.id}`.")
        stage = request.stage or (current.stage if current else None)
        if stage is None:
            stage = sp.STATE_STAGE.get(incident.status, "investigating") if latest else "investigating"
            if latest and latest.stage == stage and stage != "resolved":
                stage = {"investigating": "identified", "identified": "monitoring"}.get(stage, stage)
        previous_status = sp.worst(base.components.values()) if base else None
        status = request.status or (previous_status if previous_status not in (None, "operational") else None) \
            or sp.SEVERITY_STATUS.get(incident.severity, "degraded_performance")
        statuses = {c: ("operational" if stage == "resolved" else status) for c in components}
        title = request.title or (current.title if current else None) or (latest.title if latest else None) \
            or sp.draft_title(components, status)
        changed = current is None or request.components or request.status or request.stage
        body = request.text or (sp.draft_body(components, stage, status) if changed else current.body)
        words = {"stage": stage, "title": title, "body": body, "components": statuses}
        if current is None:
            current = StatusUpdate(incident_id=incident.id, public_id=latest.public_id if latest else new_key(),
                                   update_key=new_key(), stage=stage, title=title, body=body, components=statuses,
                                   drafted_by=ctx.user_id, drafted_at=ctx.now())
            session.add(current)
            session.flush()
            svc.record(session, incident, "public_draft", ctx.user_id,
                       f"Drafted a public status update ({sp.STAGE_WORDS[stage]}): {body}",
                       {"update": current.update_key, "revision": 1, **words}, at=ctx.now())
        elif words != _words(current):
            if not suggested:
                _refuse_unless_responder(ctx, "change")
            before = _words(current)
            changed_rows = session.execute(
                sa.update(StatusUpdate).where(StatusUpdate.id == current.id, StatusUpdate.state == "draft",
                                              StatusUpdate.revision == current.revision)
                .values(**words, drafted_by=ctx.user_id, drafted_at=ctx.now(),
                        revision=current.revision + 1)).rowcount
            if changed_rows != 1:
                raise UserError("Someone published, discarded or changed that draft at the same moment; "
                                "nothing was changed.", "Look at the newest draft message, or draft again "
                                f"with `/incident statuspage #{incident.id}`.")
            session.refresh(current)
            svc.record(session, incident, "public_draft_edited", ctx.user_id,
                       f"Changed the public status update draft (revision {current.revision}): {body}",
                       {"update": current.update_key, "revision": current.revision, "before": before,
                        "after": words}, at=ctx.now())
        session.flush()
        session.refresh(current)
        session.expunge(current)
        return current


class Outcome:
    PUBLISHED = "published"
    ALREADY = "already"
    DISCARDED = "discarded"
    CHANGED = "changed"  # the draft is still waiting, but not in the revision the pressed button showed


def publish_value(update: StatusUpdate) -> str:
    """The Publish button's value: the draft and the revision the message shows (`12.3`)."""
    return f"{update.id}.{update.revision}"


def parse_publish_value(value: str) -> tuple[int, int | None]:
    """`12.3` -> (12, 3); a bare `12` (a message from before drafts had revisions) -> (12, None)."""
    number, _, revision = str(value).strip().partition(".")
    if not (number.isascii() and number.isdigit() and len(number) < 12) or \
            (revision and not (revision.isascii() and revision.isdigit() and len(revision) < 12)):
        raise UserError("That Publish button could not be read; nothing was published.",
                        "Show the draft again with `/incident statuspage` in the incident's channel.")
    return int(number), (int(revision) if revision else None)


def publish(ctx: Context, update_id: int, revision: int | None) -> tuple[str, StatusUpdate]:
    """Publish a draft once, and only in the revision the pressed message showed.

    A conditional UPDATE on (draft, revision): a double click or two people publish it one time, and words
    changed after the message was shown are not published by it (Outcome.CHANGED: show the new words).
    """
    decision = may_confirm(ctx)
    if not decision.allowed:
        raise UserError(f"Only responders may publish to the public status page: {decision.why}.",
                        "Ask someone in RESPONDERS to press Publish, or add yourself to RESPONDERS.")
    now = ctx.now()
    with ctx.session() as session:
        claimed = 0
        if revision is not None:
            claimed = session.execute(
                sa.update(StatusUpdate).where(StatusUpdate.id == update_id, StatusUpdate.state == "draft",
                                              StatusUpdate.revision == revision)
                .values(state="published", published_by=ctx.user_id, published_at=now)).rowcount
        update = session.get(StatusUpdate, update_id)
        if update is None:
            raise UserError("That draft no longer exists.", "Draft a new one with `/incident statuspage`.")
        session.refresh(update)
        if claimed != 1:
            session.expunge(update)
            outcome = {"discarded": Outcome.DISCARDED, "draft": Outcome.CHANGED}.get(update.state, Outcome.ALREADY)
            return outcome, update
        incident = svc.get_incident(session, update.incident_id)
        svc.record(session, incident, "public_update", ctx.user_id,
                   f"Published on the status page ({sp.STAGE_WORDS[update.stage]}): {update.body}",
                   {"update": update.update_key, "public_id": update.public_id, "stage": update.stage,
                    "body": update.body, "title": update.title, "components": dict(update.components),
                    "revision": update.revision, "allowed": decision.why},
                   at=now)
        session.expunge(update)
    ctx.app.registry.emit(Hooks.STATUS_PUBLISHED, ctx, incident=incident, update=update)
    return Outcome.PUBLISHED, update


def discard(ctx: Context, update_id: int) -> bool:
    """Throw the waiting draft away (responders only), once, with a timeline entry."""
    _refuse_unless_responder(ctx, "discard")
    with ctx.session() as session:
        done = session.execute(sa.update(StatusUpdate).where(StatusUpdate.id == update_id,
                                                             StatusUpdate.state == "draft")
                               .values(state="discarded")).rowcount == 1
        update = session.get(StatusUpdate, update_id) if done else None
        if update is not None:
            incident = svc.get_incident(session, update.incident_id)
            svc.record(session, incident, "public_draft_discarded", ctx.user_id,
                       f"Discarded the public status update draft: {update.body}",
                       {"update": update.update_key, "revision": update.revision}, at=ctx.now())
        return done


def check_may_edit(ctx: Context) -> None:
    _refuse_unless_responder(ctx, "change")


def get_update(ctx: Context, update_id: int) -> StatusUpdate:
    with ctx.session() as session:
        update = session.get(StatusUpdate, update_id)
        if update is None:
            raise UserError("That draft no longer exists.", "Draft a new one with `/incident statuspage`.")
        session.expunge(update)
        return update


def editable_draft(ctx: Context, update_id: int) -> StatusUpdate | None:
    """The draft `update_id` if the person in `ctx` may open its form: it exists, is still a draft, and is of an
    incident they may see (a private incident's draft is its members'). None otherwise, so the press goes on to the
    answer in words ("no longer waiting", "no longer exists")."""
    with ctx.session() as session:
        update = session.get(StatusUpdate, update_id)
        if update is None or update.state != "draft" or not svc.sees(ctx, session, update.incident_id):
            return None
        session.expunge(update)
        return update


def schedule_maintenance(ctx: Context, title: str, starts_at: datetime, ends_at: datetime,
                         components: list[str], body: str = "") -> Maintenance:
    if ends_at <= starts_at:
        start, end = (t.strftime("%Y-%m-%dT%H:%M") for t in (starts_at, starts_at + timedelta(hours=1)))
        raise UserError("Maintenance must end after it starts.",
                        f"For example `/incident maintenance {', '.join(components)} --start {start} --end {end} "
                        f"--title \"{escape(title[:80])}\"` (times in UTC).")
    with ctx.session() as session:
        row = Maintenance(public_id=new_key(), title=title, body=body, components=components, starts_at=starts_at,
                          ends_at=ends_at, created_by=ctx.user_id, created_at=ctx.now())
        session.add(row)
        session.flush()
        session.refresh(row)
        session.expunge(row)
        return row


def page_state(container, now: datetime | None = None) -> sp.Page:
    """Everything the public page shows, from published rows only."""
    now = now or container.clock()
    since = now - timedelta(days=sp.HISTORY_DAYS + 1)
    with session_scope(container.engine) as session:
        rows = list(session.exec(select(StatusUpdate).where(StatusUpdate.state == "published")).all())
        # Whole incidents: one still open from long ago keeps all its updates; old resolved ones drop out.
        recent_ids = {r.public_id for r in rows if r.published_at and _aware(r.published_at) >= since}
        open_ids = {r.public_id for r in rows} - {r.public_id for r in rows if r.stage == "resolved"}
        keep = [r for r in rows if r.public_id in recent_ids | open_ids]
        maintenance = list(session.exec(select(Maintenance).where(Maintenance.cancelled == False,  # noqa: E712
                                                                  Maintenance.ends_at >= since)).all())
        for row in keep + maintenance:
            session.expunge(row)
    return sp.page(component_names(container.settings), keep, maintenance, now)


def _aware(value: datetime) -> datetime:
    return as_utc(value)


def describe_update(update: StatusUpdate) -> list[str]:
    """The plan's lines: exactly what the public will read."""
    parts = ", ".join(f"{name}: {sp.STATUS_WORDS.get(s, s)}" for name, s in update.components.items())
    return [f"*Title:* {escape(update.title)}", f"*Stage:* {sp.STAGE_WORDS[update.stage]}",
            f"*Components:* {escape(parts)}", f"*Text:* {escape(update.body)}"]


def published_line(update: StatusUpdate) -> str:
    return (f"Published by {mention(update.published_by)} at {fmt_utc(update.published_at)}: "
            f"{sp.STAGE_WORDS[update.stage]}, {escape(update.body)}")
