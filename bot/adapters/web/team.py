"""The team's routes under /team/: sign-in, incidents, one incident, postmortems, insights, workflows. Signed in
only.

Kept apart from bot/adapters/web/public.py (the status page) so a reviewer sees at a glance what is public:
nothing here answers without a session from bot/adapters/web/auth.py except the sign-in pages themselves.
Every answer is `Cache-Control: no-store` (a shared computer's back button shows nothing) with a strict
Content-Security-Policy (no scripts at all: the pages have none) and `Referrer-Policy: no-referrer`
(a one-time link's token never leaves in a Referer). Routes parse and check; bot/adapters/web/team_views.py
reads; bot/features/insights/feature.py computes; templates only show. A page that fails is the site's own
error page (`styled`): what happened and what to do, in the layout, never a traceback; an address under /team/
that is no page is the same page's 404.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.features.insights import feature as insights
from bot.core.chat import person
from bot.core.grammar import Args
from bot.core.registry import Registry
from bot.core.context import Context
from bot.core.hooks import Hooks
from bot.core.reply import Reply
from bot.adapters.web import auth, insights_view, pool, team_views
from bot.core import metrics
from bot.core.container import Mode

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                      "form-action 'self' https://slack.com; frame-ancestors 'none'; base-uri 'none'"}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    env.filters["short"] = lambda value: value.strftime("%b %-d %H:%M") if value else ""
    env.filters["day"] = lambda value: value.strftime("%-d %b %Y, %H:%M") if value else ""
    env.filters["moment"] = moment
    env.filters["linkify"] = team_views.linkify
    return env


def moment(value: datetime | None, today: date) -> str:
    """A time in a timeline: the hour alone today, the date and year with it any other day (a reader of an
    old incident, or of one that ran past midnight, must not guess the day)."""
    if value is None:
        return ""
    return value.strftime("%H:%M") if value.date() == today else value.strftime("%-d %b %Y, %H:%M")


_ENV = _environment()


def base_url(request: Request) -> str:
    settings = request.app.state.container.settings
    return (settings.web_base_url or str(request.base_url)).rstrip("/")


def page(request: Request, template: str, reader: auth.Reader | None, status: int = 200, **values) -> Response:
    body = _ENV.get_template(f"team/{template}").render(reader=reader, **values)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def styled(handler, endpoint: str):
    """A team page that raised: the 500 page in the site's layout (what happened, what to do, a reference to
    quote), logged once with its traceback and counted like any other 500; the traceback never reaches the page."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("team page %s failed (reference %s)", endpoint, reference)
            metrics.server_error(endpoint)
            try:
                return page(request, "error.html.j2", None, status=500, reference=reference)
            except Exception:  # the template itself is broken: still no traceback
                log.exception("the error page failed too (reference %s)", reference)
                return HTMLResponse(f"<!doctype html><title>Error</title><p>Something went wrong on our side. "
                                    f"Try again in a minute; reference {reference}.</p>", status_code=500,
                                    headers=HEADERS)

    wrapped.__name__ = getattr(handler, "__name__", "page")
    return wrapped


async def not_found(request: Request) -> Response:
    reader = await reader_of(request)
    return await pool.run(page, request, "missing.html.j2", reader, status=404,
                          what="There is no page at this address.")


def _safe_next(value: str | None) -> str:
    """Only our own team pages: never `//evil.example` or an absolute URL (an open redirect)."""
    if value and value.startswith("/team/") and "//" not in value and "\\" not in value and len(value) < 500:
        return value
    return "/team/"


async def reader_of(request: Request) -> auth.Reader | None:
    """The signed-in reader: a cookie this server signed, made since the person last signed out."""
    container = request.app.state.container
    reader = auth.read_session(container.settings, request.cookies.get(auth.SESSION_COOKIE))
    if reader is None:
        return None
    return await pool.run(auth.still_signed_in, container.engine, reader)


