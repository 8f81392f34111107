"""Sentry, initialised only when SENTRY_DSN is set, with secrets scrubbed from every event.

`before_send` walks the whole event (exception messages, stack-frame variables, breadcrumbs, request
headers and body, extra) and removes: every configured secret's value (Slack, Fly, PagerDuty, webhook
secrets, the DSN itself, the database password), anything that looks like a token (xoxb-, Bearer ...,
Slack response URLs plain, form-encoded or JSON-escaped as Slack writes them), the value of every
`response_url` field inside any text (a raw form body in a frame variable, whatever the variable's name,
JSON inside it, a repr), every URL in breadcrumbs of slack_sdk's webhook client, and the value of any key
that names a credential (Authorization, *token*, *secret*, *signature*, cookie, ...). Events are
tagged with the incident number and request id. `fireline check`'s `sentry` line (`check_sentry`) is
here too, beside what the DSN is for.
"""

from __future__ import annotations

import json
import os
import time
from importlib import metadata
from typing import Any

from starlette.requests import ClientDisconnect

from bot.core import log_context
from bot.adapters.http.guard import BodyTooLarge
from bot.core.check import Status
from bot.core.logging_setup import WEBHOOK_LOGGERS, redact, redact_record
from bot.core.registry import Registry
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


# -- `fireline check`'s `sentry` line ---------------------------------------------------------------------------
def check_sentry(settings: Settings) -> Status:
    """Parses SENTRY_DSN and sends Sentry one envelope: "live" only when Sentry accepted it.

    A DSN that was merely set said "live" while a mistyped one dropped every event. The envelope holds a client
    report (what the SDK sends about events it discarded) with nothing discarded: Sentry answers it like any
    event, checking the key and project, and it adds no issue to anybody's list. The DSN is never echoed.
    """
    if not settings.sentry_dsn:
        return Status("sentry", "off", "SENTRY_DSN not set: errors are only logged")
    import httpx
    from sentry_sdk.consts import VERSION
    from sentry_sdk.utils import BadDsn, Dsn

    try:
        auth = Dsn(settings.sentry_dsn.get_secret_value()).to_auth(client=f"fireline-check/{VERSION}")
    except BadDsn as exc:
        return Status("sentry", "error", f"SENTRY_DSN is not a DSN ({exc}): copy it from Sentry's project "
                                         "settings, Client Keys (DSN), as https://<key>@<host>/<project>")
    url = auth.get_api_url()
    report = json.dumps({"timestamp": time.time(), "discarded_events": []})
    envelope = f"{{}}\n{json.dumps({'type': 'client_report', 'length': len(report)})}\n{report}\n"
    where = f"{auth.host}, project {auth.project_id}"
    try:
        answer = httpx.post(url, content=envelope.encode(), timeout=8,
                            headers={"X-Sentry-Auth": auth.to_header(),
                                     "Content-Type": "application/x-sentry-envelope"})
    except httpx.HTTPError as exc:
        return Status("sentry", "error", f"could not reach Sentry at {where} ({type(exc).__name__}): check "
                                         "SENTRY_DSN's host and that this machine can reach it")
    if answer.status_code in (401, 403):
        return Status("sentry", "error", f"Sentry at {where} refused the DSN's key (HTTP {answer.status_code}): "
                                         "the key was revoked or belongs to another project; copy the DSN again")
    if answer.status_code >= 300:
        return Status("sentry", "error", f"Sentry at {where} answered HTTP {answer.status_code} to an envelope: "
                                         "check SENTRY_DSN's project id")
    return Status("sentry", "live", f"an envelope accepted by {where}; errors reported "
                                    f"(environment {settings.sentry_environment})")


def register_check(registry: Registry) -> None:
    registry.check("sentry")(check_sentry)
