"""Keep work handed to threads in the right trace, under the right parent.

The X-Ray SDK's most reported bug is ``SegmentNotFoundException`` from work run in
a thread pool: the context stays behind in the submitting thread. OpenTelemetry
keeps its context in a ``contextvars`` variable, which ``asyncio`` tasks copy
(``asyncio.gather`` fan-out just works) but ``ThreadPoolExecutor`` threads and
``loop.run_in_executor`` do not. :func:`in_current_context` carries the current
trace context into a callable; :class:`TracedThreadPoolExecutor` does it for
every ``submit`` and ``map``. Only the tracing context is carried, so one wrapped
callable can run in many threads at once.

Example:
    >>> from otel_xray.concurrency import TracedThreadPoolExecutor
    >>> with TracedThreadPoolExecutor(max_workers=4) as pool:
    ...     list(pool.map(lambda n: n * 2, [1, 2, 3]))
    [2, 4, 6]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context

P = ParamSpec("P")
R = TypeVar("R")


def in_current_context(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, run wherever it is called under the trace context current now."""
    captured = otel_context.get_current()

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = otel_context.attach(captured)
        try:
            return function(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run


class TracedThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the submitter's trace context."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return super().submit(in_current_context(fn), *args, **kwargs)
