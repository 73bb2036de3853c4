"""Inline the semantic-convention string constants the upstream packages import.

Why: ``from opentelemetry.semconv._incubating.attributes.db_attributes import DB_NAME``
imports a module of hundreds of constants, deprecation notes and ``Enum`` classes
to read one string. The HTTP and database instrumentations and the SDK do this
from about twenty such modules; at a cold start that is ~6 ms of module
execution (``python -X importtime``: ``opentelemetry.semconv`` is the largest
upstream item after the instrumentations themselves).

The layer build rewrites, in the upstream packages it ships, every top-level
``from opentelemetry.semconv... import A, B as C`` whose names are plain string
constants in the source module (``A: Final = "a.b"``) into ``A = 'a.b'``;
names that are anything else (a class, an ``Enum``, a function) stay imported
from the module, so nothing changes meaning. The rewritten statement keeps its
line count, so tracebacks keep their line numbers.

The semantic-conventions package itself is shipped unchanged: code that imports it
gets the whole module, as before. ``tests/unit/test_layer_inline.py`` checks the
rewrite against the real packages: every inlined name has the value the module
gives it.

    python layer/inline_constants.py DIR   # rewrite DIR's opentelemetry packages
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

PREFIX = "opentelemetry.semconv"


def string_constants(source: str) -> dict[str, str]:
    """The module-level names of ``source`` bound once, to a string literal."""
    found: dict[str, str] = {}
    bound_again: set[str] = set()
    for node in ast.parse(source).body:
        targets: list[ast.expr]
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            for child in ast.walk(node):  # a def, class, import or block may bind a name
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    bound_again.add(child.name)
                elif isinstance(child, ast.alias):
                    if child.name == "*":
                        return {}  # names from elsewhere: nothing is certain
                    bound_again.add((child.asname or child.name).split(".")[0])
                elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                    bound_again.add(child.id)
            continue
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            if target.id in found or target.id in bound_again:
                bound_again.add(target.id)
            elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                found[target.id] = value.value
            else:
                bound_again.add(target.id)
    return {name: text for name, text in found.items() if name not in bound_again}


def rewrite(source: str, constants_of: Callable[[str], dict[str, str] | None]) -> str:
    """``source`` with its semconv string-constant imports inlined.

    ``constants_of(module)`` gives a module's string constants (None: unknown module,
    its import is left alone).
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    for node in tree.body:
        if not (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module is not None
            and (node.module == PREFIX or node.module.startswith(PREFIX + "."))
        ):
            continue
        constants = constants_of(node.module)
        if not constants:
            continue
        inlined: list[str] = []
        kept: list[str] = []
        for alias in node.names:
            bound = alias.asname or alias.name
            if alias.name in constants:
                inlined.append(f"{bound} = {constants[alias.name]!r}")
            else:
                kept.append(alias.name if alias.asname is None else f"{alias.name} as {bound}")
        if not inlined:
            continue
        statements = ([f"from {node.module} import {', '.join(kept)}"] if kept else []) + inlined
        assert node.end_lineno is not None
        count = node.end_lineno - node.lineno + 1
        indent = lines[node.lineno - 1][: node.col_offset]
        if len(statements) <= count:
            body = [indent + s + "\n" for s in statements] + ["\n"] * (count - len(statements))
        else:  # more names than lines: the rest share the last line
            body = [indent + s + "\n" for s in statements[: count - 1]]
            body.append(indent + "; ".join(statements[count - 1 :]) + "\n")
        edits.append((node.lineno - 1, node.end_lineno, "".join(body)))
    for start, end, text in reversed(edits):
        lines[start:end] = [text]
    return "".join(lines)


def inline_tree(python_dir: Path) -> list[Path]:
    """Rewrite every shipped upstream module under ``python_dir``; the files changed."""

    @cache
    def constants_of(module: str) -> dict[str, str] | None:
        relative = Path(*module.split("."))
        for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
            path = python_dir / candidate
            if path.is_file():
                return string_constants(path.read_text(encoding="utf-8"))
        return None

    changed: list[Path] = []
    semconv_dir = python_dir / "opentelemetry" / "semconv"
    for path in sorted((python_dir / "opentelemetry").rglob("*.py")):
        if path.is_relative_to(semconv_dir):
            continue
        source = path.read_text(encoding="utf-8")
        if PREFIX not in source:
            continue
        new = rewrite(source, constants_of)
        if new != source:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for changed_path in inline_tree(Path(sys.argv[1])):
        print(changed_path)
