"""Messages pinned into the timeline with a :pushpin: reaction, once each, at the message's own time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import select

from bot.core.container import Container
from bot.store.db import session_scope
from bot.store.models import Incident, TimelineEvent
from bot.service import incidents as svc

MAX_TEXT = 4000


@dataclass(frozen=True)
class SlackMessage:
    channel: str
    ts: str
    author: str
    text: str
    thread_ts: str | None = None

    @property
    def at(self) -> datetime:
        """Slack's message ts is the posting time: epoch seconds, then a suffix that keeps it unique."""
        return datetime.fromtimestamp(int(self.ts.split(".")[0]), UTC)


def dedup_key(channel: str, ts: str) -> str:
    return f"pin:{channel}:{ts}"


def incident_and_seen(container: Container, channel: str, ts: str) -> tuple[Incident | None, bool]:
    """The incident of `channel` (None: not an incident channel) and whether this message is pinned already."""
    with session_scope(container.engine) as session:
        incident = svc.incident_for_channel(session, channel)
        if incident is None:
            return None, False
        seen = session.exec(select(TimelineEvent.id).where(
            TimelineEvent.incident_id == incident.id, TimelineEvent.dedup_key == dedup_key(channel, ts))).first()
        return incident, seen is not None


def record_pin(container: Container, incident_id: int, message: SlackMessage, pinned_by: str, *,
               link: str | None = None) -> TimelineEvent | None:
    """Add the message to the timeline; None when it was already there (a second pin, a replay)."""
    with session_scope(container.engine) as session:
        incident = svc.get_incident(session, incident_id)
        return svc.record(session, incident, "pinned", message.author[:64], message.text[:MAX_TEXT],
                          {"pinned_by": pinned_by, "channel": message.channel, "ts": message.ts,
                           **({"thread_ts": message.thread_ts} if message.thread_ts else {}),
                           **({"permalink": link} if link else {})},
                          at=message.at, dedup_key=dedup_key(message.channel, message.ts))
