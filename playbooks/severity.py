"""Severity levels exactly as the deployment guide's table gives them, and the explainable classifier.

The SEV table is data: change it here and every card, message and timer follows. The classifier's
rules are data too (playbooks/data/severity_rules.yaml, seeded from the guide's SEV table, its
common-incidents and when-to-scale tables), and a team overrides them with a rules file
(SEVERITY_RULES). Every decision says which rule or signal made it, so a person can disagree with
a reason rather than with a number. Pure: no Slack, no database, no network.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


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
    def respond(self) -> str:
        """`respond < 15 min`, `respond by the next business day` (the guide's "Next business day" after a verb)."""
        if self.response_target is None and self.response_time.lower() == "next business day":
            return "respond by the next business day"
        return f"respond {self.response_time}"

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

PLAYBOOKS = ("restart", "rollback", "scale", "diagnose")
SEED_RULES_FILE = Path(__file__).resolve().parent / "data" / "severity_rules.yaml"
MAX_TEXT = 4000  # characters of an alert that are read; stack traces below that add nothing


def severity(level: int) -> Severity:
    return SEVERITIES[level]


def response_words(target: timedelta | None) -> str:
    """A response time as the guide writes its table: `< 15 min`, `< 1 hour`, `< 4 hours`, `Next business day`."""
    if target is None:
        return "Next business day"
    minutes = target.total_seconds() / 60
    if minutes >= 60 and minutes % 60 == 0:
        hours = int(minutes // 60)
        return f"< {hours} hour{'' if hours == 1 else 's'}"
    return f"< {minutes:g} min"


def with_target(level: int, target: timedelta | None) -> Severity:
    """The level with a team's own response time (SEV_RESPONSE_MINUTES), worded as the table words its own."""
    sev = SEVERITIES[level]
    if target == sev.response_target:
        return sev
    return replace(sev, response_time=response_words(target), response_target=target)


def describe(level: int, sev: Severity | None = None) -> str:
    """`SEV2 (Major degradation, respond < 1 hour)`; `sev`: the level as configured (Settings.severity)."""
    sev = sev or SEVERITIES[level]
    return f"{sev.label} ({sev.description}, {sev.respond})"


# -- the rule model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuideRow:
    """A row of the guide's tables: what probably broke, and the quick fix."""

    key: str
    table: str
    symptom: str
    likely_cause: str
    quick_fix: str
    playbook: str | None = None


@dataclass(frozen=True)
class Rule:
    """Words and patterns that suggest a severity, where the suggestion comes from, and how strong it is.

    `level` None makes a hint rule: it never moves the level, it only suggests the guide row and
    playbook (e.g. "since the deploy" suggests rolling back).
    """

    name: str
    level: int | None
    source: str  # where the rule comes from, in words ("SEV table: 'Site is down'")
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # alert sources it applies to; empty: all
    weight: float = 1.0
    playbook: str | None = None
    row: str | None = None  # key of a GuideRow
    compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.compiled is None and (self.keywords or self.patterns):
            object.__setattr__(self, "compiled", compile_rule(self.keywords, self.patterns))

    def search(self, text: str, source: str = "") -> str | None:
        """The matched words, or None. A rule with only `sources` matches every alert from them."""
        if self.sources and source.lower() not in self.sources:
            return None
        if self.compiled is None:
            return f"source {source}" if self.sources else None
        found = self.compiled.search(text)
        return found.group(0) if found else None

    def matches(self, text: str, source: str = "") -> bool:
        return self.search(text, source) is not None


@dataclass(frozen=True)
class Modifier:
    """After the rules: a phrase that sets the level (recovered alerts, staging) whatever matched."""

    name: str
    set_level: int
    source: str
    compiled: re.Pattern[str]


def compile_rule(keywords: Iterable[str], patterns: Iterable[str]) -> re.Pattern[str]:
    parts = [r"\b(?:" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in keywords) + r")\b"] if keywords else []
    parts += [f"(?:{p})" for p in patterns]
    # ASCII word rules: alerts are ASCII in practice and this is ~1.5x faster than Unicode case folding.
    return re.compile("|".join(parts), re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Threshold:
    at_least: float
    level: int


@dataclass(frozen=True)
class SignalRules:
    health_down: int = 2
    all_machines_down: int = 1
    some_machines_down: int = 3
    severity_hint_weight: float = 0.6
    source_severity_weight: float = 1.0
    severity_hints: Mapping[str, int] = field(default_factory=dict)
    pagerduty_urgency: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    pagerduty_priority: Mapping[str, int] = field(default_factory=dict)
    error_count: tuple[Threshold, ...] = ()
    error_rate: tuple[Threshold, ...] = ()
    text_error_count: tuple[Threshold, ...] = ()
    text_error_rate: tuple[Threshold, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    modifiers: tuple[Modifier, ...]
    rows: Mapping[str, GuideRow]
    signals: SignalRules
    default_level: int = 3
    decisive: float = 1.0
    origin: str = "built-in rules"
    structure: Structure | None = None  # the structural model; None for a team's `replace: true` rules

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


# -- the structural model ------------------------------------------------------------------------------
STRUCTURE_FILE = Path(__file__).resolve().parent / "data" / "severity_structure.yaml"
DIMENSIONS = ("impact", "subject", "scope", "trend")


@dataclass(frozen=True)
class Structure:
    """Vocabulary per dimension (ordered classes of compiled patterns) and the level table.

    Why structural: the seed keyword rules scored 99% on the set they were tuned on but 77% on the
    first hold-out and 52% (68/131) on tests/data/alerts_holdout_v2.yaml, written before this model:
    unseen wording (connection refused, "15% of requests timing out", one region down, a provider
    failing for everyone, cosmetic defects that are not typos) fell to the SEV3 default. The guide's
    SEV table is a function of impact x subject x scope; words only say which cell an alert is in.
    """

    vocabulary: Mapping[str, tuple[tuple[str, re.Pattern[str]], ...]]
    levels: Mapping[str, Mapping[str, Mapping[str, int | None]]]
    fixed: Mapping[str, int]
    caps: frozenset[str]
    title_hint: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Reading:
    """One alert's structural reading: each dimension's class and the words that put it there."""

    impact: str | None = None
    subject: str | None = None
    scope: str | None = None
    trend: str | None = None
    words: Mapping[str, str] = field(default_factory=dict)
    level: int | None = None
    capped: bool = False

    def explain(self) -> str:
        return ", ".join(self._said(dim) for dim in DIMENSIONS if getattr(self, dim))

    def limit(self) -> str:
        """The dimension that caps the level, in the words of `explain` (a class name like
        `non_production` is read by people, so it is written `scope non-production (“staging”)`)."""
        return self._said("scope" if self.scope else "impact")

    def _said(self, dim: str) -> str:
        value = str(getattr(self, dim))
        said = self.words.get(dim)
        return f"{dim} {value.replace('_', '-')}" + (f" (“{_snippet(said)}”)" if said else "")


def parse_structure(data: Any, origin: str = "structure") -> Structure:
    """The structure file's data -> Structure. Raises RulesError naming the file and the entry."""
    try:
        if not isinstance(data, dict):
            raise ValueError("expected a mapping with impact, subject, scope, levels")
        vocabulary: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {}
        for dim in DIMENSIONS:
            classes = data.get(dim) or {}
            if not isinstance(classes, dict):
                raise ValueError(f"{dim}: expected a mapping class: [patterns]")
            vocabulary[dim] = tuple((str(name), _compile((), _strings(patterns, f"{dim}.{name}"), f"{dim}.{name}"))
                                    for name, patterns in classes.items())
        levels: dict[str, dict[str, dict[str, int | None]]] = {}
        for subject, impacts in (data.get("levels") or {}).items():
            levels[subject] = {}
            for impact, cells in impacts.items():
                levels[subject][impact] = {scope: (None if lvl is None else _level(lvl, f"levels.{subject}.{impact}"))
                                           for scope, lvl in cells.items()}
        fixed = {str(k): _level(v, f"fixed.{k}") for k, v in (data.get("fixed") or {}).items()}
        hint = data.get("title_hint")
        return Structure(vocabulary, levels, fixed, frozenset(_strings(data.get("caps"), "caps")),
                         _compile((), (hint,), "title_hint") if hint else None)
    except ValueError as exc:
        raise RulesError(f"{origin}: {exc}") from None


@lru_cache(maxsize=1)
def default_structure() -> Structure:
    return parse_structure(_read(STRUCTURE_FILE, top_keys=None), str(STRUCTURE_FILE))


def read_structure(text: str, structure: Structure | None = None) -> Reading:
    """Impact, subject, scope and trend of an alert, and the level the table gives them (or None)."""
    structure = structure or default_structure()
    found: dict[str, str] = {}
    words: dict[str, str] = {}
    for dim in DIMENSIONS:
        for name, pattern in structure.vocabulary.get(dim, ()):
            match = pattern.search(text)
            if match:
                found[dim], words[dim] = name, match.group(0)
                break
    impact, subject, scope = found.get("impact"), found.get("subject"), found.get("scope")
    level: int | None = None
    if scope in structure.fixed:
        level = structure.fixed[scope]
    elif impact in structure.fixed:
        level = structure.fixed[impact]
    elif impact:
        cells = structure.levels.get(subject or "none", {}).get(impact, {})
        level = cells.get(scope or "unspecified")
    capped = level is not None and bool({scope, impact} & structure.caps)
    return Reading(impact, subject, scope, found.get("trend"), words, level, capped)


# -- live signals ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signals:
    """What a caller knows besides the text. Every field is optional: pass what you have.

    health_ok: the app's health endpoint answered 2xx (False: it did not; None: not checked).
    machines_running / machines_total: from the Fly Machines API.
    pagerduty_urgency: "high" | "low"; pagerduty_priority: "P1".."P5" (the incident's priority).
    severity_hint: a word for severity a sender puts on every event alike (a generic `severity`, a Slack
    attachment's colour): a hint that needs company.
    source_severity: the severity the team set on the alert rule itself (Alertmanager/Grafana
    `labels.severity`, Datadog's monitor priority, a Sentry metric alert's critical/warning trigger):
    it decides like PagerDuty's priority, so "critical" is not outvoted by a weak word such as "latency".
    error_count: errors in the alert's window; error_rate: failing share of requests, 0-1.
    """

    health_ok: bool | None = None
    machines_running: int | None = None
    machines_total: int | None = None
    pagerduty_urgency: str | None = None
    pagerduty_priority: str | None = None
    severity_hint: str | None = None
    error_count: int | None = None
    error_rate: float | None = None
    source_severity: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Signals:
        """Build from JSON-ish data (unknown keys and wrong types are dropped, never fatal)."""
        if not data:
            return cls()
        values: dict[str, Any] = {}
        health = data.get("health_ok", data.get("health"))
        if isinstance(health, bool):
            values["health_ok"] = health
        elif isinstance(health, str) and health.lower() in {"up", "ok", "down", "failing", "fail"}:
            values["health_ok"] = health.lower() in {"up", "ok"}
        for name in ("machines_running", "machines_total", "error_count"):
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                values[name] = value
        rate = data.get("error_rate")
        if isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 100:
            values["error_rate"] = rate / 100 if rate > 1 else float(rate)
        for name in ("pagerduty_urgency", "pagerduty_priority", "severity_hint", "source_severity"):
            value = data.get(name)
            if isinstance(value, str) and value.strip():
                values[name] = value.strip()[:40]
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


# -- the answer -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Classification:
    level: int
    reasons: tuple[str, ...]
    playbook: str | None = None
    row: GuideRow | None = None
    rules: tuple[str, ...] = ()  # names of the rules and signals that decided

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def label(self) -> str:
        return SEVERITIES[self.level].label

    def as_dict(self) -> dict[str, Any]:
        """The `fireline classify --json` shape (plus the guide row, for people who want it)."""
        data: dict[str, Any] = {"severity": self.level, "reasons": list(self.reasons), "playbook": self.playbook}
        if self.row:
            data["guide"] = {"table": self.row.table, "symptom": self.row.symptom,
                             "likely_cause": self.row.likely_cause, "quick_fix": self.row.quick_fix}
        return data


@dataclass
class _Evidence:
    level: int | None
    weight: float
    name: str
    reason: str
    row: str | None = None
    playbook: str | None = None


_TEXT_COUNT = re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?[kK]?)\s+(?:errors|exceptions|events|failures|"
                         r"failed requests)\b")
# "5xx rate 12%", "18% of requests", "6.5% of checkout requests failing", "failing for 40% of clients";
# a success rate that dropped to 40% is a 60% failure rate (_text_rates).
_TEXT_RATE = re.compile(r"(?:\b(?:5xx|error|failure)[ _-]?rate\D{0,12}(\d+(?:\.\d+)?)\s?%)"
                        r"|(?:\b(\d+(?:\.\d+)?)\s?% of (?:all |the )?(?:[\w/.-]+ )?(?:requests|responses|clients|"
                        r"connections|sends|calls|sessions)\b)", re.IGNORECASE)
_SUCCESS_RATE = re.compile(r"\bsuccess rate (?:dropped |fell |down )?(?:to |at |is )?(\d+(?:\.\d+)?)\s?%",
                           re.IGNORECASE)


# Links are addresses, not words about the alert: "https://wiki.example.com/runbooks/internal/instance-down"
# read as scope "internal" capped a critical InstanceDown at SEV3. Below the title links go; in the title
# (an uptime check names the URL it watches) only the host stays, "https://cgraph.org/health" read as
# "cgraph.org". Host names written as words ("api.cgraph.org returns 502") are untouched.
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>|)\]]+", re.IGNORECASE)


