"""Outbound API clients: Fly Machines and GraphQL, PagerDuty, Sentry, Statuspage. They speak HTTP through the
shared pool and know nothing of incidents."""
