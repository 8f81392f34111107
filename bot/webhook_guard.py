"""What every webhook route (alerts, PagerDuty) answers around its own work, said once.

A webhook sender retries on 5xx and gives up on 4xx, so the answers matter: 413 for a body over the
limit, 503 (retry later) when the database cannot take the delivery, and never a 500. The checks of
each sender's signature and payload stay in its own module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_BODY = 512 * 1024


def webhook_error(status: int, message: str) -> JSONResponse:
    """A refusal the sender's logs will show: what was wrong, in a sentence."""
    return JSONResponse({"error": message}, status_code=status)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes | JSONResponse:
    """The raw body (signatures are over the exact bytes), or a 413 naming the limit."""
    body = await request.body()
    if len(body) > limit:
        return webhook_error(413, f"body too large ({len(body)} bytes; at most {limit})")
    return body


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
