"""sqlite3 as Python's documentation uses it: our own wrapper on the upstream DB-API one.

The upstream sqlite3 instrumentation (``opentelemetry.instrumentation.sqlite3``)
wraps ``sqlite3.connect`` in the DB-API connection proxy, which traces only cursors
made by ``connection.cursor()``. The sqlite3 tutorial
(https://docs.python.org/3/library/sqlite3.html#tutorial) calls
``Connection.execute``, ``executemany`` and ``executescript``: those make their
cursor inside C code, past the proxy, so they were not traced at all, and
``Cursor.executescript`` was not traced either. The X-Ray SDK has the same gap for
``executescript`` only (``aws_xray_sdk/ext/sqlite3/patch.py``, ``XRayTracedSQLite``
routes ``execute`` and ``executemany`` through a traced cursor).

So this wraps ``connect`` as upstream does (same DB-API integration, same spans),
with a connection proxy whose ``execute``, ``executemany`` and ``executescript`` go
through a traced cursor, and a cursor proxy that traces ``executescript`` and returns
itself where sqlite3 returns the cursor (``db.execute(...).execute(...)`` stays traced).
``Connection.backup`` (the documented ``src.backup(dst)``) is given the real target
connection: sqlite3 refuses a proxy there, upstream's included.

Name: the upstream instrumentation reads no attribute of the connection
(``_CONNECTION_ATTRIBUTES = {}``), so its spans had no ``db.name`` and the subsegment
was named after the verb (``select``). The X-Ray SDK names a sqlite3 call after the
database given to ``connect`` (``meta['name'] = args[0]`` in ``ext/sqlite3/patch.py``);
the collector names a database span after ``db.name`` (``@host`` only with a
connection string; awsxrayexporter ``internal/translator/segment.go``). Here
``db.name`` is that database argument, so both agree: ``:memory:`` or the file's path.

Example:
    >>> SQLiteInstrumentor().instrumentation_dependencies()
    ('sqlite3',)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.instrumentation import dbapi
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

_UPSTREAM = "opentelemetry.instrumentation.sqlite3"


class _Cursor(dbapi.TracedCursorProxy):  # type: ignore[type-arg]
    """The upstream cursor proxy, with ``executescript`` traced; returns itself where
    sqlite3's cursor returns itself."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = super().execute(*args, **kwargs)
        return self if result is self.__wrapped__ else result

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        result = super().executemany(*args, **kwargs)
        return self if result is self.__wrapped__ else result

    def executescript(self, *args: Any, **kwargs: Any) -> Any:
        wrapped = self.__wrapped__
        result = self._self_cursor_tracer.traced_execution(
            wrapped, wrapped.executescript, *args, **kwargs
        )
        return self if result is wrapped else result


class _Connection(dbapi.TracedConnectionProxy):  # type: ignore[type-arg]
    """The upstream connection proxy; the shortcuts sqlite3 adds go through a traced cursor,
    as ``sqlite3.Connection.execute`` is documented to (it "creates a new Cursor object
    and calls execute() on it")."""

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        cursor = self.__wrapped__.cursor(*args, **kwargs)
        integration = self._self_db_api_integration
        return cursor if integration is None else _Cursor(cursor, integration)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().executemany(*args, **kwargs)

    def executescript(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().executescript(*args, **kwargs)

    def backup(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        # sqlite3 type-checks the target in C: a proxy is refused ("must be
        # sqlite3.Connection"), so the documented src.backup(dst) failed when both were
        # made by a traced connect (the upstream proxy has the same gap).
        if isinstance(target, dbapi.TracedConnectionProxy):
            target = target.__wrapped__
        return self.__wrapped__.backup(target, *args, **kwargs)

    def __enter__(self) -> Any:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *args: Any) -> Any:
        # sqlite3 commits or rolls back here; its answer (False) goes back unchanged.
        return self.__wrapped__.__exit__(*args)


def _database(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    database = args[0] if args else kwargs.get("database", "")
    try:
        name = os.fspath(database)
    except TypeError:
        return ""
    return name.decode(errors="replace") if isinstance(name, bytes) else name


class _Integration(dbapi.DatabaseApiIntegration):
    """One per ``connect`` call (upstream makes one each time): keeps the database name."""

    def wrapped_connection(
        self, connect_method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[Any, Any]
    ) -> Any:
        connection = connect_method(*args, **kwargs)
        database = _database(args, kwargs)
        if database:
            self.connection_props["database"] = database
        self.get_connection_attributes(connection)
        return _Connection(connection, self)


class SQLiteInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces sqlite3 connections, their shortcuts included (see the module)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("sqlite3",)

    def _instrument(self, **kwargs: Any) -> None:
        import sqlite3  # noqa: PLC0415  (the trigger: imported already)
        import sqlite3.dbapi2  # noqa: PLC0415

        from opentelemetry.instrumentation.sqlite3.version import __version__  # noqa: PLC0415

        for module in (sqlite3, sqlite3.dbapi2):
            dbapi.wrap_connect(
                _UPSTREAM,
                module,  # type: ignore[arg-type]
                "connect",
                "sqlite",
                {},
                version=__version__,
                tracer_provider=kwargs.get("tracer_provider"),
                db_api_integration_factory=_Integration,
            )

    def _uninstrument(self, **kwargs: Any) -> None:
        import sqlite3  # noqa: PLC0415
        import sqlite3.dbapi2  # noqa: PLC0415

        for module in (sqlite3, sqlite3.dbapi2):
            dbapi.unwrap_connect(module, "connect")  # type: ignore[arg-type]
