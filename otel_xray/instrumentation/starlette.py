"""Starlette applications, each instrumented as it is made; FastAPI's left to its own row.

Upstream's ``StarletteInstrumentor.instrument()`` replaces ``starlette.applications.Starlette``
with a subclass. Importing FastAPI imports Starlette first, so that replacement would
already be in place when ``fastapi.applications`` subclasses it, and every FastAPI app
would get Starlette's middleware too (and FastAPI's instrumentor would then warn that
the app is already instrumented). Here ``Starlette.__init__`` is wrapped instead, and
an app whose class is FastAPI's is left to the ``fastapi`` row, which finds routes in
FastAPI's nested routers as Starlette's cannot.
"""

from __future__ import annotations

import functools
from typing import Any

_options: dict[str, Any] = {}
_original: Any = None


def _is_fastapi(app: Any) -> bool:
    return any(
        cls.__module__.startswith("fastapi") and cls.__name__ == "FastAPI"
        for cls in type(app).__mro__
    )


class StarletteInstrumentor:
    """The registry's instrumentor for the ``starlette`` row (see the module docstring)."""

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return _original is not None

    def instrument(self, **kwargs: Any) -> None:
        global _original
        from starlette.applications import Starlette  # noqa: PLC0415

        if _original is not None:
            return
        _options.clear()
        _options.update(kwargs)
        _options.pop("skip_dep_check", None)
        _original = Starlette.__init__

        @functools.wraps(_original)
        def __init__(app: Any, *args: Any, **kw: Any) -> None:  # noqa: N807
            _original(app, *args, **kw)
            if not _is_fastapi(app):
                _instrument_app(app)

        Starlette.__init__ = __init__  # type: ignore[method-assign,assignment]

    def uninstrument(self) -> None:
        global _original
        if _original is None:
            return
        from starlette.applications import Starlette  # noqa: PLC0415

        Starlette.__init__ = _original  # type: ignore[method-assign]
        _original = None


def _instrument_app(app: Any) -> None:
    try:
        from opentelemetry.instrumentation.starlette import (  # noqa: PLC0415
            StarletteInstrumentor as Upstream,
        )

        # Upstream's instrument_app takes no exclude_spans (FastAPI's does): a Starlette
        # app's request keeps its "http send" / "http receive" subsegments.
        Upstream.instrument_app(app, tracer_provider=_options.get("tracer_provider"))
    except Exception:
        import logging  # noqa: PLC0415

        logging.getLogger("otel_xray").exception("otel-xray: instrumenting a Starlette app failed")
