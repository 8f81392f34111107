"""Fireline's import graph, read from the source, and the layer picture drawn from it.

    python docs/tools/import_graph.py          # writes docs/images/layers.svg
    python docs/tools/import_graph.py --text   # prints the same picture as text

Standard library only, so it runs without the project installed. `tests/app/test_import_graph.py` imports
it: the test and the picture read one graph, and the test fails when the committed SVG no longer matches.

The graph holds every import Python would run: at module level and inside functions alike (a function-level
import still runs, only later, so it still closes a cycle), except under `if TYPE_CHECKING:`. Importing
`a.b.c` also runs the package `__init__` of `a` and `a.b` unless the importer already sits inside them
(then Python finished or is running that `__init__` before the importer's first line).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from dataclasses import dataclass
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "playbooks")
SVG = ROOT / "docs" / "images" / "layers.svg"

# Low to high; a module may import its own layer or a lower one. `clients` and `playbooks` sit beside the axis.
AXIS = ("store", "core", "service", "features", "adapters", "app")
LAYERS = ("app", "adapters", "features", "clients", "service", "core", "store", "playbooks")  # drawn top to bottom
ALLOWED = {
    **{layer: set(AXIS[: AXIS.index(layer) + 1]) | {"playbooks"} for layer in AXIS},
    "store": {"store"},  # the schema stands alone: nothing of bot, no playbooks
    "clients": {"clients", "core", "playbooks"},
    "playbooks": {"playbooks"},
}
for _layer in ("features", "adapters", "app"):
    ALLOWED[_layer].add("clients")


@dataclass(frozen=True)
class Import:
    """One import statement of our modules: who, where, what it names, and what runs on the way."""

    module: str
    path: Path
    line: int
    end_line: int
    in_function: bool
    targets: frozenset[str]  # the modules the statement names
    on_the_way: frozenset[str]  # package __init__s Python runs before them

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under bot/ and playbooks/."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer(module: str) -> str | None:
    """The layer a module belongs to (`bot` itself, the empty top package, belongs to none)."""
    parts = module.split(".")
    if parts[0] == "playbooks":
        return "playbooks"
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    return {found for name in names if (found := known(name))}


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def imports(root: Path = ROOT) -> list[Import]:
    """Every import of our own modules, in file and line order."""
    modules = module_files(root)
    found: list[Import] = []

    def visit(module: str, path: Path, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(module, path, other, in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                targets = _resolve(module, path, child, modules) - {module}
                if targets:
                    way = set().union(*(_ancestors(t) for t in targets)) & modules.keys()
                    way -= _ancestors(module) | {module} | targets
                    found.append(Import(module, path, child.lineno, child.end_lineno or child.lineno, in_function,
                                        frozenset(targets), frozenset(way)))
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(module, path, child, inner)

    for name, path in modules.items():
        visit(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def graph(found: list[Import] | None = None, root: Path = ROOT) -> dict[str, set[str]]:
    """module -> every module of ours that runs when it imports (named, or a package __init__ on the way)."""
    result: dict[str, set[str]] = {name: set() for name in module_files(root)}
    for imp in imports(root) if found is None else found:
        result[imp.module] |= imp.targets | imp.on_the_way
    return result


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One chain `a -> b -> ... -> a` per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == node:
                    break
            if len(component) > 1:
                components.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(_chain(edges, component) for component in components)


def _chain(edges: dict[str, set[str]], component: set[str]) -> list[str]:
    """The shortest way round the component from its first module and back, as a readable witness."""
    start = min(component)
    previous: dict[str, str] = {}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for other in sorted(edges[node] & component):
            if other == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(previous[chain[-1]])
                return [start, *reversed(chain[:-1]), start] if node != start else [start, start]
            if other not in previous:
                previous[other] = node
                todo.append(other)
    raise AssertionError(f"not a cycle: {sorted(component)}")


def layer_edges(found: list[Import]) -> Counter[tuple[str, str]]:
    """(importing layer, imported layer) -> how many distinct module pairs, counting the modules named."""
    pairs = {(imp.module, target) for imp in found for target in imp.targets}
    return Counter((layer(a), layer(b)) for a, b in pairs if layer(a) and layer(b) and layer(a) != layer(b))


def violations(found: list[Import]) -> set[tuple[str, str]]:
    """(importer, imported) module pairs that reach a layer the importer's layer may not import."""
    return {(imp.module, target) for imp in found for target in imp.targets
            if (mine := layer(imp.module)) and (mine == "playbooks" or layer(target))
            and layer(target) not in ALLOWED[mine]}


