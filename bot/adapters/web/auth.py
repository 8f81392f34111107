"""Who may read the team pages: members of the Slack workspace, signed in one of two ways.

- Sign in with Slack (OpenID Connect, scopes `openid profile`): the browser goes to Slack's authorize
  page, comes back with a code, and the server exchanges it at `openid.connect.token` and asks
  `openid.connect.userInfo` who it is. The workspace's team id must be SLACK_TEAM_ID. The profile comes
  from Slack over TLS with our client secret, so the id_token's signature is not checked a second time.
  The `state` travels in a short signed cookie, so a callback nobody started here is refused.
- Without OIDC set up, a one-time link from `/incident web`: a random token, stored only as its SHA-256,
  valid WEB_LINK_MINUTES, spent by a conditional UPDATE (`... WHERE used_at IS NULL AND expires_at > now`),
  so a replayed or raced link signs in at most once, on SQLite and PostgreSQL. Opening the link shows a
  Continue button (a POST): a chat's link preview fetching the URL does not spend it.

A session is a signed cookie (HMAC-SHA256, stdlib; HttpOnly, SameSite=Lax, Secure on https and always
under `fireline serve`, with its expiry inside the signed part), so reading a page costs no database write.
It carries the person's sign-in generation (`web_session_generations`, one primary-key read per page):
signing out adds one, so that cookie and every copy of it stop working. The session carries a random CSRF
token that every POST form sends back. Keys are derived per purpose from WEB_SESSION_SECRET (or
SLACK_SIGNING_SECRET), so a cookie of one kind is never accepted as another.

Sign in with Slack's `state` is spent once on the server (a `processed_requests` row), so a kept flow cookie
and callback URL cannot be replayed, and the id_token Slack's token endpoint returns must carry the nonce we
sent, Slack's issuer, our client id as audience and an expiry still ahead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from typing import TYPE_CHECKING

import httpx

from bot.service import dedup, reads, web_sessions
from bot.service.reads import Visible
from bot.store.db import session_scope

if TYPE_CHECKING:
    from bot.store.models import WebLoginLink

SESSION_COOKIE = "fireline_session"
FLOW_COOKIE = "fireline_signin"
FLOW_SECONDS = 600  # a Sign in with Slack round trip must finish within 10 minutes
SLACK_ISSUER = "https://slack.com"  # the `iss` of Slack's OpenID Connect id_tokens
_PROCESS_KEY = secrets.token_bytes(32)  # only when no secret is configured: sessions end with the process


class SignInRefused(Exception):
    """Why a sign-in failed, in words a person can act on (never a token or a secret)."""


@dataclass(frozen=True)
class Reader:
    """A signed-in member of the workspace."""

    user_id: str
    team_id: str
    name: str
    csrf: str
    expires: int  # unix seconds
    generation: int = 0  # the person's sign-in generation when this session was made


def visible_to(reader: Reader, engine) -> Visible:
    """Which incidents this reader may see, by THE rule of private incidents (bot/service/lookups.py: public
    ones, and the private ones whose members include `reader.user_id`): what the insights figures leave out."""
    with session_scope(engine) as session:
        return reads.visible(session, reader.user_id)


async def read_form(request) -> dict[str, str]:
    """A small urlencoded form (the team pages' only kind), without python-multipart: first value of each field."""
    from urllib.parse import parse_qs

    body = await request.body()
    if len(body) > 16_384 or "urlencoded" not in request.headers.get("content-type", ""):
        return {}
    parsed = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=20)
    return {key: values[0] for key, values in parsed.items()}


