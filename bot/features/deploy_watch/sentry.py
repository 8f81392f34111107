"""Sentry's error counts for Fireline's features: a client from settings, and /diagnose's one line.

Kept apart from the client (bot.sentry_api) so the client stays a thin HTTP wrapper and the words a
person reads ("not configured", "could not read Sentry") are decided in one place.
"""

from __future__ import annotations

from datetime import timedelta

from bot.core.check import Status
from bot.core.clock import utcnow
from bot.core.container import Container
from bot.clients.sentry import SentryClient, SentryError
from bot.core.settings import Settings

NOT_CONFIGURED = ("Sentry is not configured (set SENTRY_API_TOKEN with org:read and project:read, SENTRY_ORG and "
                  "SENTRY_PROJECT to see error rates)")


def sentry_client(container: Container) -> SentryClient | None:
    settings = container.settings
    if not settings.sentry_readable or settings.sentry_api_token is None:
        return None
    return SentryClient(settings.sentry_api_url, settings.sentry_api_token.get_secret_value(), settings.sentry_org,
                        settings.sentry_project, sleep=container.knobs.sleep, retries=2)


def check_sentry_api(settings: Settings) -> Status:
    """`fireline check`'s Sentry read line (SENTRY_API_TOKEN, SENTRY_ORG, SENTRY_PROJECT): "live" only after
    Sentry answered a count of the project's errors, so a revoked token or a mistyped slug says so here,
    not in the middle of an incident's /diagnose. (SENTRY_DSN, where errors are sent, is the `sentry` line.)"""
    given = {"SENTRY_API_TOKEN": bool(settings.sentry_api_token and settings.sentry_api_token.get_secret_value()),
             "SENTRY_ORG": bool(settings.sentry_org), "SENTRY_PROJECT": bool(settings.sentry_project)}
    missing = [name for name, ok in given.items() if not ok]
    if len(missing) == len(given):
        return Status("sentry-api", "off", "SENTRY_API_TOKEN, SENTRY_ORG and SENTRY_PROJECT not set: /diagnose and "
                                           "deploy watches show no error rates")
    if missing:
        return Status("sentry-api", "error", f"{' and '.join(missing)} not set: reading error rates needs "
                                             "SENTRY_API_TOKEN, SENTRY_ORG and SENTRY_PROJECT")
    assert settings.sentry_api_token is not None
    now = utcnow()
    try:
        with SentryClient(settings.sentry_api_url, settings.sentry_api_token.get_secret_value(), settings.sentry_org,
                          settings.sentry_project, timeout=8, retries=0) as client:
            errors = client.error_count(None, now - timedelta(hours=1), now)
    except SentryError as exc:
        return Status("sentry-api", "error", str(exc))
    return Status("sentry-api", "live", f"{settings.sentry_org}/{settings.sentry_project} at "
                                        f"{settings.sentry_api_url}: {errors:.0f} errors in the last hour")


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
