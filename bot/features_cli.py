"""Feature modules that add `fireline` subcommands; each registers itself on import."""

import bot.alerts.cli  # noqa: E402,F401 - `fireline classify`
import bot.commands.postmortem_cli  # noqa: E402,F401 - fireline postmortem
