"""PagerDuty: who is on call, paging, two-way sync and the response-time clock.

`feature.register` wires it into the registry; the clients live in `client`, the rest is one
module per concern (on-call cache, paging and sync, webhooks, the clock, escalation contacts).
"""