def _without_links(text: str) -> str:
    def host(match: re.Match[str]) -> str:
        try:
            return urlsplit(match.group(0)).hostname or " "
        except ValueError:
            return " "

    title, newline, rest = text.partition("\n")
    return _URL.sub(host, title) + newline + _URL.sub(" ", rest)


def _number(text: str) -> float:
    text = text.replace(",", "")
    return float(text[:-1]) * 1000 if text[-1:] in "kK" else float(text)


def _snippet(words: str) -> str:
    words = " ".join(words.split())
    return words if len(words) <= 60 else words[:57] + "..."


def classify(text: str, signals: Signals | None = None, *, source: str = "", rules: RuleSet | None = None,
             default_level: int | None = None) -> Classification:
    """Classify an alert's text plus what is known live into SEV1-4, saying which rule or signal decided."""
    rules = rules or default_rules()
    signals = signals or Signals()
    text = _without_links((text or "")[:MAX_TEXT])
    source = (source or "").lower()
    evidence: list[_Evidence] = []
    for rule in rules.rules:
        found = rule.search(text, source)
        if found is None:
            continue
        target = f"SEV{rule.level}" if rule.level else "a playbook"
        what = f"matched “{_snippet(found)}”" if rule.compiled is not None else f"came from {source}"
        evidence.append(_Evidence(rule.level, rule.weight, rule.name,
                                  f"{what} → {target} (rule {rule.name}: {rule.source})", rule.row, rule.playbook))
    reading = read_structure(text, rules.structure) if rules.structure else Reading()
    if reading.level is not None:
        evidence.append(_Evidence(reading.level, 1.0, "structure",
                                  f"read as {reading.explain()} → SEV{reading.level} (the SEV table by impact × "
                                  "subject × scope)"))
    if rules.structure and rules.structure.title_hint and not signals.severity_hint:
        priority = rules.structure.title_hint.search(text)
        if priority:
            signals = replace(signals, severity_hint=priority.group(1))
    evidence += _hint_evidence(text, signals, rules.signals)

    scores: dict[int, float] = {}
    for item in evidence:
        if item.level is not None:
            scores[item.level] = scores.get(item.level, 0.0) + item.weight
    level: int
    if not scores:
        level = default_level or rules.default_level
        decided: list[_Evidence] = []
        reasons = [f"matched no rule → SEV{level} (the default)"]
    else:
        sure = [lvl for lvl in sorted(scores) if scores[lvl] >= rules.decisive - 1e-9]
        level = sure[0] if sure else max(sorted(scores), key=lambda lvl: scores[lvl])
        decided = [e for e in evidence if e.level == level]
        decided.sort(key=lambda e: -e.weight)
        reasons = [e.reason for e in decided]
        if not sure:
            reasons.append(f"only hints matched (weight {scores[level]:.1f} < {rules.decisive:.1f}); the strongest "
                           "level wins")
    names = [e.name for e in decided]

    # A limiting scope (a region, some users, internal, not production) or a cosmetic/informational
    # impact caps the level whatever a keyword rule said: "down in fra" is not the whole site.
    if reading.capped and reading.level is not None and reading.level != level:
        level = reading.level
        reasons = [e.reason for e in evidence if e.name == "structure"] + \
            [f"{reading.limit()} limits it to SEV{level} (rules said otherwise)"]
        names = ["structure"]
        decided = [e for e in evidence if e.name == "structure"]

    # Modifiers: the alert itself says it is over, or not production.
    for modifier in rules.modifiers:
        found = modifier.compiled.search(text)
        if found and modifier.set_level != level:
            reasons.append(f"matched “{_snippet(found.group(0))}” → SEV{modifier.set_level} ({modifier.source}; "
                           f"modifier {modifier.name})")
            level = modifier.set_level
            names.append(modifier.name)
            break

    # Live signals set floors: facts about now beat words in an alert.
    floor_playbook = None
    for floor, why, name, playbook in _floors(signals, rules.signals):
        if floor < level:
            reasons.append(f"{why} → at least SEV{floor} (live signal)")
            level = floor
            names.append(name)
            floor_playbook = floor_playbook or playbook

    hints = [e for e in evidence if e.level is None]
    candidates = sorted(hints, key=lambda e: -e.weight) + [e for e in decided if e.row or e.playbook]
    row_key = next((e.row for e in candidates if e.row), None)
    row = rules.rows.get(row_key) if row_key else None
    playbook = floor_playbook or next((e.playbook for e in candidates if e.playbook), None) \
        or (row.playbook if row else None)
    if hints:
        reasons += [e.reason for e in hints]
    others = sorted({f"{e.name} → SEV{e.level}" for e in evidence if e.level not in (None, level)
                     and e not in decided})
    if others:
        reasons.append("also matched: " + ", ".join(others))
    return Classification(level, tuple(reasons), playbook, row, tuple(names))


