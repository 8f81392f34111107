"""Messages that other integrations post in ALERTS_CHANNEL are alerts too (a Bolt `message` listener).

Only top-level messages from bots and integrations count (subtype `bot_message`, or a `bot_id`),
never Fireline's own, never people's, never thread replies or edits. The listener stores the alert
and queues its thread; nothing slow runs before Slack gets its answer.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from bot.features.alerts.payloads import from_slack_message
from bot.features.alerts.service import receive
from bot.core.container import Container, Part

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{4,}$")
_names_lock = threading.Lock()
# Channel id -> its name (None: could not be read), looked up once per channel.
CHANNEL_NAMES: Part[dict[str, str | None]] = Part("alerts.channel_names", lambda container: {})


def is_integration_message(event: dict[str, Any], own_bot_id: str | None, own_user_id: str | None) -> bool:
    subtype = event.get("subtype")
    if subtype not in (None, "bot_message"):
        return False  # edits, deletions, joins, file shares...
    if subtype != "bot_message" and not event.get("bot_id"):
        return False  # a person
    if own_bot_id and event.get("bot_id") == own_bot_id:
        return False
    if own_user_id and event.get("user") == own_user_id:
        return False
    thread_ts = event.get("thread_ts")
    return not thread_ts or thread_ts == event.get("ts")


def is_alerts_channel(container: Container, channel_id: str, client) -> bool:
    """ALERTS_CHANNEL may be an id (C0123) or a name (#alerts); names are looked up once and cached."""
    wanted = container.settings.alerts_channel.strip().lstrip("#")
    if not wanted or not channel_id:
        return False
    if _CHANNEL_ID.match(wanted):
        return channel_id == wanted
    with _names_lock:
        names = container.parts.get(CHANNEL_NAMES)
        if channel_id in names:
            return names[channel_id] == wanted
    name = None
    try:
        name = client.conversations_info(channel=channel_id)["channel"]["name"]
    except Exception:
        log.warning("could not look up the name of channel %s; is ALERTS_CHANNEL an id?", channel_id)
        return False
    with _names_lock:
        names[channel_id] = name
    return name == wanted


def install(app, container: Container) -> None:
    @app.event("message")
    def on_message(event, context, client):
        if not container.settings.alerts_channel:
            return
        if not is_integration_message(event, context.get("bot_id"), context.get("bot_user_id")):
            return
        if not is_alerts_channel(container, event.get("channel", ""), client):
            return
        incoming = from_slack_message(event)
        if incoming is None:
            return
        try:
            receive(container, incoming)
        except Exception:
            log.exception("could not store an alert from channel %s", event.get("channel"))
