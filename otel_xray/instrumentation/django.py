"""Django, instrumented when its first request handler loads its middleware.

Upstream's ``DjangoInstrumentor`` adds its middleware to ``settings.MIDDLEWARE``, so it
must run after the settings are known and before a handler reads them; called any
earlier it configures empty settings itself (``settings.configure()``), and the
project's own configuration then fails ("Settings already configured"). Django's
``wsgi.py`` template imports ``django.core.wsgi`` *before* it sets
``DJANGO_SETTINGS_MODULE``, so no import is late enough. The moment that is right is
``BaseHandler.load_middleware``: every WSGI and ASGI handler (and the test client)
calls it once, after ``django.setup()``. This module arms upstream's instrumentor
there, on the first call.
"""

from __future__ import annotations

import functools
from typing import Any

_options: dict[str, Any] = {}
_original: Any = None


class DjangoInstrumentor:
    """The registry's instrumentor for the ``django`` row (see the module docstring)."""

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return _original is not None

    def instrument(self, **kwargs: Any) -> None:
        global _original
        from django.core.handlers.base import BaseHandler  # noqa: PLC0415

        if _original is not None:
            return
        _options.clear()
        _options.update(kwargs)
        _original = BaseHandler.load_middleware

        @functools.wraps(_original)
        def load_middleware(handler: Any, *args: Any, **kw: Any) -> Any:
            _instrument_upstream()
            return _original(handler, *args, **kw)

        BaseHandler.load_middleware = load_middleware

    def uninstrument(self) -> None:
        global _original
        if _original is None:
            return
        from django.core.handlers.base import BaseHandler  # noqa: PLC0415

        BaseHandler.load_middleware = _original
        _original = None
        upstream = _upstream()
        if upstream.is_instrumented_by_opentelemetry:
            upstream.uninstrument()


def _upstream() -> Any:
    from opentelemetry.instrumentation.django import (  # noqa: PLC0415
        DjangoInstrumentor as Upstream,
    )

    return Upstream()


def _instrument_upstream() -> None:
    upstream = _upstream()
    if not upstream.is_instrumented_by_opentelemetry:
        upstream.instrument(**_options)
