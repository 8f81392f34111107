"""The front ends read and write the store only through the service (bot/service/reads.py, lookups.py and the
rest), which applies the private-incident rule for the viewer; so no page, tab or console line can forget it.

Every module under bot/adapters/ is parsed (imports at module level and inside functions; an
`if TYPE_CHECKING:` block is not run, so it is skipped). It fails on an import of the store's models
(`bot.store.models` and its modules), on building a query or a write (`select`, `update`, `insert`,
`delete` from sqlalchemy or sqlmodel, or a sqlalchemy/sqlmodel `Session(...)`), and on a session used for it
(`session.exec/get/query/execute/scalars/scalar/add/delete/merge`), each named by file, line and what.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ROOT / "bot" / "adapters"

STORE_MODELS = "bot.store.models"
ORM_MODULES = ("sqlalchemy", "sqlmodel")
QUERY_BUILDERS = {"select", "update", "insert", "delete", "Session"}
SESSION_CALLS = {"exec", "get", "query", "execute", "scalars", "scalar", "add", "delete", "merge"}

# A module that must keep a store import or query for a reason other than reading incidents: path -> reason.
# Empty: the web sign-in rows live in bot/service/web_sessions.py, App Home's viewers in
# bot/service/home_viewers.py.
EXCEPTIONS: dict[str, str] = {}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _receiver_name(node: ast.expr) -> str:
    """`session` for `session.get`, `self.session` for `self.session.get`, `` for `ctx.session().get`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


class Finder(ast.NodeVisitor):
    def __init__(self, where: str) -> None:
        self.where = where
        self.found: list[str] = []
        self.orm_names: dict[str, str] = {}  # local name -> what it is, for names imported from sqlalchemy/sqlmodel
        self.orm_modules: set[str] = set()  # local names of the sqlalchemy/sqlmodel modules themselves

    def say(self, node: ast.AST, what: str) -> None:
        self.found.append(f"{self.where}:{node.lineno}: {what}")

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == STORE_MODELS or alias.name.startswith(STORE_MODELS + "."):
                self.say(node, f"import {alias.name}")
            if alias.name.split(".")[0] in ORM_MODULES:
                self.orm_modules.add((alias.asname or alias.name).split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        names = [alias.name for alias in node.names]
        if module == STORE_MODELS or module.startswith(STORE_MODELS + "."):
            self.say(node, f"from {module} import {', '.join(names)}")
        elif module == "bot.store" and "models" in names:
            self.say(node, "from bot.store import models")
        if module.split(".")[0] in ORM_MODULES:
            for alias in node.names:
                if alias.name in QUERY_BUILDERS:
                    self.orm_names[alias.asname or alias.name] = f"{module}.{alias.name}"

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.orm_names:
            self.say(node, f"{func.id}(...) ({self.orm_names[func.id]})")
        elif isinstance(func, ast.Attribute):
            receiver = _receiver_name(func.value)
            if func.attr in QUERY_BUILDERS and receiver in self.orm_modules:
                self.say(node, f"{receiver}.{func.attr}(...)")
            elif func.attr in SESSION_CALLS and "session" in receiver.lower():
                self.say(node, f"{receiver}.{func.attr}(...)")
        self.generic_visit(node)


def findings(root: Path = ADAPTERS) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(ROOT).as_posix()
        if where in EXCEPTIONS:
            continue
        finder = Finder(where)
        finder.visit(ast.parse(path.read_text(encoding="utf-8"), filename=where))
        found += finder.found
    return found


def test_front_ends_read_only_through_the_service():
    front_ends = {path.relative_to(ADAPTERS).as_posix() for path in ADAPTERS.rglob("*.py")}
    assert {"console.py", "slack/home.py", "web/team_views.py", "web/public.py"} <= front_ends, \
        "the front ends moved: point ADAPTERS at them, or this test reads nothing"
    found = findings()
    assert not found, ("A front end reads or writes the store itself; call a function of bot/service/reads.py "
                       "(or add one there, taking the viewer) instead:\n" + "\n".join(found))


def test_every_exception_names_a_module_and_a_reason():
    for where, reason in EXCEPTIONS.items():
        assert (ROOT / where).is_file(), f"{where} is listed as an exception but does not exist"
        assert len(reason.split()) >= 5, f"{where}: say why it keeps a store import"


def test_the_finder_sees_each_kind(tmp_path):
    """The check itself: each form is found, at its line, and a TYPE_CHECKING import and `ctx.session()` are not."""
    module = tmp_path / "bot" / "adapters" / "sample.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import sqlalchemy as sa\n"
        "from sqlmodel import select\n"
        "from bot.store.models import Incident\n"
        "if TYPE_CHECKING:\n"
        "    from bot.store.models import FollowUp\n"
        "def page(ctx, session):\n"
        "    import bot.store.models.status\n"
        "    with ctx.session() as s:\n"
        "        pass\n"
        "    session.get(Incident, 1)\n"
        "    session.exec(select(Incident))\n"
        "    sa.update(Incident)\n"
        "    {}.get('x')\n", encoding="utf-8")
    finder = Finder("sample.py")
    finder.visit(ast.parse(module.read_text(encoding="utf-8")))
    assert finder.found == [
        "sample.py:4: from bot.store.models import Incident",
        "sample.py:8: import bot.store.models.status",
        "sample.py:11: session.get(...)",
        "sample.py:12: session.exec(...)",
        "sample.py:12: select(...) (sqlmodel.select)",
        "sample.py:13: sa.update(...)",
    ]
