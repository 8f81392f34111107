"""`POST /webhooks/alerts/<source>`: each sender's own payload, its own auth, firing and resolved alerts.

The generic route (`/webhooks/alerts`, bot/features/alerts/webhook.py) stays for Fireline's own shape,
Sentry and PagerDuty. Here the source is in the URL, so the sender needs no Fireline-specific
field: Alertmanager's `webhook_configs.url`, UptimeRobot's webhook alert contact, Datadog's webhook
integration (with the template in docs/alerts.md), Honeycomb's webhook recipient, Better Stack's webhook.
Answers: 202 with one entry per alert; 200 `ignored` for a sender's test notification; 401/403 from
bot.features.alerts.auth; 404 for an unknown source; 400 for a body that is neither JSON nor a form; 422
naming the fields that source sends; 503 when the database cannot take it. Never waits on Slack, nor
on the delivery's size: past THREADS_PER_DELIVERY firing alerts, a delivery is one alert listing them
(bot/features/alerts/storm.py). A form-encoded body (UptimeRobot without *Send as JSON*, Datadog's *Encode as
form*) is read as its fields: the sender's default should not be an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.features.alerts import auth, sources, storm
from bot.features.alerts.payloads import Ignored, IncomingAlert, PayloadError, loads
from bot.features.alerts.resolution import Outcome, is_resolved, take
from bot.features.alerts.service import latest_alert, rules
from bot.core.container import Container
from bot.store.db import session_scope
from bot.core.webhook_guard import NESTED_TOO_DEEPLY, read_body, store_or_503, webhook_error

log = logging.getLogger(__name__)

PATH = "/webhooks/alerts/{source}"


def options(container: Container, source: str) -> dict[str, Any]:
    if source in ("alertmanager", "prometheus"):
        return {"per_group": container.settings.alerts_alertmanager_groups}
    return {}


_FORM = re.compile(r"^[\w.%+\-*]+=[^&]*(?:&[\w.%+\-*]+=[^&]*)*$")
JSON_HINTS = {"uptimerobot": " (in UptimeRobot's alert contact, tick *Send as JSON (application/json)* and paste the "
                             "body in docs/alerts.md)",
              "datadog": " (in Datadog's webhook, paste the payload in docs/alerts.md)"}


def read_data(source: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The delivery's fields: JSON, or a form (`application/x-www-form-urlencoded`, or a body shaped like one)."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "").lower()
    text_body = body.decode("utf-8", "replace").strip()
    if "application/x-www-form-urlencoded" in content_type or (_FORM.match(text_body) and "{" not in text_body[:1]):
        fields = dict(parse_qsl(text_body, keep_blank_values=True))
        if fields:
            return fields
    try:
        return loads(body)
    except PayloadError as exc:
        raise PayloadError(str(exc) + JSON_HINTS.get(source, ""), exc.status) from None


def read(container: Container, source: str, fields: Callable[[], dict[str, Any]],
         headers: Mapping[str, str]) -> list[IncomingAlert]:
    """The delivery's alerts as stored: parsed, then a large group collapsed into one (bot/features/alerts/storm.py).

    Run in the thread pool: parsing a 290 KB Alertmanager group of 10,000 alerts takes a few hundred ms,
    which on the event loop would hold back every other request, Slack's acks included.
    """
    chosen = options(container, source)
    incoming = sources.parse(source, fields(), headers, **chosen)
    group = None if chosen.get("per_group") else storm.named_group(incoming)  # per group: one thread already
    return storm.collapse(incoming, rules(container), open_group=group is not None and open_thread(container, group))


def open_thread(container: Container, key: str) -> bool:
    """Whether the alert with this key is open (stored, not resolved): a group collapsed before."""
    with session_scope(container.engine) as session:
        latest = latest_alert(session, key)
        return latest is not None and not is_resolved(latest)


def take_all(container: Container, incoming: list[IncomingAlert]) -> list[Outcome]:
    """At most 2 x THREADS_PER_DELIVERY alerts after `read`: the answer never waits on the delivery's size."""
    return [take(container, item) for item in incoming]


async def answer(container: Container, source: str, fields: Callable[[], dict[str, Any]],
                 headers: Mapping[str, str]) -> JSONResponse:
    """Parse one delivery as `source` (`fields()` gives its fields), store its alerts, and say what became of each.

    Shared by the source routes and by the generic route when it recognises a sender by its fields.
    """
    try:
        incoming = await run_in_threadpool(read, container, source, fields, headers)
    except PayloadError as exc:
        return webhook_error(exc.status, str(exc))
    except Ignored as exc:  # a test notification: the wiring works, nobody is paged
        return JSONResponse({"status": "ignored", "reason": str(exc)})
    except RecursionError:  # nested past what json can read: the sender's payload, said so (as the generic route)
        return webhook_error(422, NESTED_TOO_DEEPLY)
    except Exception:  # a parser tripped on an odd shape: the sender's payload, not a server fault
        log.exception("could not read %s alert payload", sources.a(source))
        return webhook_error(422, f"could not read this {source} payload; see the alert sources table in docs/alerts.md")
    if not incoming:
        return JSONResponse({"status": "ignored", "reason": "the delivery carries no alerts"})
    outcomes = await store_or_503(take_all, container, incoming, what="alert", log=log)
    if isinstance(outcomes, JSONResponse):
        return outcomes
    return JSONResponse({"status": "accepted", "source": source, "alerts": [o.as_dict() for o in outcomes]},
                        status_code=202)


def routes(container: Container, worker=None) -> list[Route]:
    async def source_webhook(request: Request) -> JSONResponse:
        source = request.path_params["source"].lower()
        if sources.parser(source) is None:
            return webhook_error(404, f"unknown alert source `{source[:40]}`; Fireline takes "
                                      f"{', '.join(sources.names())} at /webhooks/alerts/<source>, and its own "
                                      "shape at /webhooks/alerts")
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        headers = dict(request.headers)
        decision = auth.decide(container.settings, source, body, headers)
        if not decision.allowed:
            return webhook_error(decision.status, decision.reason)
        return await answer(container, source, lambda: read_data(source, body, headers), headers)

    return [Route(PATH, source_webhook, methods=["POST"])]
