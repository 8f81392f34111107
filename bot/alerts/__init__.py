"""Alert threads and explainable SEV classification (issue 5).

Alerts arrive by webhook (`bot.alerts.webhook`), as integration messages in ALERTS_CHANNEL
(`bot.alerts.listener`) or by `/alert` (`bot.alerts.commands`); `bot.alerts.service` stores them
with dedup windows and answers each in a thread; `playbooks.severity` decides the SEV and says why.
"""

from bot.alerts.commands import register

__all__ = ["register"]