# -- reasons for people ---------------------------------------------------------------------------------
# A reason names the rule that decided (`rule bad-gateway: ...`, `also matched: text-error-rate → SEV2`):
# that is what a person tuning SEVERITY_RULES needs, and `fireline classify` prints it as it is. Someone
# reading an alert in Slack needs what the rule stands for, so the thread shows `in_words()` and keeps the
# ids to one context line (`rule_names()`). Alerts store the reasons as they were classified, so this
# reads the reason's own wording rather than a second copy kept beside it.
_RULE_NOTE = re.compile(r" \(rule ([^\s:()]+): ")
_MODIFIER_NOTE = re.compile(r"; modifier ([^\s)]+)\)")
_ALSO = "also matched: "
_ALSO_ITEM = re.compile(r"([^\s,→]+) → (SEV\d)")
EVIDENCE_WORDS = {  # evidence that is not a rule of the file, by its name in reasons
    "structure": "the SEV table by impact, subject and scope",
    "text-error-count": "an error count in the alert",
    "text-error-rate": "an error rate in the alert",
    "source-severity": "the severity on the alert rule",
    "severity-hint": "the source's word for severity",
    "pagerduty-urgency": "PagerDuty's urgency",
    "pagerduty-priority": "PagerDuty's priority",
}


def _described(name: str, rules: RuleSet) -> str:
    rule = rules.rule(name)
    return rule.source if rule else EVIDENCE_WORDS.get(name, name.replace("-", " "))


