"""`fireline check` line for alerts: intake, watched channel and the severity rules file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.check import Status
from bot.core.settings import Settings
from playbooks.severity import RulesError, load_rules
from bot.features.alerts.auth import TokensError, parse_tokens

if TYPE_CHECKING:
    from bot.core.registry import Registry


def register(registry: Registry) -> None:
    registry.check("alerts")(check_alerts)


def check_alerts(settings: Settings) -> Status:
    try:
        ruleset = load_rules(settings.severity_rules or None)
    except RulesError as exc:
        return Status("alerts", "error", f"SEVERITY_RULES: {exc} (the built-in rules are used until it is fixed)")
    rules = f"{len(ruleset.rules)} severity rules" + (f" (with {settings.severity_rules})"
                                                      if settings.severity_rules else " (built-in)")
    parts = []
    if settings.alerts_webhook_secret:
        parts.append("POST /webhooks/alerts on (X-Fireline-Signature)")
    if settings.alerts_source_tokens and settings.alerts_source_tokens.get_secret_value().strip():
        try:
            named = sorted(parse_tokens(settings.alerts_source_tokens.get_secret_value()))
        except TokensError as exc:  # says where, never the value
            return Status("alerts", "error", f"{exc}; those sources' routes refuse every delivery until it is fixed")
        parts.append("POST /webhooks/alerts/<source> on for " + ", ".join(named))
    if settings.alerts_channel:
        parts.append(f"watching #{settings.alerts_channel.lstrip('#')}")
    if not parts:
        return Status("alerts", "off", f"ALERTS_WEBHOOK_SECRET, ALERTS_SOURCE_TOKENS and ALERTS_CHANNEL not set: "
                                       "only `/alert` and "
                                       f"`fireline classify`; {rules}")
    return Status("alerts", "live", "; ".join(parts) + f"; {rules}")
