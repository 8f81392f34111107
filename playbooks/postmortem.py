"""The postmortem draft: facts Fireline recorded, arranged for a review, and placeholders for the rest.

Pure: no Slack, no database. `build()` turns an incident, its timeline and its follow-ups into a
`Document` (plain values, already safe for Markdown); `render()` fills a Jinja2 template with it.
Anything Fireline did not record is a `_TODO: ..._` placeholder for a person, never a guess.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import jinja2

from playbooks.framework import PLANNED, read_steps
from playbooks.severity import SEVERITIES, Severity
from playbooks.timefmt import as_utc, fmt_duration

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "templates" / "postmortem.md.j2"
TEMPLATE_NAME = "<postmortem template>"

# The guide: "Post-mortem - Write up what happened within 48 hours"; the lead hears 24 h before.
DUE_AFTER = timedelta(hours=48)
REMIND_BEFORE = timedelta(hours=24)

# Timeline kinds written by playbook runs (restart, rollback, scale, ...): "playbook..." / "execution...".
MITIGATION_PREFIXES = ("playbook", "execution")
# A Confirm refused (not a responder, a forged button, the app busy): a timeline row, not a run.
REFUSED = "playbook_refused"
# Kinds (prefixes) with their own section (follow-ups; workflow runs and steps: Automation, written by
# bot.features.postmortem.service), or the postmortem's own bookkeeping: not timeline rows.
NOT_IN_TIMELINE = ("followup", "postmortem", "workflow")


# -- inputs: anything with these attributes (the store's models, or test doubles) ---------------------
class IncidentLike(Protocol):
    id: int | None
    title: str
    severity: int
    status: str
    declared_by: str
    lead_id: str | None
    channel_name: str | None
    summary: str | None
    severity_reason: str | None
    declared_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    mitigated_at: datetime | None
    resolved_at: datetime | None


class EventLike(Protocol):
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, Any]


class FollowUpLike(Protocol):
    text: str
    owner: str | None
    status: str


# -- outputs: what a template sees ----------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One timeline line. `text` is Markdown-safe for a table cell; `raw` is what was recorded."""

    at: str
    offset: str
    actor: str
    kind: str
    text: str
    raw: str


@dataclass(frozen=True)
class Figure:
    """A response figure: how long it took, the SEV target, and whether it was met."""

    name: str
    took: str
    target: str
    verdict: str  # "met" | "missed" | "no target" | "not recorded"
    note: str = ""


@dataclass(frozen=True)
class Mitigation:
    at: str
    offset: str
    actor: str
    kind: str
    text: str
    result: str
    steps: tuple[str, ...] = ()  # "title: status (summary)" for each step the run reported


@dataclass(frozen=True)
class Person:
    handle: str
    roles: tuple[str, ...]
    events: int


@dataclass(frozen=True)
class FollowUpRow:
    number: int
    text: str
    owner: str
    status: str


@dataclass(frozen=True)
class SeverityChange:
    at: str
    offset: str
    actor: str
    change: str


@dataclass(frozen=True)
class PublicUpdate:
    """What customers read on the status page, and who published it (timeline kind `public_update`)."""

    at: str
    offset: str
    actor: str
    stage: str
    components: str
    text: str


@dataclass(frozen=True)
class Milestone:
    """A point of the impact window; `at` is empty when Fireline did not record it."""

    name: str
    at: str
    offset: str
    note: str = ""


@dataclass
class Document:
    """Everything the template renders. Strings here are Markdown-safe."""

    number: int
    title: str
    status: str
    severity: str  # "SEV2 (Major degradation)"
    peak_severity: str
    peak_level: int
    severity_reason: str
    declared_severity: str
    declared_reason: str
    severity_changes: list[SeverityChange]
    summary: str
    lead: str
    channel: str
    declared_at: str
    declared_by: str
    acknowledged_at: str
    mitigated_at: str
    mitigation_is_resolution: bool
    resolved_at: str
    duration: str
    earliest_event: Row | None
    milestones: list[Milestone]
    timeline: list[Row]
    figures: list[Figure]
    mitigations: list[Mitigation]
    people: list[Person]
    followups: list[FollowUpRow]
    before_declaration: list[Row]
    generated_at: str
    due_at: str
    owed: bool
    extra: dict[str, Any] = field(default_factory=dict)
    public_updates: list[PublicUpdate] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role, who) besides the lead


