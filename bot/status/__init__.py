"""Fireline's public status page (issue 16): public updates a person confirmed, served by `fireline serve`.

`bot.status.service` drafts and publishes updates, `bot.status.feature` is `/incident statuspage` and its
buttons, `bot.web.public` serves the page, its feed and Statuspage-shaped JSON.
"""

from __future__ import annotations

from bot.commands.registry import Registry
from bot.hooks import Hooks


def public_routes(container, worker=None) -> list:
    from bot.web.public import routes

    return routes(container, worker)


def register(registry: Registry) -> None:
    from bot.status import check, feature, provider_feature, slack_modal, sync

    check.register(registry)
    feature.register(registry)
    slack_modal.register(registry)
    provider_feature.register(registry)
    sync.register(registry)
    registry.on(Hooks.HTTP_ROUTES)(public_routes)
