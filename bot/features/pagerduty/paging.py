"""Paging and Fireline -> PagerDuty sync, as durable jobs.

A page is a job keyed by our incident, and the PagerDuty incident carries an `incident_key` derived
from ours (the Events API's `dedup_key`), so a retried or doubled page never opens a second one.
Acks, resolutions and notes made in Fireline are jobs too: retried with backoff when PagerDuty is
busy, and every failure is said in the incident channel and kept in the timeline.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.core.chat import person
from bot.core.clock import as_utc
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.store.models import Incident, TimelineEvent
from bot.store.models.pagerduty import PagerDutyLink
from bot.clients.pagerduty import PagerDutyError
from bot.features.pagerduty.config import DRY_RUN, EVENTS, REST, config, events_client, rest_client
from bot.core.reply import Reply, escape, mention
from bot.service import incidents as svc
from bot.service import jobs
from bot.service.lookups import shown_title
from playbooks.severity import SEVERITIES

log = logging.getLogger(__name__)

PAGE_JOB = "pagerduty.page"
SYNC_JOB = "pagerduty.sync"
PAGED_MARK = "pagerduty:paged"
# Waits before each retry of a failed page or sync (then Fireline gives up and says so).
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=5))
MAX_ATTEMPTS = len(BACKOFF) + 1
NOTE_PREFIX = "[Fireline]"
EVENTS_SEVERITY = {1: "critical", 2: "error", 3: "warning", 4: "info"}


def incident_key(incident: Incident) -> str:
    """Ours, stable and unique across database resets: `fireline-<N>-<declared epoch>`."""
    return f"fireline-{incident.id}-{int(as_utc(incident.declared_at).timestamp())}"


def pd_title(incident: Incident) -> str:
    return f"[Fireline #{incident.id}] {SEVERITIES[incident.severity].label}: {shown_title(incident)}"


def link_for(session: Session, incident_id: int) -> PagerDutyLink | None:
    return session.get(PagerDutyLink, incident_id)


def was_paged(session: Session, incident_id: int) -> bool:
    query = select(TimelineEvent.id).where(TimelineEvent.incident_id == incident_id,
                                           TimelineEvent.dedup_key == PAGED_MARK)
    return session.exec(query).first() is not None


# -- queueing ------------------------------------------------------------------------------------------------
def queue_page(ctx: Context, incident: Incident, *, reason: str, targets: list[list[str]] | None = None,
               automatic: bool = False, dedup_key: str | None = None) -> bool:
    """Queue the page job. Automatic pages (declare, raise) share one key per incident: queued once ever.

    `dedup_key`: the caller's own occurrence (a workflow's page step passes its run and step), so a retried job
    that queued the page before it could record the step does not page again; a person's `/incident page` is
    keyed by its moment and sender."""
    now = ctx.now()
    payload = {"incident_id": incident.id, "reason": reason, "user_id": ctx.user_id, "targets": targets or [],
               "attempt": 1, "actor": "fireline" if automatic else ctx.user_id}
    key = f"pd-page:{incident.id}" if automatic else dedup_key or \
        f"pd-page:{incident.id}:{now.isoformat()}:{ctx.user_id}:{abs(hash(str(targets))) % 10**8}"
    with ctx.session() as session:
        return jobs.enqueue(session, PAGE_JOB, payload, dedup_key=key, now=now) is not None


def queue_sync(ctx: Context, incident: Incident, action: str, text: str = "") -> None:
    """Send an ack, resolution or note to PagerDuty (only for incidents that were paged)."""
    with ctx.session() as session:
        link = link_for(session, incident.id)
        if link is None or link.mode == DRY_RUN:
            return
        if action in ("note", "urgency") and link.mode == EVENTS:
            return  # the Events API has no notes or urgency; docs/pagerduty.md says so
        # No dedup key: each change is its own job (the lifecycle already refuses a double ack or resolve),
        # and the job skips what PagerDuty already shows.
        jobs.enqueue(session, SYNC_JOB, {"incident_id": incident.id, "action": action, "text": text[:5000],
                                         "user_id": ctx.user_id, "attempt": 1}, now=ctx.now())


# -- failures ------------------------------------------------------------------------------------------------
def _retry_or_report(container: Container, kind: str, payload: dict[str, Any], exc: PagerDutyError,
                     what: str) -> None:
    """Re-queue a retryable failure with backoff; tell the channel on the first and on the last failure."""
    ctx = job_context(container)
    attempt = int(payload.get("attempt") or 1)
    retry = exc.retryable and attempt < MAX_ATTEMPTS
    now = container.clock()
    with ctx.session() as session:
        incident = svc.get_incident(session, int(payload["incident_id"]))
        if retry:
            wait = BACKOFF[attempt - 1]
            jobs.enqueue(session, kind, {**payload, "attempt": attempt + 1}, run_at=now + wait, now=now)
            tail = f"Fireline retries in {int(wait.total_seconds() // 60) or int(wait.total_seconds())}" \
                   f"{' min' if wait >= timedelta(minutes=1) else ' s'} (try {attempt} of {MAX_ATTEMPTS})."
        else:
            tail = (f"Fireline gave up after {attempt} tries." if attempt > 1 else "This is not retried.") + \
                   " Do it in PagerDuty by hand."
        svc.record(session, incident, "pagerduty_failed", "fireline", f"Could not {what} in PagerDuty: {exc}",
                   {"what": what, "attempt": attempt, "retrying": retry, "status": exc.status}, at=now)
    if attempt == 1 or not retry:
        svc.announce(ctx, incident, Reply(f":warning: Could not {what} in PagerDuty for #{incident.id}.",
                                          lines=[escape(str(exc)), tail]))


# -- the page job ------------------------------------------------------------------------------------------------
def _ensure_link(container: Container, incident: Incident) -> PagerDutyLink:
    """The incident's link row, created once (a unique primary key: a second worker reads the first's)."""
    with session_scope(container.engine) as session:
        link = link_for(session, incident.id)
        if link is None:
            try:
                with session.begin_nested():
                    link = PagerDutyLink(incident_id=incident.id, incident_key=incident_key(incident),
                                         mode=config(container).paging_mode, paged_at=container.clock(),
                                         status="triggered", assignees=[])
                    session.add(link)
                    session.flush()
            except IntegrityError:
                link = link_for(session, incident.id)
        session.expunge(link)
    return link


def _open_in_pagerduty(container: Container, incident: Incident, link: PagerDutyLink) -> dict[str, Any]:
    """Create (or find, after a lost answer) the PagerDuty incident; returns what changed in the link."""
    settings = container.settings
    if link.mode == REST:
        rest = rest_client(container)
        found = rest.find_incident_by_key(link.incident_key, settings.pagerduty_service_id)
        pd = found or rest.create_incident(title=pd_title(incident), service_id=settings.pagerduty_service_id,
                                           incident_key=link.incident_key,
                                           urgency="high" if incident.severity <= 2 else "low",
                                           escalation_policy_id=settings.pagerduty_escalation_policy_id or None)
        if not found and pd.get("id"):
            try:
                rest.add_note(pd["id"], f"{NOTE_PREFIX} Declared in Fireline as {SEVERITIES[incident.severity].label}"
                                        f": {shown_title(incident)}. "
                                        f"Incident channel: #{incident.channel_name or '-'}.")
            except PagerDutyError as exc:  # the page stands; the note is a nicety
                log.warning("could not add the first note to %s: %s", pd.get("id"), exc)
        assignees = [a.get("assignee", {}).get("summary") for a in pd.get("assignments") or []
                     if isinstance(a, dict)]
        return {"pd_incident_id": pd.get("id"), "number": pd.get("incident_number"), "html_url": pd.get("html_url"),
                "status": pd.get("status") or "triggered", "assignees": [a for a in assignees if a],
                "escalation_level": pd.get("escalation_level") or 1}
    if link.mode == EVENTS:
        events_client(container).send("trigger", link.incident_key, payload={
            "summary": pd_title(incident)[:1024], "severity": EVENTS_SEVERITY[incident.severity],
            "source": "fireline", "component": incident.channel_name or f"incident-{incident.id}",
            "custom_details": {"fireline_incident": incident.id, "severity": incident.severity}})
        return {"status": "triggered"}
    return {"status": "triggered"}


def _describe_link(link: PagerDutyLink, *, plain: bool = False) -> str:
    """The page in words; `plain` for the timeline (no Slack link markup)."""
    if link.mode == DRY_RUN:
        return "dry-run: nobody was paged (PagerDuty is not configured)"
    if link.mode == EVENTS:
        return f"paged through the Events API (dedup key `{link.incident_key}`), {link.status}"
    number = f"#{link.number or '?'}"
    if link.html_url and link.number:
        number = f"#{link.number} ({link.html_url})" if plain else f"<{link.html_url}|#{link.number}>"
    people = ", ".join(link.assignees)
    who = f", assigned to {people if plain else escape(people)}" if link.assignees else ""
    return f"incident {number} {link.status}, level {link.escalation_level}{who}"


def page_job(container: Container, payload: dict[str, Any], job=None) -> None:
    incident_id = int(payload["incident_id"])
    ctx = job_context(container, user_id=payload.get("user_id") or "fireline")
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
        already = was_paged(session, incident_id)
    link = _ensure_link(container, incident)
    if not already:
        try:
            changes = _open_in_pagerduty(container, incident, link)
        except PagerDutyError as exc:
            _retry_or_report(container, PAGE_JOB, payload, exc, "page the on-call")
            return
        with ctx.session() as session:
            stored = link_for(session, incident_id)
            for name, value in changes.items():
                setattr(stored, name, value)
            stored.status_at = stored.status_at or ctx.now()
            session.add(stored)
            incident = svc.get_incident(session, incident_id)
        if link.mode == DRY_RUN and payload.get("actor") == "fireline":
            # Without PagerDuty an automatic page is only the card's "PagerDuty: dry-run" field: not a
            # timeline event or a message in every SEV1/SEV2 of a team that does not use PagerDuty.
            svc.refresh_cards(ctx, incident)
            return
        with ctx.session() as session:
            stored = link_for(session, incident_id)
            incident = svc.get_incident(session, incident_id)
            text = _describe_link(stored)
            event = svc.record(session, incident, "paged", payload.get("actor") or "fireline",
                               f"Paged ({payload.get('reason') or 'paging'}): {_describe_link(stored, plain=True)}",
                               {"mode": stored.mode, "pd_incident": stored.pd_incident_id,
                                "incident_key": stored.incident_key}, at=ctx.now(), dedup_key=PAGED_MARK)
            session.flush()
            session.expunge(stored)
            link = stored
        if event is not None:
            svc.refresh_cards(ctx, incident)
            icon = ":pager:" if link.mode != DRY_RUN else ":information_source:"
            reason = escape(payload.get("reason") or "")
            svc.announce(ctx, incident, Reply(f"{icon} PagerDuty for #{incident.id} ({reason}): {text}."),
                         also_incidents_channel=True)
            _catch_up(ctx, incident)
    if payload.get("targets"):
        _add_responders(container, ctx, incident, link, payload)


def _catch_up(ctx: Context, incident: Incident) -> None:
    """Acked or resolved in Fireline before the page went out: say so in PagerDuty too."""
    if not incident.is_open:
        queue_sync(ctx, incident, "resolve")
    elif incident.acknowledged_at:
        queue_sync(ctx, incident, "ack")


def _add_responders(container: Container, ctx: Context, incident: Incident, link: PagerDutyLink,
                    payload: dict[str, Any]) -> None:
    """`/incident page @user|policy` and `/incident escalate`: ask more people in PagerDuty."""
    targets = [tuple(t) for t in payload["targets"]]
    # Labels are ours: a mention of a parsed user id, a validated policy id, or a configured area's name.
    labels = ", ".join(t[2] if len(t) > 2 else t[1] for t in targets)
    if link.mode != REST or not link.pd_incident_id:
        why = ("dry-run: PagerDuty is not configured" if link.mode == DRY_RUN else
               "the Events API cannot add responders; set PAGERDUTY_API_TOKEN, PAGERDUTY_FROM_EMAIL and "
               "PAGERDUTY_SERVICE_ID to page people directly")
        with ctx.session() as session:
            svc.record(session, svc.get_incident(session, incident.id), "responders_requested",
                       payload.get("user_id") or "fireline", f"Would page {labels} ({why})", {"targets": targets},
                       at=ctx.now())
        svc.announce(ctx, incident, Reply(f":information_source: Not paged in PagerDuty: {labels} ({why})."))
        return
    rest = rest_client(container)
    try:
        requester = rest.find_user(container.settings.pagerduty_from_email)
        if requester is None:
            raise PagerDutyError(f"No PagerDuty user has the email in PAGERDUTY_FROM_EMAIL "
                                 f"({container.settings.pagerduty_from_email}); responders are requested as a user.")
        refs, missing = [], []
        for target in targets:
            kind, ident = target[0], target[1]
            if kind == "policy":
                refs.append(("escalation_policy_reference", ident))
                continue
            query = ident
            if ident[:1] in ("U", "W") and ident.isupper():
                query = ctx.chat.user_email(ident) or ident
            user = rest.find_user(query)
            if user is None:
                missing.append(target[2] if len(target) > 2 else ident)
            else:
                refs.append(("user_reference", str(user["id"])))
        if refs:
            rest.request_responders(link.pd_incident_id, str(requester["id"]),
                                    f"Fireline #{incident.id}: please join {shown_title(incident)}"[:1000], refs)
    except PagerDutyError as exc:
        _retry_or_report(container, PAGE_JOB, payload, exc, f"page {labels}")
        return
    lines = []
    if missing:
        lines.append(f"Not found in PagerDuty (by Slack email or name): {', '.join(escape(m) for m in missing)}.")
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), "responders_requested",
                   payload.get("user_id") or "fireline",
                   f"Paged in PagerDuty: {labels}" + (f" (not found: {', '.join(missing)})" if missing else ""),
                   {"targets": targets, "missing": missing}, at=ctx.now())
    if refs:
        svc.announce(ctx, incident, Reply(f":pager: Asked PagerDuty to page {labels} for #{incident.id} "
                                          f"(requested by {mention(payload.get('user_id'))}).", lines=lines))
    else:
        svc.announce(ctx, incident, Reply(f":warning: Nobody was paged for #{incident.id}.", lines=lines))


# -- the sync job ------------------------------------------------------------------------------------------------
def sync_job(container: Container, payload: dict[str, Any], job=None) -> None:
    incident_id, action = int(payload["incident_id"]), payload["action"]
    ctx = job_context(container)
    with ctx.session() as session:
        link = link_for(session, incident_id)
        if link is None or link.mode == DRY_RUN:
            return
        session.expunge(link)
        incident = svc.get_incident(session, incident_id)
    target = {"ack": "acknowledged", "resolve": "resolved", "reopen": "triggered"}.get(action)
    if action in ("ack", "resolve") and link.status in (target, "resolved"):
        return  # PagerDuty is already there (its own change, or an earlier sync)
    if action == "reopen" and link.status != "resolved":
        return
    urgency = "high" if incident.severity <= 2 else "low"
    what = {"ack": "acknowledge the page", "resolve": "resolve the page", "note": "add the note",
            "reopen": "reopen the page", "urgency": f"set the page's urgency to {urgency}"}.get(action, action)
    try:
        if link.mode == EVENTS:
            if action in ("ack", "resolve"):
                events_client(container).send("acknowledge" if action == "ack" else "resolve", link.incident_key)
            elif action == "reopen":  # the old alert is resolved: the same key opens a new one
                events_client(container).send("trigger", link.incident_key, payload={
                    "summary": pd_title(incident)[:1024], "severity": EVENTS_SEVERITY[incident.severity],
                    "source": "fireline", "custom_details": {"fireline_incident": incident.id, "reopened": True}})
        elif link.pd_incident_id:
            rest = rest_client(container)
            if action == "note":
                author = person(ctx.chat, payload.get("user_id")) if payload.get("user_id") else "someone"
                rest.add_note(link.pd_incident_id, f"{NOTE_PREFIX} {author}: {payload.get('text') or ''}")
            elif action == "urgency":
                rest.update_incident(link.pd_incident_id, {"urgency": urgency}, what)
            elif target:
                rest.set_status(link.pd_incident_id, target)
    except PagerDutyError as exc:
        _retry_or_report(container, SYNC_JOB, payload, exc, what)
        return
    if target:
        with ctx.session() as session:
            stored = link_for(session, incident_id)
            if stored.status != "resolved" or action == "reopen":
                stored.status, stored.status_at = target, container.clock()
                session.add(stored)
            incident = svc.get_incident(session, incident_id)
        svc.refresh_cards(ctx, incident)
    if int(payload.get("attempt") or 1) > 1:
        svc.announce(ctx, incident, Reply(f":white_check_mark: PagerDuty caught up for #{incident_id}: "
                                          f"{what} went through on try {payload['attempt']}."))


def card_field(ctx: Context, incident: Incident) -> tuple[str, str] | None:
    with ctx.session() as session:
        link = link_for(session, incident.id)
        if link is None:
            return None
        return "PagerDuty", _describe_link(link)


__all__ = ["PAGE_JOB", "SYNC_JOB", "card_field", "incident_key", "page_job", "queue_page", "queue_sync", "sync_job"]
