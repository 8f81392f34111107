"""Incident roles as data: the built-in three (commander, communications, scribe) and the team's own.

Pure: the role table and how a typed role name reads; who holds what is stored by bot/features/roles/service.py.
The commander is the incident's lead (the one `/incident lead` has always set), so old words keep working.
A team adds roles with INCIDENT_ROLES, `key:Label` pairs separated by commas
(`liaison:Customer liaison,db:Database owner`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from playbooks.framework import Refused


@dataclass(frozen=True)
class Role:
    key: str  # what is stored (incident_roles rows, workflow files) and, unless `typed` says otherwise, typed
    label: str  # what people read
    duty: str = ""
    aliases: tuple[str, ...] = ()
    typed: str = ""  # the word every list and hint shows to type, when it is not the key

    @property
    def word(self) -> str:
        """What to type for this role (`/incident role <word> @user`), the one word lists and hints show."""
        return self.typed or self.key


# One word wherever people read it: "Lead" (the card's field, `/incident lead`, *I'm lead*, the web pages, the
# postmortem). The deployment guide names neither "lead" nor "commander", and every command and button
# already said lead; `commander`, `ic` and `incident-commander` still name the role when typed.
COMMANDER = Role("commander", "Lead", "leads the response and decides (the incident commander)",
                 ("lead", "ic", "incident-commander"), typed="lead")
COMMS = Role("comms", "Communications", "status page, customers and stakeholders", ("communications", "comm"))
SCRIBE = Role("scribe", "Scribe", "keeps the timeline", ("notes", "notetaker"))
BUILT_IN = (COMMANDER, COMMS, SCRIBE)
KEY = re.compile(r"[a-z][a-z0-9-]{0,30}")


def parse_roles(text: str) -> tuple[Role, ...]:
    """The built-in roles followed by INCIDENT_ROLES's; a malformed entry is refused with what to write."""
    roles = list(BUILT_IN)
    taken = {name for role in roles for name in (role.key, *role.aliases)}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        key, _, label = item.partition(":")
        key = key.strip().lower()
        if not KEY.fullmatch(key):
            raise Refused(f"INCIDENT_ROLES: {key[:30]!r} is not a role key (lower-case letters, digits, '-').",
                          "For example INCIDENT_ROLES=liaison:Customer liaison,db:Database owner")
        if key in taken:
            raise Refused(f"INCIDENT_ROLES: {key!r} is already a role.", "Pick another key.")
        taken.add(key)
        roles.append(Role(key, label.strip()[:40] or key.capitalize()))
    return tuple(roles)


def find(roles: tuple[Role, ...], word: str) -> Role | None:
    word = (word or "").strip().lower()
    return next((r for r in roles if word == r.key or word in r.aliases), None)
