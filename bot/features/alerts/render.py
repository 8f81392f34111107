"""What an alert looks like in Slack (and the console): the alert message and Fireline's answer in its thread.

Everything that came from the alert goes through `escape()`: an alert titled `<!channel>` is shown,
never pinged.
"""

from __future__ import annotations

from bot.core.clock import fmt_utc
from bot.store.models import Alert
from bot.core.reply import Button, Reply, escape, mention
from playbooks.severity import SEVERITIES, RuleSet, in_words, rule_names

DECLARE = "alert_declare"
DISMISS = "alert_dismiss"
DIAGNOSE = "playbook_diagnose"  # registered by the Fly diagnose playbook; value empty = the whole app

SOURCE_NAMES = {"sentry": "Sentry", "pagerduty": "PagerDuty", "fly": "Fly.io", "grafana": "Grafana",
                "cloudflare": "Cloudflare", "stripe": "Stripe", "resend": "Resend", "expo": "Expo",
                "github": "GitHub", "uptimerobot": "UptimeRobot", "betterstack": "Better Stack",
                "checkly": "Checkly", "alertmanager": "Alertmanager", "prometheus": "Alertmanager",
                "datadog": "Datadog", "honeycomb": "Honeycomb", "webhook": "a webhook", "console": "the console",
                "slack": "Slack"}


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, escape(source))


def seen_line(alert: Alert) -> str:
    if alert.count <= 1:
        seen = f"Seen once, at {fmt_utc(alert.first_seen_at)}"
    else:
        seen = f"Seen {alert.count} times, first {fmt_utc(alert.first_seen_at)}, last {fmt_utc(alert.last_seen_at)}"
    resolved = resolved_line(alert)
    return f"{seen}\n{resolved}" if resolved else seen


def resolved_line(alert: Alert) -> str | None:
    details = alert.details or {}
    if not details.get("resolved_at"):
        return None
    return (f":white_check_mark: Resolved after {details.get('resolved_after', '?')} (the source says so); "
            "a new firing opens a new thread")


def repeat_post(alert: Alert) -> Reply:
    """A repeat of the alert behind an open incident, in the incident's channel (coalesced)."""
    return Reply(f":repeat: *Alert from {source_name(alert.source)}* seen again ({alert.count} times): "
                 f"{escape(alert.title)}").public()


def state_line(alert: Alert) -> str | None:
    if alert.status == "declared" and alert.incident_id:
        return f":white_check_mark: Declared as incident #{alert.incident_id} by {mention(alert.acted_by)}"
    if alert.status == "linked" and alert.incident_id:
        return f":link: Part of open incident #{alert.incident_id}: added to its timeline"
    if alert.status == "dismissed":
        return f":no_entry_sign: Dismissed by {mention(alert.acted_by)}"
    return None


def actions(alert: Alert) -> list[Button]:
    """What a person can do with the alert in its state: the same buttons on the alert and in its thread.

    They sit on the alert itself because the alert is what people see in the channel; the thread has to be
    opened first. A press on either reaches the same handler, which claims the alert once
    (`service._claim`), so two buttons for one action still declare one incident.
    """
    buttons: list[Button] = []
    if alert.status in ("open", "dismissed"):
        buttons.append(Button("Declare incident", DECLARE, str(alert.id), "primary"))
    if alert.status in ("open", "linked", "declared", "declaring"):
        # Empty for a lone alert (diagnose the app); the incident's number once there is one.
        buttons.append(Button("Diagnose", DIAGNOSE, str(alert.incident_id) if alert.incident_id else ""))
    if alert.status == "open":
        buttons.append(Button("Dismiss", DISMISS, str(alert.id)))
    return buttons


