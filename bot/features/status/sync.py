"""Confirmed public updates also go to a hosted Statuspage (STATUSPAGE_API_KEY and STATUSPAGE_PAGE_ID).

Publishing stores the update and queues one job; the job creates the Statuspage incident on the first
update of a public incident and updates it afterwards, then sets each mapped component's status
(STATUSPAGE_COMPONENTS maps Fireline's component names to Statuspage component ids). Without a key it
is a dry run: the timeline says what would have been sent. A failure is said in the incident channel;
Fireline's own page already has the update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from bot.core.registry import Registry
from bot.core.container import Part
from bot.core.context import Context, job_context
from bot.core.errors import IntegrationError
from bot.core.hooks import Hooks
from bot.store.models import Incident
from bot.store.models.status import StatusUpdate
from bot.core.reply import Reply, escape
from bot.service import incidents as svc, jobs
from playbooks import statuspage as sp
from bot.clients.statuspage import StatuspageClient

log = logging.getLogger(__name__)

SYNC_JOB = "statuspage.sync"


def component_map(settings) -> dict[str, str]:
    """STATUSPAGE_COMPONENTS `API=abc123,Payments=def456` -> {"API": "abc123", ...}."""
    mapping = {}
    for item in [i.strip() for i in settings.statuspage_components.split(",") if i.strip()]:
        name, _, component_id = item.partition("=")
        if name.strip() and component_id.strip():
            mapping[name.strip()] = component_id.strip()
    return mapping


def enabled(settings) -> bool:
    return bool(settings.statuspage_page_id or settings.statuspage_api_key)


def queue_sync(ctx: Context, incident: Incident, update: StatusUpdate, **_: Any) -> None:
    if not enabled(ctx.app.settings):
        return
    with ctx.session() as session:
        jobs.enqueue(session, SYNC_JOB, {"update_id": update.id}, dedup_key=f"statuspage:{update.update_key}",
                     now=ctx.now())


def hosted_client(settings):
    """The hosted Statuspage's client, from the settings."""
    return StatuspageClient(settings.statuspage_api_url, settings.statuspage_api_key.get_secret_value(),
                            settings.statuspage_page_id)


# How a sync makes its client from the settings: `hosted_client`; a test puts one on a loopback transport.
CLIENT_FACTORY: Part[Callable[[Any], Any]] = Part("status.statuspage_client", lambda container: hosted_client)


def make_client(container):
    return container.parts.get(CLIENT_FACTORY)(container.settings)


def sync(container, payload: dict[str, Any], job=None) -> None:
    ctx = job_context(container)
    settings = container.settings
    with ctx.session() as session:
        update = session.get(StatusUpdate, int(payload["update_id"]))
        if update is None or update.state != "published":
            return
        incident = svc.get_incident(session, update.incident_id)
        earlier = session.exec(select(StatusUpdate).where(StatusUpdate.public_id == update.public_id,
                                                          col(StatusUpdate.external_id).is_not(None))
                               .order_by(col(StatusUpdate.id).desc())).first()
        external_id = earlier.external_id if earlier else None
        session.expunge(update)
    mapping = component_map(settings)
    components = {mapping[name]: status for name, status in update.components.items() if name in mapping}
    unmapped = [name for name in update.components if name not in mapping]
    impact = sp.IMPACT[sp.worst(update.components.values())]
    what = (f"{'update' if external_id else 'create'} the Statuspage incident \"{update.title}\" "
            f"({update.stage}) with " + (", ".join(f"{name}: {status}" for name, status in update.components.items()
                                                   if name in mapping) or "no mapped component"))
    note = f"; not mapped in STATUSPAGE_COMPONENTS: {', '.join(unmapped)}" if unmapped else ""
    if not settings.statuspage_api_key or not settings.statuspage_page_id:
        missing = "STATUSPAGE_API_KEY" if not settings.statuspage_api_key else "STATUSPAGE_PAGE_ID"
        _record(ctx, incident, "statuspage_dry_run", f"Statuspage (dry run, {missing} not set): would {what}{note}",
                {"update": update.update_key})
        return
    client = make_client(container)
    try:
        if external_id:
            client.update_incident(external_id, update.stage, update.body, components)
        else:
            external_id = client.create_incident(update.title, update.stage, update.body, components,
                                                 impact if impact not in ("none", "maintenance") else None)
        with ctx.session() as session:
            row = session.get(StatusUpdate, update.id)
            row.external_id = external_id
            session.add(row)
        for component_id, status in components.items():
            client.set_component(component_id, status)
    except IntegrationError as exc:
        _record(ctx, incident, "statuspage_failed", f"Statuspage: could not {what}: {exc}",
                {"update": update.update_key})
        svc.announce(ctx, incident, Reply(f":warning: The public update is on Fireline's status page but not on "
                                          f"Statuspage: {escape(str(exc))}",
                                          lines=["Post it there by hand, or publish the next update once it "
                                                 "answers again."]))
        return
    finally:
        close = getattr(client, "close", None)
        if close:
            close()
    _record(ctx, incident, "statuspage_synced", f"Statuspage: did {what} (incident {external_id}){note}",
            {"update": update.update_key, "statuspage_incident": external_id})


def _record(ctx: Context, incident: Incident, kind: str, text: str, data: dict[str, Any]) -> None:
    with ctx.session() as session:
        svc.record(session, svc.get_incident(session, incident.id), kind, "fireline", text, data, at=ctx.now())


def register(registry: Registry) -> None:
    registry.on(Hooks.STATUS_PUBLISHED)(queue_sync)
    registry.job(SYNC_JOB)(sync)
