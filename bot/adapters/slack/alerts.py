"""Messages that other integrations post in ALERTS_CHANNEL are alerts too (a Bolt `message` listener).

Only top-level messages from bots and integrations count (subtype `bot_message`, or a `bot_id`),
never Fireline's own, never people's, never thread replies or edits. The listener reads the message
(its text, attachments and blocks, Slack's markup decoded), stores the alert through the alerts
feature and queues its thread; nothing slow runs before Slack gets its answer.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from bot.adapters.slack.text import plain
from bot.core.container import Container, Part
from bot.core.hooks import Hooks
from bot.core.registry import Registry
from bot.core.text import clean, strip_blank
from bot.features.alerts.payloads import (
    MAX_TEXT,
    MAX_TITLE,
    IncomingAlert,
    safe_link,
    derive_key,
    normalize_source,
)
from bot.features.alerts.service import receive
from playbooks.severity import Signals

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{4,}$")
_names_lock = threading.Lock()
# Channel id -> its name (None: could not be read), looked up once per channel.
CHANNEL_NAMES: Part[dict[str, str | None]] = Part("alerts.channel_names", lambda container: {})

_COLOR_HINTS = {"danger": "error", "warning": "warning", "good": "info", "#ff0000": "error"}
_EMPHASIS = re.compile(r"(?<![\w*])[*_~]([^*_~\n]+)[*_~](?![\w*])")


def slack_text(text: str) -> str:
    """Slack mrkdwn -> words: Slack's one inbound rule (bot/adapters/slack/text.py: links to their labels, mentions as
    the text they show, `#ops`, `@chen`, `@here`, words that never ping once escaped), then no emphasis marks."""
    return _EMPHASIS.sub(r"\1", plain(text))


def _block_texts(blocks: Any) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text", "text") and isinstance(node.get("text"), str):
                out.append(node["text"])
                return
            for key in ("text", "fields", "elements", "blocks"):
                if key in node:
                    walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return out


def from_slack_message(event: Mapping[str, Any]) -> IncomingAlert | None:
    """An integration's message (its text, attachments and blocks) as an alert; None if it has no words."""
    parts: list[str] = []
    first_link: str | None = None
    hint = None
    for attachment in event.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        for key in ("pretext", "title", "text"):
            if isinstance(attachment.get(key), str):
                parts.append(attachment[key])
        for item in attachment.get("fields") or []:
            if isinstance(item, dict) and item.get("title") and item.get("value"):
                parts.append(f"{item['title']}: {item['value']}")
        first_link = first_link or safe_link(attachment.get("title_link"))
        hint = hint or _COLOR_HINTS.get(str(attachment.get("color", "")).lower())
    text = event.get("text") if isinstance(event.get("text"), str) else ""
    block_parts = _block_texts(event.get("blocks")) if not text else []
    words = clean("\n".join(slack_text(p) for p in [text, *block_parts, *parts] if p)).strip()
    if not words:
        return None
    lines = [line for line in map(strip_blank, words.splitlines()) if line]
    title = lines[0][:MAX_TITLE]
    profile = event.get("bot_profile") if isinstance(event.get("bot_profile"), dict) else {}
    name = str(profile.get("name") or event.get("username") or event.get("bot_id") or "integration")
    source = normalize_source(name)
    return IncomingAlert(source=source, title=title, text="\n".join(lines[1:])[:MAX_TEXT], link=first_link,
                         severity_hint=hint, dedup_key=derive_key(source, title),
                         signals=Signals(severity_hint=hint), details={"bot": name[:80]},
                         delivery_id=f"slack:{event.get('channel')}:{event.get('ts')}",
                         root_channel=str(event.get("channel") or ""), root_ts=str(event.get("ts") or ""))


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


def register(registry: Registry) -> None:
    registry.on(Hooks.SLACK_APP)(install)