# -- signing -------------------------------------------------------------------------------------------
def _key(settings, purpose: str) -> bytes:
    """Never from an empty value (`SLACK_SIGNING_SECRET=` once keyed sessions anyone could forge): an empty
    setting counts as unset, and with neither set the key is random and dies with the process."""
    base = _PROCESS_KEY
    for secret in (settings.web_session_secret, settings.slack_signing_secret):
        value = secret.get_secret_value() if secret is not None else ""
        if value.strip():
            base = value.encode()
            break
    return hmac.new(base, b"fireline-web/" + purpose.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings, purpose: str, payload: dict) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(settings, purpose: str, value: str | None, now: float | None = None) -> dict | None:
    """The payload of a value this server signed for `purpose` and that has not expired; otherwise None."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    try:
        expected = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    if payload["exp"] <= (time.time() if now is None else now):
        return None
    return payload


def new_session(settings, user_id: str, team_id: str, name: str, now: float | None = None,
                generation: int = 0) -> tuple[Reader, str]:
    expires = int((time.time() if now is None else now) + settings.web_session_hours * 3600)
    reader = Reader(user_id=user_id, team_id=team_id, name=name[:200], csrf=secrets.token_urlsafe(24), expires=expires,
                    generation=generation)
    value = sign(settings, "session", {"u": user_id, "t": team_id, "n": reader.name, "c": reader.csrf,
                                       "g": generation, "exp": expires})
    return reader, value


def read_session(settings, value: str | None, now: float | None = None) -> Reader | None:
    payload = unsign(settings, "session", value, now)
    if payload is None:
        return None
    try:
        generation = payload.get("g", 0)
        if isinstance(generation, bool) or not isinstance(generation, int):
            return None
        return Reader(user_id=str(payload["u"]), team_id=str(payload["t"]), name=str(payload["n"]),
                      csrf=str(payload["c"]), expires=payload["exp"], generation=generation)
    except KeyError:
        return None


def generation_of(engine, user_id: str) -> int:
    return web_sessions.generation_of(engine, user_id)


def still_signed_in(engine, reader: Reader | None) -> Reader | None:
    """The reader, unless they signed out since this session was made (their generation moved on)."""
    if reader is None or generation_of(engine, reader.user_id) != reader.generation:
        return None
    return reader


def sign_out_everywhere(engine, user_id: str, now: datetime) -> None:
    """Add one to the person's generation: every session made before is over."""
    web_sessions.next_generation(engine, user_id, now)


def csrf_ok(reader: Reader | None, given: str | None) -> bool:
    return reader is not None and bool(given) and hmac.compare_digest(reader.csrf.encode(), str(given).encode())


# -- Sign in with Slack (OpenID Connect) ----------------------------------------------------------------
def oidc_configured(settings) -> bool:
    return bool(settings.slack_oidc_client_id and settings.slack_oidc_client_secret and settings.slack_team_id)


def start_oidc(settings, redirect_uri: str, next_path: str) -> tuple[str, str]:
    """(Slack's authorize URL, the signed flow cookie that remembers state, nonce and where to go after)."""
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    query = urlencode({"response_type": "code", "scope": "openid profile", "client_id": settings.slack_oidc_client_id,
                       "redirect_uri": redirect_uri, "state": state, "nonce": nonce, "team": settings.slack_team_id})
    flow = sign(settings, "oidc-flow", {"s": state, "nonce": nonce, "next": next_path,
                                        "exp": int(time.time() + FLOW_SECONDS)})
    return f"{settings.slack_oidc_authorize_url}?{query}", flow


def spend_state(engine, state: str, now: datetime) -> bool:
    """True the first time this sign-in's state comes back, False ever after (across processes too)."""
    return dedup.record_once(engine, f"oidc-state:{_hash(state)}", now)


