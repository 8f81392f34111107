"""Deploy watches: one row per watched release, the database's truth for the message the watch edits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from bot.store.models.incident import empty_dict, empty_list, utcnow


def _utc(**kwargs: Any) -> Column:
    return Column(sa.DateTime(timezone=True), **kwargs)


class DeployWatch(SQLModel, table=True):
    """A release watched for a window. `key` (app and image) makes a second watch of the same release one row,
    whether a person typed `/deploy watch` or the poller found it."""

    __tablename__ = "deploy_watches"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(sa.String(400), nullable=False, unique=True))
    app: str = Field(sa_column=Column(sa.String(64), nullable=False))
    release: str = Field(sa_column=Column(sa.String(64), nullable=False))  # "v43"
    image: str = Field(sa_column=Column(sa.String(300), nullable=False))
    sentry_release: str = Field(sa_column=Column(sa.String(200), nullable=False))
    previous: str = Field(default="", sa_column=Column(sa.String(64), nullable=False))
    previous_image: str = Field(default="", sa_column=Column(sa.String(300), nullable=False))
    previous_sentry_release: str = Field(default="", sa_column=Column(sa.String(200), nullable=False))
    deployed_at: datetime = Field(sa_column=_utc(nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_column=_utc(nullable=False))
    ends_at: datetime = Field(sa_column=_utc(nullable=False))
    started_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    status: str = Field(default="watching", sa_column=Column(sa.String(12), nullable=False))  # watching | done
    verdict: str = Field(default="", sa_column=Column(sa.String(12), nullable=False))
    reasons: list[str] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    probes: list[dict[str, Any]] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    message: dict[str, str] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id")))


class DeployChecklist(SQLModel, table=True):
    """The guide's pre-deploy checklist for one deploy of an app: what Fireline saw (`facts`, as last read) and
    who ticked what (`ticks`). `image` is empty until the deploy names one; a watch or canary of that image
    finds its checklist by (app, image), or takes the newest unnamed one."""

    __tablename__ = "deploy_checklists"

    id: int | None = Field(default=None, primary_key=True)
    app: str = Field(sa_column=Column(sa.String(64), nullable=False, index=True))
    image: str = Field(default="", sa_column=Column(sa.String(300), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc(nullable=False))
    created_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    facts: dict[str, Any] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    ticks: dict[str, dict[str, str]] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    told: dict[str, str] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    revision: int = Field(default=1, sa_column=Column(sa.Integer, nullable=False))  # each tick adds one
    message: dict[str, str] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))


# the run holds its app (no /restart, /rollback, /scale or second canary): from its Confirm until Promote or Discard
CANARY_OPEN = ("starting", "watching", "judged")


class CanaryRun(SQLModel, table=True):
    """One canary deploy: the extra machine on the new image, its judged watch and what was decided.

    `status`: proposed (a plan, not confirmed) -> starting (confirmed: the create execution is queued or runs)
    -> watching (a timer each minute) -> judged (the verdict offers Promote and Discard; it stays judged, and so
    holds the app, while that execution runs) -> promoted | discarded (also when Fly says its machine is gone);
    failed when the canary never became healthy. Every move is a conditional UPDATE on the status before."""

    __tablename__ = "canary_runs"

    id: int | None = Field(default=None, primary_key=True)
    app: str = Field(sa_column=Column(sa.String(64), nullable=False))
    image: str = Field(sa_column=Column(sa.String(300), nullable=False))
    previous_image: str = Field(default="", sa_column=Column(sa.String(300), nullable=False))
    sentry_release: str = Field(default="", sa_column=Column(sa.String(200), nullable=False))
    previous_sentry_release: str = Field(default="", sa_column=Column(sa.String(200), nullable=False))
    execution_id: int = Field(sa_column=Column(sa.Integer, sa.ForeignKey("playbook_executions.id"), nullable=False,
                                               unique=True))
    machine_id: str = Field(default="", sa_column=Column(sa.String(64), nullable=False))
    status: str = Field(default="proposed", sa_column=Column(sa.String(12), nullable=False))  # "starting" holds
    dry_run: bool = Field(default=False, sa_column=Column(sa.Boolean, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_utc())
    ends_at: datetime | None = Field(default=None, sa_column=_utc())
    started_by: str = Field(sa_column=Column(sa.String(64), nullable=False))
    verdict: str = Field(default="", sa_column=Column(sa.String(12), nullable=False))
    reasons: list[str] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    samples: list[dict[str, Any]] = Field(default_factory=empty_list, sa_column=Column(sa.JSON, nullable=False))
    message: dict[str, str] = Field(default_factory=empty_dict, sa_column=Column(sa.JSON, nullable=False))
    decision_execution_id: int | None = Field(default=None, sa_column=Column(sa.Integer))
    checklist_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("deploy_checklists.id")))
    incident_id: int | None = Field(default=None, sa_column=Column(sa.Integer, sa.ForeignKey("incidents.id")))
