"""``@deprecated`` (PEP 702) for the OpenTelemetry packages the Lambda layer ships.

Why: the OpenTelemetry API and SDK import ``deprecated`` from ``typing_extensions``, a
module of ~3,000 lines, to mark a handful of old names; at a cold start that import
is ~2 ms of the layer's cost (``python -X importtime``), on every function, for
warnings that only code using those old names ever sees. The layer build
(``layer/build.py``, ``_without_typing_extensions``) points those imports here instead.

Python 3.13 has the decorator in the standard library (``warnings.deprecated``, which
``typing_extensions`` itself re-exports there), and this module gives that one. On 3.11
and 3.12 it gives a decorator with the same behaviour, written after PEP 702 and
CPython's ``warnings.deprecated``: a deprecated function warns when called, a
deprecated class when instantiated or subclassed, both carry ``__deprecated__``, and
``category=None`` only sets ``__deprecated__``. ``tests/unit/test_deprecated_shim.py``
checks it against ``typing_extensions.deprecated`` itself. Nothing else of
``typing_extensions`` is replaced, and the layer still ships it for code that uses it.

Example:
    >>> import warnings
    >>> @deprecated("use new_name")
    ... def old_name():
    ...     return 1
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     old_name()
    1
    >>> str(caught[0].message), old_name.__deprecated__
    ('use new_name', 'use new_name')
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["deprecated"]

if sys.version_info >= (3, 13):
    from warnings import deprecated
else:
    import functools
    import inspect
    import warnings

    class deprecated:  # noqa: N801  (the standard library's name)
        """Mark a function or class as deprecated (PEP 702)."""

        def __init__(
            self,
            message: str,
            /,
            *,
            category: type[Warning] | None = DeprecationWarning,
            stacklevel: int = 1,
        ) -> None:
            if not isinstance(message, str):
                raise TypeError(
                    f"Expected an object of type str for 'message', not {type(message).__name__!r}"
                )
            self.message = message
            self.category = category
            self.stacklevel = stacklevel

        def __call__(self, arg: Any, /) -> Any:
            message, category, stacklevel = self.message, self.category, self.stacklevel
            if category is None:
                arg.__deprecated__ = message
                return arg
            if isinstance(arg, type):
                return _deprecated_class(arg, message, category, stacklevel)
            if callable(arg):
                return _deprecated_function(arg, message, category, stacklevel)
            raise TypeError(
                "@deprecated decorator with non-None category must be applied to "
                f"a class or callable, not {arg!r}"
            )

    def _deprecated_class(cls: Any, message: str, category: type[Warning], level: int) -> Any:
        # Any: the class is rewired at run time, as typing_extensions does.
        original_new: Any = cls.__new__

        @functools.wraps(original_new)
        def __new__(kind: Any, /, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
            if kind is cls:
                warnings.warn(message, category=category, stacklevel=level + 1)
            if original_new is not object.__new__:
                return original_new(kind, *args, **kwargs)
            if kind.__init__ is object.__init__ and (args or kwargs):
                raise TypeError(f"{kind.__name__}() takes no arguments")
            return original_new(kind)

        cls.__new__ = staticmethod(__new__)
        __init_subclass__: Any
        if "__init_subclass__" in cls.__dict__:  # the class's own: call it directly
            original = cls.__init_subclass__
            if inspect.ismethod(original):
                original = original.__func__

            @functools.wraps(original)
            def __init_subclass__(*args: Any, **kwargs: Any) -> Any:  # noqa: N807
                warnings.warn(message, category=category, stacklevel=level + 1)
                return original(*args, **kwargs)

        else:

            def __init_subclass__(kind: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
                warnings.warn(message, category=category, stacklevel=level + 1)
                return super(cls, kind).__init_subclass__(*args, **kwargs)

        cls.__init_subclass__ = classmethod(__init_subclass__)
        cls.__deprecated__ = __new__.__deprecated__ = message  # type: ignore[attr-defined]
        __init_subclass__.__deprecated__ = message
        return cls

    def _deprecated_function(
        function: Any, message: str, category: type[Warning], level: int
    ) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            warnings.warn(message, category=category, stacklevel=level + 1)
            return function(*args, **kwargs)

        if inspect.iscoroutinefunction(function):
            if sys.version_info >= (3, 12):
                wrapper = inspect.markcoroutinefunction(wrapper)
            else:
                import asyncio.coroutines  # noqa: PLC0415  (only for a coroutine function)

                wrapper._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
        function.__deprecated__ = wrapper.__deprecated__ = message  # type: ignore[attr-defined]
        return wrapper
