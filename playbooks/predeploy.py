"""The guide's "Checklist: Pre-Deploy" as a decision: each of its seven items, marked from what Fireline can see,
or left for a person to tick.

Four items Fireline can read for itself, so a person is not asked to vouch for what a machine knows: who is on
call now (PagerDuty) and whether they were told; the image to roll back to (Fly's releases); whether Sentry and
the deploy watch are set up; the CI run's page when the team gave its address. Three only a person can answer
(the code was reviewed, the migrations are backward-compatible, no secrets are in the code), so they stay open
until someone ticks them, by name. A seen item that is not fine (nobody on call known, no earlier image) can be
ticked by a person too: the tick says who took it on, and the line keeps what Fireline saw.

Plain data in, plain words out: nothing here imports `bot/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEEN_OK, SEEN_MISSING, OPEN, TICKED = "ok", "missing", "open", "ticked"

# The guide's "Safe Migration Strategy", shortened: what "backward-compatible" means for this team.
SAFE_MIGRATION = ("the guide's Safe Migration Strategy: add new columns nullable, deploy the code that uses them, "
                  "add constraints only after backfilling")


@dataclass(frozen=True)
class Item:
    key: str
    text: str  # as the guide words it
    seen: bool  # Fireline can tell by itself


ITEMS: tuple[Item, ...] = (
    Item("ci", "All tests pass in CI", False),
    Item("reviewed", "Code reviewed and approved", False),
    Item("migrations", "Migrations are backward-compatible", False),
    Item("secrets", "No secrets in code", False),
    Item("monitoring", "Monitoring dashboards ready", True),
    Item("rollback", "Rollback plan clear", True),
    Item("oncall", "On-call person aware (for major changes)", True),
)
KEYS = tuple(item.key for item in ITEMS)


@dataclass(frozen=True)
class Facts:
    """What Fireline read when the checklist was shown or refreshed."""

    app: str = ""
    image: str = ""  # the image about to go out ("" when not given yet)
    oncall: tuple[str, ...] = ()  # names on call at level 1 now
    oncall_known: bool = False  # PagerDuty is configured and was read
    told: str = ""  # "Chen, 19:02 UTC by Ana": on call was told through Fireline
    previous_release: str = ""  # "v41"
    previous_image: str = ""  # what `/rollback` would go back to
    releases_error: str = ""  # why Fly's releases could not be read
    sentry_ready: bool = False
    health_url: str = ""
    deploy_watch_auto: bool = False
    ci_url: str = ""  # the CI run's page for this image, when DEPLOY_CI_URL is set
    guide_url: str = ""  # the guide's safe-migration section, when DEPLOY_GUIDE_URL is set

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Facts:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        if "oncall" in known:
            known["oncall"] = tuple(known["oncall"] or ())
        return cls(**known)


@dataclass(frozen=True)
class Mark:
    """One item as shown: its state and the evidence or what to do."""

    item: Item
    state: str  # ok | missing | open | ticked
    said: str  # what Fireline saw, or what the person should check
    ticked_by: str = ""  # "Ana at 19:04 UTC"
    links: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.state in (SEEN_OK, TICKED)

    @property
    def tickable(self) -> bool:
        return not self.done


@dataclass
class Checklist:
    marks: list[Mark] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(1 for m in self.marks if m.done)

    @property
    def open_items(self) -> list[Mark]:
        return [m for m in self.marks if not m.done]

    def summary(self) -> str:
        """`5 of 7 done; open: Code reviewed and approved, No secrets in code`."""
        left = self.open_items
        head = f"{self.done} of {len(self.marks)} done"
        return head + ("; open: " + ", ".join(m.item.text for m in left) if left else ": ready to deploy")

    def lines(self) -> list[str]:
        """One plain line per item, for the timeline and the postmortem."""
        out = []
        for mark in self.marks:
            box = "[x]" if mark.done else "[ ]"
            who = f" (ticked by {mark.ticked_by})" if mark.state == TICKED else ""
            out.append(f"{box} {mark.item.text}: {mark.said}{who}")
        return out


def _seen(item: Item, facts: Facts) -> tuple[str, str, tuple[str, ...]]:
    if item.key == "monitoring":
        watch = (f"the deploy watch probes {facts.health_url}" if facts.health_url
                 else "HEALTH_URL is not set, so the deploy watch cannot probe the app")
        sentry = "Sentry's error counts are readable" if facts.sentry_ready else \
            "Sentry is not readable (set SENTRY_API_TOKEN, SENTRY_ORG, SENTRY_PROJECT)"
        auto = "; DEPLOY_WATCH starts it by itself" if facts.deploy_watch_auto else \
            "; start it with `/deploy watch` (or set DEPLOY_WATCH=true)"
        ok = facts.sentry_ready and bool(facts.health_url)
        return (SEEN_OK if ok else SEEN_MISSING), f"{sentry}; {watch}{auto if ok else ''}", ()
    if item.key == "rollback":
        if facts.previous_image:
            label = f"{facts.previous_release} " if facts.previous_release else ""
            command = f"/rollback {facts.previous_release}" if facts.previous_release else \
                f"/rollback {facts.previous_image}"
            return SEEN_OK, f"back to {label}`{facts.previous_image}` with `{command}`", ()
        why = f"Fly's releases could not be read ({facts.releases_error})" if facts.releases_error else \
            "Fly lists no earlier release with an image"
        return SEEN_MISSING, f"{why}: note the image to go back to before deploying", ()
    if item.key == "oncall":
        if not facts.oncall_known:
            return SEEN_MISSING, "PagerDuty is not configured, so Fireline cannot say who is on call", ()
        if not facts.oncall:
            return SEEN_MISSING, "nobody is on call at level 1 right now (check the schedule in PagerDuty)", ()
        names = ", ".join(facts.oncall)
        if facts.told:
            return SEEN_OK, f"{names} on call now; told: {facts.told}", ()
        return SEEN_MISSING, f"{names} on call now, not told yet (press Tell on-call)", ()
    raise KeyError(item.key)


def _open(item: Item, facts: Facts) -> tuple[str, tuple[str, ...]]:
    if item.key == "ci":
        if facts.ci_url:
            return "look at the CI run, then tick", (facts.ci_url,)
        return "check CI, then tick (DEPLOY_CI_URL links the run here)", ()
    if item.key == "migrations":
        links = (facts.guide_url,) if facts.guide_url else ()
        return f"check against {SAFE_MIGRATION}", links
    if item.key == "reviewed":
        return "the change was reviewed and approved", ()
    if item.key == "secrets":
        return "no tokens, keys or passwords in the diff (secrets go in `fly secrets set`)", ()
    raise KeyError(item.key)


def assess(facts: Facts, ticks: dict[str, dict[str, str]] | None = None) -> Checklist:
    """The seven items from what was seen and who ticked what (`ticks[key] = {"by": name, "at": "19:04 UTC"}`)."""
    ticks = ticks or {}
    marks = []
    for item in ITEMS:
        tick = ticks.get(item.key)
        by = f"{tick.get('by', 'someone')} at {tick.get('at', '?')}" if tick else ""
        if item.seen:
            state, said, links = _seen(item, facts)
            if state != SEEN_OK and tick:
                state = TICKED
        else:
            said, links = _open(item, facts)
            state = TICKED if tick else OPEN
        marks.append(Mark(item, state, said, by if state == TICKED else "", links))
    return Checklist(marks)


def item_named(key: str) -> Item | None:
    return next((item for item in ITEMS if item.key == key), None)


__all__ = ["ITEMS", "KEYS", "OPEN", "SAFE_MIGRATION", "SEEN_MISSING", "SEEN_OK", "TICKED", "Checklist", "Facts",
           "Item", "Mark", "assess", "item_named"]
