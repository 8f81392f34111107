"""Fireline's public status page (issue 16): public updates a person confirmed, served by `fireline serve`.

`bot.features.status.service` drafts and publishes updates, `bot.features.status.feature` is `/incident statuspage` and its
buttons, `bot.adapters.web.public` serves the page, its feed and Statuspage-shaped JSON.
"""

from __future__ import annotations

from bot.core.registry import Registry
from bot.core.hooks import Hooks


def public_routes(container, worker=None) -> list:
    from bot.adapters.web.public import routes

    return routes(container, worker)


def register(registry: Registry) -> None:
    from bot.features.status import check, feature, slack_modal, sync
    from bot.features.providers import feature as provider_feature

    check.register(registry)
    feature.register(registry)
    slack_modal.register(registry)
    provider_feature.register(registry)
    sync.register(registry)
    registry.on(Hooks.HTTP_ROUTES)(public_routes)
