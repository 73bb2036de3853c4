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

A second pass does the same for names that are namespaces of constants: a class of
string constants (``SpanAttributes.MESSAGING_URL``), a member's value of an ``Enum`` of
literals (``Schemas.V1_21_0.value``), and an attribute module imported as a name
(``db_attributes.DB_SYSTEM``, ``db_attributes.DbSystemValues.DYNAMODB.value``). Each such
expression becomes its literal, but only when every use of the name in the module is
one of them (a name passed along, rebound or read any other way keeps its import). The
name leaves the import, and a module ``__getattr__`` appended at the end (PEP 562) still
gives it to code that asks the module for it, from the semconv module, on first use.
Modules that define a ``__getattr__`` of their own are left alone.

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


def _semconv_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    """The module's top-level ``from opentelemetry.semconv... import`` statements."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.level == 0
        and node.module is not None
        and (node.module == PREFIX or node.module.startswith(PREFIX + "."))
    ]


def rewrite(source: str, constants_of: Callable[[str], dict[str, str] | None]) -> str:
    """``source`` with its semconv string-constant imports inlined.

    ``constants_of(module)`` gives a module's string constants (None: unknown module,
    its import is left alone).
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    for node in _semconv_imports(tree):
        assert node.module is not None
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


#: A literal reachable from a module: the attribute chain after the module -> its value.
Chains = dict[tuple[str, ...], object]


def constant_chains(source: str) -> Chains:
    """The literal expressions a module offers: ``NAME`` (a string constant),
    ``Class.NAME`` (a class whose body binds only string literals) and
    ``Enum.MEMBER.value`` (an ``Enum`` whose members are string or int literals)."""
    chains: Chains = {(name,): value for name, value in string_constants(source).items()}
    defined: dict[str, int] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            defined[node.name] = defined.get(node.name, 0) + 1
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef) or defined[node.name] != 1 or node.keywords:
            continue
        bases = [ast.unparse(base) for base in node.bases]
        if bases not in ([], ["object"], ["Enum"], ["enum.Enum"]):
            continue
        members = _literal_body(node.body, enum=bool(bases) and bases != ["object"])
        if members is None:
            continue
        for member, value in members.items():
            if bases in ([], ["object"]):
                chains[(node.name, member)] = value
            else:
                chains[(node.name, member, "value")] = value
    return chains


def _literal_body(body: list[ast.stmt], enum: bool) -> dict[str, object] | None:
    """A class body's ``NAME = literal`` bindings, or None if it holds anything else."""
    members: dict[str, object] = {}
    for statement in body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            return None
        allowed = (str, int) if enum else (str,)
        if (
            not isinstance(target, ast.Name)
            or target.id in members
            or not isinstance(value, ast.Constant)
            or type(value.value) not in allowed
            or target.id.startswith("_")
        ):
            return None
        members[target.id] = value.value
    if enum and len(set(map(repr, members.values()))) != len(members):
        return None  # aliases: a member's value is another member's
    return members


