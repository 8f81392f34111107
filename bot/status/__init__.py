"""Fireline's public status page (issue 16): public updates a person confirmed, served by `fireline serve`.

`bot.status.service` drafts and publishes updates, `bot.status.feature` is `/incident statuspage` and its
buttons, `bot.web.public` serves the page, its feed and Statuspage-shaped JSON.
"""

from __future__ import annotations

from bot.commands.registry import Registry
from bot.status import check  # noqa: F401 - registers the `fireline check` lines on import


def public_routes(container, worker=None) -> list:
    from bot.web.public import routes

    return routes(container, worker)


def register(registry: Registry) -> None:
    from bot.status import feature, provider_feature, slack_modal, sync

    feature.register(registry)
    slack_modal.register(registry)
    provider_feature.register(registry)
    sync.register(registry)
    registry.on("http.routes")(public_routes)