def alert_message(alert: Alert) -> Reply:
    """The alert itself, for alerts that arrived by webhook (Fireline posts them in INCIDENTS_CHANNEL)."""
    sev = SEVERITIES[alert.level]
    icon = ":rotating_light:" if alert.level <= 2 else ":warning:" if alert.level == 3 else ":information_source:"
    lines = []
    if alert.text:
        lines.append(escape(alert.text[:500]))
    if alert.link:
        lines.append(f"<{escape(alert.link)}|Open in {source_name(alert.source)}>")
    lines.append(seen_line(alert))
    state = state_line(alert)
    if state:
        lines.append(state)
    return Reply(f"{icon} *Alert from {source_name(alert.source)}*: {escape(alert.title)}  ·  suggested "
                 f"*{sev.label}*", lines=lines, buttons=actions(alert)).public()


def analysis(alert: Alert, rules: RuleSet, sev) -> Reply:
    """Fireline's answer in the alert's thread: the SEV with its reasons, the guide's row, and buttons.

    `sev`: the level as configured (`Settings.severity`, SEV_RESPONSE_MINUTES applied), as the cards print it.
    The reasons are in words; the ids of the rules that decided are in the footer, for whoever tunes them.
    """
    lines = ["*Why:*"] + [f"• {escape(in_words(reason, rules))}" for reason in alert.reasons[:6]]
    row = rules.rows.get(alert.guide_row) if alert.guide_row else None
    if row:
        lines.append(f"*Likely cause:* {escape(row.likely_cause)} (guide, {escape(row.table)}: "
                     f"“{escape(row.symptom)}”)")
        lines.append(f"*Quick fix:* {escape(row.quick_fix)}")
    if alert.playbook:
        lines.append(f"*Suggested playbook:* {alert.playbook}")
    lines += members(alert)
    if not alert.own_root:
        lines.append(seen_line(alert))
    state = state_line(alert)
    if state:
        lines.append(state)
    names = rule_names(alert.reasons[:6])
    footer = (f"Rules: {escape(', '.join(names))} · tune them in SEVERITY_RULES; `fireline classify` explains"
              if names else None)
    return Reply(f":mag: *Suggested {sev.label}* ({sev.description}, {sev.respond})",
                 lines=lines, buttons=actions(alert), footer=footer).public()


def incident_post(alert: Alert) -> Reply:
    """An alert that belongs to an open incident, posted in the incident's channel."""
    lines = [escape(alert.text[:300])] if alert.text else []
    if alert.link:
        lines.append(f"<{escape(alert.link)}|Open in {source_name(alert.source)}>")
    lines.append(seen_line(alert))
    return Reply(f":bell: *Alert from {source_name(alert.source)}* (suggested SEV{alert.level}): "
                 f"{escape(alert.title)}", lines=lines).public()


def members(alert: Alert) -> list[str]:
    """The list of a collapsed group (bot/features/alerts/storm.py), for its thread: one line per alert shown."""
    details = alert.details or {}
    listed = details.get("members") or []
    total = int(details.get("member_count") or len(listed))
    if not listed:
        return []
    lines = [f"*The {total} alerts of this group:*"] + [f"• {escape(str(line))}" for line in listed]
    if total > len(listed):
        lines.append(f"… and {total - len(listed)} more (the sender's own page lists them all)")
    return lines


def digest(alerts: list[Alert], shown: int) -> Reply:
    """The alerts a full channel turned away in a minute, in one message: most severe first, with their numbers."""
    lines = [f"• #{alert.id} SEV{alert.level} {source_name(alert.source)}: {escape(alert.title)}"
             for alert in alerts[:shown]]
    if len(alerts) > shown:
        lines.append(f"… and {len(alerts) - shown} more: `/alert list` shows the latest")
    lines.append("More alerts arrived than a channel can take as threads (about 30 a minute); each is stored, "
                 "and its repeats are counted.")
    buttons = [Button(f"Declare #{alert.id}", DECLARE, str(alert.id)) for alert in alerts[:5] if alert.status == "open"]
    return Reply(f":rotating_light: *{len(alerts)} more alerts* in the last minute", lines=lines,
                 buttons=buttons).public()