def in_words(reason: str, rules: RuleSet | None = None) -> str:
    """A reason without rule ids: `(rule bad-gateway: common incidents: 502 errors)` reads
    `(common incidents: 502 errors)`, and `also matched: text-error-rate → SEV2` names what matched."""
    rules = rules or default_rules()
    if reason.startswith(_ALSO):
        items = _ALSO_ITEM.findall(reason[len(_ALSO):])
        if items:
            return _ALSO + " · ".join(f"{_described(name, rules)} → {level}" for name, level in items)
    return _MODIFIER_NOTE.sub(")", _RULE_NOTE.sub(" (", reason))


def rule_names(reasons: Iterable[str]) -> list[str]:
    """The rule and evidence ids the reasons name, in order, once each: for the line that helps tune rules."""
    names: list[str] = []
    for reason in reasons:
        found = _RULE_NOTE.findall(reason) + _MODIFIER_NOTE.findall(reason)
        if reason.startswith(_ALSO):
            found += [name for name, _ in _ALSO_ITEM.findall(reason[len(_ALSO):])]
        names += [name for name in found if name not in names]
    return names


def _hint_evidence(text: str, signals: Signals, config: SignalRules) -> list[_Evidence]:
    """Hints from the source's own words (severity field, PagerDuty urgency/priority) and the text's numbers."""
    out: list[_Evidence] = []
    rule_severity = (signals.source_severity or "").strip().lower().replace(" ", "")
    if rule_severity in config.severity_hints:
        level = config.severity_hints[rule_severity]
        out.append(_Evidence(level, config.source_severity_weight, "source-severity",
                             f"the alert rule says “{_snippet(signals.source_severity or '')}” → SEV{level}"))
    hint = (signals.severity_hint or "").strip().lower().replace(" ", "")
    if hint in config.severity_hints:
        level = config.severity_hints[hint]
        out.append(_Evidence(level, config.severity_hint_weight, "severity-hint",
                             f"the source calls it “{_snippet(signals.severity_hint or '')}” → SEV{level} (a hint)"))
    urgency = (signals.pagerduty_urgency or "").lower()
    if urgency in config.pagerduty_urgency:
        level, weight = config.pagerduty_urgency[urgency]
        out.append(_Evidence(level, weight, "pagerduty-urgency",
                             f"PagerDuty urgency is {urgency} → SEV{level} (a hint)"))
    priority = (signals.pagerduty_priority or "").upper()
    if priority in config.pagerduty_priority:
        level = config.pagerduty_priority[priority]
        out.append(_Evidence(level, 1.0, "pagerduty-priority", f"PagerDuty priority is {priority} → SEV{level}"))
    counts = [_number(m.group(1)) for m in _TEXT_COUNT.finditer(text)]
    if counts:
        count = max(counts)
        for step in config.text_error_count:
            if count >= step.at_least:
                out.append(_Evidence(step.level, 1.0, "text-error-count",
                                     f"the alert reports {count:,.0f} errors (≥ {step.at_least:,.0f}) → "
                                     f"SEV{step.level}"))
                break
    rates = [float(m.group(1) or m.group(2)) / 100 for m in _TEXT_RATE.finditer(text)]
    rates += [1 - float(m.group(1)) / 100 for m in _SUCCESS_RATE.finditer(text)]
    if rates:
        rate = max(rates)
        for step in config.text_error_rate:
            if rate >= step.at_least:
                out.append(_Evidence(step.level, 1.0, "text-error-rate",
                                     f"the alert reports a {rate:.0%} error rate (≥ {step.at_least:.0%}) → "
                                     f"SEV{step.level}"))
                break
    return out


