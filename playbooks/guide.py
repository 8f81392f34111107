"""The deployment guide's tables, as data: common incidents, when to scale what, and the checks order.

Diagnose and `/scale advice` read these; change a row here and both follow. Each row carries
patterns that recognise it in an incident title or a symptom someone typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    symptom: str
    cause: str  # "Likely cause" (common incidents) or empty (scaling table)
    fix: str  # "Quick fix" / "Solution", as the guide words it
    pattern: str  # recognises the row in free text
    command: str = ""  # the Fireline command that does it, when one does
    key: str = ""

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE) is not None

    def line(self) -> str:
        cause = f" -> likely {self.cause}" if self.cause else ""
        return f"{self.symptom}{cause} -> {self.fix}"


COMMON_INCIDENTS: tuple[Row, ...] = (
    Row("502 errors", "App crashed", "`fly machines restart`",
        r"\b50[23]\b|bad gateway|crash|down\b|unreachable|outage", "/restart", "502"),
    Row("Very slow", "Database overloaded", "Check slow queries, add replicas",
        r"\bslow|latenc|timeouts?\b|sluggish", "", "slow"),
    Row("WebSocket fails", "Too many connections", "Scale up machines",
        r"websocket|too many connections|connection(s)? (drop|refused|limit)", "/scale count <N>", "websocket"),
    Row("Can't login", "Auth service down", "Check Guardian config, secrets",
        r"(can'?t|cannot|unable to) (log ?in|sign ?in)|\blog ?in\b.{0,20}(broken|fail|down)|\bauth", "", "login"),
    Row("No emails", "Resend API issue", "Check Resend dashboard",
        r"\bno e-?mails?\b|e-?mails?.{0,20}(not|fail|missing)|\bresend\b", "", "email"),
)

WHEN_TO_SCALE: tuple[Row, ...] = (
    Row("High CPU across nodes", "", "Add more machines", r"\bcpu\b|overload|load", "/scale count <N>", "cpu"),
    Row("High memory on single node", "", "Increase RAM or add machines",
        r"\bmemory\b|\bram\b|\boom\b|out of memory", "/scale memory <MB>", "memory"),
    Row("Database connection exhausted", "", "Add PgBouncer, increase pool",
        r"connection.{0,20}(exhaust|pool|limit)|too many clients|pool", "", "db-connections"),
    Row("Slow database queries", "", "Add read replica, optimize queries",
        r"slow (database|db|quer)|quer(y|ies).{0,20}slow", "", "slow-queries"),
    Row("Redis memory full", "", "Increase Redis size or add cluster", r"\bredis\b", "", "redis"),
)

# The guide's SEV1 investigation order, as diagnose reports its "next" checks.
INVESTIGATION_ORDER = (
    "Fly.io status page: https://status.flyio.net (is it them?)",
    "`fly status -a {app}`: are machines running?",
    "`fly logs -a {app}`: any crash loops?",
    "Cloudflare dashboard: DNS/CDN issues?",
    "Database: `fly postgres connect -a {db_app}`: is it reachable?",
)


def common_incident(key: str) -> Row:
    return next(row for row in COMMON_INCIDENTS if row.key == key)


def match(text: str, rows: tuple[Row, ...]) -> list[Row]:
    return [row for row in rows if text and row.matches(text)]
