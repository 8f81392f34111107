"""Undo temporary mitigations: when an incident is resolved, what its playbooks left in place, offered back.

Resolving queues one job (never on Slack's ack path) that reads the incident's executions and Fly's
fleet now, asks playbooks.undo (a pure decision) what is still in place and what someone changed
since, and posts that in the incident channel with one button per undo. A press reads the fleet again
(minutes or days may have passed) and proposes the undo as the playbook's normal plan, attached to the
incident: the usual Confirm by a responder, the health gates and the audit trail are the playbook's own.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.core.grammar import parse_args
from bot.core.registry import Registry
from bot.core.container import Container
from bot.core.context import Context, job_context
from bot.store.db import session_scope
from bot.core.errors import UserError
from bot.core.hooks import Hooks
from bot.store.models import Incident, PlaybookExecution
from bot.core.reply import Button, Reply, escape
from bot.features.playbooks import executions
from bot.service import jobs
from bot.service import incidents as svc
from bot.features.playbooks.env import build_env, close_env, is_live
from playbooks.framework import ServiceError
from playbooks.undo import ExecutionRecord, Leftover, leftovers

OFFER_JOB = "undo.offer"
UNDO_ACTION = "undo_mitigation"
FINISHED = ("succeeded", "failed", "stopped", "interrupted")


def records(container: Container, incident_id: int) -> list[ExecutionRecord]:
    with session_scope(container.engine) as session:
        rows = session.exec(select(PlaybookExecution).where(
            col(PlaybookExecution.incident_id) == incident_id, col(PlaybookExecution.dry_run).is_(False),
            col(PlaybookExecution.status).in_(FINISHED))).all()
        return [ExecutionRecord(row.id, row.playbook, row.plan, row.results) for row in rows]


def still_in_place(container: Container, incident_id: int) -> list[Leftover]:
    found = records(container, incident_id)
    if not found or not is_live(container):
        return []
    env = build_env(container)
    try:
        machines = env.fly.list_machines()
    finally:
        close_env(env)
    return leftovers(found, machines)


def queue_offer(ctx: Context, incident: Incident, **_: Any) -> None:
    with ctx.session() as session:
        jobs.enqueue(session, OFFER_JOB, {"incident_id": incident.id},
                     dedup_key=f"undo:{incident.id}:{ctx.now():%Y-%m-%dT%H:%M:%S}", now=ctx.now())


def offer(container: Container, payload: dict[str, Any], job=None) -> None:
    incident_id = int(payload["incident_id"])
    ctx = job_context(container)
    with ctx.session() as session:
        incident = svc.get_incident(session, incident_id)
    try:
        found = still_in_place(container, incident_id)
    except ServiceError as exc:
        svc.announce(ctx, incident, Reply(f"*Still in place after #{incident_id}?* Could not read Fly to tell: "
                                          f"{escape(str(exc))}"))
        return
    if not found:
        return
    buttons = [Button(item.label, UNDO_ACTION, f"{incident_id}:{item.execution_id}") for item in found if item.undo]
    svc.announce(ctx, incident, Reply(
        f":broom: *Still in place after #{incident_id}* (what its playbooks changed; each undo is a plan to confirm):",
        lines=[f"• {escape(item.text)}" for item in found], buttons=buttons[:5]))


def press_undo(ctx: Context, value: str) -> Reply:
    incident_part, _, execution_part = (value or "").partition(":")
    if not (incident_part.isascii() and incident_part.isdigit() and execution_part.isascii()
            and execution_part.isdigit()):
        raise UserError("That button does not name an undo.", "Resolve the incident again to list what is left.")
    incident_id, execution_id = int(incident_part), int(execution_part)
    with ctx.session() as session:
        incident = svc.incident_for(ctx, session, incident_id)  # a private one: members only
    try:
        found = [i for i in still_in_place(ctx.app, incident_id) if i.execution_id == execution_id]
    except ServiceError as exc:
        raise UserError(f"Could not read Fly to check what is still in place: {exc}", "Try again in a minute.") \
            from None
    if not found or found[0].undo is None:
        said = found[0].text if found else f"what #{execution_id} changed is no longer in place"
        return Reply(f"Nothing to undo: {escape(said)}.")
    name, words = found[0].undo
    playbook = ctx.app.registry.playbooks.get(name)
    if playbook is None:
        raise UserError(f"The {name} playbook is not installed.")
    params = playbook.parse(parse_args(list(words)))
    execution, plan = executions.propose(ctx, playbook, params, incident)
    return executions.plan_answer(ctx, playbook, execution, plan, incident)


def register(registry: Registry) -> None:
    registry.on(Hooks.INCIDENT_RESOLVED)(queue_offer)
    registry.job(OFFER_JOB)(offer)
    registry.action(UNDO_ACTION, press_undo)
