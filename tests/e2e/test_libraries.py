"""Each traced library through the built layer, against a real server on loopback.

One sandbox (``examples/libraries``, packaged by ``make examples`` as a function's
deployment package) imports each library inside its handler, after the layer
started: the layer instruments it on that import (lazy by import). Servers: real
PostgreSQL, MariaDB (for both MySQL drivers) and Redis from Debian's packages
(``tests/e2e/servers.py``; ``.ci/run`` installs them), moto's DynamoDB for pynamodb,
a loopback HTTP server for the HTTP clients. Every case checks what the console would
show: the subsegment and its block, its node in the service map, and, for a bad
query, a refused connection or a 500, the flags and the cause.

What the X-Ray SDK gives for the same calls (aws-xray-sdk-python, ``ext/dbapi2.py``,
``ext/sqlalchemy``, ``ext/httpx``, ``ext/aiohttp/client.py``): a ``remote``
subsegment named ``database@host`` with an ``sql`` block for SQL, and one named after
the host with the ``http`` block for HTTP; an exception marks it fault, a 4xx error,
a 429 throttle, a 5xx fault.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from examples.local_services import BUILD, LocalServices
from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import Document, TraceStore
from otel_xray.instrumentation import LEFT_OUT, REGISTRY
from tests.e2e import servers
from tests.ports import unused_port

FUNCTION = BUILD / "libraries"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        status = 200 if self.path.startswith("/ok") else 500
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _server(kind: type[servers.Server]) -> Iterator[servers.Server]:
    reason = kind.available()
    if reason:
        pytest.skip(reason)
    server = kind()
    try:
        yield server.start()  # type: ignore[attr-defined]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def postgresql() -> Iterator[servers.Server]:
    yield from _server(servers.PostgreSQL)


@pytest.fixture(scope="module")
def mariadb() -> Iterator[servers.Server]:
    yield from _server(servers.MariaDB)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[servers.Server]:
    yield from _server(servers.Redis)


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalServices]:
    with LocalServices() as running:
        yield running


@pytest.fixture(scope="module")
def function(aws: LocalServices) -> Iterator[LocalFunction]:
    if not (FUNCTION / ".built").exists():
        pytest.fail("run 'make examples' first")
    env = {"AWS_ENDPOINT_URL": aws.aws_endpoint}
    with LocalFunction("app.handler", FUNCTION, function_name="library-user", env=env) as fn:
        yield fn


def invoke(function: LocalFunction, **event: Any) -> tuple[InvocationResult, TraceStore]:
    result = function.invoke(event)
    store = TraceStore(result.segments)
    assert result.rejected == []
    return result, store


def calls(store: TraceStore, result: InvocationResult) -> list[Document]:
    """The remote and AWS subsegments of the invocation's trace."""
    return [
        d for d, _ in store.trace(result.root).walk() if d.get("namespace") in ("remote", "aws")
    ]


def node_labels(store: TraceStore) -> set[str]:
    return {n.label for n in ServiceGraph.build(store).nodes.values()}


def the_call(store: TraceStore, result: InvocationResult) -> Document:
    found = calls(store, result)
    assert len(found) == 1, json.dumps(result.segments, indent=1)[:4000]
    return found[0]


# SQL ------------------------------------------------------------------------------------


def the_query(store: TraceStore, result: InvocationResult, starts: str = "SELECT ?") -> Document:
    """The subsegment of the function's own query. SQLAlchemy adds its dialect's set-up
    queries and its own span around the driver's (both instrumented, as the X-Ray SDK
    records both when both are patched); the driver's is the innermost."""
    found = [
        c
        for c in calls(store, result)
        if c.get("sql", {}).get("sanitized_query", "").startswith(starts)
    ]
    assert found, json.dumps([c.get("sql") for c in calls(store, result)], indent=1)
    return found[-1]


SQL_CASES = {
    # library: (server fixture, database type)
    "psycopg2": ("postgresql", "postgresql"),
    "psycopg": ("postgresql", "postgresql"),
    "pg8000": ("postgresql", "postgresql"),
    "sqlalchemy": ("postgresql", "postgresql"),
    "pymysql": ("mariadb", "mysql"),
    "mysql": ("mariadb", "mysql"),
}


@pytest.mark.parametrize("library", sorted(SQL_CASES))
def test_sql_libraries(
    library: str, function: LocalFunction, request: pytest.FixtureRequest
) -> None:
    fixture, database_type = SQL_CASES[library]
    server: servers.Server = request.getfixturevalue(fixture)
    event = {
        "library": library,
        "port": server.port,
        "user": servers.USER,
        "password": servers.PASSWORD,
        "database": servers.DATABASE,
    }
    result, store = invoke(function, **event, case="ok")
    assert result.ok, result.error
    call = the_query(store, result)
    assert call["name"] == f"{servers.DATABASE}@127.0.0.1"
    assert call["namespace"] == "remote" and not call.get("fault")
    assert call["sql"]["database_type"] == database_type
    assert call["sql"]["sanitized_query"].upper().startswith("SELECT")
    assert servers.PASSWORD not in json.dumps(result.segments)
    assert f"{servers.DATABASE}@127.0.0.1 (remote)" in node_labels(store)

    failed, failed_store = invoke(function, **event, case="error")
    assert not failed.ok
    call = the_query(failed_store, failed, "SELEC")
    assert call["fault"] is True
    [exception] = call["cause"]["exceptions"][:1]
    assert exception["type"]  # the driver's own error class


