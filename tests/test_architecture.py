"""The layout's rules, checked on the import graph (grimp, the engine of import-linter)
and on the source: what each part of elman may import, what it may name, and no import
cycle anywhere.

    nn/            numpy and nn/ only
    data/          errors and data/ only (and the standard library, numpy)
    shared parts   never a model kind, a leaf or cli/ (config, checkpoint, training,
                   runs, registry, kinds, sampling, torch_names, blocks/, and every other
                   top-level module but the package's index and __main__), and no string
                   in them (docstrings aside) is a registered kind's name: they reach the
                   kinds through elman.registry only
    model kinds    never cli/, a leaf or another kind (lm/, classify/, tag/, ...: the
                   packages of the registered kinds)
    leaves         optional parts above the kinds (serve/, insight/, torch_backend/,
                   onnx_export/): nothing
                   but cli/ and other leaves imports them
    cli/           imported by nothing but the package's __main__
    torch          imported by no module of the package outside an optional backend
    insight/       an optional leaf: imported by nothing but cli/, and it imports no cli/;
                   matplotlib is imported there only
"""

from __future__ import annotations

import ast
import itertools
import sys
from pathlib import Path

import grimp
import pytest

from elman import registry

ROOT = "elman"
SRC = Path(__file__).resolve().parents[1] / "src"
INDEX = {"elman", "elman.__main__"}  # the package's index (lazy names) and the command's entry
BACKENDS = ("elman.torch_backend", "elman.onnx_export")  # the only places torch is imported
LEAVES = ("elman.serve", "elman.insight", *BACKENDS)
CLI = "elman.cli"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(ROOT, include_external_packages=True)


def ours(graph: grimp.ImportGraph) -> list[str]:
    return sorted(m for m in graph.modules if m == ROOT or m.startswith(ROOT + "."))


def imports(graph: grimp.ImportGraph, module: str) -> set[str]:
    return graph.find_modules_directly_imported_by(module)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def kinds() -> list[str]:
    """The packages of the registered kinds (each registration's implementation's)."""
    return sorted({r.implementation.rsplit(".", 1)[0] for r in registry.registrations().values()})


def shared(m: str) -> bool:
    forbidden = [*kinds(), *LEAVES, CLI]
    return m not in INDEX and not any(within(m, p) for p in forbidden)


def strings(source: str) -> set[str]:
    """The string constants of a module's source, but its docstrings."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def source_of(module: str) -> str:
    path = SRC / module.replace(".", "/")
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()


def kind_names_in(modules: dict[str, str]) -> list[str]:
    """``module: name`` for each registered kind's name that a module's code names."""
    names = set(registry.registrations())
    return [
        f"{m}: {name}" for m, source in modules.items() for name in sorted(strings(source) & names)
    ]


def violations(graph, sources, allowed) -> list[str]:
    """Imports from modules for which ``sources(m)`` holds that ``allowed(source, target)``
    refuses, as "a -> b" lines."""
    return [
        f"{m} -> {target}"
        for m in ours(graph)
        if sources(m)
        for target in sorted(imports(graph, m))
        if not allowed(m, target)
    ]


def test_nn_imports_only_numpy_and_nn(graph):
    found = violations(
        graph,
        lambda m: within(m, "elman.nn"),
        lambda m, t: within(t, "elman.nn") or t == "numpy" or t in STDLIB,
    )
    assert not found, found


def test_data_imports_only_errors_and_data(graph):
    found = violations(
        graph,
        lambda m: within(m, "elman.data"),
        lambda m, t: (
            within(t, "elman.data")
            or t in ("elman.errors", "numpy", "sentencepiece")  # sentencepiece: subword pieces
            or t in STDLIB
        ),
    )
    assert not found, found


def test_shared_modules_never_import_a_model_kind_a_leaf_or_the_cli(graph):
    kind_packages = kinds()
    assert {"elman.lm", "elman.classify", "elman.tag", "elman.translate"} <= set(kind_packages)
    forbidden = [*kind_packages, *LEAVES, CLI]
    found = violations(graph, shared, lambda m, t: not any(within(t, p) for p in forbidden))
    assert not found, found


def test_shared_modules_name_no_kind(graph):
    """A kind's name in a shared module's code is a coupling the import graph cannot see
    (the shared config once listed the kinds' commands by name): only the registry knows
    the kinds, and it names none."""
    modules = {m: source_of(m) for m in ours(graph) if shared(m)}
    assert "elman.runs" in modules and "elman.checkpoint" in modules
    found = kind_names_in(modules)
    assert not found, found


def test_the_naming_rule_can_fail():
    """A shared module that compares a kind with its name is reported; the same name in a
    docstring is not."""
    named = (
        'def is_classifier(config):\n    """Whether config says classifier."""\n'
        '    return config["kind"] == "classifier"\n'
    )
    assert kind_names_in({"elman.example": named}) == ["elman.example: classifier"]
    assert kind_names_in({"elman.example": '"""A classifier."""\n'}) == []


def test_model_kinds_never_import_the_cli_a_leaf_or_each_other(graph):
    for kind in kinds():
        others = [p for p in kinds() if p != kind] + [*LEAVES, CLI]
        found = violations(
            graph,
            lambda m, kind=kind: within(m, kind),
            lambda m, t, others=others: not any(within(t, p) for p in others),
        )
        assert not found, found


def test_only_the_cli_and_leaves_import_leaves_and_only_main_imports_the_cli(graph):
    def allowed(m: str, t: str) -> bool:
        if within(t, CLI):
            return within(m, CLI) or m == "elman.__main__"
        if any(within(t, leaf) for leaf in LEAVES):
            return within(m, CLI) or any(within(m, leaf) for leaf in LEAVES)
        return True

    found = violations(graph, lambda m: True, allowed)
    assert not found, found


def test_matplotlib_only_in_the_insight_leaf(graph):
    found = violations(
        graph,
        lambda m: not within(m, "elman.insight"),
        lambda m, t: not within(t, "matplotlib"),
    )
    assert not found, found
    assert "matplotlib" in imports(graph, "elman.insight.plots")  # the rule sees real edges
    assert "elman.insight" in imports(graph, "elman.cli.inspect")


def test_nothing_outside_a_backend_imports_torch(graph):
    found = violations(
        graph,
        lambda m: not any(within(m, b) for b in BACKENDS),
        lambda m, t: not within(t, "torch"),
    )
    assert not found, found


def test_no_import_cycle(graph):
    """Tarjan's strongly connected components of the package's import graph: every one
    a single module."""
    modules = ours(graph)
    edges = {m: {t for t in imports(graph, m) if t in modules} for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = itertools.count()

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    assert not cycles, cycles


def test_the_rules_can_fail(graph):
    """The checks see real edges (the language model's kind imports the shared runs,
    which import the loop), and a forbidden edge added to a copy of the graph is reported."""
    assert "elman.runs" in imports(graph, "elman.lm.kind")
    assert "elman.training" in imports(graph, "elman.runs")
    graph.add_import(importer="elman.nn.lstm", imported="elman.config")
    try:
        found = violations(
            graph,
            lambda m: within(m, "elman.nn"),
            lambda m, t: within(t, "elman.nn") or t == "numpy" or t in STDLIB,
        )
    finally:
        graph.remove_import(importer="elman.nn.lstm", imported="elman.config")
    assert found == ["elman.nn.lstm -> elman.config"]
