"""One package per feature. Each has `feature.py` with `register(registry)` (its commands, buttons, views,
jobs, hooks, CLI subcommands and check lines) and, as it needs, `service.py`, `render.py`, `check.py`, `cli.py`.
`bot.app.assembly.FEATURES` lists them in order."""
