"""Slack's Contexts: a slash command or button the worker runs from its job, a command answered in the ack,
and the chat later work posts through (registered as the registry's `chat_for_jobs`)."""

from __future__ import annotations

from typing import Any

from bot.adapters.slack.slack_chat import SlackChat, respond_via, slack_client
from bot.core.container import Container
from bot.core.context import Context, Source


def slack_chat(container: Container) -> SlackChat:
    """The outbound chat for work nobody is waiting on, through the same Web API client the Bolt app uses."""
    return SlackChat(slack_client(container))


def slack_context(container: Container, payload: dict[str, Any], source: Source = Source.SLACK) -> Context:
    """A slash command or button press, as the worker runs it from its job's payload."""
    chat = slack_chat(container)
    user_id, channel_id = payload.get("user_id") or "", payload.get("channel_id") or ""
    return Context(container, chat=chat, user_id=user_id, channel_id=channel_id,
                   channel_name=payload.get("channel_name") or "",
                   respond=respond_via(payload.get("response_url"), chat, channel_id, user_id), source=source)


def ack_context(container: Container, user_id: str, channel_id: str) -> Context:
    """A command answered inside Slack's 3-second ack (help, usage): its reply is the ack's body."""
    return Context(container, chat=slack_chat(container), user_id=user_id, channel_id=channel_id)
