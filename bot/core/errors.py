"""Domain errors and the one place that turns them into what a user sees."""

from __future__ import annotations

from playbooks.framework import ServiceError


class UserError(Exception):
    """Bad input or a request that cannot be done; the message says what to type instead."""

    def __init__(self, message: str, *hints: str) -> None:
        super().__init__(message)
        self.message = message
        self.hints = list(hints)


class NotAuthorized(UserError):
    """The person may not do this (destructive playbooks are limited to RESPONDERS)."""


class IntegrationError(ServiceError):
    """An outside service (Slack, Fly, PagerDuty) failed; the message is safe to show a person (escaped).

    A `playbooks.framework.ServiceError`, so playbooks (which import nothing from bot/) catch it as theirs.
    """


class StoreUnavailable(Exception):
    """The database cannot be reached; the user is told to try again."""


TRY_AGAIN = "Fireline can't reach its database right now, so nothing was changed. Try again in a minute."
INTERNAL = "Something went wrong on Fireline's side and it has been logged; nothing was lost. Try again."
