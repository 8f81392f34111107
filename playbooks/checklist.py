"""The guide's SEV1 playbook as a checklist: each step can be ticked, each tick is a timeline event.

A step reads `*Phase*: text` in at most 75 characters, the most Slack shows in a checkbox option.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    key: str
    phase: str
    text: str


SEV1_PLAYBOOK: tuple[Step, ...] = (
    Step("acknowledge", "Acknowledge", "Post in #incidents Slack channel"),
    Step("fly-status-page", "Investigate", "Fly.io status page (is it them?)"),
    Step("fly-status", "Investigate", "`fly status`: are machines running?"),
    Step("fly-logs", "Investigate", "`fly logs`: any crash loops?"),
    Step("cloudflare", "Investigate", "Cloudflare dashboard: DNS/CDN issues?"),
    Step("database", "Investigate", "Database: `fly postgres connect`, is it reachable?"),
    Step("mitigate", "Mitigate", "Quick fixes: restart machines, roll back a deploy, scale up"),
    Step("communicate", "Communicate", "Update status page, tweet, Slack"),
    Step("resolve", "Resolve", "Fix the root cause"),
    Step("postmortem", "Post-mortem", "Write up what happened within 48 hours"),
)


def step_by_number(number: int) -> Step | None:
    return SEV1_PLAYBOOK[number - 1] if 1 <= number <= len(SEV1_PLAYBOOK) else None
