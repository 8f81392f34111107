"""The core every feature builds on: the Registry (commands, buttons, views, jobs, hooks, CLI subcommands, check
lines), the command grammar, the container and Context, the neutral Reply, the one error mapping, the Chat port,
time and text rules, settings. It knows no feature and no front end."""
