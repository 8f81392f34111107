"""All tables. Each feature keeps its models in its own module here; import them all below."""

from bot.store.models.alerts import ALERT_STATES, Alert, AlertRateSlot
from bot.store.models.deploy import DeployWatch
from bot.store.models.home import HomeViewer
from bot.store.models.incident import OPEN_STATES, STATES, Incident, Job, ProcessedRequest, TimelineEvent
from bot.store.models.pagerduty import OnCallSnapshot, PagerDutyLink
from bot.store.models.playbook import MitigationLock, PlaybookAudit, PlaybookExecution
from bot.store.models.postmortem import FOLLOWUP_STATES, FollowUp, Postmortem
from bot.store.models.private import IncidentMember
from bot.store.models.roles import IncidentRole
from bot.store.models.status import Maintenance, StatusUpdate
from bot.store.models.web import WebLoginLink, WebSessionGeneration
from bot.store.models.workflows import WorkflowRun

__all__ = ["ALERT_STATES", "FOLLOWUP_STATES", "OPEN_STATES", "STATES", "Alert", "AlertRateSlot", "FollowUp",
           "DeployWatch", "HomeViewer", "Incident", "IncidentMember", "IncidentRole",
           "Job", "MitigationLock", "OnCallSnapshot", "PagerDutyLink", "PlaybookAudit", "PlaybookExecution",
           "Postmortem", "ProcessedRequest", "Maintenance", "StatusUpdate",
           "TimelineEvent", "WebLoginLink", "WebSessionGeneration", "WorkflowRun"]
