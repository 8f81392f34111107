"""The import graph the code is held to: no cycles, function-level imports only with a reason, and the layers.

The graph is read from the source by `docs/tools/import_graph.py` (the same reader draws docs/images/layers.svg):
every `import` of bot/ and playbooks/, at module level and inside functions alike (both run; a function-level
import only runs later, at some first call in production), `if TYPE_CHECKING:` aside, plus the package
`__init__`s Python runs on the way to a module.

Layers, low to high: bot.store < bot.core < bot.service < bot.features < bot.adapters < bot.app. A module
imports its own layer or a lower one; bot.clients imports bot.core only (features, adapters and app use
clients); playbooks imports nothing of bot; bot.store imports nothing of bot at all. Features may import
other features (never in a cycle).
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "docs" / "tools" / "import_graph.py")
import_graph = sys.modules.setdefault("import_graph", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(import_graph)

# What a reason for a function-level import looks like: an optional dependency, or a start-up cost with the figure
# that was measured. Breaking an import cycle is not one: the graph counts function-level imports anyway.
REASON = re.compile(r"optional|\d+(\.\d+)?\s?(ms|s|µs|us|MB|KB|kB|%)\b", re.IGNORECASE)
NOT_A_REASON = re.compile(r"cycle|circular", re.IGNORECASE)


def _comments(path: Path) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return {token.start[0]: token.string for token in tokens if token.type == tokenize.COMMENT}


def _unexplained(found) -> dict[tuple[str, str], list[str]]:
    """(file, imported module) -> where, for function-level imports with no acceptable reason next to them."""
    bad: dict[tuple[str, str], list[str]] = {}
    comments: dict[Path, dict[int, str]] = {}
    for imp in found:
        if not imp.in_function:
            continue
        if imp.path not in comments:
            comments[imp.path] = _comments(imp.path)
        said = " ".join(comments[imp.path].get(line, "") for line in range(imp.line - 1, imp.end_line + 1))
        if not REASON.search(said) or NOT_A_REASON.search(said):
            for target in sorted(imp.targets):
                bad.setdefault((str(imp.path.relative_to(ROOT)), target), []).append(imp.where)
    return bad


def test_no_import_cycles():
    graph = import_graph.graph()
    assert graph["bot.app.assembly"], "the reader found no imports at all"
    loops = import_graph.cycles(graph)
    assert loops == [], "import cycles:\n" + "\n".join("  " + " -> ".join(chain) for chain in loops)


def test_function_level_imports_of_our_modules_say_why():
    """A function-level import hides an edge from whoever reads the top of the file; it stays only with a comment
    on its line or the line above naming an optional dependency or a measured start-up cost."""
    bad = _unexplained(import_graph.imports())
    assert bad == {}, "function-level imports without a reason (hoist them, or say why on the line above):\n" + \
        "\n".join(f"  {', '.join(where)} imports {target}" for (_file, target), where in sorted(bad.items()))


def test_each_layer_imports_only_its_own_or_lower_layers():
    found = import_graph.violations(import_graph.imports())
    assert found == set(), "imports a layer may not make:\n" + "\n".join(
        f"  {a} ({import_graph.layer(a)}) -> {b} ({import_graph.layer(b)})" for a, b in sorted(found))


def test_the_store_and_the_playbooks_import_nothing_of_bot():
    for imp in import_graph.imports():
        for own in ("bot.store", "playbooks"):
            if imp.module.startswith(own + "."):
                assert {t for t in imp.targets if not t.startswith(own + ".")} == set(), imp.where


def test_the_layer_picture_is_in_step():
    """docs/images/layers.svg is drawn from this graph: `python docs/tools/import_graph.py` redraws it."""
    assert import_graph.SVG.read_text(encoding="utf-8") == import_graph.svg(), \
        "docs/images/layers.svg is out of date: run `python docs/tools/import_graph.py` and commit it"


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in {"bot/__init__.py": "", "playbooks/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_the_reader_counts_function_level_imports_and_the_package_inits_run_on_the_way(tmp_path):
    """bot.x imports bot.pkg.b, so Python runs bot/pkg/__init__.py first, which imports bot.pkg.a, which imports
    bot.x inside a function: a cycle, though no two files import each other at the top."""
    _tree(tmp_path, {
        "bot/x.py": "import bot.pkg.b\n",
        "bot/pkg/__init__.py": "from bot.pkg import a\n",
        "bot/pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import bot.y\n"
                        "def f():\n    from bot import x\n",
        "bot/pkg/b.py": "from bot.pkg.a import f\n",  # runs inside bot.pkg already: no edge to its __init__
        "bot/y.py": "",
    })
    graph = import_graph.graph(root=tmp_path)
    assert graph["bot.x"] == {"bot.pkg", "bot.pkg.b"}
    assert graph["bot.pkg.a"] == {"bot.x"}  # the function-level import counts; the TYPE_CHECKING one does not
    assert graph["bot.pkg.b"] == {"bot.pkg.a"}
    assert import_graph.cycles(graph) == [["bot.pkg", "bot.pkg.a", "bot.x", "bot.pkg"]]
    [inside] = [imp for imp in import_graph.imports(tmp_path) if imp.module == "bot.pkg.a"]
    assert inside.in_function and inside.line == 5
