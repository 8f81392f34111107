"""Who is asking, where, and with which app: what every handler receives, and the one place it is built.

Each front end has its factory here: `slack_context` (a slash command or button, run by the worker
from its job), `ack_context` (a command answered inside Slack's ack), `console_context`,
`pagerduty_context` (a PagerDuty webhook's event), `webhook_context` (an alert) and `job_context`
(timers and queued work nobody is waiting on). A Context is frozen: what a handler may do depends
on `source`, so nothing may change it half-way (the PagerDuty webhook used to overwrite it).

Who may confirm a destructive playbook is decided from a Context, in `bot.service.responders.may_confirm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.core.chat import Chat
from bot.store.db import session_scope
from bot.core.reply import Reply
from bot.adapters.slack.slack_chat import SlackChat, respond_via, slack_client

if TYPE_CHECKING:
    from bot.core.container import Container


class Source(StrEnum):
    """Where a request came from. Only a person in Slack (or at the console) may confirm a playbook."""

    SLACK = "slack"  # a person, by slash command, button or message
    CONSOLE = "console"  # the person at `fireline console`
    PAGERDUTY = "pagerduty"  # PagerDuty's webhook: never echoed back to PagerDuty
    WEBHOOK = "webhook"  # an alert from a monitoring webhook or an integration's message
    JOB = "job"  # a timer or queued work (escalations, reminders, recovery): nobody is asking


def _no_answer(reply: Reply | None) -> None:
    return None


@dataclass(frozen=True)
class Context:
    app: Container
    chat: Chat
    user_id: str
    channel_id: str
    channel_name: str = ""
    respond: Callable[[Reply], None] = field(default=_no_answer)
    source: Source = Source.SLACK

    @property
    def is_console(self) -> bool:
        return self.source == Source.CONSOLE

    def now(self) -> datetime:
        return self.app.clock()

    def session(self):
        """A unit of work on the app's database (commit on success)."""
        return session_scope(self.app.engine)


# -- the factories, one per front end -------------------------------------------------------------------------
def slack_context(container: Container, payload: dict[str, Any], source: Source = Source.SLACK) -> Context:
    """A slash command or button press, as the worker runs it from its job's payload."""
    chat = SlackChat(slack_client(container))
    user_id, channel_id = payload.get("user_id") or "", payload.get("channel_id") or ""
    return Context(container, chat=chat, user_id=user_id, channel_id=channel_id,
                   channel_name=payload.get("channel_name") or "",
                   respond=respond_via(payload.get("response_url"), chat, channel_id, user_id), source=source)


def ack_context(container: Container, user_id: str, channel_id: str) -> Context:
    """A command answered inside Slack's 3-second ack (help, usage): its reply is the ack's body."""
    return Context(container, chat=SlackChat(slack_client(container)), user_id=user_id, channel_id=channel_id)


def console_context(container: Container, chat: Chat, *, user_id: str, channel_id: str, channel_name: str = "",
                    respond: Callable[[Reply], None] = _no_answer) -> Context:
    return Context(container, chat=chat, user_id=user_id, channel_id=channel_id, channel_name=channel_name,
                   respond=respond, source=Source.CONSOLE)


def job_context(container: Container, *, user_id: str = "fireline", channel_id: str = "",
                source: Source = Source.JOB, chat: Chat | None = None) -> Context:
    """Work that runs later with nobody's request to answer.

    In the console the chat is the terminal printer the console gave the container; elsewhere it is
    Slack, through the same Web API client the Bolt app uses. `chat`: one the caller already holds
    (recovering interrupted playbooks at start-up), used as given.
    """
    if chat is not None:
        return Context(container, chat=chat, user_id=user_id, channel_id=channel_id, source=source)
    if container.console_chat is not None:
        return console_context(container, container.console_chat, user_id=user_id, channel_id=channel_id)
    return slack_context(container, {"user_id": user_id, "channel_id": channel_id}, source=source)


def pagerduty_context(container: Container, *, user_id: str) -> Context:
    """An event from PagerDuty's webhook: changes it makes are not sent back to PagerDuty."""
    return replace(job_context(container, user_id=user_id), source=Source.PAGERDUTY)


def webhook_context(container: Container) -> Context:
    """An alert's thread, posted for a monitoring webhook or an integration's message."""
    return job_context(container, source=Source.WEBHOOK)
