"""Escalation contacts: the guide's Emergency Contacts table as data, overridable by a team file.

Pure data and lookups, no Slack: `/incident escalate <area>` (bot.features.pagerduty.feature) shows the
contact and, where a PagerDuty escalation policy is configured for the area, pages it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "escalation_contacts.yaml"
_POLICY = re.compile(r"^P[A-Z0-9]{5,13}$")
_FIELDS = {"name", "aliases", "slack", "email", "contact", "note", "pagerduty_policy"}


class ContactsError(ValueError):
    """The contacts file is unreadable or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Contact:
    area: str
    name: str
    aliases: tuple[str, ...] = ()
    slack: str = ""
    email: str = ""
    contact: str = ""
    note: str = ""
    pagerduty_policy: str = ""

    def how(self) -> str:
        """How to reach them, in the guide's words."""
        parts = [p for p in (self.slack, self.email, self.contact) if p]
        text = ", ".join(parts) or "no contact listed"
        return text + (f" ({self.note})" if self.note else "")


@dataclass
class Contacts:
    areas: dict[str, Contact] = field(default_factory=dict)
    source: str = "the guide's Emergency Contacts"

    def find(self, word: str) -> Contact | None:
        wanted = word.strip().lower().lstrip("#")
        for contact in self.areas.values():
            if wanted in (contact.area, contact.name.lower(), *contact.aliases):
                return contact
        return None

    def names(self) -> list[str]:
        return list(self.areas)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContactsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ContactsError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} "
                            f"({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("areas", {}), dict):
        raise ContactsError(f"{path}: expected `areas:` mapping each area to its contact")
    return data


def _contact(path: Path, area: str, raw: Any) -> Contact:
    if not isinstance(raw, dict):
        raise ContactsError(f"{path}: area `{area}` must be a mapping (name, slack, email, pagerduty_policy, ...)")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ContactsError(f"{path}: area `{area}` has unknown field(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(_FIELDS))}")
    policy = str(raw.get("pagerduty_policy") or "").strip()
    if policy and not _POLICY.match(policy):
        raise ContactsError(f"{path}: area `{area}`: pagerduty_policy `{policy}` is not a PagerDuty id "
                            "(like PABC123)")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list):
        raise ContactsError(f"{path}: area `{area}`: aliases must be a list")
    return Contact(area=area.lower(), name=str(raw.get("name") or area), aliases=tuple(str(a).lower() for a in aliases),
                   slack=str(raw.get("slack") or ""), email=str(raw.get("email") or ""),
                   contact=str(raw.get("contact") or ""), note=str(raw.get("note") or ""), pagerduty_policy=policy)


def load_contacts(path: str | None = None) -> Contacts:
    """The guide's table, with a team file's areas added or replacing same-named ones."""
    base = _read(DEFAULT_FILE)
    contacts = Contacts({area.lower(): _contact(DEFAULT_FILE, area, raw) for area, raw in base["areas"].items()})
    if not path:
        return contacts
    team_path = Path(path)
    team = _read(team_path)
    if team.get("replace"):
        contacts.areas.clear()
    for area, raw in (team.get("areas") or {}).items():
        contacts.areas[str(area).lower()] = _contact(team_path, str(area), raw)
    contacts.source = f"{team_path}" + ("" if team.get("replace") else " with the guide's Emergency Contacts")
    if not contacts.areas:
        raise ContactsError(f"{team_path}: no areas left (replace: true with no areas)")
    return contacts


__all__ = ["Contact", "Contacts", "ContactsError", "load_contacts"]
