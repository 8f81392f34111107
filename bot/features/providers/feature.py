"""Is it them? on the incident: SEV1/SEV2 cards show the providers' status, and the channel hears when one is not fine.

Declaring (or raising to) SEV1/SEV2 (the default workflow file's `plan_playbook: providers`) queues one job that reads the providers' pages (never on Slack's ack
path), refreshes the card, whose field reads only the one-minute cache, and posts the details in the
incident channel once per incident: the first post writes a timeline event with a per-incident dedup key,
and a later raise (SEV3 -> SEV2 -> SEV1, or back up after a downgrade) that finds the event posts nothing.
The claim is that row, not a flag in memory, so replicas and restarts agree. `/diagnose` reads them itself: `diagnose_lines` is the playbook Env's `providers` piece.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.registry import Registry
from bot.core.context import Context, job_context
from bot.core.errors import UserError
from bot.store.models import Incident
from bot.core.reply import Button, Reply, escape
from bot.service import incidents as svc, jobs
from bot.features.providers import service as providers

PROVIDERS_JOB = "status.providers"
PIN_ACTION = "status_provider_pin"
CARD_SEVERITIES = (1, 2)
POSTED_KEY = "providers:posted"  # unique per incident in the timeline: the one "Is it them?" post


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
    ctx = job_context(container)
    with ctx.session() as session:
        incident = svc.get_incident(session, int(payload["incident_id"]))
    reports = providers.read_all(container)
    svc.refresh_cards(ctx, incident)
    if all(report.fine for report in reports):
        return
    not_fine = [report.name for report in reports if not report.fine]
    with ctx.session() as session:
        incident = svc.get_incident(session, incident.id)
        claimed = svc.record(session, incident, "providers_checked", "fireline",
                             "Is it them? Not all fine on the providers' status pages: " + ", ".join(not_fine),
                             {"not_fine": not_fine, "severity": incident.severity}, at=ctx.now(),
                             dedup_key=POSTED_KEY)
    if claimed is None:  # posted before, at this or another severity: the channel has it
        return
    buttons = [Button(f"Add {report.name[:30]} incident to timeline", PIN_ACTION,
                      pin_value(incident.id, report.name, found))
               for report in reports if report.readable for found in report.incidents[:2]]
    svc.announce(ctx, incident, Reply("*Is it them?* The providers' status pages:",
                                      lines=providers.report_lines(reports, incident.declared_at),
                                      buttons=buttons[:4]))


def pin_value(incident_id: int, provider: str, found: providers.ProviderIncident) -> str:
    return json.dumps({"i": incident_id, "p": provider[:60], "n": found.name[:200], "l": found.link[:300],
                       "s": found.status})


def press_pin(ctx: Context, value: str) -> Reply:
    """Puts a provider's incident (name, state, link) in our timeline, once, so the postmortem has it."""
    try:
        data = json.loads(value)
        incident_id, provider, name, link = int(data["i"]), str(data["p"]), str(data["n"]), str(data["l"])
    except (ValueError, KeyError, TypeError):
        raise UserError("That button does not name a provider incident; run `/diagnose` again.") from None
    if not link.startswith(("http://", "https://")):
        raise UserError("That button does not name a provider incident; run `/diagnose` again.")
    with ctx.session() as session:
        incident = svc.incident_for(ctx, session, incident_id)  # a private one: members only
        added = svc.record(session, incident, "provider_incident", ctx.user_id,
                           f"{provider} status page: {name} ({data.get('s', '?')}) {link}",
                           {"provider": provider, "name": name, "link": link},
                           at=ctx.now(), dedup_key=f"provider:{link}"[:200])
    if added is None:
        return Reply(f"{escape(provider)}'s incident is already in the timeline of #{incident_id}.")
    return Reply(f"Added {escape(provider)}'s incident to the timeline of #{incident_id}: {escape(name)}")


def diagnose_lines(container, started=None) -> list[str]:
    return providers.report_lines(providers.read_all(container), started, plain=True)  # the report escapes


def register(registry: Registry) -> None:
    registry.card_field(providers_field)
    registry.job(PROVIDERS_JOB)(check_providers)
    registry.action(PIN_ACTION)(press_pin)
    registry.env_piece("providers")(diagnose_lines)
