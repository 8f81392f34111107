"""Sentry's read API: how many errors a release (or the whole project) had over a window.

One endpoint, `GET /api/0/organizations/{org}/events-timeseries/` with `dataset=errors`, `yAxis=count()`
and `query=release:X`, never grouped (`groupBy`/`topEvents`): grouped queries on `errors` are reported
to answer 500 upstream (shared/specs/SOURCES.md), and one sum per release is all the verdict needs.
The rules are Fly's client's (bot/clients/fly/http.py): a timeout on every call, 429 and 5xx retried (a GET is
harmless to repeat) waiting Retry-After or a doubling back-off, every failure a `SentryError` in words
that name the setting to fix, and the token (`Authorization: Bearer`) redacted from anything shown.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from bot.core.errors import IntegrationError
from bot.clients.fly.http import USER_AGENT, read_with_retries
from bot.core.http_pool import shared_transport

log = logging.getLogger(__name__)

TIMEOUT = 10.0


class SentryError(IntegrationError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def release_query(release: str) -> str:
    """`release:X`, quoted when X has spaces or quotes (Sentry's search syntax)."""
    if release and all(c.isalnum() or c in "-_.@+:/" for c in release):
        return f"release:{release}"
    return 'release:"' + release.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _iso(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SentryClient:
    def __init__(self, base_url: str, token: str, org: str, project: str, *, timeout: float = TIMEOUT,
                 retries: int = 3, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.org, self.project = org, project
        self.retries, self.sleep = retries, sleep
        self._secrets = sorted({token, urllib.parse.quote(token, safe=""), urllib.parse.quote_plus(token)} - {""},
                               key=len, reverse=True)
        self.http = httpx.Client(base_url=base_url.rstrip("/"), transport=shared_transport(transport),
                                 timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                          "User-Agent": USER_AGENT})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SentryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def get(self, path: str, params: dict[str, str], what: str) -> object:
        response, attempt = read_with_retries(lambda: self.http.get(path, params=params), retries=self.retries,
                                              sleep=self.sleep, error=SentryError, service="Sentry",
                                              setting="SENTRY_API_URL", what=what)
        status = response.status_code
        if status == 429:
            raise SentryError(f"Sentry kept rate limiting Fireline while trying to {what}; try again in a "
                              "minute.", status)
        if status >= 500:
            raise SentryError(f"Sentry failed (HTTP {status}) while trying to {what}, "
                              f"{attempt + 1} tries.", status)
        if status == 401:
            raise SentryError("Sentry refused SENTRY_API_TOKEN (HTTP 401): create an internal integration or "
                              "auth token with the org:read and project:read scopes.", status)
        if status == 403:
            raise SentryError("Sentry says SENTRY_API_TOKEN may not read this (HTTP 403): it needs the "
                              "org:read and project:read scopes.", status)
        if status == 404:
            raise SentryError(f"Sentry does not know the organization or project (HTTP 404) while trying to "
                              f"{what}: check SENTRY_ORG and SENTRY_PROJECT.", status)
        if status >= 400:
            raise SentryError(f"Sentry refused to {what} (HTTP {status}): "
                              f"{self._redact(response.text[:2000])[:200]}", status)
        try:
            return response.json()
        except ValueError:
            raise SentryError(f"Sentry's answer to {what} was not JSON.") from None

    def error_count(self, release: str | None, start: datetime, end: datetime) -> float:
        """Errors of SENTRY_PROJECT between start and end, of one release when given (None: every release)."""
        what = f"count the errors of release {release}" if release else "count the project's errors"
        params = {"dataset": "errors", "project": self.project, "yAxis": "count()", "start": _iso(start),
                  "end": _iso(end)}
        if release:
            params["query"] = release_query(release)
        body = self.get(f"/api/0/organizations/{urllib.parse.quote(self.org, safe='')}/events-timeseries/",
                        params, what)
        series = body.get("timeSeries") if isinstance(body, dict) else None
        if not isinstance(series, list):
            raise SentryError(f"Sentry's answer to {what} had no time series.")
        total = 0.0
        for item in series:
            for point in (item.get("values") if isinstance(item, dict) else None) or []:
                value = point.get("value") if isinstance(point, dict) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    total += float(value)
        return total
