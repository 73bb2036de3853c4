"""mysql-connector-python: a registry hook that keeps its own trace propagation off.

mysql-connector (8.1 and later) propagates the current OpenTelemetry span to the
server by itself: whenever a recording span is current, ``with_context_propagation``
(``mysql/connector/opentelemetry/context_propagation.py``) appends a ``traceparent``
query attribute to the statement. Without tracing no span records, so nothing is
appended; with otel-xray every query runs under the upstream instrumentation's
recording span, so every query gets one. Against MariaDB, which has no query
attributes, a prepared statement then comes back empty: ``cursor(prepared=True)``,
``execute("SELECT name FROM item WHERE id = %s", (2,))`` and ``fetchone()`` gave
``None`` instead of the row (tests/e2e/test_libraries.py, with MariaDB 10.11), so
tracing changed what the function read. X-Ray does not read that attribute (the
database is not a traced service: the X-Ray SDK's ``ext/mysql`` sends nothing to the
server), so this hook turns it off on each new connection through the connector's own
switch, ``otel_context_propagation`` (``mysql/connector/abstracts.py``), and the
connection behaves as it does untraced.

It wraps ``mysql.connector.connect`` outside the upstream instrumentation's wrapper
(installed after it, see :mod:`otel_xray.instrumentation`); a pooled connection's own
connection (``_cnx``) gets the same.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

_ORIGINAL = "__otel_xray_original__"


def _without_propagation(connect: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(connect)
    def connecting(*args: Any, **kwargs: Any) -> Any:
        connection = connect(*args, **kwargs)
        with contextlib.suppress(Exception):
            for target in (connection, getattr(connection, "_cnx", None)):
                if target is not None and hasattr(target, "otel_context_propagation"):
                    target.otel_context_propagation = False
        return connection

    setattr(connecting, _ORIGINAL, connect)
    return connecting


def install() -> None:
    import mysql.connector  # type: ignore[import-not-found]  # noqa: PLC0415  (imported: the trigger)

    if not hasattr(mysql.connector.connect, _ORIGINAL):
        mysql.connector.connect = _without_propagation(mysql.connector.connect)


def uninstall() -> None:
    import mysql.connector  # noqa: PLC0415

    original = getattr(mysql.connector.connect, _ORIGINAL, None)
    if original is not None:
        mysql.connector.connect = original
