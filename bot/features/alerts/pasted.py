"""`/alert {json}`: a sender's payload pasted into Slack or the console, read like the webhook would.

Trying a source before wiring it up (or replaying what a sender posted) should not need curl and a
token: paste the JSON after `/alert` and Fireline picks the source by its distinctive fields
(Alertmanager's `groupKey`, UptimeRobot's `monitorID`, ...), or reads Fireline's own {title, text}
shape, and stores the alerts exactly as the webhook would, resolutions included.
"""

from __future__ import annotations

import json

from bot.features.alerts import sources
from bot.features.alerts.payloads import Ignored, IncomingAlert, PayloadError, from_generic
from bot.features.alerts.resolution import Outcome, take
from bot.core.context import Context
from bot.core.errors import UserError
from bot.core.reply import Reply, escape


def looks_like_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _loads(text: str):
    """The JSON as pasted; failing that, as Slack delivers it (`&amp;` escapes, typographic quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        slack = (text.replace("\u201c", '"').replace("\u201d", '"').replace("&lt;", "<").replace("&gt;", ">")
                 .replace("&amp;", "&"))
        if slack == text:
            raise
        return json.loads(slack)


def read(text: str) -> list[IncomingAlert]:
    try:
        data = _loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"That looks like JSON but is not: {exc.msg} at line {exc.lineno} column {exc.colno}.",
                        "Paste the sender's payload exactly, or the alert's text without a leading `{`.") from None
    if not isinstance(data, dict):
        raise UserError("Paste one JSON object (the payload a sender posts).")
    source = sources.detect(data)
    try:
        return sources.parse(source, data, {}) if source else [from_generic(data)]
    except PayloadError as exc:
        raise UserError(str(exc), "Known payloads: " + ", ".join(sources.names()) + ", or {\"title\": ..., "
                        "\"source\": ...}.") from None


def describe(outcome: Outcome) -> str:
    if outcome.status == "resolved":
        after = outcome.extra.get("resolved_after")
        return f"alert #{outcome.alert_id} resolved" + (f" after {after}" if after else " (already)")
    if outcome.status in ("ignored", "duplicate"):
        return f"{outcome.status}: {outcome.extra.get('reason', '')}".rstrip(": ")
    where = f"incident #{outcome.incident_id}" if outcome.incident_id else f"{outcome.thread} thread"
    return f"alert #{outcome.alert_id} suggested SEV{outcome.level} ({where}, seen {outcome.count}×)"


def handle(ctx: Context, text: str) -> Reply:
    try:
        incoming = read(text)
    except Ignored as exc:  # a sender's test notification: read as the webhook reads it, and nothing stored
        return Reply(f"Nothing stored: {escape(str(exc))}.")
    if not incoming:
        return Reply("That payload carries no alerts.")
    outcomes = [take(ctx.app, item, ctx) for item in incoming]
    source = incoming[0].source
    return Reply(f"Read {len(incoming)} alert(s) from a pasted {escape(source)} payload:",
                 lines=[f"• {escape(item.title[:100])}: {describe(o)}" for item, o in zip(incoming, outcomes,
                                                                                           strict=True)])
