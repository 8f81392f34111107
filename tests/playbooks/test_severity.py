"""The severity classifier: rules, modifiers, live signals, rules files, `fireline classify`, the labelled set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from playbooks.severity import (
    SEVERITIES,
    Classification,
    RulesError,
    Signals,
    classify,
    classify_title,
    default_rules,
    describe,
    load_rules,
    rules_for,
)

DATA = Path(__file__).resolve().parents[1] / "data"
LABELLED_FLOOR = 0.90  # measured 0.99 on the set the rules were tuned on; the floor catches regressions


def labelled(name: str = "alerts_labelled.yaml") -> list[dict]:
    return yaml.safe_load((DATA / name).read_text())


# -- the table and the old names stay ------------------------------------------------------------------
def test_sev_table_is_the_guides():
    assert [SEVERITIES[n].description for n in (1, 2, 3, 4)] == ["Complete outage", "Major degradation",
                                                                   "Minor issue", "Cosmetic/Low priority"]
    assert describe(2) == "SEV2 (Major degradation, respond < 1 hour)"
    assert isinstance(classify_title("Site is down"), Classification)


def test_classify_title_keeps_declare_working():
    assert classify_title("Login broken for EU users").level == 2
    picked = classify_title("Refactor the onboarding copy")
    assert picked.level == 3 and "default for a declared incident" in picked.reason


# -- rules ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,level,rule", [
    ("Site is down", 1, "site-down"),
    ("api.cgraph.org returns 502 Bad Gateway", 1, "bad-gateway"),
    ("Origin unreachable (Error 523) for api.cgraph.org", 1, "origin-unreachable"),
    ("Login broken for EU users", 2, "login-broken"),
    ("Phoenix.Socket: too many connections, rejecting websocket upgrades", 2, "websocket-fails"),
    ("DBConnection.ConnectionError: connection not available, pool exhausted", 2, "db-connections-exhausted"),
    ("Slow response times on the feed", 3, "slow"),
    ("Redis memory full", 3, "redis-memory"),
    ("Typo in the footer", 4, "cosmetic"),
])
def test_rules_decide_and_say_which(text, level, rule):
    result = classify(text)
    assert result.level == level
    assert rule in result.rules
    assert any(f"rule {rule}" in reason for reason in result.reasons)


def test_reasons_quote_the_words_that_matched():
    result = classify("Checkout returns 502 for every customer")
    assert result.reasons[0].startswith("matched “502” → SEV1")


def test_most_severe_decisive_level_wins_over_many_minor_hits():
    result = classify("Site is down; latency high, slow, timeouts everywhere")
    assert result.level == 1
    assert any("also matched" in r and "slow → SEV3" in r for r in result.reasons)


def test_hints_need_company():
    # "outage" alone is a 0.6 hint for SEV1; a decisive SEV3 rule wins over it
    assert classify("partial outage: degraded performance in iad").level == 3
    only_hint = classify("Outage")
    assert only_hint.level == 1 and "only hints matched" in only_hint.reason


def test_guide_row_and_playbook():
    result = classify("WebSocket fails for everyone in lhr")
    assert result.row.symptom == "WebSocket fails" and result.row.likely_cause == "Too many connections"
    assert result.row.quick_fix == "Scale up machines" and result.playbook == "scale"
    assert classify("502 errors").playbook == "restart"
    assert classify("Errors up since deploy v151: 5xx rate 9%").playbook == "rollback"
    assert classify("Typo on the pricing page").playbook is None


def test_modifiers_recovered_and_staging():
    recovered = classify("[RESOLVED] api.cgraph.org is down")
    assert recovered.level == 4 and "recovered" in recovered.reason
    assert classify("[staging] cgraph-api-staging.fly.dev is down").level == 4
    assert classify("DNS not resolved for api.cgraph.org").level == 1  # "not resolved" is not a recovery


def test_source_scoped_rules():
    assert "sentry-new-issue" in classify("ArgumentError in Feed.rank/1", source="sentry").rules
    assert "sentry-new-issue" not in classify("ArgumentError in Feed.rank/1", source="grafana").rules


def test_numbers_in_the_text_are_evidence():
    assert classify("Spike: 1,284 events in 5 minutes").level == 2
    assert classify("18% of requests returning 520").level == 2
    assert classify("3 events in the last hour").level == 3  # default, nothing decided


# -- live signals ---------------------------------------------------------------------------------------------
def test_health_down_means_at_least_sev2():
    result = classify("Latency alert on cgraph-api", Signals(health_ok=False))
    assert result.level == 2 and "health endpoint is down → at least SEV2 (live signal)" in result.reason
    assert classify("Typo on the pricing page", Signals(health_ok=True)).level == 4


def test_all_machines_down_means_sev1_and_restart():
    result = classify("synthetic check failed", Signals(machines_running=0, machines_total=4))
    assert result.level == 1 and result.playbook == "restart"
    assert "0 of 4 machines are running" in result.reason
    assert classify("Typo", Signals(machines_running=3, machines_total=4)).level == 3


def test_pagerduty_urgency_and_priority():
    assert classify("cgraph-api health check failed", Signals(pagerduty_urgency="high")).level == 2
    assert classify("Checkout API errors", Signals(pagerduty_priority="P1")).level == 1
    urgency_only = classify("Something odd", Signals(pagerduty_urgency="high"))
    assert "PagerDuty urgency is high" in urgency_only.reason


def test_error_counts_and_rates_are_floors():
    assert classify("New issue: Jason.DecodeError", Signals(error_count=2400)).level == 2
    assert classify("New issue: Jason.DecodeError", Signals(error_count=150)).level == 3
    assert classify("Typo", Signals(error_rate=0.2)).level == 2


def test_severity_hint_is_only_a_hint():
    assert classify("Disk usage 85% on builder", Signals(severity_hint="critical")).level == 3
    assert classify("cgraph-api check", Signals(severity_hint="critical")).level == 1


def test_signals_from_mapping_drops_junk():
    signals = Signals.from_mapping({"health": "down", "machines_running": "x", "error_rate": 12, "bogus": 1,
                                    "error_count": True})
    assert signals == Signals(health_ok=False, error_rate=0.12)


# -- rules files ----------------------------------------------------------------------------------------------------
def test_rules_file_adds_replaces_and_disables(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({
        "disable": ["cosmetic"],
        "guide_rows": [{"key": "stripe", "table": "team runbook", "symptom": "Checkout broken",
                        "likely_cause": "Stripe keys rotated", "quick_fix": "Re-set STRIPE_SECRET_KEY"}],
        "rules": [
            {"name": "checkout", "level": 1, "from": "team: checkout is the business", "keywords": ["checkout"],
             "row": "stripe"},
            {"name": "slow", "level": 2, "keywords": ["slow"], "from": "team: we are strict about speed"},
        ],
    }))
    rules = load_rules(path)
    checkout = classify("Checkout session errors", rules=rules)
    assert checkout.level == 1 and checkout.row.likely_cause == "Stripe keys rotated"
    assert classify("Slow feed", rules=rules).level == 2
    assert classify("Typo in footer", rules=rules).level == 3  # cosmetic disabled: the default
    assert classify("Site is down", rules=rules).level == 1  # the seed rules are still there


def test_rules_file_json_and_replace(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"replace": True, "default_level": 4,
                                "rules": [{"name": "db", "level": 2, "patterns": [r"\bpostgres\b"]}]}))
    rules = load_rules(path)
    assert [r.name for r in rules.rules] == ["db"]
    assert classify("Site is down", rules=rules).level == 4
    assert classify("postgres is slow", rules=rules).level == 2


@pytest.mark.parametrize("content,suffix,problem", [
    ("rules: [\n  - name: x\n    level: 2\n  keywords: [a]", ".yaml", "invalid YAML at line"),
    ('{"rules": [}', ".json", "invalid JSON at line 1"),
    ("rules:\n  - name: x\n    level: 7\n    keywords: [a]", ".yaml",
     "rules[0] (x).level: expected a level 1-4, got 7"),
    ("rules:\n  - name: x\n    level: 2\n    patterns: ['(unclosed']", ".yaml",
     "rules[0] (x).patterns[0]: bad regular expression"),
    ("rules:\n  - name: x\n    level: 2", ".yaml", "rules[0] (x): needs keywords, patterns or sources"),
    ("rules:\n  - name: x\n    level: 2\n    keywords: [a]\n    playbok: restart", ".yaml",
     "rules[0] (x): unknown key `playbok`"),
    ("disable: [no-such-rule]", ".yaml", "disable: no rule or modifier named `no-such-rule`"),
    ("- just a list", ".yaml", "expected a mapping"),
])
def test_bad_rules_file_is_one_clear_line(tmp_path, content, suffix, problem):
    path = tmp_path / f"team-rules{suffix}"
    path.write_text(content)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and problem in message, message


def test_missing_rules_file(tmp_path):
    with pytest.raises(RulesError, match="file not found"):
        load_rules(tmp_path / "nope.yaml")


def test_running_services_fall_back_to_builtin_rules_on_a_bad_file(tmp_path, caplog):
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [oops")
    ruleset, error = rules_for(str(path))
    assert ruleset is default_rules() and "invalid YAML" in error
    path.write_text("rules:\n  - {name: custom, level: 1, keywords: [kaboom]}\n")
    import os
    import time

    os.utime(path, (time.time() + 5, time.time() + 5))  # a new mtime: the file is read again
    ruleset, error = rules_for(str(path))
    assert error is None and ruleset.rule("custom") is not None


def test_declare_uses_the_team_rules_file(tmp_path, sqlite_url, settings_factory):
    from bot.adapters.console import console_context
    from bot.app.assembly import build_container
    from tests.support.harness import FakeClock

    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: checkout, level: 1, keywords: [checkout], from: 'team: money'}\n")
    container = build_container(settings_factory(sqlite_url, severity_rules=str(path)), clock=FakeClock(
        __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC)))
    from bot.adapters.console_chat import ConsoleChat

    out = __import__("io").StringIO()
    ctx = console_context(container, ConsoleChat(out), user_id="console", channel_id="#incidents")
    reply = container.registry.dispatch(ctx, "incident", "declare Checkout is slow")
    assert "Picked SEV1" in reply.text + " ".join(reply.lines)
    container.engine.dispose()


# -- the CLI ---------------------------------------------------------------------------------------------------------
def test_fireline_classify_prints_sev_reasons_and_playbook(capsys, monkeypatch):
    from bot.app.cli import main

    monkeypatch.delenv("SEVERITY_RULES", raising=False)
    assert main(["classify", "api.cgraph.org returns 502 for every request"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "SEV1 (Complete outage, respond < 15 min)"
    assert "rule bad-gateway" in out and "Likely cause: App crashed" in out and "Suggested playbook: restart" in out


def test_fireline_classify_json(capsys, monkeypatch):
    from bot.app.cli import main

    monkeypatch.delenv("SEVERITY_RULES", raising=False)
    assert main(["classify", "--json", "Typo on the pricing page"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"severity", "reasons", "playbook"}
    assert data["severity"] == 4 and data["playbook"] is None and all(isinstance(r, str) for r in data["reasons"])
    assert main(["classify", "--json", "--machines", "0/4", "synthetic check failed"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["severity"] == 1 and data["playbook"] == "restart"


def test_fireline_classify_bad_rules_file_one_line(capsys, monkeypatch, tmp_path):
    from bot.app.cli import main

    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: x, level: 9, keywords: [a]}\n")
    monkeypatch.setenv("SEVERITY_RULES", str(path))
    assert main(["classify", "Site is down"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and "expected a level 1-4, got 9" in err


# -- the labelled set --------------------------------------------------------------------------------------------------
def test_labelled_set_is_big_and_covers_the_sources():
    items = labelled()
    assert len(items) >= 80
    sources = Counter(item["source"] for item in items)
    for source in ("fly", "sentry", "grafana", "cloudflare", "stripe", "resend", "expo", "guide", "pagerduty"):
        assert sources[source] >= 1, source
    assert {item["level"] for item in items} == {1, 2, 3, 4}


def test_labelled_set_accuracy_floor():
    items = labelled()
    wrong = []
    for item in items:
        result = classify(item["text"], Signals.from_mapping(item.get("signals")), source=item["source"])
        if result.level != item["level"]:
            wrong.append(f"want SEV{item['level']} got SEV{result.level}: {item['text']}")
    accuracy = 1 - len(wrong) / len(items)
    assert accuracy >= LABELLED_FLOOR, "\n".join(wrong)


def test_labelled_playbooks():
    items = [item for item in labelled() if "playbook" in item]
    agree = sum(classify(i["text"], Signals.from_mapping(i.get("signals")), source=i["source"]).playbook
                == i["playbook"] for i in items)
    assert agree / len(items) >= 0.9


# -- the structural model and hold-out v2 ------------------------------------------------------------------
HOLDOUT_V2_FLOOR = 0.90  # measured 119/131 (90.8%); the seed keyword rules alone scored 68/131 (51.9%)
LABELLED_NO_DROP = 109  # of 110: what the seed rules scored before the structural model


def _accuracy(name: str) -> tuple[int, list[str]]:
    wrong = []
    items = labelled(name)
    for item in items:
        result = classify(item["text"], Signals.from_mapping(item.get("signals")), source=item["source"])
        if result.level != item["level"]:
            wrong.append(f"want SEV{item['level']} got SEV{result.level}: {item['text']}")
    return len(items) - len(wrong), wrong


def test_holdout_v2_accuracy_and_no_drop_on_the_labelled_set():
    """alerts_holdout_v2.yaml was committed before playbooks/severity.py changed and never tuned on."""
    items = labelled("alerts_holdout_v2.yaml")
    assert len(items) >= 120
    correct, wrong = _accuracy("alerts_holdout_v2.yaml")
    assert correct / len(items) >= HOLDOUT_V2_FLOOR, "\n".join(wrong)
    correct, wrong = _accuracy("alerts_labelled.yaml")
    assert correct >= LABELLED_NO_DROP, "\n".join(wrong)


def test_structure_explains_impact_subject_and_scope():
    result = classify("Checkout API answers connection refused for every customer")
    assert result.level == 2
    assert "impact outage" in result.reason and "subject core" in result.reason and "scope all" in result.reason


def test_a_limiting_scope_caps_what_a_keyword_rule_said():
    # the site-down rule says SEV1; only one region is affected, so the structure caps it at SEV2
    result = classify("cgraph.org unreachable from users in sjc; every other region healthy")
    assert result.level == 2, result.reason
    assert "scope region (“in sjc”) limits it to SEV2" in result.reason


def test_the_limiting_class_is_named_in_words_not_as_its_identifier():
    result = classify("Checkout API down on staging, all requests failing")
    assert result.level == 4, result.reason
    assert "scope non-production (“staging”) limits it to SEV4" in result.reason
    assert "non_production" not in result.reason


def test_cosmetic_defects_that_are_not_typos_are_sev4():
    for text in ("Badge colour is the wrong colour on the invoices list", "Heading truncated on narrow phones"):
        assert classify(text).level == 4, classify(text).reason


def test_a_priority_in_the_title_is_a_hint_and_labels_severity_too():
    result = classify("[P1] something odd with the nightly batch")
    assert "the source calls it “P1”" in result.reason
    assert classify("something odd", Signals(severity_hint="critical")).level == 1 or \
        "critical" in classify("something odd", Signals(severity_hint="critical")).reason


def test_replace_true_rules_run_without_the_structure(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("replace: true\nrules:\n  - {name: only, level: 2, keywords: [zebra]}\n")
    rules = load_rules(path)
    assert rules.structure is None
    assert classify("the site is down for everyone", rules=rules).level == 3


def test_reasons_in_words_name_what_a_rule_stands_for_and_the_ids_stay_for_tuning():
    from playbooks.severity import in_words, rule_names

    result = classify("checkout slow, 3% of requests failing, high cpu")
    worded = [in_words(reason) for reason in result.reasons]
    assert "(SEV table: major degradation (customers cannot pay))" in worded[0] and "rule " not in " ".join(worded)
    assert worded[-1] == ("also matched: when to scale: high CPU across nodes → SEV3 · SEV table: 'Slow response "
                          "times'; common incidents: very slow → SEV3 · an error rate in the alert → SEV3")
    assert rule_names(result.reasons) == ["payments-broken", "high-cpu", "slow", "text-error-rate"]
    assert any("rule payments-broken" in reason for reason in result.reasons)  # `fireline classify` keeps the ids
    recovered = classify("RESOLVED: api returns 502 for every request")
    assert in_words(recovered.reasons[-1]) == "matched “RESOLVED” → SEV4 (the alert says it recovered)"
    assert rule_names(recovered.reasons) == ["bad-gateway", "recovered"]
