"""The chat port on Slack's Web API (slack_sdk's WebClient, base URL from SLACK_API_URL)."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

from bot.chat import MessageRef
from bot.errors import IntegrationError
from bot.reply import Reply, Visibility
from bot.settings import Settings
from bot.slack.render import blocks_json, fallback_text

log = logging.getLogger(__name__)


class ServerErrorRetryHandler(RetryHandler):
    """Retry Slack's 5xx answers a few times (rate limits and resets have their own handlers)."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        return response is not None and response.status_code >= 500


def make_web_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)
    client.retry_handlers = [ConnectionErrorRetryHandler(max_retry_count=2),
                             RateLimitErrorRetryHandler(max_retry_count=3),
                             ServerErrorRetryHandler(max_retry_count=2)]
    return client


def _slack_error(method: str, exc: SlackApiError) -> IntegrationError:
    code = exc.response.get("error", "unknown_error") if exc.response is not None else "no_response"
    return IntegrationError(f"Slack refused {method}: {code}")


class SlackChat:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._names: dict[str, str] = {}

    def create_channel(self, name: str) -> tuple[str, str]:
        candidate = name
        for attempt in range(2, 7):
            try:
                response = self.client.conversations_create(name=candidate)
                channel = response["channel"]
                self._names[channel["id"]] = channel["name"]
                return channel["id"], channel["name"]
            except SlackApiError as exc:
                if exc.response.get("error") != "name_taken":
                    raise _slack_error("conversations.create", exc) from None
                candidate = f"{name[:76]}-{attempt}"
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

    def post(self, channel: str, reply: Reply, thread_ts: str | None = None) -> MessageRef:
        try:
            response = self.client.chat_postMessage(channel=channel, text=fallback_text(reply),
                                                    blocks=blocks_json(reply), thread_ts=thread_ts,
                                                    unfurl_links=False)
        except SlackApiError as exc:
            raise _slack_error("chat.postMessage", exc) from None
        return MessageRef(response["channel"], response["ts"])

    def update(self, ref: MessageRef, reply: Reply) -> None:
        try:
            self.client.chat_update(channel=ref.channel, ts=ref.ts, text=fallback_text(reply),
                                    blocks=blocks_json(reply))
        except SlackApiError as exc:
            raise _slack_error("chat.update", exc) from None

    def post_ephemeral(self, channel: str, user_id: str, reply: Reply) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user_id, text=fallback_text(reply),
                                           blocks=blocks_json(reply))
        except SlackApiError as exc:
            raise _slack_error("chat.postEphemeral", exc) from None

    def upload(self, channel: str, filename: str, content: str, title: str) -> None:
        try:
            self.client.files_upload_v2(channel=channel, content=content, filename=filename, title=title)
        except SlackApiError as exc:
            raise _slack_error("files.upload", exc) from None

    def group_members(self, key: str) -> list[str]:
        """Members of a user group given as id (`S0123`) or handle (`oncall`); needs usergroups:read."""
        try:
            response = self.client.usergroups_list(include_users=True)
        except SlackApiError as exc:
            raise _slack_error("usergroups.list", exc) from None
        for group in response.get("usergroups") or []:
            if key in (group.get("id"), (group.get("handle") or "").lower()):
                return list(group.get("users") or [])
        return []

    def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message (alert threads link to incidents and back); None if Slack has none."""
        try:
            return self.client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        except SlackApiError:
            return None

    def channel_name(self, channel_id: str) -> str | None:
        if channel_id not in self._names:
            try:
                self._names[channel_id] = self.client.conversations_info(channel=channel_id)["channel"]["name"]
            except SlackApiError:
                return None
        return self._names[channel_id]

    def user_email(self, user_id: str) -> str | None:
        """Needs the users:read.email scope; without it Slack leaves the email out and this is None."""
        try:
            profile = (self.client.users_info(user=user_id).get("user") or {}).get("profile") or {}
        except SlackApiError:
            return None
        return profile.get("email") or None


def respond_via(response_url: str | None, chat: SlackChat, channel: str, user: str):
    """Answer the person who typed or clicked: response_url if Slack gave one, else an ephemeral post."""

    def respond(reply: Reply) -> None:
        if reply is None:
            return
        if response_url:
            kind = "in_channel" if reply.visibility == Visibility.CHANNEL else "ephemeral"
            result = WebhookClient(response_url, timeout=10).send(
                text=fallback_text(reply), blocks=blocks_json(reply), response_type=kind,
                replace_original=False)
            if result.status_code >= 400:
                log.warning("response_url answered %s", result.status_code)
            return
        if reply.visibility == Visibility.CHANNEL:
            chat.post(channel, reply)
        else:
            chat.post_ephemeral(channel, user, reply)

    return respond