def same_site(request: Request) -> bool:
    """A POST a page of ours sent, not another site's form (login CSRF: signing a victim in as the attacker).

    Browsers say where a form came from in Sec-Fetch-Site (or at least Origin); a request with neither is
    not a browser's cross-site form, and SameSite=Lax keeps the session cookie off those anyway.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    expected = urlsplit(base_url(request)).netloc if request.app.state.container.settings.web_base_url \
        else request.headers.get("host", "")
    return origin != "null" and urlsplit(origin).netloc == expected


def secure_cookies(request: Request) -> bool:
    """Always under `fireline serve` (TLS ends at Fly's proxy, so the request itself looks like http);
    otherwise when the configured address is https."""
    return request.app.state.container.mode in (Mode.SERVE, Mode.SOCKET) or base_url(request).startswith("https://")


def signed_in(handler):
    """Wrap a page: no session, a redirect to the sign-in page that comes back here afterwards."""
    async def wrapped(request: Request) -> Response:
        reader = await reader_of(request)
        if reader is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/team/login?next=" + quote(_safe_next(target), safe=""), status_code=303,
                                    headers=HEADERS)
        return await handler(request, reader)

    wrapped.__name__ = handler.__name__
    return wrapped


async def _set_session(request: Request, response: Response, user_id: str, team_id: str, name: str) -> None:
    container = request.app.state.container
    settings = container.settings
    generation = await pool.run(auth.generation_of, container.engine, user_id)
    _, value = auth.new_session(settings, user_id, team_id, name, generation=generation)
    response.set_cookie(auth.SESSION_COOKIE, value, max_age=settings.web_session_hours * 3600, path="/team",
                        httponly=True, samesite="lax", secure=secure_cookies(request))


async def _not_from_here(request: Request) -> Response:
    return await pool.run(page, request, "login.html.j2", None, status=403, oidc=False, next="/team/",
                          problem="That form was stale or not from this site; nothing was done. Reload the page "
                                  "and try again.")


# -- sign-in ---------------------------------------------------------------------------------------------
async def login(request: Request) -> Response:
    settings = request.app.state.container.settings
    return await pool.run(page, request, "login.html.j2", None, oidc=auth.oidc_configured(settings),
                          next=_safe_next(request.query_params.get("next")), problem=None)


async def login_slack(request: Request) -> Response:
    settings = request.app.state.container.settings
    if not auth.oidc_configured(settings):
        return await pool.run(page, request, "login.html.j2", None, status=400, oidc=False, next="/team/",
                              problem="Sign in with Slack is not set up here: type /incident web in Slack for a "
                                      "one-time link.")
    url, flow = auth.start_oidc(settings, base_url(request) + "/team/auth/callback",
                                _safe_next(request.query_params.get("next")))
    response = RedirectResponse(url, status_code=303, headers=HEADERS)
    response.set_cookie(auth.FLOW_COOKIE, flow, max_age=auth.FLOW_SECONDS, path="/team/auth", httponly=True,
                        samesite="lax", secure=secure_cookies(request))
    return response


async def callback(request: Request) -> Response:
    container = request.app.state.container
    settings = container.settings
    params = request.query_params
    try:
        if params.get("error"):
            raise auth.SignInRefused("Slack did not sign you in (" + params["error"][:40] + "). Start again.")
        profile, next_path = await pool.run(auth.finish_oidc, settings, params.get("code"), params.get("state"),
                                            request.cookies.get(auth.FLOW_COOKIE),
                                            base_url(request) + "/team/auth/callback", container.engine,
                                            container.clock())
    except auth.SignInRefused as refused:
        return await pool.run(page, request, "login.html.j2", None, status=403,
                              oidc=auth.oidc_configured(settings), next="/team/", problem=str(refused))
    response = RedirectResponse(_safe_next(next_path), status_code=303, headers=HEADERS)
    response.delete_cookie(auth.FLOW_COOKIE, path="/team/auth")
    await _set_session(request, response, str(profile["sub"]), settings.slack_team_id,
                       str(profile.get("name") or profile["sub"]))
    return response


async def link(request: Request) -> Response:
    container = request.app.state.container
    token = request.query_params.get("t") if request.method == "GET" else (await auth.read_form(request)).get("t")
    token = str(token) if token else None
    if request.method == "GET":
        state = await pool.run(auth.link_state, container.engine, token, container.clock())
        return await pool.run(page, request, "link.html.j2", None, status=200 if state == "ok" else 403,
                              state=state, token=token)
    if not same_site(request):  # another site's form would sign this browser in as whoever owns the link
        return await _not_from_here(request)
    spent = await pool.run(auth.redeem_link, container.engine, token, container.clock())
    if spent is not None and spent.team_id != container.settings.slack_team_id:
        spent = None  # issued for another workspace (SLACK_TEAM_ID changed since): like Sign in with Slack, refused
    if spent is None:
        state = await pool.run(auth.link_state, container.engine, token, container.clock())
        return await pool.run(page, request, "link.html.j2", None, status=403, state=state, token=None)
    response = RedirectResponse("/team/", status_code=303, headers=HEADERS)
    await _set_session(request, response, spent.user_id, spent.team_id, spent.name)
    return response


async def logout(request: Request) -> Response:
    """Sign out everywhere: the person's generation moves on, so this cookie and any copy of it are over."""
    container = request.app.state.container
    form = await auth.read_form(request)
    reader = await reader_of(request)
    if not auth.csrf_ok(reader, form.get("csrf")) or not same_site(request):
        return await _not_from_here(request)
    await pool.run(auth.sign_out_everywhere, container.engine, reader.user_id, container.clock())
    response = RedirectResponse("/team/login", status_code=303, headers=HEADERS)
    response.delete_cookie(auth.SESSION_COOKIE, path="/team")
    return response


# -- pages -----------------------------------------------------------------------------------------------
# Each page parses on the event loop and does the rest (who may see what, the queries, the figures, the
# template) in one call into the page threads (bot/adapters/web/pool.py): none of it delays Slack's acks.
@signed_in
async def incidents_page(request: Request, reader: auth.Reader) -> Response:
    container = request.app.state.container
    filters = team_views.parse_filters(dict(request.query_params), reader.user_id)
    query = {k: v for k, v in request.query_params.items() if k != "before"}
    return await pool.run(_incidents_page, request, container, reader, filters, query)


def _incidents_page(request: Request, container, reader: auth.Reader, filters, query: dict) -> Response:
    opened, items, next_before = team_views.incident_list(container, filters, reader.user_id)
    return page(request, "incidents.html.j2", reader, opened=opened, items=items, filters=filters, query=query,
                next_before=next_before, filtering=bool(query) or bool(filters.problems), states=("open", "declared", "investigating", "mitigating", "monitoring",
                                                 "resolved"))


def _number(raw: str) -> int | None:
    """An incident number from the path: ASCII digits, at most 9 (a row id PostgreSQL's integer holds)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


@signed_in
async def incident_page(request: Request, reader: auth.Reader) -> Response:
    raw = request.path_params["number"]
    return await pool.run(_incident_page, request, request.app.state.container, reader, raw, _number(raw))


def _incident_page(request: Request, container, reader: auth.Reader, raw: str, number: int | None) -> Response:
    found = team_views.incident_page(container, number, reader.user_id) if number is not None else None
    if found is None:
        return page(request, "missing.html.j2", reader, status=404,
                    what=f"There is no incident #{raw[:12]} you can see. The list has every one you can.")
    return page(request, "incident.html.j2", reader, today=container.clock().date(), **found)


@signed_in
async def postmortem_page(request: Request, reader: auth.Reader) -> Response:
    raw = request.path_params["number"]
    return await pool.run(_postmortem_page, request, request.app.state.container, reader, raw, _number(raw))


def _postmortem_page(request: Request, container, reader: auth.Reader, raw: str, number: int | None) -> Response:
    found = team_views.incident_page(container, number, reader.user_id) if number is not None else None
    if found is None or found["postmortem"] is None:
        what = (f"There is no incident #{raw[:12]} you can see." if found is None else
                f"Incident #{number} has no postmortem draft yet: one is made when it is resolved.")
        return page(request, "missing.html.j2", reader, status=404, what=what)
    return page(request, "postmortem.html.j2", reader, **found)


@signed_in
async def postmortems_page(request: Request, reader: auth.Reader) -> Response:
    return await pool.run(_postmortems_page, request, request.app.state.container, reader)


def _postmortems_page(request: Request, container, reader: auth.Reader) -> Response:
    items = team_views.postmortem_list(container, container.clock(), reader.user_id)
    return page(request, "postmortems.html.j2", reader, items=items)


@signed_in
async def insights_page(request: Request, reader: auth.Reader) -> Response:
    since_text = request.query_params.get("since") or "90d"
    problem = None
    try:
        span = insights.parse_since(since_text)
    except ValueError as exc:
        problem, since_text, span = f"Period: {exc}; showing 90d.", "90d", insights.parse_since("90d")
    return await pool.run(_insights_page, request, request.app.state.container, reader, since_text, span, problem)


def _insights_page(request: Request, container, reader: auth.Reader, since_text: str, span, problem) -> Response:
    found = insights.figures(container, container.clock() - span, visible=auth.visible_to(reader, container.engine),
                             cached=True)
    return page(request, "insights.html.j2", reader, figures=found, since=since_text, problem=problem,
                tables=insights_view.tables(found))


@signed_in
async def workflows_page(request: Request, reader: auth.Reader) -> Response:
    return await pool.run(_workflows_page, request, request.app.state.container, reader)


def _workflows_page(request: Request, container, reader: auth.Reader) -> Response:
    return page(request, "workflows.html.j2", reader, **team_views.workflow_list(container, reader.user_id))


def routes(container=None, worker=None) -> list[Route]:
    pages = [("/team/login", login, ["GET"]), ("/team/login/slack", login_slack, ["GET"]),
             ("/team/auth/callback", callback, ["GET"]), ("/team/login/link", link, ["GET", "POST"]),
             ("/team/logout", logout, ["POST"]), ("/team/", incidents_page, ["GET"]),
             ("/team/incidents/{number}", incident_page, ["GET"]),
             ("/team/incidents/{number}/postmortem", postmortem_page, ["GET"]),
             ("/team/postmortems", postmortems_page, ["GET"]), ("/team/insights", insights_page, ["GET"]),
             ("/team/workflows", workflows_page, ["GET"])]
    return [Route(path, styled(endpoint, path), methods=methods) for path, endpoint, methods in pages]


# -- `/incident web` --------------------------------------------------------------------------------------
def web_link(ctx: Context, args: Args) -> Reply:
    """A one-time sign-in link for the person who asked, sent to them alone (a DM in Slack)."""
    settings = ctx.app.settings
    base = settings.team_base_url
    name = person(ctx.chat, ctx.user_id)
    token = auth.issue_link(ctx.app.engine, settings, ctx.user_id, name, ctx.now())
    url = f"{base}/team/login/link?t={token}"
    words = (f"Your sign-in link for Fireline's team pages (works once, for {settings.web_link_minutes} minutes; "
             "do not share it):")
    if ctx.is_console:
        return Reply(words, lines=[url])
    ctx.chat.post(ctx.user_id, Reply(words, lines=[url]))  # the app's DM with this person: nobody else sees it
    return Reply(f"Sent you a one-time sign-in link in a DM from Fireline (valid {settings.web_link_minutes} "
                 "minutes).")


def team_routes(container, worker=None) -> list[Route]:
    """The pages, then the 404 page for any other address under /team/ (last, so it shadows none of them;
    `fireline web --dev` adds its sign-in stand-in under /team/ and so takes `routes` without it)."""
    return [*routes(container, worker), Route("/team/{rest:path}", styled(not_found, "/team/{rest:path}"),
                                              methods=["GET"])]


def register(registry: Registry) -> None:
    registry.command("incident", "declare and run incidents").sub(
        "web", "web", "a one-time link to sign in to the team's web pages (incidents, postmortems, insights)",
        web_link)
    registry.on(Hooks.HTTP_ROUTES)(team_routes)

