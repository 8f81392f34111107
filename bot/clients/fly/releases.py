"""Where releases come from: Fly's GraphQL API (`FLY_GRAPHQL_URL`), the one `fly releases` reads.

Why GraphQL rather than machine versions: the rollback plan must show each release's number,
image, age and author, and only the GraphQL `releasesUnprocessed` field has the number and the
author; machine versions only know configs. When GraphQL fails (it is not part of the Machines
API spec and Fly may change it), `ReleaseHistory` falls back to one machine's version history
(images and ages, no numbers or authors) and says so, rather than leaving on-call without a
rollback target at 3 a.m.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from bot.clients.fly.client import FlyClient
from bot.clients.fly.http import FlyError, RetryingHttp
from bot.clients.fly.models import Release, parse_time

log = logging.getLogger(__name__)

RELEASES_QUERY = """
query ($appName: String!, $limit: Int!) {
  app(name: $appName) {
    releases: releasesUnprocessed(first: $limit) {
      nodes { id version description reason status imageRef stable createdAt user { email name } }
    }
  }
}
""".strip()


class FlyGraphQL:
    """The slice of Fly's GraphQL API Fireline uses: an app's recent releases."""

    def __init__(self, url: str, token: SecretStr | None, *, timeout: float = 15.0, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        self.http = RetryingHttp(url, token, service="Fly GraphQL API", timeout=timeout, retries=retries, sleep=sleep,
                                 transport=transport)

    @property
    def journal(self):
        return self.http.journal

    def close(self) -> None:
        self.http.close()

    def releases(self, app: str, limit: int = 10) -> list[Release]:
        """Newest first."""
        response = self.http.send("POST", self.http.base_url, what=f"list the releases of {app}",
                                  json={"query": RELEASES_QUERY, "variables": {"appName": app, "limit": limit}})
        try:
            body = response.json()
        except ValueError:
            raise FlyError(f"Could not list the releases of {app}: Fly's GraphQL API answered something that is "
                           "not JSON.") from None
        if body.get("errors"):
            said = "; ".join(str(e.get("message", e)) for e in body["errors"])[:300]
            raise FlyError(f"Could not list the releases of {app}: Fly's GraphQL API said: {said}. "
                           "Check FLY_APP and that FLY_API_TOKEN may read the app.", fly_message=said)
        app_data = (body.get("data") or {}).get("app") or {}
        nodes = ((app_data.get("releases") or {}).get("nodes")) or []
        releases = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            user = node.get("user") if isinstance(node.get("user"), dict) else {}
            version = str(node.get("version")) if isinstance(node.get("version"), int | str) else ""
            releases.append(Release(version=int(version) if re.fullmatch(r"[0-9]{1,9}", version) else None,
                                    image=str(node.get("imageRef") or ""),
                                    created_at=parse_time(node.get("createdAt")),
                                    author=str(user.get("email") or user.get("name") or ""),
                                    status=str(node.get("status") or ""),
                                    description=str(node.get("description") or node.get("reason") or ""),
                                    ref=str(node.get("id") or "")))
        releases.sort(key=lambda r: (r.version or 0), reverse=True)
        return releases


def releases_from_versions(fly: FlyClient, machine_id: str, limit: int = 10) -> list[Release]:
    """One machine's config history as releases: each time its image changed, newest first."""
    releases: list[Release] = []
    for version in fly.versions(machine_id):
        if not version.image:
            continue
        if releases and releases[-1].image == version.image:
            releases[-1] = Release(None, version.image, version.created_at, ref=version.version)  # older, same image
            continue
        releases.append(Release(None, version.image, version.created_at, ref=version.version))
        if len(releases) >= limit:
            break
    return releases


class ReleaseHistory:
    """Releases for the playbooks: GraphQL first, machine versions when GraphQL fails."""

    def __init__(self, graphql: FlyGraphQL | None, fly: FlyClient) -> None:
        self.graphql = graphql
        self.fly = fly
        self.note = ""

    def recent(self, app: str, limit: int = 10, machine_id: str | None = None) -> list[Release]:
        self.note = ""
        if self.graphql is not None:
            try:
                return self.graphql.releases(app, limit)
            except FlyError as exc:
                log.warning("releases from GraphQL failed, using machine versions: %s", exc)
                self.note = f"Fly's GraphQL API failed ({exc.fly_message or 'no answer'}), so releases come from "
        if not machine_id:
            self.note = (self.note or "") + "no machine to read versions from"
            return []
        self.note = (self.note or "Releases come from ") + (f"machine {machine_id[:14]}'s version history "
                                                             "(no release numbers or authors)")
        return releases_from_versions(self.fly, machine_id, limit)
