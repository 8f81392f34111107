"""Who looked at App Home lately, and the one publish per person per N seconds (`home_viewers`).

The tab itself is Slack's (bot/adapters/slack/home.py); the rows that decide when to publish it are here,
so the front end holds no store model. The rate limit is a conditional UPDATE on `published_at`, so two
workers never both publish the same person's tab.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.store.models import HomeViewer


def opened(session: Session, user_id: str, now: datetime) -> None:
    """The person opened the tab now (the first time: their row)."""
    viewer = session.get(HomeViewer, user_id)
    if viewer is None:
        session.add(HomeViewer(user_id=user_id, opened_at=now))
        session.flush()
    else:
        viewer.opened_at = now
        session.add(viewer)


def recent(session: Session, since: datetime, limit: int) -> list[str]:
    """Who opened the tab at `since` or later, the latest first, at most `limit` of them."""
    return list(session.exec(select(HomeViewer.user_id).where(col(HomeViewer.opened_at) >= since)
                             .order_by(col(HomeViewer.opened_at).desc()).limit(limit)).all())


def claim_publish(session: Session, user_id: str, now: datetime, every: timedelta) -> tuple[bool, datetime | None]:
    """(True, None) when this caller may publish now (the last publish is `every` or more ago: it is set to now);
    else (False, the last publish's time, or None if the person has no row or was never published)."""
    claimed = session.execute(update(HomeViewer).where(
        col(HomeViewer.user_id) == user_id,
        (col(HomeViewer.published_at).is_(None)) | (col(HomeViewer.published_at) <= now - every))
        .values(published_at=now)).rowcount
    if claimed:
        return True, None
    viewer = session.get(HomeViewer, user_id)
    return False, (viewer.published_at if viewer is not None else None)


__all__ = ["claim_publish", "opened", "recent"]
