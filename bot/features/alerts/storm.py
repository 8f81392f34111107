"""A delivery with many alerts becomes one thread with the list, so one sender cannot flood a channel.

Alertmanager sends a whole notification group in one delivery: 10,000 fingerprints arrived in
290 KB. Stored one by one, as separate alerts each with its own thread, that delivery took 181 s to
answer (Alertmanager gives up at 10 s and sends it again) and booked 9,907 thread posts up to 5.5 h
ahead. Past THREADS_PER_DELIVERY firing alerts, the firing ones are one alert instead: keyed by the
group (Alertmanager's `groupKey`, else the set of member keys), classified as its most severe member,
its thread listing the members. Alertmanager resends the group as it changes, so the resend counts as a
repeat on the same thread, and the group's resolution (past the same number of resolved alerts)
resolves it. The request then stores a bounded number of alerts whatever the delivery's size.
"""

from __future__ import annotations

import hashlib

from bot.features.alerts.payloads import IncomingAlert
from bot.features.alerts.sources import key
from playbooks.severity import RuleSet, classify

THREADS_PER_DELIVERY = 10  # more firing alerts than this in one delivery share one thread
MEMBERS_SHOWN = 25  # members listed in the group's thread (the sender's page has them all)
CLASSIFIED = 20  # distinct (title, severity word) pairs classified to find the group's most severe member


def named_group(items: list[IncomingAlert]) -> str | None:
    """The group's key when the sender names the group all these alerts share (Alertmanager's groupKey)."""
    named = items[0].details.get("group_key") if items else None
    if isinstance(named, str) and named and all(item.details.get("group_key") == named for item in items):
        return key(items[0].source, "group", named)  # the key ALERTS_ALERTMANAGER_GROUPS gives the group too
    return None


def group_key(items: list[IncomingAlert]) -> str:
    keys = sorted(item.dedup_key or item.title for item in items)
    return named_group(items) or f"{items[0].source}:group:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]


def most_severe(items: list[IncomingAlert], rules: RuleSet) -> IncomingAlert:
    """The member the classifier rates most severe, among a bounded sample of the distinct kinds.

    Classifying costs ~0.3 ms an alert (3 s for 10,000); a storm repeats a few kinds, so each distinct
    severity word, then distinct titles, up to 2 x CLASSIFIED in all, find the worst without reading them all.
    """
    sample: dict[tuple[str, ...], IncomingAlert] = {}
    for item in items:
        if len(sample) >= CLASSIFIED:
            break
        sample.setdefault(("hint", (item.severity_hint or "").lower()), item)
    for item in items:
        if len(sample) >= 2 * CLASSIFIED:
            break
        sample.setdefault(("title", item.title, (item.severity_hint or "").lower()), item)
    return min(sample.values(), key=lambda item: classify(item.classify_text, item.signals, source=item.source,
                                                           rules=rules).level)


def _group(items: list[IncomingAlert], rules: RuleSet, *, resolved: bool) -> IncomingAlert:
    lead = most_severe(items, rules) if not resolved else items[0]
    others = len({item.title for item in items}) - 1
    what = "resolved" if resolved else "firing, the most severe"
    # the lead's title: the group is classified by its words and its severity
    title = f"{len(items)} alerts {what}: {lead.title}" + (f" (and {others} other titles)" if others else "")
    shown = [item.title[:150] for item in items[:MEMBERS_SHOWN]]
    details = {"group_key": lead.details.get("group_key"), "member_count": len(items), "members": shown,
               "started_at": min((i.details.get("started_at") for i in items if i.details.get("started_at")),
                                 default=None),
               "ended_at": max((i.details.get("ended_at") for i in items if i.details.get("ended_at")), default=None)}
    return IncomingAlert(source=lead.source, title=title, text=lead.text, link=lead.link,
                         severity_hint=lead.severity_hint, dedup_key=group_key(items), signals=lead.signals,
                         details={k: v for k, v in details.items() if v is not None}, delivery_id=lead.delivery_id,
                         resolved=resolved)


def collapse(incoming: list[IncomingAlert], rules: RuleSet, *, open_group: bool = False) -> list[IncomingAlert]:
    """The delivery as Fireline stores it: as sent, or with its firing (and its resolved) alerts as one each.

    `open_group`: the group already has an open thread (it was this large before). Then it stays one
    thread however few of its alerts still fire, and resolves when none does, instead of a shrinking
    group opening a thread per alert beside a group thread that never resolves.
    """
    firing = [item for item in incoming if not item.resolved]
    resolved = [item for item in incoming if item.resolved]
    if firing and (open_group or len(firing) > THREADS_PER_DELIVERY):
        firing = [_group(firing, rules, resolved=False)]
    if resolved and open_group:
        resolved = [] if firing else [_group(resolved, rules, resolved=True)]  # over when none fires
    elif len(resolved) > THREADS_PER_DELIVERY:
        resolved = [_group(resolved, rules, resolved=True)]
    return firing + resolved
