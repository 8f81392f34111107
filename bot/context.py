"""Who is asking, where, and with which app: what every handler receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.chat import Chat
from bot.container import Container
from bot.reply import Reply


@dataclass
class Context:
    app: Container
    chat: Chat
    user_id: str
    channel_id: str
    channel_name: str = ""
    respond: Callable[[Reply], None] = field(default=lambda reply: None)
    source: str = "slack"  # "slack" | "console" | "webhook" | "timer"

    @property
    def is_console(self) -> bool:
        return self.source == "console"

    def now(self) -> datetime:
        return self.app.clock()

    def session(self):
        """A unit of work on the app's database (commit on success)."""
        from bot.db import session_scope

        return session_scope(self.app.engine)
