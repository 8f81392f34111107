"""What PagerDuty can do with the settings given, and the clients, made once per container.

Three ways to page: the REST API (an incident with an `incident_key`, so Fireline knows its id and
can sync notes and escalate), the Events API (trigger/ack/resolve by dedup key only), or dry-run
(nothing leaves Fireline, and every reply says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.container import Container, Part
from bot.clients.pagerduty import EventsClient, RestClient
from bot.core.settings import Settings

REST = "rest"
EVENTS = "events"
DRY_RUN = "dry-run"



@dataclass(frozen=True)
class PagerDutyConfig:
    settings: Settings

    @property
    def has_token(self) -> bool:
        return self.settings.pagerduty_api_token is not None and bool(
            self.settings.pagerduty_api_token.get_secret_value())

    @property
    def can_write(self) -> bool:
        """REST changes (ack, resolve, notes, escalation) need the token and a From email."""
        return self.has_token and bool(self.settings.pagerduty_from_email)

    @property
    def can_open_incidents(self) -> bool:
        return self.can_write and bool(self.settings.pagerduty_service_id)

    @property
    def has_routing_key(self) -> bool:
        return self.settings.pagerduty_routing_key is not None and bool(
            self.settings.pagerduty_routing_key.get_secret_value())

    @property
    def oncall_ready(self) -> bool:
        return self.has_token and bool(self.settings.pagerduty_escalation_policy_id)

    @property
    def paging_mode(self) -> str:
        if self.can_open_incidents:
            return REST
        if self.has_routing_key:
            return EVENTS
        return DRY_RUN

    def missing_for_paging(self) -> list[str]:
        names = [name for name, ok in (("PAGERDUTY_API_TOKEN", self.has_token),
                                       ("PAGERDUTY_FROM_EMAIL", bool(self.settings.pagerduty_from_email)),
                                       ("PAGERDUTY_SERVICE_ID", bool(self.settings.pagerduty_service_id))) if not ok]
        return names

    def dry_run_note(self) -> str:
        return ("Dry-run: PagerDuty is not configured (set PAGERDUTY_API_TOKEN, PAGERDUTY_FROM_EMAIL and "
                "PAGERDUTY_SERVICE_ID, or PAGERDUTY_ROUTING_KEY), so nobody was actually paged.")


def config(container: Container) -> PagerDutyConfig:
    return PagerDutyConfig(container.settings)


# The PagerDuty clients, made on first use; tests put their own (`container.parts.put(PAGERDUTY_REST, ...)`).
PAGERDUTY_REST: Part[RestClient] = Part("pagerduty.rest", lambda container: RestClient(container.settings))
PAGERDUTY_EVENTS: Part[EventsClient] = Part("pagerduty.events", lambda container: EventsClient(container.settings))


def rest_client(container: Container) -> RestClient:
    """The REST client, made on first use; tests put their own under `PAGERDUTY_REST`."""
    return container.parts.get(PAGERDUTY_REST)


def events_client(container: Container) -> EventsClient:
    return container.parts.get(PAGERDUTY_EVENTS)
