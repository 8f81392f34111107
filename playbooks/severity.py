"""Severity levels exactly as the deployment guide's table gives them, and a first classifier.

The table is data: change it here (or, for the classifier's rules, in a rules file) and every
card, message and timer follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Severity:
    level: int
    name: str
    description: str
    response_time: str  # as the guide writes it
    response_target: timedelta | None  # None: next business day
    examples: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"SEV{self.level}"

    @property
    def pages(self) -> bool:
        """The guide: on-call responds to SEV1/SEV2 within 15 minutes, so those page."""
        return self.level <= 2


SEVERITIES: dict[int, Severity] = {
    1: Severity(1, "SEV1", "Complete outage", "< 15 min", timedelta(minutes=15), ("Site is down",)),
    2: Severity(2, "SEV2", "Major degradation", "< 1 hour", timedelta(hours=1),
                ("Login broken", "messages failing")),
    3: Severity(3, "SEV3", "Minor issue", "< 4 hours", timedelta(hours=4),
                ("Slow response times", "UI glitch")),
    4: Severity(4, "SEV4", "Cosmetic/Low priority", "Next business day", None,
                ("Typo", "minor styling issue")),
}


def severity(level: int) -> Severity:
    return SEVERITIES[level]


def describe(level: int) -> str:
    """`SEV2 (Major degradation, respond < 1 hour)`."""
    sev = SEVERITIES[level]
    return f"{sev.label} ({sev.description}, respond {sev.response_time})"


@dataclass(frozen=True)
class Rule:
    """A keyword pattern that suggests a severity, and the guide row it came from."""

    pattern: str
    level: int
    source: str

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE) is not None


# Seeded from the guide's SEV examples and its common-incidents table.
FIRST_RULES: tuple[Rule, ...] = (
    Rule(r"\b(site|app|api|everything|prod(uction)?)\b.{0,20}\b(is )?(down|unreachable|offline)\b", 1,
         "SEV table: 'Site is down' (complete outage)"),
    Rule(r"\b(complete|total|full) outage\b|\boutage\b", 1, "SEV table: complete outage"),
    Rule(r"\b502\b|\bbad gateway\b", 1, "common incidents: 502 errors (app crashed)"),
    Rule(r"\b(can'?t|cannot|unable to) (log ?in|sign ?in)\b|\blogin\b.{0,20}\b(broken|fail|down)", 2,
         "SEV table: 'Login broken'; common incidents: auth service down"),
    Rule(r"\bmessages?\b.{0,20}\b(fail|failing|not sending|lost)\b", 2, "SEV table: 'messages failing'"),
    Rule(r"\bwebsockets?\b.{0,20}\b(fail|failing|drop|disconnect)", 2,
         "common incidents: WebSocket fails (too many connections)"),
    Rule(r"\b(degraded|degradation)\b", 2, "SEV table: major degradation"),
    Rule(r"\bno (e-?mails?)\b|\be-?mails?\b.{0,20}\b(not|fail)", 3, "common incidents: no emails (Resend)"),
    Rule(r"\b(slow|latency|timeouts?)\b", 3, "SEV table: 'Slow response times'; common incidents: very slow"),
    Rule(r"\bui glitch\b|\bglitch\b", 3, "SEV table: 'UI glitch'"),
    Rule(r"\btypo\b|\bstyling\b|\bcosmetic\b|\bmisaligned\b", 4, "SEV table: 'Typo, minor styling issue'"),
)

DEFAULT_LEVEL = 3


@dataclass(frozen=True)
class Classification:
    level: int
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def classify_title(text: str, rules: tuple[Rule, ...] = FIRST_RULES) -> Classification:
    """The most severe matching rule wins; no match means SEV3 (someone declared, so it matters)."""
    hits = [rule for rule in rules if rule.matches(text)]
    if not hits:
        return Classification(DEFAULT_LEVEL, (f"no rule matched; {SEVERITIES[DEFAULT_LEVEL].label} is the "
                                              "default for a declared incident",))
    level = min(rule.level for rule in hits)
    reasons = tuple(f"matched {rule.source}" for rule in hits if rule.level == level)
    return Classification(level, reasons)
