"""The instrumentation registry: which library, which instrumentation, which X-Ray hook;
applied when the function first imports the library.

``opentelemetry-instrument`` discovers instrumentors by iterating every installed
distribution's entry points and checking each one's dependency versions through
``importlib.metadata``; on Lambda that costs hundreds of milliseconds per cold start
(opentelemetry-lambda #1497). The set that matters for a serverless function is
small and known, so it is a table here (:data:`REGISTRY`, with the X-Ray hooks of
ours that a library needs), and ``skip_dep_check`` avoids the metadata reads.

Lazy by import (:mod:`otel_xray.instrumentation.hooks`): a library the function
has already imported is instrumented at configuration; any other when the function
first imports it, before or after the layer starts. A function that never imports
a library pays nothing for it: not its instrumentation, and not the instrumentation
base either unless some library needs it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any, NamedTuple

from opentelemetry.trace import TracerProvider

from otel_xray.instrumentation.hooks import cancel, when_imported

logger = logging.getLogger("otel_xray")


class Instrumentation(NamedTuple):
    """One library: the instrumentation that serves it, and any X-Ray hook of ours."""

    #: The module whose first import instruments the library.
    trigger: str
    #: Module of the upstream instrumentation.
    module: str
    #: Its instrumentor class.
    instrumentor: str
    #: A module of ours with ``install()`` / ``uninstall()``, applied after the instrumentor.
    hook: str | None = None
    #: Keyword arguments of ``instrument()``: name -> ``module:attribute`` of ours.
    options: tuple[tuple[str, str], ...] = ()


#: name -> instrumentation; names are those of OTEL_PYTHON_DISABLED_INSTRUMENTATIONS.
REGISTRY: dict[str, Instrumentation] = {
    "botocore": Instrumentation(
        "botocore",
        "opentelemetry.instrumentation.botocore",
        "BotocoreInstrumentor",
        # Its wrapper sits outside the instrumentation's own (see the module).
        hook="otel_xray.instrumentation.aws_sdk_header",
        # The resources the X-Ray SDK records (S3 bucket and key, Lambda invocation type).
        options=(("request_hook", "otel_xray.instrumentation.aws_sdk_resources:request_hook"),),
    ),
    "s3transfer": Instrumentation(
        # No upstream package: boto3's upload_file / download_file run their S3 calls on
        # s3transfer's worker threads; this keeps them in the caller's trace, under one
        # subsegment per transfer (the module). boto3.s3.transfer imports s3transfer.
        "boto3.s3.transfer",
        "otel_xray.instrumentation.s3transfer",
        "S3TransferInstrumentor",
    ),
    "requests": Instrumentation(
        "requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor"
    ),
    "urllib3": Instrumentation(
        "urllib3", "opentelemetry.instrumentation.urllib3", "URLLib3Instrumentor"
    ),
    "urllib": Instrumentation(
        "urllib.request", "opentelemetry.instrumentation.urllib", "URLLibInstrumentor"
    ),
    "httpx": Instrumentation(
        "httpx", "opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"
    ),
    "aiohttp-client": Instrumentation(
        "aiohttp", "opentelemetry.instrumentation.aiohttp_client", "AioHttpClientInstrumentor"
    ),
    "sqlite3": Instrumentation(
        # The upstream DB-API wrapper with Connection.execute, executemany and
        # executescript traced and the database named (see the module).
        "sqlite3", "otel_xray.instrumentation.sqlite", "SQLiteInstrumentor"
    ),
    "psycopg2": Instrumentation(
        "psycopg2",
        "opentelemetry.instrumentation.psycopg2",
        "Psycopg2Instrumentor",
        # conn.cursor(cursor_factory=RealDictCursor) traced too (see the module).
        hook="otel_xray.instrumentation.psycopg2_cursors",
    ),
    "psycopg": Instrumentation(
        "psycopg",
        "opentelemetry.instrumentation.psycopg",
        "PsycopgInstrumentor",
        # Cursor.copy (COPY) and server-side cursors traced too (see the module).
        hook="otel_xray.instrumentation.psycopg3_cursors",
    ),
    "pg8000": Instrumentation(
        # No upstream package: the upstream DB-API wrapper, as the others use it.
        "pg8000",
        "otel_xray.instrumentation.pg8000",
        "Pg8000Instrumentor",
    ),
    "pymysql": Instrumentation(
        "pymysql", "opentelemetry.instrumentation.pymysql", "PyMySQLInstrumentor"
    ),
    "mysql": Instrumentation(
        "mysql.connector",
        "opentelemetry.instrumentation.mysql",
        "MySQLInstrumentor",
        # The connector's own traceparent query attribute off: it empties prepared
        # statements' results on MariaDB (see the module).
        hook="otel_xray.instrumentation.mysql_connector",
    ),
    "sqlalchemy": Instrumentation(
        "sqlalchemy", "opentelemetry.instrumentation.sqlalchemy", "SQLAlchemyInstrumentor"
    ),
    "asyncpg": Instrumentation(
        # SQLAlchemy's async engine over asyncpg calls these same methods (prepared
        # statements), so both are traced, as with the sync drivers.
        "asyncpg", "opentelemetry.instrumentation.asyncpg", "AsyncPGInstrumentor"
    ),
    "redis": Instrumentation(
        "redis", "opentelemetry.instrumentation.redis", "RedisInstrumentor"
    ),
    "pymongo": Instrumentation(
        # Not tested against a server: none can be had here (Debian bookworm has no
        # MongoDB); tests/e2e/test_libraries.py checks its command listener on import.
        "pymongo",
        "opentelemetry.instrumentation.pymongo",
        "PymongoInstrumentor",
    ),
    # Web frameworks. In a service each request is the framework's SERVER span (named after
    # its route); inside Lambda upstream's middleware makes an INTERNAL child of the
    # handler's span, and the web hook hands its route up to the handler's span.
    "flask": Instrumentation(
        "flask", "opentelemetry.instrumentation.flask", "FlaskInstrumentor",
        hook="otel_xray.instrumentation.web",
    ),
    "django": Instrumentation(
        # Armed on the first handler's load_middleware, after the settings (see the module).
        "django.core.handlers.base", "otel_xray.instrumentation.django", "DjangoInstrumentor",
        hook="otel_xray.instrumentation.web",
    ),
    "fastapi": Instrumentation(
        "fastapi", "opentelemetry.instrumentation.fastapi", "FastAPIInstrumentor",
        hook="otel_xray.instrumentation.web",
        options=(("exclude_spans", "otel_xray.instrumentation.web:EXCLUDED_ASGI_SPANS"),),
    ),
    "starlette": Instrumentation(
        # Per app, FastAPI's apps left to the row above (see the module).
        "starlette.applications", "otel_xray.instrumentation.starlette", "StarletteInstrumentor",
        hook="otel_xray.instrumentation.web",
    ),
    "powertools-event-handler": Instrumentation(
        # No upstream instrumentation: the route on the handler's span (see the module).
        "aws_lambda_powertools.event_handler.api_gateway",
        "otel_xray.instrumentation.powertools",
        "PowertoolsInstrumentor",
        # The route reaches the request's span even when a child is current (Powertools'
        # Tracer makes the ``## handler`` subsegment around ``app.resolve``).
        hook="otel_xray.instrumentation.web",
    ),
}

#: Libraries the X-Ray SDK's ``patch_all()`` covers that no row above serves, and why.
LEFT_OUT: dict[str, str] = {
    "aiobotocore": (
        "no sound instrumentation to build on: contrib has none, and botocore's wraps "
        "BaseClient._make_api_call, which aiobotocore's AioBaseClient replaces with a "
        "coroutine"
    ),
    "httplib": (
        "http.client itself: no upstream instrumentation; urllib.request (the urllib row), "
        "requests and urllib3 are its users that are traced"
    ),
    "pynamodb": "not a row of its own: it calls DynamoDB through botocore, so the botocore row "
    "traces it (tests/e2e/test_libraries.py)",
}


def instrument(names: Iterable[str], tracer_provider: TracerProvider) -> list[str]:
    """Arm each named instrumentation: applied now if its library is imported already,
    else on the library's first import. Returns the names armed (for :func:`uninstrument`)."""
    armed: list[str] = []
    for name in names:
        entry = REGISTRY[name]
        when_imported(entry.trigger, functools.partial(_apply, name, tracer_provider))
        armed.append(name)
    return armed


