"""Fireline's public status page: public updates a person confirmed, served by `fireline serve`.

`bot.features.status.service` drafts and publishes updates, `bot.features.status.feature` is `/incident statuspage`
and its buttons, `bot.adapters.web.public` serves the page, its feed and Statuspage-shaped JSON (and registers
its own routes). The assembly registers each module of this feature in turn; this package file imports nothing.
"""
