"""Alert threads and explainable SEV classification (issue 5).

Alerts arrive by webhook (`bot.features.alerts.webhook`), as integration messages in ALERTS_CHANNEL
(`bot.adapters.slack.alerts`) or by `/alert` (`bot.features.alerts.feature`); `bot.features.alerts.service` stores them
with dedup windows and answers each in a thread; `playbooks.severity` decides the SEV and says why.
"""

from bot.features.alerts.feature import register

__all__ = ["register"]
