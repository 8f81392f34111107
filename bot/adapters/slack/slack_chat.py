"""The chat port on Slack's Web API (slack_sdk's WebClient, base URL from SLACK_API_URL).

Slack's failures are retried within bounds and then surfaced, never swallowed: 429 waits what
Retry-After says (up to `MAX_RETRY_AFTER`; longer, and the call fails at once instead of holding a
worker for minutes), 5xx and dropped connections are retried a few times with backoff, and a call
that timed out is not repeated (a message may have been posted) but reported. Every failure
reaches the caller as an `IntegrationError` that says which call failed and why.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.client import HTTPMessage
from io import BytesIO
from typing import TYPE_CHECKING
from urllib.error import HTTPError, URLError
from urllib.request import Request

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient, WebhookResponse

from bot.core.chat import MessageRef
from bot.core.container import Part
from bot.core.errors import IntegrationError
from bot.core.http_pool import shared_transport
from bot.core.reply import Reply, Visibility
from bot.core.settings import Settings
from bot.adapters.slack.render import blocks_json, fallback_text
from bot.adapters.slack.people import NameCache, display_name

if TYPE_CHECKING:
    from bot.core.container import Container

log = logging.getLogger(__name__)


TIMEOUT = 10.0  # seconds per Web API call
MAX_RETRY_AFTER = 30.0  # the longest Retry-After Fireline waits out; longer is reported as a failure
Sleep = Callable[[float], None]


def retry_after(headers: dict, now: datetime | None = None) -> float | None:
    """Retry-After (seconds or an HTTP date) from slack_sdk's response headers; None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimitRetryHandler(RetryHandler):
    """429: wait what Retry-After asks, at most `max_wait` seconds; a longer wait is not retried."""

    def __init__(self, max_retry_count: int = 3, max_wait: float = MAX_RETRY_AFTER, sleep: Sleep = time.sleep):
        super().__init__(max_retry_count)
        self.max_wait = max_wait
        self.sleep = sleep

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        if wait is not None and wait > self.max_wait:
            log.warning("Slack asked to wait %.0f s before retrying (Retry-After); Fireline waits at most %.0f s, "
                        "so the call fails now", wait, self.max_wait)
            return False
        return True

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:  # noqa: ANN001
        wait = retry_after(response.headers) if response is not None else None
        state.next_attempt_requested = True
        self.sleep(1.0 if wait is None else wait)
        state.increment_current_attempt()


class ServerErrorRetryHandler(RetryHandler):
    """Retry Slack's 5xx answers a few times, with backoff (0.5 s, 1 s, ...)."""

    def __init__(self, max_retry_count: int = 2, sleep: Sleep = time.sleep):
        super().__init__(max_retry_count)
        self.sleep = sleep

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        return response is not None and response.status_code >= 500

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:  # noqa: ANN001
        state.next_attempt_requested = True
        self.sleep(0.5 * 2 ** state.current_attempt)
        state.increment_current_attempt()


def retry_handlers(sleep: Sleep = time.sleep) -> list[RetryHandler]:
    """The same bounded retries for the Web API and for response_url answers."""
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitRetryHandler(max_retry_count=3, sleep=sleep),
            ServerErrorRetryHandler(max_retry_count=2, sleep=sleep)]


# -- the transport: one pool of kept-alive connections per process (bot/core/http_pool.py) -----------------
_http: tuple[int, httpx.Client] | None = None  # (pid, client): a forked worker child makes its own


def _client() -> httpx.Client:
    """The process's httpx client for Slack, made once (thread-safe: the pool locks itself)."""
    global _http
    if _http is None or _http[0] != os.getpid():
        _http = (os.getpid(), httpx.Client(transport=shared_transport(), follow_redirects=False))
    return _http[1]


def _send(req: Request, timeout: float) -> tuple[int, HTTPMessage, bytes]:
    """Send urllib's request through the pool; failures raised as urllib raises them.

    slack_sdk's retry loop (and so Fireline's retry handlers) reads urllib's exceptions: an HTTP error
    status becomes `HTTPError` (429s and 5xx are retried there), a connection that could not be made
    or was dropped before an answer `URLError` (retried by ConnectionErrorRetryHandler), and a
    timeout after the request was sent `TimeoutError` (not repeated: Slack may have acted).
    """
    url = req.full_url
    headers = {k: str(v) for k, v in req.header_items()}
    try:
        response = _client().request(req.get_method(), url, content=req.data, headers=headers,  # type: ignore[arg-type]
                                     timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)))
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # nothing was sent: safe to try again
        raise URLError(f"could not connect in time ({type(exc).__name__})") from None
    except httpx.TimeoutException:
        raise TimeoutError("timed out") from None
    except httpx.TransportError as exc:
        raise URLError(str(exc) or type(exc).__name__) from None
    message = HTTPMessage()
    for key, value in response.headers.multi_items():
        message[key] = value
    if response.status_code >= 400:
        raise HTTPError(url, response.status_code, response.reason_phrase, message, BytesIO(response.content))
    return response.status_code, message, response.content


