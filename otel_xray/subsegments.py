"""Custom subsegments for a function's own critical operations.

One :func:`subsegment` works as a decorator (plain functions, methods, ``async
def``, generators and async generators, whose whole iteration is timed, not just
their creation) and as a context manager. A ``kind`` gives the span the semantic
conventions X-Ray renders best:

========  =====================================================================
kind      what it records
========  =====================================================================
db        ``db.system``, ``db.operation``, ``db.statement`` (literals redacted
          at export), ``db.name`` / table (an ``sql`` block for SQL systems)
http      ``http.request.method``, ``url.full``, ``http.response.status_code``
          (``set_status``: 4xx flags an error, 5xx a fault)
file      ``file.path``, ``file.operation``, ``file.size`` (``set_bytes``)
compute   CPU time (``process.cpu.time``, this thread) next to the wall time
========  =====================================================================

A subsegment is local by default, as the X-Ray SDK's are: it groups the work
under a name you choose, and the instrumented calls inside it (botocore,
requests, urllib3) draw the service-map nodes. ``remote=True`` makes a ``db`` or
``http`` subsegment a node of its own (namespace ``remote``), for a client no
instrumentation covers.

An exception inside is recorded with its type, message and stack, the span is
marked as failed, and the same exception object is re-raised. Nothing otel-xray
does here can raise into the caller: without tracing configured the spans are
no-ops.

Example:
    >>> import otel_xray
    >>> @otel_xray.subsegment("price order", kind="compute")
    ... def price(items):
    ...     return sum(items)
    >>> price([1, 2])
    3
    >>> with otel_xray.subsegment("save receipt", kind="file", path="/tmp/r.json") as sub:
    ...     sub.set_bytes(128)
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray.annotations import annotate

logger = logging.getLogger("otel_xray")

Kind = Literal["db", "http", "file", "compute"]
KINDS: tuple[str, ...] = ("db", "http", "file", "compute")
F = TypeVar("F", bound=Callable[..., Any])


class Subsegment:
    """An open subsegment: a decorator for functions, or a context manager.

    ``attributes`` become span attributes; kind-specific keywords (``system``,
    ``operation``, ``statement``, ``table``, ``method``, ``url``, ``path``) are
    spelled as their semantic-convention attributes.
    """

    def __init__(
        self, name: str, kind: Kind | None = None, *, remote: bool = False, **attributes: Any
    ) -> None:
        if kind is not None and kind not in KINDS:
            raise ValueError(f"subsegment kind {kind!r}: accepted values are {', '.join(KINDS)}")
        self.name = name
        self.kind = kind
        self.remote = remote
        self.attributes = _conventions(kind, attributes)
        self.span: trace.Span = trace.INVALID_SPAN
        self._token: object | None = None
        self._cpu_started = 0.0

    # context manager -------------------------------------------------------------

    def __enter__(self) -> Subsegment:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(exc)

    async def __aenter__(self) -> Subsegment:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(exc)

    # what code inside can add -------------------------------------------------------

    def set(self, **attributes: Any) -> None:
        """Set span attributes (exported as X-Ray metadata)."""
        try:
            for key, value in attributes.items():
                self.span.set_attribute(key, value)
        except Exception:
            logger.debug("otel-xray: attributes not set", exc_info=True)

    def set_status(self, status_code: int) -> None:
        """An HTTP status (http kind): 4xx marks an error, 5xx a fault, in X-Ray."""
        self.set(**{"http.response.status_code": int(status_code)})
        if status_code >= 500:
            self.span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))

    def set_bytes(self, size: int) -> None:
        """Bytes read or written (file kind)."""
        self.set(**{"file.size": int(size)})

    def annotate(self, key: str | None = None, value: Any = None, /, **values: Any) -> None:
        """:func:`otel_xray.annotate` on this subsegment."""
        with trace.use_span(self.span, end_on_exit=False):
            annotate(key, value, **values)

    # decorator ------------------------------------------------------------------

    def __call__(self, function: F) -> F:
        name, kind, remote, attributes = self.name, self.kind, self.remote, self.attributes

        def fresh() -> Subsegment:
            sub = Subsegment(name, kind, remote=remote)
            sub.attributes = dict(attributes)
            return sub

        if inspect.isasyncgenfunction(function):

            @functools.wraps(function)
            async def async_generator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
                sub = fresh()
                sub._start(attach=False)
                error: BaseException | None = None
                inner = function(*args, **kwargs)
                try:
                    sent: Any = None
                    thrown: BaseException | None = None
                    while True:
                        with sub._current():
                            if thrown is not None:
                                item = await inner.athrow(thrown)
                            else:
                                item = await inner.asend(sent)
                        sent, thrown = None, None
                        try:
                            sent = yield item
                        except GeneratorExit:
                            await inner.aclose()
                            raise
                        except BaseException as raised:  # thrown in by the consumer
                            thrown = raised
                except (StopAsyncIteration, GeneratorExit):
                    pass
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    sub._end(error)

            return cast(F, async_generator)
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                async with fresh():
                    return await function(*args, **kwargs)

            return cast(F, coroutine)
        if inspect.isgeneratorfunction(function):

            @functools.wraps(function)
            def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                # The span is current only while the generator's own code runs, so
                # the consumer's work between items is not counted as its children.
                sub = fresh()
                sub._start(attach=False)
                error: BaseException | None = None
                inner = function(*args, **kwargs)
                try:
                    sent: Any = None
                    thrown: BaseException | None = None
                    while True:
                        with sub._current():
                            item = inner.throw(thrown) if thrown is not None else inner.send(sent)
                        sent, thrown = None, None
                        try:
                            sent = yield item
                        except GeneratorExit:
                            inner.close()
                            raise
                        except BaseException as raised:  # thrown in by the consumer
                            thrown = raised
                except StopIteration as stop:
                    return stop.value
                except GeneratorExit:
                    raise
                except BaseException as raised:
                    error = raised
                    raise
                finally:
                    sub._end(error)

            return cast(F, generator)

        @functools.wraps(function)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return function(*args, **kwargs)

        return cast(F, plain)

    # internals ----------------------------------------------------------------------

    def _start(self, attach: bool = True) -> None:
        try:
            self.span = _tracer().start_span(
                self.name,
                kind=SpanKind.CLIENT if self.remote else SpanKind.INTERNAL,
                attributes=self.attributes,
            )
            if attach:
                self._token = otel_context.attach(trace.set_span_in_context(self.span))
            if self.kind == "compute":
                self._cpu_started = time.thread_time()
        except Exception:
            logger.debug("otel-xray: subsegment %r not started", self.name, exc_info=True)

    @contextlib.contextmanager
    def _current(self) -> Iterator[None]:
        """This span as the current one for a while (a generator's turn)."""
        token = otel_context.attach(trace.set_span_in_context(self.span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def _end(self, error: BaseException | None) -> None:
        try:
            if self.kind == "compute" and self._cpu_started:
                self.span.set_attribute(
                    "process.cpu.time", round(time.thread_time() - self._cpu_started, 6)
                )
            if error is not None and not isinstance(error, GeneratorExit | StopAsyncIteration):
                self.span.record_exception(error, escaped=True)
                self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            self.span.end()
        except Exception:
            logger.debug("otel-xray: subsegment %r not ended", self.name, exc_info=True)
        finally:
            if self._token is not None:
                try:
                    otel_context.detach(self._token)  # type: ignore[arg-type]
                except Exception:
                    logger.debug("otel-xray: context detach failed", exc_info=True)
                self._token = None


def subsegment(
    name: str, kind: Kind | None = None, *, remote: bool = False, **attributes: Any
) -> Subsegment:
    """A subsegment named ``name``: use it as ``@subsegment(...)`` or ``with subsegment(...)``.

    Args:
        name: what X-Ray shows (a span name; personal values become ``{email}``...).
        kind: ``"db"``, ``"http"``, ``"file"`` or ``"compute"`` (see the module docs).
        remote: a node of its own in the service map (for uninstrumented clients).
        attributes: kind keywords (``system``, ``operation``, ``statement``, ``table``,
            ``method``, ``url``, ``path``) or any span attributes.
    """
    return Subsegment(name, kind, remote=remote, **attributes)


_CONVENTIONS: dict[str, dict[str, str]] = {
    "db": {
        "system": "db.system",
        "operation": "db.operation",
        "statement": "db.statement",
        "table": "db.sql.table",
        "database": "db.name",
        "host": "server.address",
    },
    "http": {
        "method": "http.request.method",
        "url": "url.full",
        "status": "http.response.status_code",
    },
    "file": {"path": "file.path", "operation": "file.operation", "size": "file.size"},
    "compute": {},
}


def _conventions(kind: str | None, attributes: dict[str, Any]) -> dict[str, Any]:
    names = _CONVENTIONS.get(kind or "", {})
    converted = {names.get(key, key): value for key, value in attributes.items()}
    if kind == "db" and "db.name" not in converted and "db.sql.table" in converted:
        converted["db.name"] = converted["db.sql.table"]
    if kind == "http" and "url.full" in converted and "server.address" not in converted:
        host = str(converted["url.full"]).split("://", 1)[-1].split("/", 1)[0]
        converted["server.address"] = host.rsplit("@", 1)[-1].split(":", 1)[0]
    if kind == "http" and "http.request.method" in converted:
        converted["http.request.method"] = str(converted["http.request.method"]).upper()
    return converted


#: Scope name -> (provider, its tracer): the SDK's ``get_tracer`` resets a warnings
#: filter and builds two scope objects on every call (~15 µs), so each scope asks it once
#: per provider, not once per subsegment (the X-Ray SDK bridge's scope too).
_tracers: dict[str, tuple[object, trace.Tracer]] = {}


def tracer_for(scope: str) -> trace.Tracer:
    """The global provider's tracer of ``scope``, made once per provider."""
    provider = trace.get_tracer_provider()
    cached = _tracers.get(scope)
    if cached is None or cached[0] is not provider:
        cached = _tracers[scope] = (provider, provider.get_tracer(scope))
    return cached[1]


def _tracer() -> trace.Tracer:
    return tracer_for("otel_xray.subsegments")
