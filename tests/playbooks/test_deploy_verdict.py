"""The deploy verdict: a pure decision from Sentry's error counts, Fireline's own health probes and Fly's machines."""

from __future__ import annotations

import pytest

from playbooks.deploy_verdict import (
    ErrorCounts,
    Observations,
    Probe,
    RegionState,
    Thresholds,
    judge,
    parse_thresholds,
)


def clean(**changes) -> Observations:
    values = dict(release="v43", previous="v42", minutes=15.0,
                  errors=ErrorCounts(new=20, previous=20, new_minutes=15, previous_minutes=15),
                  probes=[Probe(True, 200, 100 + i) for i in range(10)],
                  regions=[RegionState("iad", machines=2, started=2), RegionState("lhr", machines=2, started=2)])
    values.update(changes)
    return Observations(**values)


def test_a_clean_deploy_is_healthy_with_every_figure_explained():
    verdict = judge(clean(), Thresholds())
    assert verdict.level == "healthy"
    text = "\n".join(verdict.lines())
    assert "1.0x" in text and "p50 104 ms" in text and "p95 109 ms" in text and "iad" in text


def test_a_five_fold_error_rate_rise_is_bad_and_says_the_threshold():
    verdict = judge(clean(errors=ErrorCounts(new=100, previous=20, new_minutes=15, previous_minutes=15)),
                    Thresholds())
    assert verdict.level == "bad"
    reason = next(r for r in verdict.reasons if r.source == "Sentry")
    assert reason.level == "bad" and "5.0x" in reason.text and "error_ratio_bad" in reason.text


def test_a_two_fold_rise_is_suspicious_and_thresholds_are_data():
    observed = clean(errors=ErrorCounts(new=50, previous=20, new_minutes=15, previous_minutes=15))
    assert judge(observed, Thresholds()).level == "suspicious"
    assert judge(observed, parse_thresholds("error_ratio_suspicious=3")).level == "healthy"
    assert judge(observed, parse_thresholds("error_ratio_bad=2")).level == "bad"


def test_rates_are_per_minute_so_a_short_window_is_not_a_drop():
    # 10 minutes of the new release against 60 before: the same rate is 1.0x, not a sixth
    verdict = judge(clean(errors=ErrorCounts(new=20, previous=120, new_minutes=10, previous_minutes=60)),
                    Thresholds())
    assert verdict.level == "healthy" and "1.0x" in verdict.reasons[0].text


def test_few_errors_are_not_a_ratio():
    verdict = judge(clean(errors=ErrorCounts(new=4, previous=0, new_minutes=15, previous_minutes=15)),
                    Thresholds())
    assert verdict.level == "healthy"


def test_errors_where_there_were_none_are_bad():
    verdict = judge(clean(errors=ErrorCounts(new=40, previous=0, new_minutes=15, previous_minutes=15)),
                    Thresholds())
    assert verdict.level == "bad"


def test_an_unreadable_source_is_never_healthy():
    verdict = judge(clean(errors=ErrorCounts(error="Could not reach Sentry (ConnectError)")), Thresholds())
    assert verdict.level != "healthy"
    assert any("could not read Sentry" in line for line in verdict.lines())
    unread_fly = judge(clean(regions=None, fly_error="Fly timed out"), Thresholds())
    assert unread_fly.level != "healthy" and "could not read Fly" in "\n".join(unread_fly.lines())
    unread_health = judge(clean(probes=[], health_url="https://x.test/health"), Thresholds())
    assert unread_health.level != "healthy" and "could not read HEALTH_URL" in "\n".join(unread_health.lines())


def test_not_configured_sources_are_said_and_nothing_read_is_not_healthy():
    verdict = judge(clean(errors=None), Thresholds())
    assert verdict.level == "healthy"
    assert "Sentry (not configured): error rates were not judged: set SENTRY_API_TOKEN, SENTRY_ORG and " \
           "SENTRY_PROJECT" in verdict.lines()
    unprobed = judge(clean(probes=None), Thresholds())
    assert any(line.startswith("Health (not configured): ") and "set HEALTH_URL" in line for line in unprobed.lines())
    assert not any(line.startswith("Sentry (ok)") for line in verdict.lines())
    assert not any(line.startswith("Health (ok)") for line in unprobed.lines())
    nothing = judge(clean(errors=None, probes=None, regions=None), Thresholds())
    assert nothing.level != "healthy"