def _apply(name: str, tracer_provider: TracerProvider, _module: ModuleType | None = None) -> None:
    entry = REGISTRY[name]
    try:
        instrumentor = getattr(importlib.import_module(entry.module), entry.instrumentor)()
        if not instrumentor.is_instrumented_by_opentelemetry:
            options = {key: _resolve(target) for key, target in entry.options}
            instrumentor.instrument(tracer_provider=tracer_provider, skip_dep_check=True, **options)
        if entry.hook is not None:
            importlib.import_module(entry.hook).install()
    except ImportError as error:
        logger.debug("otel-xray: %s not instrumented: %s", name, error)
    except Exception:
        logger.exception("otel-xray: instrumenting %s failed; continuing without it", name)


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def uninstrument(names: Iterable[str]) -> None:
    """Undo :func:`instrument` (tests, and ``configure`` called again)."""
    for name in names:
        entry = REGISTRY[name]
        cancel(entry.trigger)
        if entry.trigger not in sys.modules:
            continue  # never applied: nothing to undo
        try:
            if entry.hook is not None:
                importlib.import_module(entry.hook).uninstall()
            getattr(importlib.import_module(entry.module), entry.instrumentor)().uninstrument()
        except Exception:
            logger.debug("otel-xray: uninstrumenting %s failed", name, exc_info=True)
