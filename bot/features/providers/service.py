"""Is it them? The providers' public status pages (Statuspage v2 `GET <page>/api/v2/summary.json`).

Read-only and best effort, like Fly's client: a timeout per page (4 s: the pages are CDN-served and answer
in well under a second when healthy; a page slower than that is itself news), pages read in parallel so
/diagnose waits for the slowest one only, and answers kept for a minute so a burst of cards and
diagnoses costs one request per page. A page that cannot be read says so and is never counted as fine.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from bot.core.clock import as_utc, fmt_utc
from bot.core.container import Part
from bot.core.http_pool import shared_transport
from bot.core.reply import escape

log = logging.getLogger(__name__)

TIMEOUT = 4.0
CACHE_FOR = timedelta(minutes=1)
# The providers' status pages: page URL -> (fresh until, report), shared by every request of this app.
REPORTS: Part[dict[str, tuple[datetime, ProviderReport]]] = Part("providers.reports", lambda container: {})
NEAR = timedelta(minutes=60)  # a provider incident this close to ours is worth a look
MAX_BODY = 2_000_000


@dataclass(frozen=True)
class ProviderIncident:
    name: str
    status: str
    impact: str
    started_at: datetime | None
    latest: str  # the latest update's body
    link: str


@dataclass
class ProviderReport:
    name: str
    url: str
    error: str = ""  # set when the page could not be read: then nothing else is known
    indicator: str = ""
    description: str = ""
    degraded: list[tuple[str, str]] = field(default_factory=list)  # (component, status)
    incidents: list[ProviderIncident] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return not self.error

    @property
    def fine(self) -> bool:
        return self.readable and self.indicator == "none" and not self.degraded and not self.incidents


def parse_pages(text: str) -> list[tuple[str, str]]:
    """PROVIDER_STATUS_PAGES: `Name=https://page, Other=https://page2` -> [(name, base URL)]."""
    pages = []
    for item in [i.strip() for i in text.split(",") if i.strip()]:
        name, _, url = item.partition("=")
        pages.append((name.strip(), url.strip().rstrip("/")))
    return pages


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def parse_summary(name: str, url: str, body: object) -> ProviderReport:
    """Statuspage v2 summary.json -> a report; a body of another shape is "could not read", not "fine"."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), dict) \
            or not isinstance(body.get("components", []), list) or not isinstance(body.get("incidents", []), list):
        return ProviderReport(name, url, error="the page did not answer in Statuspage's summary.json shape")
    status = body["status"]
    report = ProviderReport(name, url, indicator=str(status.get("indicator") or "unknown"),
                            description=str(status.get("description") or ""))
    for component in body.get("components") or []:
        if isinstance(component, dict) and component.get("status") not in (None, "operational") \
                and not component.get("group"):
            report.degraded.append((str(component.get("name", "?"))[:80], str(component["status"])))
    for incident in body.get("incidents") or []:
        if not isinstance(incident, dict) or incident.get("status") in ("resolved", "postmortem"):
            continue
        updates = [u for u in incident.get("incident_updates") or [] if isinstance(u, dict)]
        latest = max(updates, key=lambda u: str(u.get("created_at") or ""), default={})
        report.incidents.append(ProviderIncident(
            str(incident.get("name") or "?")[:200], str(incident.get("status") or "?"),
            str(incident.get("impact") or "?"), _time(incident.get("started_at") or incident.get("created_at")),
            " ".join(str(latest.get("body") or "").split())[:300], _link(incident.get("shortlink"), url)))
    return report


def _link(value: object, fallback: str) -> str:
    """A provider's link goes into a Slack link: only a plain http(s) URL, else the page itself."""
    if isinstance(value, str) and re.fullmatch(r"https?://[^\s<>|]{1,300}", value):
        return value
    return fallback