def test_the_verdict_names_the_sources_it_rests_on_when_others_said_nothing():
    assert judge(clean(), Thresholds()).summary() == "Healthy"  # all three judged: nothing to qualify
    fly_only = judge(clean(errors=None, probes=None), Thresholds())
    assert fly_only.summary() == "Healthy on Fly's checks only (Sentry and health not configured)"
    no_sentry = judge(clean(errors=None), Thresholds())
    assert no_sentry.summary() == "Healthy on the health probes and Fly's checks only (Sentry not configured)"
    slow = judge(clean(errors=None, probes=[Probe(False, 502, 30)] * 10), Thresholds())
    assert slow.summary().startswith("Bad on the health probes and Fly's checks only")


def test_health_failures_and_slow_p95():
    failing = [Probe(False, 502, 30)] * 6 + [Probe(True, 200, 100)] * 4
    assert judge(clean(probes=failing), Thresholds()).level == "bad"
    slow = [Probe(True, 200, 2000)] * 10
    verdict = judge(clean(probes=slow), Thresholds())
    assert verdict.level == "suspicious" and "p95_suspicious_ms" in "\n".join(verdict.lines())


def test_crash_loops_and_restarts_per_region():
    looping = clean(regions=[RegionState("iad", machines=2, started=1, crash_looping=1, restarts=4),
                             RegionState("lhr", machines=2, started=2)])
    verdict = judge(looping, Thresholds())
    assert verdict.level == "bad" and "iad" in next(r.text for r in verdict.reasons if r.level == "bad")
    restarted = clean(regions=[RegionState("iad", machines=2, started=2, restarts=2)])
    assert judge(restarted, Thresholds()).level == "suspicious"


@pytest.mark.parametrize("text", ["error_ratio_bad", "nope=3", "error_ratio_bad=-1", "p95_bad_ms=abc"])
def test_bad_threshold_text_says_what_to_write(text):
    with pytest.raises(ValueError, match="error_ratio_bad"):
        parse_thresholds(text)


def test_thresholds_say_themselves_in_one_line():
    assert Thresholds().summary() == (
        "errors/min 2x the previous release's suspicious, 5x bad (from 10 errors: min_errors); failed probes 10% "
        "suspicious, 50% bad; p95 1500 ms suspicious, 5000 ms bad; 2 restarts in a region suspicious; "
        "1 crash-looping machine bad; Fly's 5xx share 1% suspicious, 5% bad")
    assert Thresholds().changed() == []
    assert parse_thresholds("error_ratio_bad=4,p95_bad_ms=3000").changed() == ["error_ratio_bad=4", "p95_bad_ms=3000"]


# -- Fly's metrics: p95 and 5xx since the deploy against before ------------------------------------------------
def test_fly_metrics_5xx_and_p95_are_judged_after_against_before():
    from playbooks.deploy_verdict import TrafficChange

    bad = judge(clean(traffic=TrafficChange(0.23, 4.06, 0.002, 0.15)), Thresholds())
    assert bad.level == "bad"
    assert "Fly metrics (BAD): 5xx 15.00% since the deploy against 0.20% before: at or over fly_5xx_bad 5%" in \
        bad.lines()
    assert any(line.startswith("Fly metrics (suspicious): p95 4060 ms since the deploy against 230 ms before")
               for line in bad.lines())
    fine = judge(clean(traffic=TrafficChange(0.23, 0.24, 0.002, 0.003)), Thresholds())
    assert fine.level == "healthy" and "Fly metrics (ok): p95 240 ms since the deploy against 230 ms before: under " \
        "p95_suspicious_ms 1500" in fine.lines()
    unread = judge(clean(traffic=TrafficChange(error="Could not reach Fly's metrics")), Thresholds())
    assert unread.level == "suspicious"
    off = judge(clean(), Thresholds()).lines()
    assert any(line.startswith("Fly metrics (not configured)") for line in off)
