"""The one HTTP loop Fireline's Fly clients share: timeouts, bounded retries, honest errors.

Why here and not in each client: the rules (what is retried, how long we wait, what a person
reads when it fails, that the token never leaks) must be the same for the Machines API and the
GraphQL API. `sleep` is injected so tests never wait.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from bot.core.errors import IntegrationError
from bot.core.http_pool import shared_transport

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FLY_STATUS_PAGE = "https://status.flyio.net"
USER_AGENT = "fireline/0.1 (+incident response bot)"


class FlyError(IntegrationError):
    """A Fly call failed. `str()` is a sentence for a person: which machine, which call, what Fly said."""

    def __init__(self, message: str, *, call: str = "", status: int | None = None, fly_message: str = "",
                 request_id: str | None = None, machine_id: str | None = None) -> None:
        super().__init__(message)
        self.call = call
        self.status = status
        self.fly_message = fly_message
        self.request_id = request_id
        self.machine_id = machine_id


@dataclass(frozen=True)
class FlyCall:
    """One HTTP attempt, kept so executions can store Fly's request ids."""

    method: str
    path: str
    status: int | None
    request_id: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"call": f"{self.method} {self.path}", "status": self.status, "request_id": self.request_id,
                **({"error": self.error} if self.error else {})}


def auth_header(token: SecretStr) -> str:
    """Deploy tokens from `fly tokens create` start with `FlyV1 ` and go as they are; others are Bearer."""
    value = token.get_secret_value().strip()
    return value if value.startswith("FlyV1 ") else f"Bearer {value}"


READ_MAX_WAIT = 30.0  # seconds: longer than this, a person waiting on a read is better told to try again


