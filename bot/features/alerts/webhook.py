"""`POST /webhooks/alerts`: generic JSON alerts (firing or resolved), Sentry issue alerts, PagerDuty incident.triggered.

A known sender's own payload posted here (Alertmanager's `groupKey`, Datadog's `transition`, ...) is
recognised by its fields and read as its route would read it.

Authenticated with ALERTS_WEBHOOK_SECRET: the sender signs the raw body with HMAC-SHA256 and sends
`X-Fireline-Signature: sha256=<hex digest>`. Sentry's own `Sentry-Hook-Signature: <hex>` and
PagerDuty's `X-PagerDuty-Signature: v1=<hex>` are accepted too (set ALERTS_WEBHOOK_SECRET to the
integration's client secret / the subscription's secret). Every refusal is a 4xx with a reason and
stores nothing; the answer never waits on Slack (the thread is a queued job).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.features.alerts import auth
from bot.features.alerts.auth import sign  # noqa: F401 (the benches and tests sign what they post here)
from bot.features.alerts.route import answer, routes as source_routes
from bot.features.alerts.payloads import Ignored, PayloadError, loads, parse_webhook
from bot.features.alerts.resolution import resolve
from bot.features.alerts.service import receive
from bot.core.container import Container
from bot.core.webhook_guard import NESTED_TOO_DEEPLY, read_body, store_or_503, webhook_error
from bot.features.alerts.sources import detect, route_hint

log = logging.getLogger(__name__)

PATH = "/webhooks/alerts"
def sentry_delivery_id(body: bytes) -> str:
    """A Sentry delivery's identity from what its signature covers: the event id and the body's hash.

    Why not Sentry's `Request-ID` header: the signature does not cover it, so a captured delivery sent
    again with a new one was a new alert. Sentry's own retry resends the same bytes, so it
    is still recognised as a repeat.
    """
    digest = hashlib.sha256(body).hexdigest()[:32]
    try:
        data = json.loads(body)["data"]
        event_id = (data.get("event") or {}).get("event_id") or ((data.get("metric_alert") or {}).get("id"))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        event_id = None
    return f"{str(event_id)[:64]}:{digest}" if event_id else digest


def recognise(data: dict, headers: Mapping[str, str]) -> str | None:
    """The source when the body is a known sender's payload rather than Fireline's own shape.

    Sentry's and PagerDuty's envelopes stay with this route's own readers; anything else that
    Alertmanager, Grafana, Datadog, UptimeRobot, Honeycomb or Better Stack would send is read as that
    sender's route reads it, instead of as a generic alert with the sender's raw title (a Datadog
    delivery here read "[Triggered] High tracking" as its title and keyed each notification apart).
    """
    if any(k.lower() == "sentry-hook-resource" for k in headers):
        return None
    if ("action" in data and "installation" in data) or isinstance(data.get("event"), Mapping):
        return None
    return detect(data)


async def resolved_answer(container: Container, incoming) -> JSONResponse:
    """202 with the resolution (`resolved_after`, or `unchanged` when already resolved); 200 `ignored` for a key
    Fireline never saw, so the sender does not retry it."""
    outcome = await store_or_503(resolve, container, incoming, what="alert", log=log, path=PATH)
    if isinstance(outcome, JSONResponse):
        return outcome
    if outcome.status == "ignored":
        return JSONResponse(outcome.as_dict())
    return JSONResponse(outcome.as_dict(), status_code=202)


def routes(container: Container, worker=None) -> list[Route]:
    """`worker` is not woken here: the transaction that stores a delivery's jobs wakes it (the runtime registers
    it with bot.service.jobs.add_waker), and a second wake per delivery made it look twice."""

    async def alerts_webhook(request: Request) -> JSONResponse:
        secret = container.settings.alerts_webhook_secret
        if secret is None or not secret.get_secret_value():
            return webhook_error(403, "alert intake is off: set ALERTS_WEBHOOK_SECRET on the Fireline server")
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        headers = dict(request.headers)
        decision = auth.decide(container.settings, None, body, headers)  # one module decides for every route
        if not decision.allowed:
            return webhook_error(decision.status, decision.reason)
        try:
            data = loads(body)  # once: the sender's route and this route's own readers share it
            source = recognise(data, headers)
            incoming = None if source is not None else parse_webhook(data, headers)
        except PayloadError as exc:
            return webhook_error(exc.status, str(exc) + (route_hint(body) if exc.status == 422 else ""))
        except Ignored as exc:
            return JSONResponse({"status": "ignored", "reason": str(exc)})
        except RecursionError:  # signed, but nested past what json can read: the sender's payload, said so
            return webhook_error(422, NESTED_TOO_DEEPLY)
        except Exception:  # an adapter tripped on an odd shape: the sender's payload, not a server fault
            log.exception("could not read an alert payload")
            return webhook_error(422, "could not read this alert payload; send the generic shape {title, text, source}")
        if incoming is None:  # a sender's own payload: read as its route reads it (as `/alert {json}` does)
            return await answer(container, source, lambda: data, headers)
        if incoming.source == "sentry":
            incoming = replace(incoming, delivery_id=sentry_delivery_id(body))
        if incoming.resolved:  # `status: resolved` in the generic shape: the same path as the per-source routes
            return await resolved_answer(container, incoming)
        received = await store_or_503(receive, container, incoming, what="alert", log=log, path=PATH)
        if isinstance(received, JSONResponse):
            return received
        if received.duplicate:
            return JSONResponse({"status": "duplicate", "reason": "this delivery was already received"})
        return JSONResponse({"status": "accepted", "alert": received.alert_id, "severity": received.level,
                             "thread": "new" if received.new else "updated", "count": received.count,
                             "incident": received.incident_id}, status_code=202)

    return [Route(PATH, alerts_webhook, methods=["POST"]), *source_routes(container, worker)]
