"""The public routes: Fireline's status page, its Atom feed and Statuspage-shaped JSON. No sign-in.

Everything here renders `playbooks.statuspage.Page`, built from what a person published; nothing in this
module reads an incident, a timeline or a person. Responses carry an ETag and a short Cache-Control
(30 s: a CDN and browsers absorb a crowd refreshing during an outage, and a new update shows within
half a minute), and answer 304 to a matching If-None-Match.

Each answer is rendered once and kept (`Rendered`), keyed by what it shows and never by the query
string: 1,500 requests with a fresh `?x=` each rendered the page 1,500 times on the event loop and held
a Slack ack for 5.8 s. A request now costs a one-row fingerprint of what is published (in the page
threads, bot/adapters/web/pool.py), and the page is rendered again only when that changes.

Because those answers are cached publicly, nothing in them comes from the request: links use the configured
origin (STATUS_PAGE_URL, else WEB_BASE_URL), and without one they are relative (the feed's ids a `urn:`),
never the Host header, which anyone can set and a shared cache would then serve to everybody. Every answer
carries SECURITY_HEADERS: no scripts, no framing, no MIME sniffing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.adapters.web import pool
from bot.core.container import Part
from bot.core.hooks import Hooks
from bot.core.registry import Registry
from bot.features.status import service as status_service
from bot.service.reads import public_fingerprint
from bot.store.db import session_scope
from playbooks import statuspage as sp

TEMPLATES = Path(__file__).resolve().parent / "templates"
CACHE_CONTROL = "public, max-age=30"
# The page has no script, form, frame or outside resource; one inline <style>.
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "strict-origin-when-cross-origin"}
FEED_LIMIT = 50


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda value: value.strftime("%b %-d, %H:%M UTC") if value else ""
    env.filters["day"] = lambda value: value.strftime("%b %-d")
    env.globals.update(STATUS_WORDS=sp.STATUS_WORDS, STAGE_WORDS=sp.STAGE_WORDS)
    return env


_ENV = environment()


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z") if value else None


def short_id(*parts: str) -> str:
    """Stable Statuspage-style ids for things Fireline names by text (the page, components)."""
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:12]


# -- Statuspage v2 JSON -------------------------------------------------------------------------------
def page_json(settings, page: sp.Page, base_url: str) -> dict:
    return {"id": short_id("page", settings.status_page_name), "name": settings.status_page_name,
            "url": base_url.rstrip("/") or "/", "time_zone": "Etc/UTC", "updated_at": iso(page.updated_at or page.now)}


def component_json(settings, component: sp.Component, position: int) -> dict:
    page_id = short_id("page", settings.status_page_name)
    return {"id": short_id("component", component.name), "name": component.name, "status": component.status,
            "created_at": None, "updated_at": iso(component.updated_at), "position": position,
            "description": None, "showcase": True, "start_date": None, "group_id": None, "page_id": page_id,
            "group": False, "only_show_if_degraded": False}


def incident_json(settings, incident: sp.PublicIncident, base_url: str) -> dict:
    page_id = short_id("page", settings.status_page_name)
    updates = []
    for update in incident.updates:
        updates.append({
            "id": update.key, "status": update.stage, "body": update.body, "incident_id": incident.public_id,
            "created_at": iso(update.at), "updated_at": iso(update.at), "display_at": iso(update.at),
            "affected_components": [{"code": short_id("component", name), "name": name, "old_status": None,
                                     "new_status": status} for name, status in update.components.items()],
            "deliver_notifications": True, "custom_tweet": None, "tweet_id": None})
    return {"id": incident.public_id, "name": incident.title, "status": incident.stage,
            "created_at": iso(incident.started_at), "updated_at": iso(incident.updated_at),
            "monitoring_at": iso(incident.monitoring_at), "resolved_at": iso(incident.resolved_at),
            "impact": incident.impact, "shortlink": f"{base_url.rstrip('/')}/#incident-{incident.public_id}",
            "started_at": iso(incident.started_at), "page_id": page_id, "incident_updates": updates,
            "components": [{"id": short_id("component", name), "name": name, "status": status}
                           for name, status in incident.components.items()]}


def maintenance_json(settings, row, status: str) -> dict:
    return {"id": row.public_id, "name": row.title, "status": status, "impact": "maintenance",
            "scheduled_for": iso(sp._utc(row.starts_at)), "scheduled_until": iso(sp._utc(row.ends_at)),
            "page_id": short_id("page", settings.status_page_name),
            "incident_updates": [{"id": row.public_id, "status": status, "body": row.body}] if row.body else [],
            "components": [{"id": short_id("component", n), "name": n, "status": "under_maintenance"}
                           for n in row.components]}


def summary(settings, page: sp.Page, base_url: str) -> dict:
    return {"page": page_json(settings, page, base_url),
            "components": [component_json(settings, c, i) for i, c in enumerate(page.components, start=1)],
            "incidents": [incident_json(settings, i, base_url) for i in page.open_incidents],
            "scheduled_maintenances": [maintenance_json(settings, m, "in_progress") for m in page.maintenance_active]
            + [maintenance_json(settings, m, "scheduled") for m in page.maintenance_upcoming],
            "status": {"indicator": page.indicator, "description": page.description}}


def status(settings, page: sp.Page, base_url: str) -> dict:
    return {"page": page_json(settings, page, base_url),
            "status": {"indicator": page.indicator, "description": page.description}}


def incidents(settings, page: sp.Page, base_url: str) -> dict:
    return {"page": page_json(settings, page, base_url),
            "incidents": [incident_json(settings, i, base_url) for i in page.recent_incidents[:FEED_LIMIT]]}


# -- HTML and Atom ---------------------------------------------------------------------------------------
def html(settings, page: sp.Page, base_url: str) -> str:
    return _ENV.get_template("status.html.j2").render(page=page, name=settings.status_page_name,
                                                      base_url=base_url.rstrip("/"))


def atom(settings, page: sp.Page, base_url: str) -> str:
    base = base_url.rstrip("/")
    entries = sorted(((i, u) for i in page.recent_incidents for u in i.updates), key=lambda p: p[1].at,
                     reverse=True)[:FEED_LIMIT]
    ids = base or f"urn:fireline:status:{short_id('page', settings.status_page_name)}"  # Atom ids are absolute
    parts = ['<?xml version="1.0" encoding="utf-8"?>',
             '<feed xmlns="http://www.w3.org/2005/Atom">',
             f"<title>{xml_escape(settings.status_page_name)}</title>",
             f'<link href="{xml_escape(base)}/" rel="alternate"/>',
             f'<link href="{xml_escape(base)}/history.atom" rel="self"/>',
             f"<id>{xml_escape(ids)}/history.atom</id>",
             f"<updated>{iso(page.updated_at or page.now)}</updated>"]
    for incident, update in entries:
        parts += ["<entry>",
                  f"<title>{xml_escape(incident.title)}: {sp.STAGE_WORDS[update.stage]}</title>",
                  f'<link href="{xml_escape(base)}/#incident-{incident.public_id}" rel="alternate"/>',
                  f"<id>{xml_escape(ids)}/incidents/{incident.public_id}/{update.key}</id>",
                  f"<updated>{iso(update.at)}</updated>",
                  f"<author><name>{xml_escape(settings.status_page_name)}</name></author>",
                  f'<content type="text">{xml_escape(update.body)}</content>',
                  "</entry>"]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


RENDERERS = {
    "html": (html, "text/html; charset=utf-8"),
    "atom": (atom, "application/atom+xml; charset=utf-8"),
    "summary": (lambda s, p, b: json.dumps(summary(s, p, b)), "application/json"),
    "status": (lambda s, p, b: json.dumps(status(s, p, b)), "application/json"),
    "incidents": (lambda s, p, b: json.dumps(incidents(s, p, b)), "application/json"),
}


def base_url(settings) -> str:
    """The configured public origin, or "" (relative links): never the request's Host (see the module's doc)."""
    return (settings.status_page_url or settings.web_base_url).rstrip("/")


def answer(request: Request, body: bytes, etag: str, media_type: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding", **SECURITY_HEADERS}
    wanted = [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def fingerprint(container) -> tuple:
    """What the public answers depend on, in one cheap query: the published updates, the maintenance rows
    and the minute (maintenance starts and ends, and history days pass, with time alone)."""
    with session_scope(container.engine) as session:
        stored = public_fingerprint(session)
    minute = int(container.clock().timestamp() // 60)
    return (*(str(value) for value in stored), minute)


class Rendered:
    """The public answers as last rendered, one per kind: nothing of the request (query string, Host) is in the key,
    as nothing of it is in the answer (links come from `base_url(settings)`).

    Checked against `fingerprint` on each request, so a published update shows on the next request on
    every replica; kept at most MAX_AGE seconds whatever the fingerprint says. One render at a time: a
    crowd arriving at a stale entry renders it once.
    """

    MAX_AGE = 60.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple, float, bytes, str]] = {}
        self._lock = threading.Lock()
        self.renders = 0  # how many times a page was rendered (tests and the bench read it)

    def get(self, container, kind: str) -> tuple[bytes, str]:
        """The body and its ETag; runs in a page thread (a database read, and a render when stale)."""
        version = fingerprint(container)
        with self._lock:
            found = self._entries.get(kind)
            if found is not None and found[0] == version and time.monotonic() - found[1] < self.MAX_AGE:
                return found[2], found[3]
            render, _media_type = RENDERERS[kind]
            body = render(container.settings, status_service.page_state(container), base_url(container.settings)).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self._entries[kind] = (version, time.monotonic(), body, etag)
            self.renders += 1
            return body, etag


# The app's cache of public answers: one per container, since each app has its own database.
RENDERED: Part[Rendered] = Part("web.public_pages", lambda container: Rendered())


def rendered(container) -> Rendered:
    return container.parts.get(RENDERED)


def endpoint(kind: str):
    _render, media_type = RENDERERS[kind]

    async def serve(request: Request) -> Response:
        container = request.app.state.container
        body, etag = await pool.run(rendered(container).get, container, kind)
        return answer(request, body, etag, media_type)

    serve.__name__ = f"public_{kind}"
    return serve


def routes(container=None, worker=None) -> list[Route]:
    return [Route("/", endpoint("html"), methods=["GET", "HEAD"]),
            Route("/status", endpoint("html"), methods=["GET", "HEAD"]),
            Route("/history.atom", endpoint("atom"), methods=["GET", "HEAD"]),
            Route("/api/v2/summary.json", endpoint("summary"), methods=["GET", "HEAD"]),
            Route("/api/v2/status.json", endpoint("status"), methods=["GET", "HEAD"]),
            Route("/api/v2/incidents.json", endpoint("incidents"), methods=["GET", "HEAD"])]


def register(registry: Registry) -> None:
    """The public page's routes on `fireline serve` (the status feature drafts and publishes; this serves)."""
    registry.on(Hooks.HTTP_ROUTES)(routes)
