"""Datadog's webhook integration, with the payload template Fireline documents (README, alert sources).

Datadog sends whatever JSON the webhook's payload template says; the README gives the template to
paste, built from Datadog's template variables: {"title": "$EVENT_TITLE", "text": "$EVENT_MSG",
"priority": "$ALERT_PRIORITY", "transition": "$ALERT_TRANSITION", "alert_id": "$ALERT_ID", "scope":
"$ALERT_SCOPE", "link": "$LINK", "event_id": "$ID", "alert_type": "$ALERT_TYPE", "date": "$DATE"}.
One thread per monitor and scope ($ALERT_ID + $ALERT_SCOPE: a multi-alert monitor's hosts stay
apart); $ALERT_PRIORITY (P1-P5) is the severity hint; $ALERT_TRANSITION `Recovered` resolves;
$ID makes Datadog's retries of one event replays, not repeats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.alerts.payloads import IncomingAlert
from bot.alerts.sources import ShapeError, first, key, lines, link, text
from playbooks.severity import Signals

EXPECTED = ("the README's Datadog template: `title` ($EVENT_TITLE), `transition` ($ALERT_TRANSITION), `alert_id` "
            "($ALERT_ID), and optionally `text`, `priority`, `scope`, `link`, `event_id`, `alert_type`")
TRANSITION_PREFIX = re.compile(r"^\s*\[(?:P[1-5]\]\s*\[)?(?:triggered|recovered|warn|re-?triggered|re-?warn|renotify|"
                               r"no data|recovered from (?:warn|no data))(?: on [^\]]*)?\]\s*", re.IGNORECASE)


MARKDOWN_FENCE = re.compile(r"^\s*%%%\s*$", re.MULTILINE)


def message(value: Any) -> Any:
    """$EVENT_MSG without the `%%%` lines Datadog wraps Markdown messages in (they showed in the thread)."""
    return MARKDOWN_FENCE.sub("", value).strip() if isinstance(value, str) else value


def parse(data: Mapping[str, Any], headers: Mapping[str, str], **_: Any) -> list[IncomingAlert]:
    raw_title = first(data.get("title"), data.get("event_title"))
    transition = first(data.get("transition"), data.get("alert_transition"), limit=40)
    alert_id = first(data.get("alert_id"), data.get("id"), limit=80)
    if not raw_title or not (transition or alert_id):
        missing = [name for name, value in (("title", raw_title), ("transition", transition), ("alert_id", alert_id))
                   if not value]
        raise ShapeError("datadog", EXPECTED, f"missing {', '.join(missing)}")
    title = TRANSITION_PREFIX.sub("", raw_title) or raw_title
    priority = first(data.get("priority"), data.get("alert_priority"), limit=10).upper() or None
    if priority and not re.fullmatch(r"P[1-5]", priority):
        priority = None
    scope = first(data.get("scope"), data.get("alert_scope"), limit=200)
    resolved = transition.lower().startswith("recovered")
    hint = priority or (text(data.get("alert_type"), 20) or None)
    return [IncomingAlert(
        source="datadog", title=title,
        text=lines(("", message(data.get("text") or data.get("event_msg"))), ("scope", scope), ("priority", priority),
                   ("transition", transition)),
        link=link(data.get("link")), severity_hint=hint, dedup_key=key("datadog", alert_id or title, scope),
        signals=Signals(severity_hint=hint),
        details={"alert_id": alert_id, "scope": scope or None, "transition": transition, "priority": priority},
        delivery_id=first(data.get("event_id"), limit=100) or None, resolved=resolved)]
