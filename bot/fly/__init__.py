"""Fly.io: the Machines API client, the releases source, health probes and the dry-run fleet."""
