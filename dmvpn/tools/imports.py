"""The import graph of `dmvpn/` and its cycles: `python -m dmvpn.tools.imports` (exit 1 on a cycle).

Every `import` and `from ... import` statement counts, wherever it is: at module level, inside a
function (a lazy import is a dependency too, it only fails later), under `if TYPE_CHECKING`
excepted (annotations only). `from a.b import c` is an edge to the module `a.b.c` when that is a
module, else to `a.b`. Importing `a.b.c` also runs `a/__init__` and `a/b/__init__`, but those
implicit edges are not counted: a package's `__init__` importing its own submodules, which import
each other, is the ordinary pattern, not a cycle.

Two graphs are checked:
  packages  nodes are the subpackages of dmvpn (dmvpn.wire, dmvpn.peers, ...) and its top-level
            modules (dmvpn.run, dmvpn.cli, ...); imports within one package are left out;
  modules   nodes are modules (a package is its `__init__`).
A cycle is printed as `a -> b -> a` with, for each edge, where the import is (file:line).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str  #: path:line of the import statement


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """{dotted module name: file} for every .py under `root` (the dmvpn package directory)."""
    base = root.name
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [base, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(not p.isidentifier() for p in parts):
            continue
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement, except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def module_edges(root: Path = PACKAGE_ROOT) -> list[Edge]:
    files = module_files(root)
    base = root.name
    edges: list[Edge] = []
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in _imports(tree):
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    anchor = package.split(".")
                    if node.level > 1:
                        anchor = anchor[: len(anchor) - (node.level - 1)]
                    mod = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                for alias in node.names:
                    sub = f"{mod}.{alias.name}"
                    targets.append(sub if sub in files else mod)
            for target in targets:
                # `import a.b.c` where only a.b exists as a file: the deepest module that does
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and (target == base or target.startswith(base + ".")) and target != name:
                    edges.append(Edge(name, target, where))
    return edges


def package_of(module: str) -> str:
    """dmvpn.wire.nhrp -> dmvpn.wire; dmvpn.run -> dmvpn.run; dmvpn -> dmvpn."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_edges(edges: Iterable[Edge]) -> list[Edge]:
    out = []
    for e in edges:
        a, b = package_of(e.src), package_of(e.dst)
        if a != b:
            out.append(Edge(a, b, e.where))
    return out


def cycles(edges: Iterable[Edge]) -> list[list[Edge]]:
    """The shortest cycle through each node of every strongly connected component of 2+ nodes
    (deduplicated): every node that sits on a cycle is shown on one."""
    graph: dict[str, dict[str, Edge]] = {}
    for e in edges:
        graph.setdefault(e.src, {}).setdefault(e.dst, e)
        graph.setdefault(e.dst, {})
    found = []
    for component in _components(graph):
        if len(component) < 2:
            continue
        seen: set[frozenset[tuple[str, str]]] = set()
        for start in sorted(component):
            cycle = _shortest_cycle(graph, start, component)
            key = frozenset((e.src, e.dst) for e in cycle)
            if key not in seen:
                seen.add(key)
                found.append(_rotate(cycle))
    return sorted(found, key=lambda c: [e.src for e in c])


def _rotate(cycle: list[Edge]) -> list[Edge]:
    """The same cycle starting at its smallest node name (a stable way to print it)."""
    k = min(range(len(cycle)), key=lambda i: cycle[i].src)
    return cycle[k:] + cycle[:k]


def _components(graph: dict[str, dict[str, Edge]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                out.append(component)
    return out


def _shortest_cycle(graph: dict[str, dict[str, Edge]], start: str, component: set[str]) -> list[Edge]:
    """Breadth-first from `start` back to itself inside its component."""
    previous: dict[str, Edge] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following = []
        for node in frontier:
            for child, edge in sorted(graph[node].items()):
                if child not in component:
                    continue
                if child == start:
                    path = [edge]
                    while path[0].src != start:
                        path.insert(0, previous[path[0].src])
                    return path
                if child not in seen:
                    seen.add(child)
                    previous[child] = edge
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component of 2+ nodes always has one


def format_cycle(cycle: list[Edge]) -> str:
    names = " -> ".join([e.src for e in cycle] + [cycle[0].src])
    return names + "\n" + "\n".join(f"    {e.src} -> {e.dst}  ({e.where})" for e in cycle)


def report(root: Path = PACKAGE_ROOT) -> tuple[list[list[Edge]], list[list[Edge]]]:
    """(package-level cycles, module-level cycles)."""
    edges = module_edges(root)
    return cycles(package_edges(edges)), cycles(edges)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dmvpn.tools.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=PACKAGE_ROOT, help="the package directory (default: dmvpn/)")
    parser.add_argument("--edges", action="store_true", help="also print the package-level edges")
    args = parser.parse_args(argv)
    edges = module_edges(args.root)
    packages, modules = cycles(package_edges(edges)), cycles(edges)
    if args.edges:
        pairs = sorted({(e.src, e.dst) for e in package_edges(edges)})
        print("package edges:")
        for a, b in pairs:
            print(f"  {a} -> {b}")
    n_mod = len({e.src for e in edges} | {e.dst for e in edges})
    print(f"{len(module_files(args.root))} modules, {len(edges)} imports between them ({n_mod} modules involved)")
    for title, found in (("package-level", packages), ("module-level", modules)):
        print(f"{title} cycles: {len(found)}")
        for cycle in found:
            print("  " + format_cycle(cycle).replace("\n", "\n  "))
    return 1 if packages or modules else 0


if __name__ == "__main__":
    sys.exit(main())
