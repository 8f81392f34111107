"""Is it them? on the incident: SEV1/SEV2 cards show the providers' status, and the channel hears when one is not fine.

Declaring (or raising to) SEV1/SEV2 queues one job that reads the providers' pages (never on Slack's ack
path), refreshes the card, whose field reads only the one-minute cache, and posts the details in the
incident channel. `/diagnose` reads them itself (bot.service.playbook_env passes `env.providers`).
"""

from __future__ import annotations

from typing import Any

from bot.commands.registry import Registry
from bot.context import Context
from bot.models import Incident
from bot.reply import Reply
from bot.service import incidents as svc
from bot.service import jobs
from bot.status import providers

PROVIDERS_JOB = "status.providers"
CARD_SEVERITIES = (1, 2)


def providers_field(ctx: Context, incident: Incident) -> tuple[str, str] | None:
    if incident.severity not in CARD_SEVERITIES or not incident.is_open:
        return None
    reports = providers.read_all(ctx.app, cached_only=True)
    return ("Providers", providers.card_value(reports)) if reports else None


def queue_check(ctx: Context, incident: Incident, **_: Any) -> None:
    if incident.severity not in CARD_SEVERITIES or not providers.parse_pages(ctx.app.settings.provider_status_pages):
        return
    with ctx.session() as session:
        jobs.enqueue(session, PROVIDERS_JOB, {"incident_id": incident.id},
                     dedup_key=f"providers:{incident.id}:{incident.severity}", now=ctx.now())


def check_providers(container, payload: dict[str, Any], job=None) -> None:
    from bot.job_context import job_context

    ctx = job_context(container)
    with ctx.session() as session:
        incident = svc.get_incident(session, int(payload["incident_id"]))
    reports = providers.read_all(container)
    svc.refresh_cards(ctx, incident)
    if all(report.fine for report in reports):
        return
    svc.announce(ctx, incident, Reply("*Is it them?* The providers' status pages:",
                                      lines=providers.report_lines(reports, incident.declared_at)))


def diagnose_lines(container, started=None) -> list[str]:
    return providers.report_lines(providers.read_all(container), started)


def register(registry: Registry) -> None:
    registry.card_field(providers_field)
    registry.on("incident.declared")(queue_check)
    registry.on("incident.severity_changed")(queue_check)
    registry.job(PROVIDERS_JOB)(check_providers)
