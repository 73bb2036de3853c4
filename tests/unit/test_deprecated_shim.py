"""otel_xray._deprecated against its reference, ``typing_extensions.deprecated``.

The layer build points the OpenTelemetry packages' ``from typing_extensions import
deprecated`` at otel_xray._deprecated (layer/build.py). Reference: typing_extensions
4.x, ``deprecated.__call__`` (and CPython 3.13's ``warnings.deprecated``, which the shim
returns there): each scenario runs with both decorators and must give the same
results, the same warnings (text, category, file and line: the stack level) and the
same errors.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import typing_extensions

from otel_xray._deprecated import deprecated as shim

IMPLEMENTATIONS = {"typing_extensions": typing_extensions.deprecated, "otel-xray": shim}


def _run(scenario: Callable[[Any], Any], decorator: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = ("returned", scenario(decorator))
        except TypeError as error:
            result = ("raised", type(error).__name__, str(error))
    return result, [(str(w.message), w.category, w.lineno) for w in caught]


def _function(d: Any) -> Any:
    @d("use g")
    def f(x: int, *, y: int = 2) -> int:
        return x + y

    return f(1, y=3), f.__deprecated__, f.__name__, f.__wrapped__.__deprecated__


def _stacklevel(d: Any) -> Any:
    @d("deep", stacklevel=2, category=FutureWarning)
    def f() -> int:
        return 7

    def caller() -> int:
        return f()

    return caller()


def _coroutine(d: Any) -> Any:
    @d("async too")
    async def f() -> int:
        return 5

    return inspect.iscoroutinefunction(f), asyncio.run(f())


def _plain_class(d: Any) -> Any:
    @d("old class")
    class Old:
        pass

    class Child(Old):  # warns: subclassing
        pass

    Child()  # does not warn: not the deprecated class itself
    return type(Old()).__name__, Old.__deprecated__


def _class_with_init(d: Any) -> Any:
    @d("old with args")
    class Old:
        def __init__(self, value: int) -> None:
            self.value = value

    return Old(4).value


def _no_arguments(d: Any) -> Any:
    @d("takes nothing")
    class Old:
        pass

    return Old(1)


def _own_new_and_init_subclass(d: Any) -> Any:
    seen: list[str] = []

    @d("custom")
    class Old:
        def __new__(cls, *args: Any) -> Any:
            seen.append("new")
            return super().__new__(cls)

        def __init_subclass__(cls, **kwargs: Any) -> None:
            seen.append(f"sub {kwargs}")
            super().__init_subclass__()

    class Child(Old, flag=1):  # type: ignore[call-arg]
        pass

    Old(1, 2)
    return seen


def _no_category(d: Any) -> Any:
    @d("quiet", category=None)
    def f() -> int:
        return 1

    return f(), f.__deprecated__


def _bad_message(d: Any) -> Any:
    return d(42)


def _not_callable(d: Any) -> Any:
    return d("x")(3)


@pytest.mark.parametrize(
    "scenario",
    [_function, _stacklevel, _coroutine, _plain_class, _class_with_init, _no_arguments,
     _own_new_and_init_subclass, _no_category, _bad_message, _not_callable],
    ids=lambda f: f.__name__.strip("_"),
)  # fmt: skip
def test_the_shim_behaves_as_typing_extensions(scenario: Callable[[Any], Any]) -> None:
    reference = _run(scenario, IMPLEMENTATIONS["typing_extensions"])
    assert _run(scenario, IMPLEMENTATIONS["otel-xray"]) == reference
    assert reference[0][0] == "raised" or reference[1] or scenario is _no_category
