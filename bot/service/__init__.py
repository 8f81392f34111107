"""The incident lifecycle and what every feature shares around it: lookups (which apply visibility), the
durable job queue and its writers, timers, de-duplication, who may confirm."""
