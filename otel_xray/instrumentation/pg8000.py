"""pg8000, through the upstream DB-API wrapper: contrib has no pg8000 package.

``opentelemetry.instrumentation.dbapi.wrap_connect`` is what the upstream psycopg2,
pymysql and mysql instrumentations are made of; pg8000 is a DB-API 2.0 driver, so
wrapping its ``connect`` gives the same spans (``db.system`` ``postgresql``, the
statement, the database, user, host and port). pg8000's connection keeps only the
user, so ``connect`` is first wrapped to keep the database, host and port it was
given on the connection, where the DB-API wrapper reads them.

Example:
    >>> Pg8000Instrumentor().instrumentation_dependencies()
    ('pg8000 >= 1.20',)
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection
from types import SimpleNamespace
from typing import Any

from opentelemetry.instrumentation.dbapi import unwrap_connect, wrap_connect
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

_KEPT = "_otel_xray_connect"
#: Span attribute -> where on the connection the DB-API wrapper finds it.
_CONNECTION_ATTRIBUTES = {
    "database": f"{_KEPT}.database",
    "host": f"{_KEPT}.host",
    "port": f"{_KEPT}.port",
    "user": "user",
}


def _keeping_parameters(connect: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(connect)
    def remembering(*args: Any, **kwargs: Any) -> Any:
        connection = connect(*args, **kwargs)
        kept = SimpleNamespace(
            database=kwargs.get("database"),
            host=kwargs.get("host", "localhost"),
            port=kwargs.get("port", 5432),
        )
        # A connection class with __slots__ would refuse: the span goes without them.
        with contextlib.suppress(AttributeError):
            setattr(connection, _KEPT, kept)
        return connection

    remembering.__wrapped_by_otel_xray__ = connect  # type: ignore[attr-defined]
    return remembering


class Pg8000Instrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces pg8000's connections, as the upstream DB-API instrumentations do."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("pg8000 >= 1.20",)

    def _instrument(self, **kwargs: Any) -> None:
        import pg8000  # type: ignore[import-not-found]  # noqa: PLC0415  (the trigger: imported)

        pg8000.connect = _keeping_parameters(pg8000.connect)
        wrap_connect(
            __name__,
            pg8000,
            "connect",
            "postgresql",
            _CONNECTION_ATTRIBUTES,
            version="",
            tracer_provider=kwargs.get("tracer_provider"),
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        import pg8000  # noqa: PLC0415

        unwrap_connect(pg8000, "connect")
        pg8000.connect = getattr(pg8000.connect, "__wrapped_by_otel_xray__", pg8000.connect)
