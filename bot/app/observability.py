"""Sentry, initialised only when SENTRY_DSN is set, with secrets scrubbed from every event.

`before_send` walks the whole event (exception messages, stack-frame variables, breadcrumbs, request
headers and body, extra) and removes: every configured secret's value (Slack, Fly, PagerDuty, webhook
secrets, the DSN itself, the database password), anything that looks like a token (xoxb-, Bearer ...,
Slack response URLs plain, form-encoded or JSON-escaped as Slack writes them), the value of every
`response_url` field inside any text (a raw form body in a frame variable, whatever the variable's name,
JSON inside it, a repr), every URL in breadcrumbs of slack_sdk's webhook client, and the value of any key
that names a credential (Authorization, *token*, *secret*, *signature*, cookie, ...). Events are
tagged with the incident number and request id.
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

from starlette.requests import ClientDisconnect

from bot.core import log_context
from bot.adapters.http.guard import BodyTooLarge
from bot.core.logging_setup import WEBHOOK_LOGGERS, redact, redact_record
from bot.core.settings import Settings

REDACTED = "[redacted]"
# Raised through the app when a client leaves mid-request, or when bot/adapters/http/guard.py refuses a body at its
# limit and tells the app the client has gone: nothing Fireline did wrong, and an attacker could send
# them at will (each one an event against the quota).
NOT_ERRORS = (ClientDisconnect, BodyTooLarge)
SENSITIVE_KEYS = ("token", "secret", "password", "passwd", "authorization", "dsn", "signature", "cookie",
                  "api_key", "apikey", "routing_key", "response_url", "private_key", "credential")


def _sensitive(key: object) -> bool:
    lowered = str(key).lower().replace("-", "_")
    return any(word in lowered for word in SENSITIVE_KEYS)


def scrub(value: Any, secrets: list[str]) -> Any:
    """A copy of `value` with secrets removed; dicts, lists and [name, value] header pairs included."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: (REDACTED if _sensitive(k) and isinstance(v, str | bytes | list | tuple | dict) and v
                    else scrub(v, secrets)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # Sentry sends some headers as [[name, value], ...].
        if len(value) == 2 and isinstance(value[0], str) and _sensitive(value[0]):
            return [value[0], REDACTED]
        return [scrub(v, secrets) for v in value]
    return value


def scrub_breadcrumb(crumb: Any, secrets: list[str]) -> Any:
    """A breadcrumb scrubbed; one of slack_sdk's webhook client loses every URL (each is a response_url)."""
    if isinstance(crumb, dict) and str(crumb.get("category") or "").startswith(WEBHOOK_LOGGERS):
        crumb = {**crumb, "message": redact_record(str(crumb["category"]), str(crumb.get("message") or ""), secrets)}
    return scrub(crumb, secrets)


def make_before_send(settings: Settings):
    secrets = settings.secret_values()

    def before_send(event: dict, hint: dict) -> dict | None:
        exc_info = hint.get("exc_info") if isinstance(hint, dict) else None
        if exc_info and isinstance(exc_info[1], NOT_ERRORS):
            return None  # a client that went away, or a body refused at its limit: no error, and no quota spent
        crumbs = event.get("breadcrumbs")
        if isinstance(crumbs, dict) and isinstance(crumbs.get("values"), list):
            event = {**event, "breadcrumbs": {**crumbs, "values": [scrub_breadcrumb(c, secrets)
                                                                   for c in crumbs["values"]]}}
        event = scrub(event, secrets)
        tags = event.setdefault("tags", {})
        for name, value in log_context.current().items():
            tags.setdefault(name, str(value))
        return event

    return before_send


def release_name(settings: Settings) -> str:
    """SENTRY_RELEASE, or `fireline@<version>` (+ the Fly image, so each deploy is its own release)."""
    if settings.sentry_release:
        return settings.sentry_release
    try:
        version = metadata.version("fireline")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        version = "0+unknown"
    last = os.environ.get("FLY_IMAGE_REF", "").split("@")[0].rsplit("/", 1)[-1]  # app:deployment-01H...
    tag = last.partition(":")[2]
    return f"fireline@{version}+{tag}" if tag else f"fireline@{version}"


# What sentry-sdk 3 may collect on its own, narrowed: no user identity, no cookies, no HTTP bodies (a Slack
# request body carries its `response_url`, and an alert body whatever the sender put in it), headers and query
# strings only through the SDK's denylist (and then our scrubber). Frame variables stay: they are what makes an
# event worth reading, and `before_send` scrubs them like every other field.
DATA_COLLECTION = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_bodies": [],
    "http_headers": {"request": {"mode": "denylist"}},
    "url_query_params": {"mode": "denylist"},
    "stack_frame_variables": True,
}


def sentry_options(settings: Settings) -> dict[str, Any]:
    """The options `init_sentry` passes to `sentry_sdk.init`, apart from the DSN and a test's transport.

    sentry-sdk 3 no longer turns the logging integration on by itself: it is named here, so a logged
    error (`guarded()` logs every failed command) is an event with its exception and stack, and INFO
    lines are breadcrumbs. Sentry's own log product (`level`) stays off: lines already go to the log drain.
    """
    import logging

    from sentry_sdk.integrations.logging import LoggingIntegration

    before_send = make_before_send(settings)
    return {
        "environment": settings.sentry_environment,
        "release": release_name(settings),
        "data_collection": DATA_COLLECTION,
        "integrations": [LoggingIntegration(level=None, event_level=logging.ERROR,
                                            breadcrumb_level=logging.INFO)],
        "before_send": before_send,
        "before_breadcrumb": lambda crumb, hint: scrub_breadcrumb(crumb, settings.secret_values()),
    }


def init_sentry(settings: Settings, **options: Any) -> bool:
    """Start Sentry when SENTRY_DSN is set; `options` (tests: a transport) go to `sentry_sdk.init`."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(dsn=settings.sentry_dsn.get_secret_value(), **{**sentry_options(settings), **options})
    return True
