"""Logging: secrets redacted from every line, whatever logged them; incident and request id on each.

`LOG_FORMAT=text` (default) is for people at a terminal; `LOG_FORMAT=json` writes one JSON object
per line for log shippers (Fly's log drain, Loki, Datadog), with `incident` and `request_id` as fields.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from bot.core import log_context
from bot.core.settings import Settings

_SLASH = r"(?:\\*/|%2f|%5c%2f)"  # a slash as it appears: plain, JSON-escaped (\/), form-encoded, both
_TOKEN_PATTERNS = re.compile(
    r"(xox[abposre]-[\w-]+|xapp-[\w-]+|Bearer\s+[\w.\-~+/=]+|Token token=[\w\-+]+"
    # Slack response_url / incoming webhooks (post to a channel without a token): plain, form-encoded, and
    # JSON-escaped as Slack writes its payloads (https:\/\/hooks.slack.com\/...), on Slack or GovSlack.
    rf"|(?i:https?(?::|%3a){_SLASH}{_SLASH}hooks\.slack(?:-gov)?\.com{_SLASH}[^\s\"'&<>]*)"
    # Form fields and query strings such as token=... (Slack's legacy verification token).
    r"|(?<=[?&\s\"']token=)[^&\s\"']+|^token=[^&\s\"']+)"
)
# The value of a `response_url` field wherever it is, whatever its host (a form, JSON, a Python repr, JSON
# inside a form): the field name says what it is, so the key stays and the value goes.
_RESPONSE_URL_VALUES = re.compile(
    r"((?<![\w%])response_url=)[^&\s\"']+"  # form / query string
    r"|(\\*[\"']response_url\\*[\"']\s*:\s*\\*[\"'])[^\"']*"  # JSON or repr, escaped or not
    r"|((?i:%22response_url%22(?:%3a|:)(?:%20|\+)*%22))(?:(?!%22).)*"  # JSON inside a form field
)


def _keep_key(match: re.Match) -> str:
    return (match.group(1) or match.group(2) or match.group(3)) + "[redacted]"


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    text = _TOKEN_PATTERNS.sub("[redacted]", text)
    if "response_url" in text:
        text = _RESPONSE_URL_VALUES.sub(_keep_key, text)
    return text


# slack_sdk's webhook client (every response_url post) logs the URL it posts to at DEBUG; every URL
# it is given is a response_url or an incoming webhook, so any URL in its lines goes.
WEBHOOK_LOGGERS = ("slack_sdk.webhook",)
_ANY_URL = re.compile(r"https?://[^\s,\"'<>]+")


def redact_record(logger_name: str, text: str, secrets: list[str]) -> str:
    """`redact`, and for slack_sdk's webhook client every URL as well."""
    if logger_name.startswith(WEBHOOK_LOGGERS):
        text = _ANY_URL.sub("[redacted]", text)
    return redact(text, secrets)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact_record(record.name, message, self.secrets), None
        if record.exc_info and record.exc_info[1] is not None:
            # The formatters print `exc_text` when it is set, so the traceback a line shows is the redacted one;
            # `exc_info` stays for Sentry's logging integration, which reads it after the handlers ran (clearing it
            # sent events without their exception or stack) and scrubs the event in `before_send`.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
        return True


class ContextFilter(logging.Filter):
    """Copies the incident number and request id of the work in progress onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "incident"):
            record.incident = log_context.current_incident()
        if not hasattr(record, "request_id"):
            record.request_id = log_context.current_request_id()
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [incident=#N request_id=R] message`; the bracket only with what is known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if getattr(record, "incident", None) is not None:
            parts.append(f"incident=#{record.incident}")
        if getattr(record, "request_id", None):
            parts.append(f"request_id={record.request_id}")
        line = super().format(record)
        if parts:
            head = f"{self.formatTime(record)} {record.levelname} {record.name} "
            line = f"{head}[{' '.join(parts)}] {line[len(head):]}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, incident, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "incident", None) is not None:
            entry["incident"] = record.incident
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_handler(settings: Settings, stream=None) -> logging.Handler:
    """The one handler every Fireline process logs through (filters run before formatting)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(settings.secret_values()))
    return handler


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler(settings)]
    root.setLevel(settings.log_level)
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
