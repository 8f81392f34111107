"""The pure parts of the postmortem: text safety, offsets, targets, time parsing. No database, no Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.features.timeline.when import parse_when
from bot.core.errors import UserError
from playbooks import postmortem as pm

T0 = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday


def incident(**overrides):
    values = dict(id=3, title="Search is slow", severity=3, status="resolved", declared_by="U1", lead_id="U1",
                  channel_name="inc-3-search-is-slow", summary=None, severity_reason=None, declared_at=T0,
                  acknowledged_at=None, acknowledged_by=None, mitigated_at=None, resolved_at=T0 + timedelta(hours=2))
    values.update(overrides)
    return SimpleNamespace(**values)


def event(minutes: float, kind: str, text: str = "", actor: str = "U1", **data):
    return SimpleNamespace(at=T0 + timedelta(minutes=minutes), kind=kind, actor=actor, text=text, data=data)


@pytest.mark.parametrize("text, expected", [
    ("a | b", "a \\| b"),
    ("two\nlines", "two<br>lines"),
    ("respond < 15 min", "respond < 15 min"),
    ("<script>alert(1)</script>", "&lt;script>alert(1)&lt;/script>"),
    ("C:\\logs\\| x", "C:\\logs\\\\\\| x"),
])
def test_cell_keeps_text_inside_one_table_cell(text, expected):
    assert pm.cell(text) == expected


def test_from_slack_turns_mrkdwn_into_markdown_without_pings():
    text = ("<!channel> see <https://g.example.com/d?a=1&amp;b=2|dash|board> and <https://x.example.com>, "
            "cc <@U0CHEN> <@U0AISHA|aisha> in <#C1|general>, <!subteam^S1|@oncall> &lt;b&gt;")
    assert pm.from_slack(text) == ("@channel see [dash\\|board](https://g.example.com/d?a=1&b=2) and "
                                   "<https://x.example.com>, cc @U0CHEN @aisha in #general, @oncall &lt;b>")


@pytest.mark.parametrize("seconds, expected", [
    (0, "T+00:00"), (59, "T+00:00"), (300, "T+00:05"), (26 * 3600 + 600, "T+26:10"), (-120, "T-00:02"),
])
def test_offsets_from_the_declaration(seconds, expected):
    assert pm.fmt_offset(seconds) == expected


@pytest.mark.parametrize("declared, deadline", [
    (datetime(2026, 11, 25, 14, 0, tzinfo=UTC), datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)),  # Wed -> Thu
    (datetime(2026, 11, 27, 9, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)),  # Fri -> Mon
    (datetime(2026, 11, 28, 9, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)),  # Sat -> Mon
])
def test_sev4_target_is_the_end_of_the_next_business_day(declared, deadline):
    assert pm.next_business_day_end(declared) == deadline


def figures(inc, events=()):
    return {f.name: f for f in pm.response_figures(inc, list(events))}


def test_sev4_acknowledged_next_business_day_is_met_and_later_is_missed():
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    on_monday = figures(incident(severity=4, declared_at=friday, acknowledged_at=friday + timedelta(days=3)))
    assert on_monday["Time to acknowledge"].verdict == "met"
    assert "next business day (by 2026-11-30 23:59 UTC)" in on_monday["Time to acknowledge"].target
    on_tuesday = figures(incident(severity=4, declared_at=friday, acknowledged_at=friday + timedelta(days=4)))
    assert on_tuesday["Time to acknowledge"].verdict == "missed"


def test_response_targets_follow_the_sev_table():
    sev2 = figures(incident(severity=2, acknowledged_at=T0 + timedelta(minutes=61)))
    assert (sev2["Time to acknowledge"].took, sev2["Time to acknowledge"].target,
            sev2["Time to acknowledge"].verdict) == ("1h 01m", "SEV2: < 1 hour", "missed")
    sev1 = figures(incident(severity=1, acknowledged_at=T0 + timedelta(minutes=15)))
    assert sev1["Time to acknowledge"].verdict == "met"
    # the guide sets no target for mitigating or resolving: measured, never judged against an invented one
    assert (sev1["Time to resolve"].took, sev1["Time to resolve"].verdict) == ("2h 00m", "no target")


def test_acknowledgement_is_judged_by_the_level_in_force_before_it():
    events = [event(0, "declared", severity=3), event(30, "severity_changed", **{"from": 3, "to": 1})]
    inc = incident(severity=1, acknowledged_at=T0 + timedelta(minutes=20))
    assert figures(inc, events)["Time to acknowledge"].target == "SEV3: < 4 hours"
    late = incident(severity=1, acknowledged_at=T0 + timedelta(minutes=40))
    assert figures(late, events)["Time to acknowledge"].target == "SEV1: < 15 min"
    assert pm.peak_level(inc, events) == 1


def test_what_was_not_recorded_is_a_placeholder_never_a_guess():
    doc = pm.build(incident(resolved_at=None, status="investigating"), [event(0, "declared", "Declared",
                                                                              severity=3)], [],
                   generated_at=T0, due=None, owed=False)
    markdown = pm.render(doc).markdown
    assert "_TODO: two or three sentences" in markdown  # no summary was given
    assert "| Time to acknowledge | _TODO: nobody acknowledged in Fireline" in markdown
    assert "| Resolved | _TODO: not resolved yet_ |" in markdown
    assert "Fireline recorded no playbook runs. _TODO:" in markdown
    assert "_TODO: record action items with `/incident followup" in markdown
    assert "not required for SEV3" in markdown


def test_mitigations_are_the_playbook_and_execution_events_with_their_results():
    events = [event(0, "declared", "Declared", severity=1),
              event(5, "playbook_planned", "Plan: restart 3 machines"),
              event(7, "execution_finished", "Rollback to v41", result="2 of 2 machines healthy"),
              event(8, "playbook.scale", "Scale to 8 machines", status="failed", error="quota | exceeded"),
              event(9, "note", "not a mitigation")]
    doc = pm.build(incident(severity=1), events, [], generated_at=T0, due=None, owed=True)
    assert [(m.offset, m.text, m.result) for m in doc.mitigations] == [
        ("T+00:05", "Plan: restart 3 machines", ""),
        ("T+00:07", "Rollback to v41", "2 of 2 machines healthy"),
        ("T+00:08", "Scale to 8 machines", "failed")]


def test_timeline_of_followup_and_postmortem_bookkeeping_is_left_out():
    events = [event(0, "declared", "Declared", severity=1), event(1, "followup", "Follow-up 1: x"),
              event(2, "note", "a note"), event(1500, "postmortem_reminded", "Reminded U1"),
              event(3000, "postmortem_done", "Postmortem published")]
    doc = pm.build(incident(severity=1), events, [], generated_at=T0, due=None, owed=True)
    assert [row.kind for row in doc.timeline] == ["declared", "note"]


@pytest.mark.parametrize("words, now, expected", [
    ("23:50 x", datetime(2026, 11, 25, 0, 10, tzinfo=UTC), datetime(2026, 11, 24, 23, 50, tzinfo=UTC)),
    ("-1d2h x", T0, T0 - timedelta(days=1, hours=2)),
    ("-45s x", T0, T0 - timedelta(seconds=45)),
    ("2026-11-25T13:05Z x", T0, datetime(2026, 11, 25, 13, 5, tzinfo=UTC)),
    ("13:05 GMT x", T0, datetime(2026, 11, 25, 13, 5, tzinfo=UTC)),
])
def test_parse_when(words, now, expected):
    assert parse_when(words.split(), now) == (expected, ["x"])


@pytest.mark.parametrize("words", ["2026-11-25", "-m", "14:60", "2026-02-30 10:00", "in 5m"])
def test_parse_when_refuses_with_examples(words):
    with pytest.raises(UserError) as caught:
        parse_when(words.split(), T0)
    assert any("-20m" in hint for hint in caught.value.hints)
