"""The service takes plain values (numbers, channel ids, flags, the Context), never the grammar's parsed words:
a front end without words (a button, a modal, the console) calls the same functions, and the parsing of what
was typed stays with the feature that defined the words."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "bot" / "service"


def grammar_uses(path: Path) -> list[str]:
    """Where `path` imports bot.core.grammar or names `Args` (as a name, an attribute or a string annotation)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if a.name.startswith("bot.core.grammar")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith("bot.core.grammar") or (module == "bot.core" and
                                                          any(a.name == "grammar" for a in node.names)):
                found.append(f"{where} from {module} import ...")
            found += [f"{where} imports Args" for a in node.names if a.name == "Args"]
        elif isinstance(node, ast.Name) and node.id == "Args":
            found.append(f"{where} names Args")
        elif isinstance(node, ast.Attribute) and node.attr == "Args":
            found.append(f"{where} names .Args")
        elif isinstance(node, ast.arg | ast.FunctionDef | ast.AsyncFunctionDef):
            annotation = node.annotation if isinstance(node, ast.arg) else node.returns
            if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str) \
                    and "Args" in ast.dump(ast.parse(annotation.value, mode="eval")):
                found.append(f"{where} annotates Args")
    return found


def test_the_service_knows_no_grammar():
    files = sorted(SERVICE.rglob("*.py"))
    assert len(files) > 5  # the reader found the service at all
    found = [use for path in files for use in grammar_uses(path)]
    assert found == [], "the service must take plain values; parse Args in the feature's handler"


def test_the_check_sees_a_grammar_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from bot.core.grammar import Args\n\ndef f(args: 'Args') -> None:\n    return args.words\n")
    assert len(grammar_uses(sample)) == 3  # the import, the name imported, the annotation
