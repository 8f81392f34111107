"""Better Stack (Uptime) incident webhooks: Started fires, Resolved resolves, one thread per incident id.

Better Stack sends its incident resource (docs, "Incident webhook" / incidents API):
{data: {id, type: "incident", attributes: {name, url, http_method, cause, incident_group_id,
started_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, status (Started |
Acknowledged | Resolved ...), team_name, regions, response_content}}}. An acknowledgement is not a
new alert: it counts on the same thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import IncomingAlert
from bot.features.alerts.sources.shape import ShapeError, first, key, lines, link, parse_time, text

EXPECTED = ("Better Stack's incident: `data.id` and `data.attributes` with `name`, `status` (Started, "
            "Acknowledged, Resolved), and optionally `cause`, `url`, `started_at`, `resolved_at`, `regions`")


def parse(data: Mapping[str, Any], headers: Mapping[str, str], **_: Any) -> list[IncomingAlert]:
    body = data.get("data") if isinstance(data.get("data"), Mapping) else {}
    attributes = body.get("attributes") if isinstance(body.get("attributes"), Mapping) else None
    incident = first(body.get("id"), limit=80)
    if attributes is None or not incident:
        raise ShapeError("betterstack", EXPECTED, "no `data.attributes`" if attributes is None else "no `data.id`")
    name = first(attributes.get("name"), attributes.get("url"))
    if not name:
        raise ShapeError("betterstack", EXPECTED, "no `data.attributes.name`")
    status = first(attributes.get("status"), limit=20).lower()
    resolved = status == "resolved" or bool(text(attributes.get("resolved_at")))
    cause = first(attributes.get("cause"), limit=300)
    title = name if resolved else f"{name} is down" + (f": {cause}" if cause else "")
    regions = attributes.get("regions") if isinstance(attributes.get("regions"), list) else []
    started, ended = parse_time(attributes.get("started_at")), parse_time(attributes.get("resolved_at"))
    return [IncomingAlert(
        source="betterstack", title=title,
        text=lines(("cause", cause), ("url", attributes.get("url")), ("status", attributes.get("status")),
                   ("checked from", ", ".join(text(r, 20) for r in regions[:10])),
                   ("team", attributes.get("team_name"))),
        link=link(attributes.get("url")), dedup_key=key("betterstack", "incident", incident),
        details={"incident_id": incident, "status": status,
                 "started_at": started.isoformat() if started else None,
                 "ended_at": ended.isoformat() if ended else None},
        resolved=resolved)]
