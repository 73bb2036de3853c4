"""The import graph: what ships never imports a dev tool, and no import runs upward.

Static, over the source (every ``import`` statement, including those inside
functions; only ``if TYPE_CHECKING:`` blocks are left out, since they never run).
The layers are the ones ``docs/how-it-works.md`` ("Architecture") draws; the
dev-only list is the one the layer build reads, ``otel_xray.boundary.DEV_ONLY``.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from otel_xray.boundary import DEV_ONLY, is_dev_only

PACKAGE = Path(__file__).resolve().parents[2] / "otel_xray"

#: Bottom to top: a module imports from its own layer or below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("otel_xray.version", "otel_xray.boundary", "otel_xray.settings", "otel_xray.ids",
     "otel_xray.lazy_re", "otel_xray.spans", "otel_xray._deprecated",
     "otel_xray.concurrency", "otel_xray.xray"),
    ("otel_xray.propagation", "otel_xray.xray.segment", "otel_xray.pii", "otel_xray.sampling",
     "otel_xray.resource", "otel_xray.platforms"),
    ("otel_xray.export",),
    ("otel_xray.instrumentation",),
    ("otel_xray.configurator", "otel_xray.distro", "otel_xray.environment_variables"),
    ("otel_xray.annotations", "otel_xray.subsegments"),
    ("otel_xray.bridge",),
    ("otel_xray.awslambda",),
)  # fmt: skip
#: The package's front door: it names the public API lazily, from every layer.
FACADE = "otel_xray"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path) -> set[str]:
    """Every otel_xray module the file imports at run time (absolute and relative)."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_in(source: str, here: str, is_package: bool) -> set[str]:
    """The otel_xray modules ``source`` imports, were it the module ``here``."""
    tree = ast.parse(source)
    package = here if is_package else here.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name == "otel_xray" or name.startswith("otel_xray.")}


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """The layer of the longest listed prefix of ``module`` (None: the facade, or unknown)."""
    best: tuple[int, int] | None = None
    for index, layer in enumerate(LAYERS):
        for name in layer:
            covers = module == name or module.startswith(name + ".")
            if covers and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def dev_only_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not is_dev_only(module)
        for target in targets
        if is_dev_only(target)
    )


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in graph.items():
        if is_dev_only(module) or module == FACADE:
            continue
        own = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                problems.append(f"{module} (layer {own}) imports {target} (layer {theirs})")
    return sorted(problems)


def test_no_shipped_module_imports_a_dev_only_one() -> None:
    graph = import_graph()
    assert any(is_dev_only(m) for m in graph), "the dev-only list names no module here"
    assert dev_only_imports(graph) == []


def test_no_import_runs_upward() -> None:
    assert upward_imports(import_graph()) == []


def test_every_shipped_module_has_a_layer() -> None:
    unplaced = [
        m for m in import_graph() if not is_dev_only(m) and m != FACADE and layer_of(m) is None
    ]
    assert unplaced == [], "add the module to LAYERS (and to docs/how-it-works.md)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from otel_xray.devtools.traces.store import TraceStore\n",
            "otel_xray.devtools.traces.store",
        ),
        ("def f():\n    from otel_xray import testing\n", "otel_xray.testing"),
        ("import otel_xray.devtools.cli\n", "otel_xray.devtools.cli"),
        ("from ..devtools import cli\n", "otel_xray.devtools"),
        ("if TYPE_CHECKING:\n    from otel_xray.devtools import traces\n", None),
        ("from otel_xray.export import Deadline\n", None),
    ],
)
def test_the_dev_only_check_sees_every_way_of_importing(source: str, expected: str | None) -> None:
    """It can fail: a dev-only import, written any way that runs, is caught."""
    probe = "otel_xray.export.probe"
    found = dev_only_imports({probe: imports_in(source, probe, is_package=False)})
    if expected is None:
        assert found == []
    else:
        assert f"{probe} imports {expected}" in found


def test_the_layer_check_catches_an_upward_import() -> None:
    graph = {"otel_xray.settings": imports_in("import otel_xray.configurator\n", "x", False)}
    assert upward_imports(graph) == [
        "otel_xray.settings (layer 0) imports otel_xray.configurator (layer 4)"
    ]


def test_the_layer_build_leaves_out_what_the_list_names() -> None:
    """``layer/build.py`` decides by the same list (the e2e layer tests check the zip)."""

    build_py = PACKAGE.parent / "layer" / "build.py"
    spec = importlib.util.spec_from_file_location("layer_build", build_py)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert not build._shipped(PACKAGE / "devtools")
    assert not build._shipped(PACKAGE / "testing.py")
    assert build._shipped(PACKAGE / "export" / "otlp.py")
    assert all(build._shipped(p) for p in PACKAGE.rglob("*.py") if not is_dev_only(module_name(p)))
    assert DEV_ONLY  # the list the build reads is not empty
