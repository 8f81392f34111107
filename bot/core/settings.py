"""Fireline's configuration: one pydantic-settings class, read from the environment and `.env`.

Every base URL is a setting so tests can point each integration at loopback. Secrets are
`SecretStr` so they never print by accident (repr, logs, exceptions).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from playbooks.deploy_verdict import parse_thresholds
from playbooks.severity import SEVERITIES, describe, with_target


class SettingsError(Exception):
    """A configuration value is wrong; the message names the variable and what it expects."""


def parse_response_minutes(value: str) -> dict[int, timedelta | None]:
    """`1=15,2=60,3=240,4=` -> {1: 15 min, ..., 4: None}; raises ValueError saying what to write."""
    found: dict[int, timedelta | None] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        level, sep, minutes = (piece.strip() for piece in item.partition("="))
        if not sep:
            raise ValueError(f"expected LEVEL=MINUTES pairs such as 1=15,2=60 (not {item[:20]!r})")
        if level.upper().removeprefix("SEV") not in ("1", "2", "3", "4"):
            raise ValueError(f"levels are SEV1 to SEV4, written 1 to 4 (not {level[:10]!r})")
        if minutes and not (minutes.isascii() and minutes.isdigit()):
            raise ValueError(f"expected whole minutes, e.g. 1=15 (not {minutes[:10]!r})")
        if minutes and int(minutes) < 1:
            raise ValueError("a response time is at least 1 minute (leave it empty for none, e.g. 4=)")
        found[int(level.upper().removeprefix("SEV"))] = timedelta(minutes=int(minutes)) if minutes else None
    return found


MIN_SECRET_LENGTH = 16  # Slack's signing secrets are 32 hex characters, PagerDuty's webhook secrets 64


class Settings(BaseSettings):
    """All of Fireline's settings. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Slack
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...) for the Web API.")
    slack_signing_secret: SecretStr | None = Field(None, description="Signs Slack's HTTP requests.",
                                                   json_schema_extra={"guards": "/slack/events"})
    slack_app_token: SecretStr | None = Field(None, description="App-level token (xapp-...) for Socket Mode.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    incidents_channel: str = Field("incidents", description="Channel where incident cards are announced.")
    responders: str = Field(
        "",
        description="Comma-separated Slack user ids or @user-group handles allowed to confirm "
        "destructive playbooks. Empty: nobody on Slack (the console user is always allowed).",
    )

    # Storage and serving
    database_url: str = Field("sqlite:///fireline.db", description="SQLAlchemy URL: sqlite:/// or postgresql://.")
    port: int = Field(3000, ge=1, le=65535, description="HTTP port for `fireline serve`.")
    workers: int = Field(2, ge=1, le=32, description="Background job worker threads per process.")
    worker_process: bool = Field(
        True, description="`serve` and `socket` run queued jobs in a child process at lower CPU priority, so "
        "Slack's acks never wait behind playbook work; false: worker threads inside the serving process.")
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="`text` for people, `json` for one JSON object per line (log shippers).")
    metrics_token: SecretStr | None = Field(
        None, description="When set, GET /metrics needs `Authorization: Bearer <token>`. "
        "Leave unset for Fly's built-in scraper, which sends no token.", json_schema_extra={"guards": "/metrics"})
    console_user: str = Field("console", description="User name the console acts as.")

    # Sentry
    sentry_dsn: SecretStr | None = Field(None, description="Sentry DSN; errors are reported when set.")
    sentry_environment: str = Field("production", description="Sentry environment name.")
    sentry_release: str = Field("", description="Sentry release; empty: `fireline@<version>`, plus the Fly "
                                "image when FLY_IMAGE_REF is set.")
    # Sentry's read API (deploy watch, /diagnose): error counts per release
    sentry_api_url: str = Field("https://sentry.io", description="Sentry API base URL (https://de.sentry.io for EU "
                                "data storage, or a self-hosted Sentry).")
    sentry_api_token: SecretStr | None = Field(None, description="Sentry auth token with org:read and project:read, "
                                               "to read error counts per release.")
    sentry_org: str = Field("", description="Sentry organization slug of the watched app.")
    sentry_project: str = Field("", description="Sentry project slug (or id) of the watched app.")

    # Deploy watch
    deploy_watch: bool = Field(False, description="Watch each new Fly release of FLY_APP automatically.")
    deploy_watch_minutes: int = Field(15, ge=1, le=240, description="How long a deploy is watched.")
    deploy_sentry_release: str = Field("{tag}", description="The Sentry release of a Fly release: {tag} (the "
                                       "image tag), {version} (Fly's number, 43) or {image} (the whole image ref).")
    deploy_channel: str = Field("", description="Channel for deploy verdicts; empty: INCIDENTS_CHANNEL.")
    deploy_thresholds: str = Field("", description="Verdict thresholds replacing the defaults: "
                                   "`error_ratio_bad=5,p95_bad_ms=5000` (names in docs/deploy-watch.md).")
    deploy_canary_minutes: int = Field(10, ge=1, le=240, description="How long a canary is judged against the "
                                       "other machines before the verdict offers Promote or Discard.")
    deploy_canary_thresholds: str = Field("", description="Canary verdict thresholds replacing the defaults: "
                                          "`p95_ratio_bad=2,error_rate_bad=0.05` (names in docs/deploy-watch.md).")
    deploy_ci_url: str = Field("", description="The CI run's page for an image, shown by `/deploy checklist`: "
                               "{tag} (the image tag) or {image}; e.g. https://github.com/org/app/actions?query={tag}.")
    deploy_guide_url: str = Field("", description="The deployment guide's safe-migration section, linked from "
                                  "`/deploy checklist`.")

    # Fly.io
    fly_api_url: str = Field("https://api.machines.dev", description="Fly Machines API base URL.")
    fly_graphql_url: str = Field("https://api.fly.io/graphql", description="Fly GraphQL API URL.")
    fly_api_token: SecretStr | None = Field(None, description="Fly API token; without it playbooks dry-run.")
    fly_app: str = Field("", description="The Fly app the playbooks act on.")
    fly_db_app: str = Field("", description="The Fly Postgres app of FLY_APP (optional).")
    fly_min_machines: int = Field(2, ge=0, description="Never scale below this (min_machines_running).")
    fly_max_machines: int = Field(20, ge=1, description="Never scale above this.")
    fly_metrics_url: str = Field("https://api.fly.io/prometheus", description="Base of Fly's Prometheus query API; "
                                 "Fireline asks <this>/<FLY_ORG>/api/v1/query.")
    fly_metrics_token: SecretStr | None = Field(None, description="Fly access token that may read FLY_ORG's metrics "
                                                "(`fly tokens create readonly`); empty: metrics off.")
    fly_org: str = Field("personal", description="Slug of the Fly organisation whose metrics are read "
                         "(`fly orgs list`).")
    fly_prices: str = Field("", description="YAML/JSON price table for `/scale rightsize` (playbooks/data/"
                            "fly_prices.yaml's shape); empty: the guide's figures, as of Dec 2024.")
    health_url: str = Field("", description="The app's health endpoint, checked by diagnose and restart.")
    health_origin_url: str = Field("", description="Health endpoint on the origin behind the CDN.")

    # PagerDuty
    pagerduty_api_url: str = Field("https://api.pagerduty.com", description="PagerDuty REST API base URL.")
    pagerduty_api_token: SecretStr | None = Field(None, description="PagerDuty REST API token.")
    pagerduty_from_email: str = Field("", description="Email for the From header on PagerDuty writes.")
    pagerduty_service_id: str = Field("", description="PagerDuty service incidents are opened on.")
    pagerduty_escalation_policy_id: str = Field("", description="Escalation policy for /oncall and paging.")
    pagerduty_events_url: str = Field("https://events.pagerduty.com", description="Events API v2 base URL.")
    pagerduty_routing_key: SecretStr | None = Field(None, description="Events API v2 integration key.")
    pagerduty_webhook_secret: SecretStr | None = Field(None, description="Secret of the v3 webhook subscription.",
                                                       json_schema_extra={"guards": "/webhooks/pagerduty"})
    update_nudge_minutes: int = Field(30, ge=1, description="Nudge an open SEV1 after this long without update.")
    sev_response_minutes: str = Field(
        "", description="Response times replacing the SEV table's, in minutes: `1=15,2=60,3=240,4=` (empty: none, "
        "SEV4's next business day). Unlisted levels keep the table's. The ack escalation of paged levels (SEV1, "
        "SEV2) uses SEV1's time, the SEV3 reminder SEV3's.")
    response_clock_speed: float = Field(
        1.0, gt=0, le=3600, description="Run the response clock this many times faster, for a drill: 60 turns the "
        "15-minute escalation into 15 seconds (and the SEV1 update nudge likewise). 1 in production.")
    pagerduty_oncall_refresh_minutes: int = Field(5, ge=1, le=1440,
                                                  description="How often the /oncall cache is refreshed.")
    handoff_channel: str = Field("", description="Post the on-call handoff digest in this channel (name or id) at "
                                 "each shift change instead of messaging the incoming and outgoing on-call directly.")
    escalation_contacts: str = Field("", description="YAML/JSON file of escalation contacts (area -> Slack handle, "
                                     "PagerDuty policy) for /incident escalate; default: the guide's table.")

    # Alerts, classification, postmortems, plug-ins
    alerts_webhook_secret: SecretStr | None = Field(None, description="HMAC secret for POST /webhooks/alerts.",
                                                    json_schema_extra={"guards": "/webhooks/alerts"})
    alerts_source_tokens: SecretStr | None = Field(
        None, description="Per-source tokens for POST /webhooks/alerts/<source>: `alertmanager=tok1,tok2;"
        "uptimerobot=tok3` (two values while rotating).", json_schema_extra={"guards": "/webhooks/alerts/<source>"})
    alerts_alertmanager_groups: bool = Field(False, description="One thread per Alertmanager notification group "
                                             "(groupKey) instead of one per alert fingerprint.")
    alerts_channel: str = Field("", description="Channel whose integration messages are treated as alerts.")
    alerts_dedup_minutes: int = Field(30, ge=1, le=1440, description="Repeats of an alert within this many minutes "
                                      "of its last sighting update its thread instead of opening a new one.")
    severity_rules: str = Field("", description="Path to a YAML/JSON file overriding severity rules.")
    postmortem_template: str = Field("", description="Path to a Jinja2 template replacing the default.")
    postmortem_required_severity: int = Field(
        2, ge=1, le=4, description="Postmortems are due 48 h after resolution, with a reminder to the lead, for "
        "incidents that reached SEV1 up to this level (default SEV1 and SEV2); others get a draft only.")
    playbooks_path: str = Field("", description="Folder of plug-in playbook modules.")
    workflows: str = Field("", description="The team's workflow files (YAML), comma-separated; empty: the default "
                           "file, today's behaviour (playbooks/data/workflows.default.yaml).")
    archive_after_days: int = Field(
        7, ge=0, le=365, description="Archive an incident's channel this many days after `/postmortem done` (announced "
        "a day before; any message in the channel cancels it). 0: never.")

    incident_roles: str = Field("", description="Team-defined incident roles besides commander, comms and scribe.")
    home_refresh_seconds: int = Field(20, ge=1, le=30, description="At most one App Home publish per person "
                                      "per this many seconds.")

    # Public status page (served by `fireline serve` at /, /history.atom and /api/v2/*.json)
    status_components: str = Field("API,Web app,Realtime,Payments,Uploads",
                                   description="Comma-separated components shown on the public status page.")
    status_page_name: str = Field("Service status", description="Title of the public status page.")
    provider_status_pages: str = Field(
        "Fly.io=https://status.flyio.net,Cloudflare=https://www.cloudflarestatus.com",
        description="Providers' Statuspage pages read by /diagnose and SEV1/SEV2 cards: Name=URL, comma-separated.")
    statuspage_api_url: str = Field("https://api.statuspage.io/v1", description="Statuspage management API base URL.")
    statuspage_api_key: SecretStr | None = Field(
        None, description="Statuspage API key: confirmed public updates also go to the hosted Statuspage page.")
    statuspage_page_id: str = Field("", description="The hosted Statuspage page's id; without a key, a dry run.")
    statuspage_components: str = Field("", description="Fireline component name = Statuspage component id, "
                                       "comma-separated (API=abc123,Payments=def456).")
    status_page_url: str = Field("", description="Public address of the status page, for links in its feed "
                                 "and JSON; empty: WEB_BASE_URL, else relative links (never the request's Host).")

    # The team's signed-in web view (served by `fireline serve` under /team/; bot/adapters/web/team.py)
    web_base_url: str = Field("", description="Public address of Fireline for the team pages' links (one-time "
                              "sign-in links, the Sign in with Slack redirect); empty: http://127.0.0.1:PORT.")
    web_session_secret: SecretStr | None = Field(
        None, description="Signs the team pages' session cookies (32+ random characters); empty: derived from "
        "SLACK_SIGNING_SECRET. Changing it signs everybody out.", json_schema_extra={"guards": "/team/"})
    web_session_hours: int = Field(12, ge=1, le=24 * 30, description="A team page sign-in lasts this many hours.")
    web_link_minutes: int = Field(10, ge=1, le=60, description="A one-time sign-in link from `/incident web` "
                                  "expires after this many minutes (and after its first use).")
    slack_team_id: str = Field("", description="The Slack workspace's team id (T...): only its members may sign "
                               "in to the team pages, and Slack requests from any other workspace are refused.")
    slack_oidc_client_id: str = Field("", description="The Slack app's Client ID, for Sign in with Slack (OpenID "
                                      "Connect); empty: sign in with a one-time link from `/incident web`.")
    slack_oidc_client_secret: SecretStr | None = Field(None, description="The Slack app's Client Secret, for "
                                                       "Sign in with Slack.")
    slack_oidc_authorize_url: str = Field("https://slack.com/openid/connect/authorize",
                                          description="Slack's OpenID Connect authorize page.")
    slack_oidc_api_url: str = Field("https://slack.com/api/", description="Base URL of Slack's "
                                    "`openid.connect.token` and `openid.connect.userInfo` methods.")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("expected a sqlite:///path or postgresql://user@host/db URL")
        return value

    @field_validator("slack_api_url", "fly_api_url", "pagerduty_api_url", "pagerduty_events_url", "fly_graphql_url",
                     "statuspage_api_url", "sentry_api_url", "fly_metrics_url", "slack_oidc_authorize_url",
                     "slack_oidc_api_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("health_url", "health_origin_url", "status_page_url", "web_base_url")
    @classmethod
    def _check_optional_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, or empty")
        return value

    @field_validator("sev_response_minutes")
    @classmethod
    def _check_sev_response_minutes(cls, value: str) -> str:
        parse_response_minutes(value)
        return value

    @field_validator("provider_status_pages")
    @classmethod
    def _check_provider_pages(cls, value: str) -> str:
        for item in [i.strip() for i in value.split(",") if i.strip()]:
            name, _, url = item.partition("=")
            if not name.strip() or not url.strip().startswith(("http://", "https://")):
                raise ValueError("expected Name=https://status.example.com items separated by commas")
        return value

    @field_validator("deploy_thresholds")
    @classmethod
    def _check_deploy_thresholds(cls, value: str) -> str:
        parse_thresholds(value)
        return value

    @property
    def sentry_readable(self) -> bool:
        """Enough to read Sentry: a token, an organization and a project."""
        token = self.sentry_api_token.get_secret_value() if self.sentry_api_token else ""
        return bool(token and self.sentry_org and self.sentry_project)

    @property
    def fly_metrics_readable(self) -> bool:
        """A token to read Fly's metrics with (FLY_ORG has a default)."""
        return bool(self.fly_metrics_token and self.fly_metrics_token.get_secret_value().strip())

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("log_format", mode="before")
    @classmethod
    def _check_log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @cached_property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with the psycopg 3 driver made explicit (Fly hands out postgres://)."""
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    def sev_response(self, level: int) -> timedelta | None:
        """The response time of a SEV level: SEV_RESPONSE_MINUTES if it names the level, else the SEV table's."""
        overrides = parse_response_minutes(self.sev_response_minutes)
        return overrides[level] if level in overrides else SEVERITIES[level].response_target

    def severity(self, level: int):
        """The SEV table's level with its response time as configured, for everything people read (cards,
        declare and severity messages, catch-up, the modal): the clock and insights time against the same."""
        return with_target(level, self.sev_response(level))

    def describe(self, level: int) -> str:
        """`SEV1 (Complete outage, respond < 10 min)` with SEV_RESPONSE_MINUTES applied."""
        return describe(level, self.severity(level))

    @property
    def team_base_url(self) -> str:
        """Where the team pages are reached: WEB_BASE_URL, else this machine (what `/incident web` links to)."""
        return (self.web_base_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    def team_page_url(self, path: str) -> str | None:
        """A team page's address for a message others read; None without WEB_BASE_URL, because the
        127.0.0.1 fallback works only on the machine running Fireline and is a dead link in a channel."""
        return f"{self.team_base_url}{path}" if self.web_base_url else None

    @property
    def workflow_files(self) -> list[str]:
        """WORKFLOWS as paths; [] means the default file."""
        return [part.strip() for part in self.workflows.split(",") if part.strip()]

    @property
    def responder_list(self) -> list[str]:
        return [item.strip() for item in self.responders.split(",") if item.strip()]

    @property
    def incidents_channel_name(self) -> str:
        return self.incidents_channel.lstrip("#")

    @classmethod
    def route_secrets(cls) -> dict[str, str]:
        """Every secret setting that guards a route, and the route: the fields marked `guards`, so a new one is
        checked by `weak_route_secrets` (and its test) without anyone remembering to add it."""
        found = {}
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if extra.get("guards"):
                found[name] = str(extra["guards"])
        return found

    def weak_route_secrets(self, required: tuple[str, ...] = ()) -> list[str]:
        """What is wrong with the secrets that guard routes, one sentence each naming the setting; [] when fine.

        Unset is fine (that route is off, or for WEB_SESSION_SECRET derived from SLACK_SIGNING_SECRET) unless
        `required`; set but empty or shorter than MIN_SECRET_LENGTH is never fine: an empty signing secret
        turned request verification off, and an HMAC keyed with a guessable value is no check at all.
        """
        problems = []
        for name, route in self.route_secrets().items():
            value = getattr(self, name)
            variable = name.upper()
            if value is None:
                if name in required:
                    problems.append(f"{variable} is not set; it guards {route}.")
                continue
            secret = value.get_secret_value()
            if name == "alerts_source_tokens":  # `source=tok1,tok2;...`: each token guards its source's route
                pieces = [(part.partition("=")[0].strip(), t.strip()) for part in secret.replace("\n", ";").split(";")
                          if part.strip() for t in part.partition("=")[2].split(",")]
                short = sorted({source or "?" for source, token in pieces if len(token) < MIN_SECRET_LENGTH})
                if not pieces:
                    problems.append(f"{variable} is set but empty; it guards {route}. Remove it, or set "
                                    f"source=<token of {MIN_SECRET_LENGTH}+ random characters>.")
                elif short:
                    problems.append(f"{variable}: the token of {', '.join(short)} is empty or shorter than "
                                    f"{MIN_SECRET_LENGTH} characters; it guards {route}.")
            elif not secret.strip():
                problems.append(f"{variable} is set but empty; it guards {route}. Set it (at least "
                                f"{MIN_SECRET_LENGTH} characters), or remove it from the environment.")
            elif len(secret.strip()) < MIN_SECRET_LENGTH:
                problems.append(f"{variable} is shorter than {MIN_SECRET_LENGTH} characters; it guards {route}. "
                                "Use a long random value.")
        return problems

    def secret_values(self) -> list[str]:
        """Every configured secret, so log and Sentry scrubbers can redact them.

        Also the forms a secret travels in: a `FlyV1 ...` token without its scheme word, the key
        inside a DSN, and URL-encoded copies (a token in a form body or a query string).
        """
        import urllib.parse

        values = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                secret = value.get_secret_value()
                values.append(secret)
                if secret.startswith("FlyV1 "):
                    values.append(secret[6:].strip())
                if "://" in secret and "@" in secret.split("://", 1)[1]:
                    values.append(secret.split("://", 1)[1].split("@", 1)[0])  # a DSN's key (and secret)
                if name == "alerts_source_tokens":  # `source=tok1,tok2;...`: each token travels alone
                    values += [t.strip() for part in secret.replace("\n", ";").split(";")
                               for t in part.partition("=")[2].split(",") if t.strip()]
            elif name == "database_url" and "@" in value and ":" in value.split("@")[0].split("//")[-1]:
                values.append(value.split("//", 1)[1].split("@", 1)[0].split(":", 1)[1])
            del field
        values += [encoded for v in list(values) for encoded in {urllib.parse.quote(v, safe=""),
                                                               urllib.parse.quote_plus(v)} if encoded != v]
        # Longest first, so a secret is redacted whole before a part of it is.
        return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def load_settings(**overrides: object) -> Settings:
    """Read settings; a wrong value raises SettingsError naming the variable and what it expects."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = first["msg"].removeprefix("Value error, ")
        field = Settings.model_fields.get(variable.lower())
        secret = variable == "DATABASE_URL" or (field is not None and "SecretStr" in str(field.annotation))
        shown = "" if secret else f" (got {first.get('input')!r})"
        raise SettingsError(f"{variable}: {reason}{shown}") from None


def refuse_weak_secrets(settings: Settings, command: str, required: tuple[str, ...] = ()) -> bool:
    """For the serving commands: print what is wrong with the route-guarding secrets; True when it refused."""
    problems = settings.weak_route_secrets(required)
    for problem in problems:
        print(f"fireline {command}: {problem}", file=sys.stderr)
    if problems:
        print(f"fireline {command}: not starting; `fireline check` lists the same.", file=sys.stderr)
    return bool(problems)


def load_settings_or_exit(**overrides: object) -> Settings:
    """For the CLI: print one line naming the bad variable and exit 2, no traceback."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        print(f"fireline: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

