"""The house as drawn: no import circles in search_spaces / benchmarks / harness, imports only downwards.

The import graph is built from the source with ``ast`` (every ``import``, also inside
functions, since a deferred import is still a dependency; only ``if TYPE_CHECKING:`` blocks,
which never run, are left out). Rules:

- packages: ``search_spaces`` <- ``benchmarks`` <- ``harness`` (a package imports only those left of it);
- inside ``harness``, a sub-package imports only sub-packages of a lower rank (``HARNESS_RANKS``)
  or itself; ``commands`` may import everything, ``cli`` / ``__main__`` / the package's re-exports top it;
- zero circles between modules, package ``__init__`` modules included.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("search_spaces", "benchmarks", "harness")
#: A harness sub-package may import a sub-package of strictly lower rank (or itself).
HARNESS_RANKS = {
    "harness.references": 0, "harness.data": 0, "harness.metrics": 1, "harness.optimizers": 2,
    "harness.protocols": 3, "harness.run": 4, "harness.reporting": 5, "harness.analysis": 6,
    "harness.bench": 7, "harness.recipes": 7, "harness.commands": 8, "harness.cli": 9, "harness.__main__": 10,
    "harness.aggregate": 10, "harness": 10,
}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return mods


def _runtime_nodes(tree: ast.AST):
    """Every node except the bodies of ``if TYPE_CHECKING:`` (imports for annotations only, never executed)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a import b`` counts ``a.b`` when that is a module)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for m, (path, is_pkg) in mods.items():
        out = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out.update(t for a in node.names if (t := resolve(a.name)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = m.split(".") if is_pkg else m.split(".")[:-1]
                    base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                for a in node.names:
                    t = resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in mods else resolve(base)
                    if t:
                        out.add(t)
        out.discard(m)
        graph[m] = out
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def harness_room(module: str) -> str:
    """The ranked room of a harness module (its sub-package, or the module itself at top level)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_packages_import_only_downwards():
    order = {p: i for i, p in enumerate(PACKAGES)}
    bad = [(m, t) for m, ts in import_graph().items() for t in ts
           if order[t.split(".")[0]] > order[m.split(".")[0]]]
    assert bad == []


def test_harness_rooms_import_only_downwards():
    bad = []
    for m, ts in import_graph().items():
        if not m.startswith("harness"):
            continue
        room = harness_room(m)
        assert room in HARNESS_RANKS, f"{m}: harness module outside the drawn rooms ({room})"
        for t in ts:
            if t.startswith("harness") and harness_room(t) != room and \
                    HARNESS_RANKS[harness_room(t)] >= HARNESS_RANKS[room]:
                bad.append(f"{m} -> {t}")
    assert bad == []


@pytest.mark.parametrize("module, names", [
    ("benchmarks", ["load_benchmark", "BENCHMARKS"]),
    ("harness.aggregate", ["load_runs", "load_frame"]),
    ("harness.optimizers", ["OPTIMIZERS", "register_optimizer", "create_optimizer", "list_optimizers"]),
    ("search_spaces", ["SPACES", "get_space", "list_spaces", "register_space"]),
    ("harness", ["RunConfig", "SearchRun", "load_runs", "load_frame"]),
])
def test_public_names_still_import(module, names):
    mod = importlib.import_module(module)
    for n in names:
        assert hasattr(mod, n), f"{module}.{n}"


def test_module_docstrings_open_with_one_line():
    """Every module opens with a docstring whose first line says what it is for; a harness room's
    ``__init__`` also says what it may import."""
    missing, rooms = [], []
    for m, (p, is_pkg) in _modules().items():
        doc = ast.get_docstring(ast.parse(p.read_text())) or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        if not first or len(first) > 140:
            missing.append(m)
        if is_pkg and m.startswith("harness.") and m.count(".") == 1 and "import" not in doc.lower():
            rooms.append(m)
    assert missing == [] and rooms == []
