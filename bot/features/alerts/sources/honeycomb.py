"""Honeycomb trigger webhooks: `status` TRIGGERED fires, OK resolves, one thread per trigger `id`.

Honeycomb's default trigger payload (docs, "Webhooks"): {version, id, name, status, summary,
description, operator, threshold, result_url, trigger_url, result_groups,
result_groups_triggered, is_test, shared_secret}. The recipient's secret arrives as
`X-Honeycomb-Webhook-Token` (checked by bot.features.alerts.auth; `shared_secret` in the body is never
stored or shown), and `X-Honeycomb-Webhook-Delivery-ID` stays the same across Honeycomb's retries.
Older notifications carry no `id`; their trigger is then its `trigger_url`, else its name. The
summary's "Triggered: " prefix is dropped from the title (the thread says it is firing). A delivery
with `is_test: true` (the trigger page's "Test" button) is answered and ignored, as Grafana's test is: a
test of the recipient is not an alert, and a thread in #incidents for it pages nobody but misleads everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import Ignored, IncomingAlert
from bot.features.alerts.sources.shape import ShapeError, first, key, lines, link, strip_state, text

TEST_IGNORED = "Honeycomb's test notification: the recipient reaches Fireline; no thread is opened for it"
EXPECTED = ("Honeycomb's trigger payload: `id`, `name`, `status` (TRIGGERED or OK), and optionally `summary`, "
            "`description`, `threshold`, `operator`, `result_url`, `trigger_url`, `result_groups_triggered`")


def _groups(value: Any) -> str:
    if not isinstance(value, list):
        return ""
    out = []
    for group in value[:5]:
        if isinstance(group, Mapping):
            labels = group.get("Group") if isinstance(group.get("Group"), Mapping) else {}
            where = ", ".join(f"{text(k, 40)}={text(v, 60)}" for k, v in labels.items())
            out.append(f"{where or 'all'}: {text(group.get('Result'), 40)}")
    return "; ".join(out)


def parse(data: Mapping[str, Any], headers: Mapping[str, str], **_: Any) -> list[IncomingAlert]:
    if data.get("is_test") is True:
        raise Ignored(TEST_IGNORED)
    status = first(data.get("status"), limit=20).upper()
    name = first(data.get("name"), data.get("summary"))
    trigger = first(data.get("id"), data.get("trigger_url"), name, limit=200)
    if not status or not name:
        missing = [n for n, v in (("status", status), ("name", name)) if not v]
        raise ShapeError("honeycomb", EXPECTED, f"missing {', '.join(missing)}")
    resolved = status in ("OK", "RESOLVED")
    title = name if resolved else strip_state(first(data.get("summary"), name))
    threshold = ""
    if data.get("threshold") is not None:
        threshold = f"{text(data.get('operator'), 40)} {text(data.get('threshold'), 40)}".strip()
    return [IncomingAlert(
        source="honeycomb", title=title,
        text=lines(("", data.get("description")), ("threshold", threshold),
                   ("triggered", _groups(data.get("result_groups_triggered"))),
                   ("result", link(data.get("result_url")))),
        link=link(data.get("trigger_url")) or link(data.get("result_url")),
        dedup_key=key("honeycomb", "trigger", trigger),
        details={"trigger_id": trigger, "status": status},
        delivery_id=text(headers.get("x-honeycomb-webhook-delivery-id"), 100) or None, resolved=resolved)]