def rewrite_namespaces(source: str, chains_of: Callable[[str], Chains | None]) -> str:
    """``source`` with each semconv namespace read as a literal (see the module docstring).

    ``chains_of(module)`` gives what :func:`constant_chains` finds in a module (None:
    unknown module).
    """
    tree = ast.parse(source)
    if any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "__getattr__"
        for node in tree.body
    ):
        return source
    imported: dict[str, tuple[ast.ImportFrom, ast.alias, Chains, str]] = {}
    for node in _semconv_imports(tree):
        assert node.module is not None
        module_chains = chains_of(node.module) or {}
        for alias in node.names:
            bound = alias.asname or alias.name
            submodule = chains_of(f"{node.module}.{alias.name}")
            if submodule:  # ``from pkg import module``
                imported[bound] = (node, alias, submodule, f"{node.module}.{alias.name}")
                continue
            chains = {
                chain[1:]: value
                for chain, value in module_chains.items()
                if len(chain) > 1 and chain[0] == alias.name
            }
            if chains:
                imported[bound] = (node, alias, chains, "")
    if not imported:
        return source
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    replacements: dict[str, list[tuple[ast.expr, object]]] = {name: [] for name in imported}
    rejected: set[str] = set()
    for node in ast.walk(tree):
        bound_here = _binding(node)
        if bound_here in imported and not _is_import_of(node, imported[bound_here][0]):
            rejected.add(bound_here)
        if isinstance(node, ast.Global | ast.Nonlocal):
            rejected.update(name for name in node.names if name in imported)
        if not (isinstance(node, ast.Name) and node.id in imported):
            continue
        if not isinstance(node.ctx, ast.Load):
            rejected.add(node.id)
            continue
        chain: list[str] = []
        expression: ast.expr = node
        found: tuple[ast.expr, object] | None = None
        while isinstance(parents.get(expression), ast.Attribute):
            expression = parents[expression]  # type: ignore[assignment]
            assert isinstance(expression, ast.Attribute)
            chain.append(expression.attr)
            value = imported[node.id][2].get(tuple(chain), _MISSING)
            if value is not _MISSING:
                found = (expression, value)
                break
        if (
            found is None
            or found[0].lineno != found[0].end_lineno
            or isinstance(found[0].ctx, ast.Store | ast.Del)  # type: ignore[attr-defined]
        ):
            rejected.add(node.id)
        else:
            replacements[node.id].append(found)
    accepted = [name for name in imported if name not in rejected and replacements[name]]
    if not accepted:
        return source
    lines = source.splitlines(keepends=True)
    edits = sorted(
        ((expr.lineno, expr.col_offset, expr.end_col_offset, repr(value))
         for name in accepted for expr, value in replacements[name]),
        reverse=True,
    )  # fmt: skip
    for lineno, start, end, text in edits:
        line = lines[lineno - 1].encode()
        assert end is not None
        lines[lineno - 1] = (line[:start] + text.encode() + line[end:]).decode()
    # Each accepted name leaves its import statement (same line count, as in rewrite()).
    by_statement: dict[int, list[str]] = {}
    for name in accepted:
        by_statement.setdefault(id(imported[name][0]), []).append(name)
    for statement in sorted(
        {id(imported[n][0]): imported[n][0] for n in accepted}.values(),
        key=lambda s: -s.lineno,
    ):
        dropped = set(by_statement[id(statement)])
        kept = [
            alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            for alias in statement.names
            if (alias.asname or alias.name) not in dropped
        ]
        assert statement.end_lineno is not None
        count = statement.end_lineno - statement.lineno + 1
        indent = lines[statement.lineno - 1][: statement.col_offset]
        text = f"{indent}from {statement.module} import {', '.join(kept)}\n" if kept else "\n"
        lines[statement.lineno - 1 : statement.end_lineno] = [text + "\n" * (count - 1)]
    lazy = {}
    for name in sorted(accepted):
        statement, alias, _, submodule = imported[name]
        lazy[name] = (submodule, "") if submodule else (statement.module or "", alias.name)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.append(
        "\n\n# otel-xray layer: these names were read as literals above "
        "(layer/inline_constants.py);\n"
        "# the module still gives them, imported on first use.\n"
        f"_INLINED_NAMESPACES = {lazy!r}\n\n\n"
        "def __getattr__(name):\n"
        "    if name in _INLINED_NAMESPACES:\n"
        "        import importlib\n\n"
        "        module, attribute = _INLINED_NAMESPACES[name]\n"
        "        found = importlib.import_module(module)\n"
        "        return getattr(found, attribute) if attribute else found\n"
        '    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")\n'
    )
    return "".join(lines)


_MISSING = object()


def _binding(node: ast.AST) -> str | None:
    """The name ``node`` binds, for the binders other than a plain assignment's Name."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.alias):
        return (node.asname or node.name).split(".")[0]
    if isinstance(node, ast.ExceptHandler):
        return node.name
    return None


def _is_import_of(node: ast.AST, statement: ast.ImportFrom) -> bool:
    return isinstance(node, ast.alias) and node in statement.names


def inline_tree(python_dir: Path) -> list[Path]:
    """Rewrite every shipped upstream module under ``python_dir``; the files changed."""

    @cache
    def source_of(module: str) -> str | None:
        relative = Path(*module.split("."))
        for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
            path = python_dir / candidate
            if path.is_file():
                return path.read_text(encoding="utf-8")
        return None

    @cache
    def constants_of(module: str) -> dict[str, str] | None:
        source = source_of(module)
        return None if source is None else string_constants(source)

    @cache
    def chains_of(module: str) -> Chains | None:
        source = source_of(module)
        return None if source is None else constant_chains(source)

    changed: list[Path] = []
    semconv_dir = python_dir / "opentelemetry" / "semconv"
    for path in sorted((python_dir / "opentelemetry").rglob("*.py")):
        if path.is_relative_to(semconv_dir):
            continue
        source = path.read_text(encoding="utf-8")
        if PREFIX not in source:
            continue
        new = rewrite_namespaces(rewrite(source, constants_of), chains_of)
        if new != source:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for changed_path in inline_tree(Path(sys.argv[1])):
        print(changed_path)
