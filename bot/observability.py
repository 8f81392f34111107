"""Sentry, initialised only when SENTRY_DSN is set, with secrets scrubbed from every event."""

from __future__ import annotations

from typing import Any

from bot.logging_setup import redact
from bot.settings import Settings


def scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: ("[redacted]" if any(w in str(k).lower() for w in ("token", "secret", "password",
                                                                         "authorization", "dsn"))
                    else scrub(v, secrets)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


def make_before_send(settings: Settings):
    secrets = settings.secret_values()

    def before_send(event: dict, hint: dict) -> dict:
        return scrub(event, secrets)

    return before_send


def init_sentry(settings: Settings) -> bool:
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(dsn=settings.sentry_dsn.get_secret_value(), environment=settings.sentry_environment,
                    release="fireline@0.1.0", send_default_pii=False,
                    before_send=make_before_send(settings))
    return True
