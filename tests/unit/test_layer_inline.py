"""The layer build's inlining of semantic-convention constants (layer/inline_constants.py).

The reference is the installed ``opentelemetry-semconv`` package itself: every name the
reader calls a string constant must have that value when the module is imported, and a
rewritten upstream module must bind each name it imported to the module's own value.
"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import opentelemetry.semconv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer.inline_constants import (
    Chains,
    constant_chains,
    rewrite,
    rewrite_namespaces,
    string_constants,
)

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


# The second pass: namespaces of constants read as literals (rewrite_namespaces).


def _chains_of(module: str) -> Chains | None:
    base = SITE.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return constant_chains(path.read_text())
    return None


def test_every_chain_read_from_semconv_has_its_imported_value() -> None:
    """Reference: the installed semconv modules; ``Class.NAME`` and ``Enum.MEMBER.value``
    must give what the reader says they give, for every one of them."""
    checked = 0
    for path in sorted(SEMCONV.rglob("*.py")):
        module = importlib.import_module(_module(path))
        for chain, value in constant_chains(path.read_text()).items():
            found: object = module
            for attribute in chain:
                found = getattr(found, attribute)
            assert found == value, f"{module.__name__}.{'.'.join(chain)}"
            checked += len(chain) > 1
    assert checked > 500  # the deprecated SpanAttributes alone has hundreds


def test_namespaces_are_inlined_only_when_every_use_is_a_literal() -> None:
    source = (
        "from opentelemetry.semconv.m import Plain, Kind, Passed, Rebound\n"
        "from opentelemetry.semconv.pkg import mod\n"
        "a = Plain.A\n"
        "b = Kind.X.value\n"
        "c = mod.C + mod.E.Y.value\n"
        "def f(x):\n"
        "    return Passed.A, g(Passed)\n"  # passed along: kept
        "Rebound = None\n"  # rebound: kept
        "r = Rebound\n"
    )
    chains = {
        "opentelemetry.semconv.m": {
            ("Plain", "A"): "a.a", ("Kind", "X", "value"): "x", ("Passed", "A"): "p",
            ("Rebound", "A"): "r",
        },
        "opentelemetry.semconv.pkg.mod": {("C",): "c", ("E", "Y", "value"): 2},
    }  # fmt: skip
    out = rewrite_namespaces(source, chains.get)
    lines = out.splitlines()
    assert lines[:9] == [
        "from opentelemetry.semconv.m import Passed, Rebound",
        "",
        "a = 'a.a'",
        "b = 'x'",
        "c = 'c' + 2",
        "def f(x):",
        "    return Passed.A, g(Passed)",
        "Rebound = None",
        "r = Rebound",
    ]
    namespace: dict[str, object] = {"__name__": "probe"}
    exec(compile("\n".join(lines[9:]), "t", "exec"), namespace)  # the appended __getattr__
    assert set(namespace["_INLINED_NAMESPACES"]) == {"Plain", "Kind", "mod"}  # type: ignore[arg-type]


def test_a_module_with_its_own_getattr_is_left_alone() -> None:
    source = "from opentelemetry.semconv.m import P\nx = P.A\ndef __getattr__(n):\n    pass\n"
    assert rewrite_namespaces(source, lambda _: {("P", "A"): "a"}) == source


def _plain(value: object) -> bool:
    if value is None or isinstance(value, str | int | float):
        return True
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return isinstance(value, tuple | list | frozenset) and all(_plain(v) for v in value)


@pytest.mark.parametrize(
    "module",
    [
        "opentelemetry.sdk.resources",
        "opentelemetry.instrumentation._semconv",
        "opentelemetry.instrumentation.botocore.extensions.sqs",
        "opentelemetry.instrumentation.botocore.extensions.dynamodb",
    ],
)
def test_a_rewritten_upstream_module_keeps_its_values_and_its_names(module: str) -> None:
    """Reference: the same module, imported unrewritten. Every module-level value of the
    rewritten copy is the original's, and the names that left the import still resolve
    (through the appended ``__getattr__``) to the very objects the original imported."""
    original = importlib.import_module(module)
    path = Path(original.__file__ or "")
    out = rewrite_namespaces(rewrite(path.read_text(), _constants_of), _chains_of)
    assert out != path.read_text()
    assert len(out.splitlines()) >= len(path.read_text().splitlines())
    copy = types.ModuleType(module + "_rewritten")
    copy.__dict__["__file__"] = str(path)
    exec(compile(out, str(path), "exec"), copy.__dict__)
    compared = 0
    for name, value in vars(original).items():
        if name.lstrip("_").isupper() and _plain(value):  # constants, not module state
            assert getattr(copy, name) == value, name
            compared += 1
    assert compared
    for name in copy.__dict__["_INLINED_NAMESPACES"]:
        assert getattr(copy, name) is getattr(original, name), name