def read_with_retries(send: Callable[[], httpx.Response], *, retries: int, sleep: Callable[[float], None],
                      error: Callable[[str], Exception], service: str, setting: str,
                      what: str) -> tuple[httpx.Response, int]:
    """(the last response, its attempt number) of a read from a service's API, tried again on 429 and 5xx
    after Retry-After (else 1, 2, 4 s; at most READ_MAX_WAIT). A timeout or a connection that failed raises
    `error` in words naming `service` and the `setting` to check. The Sentry and Fly-metrics clients share it;
    each reads the statuses left (401, 404, ...) in its own words."""
    attempt = 0
    while True:
        try:
            response = send()
        except httpx.TimeoutException:
            raise error(f"{service} did not answer in time while trying to {what}.") from None
        except httpx.HTTPError as exc:
            raise error(f"Could not reach {service} to {what} ({type(exc).__name__}); check {setting}.") from None
        if response.status_code not in RETRY_STATUSES or attempt >= retries:
            return response, attempt
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        wait = min(READ_MAX_WAIT, wait if wait is not None else 2.0 ** attempt)
        log.info("%s answered %s to %s; trying again in %.1f s", service, response.status_code, what, wait)
        sleep(wait)
        attempt += 1


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def fly_message(response: httpx.Response) -> str:
    """What Fly said, in its own words (`{"error": "..."}` or GraphQL `errors`), trimmed."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        if body.get("error"):
            return str(body["error"])[:300]
        if isinstance(body.get("errors"), list) and body["errors"]:
            return "; ".join(str(e.get("message", e)) for e in body["errors"] if e)[:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return response.text.strip()[:300]


class RetryingHttp:
    """Send one logical call with retries; record every attempt in `journal`."""

    def __init__(self, base_url: str, token: SecretStr | None, *, service: str, timeout: float = 15.0,
                 retries: int = 3, backoff: float = 0.5, max_backoff: float = 8.0, max_retry_after: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.service = service
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.journal: list[FlyCall] = []
        self._http = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
                                  transport=shared_transport(transport),
                                  headers={"User-Agent": USER_AGENT, "Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop ---------------------------------------------------------------------------------
    def send(self, method: str, path: str, *, what: str, machine_id: str | None = None,
             params: dict[str, Any] | None = None, json: Any = None, headers: dict[str, str] | None = None,
             idempotent: bool = True, timeout: float | None = None,
             ok_statuses: tuple[int, ...] = ()) -> httpx.Response:
        """Return the 2xx (or an `ok_statuses`) response; raise FlyError with a sentence otherwise.

        Non-idempotent calls (create) are retried only when Fly certainly did not act on them:
        429 (rate limited before processing) and connection failures (nothing was sent).
        """
        all_headers = dict(headers or {})
        if self._token is not None and self._token.get_secret_value():
            all_headers["Authorization"] = auth_header(self._token)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = httpx.Timeout(timeout, connect=5.0)
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(method, path, params=params, json=json, headers=all_headers, **extra)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
                self.journal.append(FlyCall(method, path, None, None, f"{kind}: {type(exc).__name__}"))
                log.info("%s %s %s failed: %s (attempt %d/%d)", self.service, method, path, type(exc).__name__,
                         attempt, attempts)
                if attempt < attempts and (idempotent or never_sent):
                    self.sleep(self._backoff(attempt))
                    continue
                error = self._transport_error(exc, what, method, path, machine_id, attempt)
                if not idempotent and not never_sent:
                    error = self._may_have_acted(error)
                raise error from None
            request_id = response.headers.get("fly-request-id") or response.headers.get("x-request-id")
            self.journal.append(FlyCall(method, path, response.status_code, request_id))
            log.debug("%s %s %s -> %s (request id %s)", self.service, method, path, response.status_code, request_id)
            if response.is_success or response.status_code in ok_statuses:
                return response
            retryable = response.status_code in RETRY_STATUSES and (idempotent or response.status_code == 429)
            if retryable and attempt < attempts:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                if wait is not None and wait > self.max_retry_after:
                    raise self._status_error(response, what, method, path, machine_id, attempt,
                                             note=f"Fly asked to wait {wait:.0f} s before retrying (Retry-After), "
                                                  f"longer than Fireline waits ({self.max_retry_after:.0f} s); "
                                                  "try again in a few minutes") from None
                self.sleep(wait if wait is not None else self._backoff(attempt))
                continue
            error = self._status_error(response, what, method, path, machine_id, attempt)
            if not idempotent and response.status_code >= 500:
                error = self._may_have_acted(error)
            raise error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))

    # -- errors in words ----------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        if self._token is not None and self._token.get_secret_value():
            secret = self._token.get_secret_value()
            text = text.replace(secret, "[redacted]")
            if secret.startswith("FlyV1 "):
                text = text.replace(secret[6:], "[redacted]")
        return text

    @staticmethod
    def _may_have_acted(error: FlyError) -> FlyError:
        """A create whose answer was lost may still have happened: say so, as retrying could make two."""
        error.args = (f"{error.args[0]} Fly may have done it anyway: check `fly machines list` before trying "
                      "again.",)
        return error

    def _transport_error(self, exc: httpx.TransportError, what: str, method: str, path: str,
                         machine_id: str | None, attempt: int) -> FlyError:
        if isinstance(exc, httpx.TimeoutException):
            problem = f"{self.service} did not answer in time ({type(exc).__name__})"
        else:
            problem = f"Fireline could not reach {self.service} at {self.base_url} ({type(exc).__name__})"
        tries = f" after {attempt} attempt{'s' if attempt != 1 else ''}"
        message = (f"Could not {what}: {problem}{tries} [{method} {path}]. Nothing more was tried; check the "
                   f"network and {FLY_STATUS_PAGE} before running it again.")
        return FlyError(self._redact(message), call=f"{method} {path}", machine_id=machine_id)

    def _status_error(self, response: httpx.Response, what: str, method: str, path: str, machine_id: str | None,
                      attempt: int, note: str | None = None) -> FlyError:
        status = response.status_code
        said = self._redact(fly_message(response)) or response.reason_phrase
        request_id = response.headers.get("fly-request-id") or response.headers.get("x-request-id")
        hint = note or self._hint(status, said)
        tries = f" (after {attempt} attempts)" if attempt > 1 else ""
        ref = f"{method} {path}" + (f", request id {request_id}" if request_id else "")
        message = f"Could not {what}: {self.service} answered {status}{tries}: {said}. {hint} [{ref}]"
        return FlyError(self._redact(message), call=f"{method} {path}", status=status, fly_message=said,
                        request_id=request_id, machine_id=machine_id)

    def _hint(self, status: int, said: str) -> str:
        if status in (401, 403):
            return ("Fly rejected FLY_API_TOKEN: set a current token that can manage this app "
                    "(`fly tokens create deploy -a <app>`).")
        if status == 404:
            return "Fly does not know it: check FLY_APP and the machine id (`fly machines list`)."
        if status in (409, 412):
            return ("The machine is busy or changed meanwhile (a lease held by a deploy or another person?); "
                    "check `fly machines list` and try again once it is free.")
        if status == 429:
            return "Fly kept rate-limiting Fireline; wait a minute and try again."
        if status >= 500:
            return f"Fly is having trouble; check {FLY_STATUS_PAGE} and try again."
        if status in (400, 422):
            return ("Fly refused the request as invalid (its words are above): fix what it names, such as an image "
                    "the registry does not have or a size or memory Fly does not offer, or do it with `fly` by hand.")
        return "Fly refused the request (its words are above); check it with `fly` by hand before trying again."
