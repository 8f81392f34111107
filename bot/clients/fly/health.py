"""Probe the app's health endpoint (HEALTH_URL) and, behind the CDN, its origin (HEALTH_ORIGIN_URL).

No retries on purpose: a probe reports what a user would see right now. Callers that gate on
health (rolling restarts) decide how often to ask again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from bot.clients.fly.http import USER_AGENT
from bot.clients.fly.models import HealthResult
from bot.core.http_pool import shared_transport


class HealthProbe:
    def __init__(self, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(3.0, timeout)),
                                  transport=shared_transport(transport),
                                  follow_redirects=True, headers={"User-Agent": USER_AGENT})
        self._timer = timer

    def close(self) -> None:
        self._http.close()

    def check(self, url: str) -> HealthResult:
        """GET the URL: ok on 2xx, with the status and how long it took."""
        started = self._timer()
        try:
            response = self._http.get(url)
        except httpx.TimeoutException as exc:
            return HealthResult(url, False, None, None, f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return HealthResult(url, False, None, None, type(exc).__name__)
        latency = (self._timer() - started) * 1000
        return HealthResult(url, response.is_success, response.status_code, latency)
