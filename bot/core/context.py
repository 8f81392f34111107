"""Who is asking, where, and with which app: what every handler receives.

Each front end builds its Contexts: `slack_context` and `ack_context` in bot.adapters.slack.context,
`console_context` in bot.adapters.console. The core keeps `job_context` (timers and queued work nobody
is waiting on) and its two thin forms, `pagerduty_context` (a PagerDuty webhook's event) and
`webhook_context` (an alert): their chat is the container's `chat_for_jobs`, which the front end that
answers later work installed, so the core never imports one. A Context is frozen: what a handler may
do depends on `source`, so nothing may change it half-way (the PagerDuty webhook used to overwrite it).

Who may confirm a destructive playbook is decided from a Context, in `bot.service.responders.may_confirm`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.core.chat import Chat
from bot.store.db import session_scope
from bot.core.reply import Reply

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


# -- later work, for every front end ------------------------------------------------------------------------
def job_context(container: Container, *, user_id: str = "fireline", channel_id: str = "",
                source: Source = Source.JOB, chat: Chat | None = None) -> Context:
    """Work that runs later with nobody's request to answer.

    The chat is the container's `chat_for_jobs`: Slack's, through the same Web API client the Bolt app
    uses, or in the console the terminal printer, where the work is the console's own (source CONSOLE).
    `chat`: one the caller already holds (recovering interrupted playbooks at start-up), used as given.
    """
    if chat is not None:
        return Context(container, chat=chat, user_id=user_id, channel_id=channel_id, source=source)
    if container.mode.is_console:
        source = Source.CONSOLE
    return Context(container, chat=container.chat_for_jobs(container), user_id=user_id, channel_id=channel_id,
                   source=source)


def pagerduty_context(container: Container, *, user_id: str) -> Context:
    """An event from PagerDuty's webhook: changes it makes are not sent back to PagerDuty."""
    return replace(job_context(container, user_id=user_id), source=Source.PAGERDUTY)


def webhook_context(container: Container) -> Context:
    """An alert's thread, posted for a monitoring webhook or an integration's message."""
    return job_context(container, source=Source.WEBHOOK)