def _claims(id_token: object) -> dict:
    """The id_token's claims. Its signature is not checked: it came from Slack over TLS, in answer to our client
    secret (OpenID Connect Core 3.1.3.7 allows that for the code flow); its contents are."""
    try:
        payload = str(id_token).split(".")[1]
        claims = json.loads(_unb64(payload))
    except (IndexError, ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def check_id_token(settings, id_token: object, nonce: str, now: float) -> None:
    claims = _claims(id_token)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    expires = claims.get("exp")
    if not claims:
        raise SignInRefused("Slack's answer had no readable id_token. Start again.")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"].encode(), nonce.encode()):
        raise SignInRefused("The sign-in's nonce does not match (a replayed or forged answer). Start again.")
    if claims.get("iss") != SLACK_ISSUER or settings.slack_oidc_client_id not in audiences:
        raise SignInRefused("That sign-in was not issued by Slack for this app. Start again.")
    if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= now:
        raise SignInRefused("That sign-in has expired. Start again.")


def finish_oidc(settings, code: str | None, state: str | None, flow_cookie: str | None,
                redirect_uri: str, engine, now: datetime) -> tuple[dict, str]:
    """Exchange the code and ask Slack who signed in: (profile, next path). Raises SignInRefused in words."""
    flow = unsign(settings, "oidc-flow", flow_cookie)
    if flow is None:
        raise SignInRefused("This sign-in was not started here or took longer than 10 minutes. Start again.")
    if not state or not hmac.compare_digest(str(flow.get("s", "")).encode(), state.encode()):
        raise SignInRefused("The sign-in's state does not match (an old or forged link). Start again.")
    if not code or len(code) > 500:
        raise SignInRefused("Slack sent no sign-in code. Start again.")
    if not spend_state(engine, state, now):
        raise SignInRefused("This sign-in was already used. Start again.")
    api = settings.slack_oidc_api_url.rstrip("/") + "/"
    secret = settings.slack_oidc_client_secret.get_secret_value() if settings.slack_oidc_client_secret else ""
    try:
        token = httpx.post(api + "openid.connect.token", timeout=10,
                           data={"client_id": settings.slack_oidc_client_id, "client_secret": secret,
                                 "code": code, "redirect_uri": redirect_uri, "grant_type": "authorization_code"})
        answer = token.json()
        if not answer.get("ok") or not answer.get("access_token"):
            reason = str(answer.get("error") or token.status_code)[:60]
            raise SignInRefused(f"Slack did not accept the sign-in ({reason}). Start again.")
        check_id_token(settings, answer.get("id_token"), str(flow.get("nonce") or ""), time.time())
        info = httpx.post(api + "openid.connect.userInfo", timeout=10,
                          headers={"Authorization": f"Bearer {answer['access_token']}"}).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SignInRefused(f"Could not reach Slack to finish the sign-in ({type(exc).__name__}). Try again.") from None
    if not info.get("ok") or not info.get("sub"):
        raise SignInRefused(f"Slack would not say who signed in ({str(info.get('error'))[:60]}). Start again.")
    if str(info["sub"]) != str(_claims(answer.get("id_token")).get("sub")):
        raise SignInRefused("Slack's answers disagree about who signed in. Start again.")
    team = info.get("https://slack.com/team_id")
    if team != settings.slack_team_id:
        raise SignInRefused("That Slack account is not in this workspace. Sign in with your account in the "
                            "workspace where Fireline runs.")
    return info, str(flow.get("next") or "/team/")


# -- one-time links ------------------------------------------------------------------------------------
def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(engine, settings, user_id: str, name: str, now: datetime) -> str:
    """A new one-time token for `user_id` (the caller builds the URL); only its hash is stored."""
    token = secrets.token_urlsafe(32)
    web_sessions.add_link(engine, token_hash=_hash(token), user_id=user_id, team_id=settings.slack_team_id,
                          name=name[:200], now=now, expires_at=now + timedelta(minutes=settings.web_link_minutes))
    return token


def redeem_link(engine, token: str | None, now: datetime) -> WebLoginLink | None:
    """Spend a link: exactly once, before it expires (a conditional UPDATE decides); None when it may not."""
    if not token or len(token) > 200:
        return None
    return web_sessions.spend_link(engine, _hash(token), now)


def link_state(engine, token: str | None, now: datetime) -> str:
    """`ok`, `used`, `expired` or `unknown`: what the Continue page says before anything is spent."""
    if not token or len(token) > 200:
        return "unknown"
    return web_sessions.link_state(engine, _hash(token), now)
