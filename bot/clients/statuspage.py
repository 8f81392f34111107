"""The hosted Statuspage's management API (api.statuspage.io/v1): create and update incidents, set components.

Statuspage allows one request a second per token and answers 420 or 429 beyond it, so every request
waits its turn on a per-token pacer shared by the process, and a 420/429 waits Retry-After (or 1 s) and
tries again, at most 4 times. A 5xx is retried only where repeating is harmless (PATCH sets a state);
a failed POST is not repeated, since Statuspage may have created the incident before failing. Every
failure becomes an `IntegrationError` in words without the key (`Authorization: OAuth <key>`).
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from bot.core.errors import IntegrationError
from bot.core.http_pool import shared_transport

MIN_INTERVAL = 1.0  # Statuspage: 1 request per second per token
ATTEMPTS = 4
MAX_WAIT = 30.0
TIMEOUT = 10.0

_next_slot: dict[str, float] = {}
_slot_lock = threading.Lock()


class StatuspageError(IntegrationError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StatuspageClient:
    def __init__(self, base_url: str, api_key: str, page_id: str, *, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, timeout: float = TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.page_id = page_id
        self.sleep, self.monotonic = sleep, monotonic
        self._key_id = hashlib.sha256(api_key.encode()).hexdigest()[:16]  # pacing per token, never the token
        # A server may echo what it was sent (the key among it) in its error: redact before it is shown.
        self._secrets = sorted({api_key, urllib.parse.quote(api_key, safe=""), urllib.parse.quote_plus(api_key)}
                               - {""}, key=len, reverse=True)
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=shared_transport(transport),
                                 headers={"Authorization": f"OAuth {api_key}", "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    # -- pacing ----------------------------------------------------------------------------------------
    def _wait_turn(self) -> None:
        with _slot_lock:
            now = self.monotonic()
            slot = max(now, _next_slot.get(self._key_id, 0.0))
            _next_slot[self._key_id] = slot + MIN_INTERVAL
        if slot > now:
            self.sleep(slot - now)

    def request(self, method: str, path: str, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in range(1, ATTEMPTS + 1):
            self._wait_turn()
            try:
                response = self.http.request(method, path, json=body)
            except httpx.TimeoutException:
                raise StatuspageError(f"Statuspage did not answer in time while trying to {what}.") from None
            except httpx.HTTPError as exc:
                raise StatuspageError(f"Could not reach Statuspage to {what} ({type(exc).__name__}).") from None
            if response.status_code in (420, 429):
                wait = _retry_after(response)
                if attempt == ATTEMPTS or wait > MAX_WAIT:
                    raise StatuspageError(f"Statuspage kept rate limiting Fireline while trying to {what} "
                                          f"({attempt} tries); try again in a minute.", response.status_code)
                self.sleep(wait)
                continue
            if response.status_code >= 500:
                if method == "POST" or attempt == ATTEMPTS:
                    raise StatuspageError(f"Statuspage failed (HTTP {response.status_code}) while trying to {what}"
                                          + ("; it was not repeated, in case it had been done." if method == "POST"
                                             else f" ({attempt} tries)."), response.status_code)
                self.sleep(min(2.0 ** attempt, MAX_WAIT))
                continue
            if response.status_code == 401:
                raise StatuspageError("Statuspage refused STATUSPAGE_API_KEY (HTTP 401): check the key "
                                      "under API info in Statuspage.", 401)
            if response.status_code == 404:
                raise StatuspageError(f"Statuspage does not know that page or item (HTTP 404) while trying to "
                                      f"{what}: check STATUSPAGE_PAGE_ID and STATUSPAGE_COMPONENTS.", 404)
            if response.status_code >= 400:
                raise StatuspageError(f"Statuspage refused to {what} (HTTP {response.status_code}): "
                                      f"{self._redact(_reason(response))[:200]}", response.status_code)
            try:
                return response.json() if response.content else {}
            except ValueError:
                raise StatuspageError(f"Statuspage's answer to {what} was not JSON.") from None
        raise StatuspageError(f"Statuspage could not {what}.")  # pragma: no cover - the loop returns or raises

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    # -- operations --------------------------------------------------------------------------------------
    def create_incident(self, name: str, status: str, body: str, components: dict[str, str],
                        impact: str | None = None) -> str:
        incident: dict[str, Any] = {"name": name, "status": status, "body": body, "deliver_notifications": True,
                                    "components": components, "component_ids": list(components)}
        if impact:
            incident["impact_override"] = impact
        answer = self.request("POST", f"/pages/{self.page_id}/incidents", "create the incident",
                              {"incident": incident})
        incident_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(incident_id, str) or not incident_id:
            raise StatuspageError("Statuspage created the incident but did not say its id.")
        return incident_id

    def update_incident(self, incident_id: str, status: str, body: str, components: dict[str, str]) -> None:
        self.request("PATCH", f"/pages/{self.page_id}/incidents/{incident_id}", "update the incident",
                     {"incident": {"status": status, "body": body, "deliver_notifications": True,
                                   "components": components, "component_ids": list(components)}})

    def set_component(self, component_id: str, status: str) -> None:
        self.request("PATCH", f"/pages/{self.page_id}/components/{component_id}", "set a component's status",
                     {"component": {"status": status}})


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "")), MIN_INTERVAL)
    except ValueError:
        return MIN_INTERVAL


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no details"
    if isinstance(body, dict):
        error = body.get("error") or body.get("message")
        if isinstance(error, list):
            error = "; ".join(map(str, error))
        if error:
            return str(error)[:2000]  # cut after redaction, so no part of a key survives a cut
    return "no details"