def fetch(name: str, url: str, client: httpx.Client) -> ProviderReport:
    try:
        response = client.get(f"{url}/api/v2/summary.json", headers={"Accept": "application/json"})
    except httpx.TimeoutException:
        return ProviderReport(name, url, error=f"no answer within {TIMEOUT:g} s")
    except httpx.HTTPError as exc:
        return ProviderReport(name, url, error=f"could not connect ({type(exc).__name__})")
    if response.status_code != 200:
        return ProviderReport(name, url, error=f"it answered HTTP {response.status_code}")
    if len(response.content) > MAX_BODY:
        return ProviderReport(name, url, error="its answer was too large")
    try:
        body = response.json()
    except ValueError:
        return ProviderReport(name, url, error="its answer was not JSON")
    return parse_summary(name, url, body)


def read_all(container, *, cached_only: bool = False) -> list[ProviderReport]:
    """Every configured page, from the one-minute cache where fresh; `cached_only` never touches the network."""
    pages = parse_pages(container.settings.provider_status_pages)
    cache = container.parts.get(REPORTS)
    now = container.clock()
    fresh = {url: entry[1] for url, entry in cache.items() if entry[0] > now}
    if cached_only:
        return [fresh[url] for _, url in pages if url in fresh]
    missing = [(name, url) for name, url in pages if url not in fresh]
    if missing:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=True, transport=shared_transport()) as client, \
                ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
            for report in pool.map(lambda page: fetch(page[0], page[1], client), missing):
                cache[report.url] = (now + CACHE_FOR, report)
                fresh[report.url] = report
                if report.error:
                    log.info("provider status page %s: %s", report.name, report.error)
    return [fresh[url] for _, url in pages]


# -- words ----------------------------------------------------------------------------------------------
def words(status: str) -> str:
    return status.replace("_", " ")


def near_start(incident: ProviderIncident, started: datetime | None) -> str:
    if started is None or incident.started_at is None:
        return ""
    delta = as_utc(incident.started_at) - as_utc(started)
    if abs(delta) > NEAR:
        return ""
    minutes = int(abs(delta).total_seconds() // 60)
    when = "at the same time as" if minutes == 0 else f"{minutes} min {'before' if delta < timedelta(0) else 'after'}"
    return f" :point_right: it started {when} this incident"


def report_lines(reports: list[ProviderReport], started: datetime | None = None, *, plain: bool = False) -> list[str]:
    """One line per provider (and one per open provider incident): for /diagnose and the incident channel.

    Slack mrkdwn, the providers' words escaped; `plain=True`: plain text for a playbook's report, which its
    front end escapes once (escaping here as well would show a provider's `<` as `&lt;` in Slack).
    """
    shown = _as_is if plain else escape
    lines = []
    for report in reports:
        name = shown(report.name)
        if report.error:
            lines.append(f":grey_question: *{name}*: could not read its status page ({shown(report.error)}); "
                         f"this is not an all-clear: look at {report.url} yourself")
            continue
        if report.fine:
            lines.append(f":white_check_mark: *{name}*: all operational")
            continue
        degraded = ", ".join(f"{shown(c)} ({words(s)})" for c, s in report.degraded[:6])
        more = f" and {len(report.degraded) - 6} more" if len(report.degraded) > 6 else ""
        lines.append(f":warning: *{name}*: {shown(report.description or report.indicator)}"
                     + (f"; degraded: {degraded}{more}" if degraded else ""))
        for incident in report.incidents[:3]:
            start = f", started {fmt_utc(incident.started_at)}" if incident.started_at else ""
            latest = f": {shown(incident.latest)}" if incident.latest else ""
            link = f" {incident.link}" if plain else f" <{incident.link}|link>"
            lines.append(f"    • {shown(incident.name)} ({incident.status}, {incident.impact} impact{start})"
                         f"{latest}{link}{near_start(incident, started)}")
    return lines


def _as_is(text: str) -> str:
    return text


def card_value(reports: list[ProviderReport]) -> str:
    parts = []
    for report in reports:
        if report.error:
            parts.append(f"{escape(report.name)}: could not read")
        elif report.fine:
            parts.append(f"{escape(report.name)}: all operational")
        else:
            parts.append(f"{escape(report.name)}: {escape(report.description or report.indicator)}"
                         + (f" ({len(report.incidents)} open incident{'s' if len(report.incidents) != 1 else ''})"
                            if report.incidents else ""))
    return " · ".join(parts)
