"""Sentry's error counts for Fireline's features: a client from settings, and /diagnose's one line.

Kept apart from the client (bot.sentry_api) so the client stays a thin HTTP wrapper and the words a
person reads ("not configured", "could not read Sentry") are decided in one place.
"""

from __future__ import annotations

from datetime import timedelta

from bot.container import Container
from bot.sentry_api.client import SentryClient, SentryError

NOT_CONFIGURED = ("Sentry is not configured (set SENTRY_API_TOKEN with org:read and project:read, SENTRY_ORG and "
                  "SENTRY_PROJECT to see error rates)")


def sentry_client(container: Container) -> SentryClient | None:
    settings = container.settings
    if not settings.sentry_readable or settings.sentry_api_token is None:
        return None
    return SentryClient(settings.sentry_api_url, settings.sentry_api_token.get_secret_value(), settings.sentry_org,
                        settings.sentry_project, sleep=container.knobs.sleep, retries=2)


def ratio_text(new: float, old: float) -> str:
    if old == 0:
        return "none before" if new else "no errors"
    return f"{new / old:.1f}x"


def error_rate_line(container: Container) -> str:
    """The project's errors in the last hour against the hour before, for /diagnose."""
    client = sentry_client(container)
    if client is None:
        return NOT_CONFIGURED
    now = container.clock()
    hour = timedelta(hours=1)
    try:
        with client:
            last = client.error_count(None, now - hour, now)
            before = client.error_count(None, now - 2 * hour, now - hour)
    except SentryError as exc:
        return f"could not read Sentry: {exc}"
    return f"{last:.0f} in the last hour against {before:.0f} the hour before ({ratio_text(last, before)})"
