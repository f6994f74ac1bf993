"""The house keeps its shape: the import graph of src/astrid has no cycle and points only down.

A small checker in the spirit of import-linter's layer contracts, on the stdlib ``ast`` only.
Every module of the package is parsed; every ``import`` counts, wherever it stands (module level,
inside a function, under ``if TYPE_CHECKING:``), because each is a dependency a reader has to
follow. Relative imports are resolved against the importing module.

Besides import statements, a module can reach another one *by name*: a string such as
``"astrid.backends.otlp:OTLPBackend"`` handed to ``importlib.import_module`` later. Those lookups
are collected too. They do not make cycles (nothing is imported until a user asks for the name),
but they must point down like an import, except for the lookups listed in
``BY_NAME_EXCEPTIONS`` below, each with its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

#: The layers of the package, top to bottom (docs/architecture.md, "Layers"). A module may import
#: modules of its own layer and of every layer below it, never one above. Cycles are refused
#: separately, so "its own layer" does not allow two modules to lean on each other.
LAYERS: Sequence[Tuple[str, Sequence[str]]] = (
    # applications built on the SDK: they may use everything, nothing in the SDK uses them
    ("applications", ("astrid.__main__", "astrid.cli", "astrid.demo", "astrid.integrations", "astrid.inspector")),
    # the public surface: re-exports, init() and the track_* shortcuts of the default client
    ("facade", ("astrid",)),
    ("client", ("astrid.client", "astrid.spans")),
    ("pipeline", ("astrid.pipeline", "astrid.aggregation")),
    ("delivery", ("astrid.delivery", "astrid.spool")),
    # the core export types first, then the helpers and the plugins that use them
    ("export", ("astrid.export", "astrid.resilience", "astrid.transport", "astrid.backends")),
    ("encoding", ("astrid.encoding",)),
    (
        "foundation",
        (
            "astrid.privacy",
            "astrid.records",
            "astrid.config",
            "astrid.consent",
            "astrid.network",
            "astrid.signing",
            "astrid._logging",
            "astrid._version",
        ),
    ),
)

#: Modules outside the plugin package that may never import it: plugins depend on the core,
#: never the reverse (``astrid.backends`` re-exports the core types for users; the core itself
#: imports them from ``astrid.export``).
CORE_FORBIDDEN_FROM_PLUGINS = ("astrid.backends",)
CORE_ALLOWED_TO_USE_PLUGINS = ("astrid.backends", "astrid.cli", "astrid.demo", "astrid.integrations", "astrid.inspector")

#: Lookups by name that point up or into the plugins, on purpose:
BY_NAME_EXCEPTIONS: Dict[Tuple[str, str], str] = {
    # the backend registry maps `backend="otlp"` to "astrid.backends.otlp:OTLPBackend" and
    # imports that module only when a client asks for it: a plugin lookup, not a dependency
    # of the core on the plugins (the plugin modules import the core, never the reverse)
    ("astrid.export", "astrid.backends.console"): "registry of built-in backends",
    ("astrid.export", "astrid.backends.file"): "registry of built-in backends",
    ("astrid.export", "astrid.backends.memory"): "registry of built-in backends",
    ("astrid.export", "astrid.backends.otlp"): "registry of built-in backends",
    ("astrid.export", "astrid.backends.clickhouse"): "registry of built-in backends",
    ("astrid.export", "astrid.backends.http"): "registry of built-in backends",
    # `astrid.TelemetryHandler` and `astrid.install_excepthook` are re-exported lazily by name:
    # `import astrid` never imports the integrations, which sit on top of the facade
    ("astrid", "astrid.integrations"): "lazy re-export of the integrations' public names",
}

_BY_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?::[A-Za-z_][A-Za-z0-9_]*)?$")


class Import:
    __slots__ = ("source", "target", "line", "by_name")

    def __init__(self, source: str, target: str, line: int, by_name: bool = False) -> None:
        self.source = source
        self.target = target
        self.line = line
        self.by_name = by_name

    def where(self, root: Path) -> str:
        return "%s:%d" % (module_path(root, self.source), self.line)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_path(root: Path, name: str) -> str:
    base = root.joinpath(*name.split("."))
    if (base / "__init__.py").exists():
        return str((base / "__init__.py").relative_to(root.parent))
    return str(base.with_suffix(".py").relative_to(root.parent))


def find_modules(root: Path, package: str) -> Dict[str, Path]:
    """Every module of ``package`` under ``root`` (a src directory), by dotted name."""
    return {module_name(root, p): p for p in sorted((root / package).rglob("*.py"))}


def _resolve(source: str, is_package: bool, level: int, module: Optional[str]) -> str:
    if level == 0:
        return module or ""
    parts = source.split(".")
    if not is_package:
        parts.pop()
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    if module:
        parts.append(module)
    return ".".join(parts)


def imports_of(name: str, path: Path, modules: Dict[str, Path], package: str) -> List[Import]:
    """The imports of one module that land in ``package``: to the most precise module named."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: List[Import] = []

    def known(target: str) -> Optional[str]:
        # `import astrid.backends.otlp.OTLPBackend` style names: the longest prefix that is a module
        parts = target.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in modules:
                return candidate
            parts.pop()
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    target = known(alias.name)
                    if target:
                        found.append(Import(name, target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            if not (base == package or base.startswith(package + ".")):
                continue
            for alias in node.names:
                sub = "%s.%s" % (base, alias.name)
                target = sub if sub in modules else known(base)
                if target:
                    found.append(Import(name, target, node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = _BY_NAME.match(node.value)
            # only a string that names a module exactly ("astrid.record.type" is an attribute key)
            if m and m.group(1) in modules and m.group(1) != name:
                found.append(Import(name, m.group(1), node.lineno, by_name=True))
    unique: Dict[Tuple[str, int, bool], Import] = {}
    for i in found:
        if i.target != name:
            unique.setdefault((i.target, i.line, i.by_name), i)
    return list(unique.values())


def import_graph(root: Path, package: str) -> Tuple[Dict[str, Path], List[Import]]:
    modules = find_modules(root, package)
    edges: List[Import] = []
    for name, path in modules.items():
        edges.extend(imports_of(name, path, modules, package))
    return modules, edges


def find_cycles(modules: Iterable[str], edges: Sequence[Import]) -> List[List[str]]:
    """The import cycles (by-name lookups excluded), each as a path that ends where it starts."""
    graph: Dict[str, Set[str]] = {m: set() for m in modules}
    for e in edges:
        if not e.by_name:
            graph.setdefault(e.source, set()).add(e.target)
    # Tarjan's strongly connected components; a component of two or more modules is a cycle
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: List[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    # the shortest cycle through each module of a component, each cycle shown once
    cycles: List[List[str]] = []
    seen: Set[Tuple[str, ...]] = set()
    for comp in components:
        for start in comp:
            cycle = _one_cycle(graph, set(comp), start)
            key = tuple(sorted(set(cycle)))
            if key not in seen:
                seen.add(key)
                cycles.append(cycle)
    return cycles


def _one_cycle(graph: Dict[str, Set[str]], members: Set[str], start: str) -> List[str]:
    # shortest way back to the start inside the component (breadth first): the cycle to show
    previous: Dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for w in sorted(graph.get(node, ())):
            if w not in members:
                continue
            if w == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if w not in previous:
                previous[w] = node
                queue.append(w)
    return [start]  # pragma: no cover


def layer_of(module: str, layers: Sequence[Tuple[str, Sequence[str]]]) -> Optional[int]:
    best: Optional[Tuple[int, int]] = None
    for i, (_, members) in enumerate(layers):
        for m in members:
            # "astrid" names the facade (astrid/__init__.py) only; "astrid.backends" its whole package
            matches = module == m or ("." in m and module.startswith(m + "."))
            if matches and (best is None or len(m) > best[1]):
                best = (i, len(m))
    return None if best is None else best[0]


def layer_violations(
    edges: Sequence[Import],
    layers: Sequence[Tuple[str, Sequence[str]]],
    root: Path,
    exceptions: Dict[Tuple[str, str], str],
) -> List[str]:
    problems = []
    for e in edges:
        if (e.source, e.target) in exceptions and e.by_name:
            continue
        src, dst = layer_of(e.source, layers), layer_of(e.target, layers)
        if src is None or dst is None or dst >= src:
            continue
        problems.append(
            "%s: %s imports %s%s, but layer %r (%s) sits below layer %r (%s): imports only point down"
            % (
                e.where(root),
                e.source,
                e.target,
                " (by name)" if e.by_name else "",
                layers[src][0],
                e.source,
                layers[dst][0],
                e.target,
            )
        )
    return problems


def unplaced(modules: Iterable[str], layers: Sequence[Tuple[str, Sequence[str]]]) -> List[str]:
    return sorted(m for m in modules if layer_of(m, layers) is None)


def cycle_messages(cycles: List[List[str]], edges: Sequence[Import], root: Path) -> List[str]:
    lines = {(e.source, e.target): e for e in edges if not e.by_name}
    out = []
    for cycle in cycles:
        steps = []
        for a, b in zip(cycle, cycle[1:]):
            e = lines.get((a, b))
            steps.append("%s -> %s (%s)" % (a, b, e.where(root) if e else "?"))
        out.append("import cycle: " + "; ".join(steps))
    return out


# ---------------------------------------------------------------------------- the package


@pytest.fixture(scope="module")
def graph() -> Tuple[Dict[str, Path], List[Import]]:
    return import_graph(SRC, "astrid")


def test_every_module_has_a_layer(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    modules, _ = graph
    assert unplaced(modules, LAYERS) == [], "add these modules to a layer in LAYERS (and to docs/architecture.md)"


def test_the_package_has_no_import_cycle(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    modules, edges = graph
    problems = cycle_messages(find_cycles(modules, edges), edges, SRC)
    assert not problems, "\n".join(problems)


def test_imports_only_point_down_the_layers(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    _, edges = graph
    problems = layer_violations(edges, LAYERS, SRC, BY_NAME_EXCEPTIONS)
    assert not problems, "\n".join(problems)


def test_no_module_imports_the_package_facade(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    # `from . import _helper` in a core module runs astrid/__init__.py first: a hidden cycle
    # through the facade. Only the applications on top may use the facade (the default client).
    _, edges = graph
    apps = LAYERS[0][1]
    problems = [
        "%s: %s imports the package facade `astrid`; import the module that defines the name"
        % (e.where(SRC), e.source)
        for e in edges
        if e.target == "astrid" and layer_of(e.source, LAYERS) != 0 and e.source not in apps
    ]
    assert not problems, "\n".join(problems)


def test_the_core_never_imports_the_backends(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    _, edges = graph
    problems = []
    for e in edges:
        if not any(e.target == p or e.target.startswith(p + ".") for p in CORE_FORBIDDEN_FROM_PLUGINS):
            continue
        if e.source == "astrid" or any(e.source == p or e.source.startswith(p + ".") for p in CORE_ALLOWED_TO_USE_PLUGINS):
            continue
        if e.by_name and (e.source, e.target) in BY_NAME_EXCEPTIONS:
            continue
        problems.append(
            "%s: core module %s imports the plugin package %s; import the core types from astrid.export"
            % (e.where(SRC), e.source, e.target)
        )
    assert not problems, "\n".join(problems)


def test_the_by_name_exceptions_are_still_needed(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    # an exception nobody uses any more is a hole waiting for a new violation
    _, edges = graph
    used = {(e.source, e.target) for e in edges if e.by_name}
    assert sorted(set(BY_NAME_EXCEPTIONS) - used) == []


def test_the_event_path_is_reachable_top_down(graph: Tuple[Dict[str, Path], List[Import]]) -> None:
    # track_event -> pipeline -> delivery -> export -> backends/otlp -> encoding -> transport
    _, edges = graph
    imports = {(e.source, e.target) for e in edges}
    for step in (
        ("astrid.client", "astrid.pipeline"),
        ("astrid.pipeline", "astrid.delivery"),
        ("astrid.delivery", "astrid.export"),
        ("astrid.backends.otlp", "astrid.export"),
        ("astrid.backends.otlp", "astrid.transport"),
    ):
        assert step in imports, "expected %s to import %s" % step


def test_the_core_types_stay_importable_from_the_backends_package() -> None:
    import astrid
    import astrid.backends as plugins
    import astrid.export as core

    for name in ("Backend", "BaseBackend", "Batch", "ExportResult", "register_backend", "create_backends",
                 "check_backend_spec", "check_backend_options", "backend_name", "backend_names"):
        assert getattr(plugins, name) is getattr(core, name), name
    for name in ("Backend", "BaseBackend", "Batch", "ExportResult", "register_backend"):
        assert getattr(astrid, name) is getattr(core, name), name


def test_the_architecture_page_lists_the_same_layers() -> None:
    # docs/architecture.md shows LAYERS to readers: the same layers, in the same order, same modules
    page = (SRC.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = page.split("## Layers", 1)[1].split("\n## ", 1)[0]
    documented = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("Layer", "---"):
            continue
        modules = set()
        for name in re.findall(r"`([^`]+)`", cells[1]):
            name = name[: -len("/__init__.py")] if name.endswith("/__init__.py") else name
            name = name.rstrip("/")
            name = name[: -len(".py")] if name.endswith(".py") else name
            modules.add(name if name == "astrid" else "astrid." + name)
        documented.append((cells[0], modules))
    assert documented == [(name, set(members)) for name, members in LAYERS]


# ---------------------------------------------------------------------------- the checker itself


def _package(tmp_path: Path, files: Dict[str, str]) -> Path:
    root = tmp_path / "src"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


_TINY_LAYERS = (("top", ("pkg.top",)), ("mid", ("pkg.mid", "pkg.sub")), ("low", ("pkg.low", "pkg")))



def test_checker_finds_a_new_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/mid.py": "from . import low\n",
            "pkg/low.py": "def f():\n    from .mid import thing\n",
        },
    )
    modules, edges = import_graph(root, "pkg")
    messages = cycle_messages(find_cycles(modules, edges), edges, root)
    assert len(messages) == 1
    assert "pkg.low -> pkg.mid (src/pkg/low.py:2)" in messages[0]
    assert "pkg.mid -> pkg.low (src/pkg/mid.py:1)" in messages[0]


def test_checker_counts_type_checking_imports_and_resolves_parent_levels(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/top.py": "import pkg.sub.leaf\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/leaf.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..top import X\n",
        },
    )
    modules, edges = import_graph(root, "pkg")
    assert {(e.source, e.target) for e in edges} == {("pkg.top", "pkg.sub.leaf"), ("pkg.sub.leaf", "pkg.top")}
    assert find_cycles(modules, edges) == [["pkg.sub.leaf", "pkg.top", "pkg.sub.leaf"]]
    problems = layer_violations(edges, _TINY_LAYERS, root, {})
    assert len(problems) == 1
    assert problems[0].startswith("src/pkg/sub/leaf.py:3: pkg.sub.leaf imports pkg.top")
    assert "layer 'mid'" in problems[0] and "layer 'top'" in problems[0]


def test_checker_refuses_an_upward_lookup_by_name_unless_excepted(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from . import low\n",
            "pkg/top.py": "from .low import x\n",
            "pkg/low.py": "import importlib\nNAMES = {'t': 'pkg.top:Thing'}\nLOGGER = 'pkg'\n",
        },
    )
    modules, edges = import_graph(root, "pkg")
    assert find_cycles(modules, edges) == []  # a lookup by name is no cycle
    problems = layer_violations(edges, _TINY_LAYERS, root, {})
    assert len(problems) == 1 and "pkg.low imports pkg.top (by name)" in problems[0]
    assert layer_violations(edges, _TINY_LAYERS, root, {("pkg.low", "pkg.top"): "plugin lookup"}) == []


def test_checker_sees_an_import_of_the_package_itself(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from .low import helper\n",
            "pkg/low.py": "from . import _silence\n\ndef helper():\n    pass\n",
        },
    )
    modules, edges = import_graph(root, "pkg")
    assert ("pkg.low", "pkg") in {(e.source, e.target) for e in edges}
    assert find_cycles(modules, edges) == [["pkg", "pkg.low", "pkg"]]


def test_checker_leaves_a_clean_package_alone(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from .top import run\n",
            "pkg/top.py": "from .mid import step\nfrom . import sub\n",
            "pkg/mid.py": "import os\nfrom .low import base\n",
            "pkg/sub/__init__.py": "from ..low import base\n",
            "pkg/low.py": "import json\n",
        },
    )
    modules, edges = import_graph(root, "pkg")
    layers = (("facade", ("pkg",)), ("top", ("pkg.top",)), ("mid", ("pkg.mid", "pkg.sub")), ("low", ("pkg.low",)))
    assert find_cycles(modules, edges) == []
    assert unplaced(modules, layers) == []
    assert layer_violations(edges, layers, root, {}) == []
