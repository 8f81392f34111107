"""People's display names from Slack (`users.info`), cached: the one place every feature asks.

Why: a first-time user saw `@U0ONCALL` in the postmortem draft and `U0LEAD:` in PagerDuty notes,
because ids were all Fireline had. A name changes rarely, so each is kept for an hour
(`TTL_SECONDS`): one users.info call per person per hour, far below Slack's Tier 4 limit (100+ a
minute) even when a draft names a dozen people. A failed lookup is remembered for a minute only,
so an outage of Slack neither slows every draft nor hides names for long. The cache is per process
and keyed by the Web API's base URL as well as the id, so two workspaces (or tests) never mix.

Only Slack ids (`U...`, `W...`) are looked up; anything else (`console`, `fireline`,
`pagerduty:<agent>`) is not a Slack user, and `bot.core.chat.person` words it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

TTL_SECONDS = 3600.0
FAILED_TTL_SECONDS = 60.0
MAX_PEOPLE = 5000
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


class NameCache:
    """A small LRU map with expiry: key -> (expires at, name or None). People's names here; the Slack chat's
    channel names too (bot.adapters.slack.slack_chat, kept without expiry: `ttl=math.inf`)."""

    def __init__(self, ttl: float = TTL_SECONDS, max_size: int = MAX_PEOPLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_size, self.clock = ttl, max_size, clock
        self._items: OrderedDict[Hashable, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> tuple[bool, str | None]:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= self.clock():
                return False, None
            self._items.move_to_end(key)
            return True, item[1]

    def put(self, key: Hashable, name: str | None, ttl: float | None = None) -> None:
        with self._lock:
            self._items[key] = (self.clock() + (self.ttl if ttl is None else ttl), name)
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = NameCache()


def display_name(client: WebClient, user_id: str, cache: NameCache = CACHE) -> str | None:
    """The name Slack shows for `user_id` (display name, else real name), or None when unknown."""
    if not SLACK_USER_ID.fullmatch(user_id or "") or not client.token:  # no token: Slack would only refuse
        return None
    key = (str(client.base_url), user_id)
    known, name = cache.get(key)
    if known:
        return name
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except (SlackApiError, OSError, TimeoutError) as exc:
        log.info("users.info for a name failed (%s); showing the id for now", type(exc).__name__)
        cache.put(key, None, FAILED_TTL_SECONDS)
        return None
    profile = user.get("profile") or {}
    found = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    name = str(found).strip()[:80] or None if found else None
    cache.put(key, name)
    return name


def forget_all() -> None:
    """Empty the process's cache (tests: each recorder may reuse a port another one had)."""
    CACHE.clear()