def layer_sizes(root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """layer -> (modules, lines)."""
    sizes = dict.fromkeys(LAYERS, (0, 0))
    for name, path in module_files(root).items():
        if (mine := layer(name)) is not None:
            count, lines = sizes[mine]
            sizes[mine] = (count + 1, lines + len(path.read_text(encoding="utf-8").splitlines()))
    return sizes


def text(root: Path = ROOT) -> str:
    found = imports(root)
    sizes, edges = layer_sizes(root), layer_edges(found)
    out = ["Layers (top imports bottom; a layer may import itself and what its rule allows):"]
    out += [f"  {name:<10} {sizes[name][0]:>4} modules {sizes[name][1]:>7,} lines   may import: "
            f"{', '.join(sorted(ALLOWED[name] - {name})) or '-'}" for name in LAYERS]
    out.append("Imports between layers (module pairs):")
    for (a, b), count in sorted(edges.items(), key=lambda item: (LAYERS.index(item[0][0]), LAYERS.index(item[0][1]))):
        out.append(f"  {a:<10} -> {b:<10} {count:>4}{'   NOT ALLOWED' if b not in ALLOWED[a] else ''}")
    bad = sorted(violations(found))
    out.append(f"Layer violations: {len(bad)}")
    out += [f"  {a} -> {b}" for a, b in bad]
    loops = cycles(graph(found, root))
    out.append(f"Import cycles: {len(loops)}")
    out += ["  " + " -> ".join(chain) for chain in loops]
    return "\n".join(out) + "\n"


def svg(root: Path = ROOT) -> str:
    """One box per layer, top to bottom, and one arc per pair of layers with imports, labelled with the count.
    Allowed imports run down on the right; imports a layer may not make run on the left, dashed."""
    found = imports(root)
    sizes, edges = layer_sizes(root), layer_edges(found)
    box_w, box_h, gap, left, top = 230, 46, 34, 190, 40
    colours = dict(zip(LAYERS, ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e", "#17becf", "#7f7f7f", "#bcbd22")))
    row = {name: i for i, name in enumerate(LAYERS)}
    y = {name: top + i * (box_h + gap) for i, name in enumerate(LAYERS)}
    width, height = left + box_w + 420, top + len(LAYERS) * (box_h + gap) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<defs>' + "".join(f'<marker id="head-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                              f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
                              f'fill="{colour}"/></marker>' for name, colour in colours.items()) +
           '<marker id="bad" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width // 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">'
           'Fireline layers: who imports whom (module pairs)</text>']
    for name in LAYERS:
        count, lines = sizes[name]
        out.append(f'<rect x="{left}" y="{y[name]}" width="{box_w}" height="{box_h}" rx="6" '
                   f'fill="{"#eef4fb" if name in AXIS else "#f5f5f5"}" stroke="#34495e"/>')
        out.append(f'<text x="{left + box_w // 2}" y="{y[name] + 19}" text-anchor="middle" font-weight="bold">'
                   f'{escape("bot." + name if name != "playbooks" else name)}</text>')
        out.append(f'<text x="{left + box_w // 2}" y="{y[name] + 36}" text-anchor="middle" fill="#444">'
                   f'{count} modules, {lines:,} lines</text>')
    for (a, b), count in sorted(edges.items(), key=lambda item: (row[item[0][0]], row[item[0][1]])):
        allowed = b in ALLOWED[a]
        span = abs(row[a] - row[b])
        # Endpoints spread along the box edge by the other end's row, so arcs into one box do not meet.
        y1 = y[a] + 8 + row[b] * (box_h - 16) / (len(LAYERS) - 1)
        y2 = y[b] + 8 + row[a] * (box_h - 16) / (len(LAYERS) - 1)
        if allowed:
            x = left + box_w
            bulge = x + 30 + span * 50
        else:
            x = left
            bulge = x - 30 - span * 22
        colour = colours[a] if allowed else "#c0392b"
        dash = "" if allowed else ' stroke-dasharray="5,3"'
        out.append(f'<path d="M{x},{y1:.1f} C{bulge},{y1:.1f} {bulge},{y2:.1f} {x},{y2:.1f}" fill="none" '
                   f'stroke="{colour}"{dash} marker-end="url(#{"head-" + a if allowed else "bad"})"/>')
        label_x, label_y = x + (bulge - x) * 0.75, (y1 + y2) / 2 + 4
        out.append(f'<text x="{label_x:.1f}" y="{label_y:.1f}" text-anchor="middle" fill="{colour}" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">{count}</text>')
    out.append(f'<text x="{width // 2}" y="{height - 26}" text-anchor="middle" fill="#444">Each arrow runs from the '
               'importing layer to the imported one, coloured by the importer; its number counts module pairs.</text>')
    out.append(f'<text x="{width // 2}" y="{height - 10}" text-anchor="middle" fill="#444">Dashed red would be an '
               'import the layer rules forbid: tests/app/test_import_graph.py fails on one.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", action="store_true", help="print the picture as text instead of writing the SVG")
    args = parser.parse_args(argv)
    if args.text:
        sys.stdout.write(text())
        return 0
    SVG.parent.mkdir(parents=True, exist_ok=True)
    SVG.write_text(svg(), encoding="utf-8")
    print(f"wrote {SVG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
