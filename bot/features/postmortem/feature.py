"""`/postmortem`: the draft Fireline writes when an incident is resolved, regenerated and closed from Slack.

On `incident.resolved` a draft job and the due-date reminder are queued (durable rows); the job
renders, stores and posts the draft. `/postmortem [#N]` regenerates it; `/postmortem done <link>`
records the published version and stops the reminder.
"""

from __future__ import annotations

import re
from typing import Any

from bot.core.check import Status
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.core.reply import Reply, escape
from bot.service import incidents as svc
from bot.features.postmortem import service as pm_svc
from bot.core.settings import Settings
from playbooks import postmortem as pm

USAGE = "[#N] | done <link> [#N]"
_LINK = re.compile(r"^<?(https?://[^\s|>]+)(?:\|[^>]*)?>?$")


def parse_link(word: str) -> str:
    """A URL as typed, or as Slack sends it (`<https://...>` or `<https://...|label>`)."""
    match = _LINK.match(word.strip())
    if not match or len(match.group(1)) > 500:
        raise UserError(f"`{escape(word[:60])}` is not a link.",
                        "Paste the address of the published postmortem, for example "
                        "`/postmortem done https://wiki.example.com/postmortems/42`.")
    return match.group(1)


def target(ctx: Context, args: Args) -> Incident:
    with ctx.session() as session:
        return svc.target_incident(ctx, session, args.incident_ref, args.channel_ref, "", command="postmortem")


def postmortem(ctx: Context, args: Args) -> Reply:
    words = list(args.words)
    if words and words[0].lower() == "help":
        return ctx.app.registry.commands["postmortem"].help_reply()
    if words and words[0].lower() == "done":
        if len(words) != 2:
            raise UserError("Say where the published postmortem is, as one link.",
                            "For example `/postmortem done https://wiki.example.com/postmortems/42`.")
        link = parse_link(words[1])
        incident = target(ctx, args)
        incident, before = pm_svc.mark_done(ctx, incident.id, link)
        return Reply(f"Recorded the postmortem of #{incident.id}" + (" (link updated)." if before else
                                                                      "; the reminder is off."))
    if words:
        raise UserError(f"`{escape(words[0][:30])}` is not something `/postmortem` does.",
                        f"Usage: `/postmortem {USAGE}`.")
    incident = target(ctx, args)
    draft = pm_svc.generate(ctx.app, incident.id)
    problems = pm_svc.publish(ctx, draft)
    reply = Reply(f"Regenerated the postmortem draft of #{incident.id} from {draft.events} timeline events and "
                  f"posted it in {pm_svc.channel_label(ctx, incident)}; {draft.todos} places are marked _TODO_.")
    if incident.is_open:
        reply.lines.append(f"#{incident.id} is still open, so the draft is partial.")
    if draft.warning:
        reply.lines.append(f":warning: {escape(draft.warning)}")
    reply.lines += [f":warning: {escape(problem)}" for problem in problems]
    return reply


def press_done(ctx: Context, incident: Incident) -> Reply:
    """The draft's Done button: recording needs the published postmortem's address, which only the person
    knows, so the button says what to type (or what is recorded already) instead of recording nothing."""
    number = incident.id
    if incident.is_open:
        raise UserError(f"#{number} is still open, so its postmortem cannot be done yet.",
                        f"Resolve it first with `/incident resolve #{number}`.")
    with ctx.session() as session:
        row = pm_svc.stored(session, number)
    if row is not None and row.done_link:
        return Reply(f"The postmortem of #{number} is recorded as done: {escape(row.done_link)}",
                     lines=[f"To change the link, type `/postmortem done <new link> #{number}`."])
    return Reply(f"Where is the published postmortem of #{number}? Type `/postmortem done <link> #{number}`",
                 lines=[f"For example `/postmortem done https://wiki.example.com/postmortems/{number} #{number}`. "
                        "That records it in the timeline and turns the due-date reminder off."])


def on_resolved(ctx: Context, incident: Incident, **_: Any) -> None:
    pm_svc.schedule(ctx, incident)


def draft_job(container: Container, payload: dict[str, Any], job=None) -> None:
    ctx = job_context(container, user_id=payload.get("user_id") or "fireline")
    draft = pm_svc.generate(container, int(payload["incident_id"]))
    pm_svc.publish(ctx, draft)


def reminder_job(container: Container, payload: dict[str, Any], job=None) -> None:
    pm_svc.remind(job_context(container), int(payload["incident_id"]), payload["due_at"])


def due_job(container: Container, payload: dict[str, Any], job=None) -> None:
    pm_svc.due(job_context(container), int(payload["incident_id"]), payload["due_at"])


def register(registry: Registry) -> None:
    registry.simple_command("postmortem", USAGE, "regenerate the postmortem draft, or record the published one")(
        postmortem)
    registry.on(Hooks.INCIDENT_RESOLVED)(on_resolved)
    registry.action(pm_svc.DONE_ACTION, press_done, value="incident", incident="any")
    registry.job(pm_svc.DRAFT_JOB)(draft_job)
    registry.job(pm_svc.REMINDER_JOB)(reminder_job)
    registry.job(pm_svc.DUE_JOB)(due_job)


def register_check(registry: Registry) -> None:
    registry.check("postmortem")(check_template)


def check_template(settings: Settings) -> Status:
    """Render POSTMORTEM_TEMPLATE against a sample incident now, not when an incident needs it."""
    if not settings.postmortem_template:
        return Status("postmortem", "live", f"default template ({pm.DEFAULT_TEMPLATE.name}); due "
                      f"for SEV1-SEV{settings.postmortem_required_severity}")
    try:
        pm.render_with(pm.load_template(settings.postmortem_template), pm.sample_document(),
                       settings.postmortem_template)
    except pm.TemplateProblem as exc:
        return Status("postmortem", "error", f"{exc}; drafts fall back to the default template")
    return Status("postmortem", "live", f"template {settings.postmortem_template} renders; due for "
                  f"SEV1-SEV{settings.postmortem_required_severity}")