def _floors(signals: Signals, config: SignalRules) -> list[tuple[int, str, str, str | None]]:
    """(floor level, why, signal name, playbook) for each live signal that says how bad it is."""
    out: list[tuple[int, str, str, str | None]] = []
    total, running = signals.machines_total, signals.machines_running
    if total and running is not None:
        if running == 0:
            out.append((config.all_machines_down, f"0 of {total} machines are running", "machines-down", "restart"))
        elif running < total:
            out.append((config.some_machines_down, f"{running} of {total} machines are running",
                        "machines-down", "restart"))
    if signals.health_ok is False:
        out.append((config.health_down, "the health endpoint is down", "health-down", "diagnose"))
    if signals.error_count is not None:
        for step in config.error_count:
            if signals.error_count >= step.at_least:
                out.append((step.level, f"{signals.error_count:,} errors (≥ {step.at_least:,.0f})", "error-count",
                            "diagnose"))
                break
    if signals.error_rate is not None:
        for step in config.error_rate:
            if signals.error_rate >= step.at_least:
                out.append((step.level, f"error rate {signals.error_rate:.0%} (≥ {step.at_least:.0%})", "error-rate",
                            "diagnose"))
                break
    return sorted(out, key=lambda item: item[0])


def classify_title(text: str, rules: RuleSet | None = None) -> Classification:
    """For `/incident declare` without a severity: the same classifier; no match means SEV3.

    Someone declared, so it matters: the default is SEV3 and the reason says so.
    """
    result = classify(text, rules=rules)
    if result.rules:
        return result
    level = (rules or default_rules()).default_level
    return replace(result, reasons=(f"matched no rule; {SEVERITIES[level].label} is the default for a declared "
                                    "incident",))


