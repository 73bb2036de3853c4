"""The layer build's inlining of semantic-convention constants (layer/inline_constants.py).

The reference is the installed ``opentelemetry-semconv`` package itself: every name the
reader calls a string constant must have that value when the module is imported, and a
rewritten upstream module must bind each name it imported to the module's own value.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import opentelemetry.semconv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer.inline_constants import rewrite, string_constants

SEMCONV = Path(opentelemetry.semconv.__file__).parent
SITE = SEMCONV.parent.parent  # the directory holding the opentelemetry namespace


def _module(path: Path) -> str:
    parts = path.relative_to(SITE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _constants_of(module: str) -> dict[str, str] | None:
    base = SITE.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return string_constants(path.read_text())
    return None


def test_every_constant_read_from_semconv_has_its_imported_value() -> None:
    checked = 0
    for path in sorted(SEMCONV.rglob("*.py")):
        module = importlib.import_module(_module(path))
        for name, value in string_constants(path.read_text()).items():
            assert getattr(module, name) == value, f"{module.__name__}.{name}"
            checked += 1
    assert checked > 1000  # the attribute modules hold thousands


def test_names_that_are_not_plain_strings_are_left_to_the_import() -> None:
    source = (
        "from enum import Enum\n"
        "A: Final = 'a'\n"
        "B = 'b'\n"
        "B = 'b2'\n"  # bound twice: not certain
        "class C(Enum):\n    X = 'x'\n"
        "def D():\n    return 'd'\n"
        "E = f'{A}'\n"
        "if True:\n    F = 'f'\n"
        "F = 'f0'\n"
    )
    assert string_constants(source) == {"A": "a"}
    assert string_constants("from x import *\nA = 'a'\n") == {}


def test_a_rewrite_keeps_line_numbers_and_what_is_not_a_string() -> None:
    source = (
        "import os\n"
        "from opentelemetry.semconv.attrs import (\n"
        "    A,\n"
        "    B as BEE,\n"
        "    Klass,\n"
        ")\n"
        "from other import A as OTHER\n"
        "x = 1\n"
    )
    out = rewrite(source, lambda module: {"A": "a", "B": "b"} if module.endswith("attrs") else None)
    assert out.splitlines()[6:] == source.splitlines()[6:]
    assert len(out.splitlines()) == len(source.splitlines())
    assert out.splitlines()[1:6] == [
        "from opentelemetry.semconv.attrs import Klass",
        "A = 'a'",
        "BEE = 'b'",
        "",
        "",
    ]


@given(st.lists(st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True), min_size=1, max_size=12,
                unique=True), st.integers(1, 4))  # fmt: skip
def test_any_number_of_names_fits_the_statement_lines(names: list[str], per_line: int) -> None:
    lines = [", ".join(names[i : i + per_line]) for i in range(0, len(names), per_line)]
    source = "from opentelemetry.semconv.m import (\n" + ",\n".join(lines) + ",\n)\nz = 2\n"
    out = rewrite(source, lambda _: {n: n.lower() for n in names})
    assert len(out.splitlines()) == len(source.splitlines())
    namespace: dict[str, object] = {}
    exec(compile(out, "t", "exec"), namespace)
    assert {n: namespace[n] for n in names} == {n: n.lower() for n in names}
    assert namespace["z"] == 2


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (SITE / "opentelemetry").rglob("*.py")
           if not p.is_relative_to(SEMCONV) and "opentelemetry.semconv" in p.read_text()),
    ids=_module,
)  # fmt: skip
def test_each_upstream_module_rewritten_binds_the_modules_own_values(path: Path) -> None:
    source = path.read_text()
    out = rewrite(source, _constants_of)
    original = {  # name bound -> (module, name) for every semconv import
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.parse(source).body
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("opentelemetry.semconv")
        for alias in node.names
    }
    rewritten = {
        node.targets[0].id: node.value.value
        for node in ast.parse(out).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant) and node.targets[0].id in original
    }  # fmt: skip
    for bound, value in rewritten.items():
        module, name = original[bound]
        assert getattr(importlib.import_module(module), name) == value, bound
    assert len(out.splitlines()) == len(source.splitlines())
