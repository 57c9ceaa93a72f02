"""The package's shape, from its source: no import cycles, and no layer imports a layer above it.

Layers, lowest first: shared helpers (`tether._*`, `tether.errors`) -> data and networks -> environments,
the zoo and dataset sources -> learners -> offline evaluation and the audit -> the workflow -> the
report -> the command line and the d3rlpy port. Imports inside functions count (they still tie the
layers together); imports under `if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "tether"
LAYERS = [
    ("tether", "tether._atomic", "tether._env_ids", "tether._progress", "tether._protobuf", "tether._types",
     "tether._validate", "tether.errors"),
    ("tether.data", "tether.nets", "tether.logging"),
    ("tether.envs", "tether.zoo", "tether.datasets", "tether.sources", "tether.dynamics"),
    ("tether.algos", "tether.export"),
    ("tether.ope", "tether.audit", "tether.imitation"),
    ("tether.workflow",),
    ("tether.report",),
    ("tether.cli", "tether.d3rlpy"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module):
    """Import nodes, skipping the bodies of `if TYPE_CHECKING:` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    """`module -> {tether modules it imports}` for every module under src/tether."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                # `from package import submodule` imports the submodule; `from module import name`, the module
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> int:
    best = None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (level, len(prefix))
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[0]


def test_cycle_finder_finds_a_known_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_layer_imports_a_layer_above_it():
    upward = sorted(f"{module} -> {target}" for module, targets in import_graph().items() for target in targets
                    if module != "tether" and layer_of(target) > layer_of(module))
    assert upward == []


def test_the_d3rlpy_port_offers_every_registered_algorithm_under_its_config_name():
    from tether.algos.registry import ALGORITHMS
    from tether.d3rlpy import algos as ported

    for spec in ALGORITHMS.values():  # d3rlpy's names are tether's config class names
        assert getattr(ported, spec.config_cls.__name__)().config.get_type() == spec.name