# -- text -----------------------------------------------------------------------------------------------
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]+)(?:\|([^>]*))?>")
_SLACK_USER = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_SLACK_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]*))?>")
_SLACK_SPECIAL = re.compile(r"<!(?:subteam\^[A-Z0-9]+\|)?@?([a-z_-]+)(?:\|[^>]*)?>", re.IGNORECASE)


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_PIPE = re.compile(r"(\\*)\|")  # a pipe ends a table cell; so would one after an escaped backslash
_NEWLINES = re.compile(r"\s*\r?\n\s*")
_CELL_SPECIAL = re.compile(r"[<|\n\r]")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9]*(?:[-_][a-z0-9]+)*)>")
# Names HTML knows: `<script>` or `<b>` in a cell stays neutralised (&lt;), while a placeholder such as
# `<your-postgres-app>` is written as typed, in a code span so Markdown shows it instead of eating it.
_HTML_TAGS = frozenset(
    "a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption cite code col "
    "colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure footer form h1 "
    "h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd label legend li link main map mark meta meter "
    "nav noscript object ol optgroup option output p param picture pre progress q rp rt ruby s samp script section "
    "select small source span strong style sub summary sup svg table tbody td template textarea tfoot th thead time "
    "title tr track u ul var video wbr math frame frameset applet marquee xmp plaintext".split())


def cell(text: str) -> str:
    """Plain text -> one Markdown table cell / list item: no raw HTML, no column breaks, one line.

    Only a `<` that could open an HTML tag is escaped, so `< 15 min` stays readable as plain text. A
    placeholder (`<your-postgres-app>`) is kept as written in a code span, and so is text already in
    one: the draft showed `Restore &lt;your-postgres-app>`, an entity where people read Markdown.
    """
    if not _CELL_SPECIAL.search(text):  # the common case, and the hot path for long timelines
        return text.strip()
    kept: list[str] = []

    def keep(literal: str) -> str:
        kept.append(_PIPE.sub(lambda m: m.group(1) * 2 + "\\|", literal))
        return f"\x01{len(kept) - 1}\x01"

    if "`" in text:
        text = _CODE_SPAN.sub(lambda m: keep(m.group(0)), text)
    text = _PLACEHOLDER.sub(lambda m: m.group(0) if m.group(1) in _HTML_TAGS else keep(f"`{m.group(0)}`"), text)
    text = _PIPE.sub(lambda m: m.group(1) * 2 + "\\|", _TAG_START.sub("&lt;", text))
    if kept:
        text = re.sub("\x01(\\d+)\x01", lambda m: kept[int(m.group(1))], text)
    return _NEWLINES.sub("<br>", text.strip())


