"""A Context for work that runs later (timers, queued jobs) with nobody's request to answer.

In the console the chat is the terminal printer the console put in `container.extras["chat"]`;
elsewhere it is Slack, through the same Web API client the Bolt app uses.
"""

from __future__ import annotations

from bot.container import Container
from bot.context import Context


def job_context(container: Container, *, user_id: str = "fireline", channel_id: str = "") -> Context:
    chat = container.extras.get("chat")
    if chat is not None:
        return Context(container, chat=chat, user_id=user_id, channel_id=channel_id, source="console")  # type: ignore[arg-type]
    from bot.slack.app import slack_context

    return slack_context(container, {"user_id": user_id, "channel_id": channel_id}, source="timer")