# -- loading rules --------------------------------------------------------------------------------------
class RulesError(ValueError):
    """A rules file is wrong; the message is one line naming the file and the problem."""


_RULE_KEYS = {"name", "level", "from", "keywords", "patterns", "sources", "weight", "playbook", "row"}
_MODIFIER_KEYS = {"name", "set", "from", "keywords", "patterns"}
_ROW_KEYS = {"key", "table", "symptom", "likely_cause", "quick_fix", "playbook"}
_TOP_KEYS = {"version", "default_level", "decisive", "replace", "disable", "guide_rows", "rules", "modifiers",
             "signals"}


def _read(path: Path, top_keys: set[str] | None = _TOP_KEYS) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot read it ({type(exc).__name__})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RulesError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise RulesError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping with `rules:` (and optionally `modifiers:`, `signals:`), "
                         f"got {type(data).__name__}")
    unknown = set(data) - top_keys if top_keys is not None else set()
    if unknown:
        raise RulesError(f"{path}: unknown key `{sorted(unknown)[0]}` (known: {', '.join(sorted(_TOP_KEYS))})")
    return data


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: expected a list of strings")
    return tuple(str(v) for v in value)


def _level(value: Any, where: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, str) and value.lower().startswith("sev"):
        value = value[3:]
    try:
        level = int(value)
    except (TypeError, ValueError):
        level = 0
    if level not in SEVERITIES or isinstance(value, bool | float):
        raise ValueError(f"{where}: expected a level 1-4, got {value!r}")
    return level


def _compile(keywords: tuple[str, ...], patterns: tuple[str, ...], where: str) -> re.Pattern[str]:
    for index, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}.patterns[{index}]: bad regular expression {pattern!r}: {exc}") from None
    return compile_rule(keywords, patterns)


