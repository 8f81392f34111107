"""The chat port: what the incident service needs from a chat system.

The service never imports a front end. Slack's implementation lives in `bot.adapters.slack.slack_chat`, the
console's (it prints to a stream) in `bot.adapters.console_chat`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.core.reply import Reply


@dataclass(frozen=True)
class MessageRef:
    channel: str
    ts: str

    def as_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "ts": self.ts}


class Chat(Protocol):
    def create_channel(self, name: str, private: bool = False) -> tuple[str, str]:
        """Create a channel (public unless `private`); returns (id, name). A taken name gets a numeric suffix."""

    def invite(self, channel_id: str, user_ids: list[str]) -> None: ...

    def post(self, channel: str, reply: Reply, thread_ts: str | None = None) -> MessageRef: ...

    def update(self, ref: MessageRef, reply: Reply) -> None: ...

    def post_ephemeral(self, channel: str, user_id: str, reply: Reply) -> None: ...

    def upload(self, channel: str, filename: str, content: str, title: str) -> None: ...

    def channel_name(self, channel_id: str) -> str | None: ...

    def archive(self, channel_id: str) -> None:
        """Archive a channel (the incident's, after its postmortem); one already archived is not an error."""

    def user_email(self, user_id: str) -> str | None:
        """The person's email if the chat system shares it (to find them in PagerDuty), else None."""

    def display_name(self, user_id: str) -> str | None:
        """The name people know this user by (cached), or None when the chat system does not say."""


def person(chat: Chat | None, user_id: str | None) -> str:
    """A person in words, for text that is not a Slack message (postmortems, PagerDuty notes, step texts).

    Slack users by their display name (the id only when Slack does not know it), PagerDuty agents
    (`pagerduty:<name>`, as the webhook records them) by their name, Fireline as itself.
    """
    if not user_id:
        return "nobody"
    if user_id == "fireline":
        return "Fireline"
    if user_id == "pagerduty":
        return "PagerDuty"
    if user_id.startswith("pagerduty:"):
        return f"{user_id.split(':', 1)[1].strip() or 'someone'} (PagerDuty)"
    lookup = getattr(chat, "display_name", None)
    return (lookup(user_id) if lookup else None) or user_id
