"""Thin, honest httpx clients for PagerDuty's REST API v2 and Events API v2.

Every call has a timeout; 429 and 5xx answers (and connections that never reached PagerDuty) are
retried a bounded number of times, waiting what `Retry-After` asks; every failure becomes a
`PagerDutyError` that says in words what went wrong and what to check. The token is only ever
put into a header: it is never logged and never part of an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.core.errors import IntegrationError
from bot.core.http_pool import shared_transport
from bot.core.settings import Settings

log = logging.getLogger(__name__)

# PagerDuty's versioned media type first; plain JSON is what it actually answers with (and what
# spec-driven mocks such as Prism can produce), so it is accepted at a lower preference.
ACCEPT = "application/vnd.pagerduty+json;version=2, application/json;q=0.9"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "fireline/0.1 (+incident response bot)"


class PagerDutyError(IntegrationError):
    """PagerDuty failed or refused; the message is safe to show a person."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.details = details


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: `attempts` in all, exponential backoff, never waiting longer than `max_wait`."""

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After") or response.headers.get("ratelimit-reset")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _error_details(response: httpx.Response) -> tuple[str, tuple[str, ...]]:
    """PagerDuty's `{"error": {"message", "errors": [...]}}` (REST) or `{"message", "errors"}` (Events)."""
    try:
        body = response.json()
    except ValueError:
        return "", ()
    if not isinstance(body, dict):
        return "", ()
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    message = str(error.get("message") or error.get("status") or "")[:200]
    errors = error.get("errors") or []
    return message, tuple(str(item)[:200] for item in errors if item)[:5] if isinstance(errors, list) else ()


