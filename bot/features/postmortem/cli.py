"""`fireline postmortem <N> [--out FILE]`: export an incident's postmortem draft as Markdown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.core.registry import Registry
from bot.core.container import Mode, open_container
from bot.store.db import session_scope
from bot.core.errors import UserError
from bot.service import incidents as svc
from bot.features.postmortem import service as pm_svc
from bot.core.settings import Settings


def register(registry: Registry) -> None:
    registry.cli("postmortem", "export an incident's postmortem draft as Markdown: `fireline postmortem 12 --out "
                 "pm.md`", _args)(cmd_postmortem)


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("number", type=int, help="the incident number (#N)")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--include-private", action="store_true",
                        help="export a private incident's postmortem too (it names the incident)")
    parser.add_argument("--fresh", action="store_true",
                        help="render from the current timeline instead of exporting the stored draft")


def cmd_postmortem(settings: Settings, args: argparse.Namespace, registry: Registry) -> int:
    container = open_container(settings, registry, mode=Mode.CLI)
    try:
        with session_scope(container.engine) as session:
            try:
                incident = svc.get_incident(session, args.number)
            except UserError as exc:
                print(f"fireline postmortem: {exc.message.replace('`', '')}", file=sys.stderr)
                return 1
            if incident.private and not args.include_private:
                print(f"fireline postmortem: #{incident.id} is private; its members' channel has the draft. "
                      f"Add --include-private to export it anyway.", file=sys.stderr)
                return 1
            row = pm_svc.stored(session, incident.id)
            if row is not None and row.done_link:
                print(f"fireline postmortem: #{incident.id}'s published postmortem: {row.done_link}", file=sys.stderr)
            if row is not None and row.markdown and not args.fresh:
                markdown, warning = row.markdown, row.warning
            else:
                if not args.fresh:
                    print(f"fireline postmortem: no stored draft for #{incident.id}; rendered one from the current "
                          "timeline.", file=sys.stderr)
                draft = pm_svc.render(container, session, incident, now=container.clock())
                markdown, warning = draft.markdown, draft.warning
    finally:
        container.engine.dispose()
    if warning:
        print(f"fireline postmortem: warning: {warning}", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(markdown, encoding="utf-8")
        print(f"wrote the postmortem of #{args.number} to {args.out} ({len(markdown.splitlines())} lines)",
              file=sys.stderr)
    else:
        sys.stdout.write(markdown)
    return 0
