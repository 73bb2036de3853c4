"""psycopg2's ``conn.cursor(cursor_factory=...)``: a registry hook on the upstream one.

The upstream psycopg2 instrumentation traces a connection's cursors by giving
``connect`` a traced ``cursor_factory`` (``DatabaseApiIntegration.wrapped_connection``
in ``opentelemetry/instrumentation/psycopg2/__init__.py``). psycopg2's documentation
also passes the factory per cursor, for dict-like rows ("Dictionary-like cursor",
https://www.psycopg.org/docs/extras.html#dictionary-like-cursor)::

    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT id, name FROM item")

and a factory given there replaces the connection's, so those queries were not traced.
(The X-Ray SDK proxies the connection, ``aws_xray_sdk/ext/dbapi2.py``, so its
``cursor()`` traces any factory.)

This hook gives ``connect`` a ``connection_factory``: a subclass of the one the function
passed (``psycopg2.extensions.connection`` by default; ``LoggingConnection`` and the
like keep theirs) whose ``cursor`` makes the factory it is given traced, with the same
upstream ``_new_cursor_factory`` and the connection's own integration, so the span is
the one upstream makes. The traced class is made once per connection and factory.
A ``connect`` given its connection factory positionally is left as upstream has it.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

_ORIGINAL = "__otel_xray_original__"
_DB_API = "_otel_xray_db_api"
_MADE = "_otel_xray_cursor_factories"
_TRACED = "_otel_xray_traced"


def _traced(connection: Any, factory: Any) -> Any:
    """``factory`` as a traced cursor class of ``connection`` (itself when it cannot be)."""
    db_api = getattr(connection, _DB_API, None)
    if (
        db_api is None
        or not isinstance(factory, type)
        or getattr(factory, _TRACED, False)
        or factory is connection.cursor_factory
    ):
        return factory
    made: dict[type, type] = connection.__dict__.setdefault(_MADE, {})
    traced = made.get(factory)
    if traced is None:
        from opentelemetry.instrumentation.psycopg2 import _new_cursor_factory  # noqa: PLC0415

        traced = _new_cursor_factory(db_api=db_api, base_factory=factory)
        setattr(traced, _TRACED, True)
        made[factory] = traced
    return traced


@functools.cache
def _tracing_cursor_factories(base: type) -> type:
    """``base`` whose ``cursor(cursor_factory=...)`` makes the factory traced."""

    class Connection(base):  # type: ignore[misc]
        def cursor(self, *args: Any, **kwargs: Any) -> Any:
            try:
                if kwargs.get("cursor_factory") is not None:
                    kwargs["cursor_factory"] = _traced(self, kwargs["cursor_factory"])
                elif len(args) >= 2 and args[1] is not None:
                    args = (args[0], _traced(self, args[1]), *args[2:])
            except Exception:
                pass  # as given: untraced, never broken
            return super().cursor(*args, **kwargs)

    Connection.__name__ = base.__name__
    Connection.__qualname__ = base.__qualname__
    Connection.__module__ = base.__module__
    return Connection


def _wrapped_connection(original: Any) -> Any:
    @functools.wraps(original)
    def wrapped_connection(
        self: Any, connect_method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if len(args) < 2:  # connect(dsn, connection_factory, ...) positionally: as upstream
            with contextlib.suppress(Exception):
                from psycopg2.extensions import connection  # type: ignore[import-untyped]  # noqa: PLC0415

                base = kwargs.get("connection_factory") or connection
                if isinstance(base, type) and issubclass(base, connection):
                    kwargs["connection_factory"] = _tracing_cursor_factories(base)
        made = original(self, connect_method, args, kwargs)
        with contextlib.suppress(Exception):
            setattr(made, _DB_API, self)
        return made

    setattr(wrapped_connection, _ORIGINAL, original)
    return wrapped_connection


def install() -> None:
    from opentelemetry.instrumentation import psycopg2 as upstream  # noqa: PLC0415

    integration = upstream.DatabaseApiIntegration
    if not hasattr(integration.wrapped_connection, _ORIGINAL):
        integration.wrapped_connection = _wrapped_connection(  # type: ignore[method-assign]
            integration.wrapped_connection
        )


def uninstall() -> None:
    from opentelemetry.instrumentation import psycopg2 as upstream  # noqa: PLC0415

    integration = upstream.DatabaseApiIntegration
    original = getattr(integration.wrapped_connection, _ORIGINAL, None)
    if original is not None:
        integration.wrapped_connection = original  # type: ignore[method-assign]