class PooledWebClient(WebClient):
    """slack_sdk's WebClient sending through the process's kept-alive pool instead of a connection per call.

    Chosen over AsyncWebClient with one aiohttp session per process: the worker's jobs are threads and
    synchronous, so the async client would need an event loop per thread (or a loop thread and
    hand-offs) and aiohttp (+7 MB resident, a second HTTP stack beside httpx, which Fly, PagerDuty,
    Sentry and Statuspage use already). Only urllib's last step is replaced: slack_sdk still builds
    the request and runs its retry handlers, so 429/5xx/timeout behaviour is unchanged (the tests of
    tests/test_slack_failures*.py run against this class). Measured by bench/slack_latency.py.
    """

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict:
        if not url.lower().startswith("http"):
            return super()._perform_urllib_http_request_internal(url, req)
        status, headers, body = _send(req, self.timeout)
        charset = headers.get_content_charset() or "utf-8"
        return {"status": status, "headers": headers, "body": body.decode(charset, errors="replace")}


class PooledWebhookClient(WebhookClient):
    """response_url answers through the same pool (slack_sdk's WebhookClient, its retries kept)."""

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        if not url.lower().startswith("http"):
            return super()._perform_http_request_internal(url, req)
        status, headers, body = _send(req, self.timeout)
        charset = headers.get_content_charset() or "utf-8"
        return WebhookResponse(url=url, status_code=status, body=body.decode(charset, errors="replace"),
                               headers=headers)  # type: ignore[arg-type]


def make_web_client(settings: Settings, *, timeout: float = TIMEOUT, sleep: Sleep = time.sleep) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = PooledWebClient(token=token, base_url=settings.slack_api_url, timeout=timeout)  # type: ignore[arg-type]
    client.retry_handlers = retry_handlers(sleep)
    return client


# The app's Web API client: the Bolt app's when it has one (`build_bolt_app` puts it), else made on first use.
SLACK_CLIENT: Part[WebClient] = Part("slack.client", lambda container: make_web_client(container.settings))


def slack_client(container: Container) -> WebClient:
    """The app's Web API client: the Bolt app's when it has one (`build_bolt_app` puts it), else made once."""
    return container.parts.get(SLACK_CLIENT)


def _slack_error(method: str, exc: SlackApiError) -> IntegrationError:
    code = str(exc.response.get("error", "unknown_error")) if exc.response is not None else "no_response"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,80}", code):  # Slack's codes are words; anything else may echo a request
        code = "an answer that is not a Slack error code"
    status = getattr(exc.response, "status_code", 200) if exc.response is not None else None
    if status and status >= 400 and code in ("unknown_error", "http_error"):
        code = f"HTTP {status}"
    if status == 429:
        code = "rate limited (HTTP 429)"
    return IntegrationError(f"Slack refused {method}: {code}")


def _transport_error(method: str, exc: Exception) -> IntegrationError:
    if isinstance(exc, TimeoutError):
        return IntegrationError(f"Slack did not answer {method} in time (it may still have acted)")
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return IntegrationError(f"Fireline could not reach Slack for {method} ({reason})")


TRANSPORT_ERRORS = (TimeoutError, URLError, ConnectionError, OSError)


MAX_CHANNEL_NAMES = 512  # channel id -> name, most recent first; every incident makes a channel


