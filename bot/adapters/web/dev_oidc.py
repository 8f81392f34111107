"""A development stand-in for Slack's OpenID Connect: FOR DEVELOPMENT AND TESTS ONLY, never production.

It plays Slack's three parts of Sign in with Slack (the authorize page, `openid.connect.token`,
`openid.connect.userInfo`) so the real sign-in code in bot/adapters/web/auth.py runs end to end without the
internet: the tests and the browser test sign in through it, and `fireline web --dev` mounts it (on
127.0.0.1 only) so a newcomer can look at the team pages after `fireline console`. Anyone who can reach
it can sign in as anybody, which is why nothing but `fireline web --dev` and the tests ever mounts it.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.adapters.web.auth import read_form


@dataclass
class StandIn:
    team_id: str
    client_id: str
    client_secret: str
    codes: dict[str, dict] = field(default_factory=dict)  # code -> profile (single use)
    tokens: dict[str, dict] = field(default_factory=dict)  # access token -> profile
    foreign_team: bool = False  # tests: answer as another workspace
    id_token_changes: dict = field(default_factory=dict)  # tests: claims to put in (or take out, None) the id_token
    # `fireline web --dev`: signing in under this name is signing in as this user id (the console's CONSOLE_USER),
    # so the private incidents the console declared, and its name on the timeline, are the reader's own.
    default_user: str | None = None
    default_name: str = "Dev Person"


def _page(body: str) -> HTMLResponse:
    return HTMLResponse("<!doctype html><meta name=viewport content='width=device-width'>"
                        "<title>Development sign-in</title><body style='font-family:system-ui;max-width:30em;"
                        f"margin:2em auto;padding:0 1em'>{body}</body>")


def id_token(stand_in: StandIn, profile: dict) -> str:
    """An id_token with the claims Slack's carries (unsigned: bot/adapters/web/auth.py reads it from the token endpoint's
    TLS answer and checks its nonce, issuer, audience and expiry, not a signature)."""
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": "https://slack.com", "aud": stand_in.client_id, "sub": profile["sub"], "iat": now,
              "exp": now + 300, "nonce": profile.get("nonce"), "https://slack.com/team_id": stand_in.team_id}
    claims.update(stand_in.id_token_changes)
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({k: v for k, v in claims.items() if v is not None})}."


def routes(stand_in: StandIn, prefix: str = "") -> list[Route]:
    async def authorize(request: Request) -> Response:
        params = dict(request.query_params) if request.method == "GET" else dict(await read_form(request))
        if params.get("client_id") != stand_in.client_id or not params.get("redirect_uri", "").startswith("http"):
            return _page("<p>Unknown client or redirect.</p>")
        if request.method == "GET":
            hidden = "".join(f"<input type=hidden name='{html.escape(k)}' value='{html.escape(v)}'>"
                             for k, v in params.items() if k in ("client_id", "redirect_uri", "state", "nonce"))
            return _page("<h1>Development sign-in</h1><p>A stand-in for Slack, for development only. Sign in as:</p>"
                         f"<form method=post>{hidden}<label>Name <input name=name "
                         f"value='{html.escape(stand_in.default_name)}' required maxlength=80></label> "
                         "<button type=submit>Sign in</button></form>" + (
                             f"<p>Keep <b>{html.escape(stand_in.default_name)}</b> to read as the console's user "
                             "(what <code>fireline console</code> made, private incidents included); any other "
                             "name is a new person.</p>" if stand_in.default_user else ""))
        default = stand_in.default_name
        name = " ".join(str(params.get("name") or default).split())[:80] or default
        code = secrets.token_urlsafe(16)
        user = "U" + secrets.token_hex(4).upper() if name != default else (stand_in.default_user or "UDEV00001")
        stand_in.codes[code] = {"sub": user, "name": name, "redirect_uri": params["redirect_uri"],
                                "nonce": params.get("nonce")}
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=303)

    async def token(request: Request) -> Response:
        form = await read_form(request)
        profile = stand_in.codes.pop(str(form.get("code")), None)
        if form.get("client_id") != stand_in.client_id or form.get("client_secret") != stand_in.client_secret:
            return JSONResponse({"ok": False, "error": "invalid_client"})
        if profile is None or profile["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"ok": False, "error": "invalid_code"})
        access = secrets.token_urlsafe(16)
        stand_in.tokens[access] = profile
        return JSONResponse({"ok": True, "access_token": access, "token_type": "Bearer",
                             "id_token": id_token(stand_in, profile)})

    async def user_info(request: Request) -> Response:
        profile = stand_in.tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if profile is None:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        team = "TOTHER0001" if stand_in.foreign_team else stand_in.team_id
        return JSONResponse({"ok": True, "sub": profile["sub"], "https://slack.com/user_id": profile["sub"],
                             "https://slack.com/team_id": team, "name": profile["name"]})

    return [Route(f"{prefix}/authorize", authorize, methods=["GET", "POST"]),
            Route(f"{prefix}/api/openid.connect.token", token, methods=["POST"]),
            Route(f"{prefix}/api/openid.connect.userInfo", user_info, methods=["GET", "POST"])]
