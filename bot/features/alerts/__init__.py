"""Alert threads and explainable SEV classification.

Alerts arrive by webhook (`bot.features.alerts.webhook`), as integration messages in ALERTS_CHANNEL
(`bot.adapters.slack.alerts`) or by `/alert` (`bot.features.alerts.feature`, whose `register` the assembly
calls); `bot.features.alerts.service` stores them with dedup windows and answers each in a thread;
`playbooks.severity` decides the SEV and says why. This package file imports nothing: importing any one
alerts module then runs only what that module needs.
"""
