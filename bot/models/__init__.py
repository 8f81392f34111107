"""All tables. Each feature keeps its models in its own module here; import them all below."""

from bot.models.alerts import ALERT_STATES, Alert, AlertRateSlot
from bot.models.deploy import DeployWatch
from bot.models.home import HomeViewer
from bot.models.incident import OPEN_STATES, STATES, Incident, Job, ProcessedRequest, TimelineEvent
from bot.models.pagerduty import OnCallSnapshot, PagerDutyLink
from bot.models.playbook import MitigationLock, PlaybookAudit, PlaybookExecution
from bot.models.postmortem import FOLLOWUP_STATES, FollowUp, Postmortem
from bot.models.private import IncidentMember
from bot.models.roles import IncidentRole
from bot.models.status import Maintenance, StatusUpdate
from bot.models.web import WebLoginLink, WebSessionGeneration

__all__ = ["ALERT_STATES", "FOLLOWUP_STATES", "OPEN_STATES", "STATES", "Alert", "AlertRateSlot", "FollowUp",
           "DeployWatch", "HomeViewer", "Incident", "IncidentMember", "IncidentRole",
           "Job", "MitigationLock", "OnCallSnapshot", "PagerDutyLink", "PlaybookAudit", "PlaybookExecution",
           "Postmortem", "ProcessedRequest", "Maintenance", "StatusUpdate",
           "TimelineEvent", "WebLoginLink", "WebSessionGeneration"]
