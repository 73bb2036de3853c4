"""psycopg 3's ``COPY`` and server-side cursors: a registry hook on the upstream
instrumentation's cursor classes.

The upstream psycopg instrumentation traces a cursor's ``execute``, ``executemany`` and
``callproc`` (the classes ``_new_cursor_factory`` and ``_new_cursor_async_factory``
make, in ``opentelemetry/instrumentation/psycopg/__init__.py``). psycopg 3's documented
way to load or dump data is ``Cursor.copy`` ("Using COPY TO and COPY FROM",
https://www.psycopg.org/psycopg3/docs/basic/copy.html)::

    with cursor.copy("COPY item (id, name) FROM STDIN") as copy:
        copy.write_row((1, "one"))

which the upstream classes leave untraced: the statement, and the time the data took
to reach the server, were missing from the trace. The X-Ray SDK traces only
``execute``, ``executemany`` and ``callproc`` too (``aws_xray_sdk/ext/dbapi2.py``).

This hook makes the same cursor classes with ``copy`` (and its ``async with`` form)
traced: one span for the whole block, named and filled as the upstream spans are (the
same tracer and ``CursorTracer``), so the subsegment is ``database@host`` with the
``COPY`` statement in its ``sql`` block. It is installed after the instrumentor, by
replacing the two factory functions in the upstream module; connections made before
keep their cursors.

Server-side cursors (``conn.cursor(name="...")``, "Server-side cursors",
https://www.psycopg.org/psycopg3/docs/advanced/cursors.html#server-side-cursors) come
from the connection's ``server_cursor_factory``, which upstream leaves as it is, so
their queries were untraced too. After each ``connect`` this hook makes that factory a
traced one the same way (upstream's factory functions, the connection's integration).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from opentelemetry.trace import SpanKind

_ORIGINAL = "__otel_xray_original__"
_TRACED = "_otel_xray_traced"
_FACTORIES = ("_new_cursor_factory", "_new_cursor_async_factory")
#: upstream integration class -> the factory function that makes its cursor classes
_INTEGRATIONS = (
    ("DatabaseApiIntegration", "_new_cursor_factory"),
    ("DatabaseApiAsyncIntegration", "_new_cursor_async_factory"),
)


def _statement(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("statement", "")


def _traced_copy(base: type, db_api: Any, tracer_class: Any) -> type:
    cursor_tracer = tracer_class(db_api)

    @contextlib.contextmanager
    def start(cursor: Any, statement: Any) -> Iterator[None]:
        """The COPY span, current for the block; tracing's own errors stay here."""
        try:
            name = cursor_tracer.get_operation_name(cursor, (statement,)) or "COPY"
        except Exception:
            name = "COPY"
        with db_api._tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as span:
            with contextlib.suppress(Exception):
                cursor_tracer._populate_span(span, cursor, statement)
            yield

    if getattr(base, "__aenter__", None) is not None:  # psycopg.AsyncCursor

        class AsyncCopying(base):  # type: ignore[misc]
            @contextlib.asynccontextmanager
            async def copy(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                with start(self, _statement(args, kwargs)):
                    async with super().copy(*args, **kwargs) as copy:
                        yield copy

        return AsyncCopying

    class Copying(base):  # type: ignore[misc]
        @contextlib.contextmanager
        def copy(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            with start(self, _statement(args, kwargs)), super().copy(*args, **kwargs) as copy:
                yield copy

    return Copying


def _with_copy(factory: Callable[..., type], tracer_class: Any) -> Callable[..., type]:
    @functools.wraps(factory)
    def making(*args: Any, **kwargs: Any) -> type:
        made = factory(*args, **kwargs)
        db_api = kwargs.get("db_api")
        if db_api is None:  # instrument_connection(): upstream's own, left as it is
            return made
        try:
            return _traced_copy(made, db_api, tracer_class)
        except Exception:
            return made

    setattr(making, _ORIGINAL, factory)
    return making


def _trace_server_cursors(connection: Any, db_api: Any, factory: Callable[..., type]) -> None:
    with contextlib.suppress(Exception):
        base = connection.server_cursor_factory
        if not getattr(base, _TRACED, False):
            traced = factory(db_api=db_api, base_factory=base)
            setattr(traced, _TRACED, True)
            connection.server_cursor_factory = traced


def _with_server_cursors(original: Any, upstream: Any, factory_name: str) -> Any:
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def connecting_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            connection = await original(self, *args, **kwargs)
            _trace_server_cursors(connection, self, getattr(upstream, factory_name))
            return connection

        setattr(connecting_async, _ORIGINAL, original)
        return connecting_async

    @functools.wraps(original)
    def connecting(self: Any, *args: Any, **kwargs: Any) -> Any:
        connection = original(self, *args, **kwargs)
        _trace_server_cursors(connection, self, getattr(upstream, factory_name))
        return connection

    setattr(connecting, _ORIGINAL, original)
    return connecting


def install() -> None:
    from opentelemetry.instrumentation import psycopg as upstream  # noqa: PLC0415

    for name in _FACTORIES:
        factory = getattr(upstream, name, None)
        if factory is not None and not hasattr(factory, _ORIGINAL):
            setattr(upstream, name, _with_copy(factory, upstream.CursorTracer))
    for class_name, factory_name in _INTEGRATIONS:
        integration = getattr(upstream, class_name, None)
        original = getattr(integration, "wrapped_connection", None)
        if original is not None and not hasattr(original, _ORIGINAL):
            integration.wrapped_connection = _with_server_cursors(  # type: ignore[union-attr]
                original, upstream, factory_name
            )


def uninstall() -> None:
    from opentelemetry.instrumentation import psycopg as upstream  # noqa: PLC0415

    for name in _FACTORIES:
        original = getattr(getattr(upstream, name, None), _ORIGINAL, None)
        if original is not None:
            setattr(upstream, name, original)
    for class_name, _ in _INTEGRATIONS:
        integration = getattr(upstream, class_name, None)
        original = getattr(getattr(integration, "wrapped_connection", None), _ORIGINAL, None)
        if original is not None:
            integration.wrapped_connection = original  # type: ignore[union-attr]
