"""Datadog's webhook integration: the payload template Fireline documents, or Datadog's default payload.

Datadog sends whatever JSON the webhook's payload template says; docs/alerts.md gives the template to
paste, built from Datadog's template variables: {"title": "$EVENT_TITLE", "text": "$EVENT_MSG",
"priority": "$ALERT_PRIORITY", "transition": "$ALERT_TRANSITION", "alert_id": "$ALERT_ID", "scope":
"$ALERT_SCOPE", "link": "$LINK", "event_id": "$ID", "alert_type": "$ALERT_TYPE", "date": "$DATE"}.
One thread per monitor and scope ($ALERT_ID + $ALERT_SCOPE: a multi-alert monitor's hosts stay
apart); $ALERT_PRIORITY (P1-P5) is the monitor's own priority and decides the SEV; $ALERT_TRANSITION
`Recovered` resolves; $ID makes Datadog's retries of one event replays, not repeats.

Datadog's default payload has none of those keys: {"id": "$ID", "title": "$EVENT_TITLE", "body":
"$EVENT_MSG", "event_type", "date", "last_updated", "org"}. There `$ID` is the event, new with every
notification, so it is only the delivery's id; the alert is the monitor group (`aggregate`,
$AGGREG_KEY, when a template adds it) or else the title without its "[Triggered on {host:a}]"
prefix plus the scope in it, and the transition is read from that prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.features.alerts.payloads import IncomingAlert, derive_key
from bot.features.alerts.sources.shape import ShapeError, first, key, lines, link, strip_state, text
from playbooks.severity import Signals

EXPECTED = ("the Datadog template in docs/alerts.md: `title` ($EVENT_TITLE), `transition` ($ALERT_TRANSITION), `alert_id` "
            "($ALERT_ID), and optionally `text`, `priority`, `scope`, `link`, `event_id`, `alert_type`; or Datadog's "
            "default payload (`id`, `title`, `body`, `event_type`, `org`)")
# "[P1] [Triggered on {host:web-1,env:prod}] CPU high": the priority, the transition, the scope.
TITLE_STATE = re.compile(r"^\s*(?:\[(P[1-5])\]\s*)?\[(triggered|recovered|warn|re-?triggered|re-?warn|renotify|"
                         r"no data|recovered from (?:warn|no data))(?: on \{?([^\]}]*)\}?)?\]", re.IGNORECASE)
MARKDOWN_FENCE = re.compile(r"^\s*%%%\s*$", re.MULTILINE)


def message(value: Any) -> Any:
    """$EVENT_MSG without the `%%%` lines Datadog wraps Markdown messages in (they showed in the thread)."""
    return MARKDOWN_FENCE.sub("", value).strip() if isinstance(value, str) else value


def parse(data: Mapping[str, Any], headers: Mapping[str, str], **_: Any) -> list[IncomingAlert]:
    raw_title = first(data.get("title"), data.get("event_title"), data.get("alert_title"))
    state = TITLE_STATE.match(raw_title)
    transition = first(data.get("transition"), data.get("alert_transition"), state.group(2) if state else None,
                       limit=40)
    alert_id = first(data.get("alert_id"), limit=80)
    if not raw_title or not (transition or alert_id):
        missing = [name for name, value in (("title", raw_title), ("transition", transition), ("alert_id", alert_id))
                   if not value]
        raise ShapeError("datadog", EXPECTED, f"missing {', '.join(missing)}")
    title = strip_state(raw_title)
    priority = first(data.get("priority"), data.get("alert_priority"), state.group(1) if state else None,
                     limit=10).upper() or None
    if priority and not re.fullmatch(r"P[1-5]", priority):
        priority = None
    scope = first(data.get("scope"), data.get("alert_scope"), state.group(3) if state else None, limit=200)
    resolved = transition.lower().startswith("recovered")
    aggregate = first(data.get("aggregate"), data.get("aggreg_key"), limit=80)
    if alert_id:
        dedup = key("datadog", alert_id, scope)
    elif aggregate:
        dedup = key("datadog", "aggregate", aggregate)
    else:  # the default payload: the monitor is its title, the group its scope ($ID is only this notification)
        dedup = derive_key("datadog", f"{title} {scope}".strip())
    alert_type = text(data.get("alert_type"), 20) or None
    return [IncomingAlert(
        source="datadog", title=title,
        text=lines(("", message(data.get("text") or data.get("event_msg") or data.get("body"))), ("scope", scope),
                   ("priority", priority), ("transition", transition)),
        link=link(data.get("link")) or link(data.get("url")), severity_hint=priority or alert_type,
        dedup_key=dedup, signals=Signals(source_severity=priority, severity_hint=None if priority else alert_type),
        details={"alert_id": alert_id or None, "scope": scope or None, "transition": transition, "priority": priority,
                 "aggregate": aggregate or None},
        delivery_id=first(data.get("event_id"), data.get("id"), limit=100) or None, resolved=resolved)]
