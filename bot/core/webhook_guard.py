"""What every webhook route (alerts, PagerDuty) answers around its own work, said once.

A webhook sender retries on 5xx and gives up on 4xx, so the answers matter: 413 for a body over the
limit (said by bot/adapters/http/guard.py, in front of every route, before the body is read), 503 (retry later)
when the database cannot take the delivery, and never a 500. The checks of each sender's signature and
payload stay in its own module.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.core import metrics


def digest_matches(expected_hex: str, offered: str) -> bool:
    """Constant-time comparison of a hex digest with what a sender offered, whatever characters it holds.

    `hmac.compare_digest` raises TypeError on a str that is not ASCII (`sha256=\u00e9` was a 500), so both
    sides are compared as UTF-8 bytes.
    """
    return hmac.compare_digest(expected_hex.encode(), offered.strip().lower().encode("utf-8", "replace"))


class SlackSignatureVerifier(SignatureVerifier):
    """slack_sdk's verifier, except that no header or body can make it raise: anything odd is just invalid.

    Why: slack_sdk's `is_valid` runs `int(timestamp)` (`abc`, empty, `1e9`, 5,000 digits raise),
    `compare_digest` on str (a non-ASCII signature raises) and `body.decode("utf-8")` (a byte 0xff
    raises), so an unsigned request answered 500, logged a traceback and sent a Sentry event.
    Slack's timestamps are whole seconds in ASCII digits and its bodies UTF-8; anything else is refused
    before any arithmetic. The HMAC is over the exact bytes received.
    """

    MAX_TIMESTAMP_DIGITS = 12

    def is_valid(self, body: str | bytes | None, timestamp: str | None, signature: str | None) -> bool:
        if not timestamp or not signature or not isinstance(timestamp, str) or not isinstance(signature, str):
            return False
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > self.MAX_TIMESTAMP_DIGITS:
            return False
        if abs(self.clock.now() - int(timestamp)) > 60 * 5:
            return False
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return False  # Slack sends UTF-8; bytes that are not cannot be what it signed
        digest = hmac.new(self.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
        return digest_matches(f"v0={digest.hexdigest()}", signature)


def slack_verifier(secret: str | None) -> SlackSignatureVerifier | None:
    return SlackSignatureVerifier(secret) if secret else None


NESTED_TOO_DEEPLY = ("the JSON is nested too deeply to read (Python's parser stops near 1,000 levels; "
                     "a webhook payload needs a handful)")


def webhook_error(status: int, message: str) -> JSONResponse:
    """A refusal the sender's logs will show: what was wrong, in a sentence."""
    return JSONResponse({"error": message}, status_code=status)


async def read_body(request: Request) -> bytes:
    """The raw body (signatures are over the exact bytes).

    Never over the route's limit (512 KB, bot.adapters.http.guard.DEFAULT_MAX_BODY, unless the route declares another with
    `bot.adapters.http.guard.limit_body`): BodyLimit, in front of every route, answers 413 before the body is held.
    """
    return await request.body()


async def store_or_503(store: Callable[..., Any], *args: Any, what: str, log: logging.Logger,
                       path: str = "other") -> Any:
    """Run `store(*args)` in the thread pool; a database failure is a 503 the sender retries, never a 500.

    Returns the store's result, or a JSONResponse to send as it is.
    """
    try:
        return await run_in_threadpool(store, *args)
    except (OperationalError, DBAPIError):
        log.warning("%s: database unavailable", what)
        return webhook_error(503, "Fireline cannot reach its database right now; nothing was stored. Retry later.")
    except Exception:
        log.exception("%s failed", what)
        metrics.server_error(path)  # a 503 so the sender retries, but our fault: counted with the 500s
        return webhook_error(503, f"Fireline could not store the {what}; nothing was stored. Retry later.")