def _parse_rule(item: Any, where: str, rows: Mapping[str, GuideRow]) -> Rule:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping with name, level and keywords or patterns")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: every rule needs a `name`")
    where = f"{where} ({name})"
    unknown = set(item) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key `{sorted(unknown)[0]}` (known: {', '.join(sorted(_RULE_KEYS))})")
    level = _level(item.get("level"), f"{where}.level", optional=True)
    keywords = _strings(item.get("keywords"), f"{where}.keywords")
    patterns = _strings(item.get("patterns"), f"{where}.patterns")
    sources = tuple(s.lower() for s in _strings(item.get("sources"), f"{where}.sources"))
    if not (keywords or patterns or sources):
        raise ValueError(f"{where}: needs keywords, patterns or sources")
    weight = item.get("weight", 1.0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 < weight <= 10:
        raise ValueError(f"{where}.weight: expected a number above 0 and at most 10, got {weight!r}")
    playbook = item.get("playbook")
    if playbook is not None and playbook not in PLAYBOOKS:
        raise ValueError(f"{where}.playbook: expected one of {', '.join(PLAYBOOKS)}, got {playbook!r}")
    row = item.get("row")
    if row is not None and row not in rows:
        raise ValueError(f"{where}.row: no guide row `{row}` (rows: {', '.join(sorted(rows))})")
    compiled = _compile(keywords, patterns, where) if keywords or patterns else None
    return Rule(name.strip(), level, str(item.get("from") or "team rules"), keywords, patterns, sources,
                float(weight), playbook, row, compiled)


def _parse_modifier(item: Any, where: str) -> Modifier:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ValueError(f"{where}: expected a mapping with name, set and patterns")
    where = f"{where} ({item['name']})"
    unknown = set(item) - _MODIFIER_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key `{sorted(unknown)[0]}` (known: {', '.join(sorted(_MODIFIER_KEYS))})")
    keywords = _strings(item.get("keywords"), f"{where}.keywords")
    patterns = _strings(item.get("patterns"), f"{where}.patterns")
    if not (keywords or patterns):
        raise ValueError(f"{where}: needs keywords or patterns")
    return Modifier(item["name"], _level(item.get("set"), f"{where}.set"), str(item.get("from") or "team rules"),
                    _compile(keywords, patterns, where))


def _parse_row(item: Any, where: str) -> GuideRow:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping with key, symptom, likely_cause, quick_fix")
    unknown = set(item) - _ROW_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key `{sorted(unknown)[0]}` (known: {', '.join(sorted(_ROW_KEYS))})")
    for name in ("key", "symptom", "likely_cause", "quick_fix"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            raise ValueError(f"{where}: `{name}` is required (text)")
    playbook = item.get("playbook")
    if playbook is not None and playbook not in PLAYBOOKS:
        raise ValueError(f"{where}.playbook: expected one of {', '.join(PLAYBOOKS)}, got {playbook!r}")
    return GuideRow(item["key"], str(item.get("table") or "team rules"), item["symptom"], item["likely_cause"],
                    item["quick_fix"], playbook)


def _thresholds(value: Any, where: str) -> tuple[Threshold, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of {{at_least, level}}")
    out = []
    for index, step in enumerate(value):
        if not isinstance(step, dict) or not isinstance(step.get("at_least"), int | float):
            raise ValueError(f"{where}[{index}]: expected {{at_least: <number>, level: <1-4>}}")
        out.append(Threshold(float(step["at_least"]), _level(step.get("level"), f"{where}[{index}].level")))
    return tuple(sorted(out, key=lambda t: -t.at_least))


def _parse_signals(data: Any, base: SignalRules) -> SignalRules:
    if not isinstance(data, dict):
        raise ValueError("signals: expected a mapping")
    values: dict[str, Any] = {}
    for name in ("health_down", "all_machines_down", "some_machines_down"):
        if name in data:
            values[name] = _level(data[name], f"signals.{name}")
    for name in ("severity_hint_weight", "source_severity_weight"):
        if name in data:
            weight = data[name]
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                raise ValueError(f"signals.{name}: expected a number")
            values[name] = float(weight)
    if "severity_hints" in data:
        hints = data["severity_hints"]
        if not isinstance(hints, dict):
            raise ValueError("signals.severity_hints: expected a mapping word: level")
        values["severity_hints"] = {**base.severity_hints, **{str(k).lower(): _level(v, f"signals.severity_hints.{k}")
                                                              for k, v in hints.items()}}
    if "pagerduty_urgency" in data:
        urgency = data["pagerduty_urgency"]
        if not isinstance(urgency, dict):
            raise ValueError("signals.pagerduty_urgency: expected {high: {level, weight}, low: {...}}")
        parsed = {}
        for key, item in urgency.items():
            if not isinstance(item, dict):
                raise ValueError(f"signals.pagerduty_urgency.{key}: expected {{level, weight}}")
            parsed[str(key).lower()] = (_level(item.get("level"), f"signals.pagerduty_urgency.{key}.level"),
                                        float(item.get("weight", 1.0)))
        values["pagerduty_urgency"] = parsed
    if "pagerduty_priority" in data:
        priority = data["pagerduty_priority"]
        if not isinstance(priority, dict):
            raise ValueError("signals.pagerduty_priority: expected a mapping P1: level")
        values["pagerduty_priority"] = {str(k).upper(): _level(v, f"signals.pagerduty_priority.{k}")
                                        for k, v in priority.items()}
    for name in ("error_count", "error_rate", "text_error_count", "text_error_rate"):
        if name in data:
            values[name] = _thresholds(data[name], f"signals.{name}")
    unknown = set(data) - set(SignalRules.__dataclass_fields__)
    if unknown:
        raise ValueError(f"signals: unknown key `{sorted(unknown)[0]}`")
    return replace(base, **values)


def _build(data: dict[str, Any], base: RuleSet | None, origin: str) -> RuleSet:
    replace_all = bool(data.get("replace")) or base is None
    rows: dict[str, GuideRow] = {} if replace_all else dict(base.rows)
    for index, item in enumerate(data.get("guide_rows") or []):
        row = _parse_row(item, f"guide_rows[{index}]")
        rows[row.key] = row
    rules: list[Rule] = [] if replace_all else list(base.rules)
    modifiers: list[Modifier] = [] if replace_all else list(base.modifiers)
    disable = set(_strings(data.get("disable"), "disable"))
    structure = None if replace_all else base.structure
    if disable and not replace_all:
        # `disable: [cosmetic]` also drops the structure's class of that name (impact cosmetic), so a
        # team that disagrees with a reading turns it off the same way it turns off a rule.
        if structure is not None:
            structure = _without(structure, disable)
        known = {r.name for r in rules} | {m.name for m in modifiers} | \
            {name for classes in (base.structure.vocabulary.values() if base.structure else ()) for name, _ in classes}
        missing = sorted(disable - known)
        if missing:
            raise ValueError(f"disable: no rule or modifier named `{missing[0]}`")
        rules = [r for r in rules if r.name not in disable]
        modifiers = [m for m in modifiers if m.name not in disable]
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        raise ValueError("rules: expected a list")
    for index, item in enumerate(raw_rules):
        rule = _parse_rule(item, f"rules[{index}]", rows)
        position = next((i for i, r in enumerate(rules) if r.name == rule.name), None)
        if position is None:
            rules.append(rule)
        else:
            rules[position] = rule
    raw_modifiers = data.get("modifiers") or []
    if not isinstance(raw_modifiers, list):
        raise ValueError("modifiers: expected a list")
    for index, item in enumerate(raw_modifiers):
        modifier = _parse_modifier(item, f"modifiers[{index}]")
        modifiers = [m for m in modifiers if m.name != modifier.name] + [modifier]
    signals = _parse_signals(data["signals"], base.signals if base else SignalRules()) if "signals" in data \
        else (base.signals if base else SignalRules())
    default_level = _level(data["default_level"], "default_level") if "default_level" in data \
        else (base.default_level if base else 3)
    decisive = data.get("decisive", base.decisive if base else 1.0)
    if not isinstance(decisive, int | float) or isinstance(decisive, bool) or decisive <= 0:
        raise ValueError(f"decisive: expected a number above 0, got {decisive!r}")
    if not rules:
        raise ValueError("no rules left (a rules file with `replace: true` needs its own `rules:`)")
    return RuleSet(tuple(rules), tuple(modifiers), rows, signals, default_level, float(decisive), origin, structure)


def _without(structure: Structure, names: set[str]) -> Structure:
    vocabulary = {dim: tuple((name, p) for name, p in classes if name not in names)
                  for dim, classes in structure.vocabulary.items()}
    return replace(structure, vocabulary=vocabulary, fixed={k: v for k, v in structure.fixed.items() if k not in names})


def parse_rules(data: dict[str, Any], *, base: RuleSet | None = None, origin: str = "rules") -> RuleSet:
    """Rules from already-parsed data, on top of `base` (None: standalone). Raises RulesError."""
    try:
        return _build(data, base, origin)
    except ValueError as exc:
        raise RulesError(f"{origin}: {exc}") from None


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The seed rules shipped in playbooks/data/severity_rules.yaml, with the structural model."""
    return replace(parse_rules(_read(SEED_RULES_FILE), origin=str(SEED_RULES_FILE)), structure=default_structure())


def load_rules(path: str | os.PathLike[str] | None) -> RuleSet:
    """The seed rules with a team's rules file on top. Raises RulesError with one line naming the file."""
    if not path:
        return default_rules()
    file = Path(path).expanduser()
    return parse_rules(_read(file), base=default_rules(), origin=str(file))


_cache: dict[str, tuple[float, RuleSet, str | None]] = {}


def rules_for(path: str | None) -> tuple[RuleSet, str | None]:
    """For running services: the rules for SEVERITY_RULES, re-read when the file changes.

    A bad file never stops the bot: the error is logged once per change, the built-in rules are
    used, and the error is returned so `fireline check` and the thread can say so.
    """
    if not path:
        return default_rules(), None
    try:
        mtime = Path(path).expanduser().stat().st_mtime
    except OSError:
        mtime = -1.0
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1], cached[2]
    try:
        ruleset, error = load_rules(path), None
    except RulesError as exc:
        ruleset, error = default_rules(), str(exc)
        log.error("SEVERITY_RULES ignored, using the built-in rules: %s", error)
    _cache[path] = (mtime, ruleset, error)
    return ruleset, error


__all__ = ["PLAYBOOKS", "SEVERITIES", "Classification", "Reading", "Structure", "read_structure",
            "GuideRow", "Modifier", "Rule", "RuleSet", "RulesError",
           "Severity", "Signals", "classify", "classify_title", "default_rules", "describe", "in_words", "load_rules",
           "parse_rules", "rule_names", "rules_for", "severity"]
