"""Feature modules that add `fireline` subcommands; each registers itself on import."""