def from_slack(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn (as typed or stored) -> safe Markdown: mentions as @names, links as [label](url).

    `names` (Slack id -> display name): mentions and ids written into older texts become names.
    """
    if names:
        text = _named_ids(text, names)
    if "<" not in text and "&" not in text:
        return cell(text)
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        url, label = match.group(1).replace("&amp;", "&"), match.group(2)
        links.append(f"[{cell(label)}]({url.replace(')', '%29')})" if label else f"<{url}>")
        return f"\x00{len(links) - 1}\x00"

    text = _SLACK_LINK.sub(keep_link, text)
    text = _SLACK_USER.sub(lambda m: "@" + (m.group(2) or (names or {}).get(m.group(1)) or m.group(1)), text)
    text = _SLACK_CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SLACK_SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = cell(text)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)


def _named_ids(text: str, names: Mapping[str, str]) -> str:
    """Bare Slack ids that `names` knows (`Lead U0LEAD -> U0NEW`, as older texts say) -> names."""
    if not any(user in text for user in names):
        return text
    ids = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    pattern = re.compile(r"(?<!<@)(?<!\w)(" + ids + r")\b")  # `<@ID>` mentions are from_slack's to name
    return pattern.sub(lambda m: names[m.group(1)], text)


def people_ids(incident: IncidentLike, events: Iterable[EventLike], followups: Iterable[FollowUpLike]) -> set[str]:
    """Every person the draft may name (actors, lead, owners, mentions): what to look up before `build`."""
    found = {incident.declared_by, incident.lead_id, incident.acknowledged_by}
    texts = [incident.title, incident.summary or ""]
    for event in events:
        found.add(event.actor)
        found.update(str(event.data.get(key)) for key in ("to", "from", "pinned_by") if event.data.get(key))
        texts.append(event.text)
    for item in followups:
        found.add(item.owner)
        texts.append(item.text)
    found.update(m.group(1) for text in texts if "<@" in text for m in _SLACK_USER.finditer(text))
    return {user for user in found if user}


@lru_cache(maxsize=1024)
def handle(user: str | None) -> str:
    """`@U0LEAD`, `@console`; ids are what Fireline has (names would need users.info per person)."""
    return f"@{cell(user)}" if user else "nobody"


def todo(what: str) -> str:
    """The placeholder people fill in. One pattern, so a reviewer can search for `_TODO:`."""
    return f"_TODO: {what}_"


def fmt_time(value: datetime | None) -> str:
    value = as_utc(value)
    return value.isoformat(" ", "seconds")[:19] if value else ""  # isoformat is several times faster


def fmt_minute(value: datetime | None) -> str:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def fmt_offset(seconds: float) -> str:
    """`T+00:05`, `T+26:10`, `T-00:02`: hours and minutes from the declaration."""
    sign = "-" if seconds < 0 else "+"
    minutes = int(abs(seconds)) // 60
    return f"T{sign}{minutes // 60:02d}:{minutes % 60:02d}"


# -- rules ----------------------------------------------------------------------------------------------
def peak_level(incident: IncidentLike, events: Iterable[EventLike], until: datetime | None = None) -> int:
    """The most severe level the incident reached (up to `until`): declared, changed to, or current."""
    levels = []
    for event in events:
        if until is not None and as_utc(event.at) > until:
            break
        if event.kind == "declared" and isinstance(event.data.get("severity"), int):
            levels.append(event.data["severity"])
        elif event.kind == "severity_changed":
            levels += [v for v in (event.data.get("from"), event.data.get("to")) if isinstance(v, int)]
    if until is None or not levels:
        levels.append(incident.severity)
    return min(levels)


def owes_postmortem(level: int, required_up_to: int) -> bool:
    """A postmortem is due (date + reminder) for SEV1..`required_up_to`; others get a draft only."""
    return level <= required_up_to


def due_at(resolved_at: datetime) -> datetime:
    return as_utc(resolved_at) + DUE_AFTER


def remind_at(due: datetime) -> datetime:
    return as_utc(due) - REMIND_BEFORE


def next_business_day_end(moment: datetime) -> datetime:
    """SEV4's target, "next business day": the end (23:59:59 UTC) of the next Monday-Friday day."""
    day = as_utc(moment).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day + timedelta(days=1) - timedelta(seconds=1)


def _figure(name: str, start: datetime, end: datetime | None, level: int | None, missing: str,
            note: str = "", table: Mapping[int, Severity] | None = None) -> Figure:
    if end is None:
        return Figure(name, todo(missing), _target_text(level, table), "not recorded", note)
    took = (as_utc(end) - as_utc(start)).total_seconds()
    if level is None:
        return Figure(name, fmt_duration(took), "none in the SEV table", "no target", note)
    sev = (table or SEVERITIES)[level]
    if sev.response_target is None:
        deadline = next_business_day_end(start)
        met = as_utc(end) <= deadline
        return Figure(name, fmt_duration(took), f"{sev.label}: next business day (by {fmt_minute(deadline)})",
                      "met" if met else "missed", note)
    met = took <= sev.response_target.total_seconds()
    return Figure(name, fmt_duration(took), f"{sev.label}: {sev.response_time}", "met" if met else "missed", note)


def _target_text(level: int | None, table: Mapping[int, Severity] | None = None) -> str:
    if level is None:
        return "none in the SEV table"
    sev = (table or SEVERITIES)[level]
    return f"{sev.label}: {sev.response_time}"


def response_figures(incident: IncidentLike, events: Sequence[EventLike],
                     table: Mapping[int, Severity] | None = None) -> list[Figure]:
    """Time to acknowledge against the guide's response time; mitigate and resolve as measured.

    The guide's SEV table sets one target, the response time, so acknowledging is judged against
    the strictest level in force before the acknowledgement. It sets none for mitigating or
    resolving; those are reported without a verdict rather than against an invented target.
    """
    declared = as_utc(incident.declared_at)
    acked = as_utc(incident.acknowledged_at)
    ack_level = peak_level(incident, events, until=acked) if acked else peak_level(incident, events)
    mitigated, resolved = as_utc(incident.mitigated_at), as_utc(incident.resolved_at)
    same = mitigated is not None and mitigated == resolved
    return [
        _figure("Time to acknowledge", declared, acked, ack_level,
                "nobody acknowledged in Fireline; when did someone start working on it?", table=table),
        _figure("Time to mitigate", declared, mitigated, None, "when did users stop being affected?",
                "taken as the resolve time: nobody set `monitoring` before" if same else ""),
        _figure("Time to resolve", declared, resolved, None, "not resolved yet"),
    ]


def _steps_of(event: EventLike, names: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """A run's per-step results. Steps still only planned (the Confirm's event) are left out: the run's
    finished event lists the same steps with what each did, and the table says each once."""
    out = []
    for step in read_steps(event.data.get("steps"))[:60]:
        if step["status"] == PLANNED:
            continue
        line = f"{step['title']}: {step['status'] or 'no status'}"
        out.append(from_slack(line + (f" ({step['summary']})" if step["summary"] else ""), names))
    return tuple(out)


def _result_of(event: EventLike) -> str:
    for key in ("result", "outcome", "status", "error"):
        value = event.data.get(key)
        if isinstance(value, str | int | float | bool) and str(value) and str(value) not in event.text:
            return from_slack(f"{key}: {value}" if key == "error" else str(value))
    return ""


# -- build ----------------------------------------------------------------------------------------------
def build(incident: IncidentLike, events: Sequence[EventLike], followups: Sequence[FollowUpLike], *,
          generated_at: datetime, due: datetime | None, owed: bool,
          names: Mapping[str, str] | None = None, roles: Sequence[tuple[str, str]] = (),
          table: Mapping[int, Severity] | None = None) -> Document:
    """Arrange what was recorded. `events` in time order (the store's `timeline()` order).

    `names`: how to show each person (`people_ids` says whom to look up); without one, `@<id>`.
    `roles`: (role label, user id) rows besides the commander (the lead), e.g. ("Communications", "U0CHEN").
    A refused Confirm is a timeline row and a role of its own, never a playbook run.
    `table`: the SEV levels with the team's response times (SEV_RESPONSE_MINUTES); without one, the guide's.
    """
    names = {user: name for user, name in (names or {}).items() if name and name != user}

    def who(user: str | None) -> str:
        name = names.get(user or "")
        return cell(name) if name else handle(user)

    def text_of(raw: str) -> str:
        return from_slack(raw, names)
    declared = as_utc(incident.declared_at)
    declared_ts = declared.timestamp()
    rows: list[Row] = []
    mitigations: list[Mitigation] = []
    changes: list[SeverityChange] = []
    people: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    public: list[PublicUpdate] = []

    def role(user: str | None, what: str) -> None:
        if user:
            roles = people.setdefault(user, [])
            if what and what not in roles:
                roles.append(what)

    role(incident.declared_by, "declared")
    role(incident.declared_by, "lead")  # whoever declares leads until someone else takes it
    declared_level, declared_reason = incident.severity, ""
    for event in events:
        at = as_utc(event.at)
        offset = fmt_offset(at.timestamp() - declared_ts)
        when, actor = fmt_time(at), who(event.actor)
        kind = event.kind
        if kind.startswith(NOT_IN_TIMELINE):
            continue
        text = text_of(event.text)
        if kind == "pinned":
            text = f"Pinned message: {text}"
        elif kind == "timeline":
            text = f"{text} _(added later)_"
        rows.append(Row(when, offset, actor, kind, text, event.text))
        if event.actor != "fireline":  # Fireline's own events (pages, timers) are not a person taking part
            counts[event.actor] = counts.get(event.actor, 0) + 1
            role(event.actor, "")
        if kind == "declared":
            declared_level = event.data.get("severity", declared_level)
            declared_reason = text_of(str(event.data.get("reason") or ""))
        elif kind == "severity_changed":
            changes.append(SeverityChange(when, offset, actor, text))
        elif kind == "acknowledged":
            role(event.actor, "acknowledged")
        elif kind == "lead_changed" and event.data.get("to"):
            role(str(event.data["to"]), "lead")
        elif kind == "role_changed" and event.data.get("to"):
            role(str(event.data["to"]), str(event.data.get("label") or event.data.get("role") or "a role"))
        elif kind == "resolved":
            role(event.actor, "resolved")
        elif kind == "pinned":
            role(event.actor, "wrote pinned messages")
            role(event.data.get("pinned_by"), "pinned messages")
        elif kind == REFUSED:  # pressing Confirm without the right to is not running a playbook
            role(event.actor, "had a Confirm refused")
        elif kind == "public_update":
            shown = ", ".join(f"{name}: {str(status).replace('_', ' ')}"
                              for name, status in (event.data.get("components") or {}).items())
            public.append(PublicUpdate(when, offset, actor, str(event.data.get("stage", "")).capitalize(),
                                       cell(shown), cell(str(event.data.get("body") or event.text))))
            role(event.actor, "published status updates")
        elif kind.startswith(MITIGATION_PREFIXES):
            mitigations.append(Mitigation(when, offset, actor, kind, text, _result_of(event), _steps_of(event, names)))
            role(event.actor, "ran playbooks")
    follow_rows = []
    for number, item in enumerate(followups, start=1):
        follow_rows.append(FollowUpRow(number, text_of(item.text),
                                       who(item.owner) if item.owner else todo("owner"), item.status))
        role(item.owner, "owns follow-ups")
    peak = peak_level(incident, events)
    current = SEVERITIES[incident.severity]
    resolved = as_utc(incident.resolved_at)

    def milestone(name: str, value: datetime | None, missing: str, note: str = "") -> Milestone:
        if value is None:
            return Milestone(name, todo(missing), "", note)
        return Milestone(name, fmt_time(value), fmt_offset(as_utc(value).timestamp() - declared_ts), note)

    same = incident.mitigated_at is not None and as_utc(incident.mitigated_at) == resolved
    milestones = [
        Milestone("Impact began", todo("when were users first affected? Fireline knows when it was declared"), ""),
        *([Milestone("Earliest recorded event", rows[0].at, rows[0].offset)] if rows and rows[0].offset.startswith(
            "T-") else []),
        milestone("Declared", declared, ""),
        milestone("Acknowledged", incident.acknowledged_at, "nobody acknowledged in Fireline"),
        milestone("Mitigated", incident.mitigated_at, "when did users stop being affected?",
                  "taken as the resolve time: nobody set `monitoring` before" if same else ""),
        milestone("Resolved", resolved, "not resolved yet"),
    ]
    declared_sev = SEVERITIES.get(declared_level, current)
    return Document(
        number=incident.id or 0,
        title=text_of(incident.title),
        status=incident.status,
        severity=f"{current.label} ({current.description})",
        peak_severity=f"{SEVERITIES[peak].label} ({SEVERITIES[peak].description})",
        peak_level=peak,
        severity_reason=text_of(incident.severity_reason) if incident.severity_reason else "",
        declared_severity=f"{declared_sev.label} ({declared_sev.description})",
        declared_reason=declared_reason,
        severity_changes=changes,
        summary=text_of(incident.summary) if incident.summary else "",
        lead=who(incident.lead_id),
        channel=f"#{cell(incident.channel_name)}" if incident.channel_name else "",
        declared_at=fmt_minute(declared),
        declared_by=who(incident.declared_by),
        acknowledged_at=fmt_minute(incident.acknowledged_at),
        mitigated_at=fmt_minute(incident.mitigated_at),
        mitigation_is_resolution=incident.mitigated_at is not None and
        as_utc(incident.mitigated_at) == resolved,
        resolved_at=fmt_minute(resolved),
        duration=fmt_duration((resolved - declared).total_seconds()) if resolved else "",
        earliest_event=rows[0] if rows and rows[0].offset.startswith("T-") else None,
        milestones=milestones,
        timeline=rows,
        figures=response_figures(incident, events, table),
        mitigations=mitigations,
        people=[Person(who(user), tuple(roles) or ("took part",), counts.get(user, 0))
                for user, roles in people.items()],
        followups=follow_rows,
        before_declaration=[row for row in rows if row.offset.startswith("T-")],
        generated_at=fmt_minute(generated_at),
        due_at=fmt_minute(due) if due else "",
        owed=owed,
        public_updates=public,
        roles=[(cell(label), who(user)) for label, user in roles],
    )


# -- render ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    markdown: str
    warning: str | None  # set when POSTMORTEM_TEMPLATE could not be used and the default was


class TemplateProblem(Exception):
    """POSTMORTEM_TEMPLATE cannot be used; the message says where and why."""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.globals["todo"] = todo
    env.filters["cell"] = lambda value: cell(str(value))
    return env


@lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    """Compiling costs far more than rendering; templates are compiled once per source text."""
    env = _environment()
    code = env.compile(source, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
    return env.template_class.from_code(env, code, env.make_globals(None))


def _line_of(exc: BaseException) -> int | None:
    """The template line an error came from (Jinja maps its frames back to template lines)."""
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return lineno
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def _describe(path: str, exc: BaseException) -> str:
    line = _line_of(exc)
    where = f"{path}, line {line}" if line else path
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"POSTMORTEM_TEMPLATE {where}: {type(exc).__name__}: {message}"


def render_with(source: str, doc: Document, path: str = "template") -> str:
    """Render one template; raises TemplateProblem naming the file, line and error."""
    try:
        template = _compile(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(_describe(path, exc)) from None
    try:
        return template.render(doc=doc, **{name: getattr(doc, name) for name in doc.__dataclass_fields__})
    except Exception as exc:  # a team's template may fail in any way; the default still renders
        raise TemplateProblem(_describe(path, exc)) from None


def load_template(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateProblem(f"POSTMORTEM_TEMPLATE {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise TemplateProblem(f"POSTMORTEM_TEMPLATE {path}: is not UTF-8 text") from None


def render(doc: Document, template_path: str = "") -> Rendered:
    """Render with POSTMORTEM_TEMPLATE when set; if it is broken, say why and use the default."""
    warning = None
    if template_path:
        try:
            return Rendered(render_with(load_template(template_path), doc, template_path), None)
        except TemplateProblem as exc:
            warning = f"{exc}. Used the default template instead."
            log.warning("%s", warning)
    return Rendered(render_with(DEFAULT_TEMPLATE.read_text(encoding="utf-8"), doc, str(DEFAULT_TEMPLATE)), warning)


def sample_document(now: datetime | None = None) -> Document:
    """A small made-up incident, for checking a template before an incident needs it (`fireline check`)."""
    from types import SimpleNamespace

    now = now or datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    incident = SimpleNamespace(id=1, title="Sample", severity=1, status="resolved", declared_by="U1", lead_id="U1",
                               channel_name="inc-1-sample", summary=None, severity_reason="sample",
                               declared_at=now, acknowledged_at=now + timedelta(minutes=5), acknowledged_by="U1",
                               mitigated_at=now + timedelta(minutes=20), resolved_at=now + timedelta(minutes=30))
    events = [SimpleNamespace(at=now, kind="declared", actor="U1", text="Declared", data={"severity": 1}),
              SimpleNamespace(at=now + timedelta(minutes=10), kind="playbook_execution", actor="U1",
                              text="Restart", data={"result": "ok"})]
    followups = [SimpleNamespace(text="Add a check", owner="U1", status="open")]
    return build(incident, events, followups, generated_at=now, due=now + DUE_AFTER, owed=True)
