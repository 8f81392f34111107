"""`playbooks/` imports nothing from `bot/`: the decisions stay pure and any front end can use them.

bot/ may import playbooks/ (bot/clients/fly/models.py and bot/core/clock.py re-export the shapes that moved there),
never the reverse. Two checks, because they catch different mistakes: the source check sees an import
hidden inside a function or under `if TYPE_CHECKING:` that is never run at import time; the fresh
interpreter sees an import that happens indirectly (through a third module) when playbooks load.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import playbooks
from bot.core.registry import guarded
from bot.core.errors import IntegrationError, UserError
from bot.clients.fly.http import FlyError
from bot.core.reply import escape
from bot.features.playbooks.executions import _run_step_safely
from playbooks.framework import Plan, Playbook, Refused, ServiceError, Step

ROOT = Path(playbooks.__file__).resolve().parent


def is_bot(name: str | None) -> bool:
    return bool(name) and (name == "bot" or name.startswith("bot."))


def bot_imports(source: str, filename: str) -> list[str]:
    """Every `import bot...`, `from bot... import`, and `import_module("bot...")` / `__import__("bot...")`, anywhere."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if is_bot(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and is_bot(node.module):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and is_bot(node.args[0].value):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.append(f"line {node.lineno}: {name}({node.args[0].value!r})")
    return found


def test_the_source_check_sees_every_form_of_import():
    source = ("import os\nimport bot\nfrom bot.core.errors import UserError\nfrom typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from bot.core.grammar import Args\n"
              "def f():\n    import bot.core.reply as r\n    from bot import clock\n"
              "    importlib.import_module('bot.clients.fly.models')\n    __import__('bot')\n"
              "from .framework import Plan\nimport botany\nfrom robot import x\n")
    assert [hit.split(":")[0] for hit in bot_imports(source, "x.py")] == [
        "line 2", "line 3", "line 6", "line 8", "line 9", "line 10", "line 11"]


def test_no_playbooks_module_imports_bot():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) >= 10  # the package, not an empty folder
    offenders = {str(path.relative_to(ROOT.parent)): hits for path in files
                 if (hits := bot_imports(path.read_text(encoding="utf-8"), str(path)))}
    assert offenders == {}, "playbooks/ must not import bot/ (bot may import playbooks, never the reverse)"


def test_importing_every_playbooks_module_loads_no_bot_module():
    names = ["playbooks"] + sorted(m.name for m in pkgutil.walk_packages([str(ROOT)], "playbooks."))
    assert {"playbooks.framework", "playbooks.params", "playbooks.rollback", "playbooks.postmortem"} <= set(names)
    script = ("import importlib, json, sys\n"
              f"for name in {names!r}:\n    importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.'))))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=ROOT.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# -- the playbooks' own types, as bot understands them ------------------------------------------------------
def test_a_playbook_refusal_reads_like_a_user_error_with_what_it_quotes_escaped():
    def refuse(exc: Exception):
        def run():
            raise exc
        return run

    typed = "<!channel>&1"
    refused = guarded(refuse(Refused(f"`{typed}` is not a number of machines.", "For example `/scale count 6`.")))
    as_user_error = guarded(refuse(UserError(f"`{escape(typed)}` is not a number of machines.",
                                             "For example `/scale count 6`.")))
    assert refused == as_user_error
    assert refused.text == ":warning: `&lt;!channel&gt;&amp;1` is not a number of machines."


def test_fly_failures_reach_playbooks_as_their_own_type_and_fail_the_step_with_their_words():
    assert issubclass(FlyError, ServiceError) and issubclass(IntegrationError, ServiceError)

    class Failing(Playbook):
        name = command = "failing"

        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def run_step(self, env, plan, step, progress):
            raise self.exc

    plan = Plan("failing", "app", "Fail")
    step = Step("Restart m1", "restart", targets=["m1"])
    for exc, said in ((ServiceError("the CDN answered 503"), "the CDN answered 503"),
                      (IntegrationError("Fly answered 502"), "Fly answered 502"),
                      (Refused("m1 is not in this app.", "Check FLY_APP."), "m1 is not in this app.")):
        result = _run_step_safely(Failing(exc), None, plan, step, lambda text: None)
        assert (result.ok, result.summary, result.failed) == (False, said, ["m1"])
