"""Who may post alerts, decided in one place for every alert route.

Senders differ in what they can send: Alertmanager, Datadog, UptimeRobot and Better Stack cannot
compute an HMAC of the body, but all can send a fixed bearer token or HTTP basic auth (credentials
in the URL become `Authorization: Basic`); Honeycomb sends its recipient's secret as
`X-Honeycomb-Webhook-Token`. So each source has its own tokens (ALERTS_SOURCE_TOKENS, two values
while rotating: the new one is added, the sender switched, the old one removed), and the HMAC of
ALERTS_WEBHOOK_SECRET (`X-Fireline-Signature`, Sentry's and PagerDuty's headers) is accepted on
every route as before. Every comparison is constant-time (`hmac.compare_digest`), and a token for
one source never opens another's route.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.settings import Settings
from bot.core.webhook_guard import digest_matches

TOKEN_HEADER = "x-honeycomb-webhook-token"


@dataclass(frozen=True)
class Decision:
    status: int  # 0: allowed; 401 or 403 otherwise
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 0


class TokensError(ValueError):
    """ALERTS_SOURCE_TOKENS is malformed; says where, never the value."""


def parse_tokens(raw: str) -> dict[str, tuple[str, ...]]:
    """`alertmanager=a,b; uptimerobot=c` -> {"alertmanager": ("a", "b"), "uptimerobot": ("c",)}."""
    out: dict[str, tuple[str, ...]] = {}
    for index, part in enumerate(p.strip() for p in raw.replace("\n", ";").split(";")):
        if not part:
            continue
        name, sep, values = part.partition("=")
        tokens = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not name.strip() or not tokens:
            raise TokensError(f"ALERTS_SOURCE_TOKENS entry {index + 1} is not `source=token[,next-token]`")
        if len(tokens) > 2:
            raise TokensError(f"ALERTS_SOURCE_TOKENS: `{name.strip()}` has {len(tokens)} tokens; at most two "
                              "(the current one and the next, while rotating)")
        out[name.strip().lower()] = tokens
    return out


def tokens_for(settings: Settings, source: str) -> tuple[str, ...]:
    secret = settings.alerts_source_tokens
    if secret is None or not secret.get_secret_value().strip():
        return ()
    try:
        return parse_tokens(secret.get_secret_value()).get(source.lower(), ())
    except TokensError:
        return ()


def presented(headers: Mapping[str, str]) -> list[str]:
    """Every credential the request offers: bearer, basic password, Honeycomb's token header."""
    lowered = {k.lower(): v for k, v in headers.items()}
    out: list[str] = []
    authorization = lowered.get("authorization", "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        out.append(value.strip())
    elif scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        _user, sep, password = decoded.partition(":")
        if sep and password:
            out.append(password)
    honeycomb = lowered.get(TOKEN_HEADER, "").strip()
    if honeycomb:
        out.append(honeycomb)
    return out


def _matches(offered: list[str], tokens: tuple[str, ...]) -> bool:
    # compare every pair (no early exit on the first match) so timing says nothing about which matched
    found = False
    for candidate in offered:
        for token in tokens:
            found |= hmac.compare_digest(candidate.encode(), token.encode())
    return found


SIGNATURE_HEADER = "X-Fireline-Signature"


def sign(body: bytes, secret: str) -> str:
    """The header value a sender computes: `sha256=<hex HMAC-SHA256 of the raw body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, headers: Mapping[str, str], secret: str) -> str | None:
    """None when one of the accepted signature headers matches; otherwise why not, in words."""
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    offered: list[str] = []
    ours = lowered.get(SIGNATURE_HEADER.lower())
    if ours:
        offered.append(ours.strip().removeprefix("sha256="))
    sentry = lowered.get("sentry-hook-signature")
    if sentry:
        offered.append(sentry.strip())
    pagerduty = lowered.get("x-pagerduty-signature")
    if pagerduty:
        offered += [part.strip().removeprefix("v1=") for part in pagerduty.split(",") if part.strip()]
    if not offered:
        return (f"missing signature: send {SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the raw body, keyed with "
                "ALERTS_WEBHOOK_SECRET>")
    if any([digest_matches(expected, candidate) for candidate in offered]):  # each compared: no early exit
        return None
    return "signature does not match the body (HMAC-SHA256 of the raw body with ALERTS_WEBHOOK_SECRET)"


def decide(settings: Settings, source: str | None, body: bytes, headers: Mapping[str, str]) -> Decision:
    """Allowed, 401 (wrong or missing credentials) or 403 (intake for this route is off), with a reason.

    `source` None is the generic route /webhooks/alerts (HMAC only, as before).
    """
    secret = settings.alerts_webhook_secret
    hmac_secret = secret.get_secret_value() if secret is not None else ""
    tokens = tokens_for(settings, source) if source else ()
    if not hmac_secret and not tokens:
        if source:
            return Decision(403, f"alert intake from {source} is off: set ALERTS_SOURCE_TOKENS={source}=<token> "
                                 "(or ALERTS_WEBHOOK_SECRET for HMAC-signed bodies) on the Fireline server")
        return Decision(403, "alert intake is off: set ALERTS_WEBHOOK_SECRET on the Fireline server")
    offered = presented(headers) if tokens else []
    if tokens and _matches(offered, tokens):
        return Decision(0)
    problem = None
    if hmac_secret:
        problem = check_signature(body, headers, hmac_secret)
        if problem is None:
            return Decision(0)
        if not tokens:
            return Decision(401, problem)
    if offered:
        return Decision(401, f"the token does not match ALERTS_SOURCE_TOKENS for {source}")
    if hmac_secret and problem and not problem.startswith("missing"):
        return Decision(401, problem)  # a signature was sent, and it is wrong
    how = "Authorization: Bearer <token>, HTTP basic auth with the token as password"
    if source == "honeycomb":
        how += ", or X-Honeycomb-Webhook-Token: <token>"
    also = f", or {SIGNATURE_HEADER}: sha256=<HMAC of the body>" if hmac_secret else ""
    return Decision(401, f"missing credentials for {source}: send {how}{also}")
