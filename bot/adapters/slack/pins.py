"""`:pushpin:` on a message in an incident channel adds that message to the timeline.

The Bolt listener only stores a job (Slack gets its answer at once); the job reads the message
(conversations.history, or .replies for a thread reply) for its text, author and time, and
records it once, however many people pin it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core.clock import fmt_utc
from bot.core.registry import Registry
from bot.core.container import Container
from bot.store.db import session_scope
from bot.core.errors import IntegrationError
from bot.core.hooks import Hooks
from bot.core.reply import Reply, mention
from bot.service import jobs
from bot.service.pins import SlackMessage, incident_and_seen, record_pin
from bot.adapters.slack.slack_chat import SlackChat, slack_client
from bot.adapters.slack.people import display_name
from bot.adapters.slack.text import plain

log = logging.getLogger(__name__)

PIN_JOB = "slack.pin"
PIN_REACTIONS = {"pushpin"}


def add_listeners(app, container: Container) -> None:
    @app.event("reaction_added")
    def on_reaction(ack, event):
        ack()
        item = event.get("item") or {}
        if event.get("reaction") not in PIN_REACTIONS or item.get("type") != "message":
            return
        payload = {"channel": item.get("channel", ""), "ts": item.get("ts", ""), "user_id": event.get("user", "")}
        if not payload["channel"] or not payload["ts"]:
            return
        with session_scope(container.engine) as session:
            jobs.enqueue(session, PIN_JOB, payload, now=container.clock())


def _client(container: Container):
    return slack_client(container)


def fetch_message(client, channel: str, ts: str) -> SlackMessage | None:
    """The message at `ts`: top level via conversations.history, a thread reply via conversations.replies."""
    try:
        found = _find(client.conversations_history(channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1)
                      .get("messages") or [], ts)
        if found is None:
            found = _find(client.conversations_replies(channel=channel, ts=ts, latest=ts, oldest=ts, inclusive=True,
                                                       limit=2).get("messages") or [], ts)
    except SlackApiError as exc:
        code = exc.response.get("error", "unknown_error") if exc.response is not None else "no_response"
        raise IntegrationError(f"Slack refused to show that message ({code})") from None
    if found is None:
        return None
    author = found.get("user") or (found.get("bot_profile") or {}).get("name") or found.get("username") \
        or found.get("bot_id") or "unknown"
    text = plain(found.get("text"), lambda user: display_name(client, user))  # as its author typed it
    return SlackMessage(channel, ts, author, text, found.get("thread_ts") if found.get("thread_ts") != ts else None)


def _find(messages: list[dict[str, Any]], ts: str) -> dict[str, Any] | None:
    return next((m for m in messages if m.get("ts") == ts), None)


def pin_job(container: Container, payload: dict[str, Any], job=None) -> None:
    """Record the pinned message in its incident's timeline once, and tell the person who pinned it."""
    channel, ts, user = payload["channel"], payload["ts"], payload.get("user_id") or ""
    incident, seen = incident_and_seen(container, channel, ts)
    if incident is None:
        return  # a pin outside incident channels is someone else's business
    client = _client(container)
    chat = SlackChat(client)
    if seen:
        _tell(chat, channel, user, f"That message is already in the timeline of #{incident.id}.")
        return
    try:
        message = fetch_message(client, channel, ts)
    except IntegrationError as exc:
        log.warning("pin in #%s: %s", incident.id, exc)
        _tell(chat, channel, user, f":warning: {exc}, so it is not in the timeline of #{incident.id}. Add it by "
              "hand with `/incident timeline <time> <text>`.")
        return
    if message is None:
        _tell(chat, channel, user, ":warning: Fireline could not find that message, so it is not in the timeline "
              f"of #{incident.id}.")
        return
    event = record_pin(container, incident.id, message, user)
    if event is None:
        _tell(chat, channel, user, f"That message is already in the timeline of #{incident.id}.")
        return
    _tell(chat, channel, user, f":pushpin: Added to the timeline of #{incident.id}: the message by "
          f"{mention(message.author)} at {fmt_utc(message.at)}.")


def _tell(chat: SlackChat, channel: str, user: str, text: str) -> None:
    """Only the person who pinned sees the answer (nobody, for a pin without a user)."""
    if user:
        try:
            chat.post_ephemeral(channel, user, Reply(text))
        except Exception:
            log.info("could not confirm a pin to %s", user)


def on_slack_app(app=None, container=None) -> None:
    add_listeners(app, container)


def register(registry: Registry) -> None:
    registry.on(Hooks.SLACK_APP)(on_slack_app)
    registry.job(PIN_JOB)(pin_job)