class SlackChat:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        # Bounded: one entry per channel created was one per incident for the life of the process (10,000
        # incidents: 10,000 entries kept in the server and again in its forked worker, bench/memory.py).
        self._names = NameCache(ttl=math.inf, max_size=MAX_CHANNEL_NAMES)  # a channel's name is kept until pushed out

    def _remember(self, channel_id: str, name: str) -> None:
        self._names.put(channel_id, name)

    def create_channel(self, name: str, private: bool = False) -> tuple[str, str]:
        candidate = name
        for attempt in range(2, 7):
            try:
                response = self.client.conversations_create(name=candidate, is_private=private)
                channel = response["channel"]
                self._remember(channel["id"], channel["name"])
                return channel["id"], channel["name"]
            except SlackApiError as exc:
                if exc.response.get("error") != "name_taken":
                    raise _slack_error("conversations.create", exc) from None
                candidate = f"{name[:76]}-{attempt}"
            except TRANSPORT_ERRORS as exc:
                raise _transport_error("conversations.create", exc) from None
        raise IntegrationError(f"Slack refused conversations.create: the names {name}..{candidate} are taken")

    def invite(self, channel_id: str, user_ids: list[str]) -> None:
        users = [u for u in user_ids if u.startswith(("U", "W"))]
        if not users:
            return
        try:
            self.client.conversations_invite(channel=channel_id, users=",".join(users))
        except SlackApiError as exc:
            if exc.response.get("error") not in {"already_in_channel", "cant_invite_self"}:
                raise _slack_error("conversations.invite", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("conversations.invite", exc) from None

    def post(self, channel: str, reply: Reply, thread_ts: str | None = None) -> MessageRef:
        try:
            response = self.client.chat_postMessage(channel=channel, text=fallback_text(reply),
                                                    blocks=blocks_json(reply), thread_ts=thread_ts,
                                                    unfurl_links=False)
        except SlackApiError as exc:
            raise _slack_error("chat.postMessage", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("chat.postMessage", exc) from None
        return MessageRef(response["channel"], response["ts"])

    def update(self, ref: MessageRef, reply: Reply) -> None:
        try:
            self.client.chat_update(channel=ref.channel, ts=ref.ts, text=fallback_text(reply),
                                    blocks=blocks_json(reply))
        except SlackApiError as exc:
            raise _slack_error("chat.update", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("chat.update", exc) from None

    def post_ephemeral(self, channel: str, user_id: str, reply: Reply) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user_id, text=fallback_text(reply),
                                           blocks=blocks_json(reply))
        except SlackApiError as exc:
            raise _slack_error("chat.postEphemeral", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("chat.postEphemeral", exc) from None

    def archive(self, channel_id: str) -> None:
        try:
            self.client.conversations_archive(channel=channel_id)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_archived":
                raise _slack_error("conversations.archive", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("conversations.archive", exc) from None

    def upload(self, channel: str, filename: str, content: str, title: str) -> None:
        try:
            self.client.files_upload_v2(channel=channel, content=content, filename=filename, title=title)
        except SlackApiError as exc:
            raise _slack_error("files.upload", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("files.upload", exc) from None

    def group_members(self, key: str) -> list[str]:
        """Members of a user group given as id (`S0123`) or handle (`oncall`); needs usergroups:read."""
        try:
            response = self.client.usergroups_list(include_users=True)
        except SlackApiError as exc:
            raise _slack_error("usergroups.list", exc) from None
        except TRANSPORT_ERRORS as exc:
            raise _transport_error("usergroups.list", exc) from None
        for group in response.get("usergroups") or []:
            if key in (group.get("id"), (group.get("handle") or "").lower()):
                return list(group.get("users") or [])
        return []

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message (alert threads link to incidents and back); None if Slack has none."""
        try:
            return self.client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        except (SlackApiError, *TRANSPORT_ERRORS):
            return None

    def channel_name(self, channel_id: str) -> str | None:
        known, name = self._names.get(channel_id)
        if known and name is not None:
            return name
        try:
            name = self.client.conversations_info(channel=channel_id)["channel"]["name"]
        except (SlackApiError, *TRANSPORT_ERRORS):
            return None
        self._remember(channel_id, name)
        return name

    def user_email(self, user_id: str) -> str | None:
        """Needs the users:read.email scope; without it Slack leaves the email out and this is None."""
        try:
            profile = (self.client.users_info(user=user_id).get("user") or {}).get("profile") or {}
        except (SlackApiError, *TRANSPORT_ERRORS):
            return None
        return profile.get("email") or None

    def user_by_email(self, email: str) -> str | None:
        """The Slack user with this email (users.lookupByEmail), or None; Slack's refusals raise."""
        return (self.client.users_lookupByEmail(email=email).get("user") or {}).get("id")

    def display_name(self, user_id: str) -> str | None:
        """From users.info, cached per process (bot/adapters/slack/people.py)."""
        return display_name(self.client, user_id)


def respond_via(response_url: str | None, chat: SlackChat, channel: str, user: str):
    """Answer the person who typed or clicked: response_url if Slack gave one, else an ephemeral post.

    response_url gets the Web API's bounded retries; if it still fails (expired, Slack down, timed
    out) the answer goes through the Web API instead, so the person is never left without one.
    """

    def respond(reply: Reply) -> None:
        if reply is None:
            return
        if response_url:
            kind = "in_channel" if reply.visibility == Visibility.CHANNEL else "ephemeral"
            webhook = PooledWebhookClient(response_url, timeout=chat.client.timeout,
                                    retry_handlers=list(chat.client.retry_handlers))
            try:
                result = webhook.send(text=fallback_text(reply), blocks=blocks_json(reply), response_type=kind,
                                      replace_original=False)
                problem = f"HTTP {result.status_code}" if result.status_code >= 400 else None
            except TRANSPORT_ERRORS as exc:
                problem = str(_transport_error("response_url", exc))
            if problem is None:
                return
            log.warning("could not answer through response_url (%s); answering through the Web API instead", problem)
            if not channel:
                raise IntegrationError(f"Slack did not take the answer ({problem}) and there is no channel to post it")
        if reply.visibility == Visibility.CHANNEL:
            chat.post(channel, reply)
        else:
            chat.post_ephemeral(channel, user, reply)

    return respond
