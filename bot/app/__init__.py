"""The composition root: which features make Fireline (assembly), the `fireline` command, the runtime and
worker processes, plug-ins and Sentry."""