def test_sqlite3(function: LocalFunction) -> None:
    result, store = invoke(function, library="sqlite3", case="ok")
    assert result.ok, result.error
    call = the_call(store, result)
    assert call["namespace"] == "remote" and call["sql"]["database_type"] == "sqlite"
    failed, failed_store = invoke(function, library="sqlite3", case="error")
    assert the_call(failed_store, failed)["fault"] is True


# Other stores ---------------------------------------------------------------------------


def test_redis(function: LocalFunction, redis_server: servers.Server) -> None:
    result, store = invoke(function, library="redis", case="ok", port=redis_server.port)
    assert result.ok and result.response == "placed", result.error
    found = calls(store, result)
    assert len(found) == 2  # SET, GET
    assert {c["name"] for c in found} == {"127.0.0.1"}
    assert all(c["namespace"] == "remote" and not c.get("fault") for c in found)
    assert "127.0.0.1 (remote)" in node_labels(store)
    refused, refused_store = invoke(function, library="redis", case="error", port=unused_port())
    assert not refused.ok
    call = the_call(refused_store, refused)
    assert call["fault"] is True and "ConnectionError" in call["cause"]["exceptions"][0]["type"]


# HTTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("library", ["urllib", "httpx", "httpx-async", "aiohttp"])
def test_http_clients(library: str, function: LocalFunction, http_server: str) -> None:
    result, store = invoke(function, library=library, case="ok", url=f"{http_server}/ok")
    assert result.ok and result.response == 200, result.error
    call = the_call(store, result)
    assert call["name"] == "127.0.0.1" and call["namespace"] == "remote"
    assert call["http"]["request"]["method"] == "GET"
    assert call["http"]["response"]["status"] == 200
    assert "127.0.0.1 (remote)" in node_labels(store)
    failed, failed_store = invoke(
        function, library=library, case="error", url=f"{http_server}/fail"
    )
    call = the_call(failed_store, failed)
    assert call["http"]["response"]["status"] == 500 and call["fault"] is True
    refused, refused_store = invoke(
        function, library=library, case="error", url=f"http://127.0.0.1:{unused_port()}/"
    )
    assert not refused.ok
    call = the_call(refused_store, refused)
    assert call["fault"] is True and call["cause"]["exceptions"]


# AWS through botocore -------------------------------------------------------------------


def test_pynamodb_goes_through_botocore(function: LocalFunction, aws: LocalServices) -> None:
    event = {"library": "pynamodb", "table": aws.table, "endpoint": aws.aws_endpoint}
    result, store = invoke(function, **event, case="ok")
    assert result.ok, result.error
    # Model.count() without a key is DescribeTable's ItemCount.
    [call] = [c for c in calls(store, result) if c["aws"].get("operation") == "DescribeTable"]
    assert call["name"] == "DynamoDB" and call["aws"]["table_name"] == aws.table
    failed, failed_store = invoke(function, **event, case="error")
    [missing] = [c for c in calls(failed_store, failed) if c["aws"].get("operation") == "GetItem"]
    assert missing["error"] is True and not missing.get("fault")  # a 400: the caller's error


# The registry ---------------------------------------------------------------------------


def test_every_library_has_a_case_or_a_reason() -> None:
    """pymongo: the row ships, but no MongoDB server can be had here (Debian bookworm has
    no package), so only its instrumentation's presence is checked (below)."""
    tested = set(SQL_CASES) | {"sqlite3", "redis", "urllib", "httpx", "aiohttp-client"}
    tested |= {"botocore", "requests", "urllib3"}  # tests/e2e/test_service_map.py
    # tests/functional/test_web_frameworks.py (each framework, in a service and in Lambda)
    # and tests/e2e/test_servers.py (Flask, Django, FastAPI under gunicorn and uvicorn).
    tested |= {"flask", "django", "fastapi", "starlette", "powertools-event-handler"}
    untested = set(REGISTRY) - tested
    assert untested == {"pymongo"}
    assert set(LEFT_OUT) == {"aiobotocore", "httplib", "pynamodb"}


def test_pymongo_is_instrumented_on_import(function: LocalFunction) -> None:
    """Without a server pymongo starts no command, so there is no span to see; the
    instrumentation's command listener, registered on pymongo's import, shows it."""
    result, _ = invoke(function, library="pymongo-listeners", case="ok")
    assert result.ok, result.error
    assert "CommandTracer" in result.response