class _Http:
    """One base URL, fixed headers, retries. Shared by the REST and Events clients."""

    def __init__(self, service: str, base_url: str, headers: dict[str, str], *, transport: httpx.BaseTransport | None,
                 sleep: Callable[[float], None], retry: RetryPolicy, secrets: tuple[str, ...] = ()) -> None:
        self.service = service
        self._secrets = tuple(s for s in secrets if s)
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.retry = retry
        self.client = httpx.Client(base_url=self.base_url, headers={"User-Agent": USER_AGENT, **headers},
                                   timeout=TIMEOUT, transport=shared_transport(transport))

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, *, what: str, json: dict | None = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                idempotent: bool = True) -> dict[str, Any]:
        """Send one request (retrying what is safe to retry) and return the decoded JSON body."""
        last: PagerDutyError | None = None
        for attempt in range(1, self.retry.attempts + 1):
            wait = self.retry.backoff * 2 ** (attempt - 1)
            try:
                response = self.client.request(method, path, json=json, params=params, headers=headers)
            except httpx.TimeoutException:
                last = PagerDutyError(f"{self.service} did not answer in time while trying to {what}.",
                                      retryable=True)
                # A request that may have arrived is only repeated when repeating it is harmless.
                if not idempotent:
                    raise last from None
            except httpx.TransportError as exc:
                last = PagerDutyError(f"Could not reach {self.service} at {self.base_url} to {what} "
                                      f"({type(exc).__name__}).", retryable=True)
            else:
                log.log(logging.DEBUG if response.status_code < 300 else logging.WARNING, "%s %s %s -> %s",
                        self.service, method, path, response.status_code)
                if response.status_code < 300:
                    if not response.content:
                        return {}
                    try:
                        body = response.json()
                    except ValueError:
                        raise PagerDutyError(f"{self.service} answered {response.status_code} with a body that "
                                             f"is not JSON while trying to {what}.",
                                             status=response.status_code) from None
                    return body if isinstance(body, dict) else {"items": body}
                last = self._error(response, what)
                if response.status_code == 429:
                    wait = _retry_after(response, wait)
                    if wait > self.retry.max_wait:
                        raise PagerDutyError(f"{self.service} is rate limiting Fireline; it asks to wait "
                                             f"{int(wait)} s before trying to {what} again.", status=429,
                                             retryable=True) from None
                elif not last.retryable:
                    raise last
            if attempt < self.retry.attempts:
                self.sleep(min(wait, self.retry.max_wait))
        assert last is not None
        if last.status == 429:
            raise PagerDutyError(f"{self.service} kept rate limiting Fireline ({self.retry.attempts} tries) "
                                 f"while trying to {what}; try again in a minute.", status=429, retryable=True)
        raise last

    def _redact(self, text: str) -> str:
        """What PagerDuty (or a proxy in front of it) says back may quote the request; never its credentials."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def _error(self, response: httpx.Response, what: str) -> PagerDutyError:
        status = response.status_code
        message, details = _error_details(response)
        message, details = self._redact(message), tuple(self._redact(d) for d in details)
        said = f": {message}" + (f" ({'; '.join(details)})" if details else "") if message or details else ""
        if status == 401:
            text = f"{self.service} refused Fireline's credentials (401) when trying to {what}{said}. " \
                   f"Check {'PAGERDUTY_API_TOKEN' if 'REST' in self.service else 'PAGERDUTY_ROUTING_KEY'}."
        elif status == 403:
            text = f"{self.service} does not allow Fireline to {what} (403){said}. The token needs write access " \
                   "and PAGERDUTY_FROM_EMAIL must be a PagerDuty user."
        elif status == 404:
            text = f"{self.service} found nothing to {what} (404){said}. Check the configured ids."
        elif status == 429:
            text = f"{self.service} is rate limiting Fireline (429) while trying to {what}."
        elif status >= 500:
            text = f"{self.service} is having trouble (HTTP {status}) while Fireline tried to {what}; " \
                   "it will be retried."
        else:
            text = f"{self.service} rejected the request to {what} (HTTP {status}){said}."
        return PagerDutyError(text, status=status, retryable=status == 429 or status >= 500, details=details)


class RestClient:
    """PagerDuty REST API v2: on-call, incidents, notes, responders, users."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, retry: RetryPolicy = RetryPolicy()) -> None:
        if settings.pagerduty_api_token is None:
            raise PagerDutyError("PAGERDUTY_API_TOKEN is not set.")
        token = settings.pagerduty_api_token.get_secret_value()
        self.from_email = settings.pagerduty_from_email
        self.http = _Http("PagerDuty REST API", settings.pagerduty_api_url,
                          {"Authorization": f"Token token={token}", "Accept": ACCEPT,
                           "Content-Type": "application/json"},
                          transport=transport, sleep=sleep, retry=retry, secrets=(token,))

    def close(self) -> None:
        self.http.close()

    def _writes(self) -> dict[str, str]:
        if not self.from_email:
            raise PagerDutyError("PAGERDUTY_FROM_EMAIL is not set; PagerDuty needs it (the From header) "
                                 "for every change Fireline makes.")
        return {"From": self.from_email}

    # -- reads ---------------------------------------------------------------------------------------
    def list_oncalls(self, escalation_policy_id: str, *, max_pages: int = 10) -> list[dict[str, Any]]:
        """Everyone on call now for the policy (all levels), following pagination."""
        oncalls: list[dict[str, Any]] = []
        offset = 0
        for _ in range(max_pages):
            body = self.http.request("GET", "/oncalls", what="list who is on call", params={
                "escalation_policy_ids[]": [escalation_policy_id], "include[]": "users", "limit": 100,
                "offset": offset})
            page = body.get("oncalls") or []
            oncalls += [entry for entry in page if isinstance(entry, dict)]
            if not body.get("more") or not page:
                break
            offset += len(page)
        return oncalls

    def find_incident_by_key(self, incident_key: str, service_id: str) -> dict[str, Any] | None:
        body = self.http.request("GET", "/incidents", what="look up an incident by its key", params={
            "incident_key": incident_key, "service_ids[]": [service_id], "date_range": "all", "limit": 5})
        for incident in body.get("incidents") or []:
            if isinstance(incident, dict) and incident.get("incident_key") == incident_key:
                return incident
        return None

    def find_user(self, query: str) -> dict[str, Any] | None:
        """The PagerDuty user whose email or name matches `query` (an exact email match wins)."""
        body = self.http.request("GET", "/users", what="look up a PagerDuty user", params={"query": query,
                                                                                           "limit": 25})
        users = [u for u in body.get("users") or [] if isinstance(u, dict)]
        for user in users:
            if str(user.get("email", "")).lower() == query.lower():
                return user
        return users[0] if len(users) == 1 else None

    # -- writes --------------------------------------------------------------------------------------
    def create_incident(self, *, title: str, service_id: str, incident_key: str, urgency: str,
                        escalation_policy_id: str | None = None) -> dict[str, Any]:
        """Open an incident. Details go in a note afterwards: the spec and the docs disagree on `body.details`
        (object vs string), and a note is accepted by both."""
        incident: dict[str, Any] = {
            "type": "incident", "title": title[:255], "service": {"id": service_id, "type": "service_reference"},
            "urgency": urgency, "incident_key": incident_key,
        }
        if escalation_policy_id:
            incident["escalation_policy"] = {"id": escalation_policy_id, "type": "escalation_policy_reference"}
        # Safe to repeat: PagerDuty refuses a second open incident with the same incident_key.
        body = self.http.request("POST", "/incidents", what="open a PagerDuty incident", json={"incident": incident},
                                 headers=self._writes(), idempotent=True)
        return body.get("incident") or {}

    def update_incident(self, incident_id: str, fields: dict[str, Any], what: str) -> dict[str, Any]:
        body = self.http.request("PUT", f"/incidents/{incident_id}", what=what,
                                 json={"incident": {"type": "incident_reference", **fields}}, headers=self._writes())
        return body.get("incident") or {}

    def set_status(self, incident_id: str, status: str, resolution: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": status}
        if resolution and status == "resolved":
            fields["resolution"] = resolution[:1000]
        verb = {"acknowledged": "acknowledge", "resolved": "resolve", "triggered": "reopen"}.get(status, status)
        return self.update_incident(incident_id, fields, f"{verb} the PagerDuty incident")

    def escalate(self, incident_id: str, level: int) -> dict[str, Any]:
        return self.update_incident(incident_id, {"escalation_level": level},
                                    f"escalate the PagerDuty incident to level {level}")

    def add_note(self, incident_id: str, content: str) -> dict[str, Any]:
        body = self.http.request("POST", f"/incidents/{incident_id}/notes", what="add a note to the PagerDuty incident",
                                 json={"note": {"content": content[:25000]}}, headers=self._writes(), idempotent=False)
        return body.get("note") or {}

    def request_responders(self, incident_id: str, requester_id: str, message: str,
                           targets: list[tuple[str, str]]) -> dict[str, Any]:
        """Ask more people (user_reference) or whole escalation policies to respond."""
        body = self.http.request("POST", f"/incidents/{incident_id}/responder_requests",
                                 what="ask more responders to join", headers=self._writes(), idempotent=False,
                                 json={"requester_id": requester_id, "message": message[:1000],
                                       "responder_request_targets": [
                                           {"responder_request_target": {"id": ident, "type": kind}}
                                           for kind, ident in targets]})
        return body.get("responder_request") or {}


class EventsClient:
    """PagerDuty Events API v2 (`/v2/enqueue`): trigger, acknowledge, resolve by dedup key."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, retry: RetryPolicy = RetryPolicy()) -> None:
        if settings.pagerduty_routing_key is None:
            raise PagerDutyError("PAGERDUTY_ROUTING_KEY is not set.")
        self._routing_key = settings.pagerduty_routing_key
        self.http = _Http("PagerDuty Events API", settings.pagerduty_events_url,
                          {"Content-Type": "application/json", "Accept": "application/json"},
                          transport=transport, sleep=sleep, retry=retry,
                          secrets=(self._routing_key.get_secret_value(),))

    def close(self) -> None:
        self.http.close()

    def send(self, action: str, dedup_key: str, payload: dict[str, Any] | None = None,
             links: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """Enqueue one event. Repeating it is harmless: PagerDuty groups events by dedup_key."""
        event: dict[str, Any] = {"routing_key": self._routing_key.get_secret_value(), "event_action": action,
                                 "dedup_key": dedup_key}
        if action == "trigger":
            event["payload"] = payload or {}
            event["client"] = "Fireline"
            if links:
                event["links"] = links
        verbs = {"trigger": "page the on-call", "acknowledge": "acknowledge the alert", "resolve": "resolve the alert"}
        return self.http.request("POST", "/v2/enqueue", what=verbs.get(action, action), json=event)
