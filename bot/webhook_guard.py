"""What every webhook route (alerts, PagerDuty) answers around its own work, said once.

A webhook sender retries on 5xx and gives up on 4xx, so the answers matter: 413 for a body over the
limit (said by bot/http_guard.py, in front of every route, before the body is read), 503 (retry later)
when the database cannot take the delivery, and never a 500. The checks of each sender's signature and
payload stay in its own module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse


def webhook_error(status: int, message: str) -> JSONResponse:
    """A refusal the sender's logs will show: what was wrong, in a sentence."""
    return JSONResponse({"error": message}, status_code=status)


async def read_body(request: Request) -> bytes:
    """The raw body (signatures are over the exact bytes).

    Never over the route's limit (512 KB, bot.http_guard.DEFAULT_MAX_BODY, unless the route declares another with
    `bot.http_guard.limit_body`): BodyLimit, in front of every route, answers 413 before the body is held.
    """
    return await request.body()


async def store_or_503(store: Callable[..., Any], *args: Any, what: str, log: logging.Logger) -> Any:
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
        return webhook_error(503, f"Fireline could not store the {what}; nothing was stored. Retry later.")
