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
    tested |= {"asyncpg", "s3transfer"}  # the idioms below
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


# Each library the way its own documentation uses it ------------------------------------
#
# One invocation per library runs the calls its tutorial teaches (examples/libraries,
# ``case_*_idioms``); each test names the page of each idiom. Where the upstream
# instrumentation missed an idiom, otel_xray/instrumentation says how it is fixed.


def idioms(function: LocalFunction, library: str, **event: Any) -> tuple[Any, list[Document]]:
    """The response, and the invocation's remote and AWS calls in start order; every
    document of the invocation in its one trace, every call under the function's
    subsegment (nothing lost to another thread or task)."""
    response, found, _ = idioms_and_trace(function, library, **event)
    return response, found


def idioms_and_trace(
    function: LocalFunction, library: str, **event: Any
) -> tuple[Any, list[Document], list[Document]]:
    """:func:`idioms`, and every document of the trace, nested ones included."""
    result, store = invoke(function, library=library, case="ok", **event)
    assert result.ok, result.error
    assert {d["trace_id"] for d in result.segments} == {result.root}, "a call left the trace"
    trace = store.trace(result.root)
    assert not trace.orphans
    found = sorted(calls(store, result), key=lambda d: float(d["start_time"]))
    by_id = {d["id"]: d for d, _ in trace.walk()}
    parent_of = {d["id"]: by_id[d["parent_id"]] for d in by_id.values() if "parent_id" in d}
    for d in by_id.values():  # subsegments nested in their parent's document
        parent_of.update({child["id"]: d for child in d.get("subsegments", ())})
    [function_segment] = [d for d in by_id.values() if d.get("origin") == "AWS::Lambda::Function"]
    handler = [d for d in by_id.values() if parent_of.get(d["id"]) is function_segment]
    for call in found:
        ancestor = parent_of[call["id"]]
        while ancestor not in handler:  # under the function, through calls or local work
            assert ancestor["id"] in parent_of, (call, ancestor)
            ancestor = parent_of[ancestor["id"]]
    return result.response, found, list(by_id.values())


def statements(found: list[Document]) -> list[str]:
    return [c["sql"]["sanitized_query"] for c in found if "sanitized_query" in c.get("sql", {})]


def sql_event(server: servers.Server) -> dict[str, Any]:
    return {
        "port": server.port,
        "user": servers.USER,
        "password": servers.PASSWORD,
        "database": servers.DATABASE,
    }


def assert_named_after_database(found: list[Document], database_type: str) -> None:
    """A SQL call is named ``database@host``: the collector's name for a span with
    ``db.name`` (awsxrayexporter internal/translator/segment.go, ``<db name>@<db host>``);
    the X-Ray SDK names it after the host (ext/mysql: ``_host``; ext/sqlalchemy_core:
    the URL's netloc) or the database (ext/sqlite3: the ``connect`` argument). The
    ``sql`` block holds the sanitized statement and the type (sql.go ``makeSQL``)."""
    for call in found:
        assert call["name"] == f"{servers.DATABASE}@127.0.0.1", call
        assert call["namespace"] == "remote" and not call.get("fault"), call
        assert call["sql"]["database_type"] == database_type
        assert "app-secret" not in json.dumps(call)


def test_sqlite3_idioms(function: LocalFunction) -> None:
    """sqlite3 as Python's documentation teaches it (https://docs.python.org/3/library/
    sqlite3.html): ``Connection.execute`` and ``executemany`` (#tutorial,
    #sqlite3.Connection.execute), ``executescript`` (#sqlite3.Connection.executescript),
    the connection as a context manager (#sqlite3-connection-context-manager) and
    ``row_factory = sqlite3.Row`` (#sqlite3-howto-row-factory). Upstream traced none of
    the three shortcuts (their cursors are made in C, past its proxy) and named the
    call after its verb; otel_xray/instrumentation/sqlite.py (our wrapper) traces them
    and names the call after the database, as ext/sqlite3 of the X-Ray SDK does."""
    response, found = idioms(function, "sqlite3-idioms")
    assert response == {"n": 3, "titles": ["Monty", "Grail", "Life"]}
    assert statements(found) == [
        "CREATE TABLE movie(title, year, score)",
        "INSERT INTO movie VALUES(?, ?, ?)",  # executemany: one call, as the SDK's
        "BEGIN; CREATE TABLE person(name); INSERT INTO person VALUES (?); COMMIT;",
        "INSERT INTO movie VALUES(?, ?, ?)",  # inside `with db:`
        "SELECT count(*) AS n FROM movie",
        "SELECT title FROM movie ORDER BY year",
    ]
    for call in found:
        assert call["name"] == ":memory:" and call["namespace"] == "remote"
        assert call["sql"]["database_type"] == "sqlite" and not call.get("fault")


def test_psycopg_idioms(function: LocalFunction, postgresql: servers.Server) -> None:
    """psycopg 3: ``Connection.execute`` and ``with conn.cursor()`` (https://www.psycopg.org/
    psycopg3/docs/basic/usage.html), ``pipeline()`` (docs/advanced/pipeline.html), the
    async connection (docs/advanced/async.html), ``COPY`` with ``cursor.copy``
    (docs/basic/copy.html) and a server-side cursor (docs/advanced/cursors.html
    #server-side-cursors). In a pipeline each ``execute`` is one subsegment, as the
    X-Ray SDK records each ``execute`` (ext/dbapi2.py ``XRayTracedCursor.execute``).
    COPY and server-side cursors were untraced upstream;
    otel_xray/instrumentation/psycopg3_cursors.py (a hook)."""
    response, found = idioms(function, "psycopg-idioms", **sql_event(postgresql))
    assert response == [5, 5, 6, 7]
    assert statements(found) == [
        "CREATE TEMP TABLE item (id int, name text)",
        "INSERT INTO item VALUES (%s, %s)",
        "INSERT INTO item VALUES (%s, %s)",  # pipeline
        "INSERT INTO item VALUES (%s, %s)",  # pipeline
        "COPY item (id, name) FROM STDIN",
        "SELECT count(*) FROM item",
        "SELECT id FROM item WHERE id > %s",  # conn.cursor(name=...): server-side
        "SELECT %s::int",  # AsyncConnection
        "COPY (SELECT ?) TO STDOUT",  # AsyncCursor.copy
        "SELECT ?",  # AsyncConnection.cursor(name=...): server-side
    ]
    assert_named_after_database(found, "postgresql")


def test_psycopg2_idioms(function: LocalFunction, postgresql: servers.Server) -> None:
    """psycopg2: ``with conn:`` as a transaction and ``with conn.cursor()``
    (https://www.psycopg.org/docs/usage.html#with-statement), a named (server-side)
    cursor (usage.html#server-side-cursors), ``execute_values``
    (https://www.psycopg.org/docs/extras.html#fast-execution-helpers: one subsegment
    for the one statement it sends) and ``cursor(cursor_factory=RealDictCursor)``
    (extras.html#dictionary-like-cursor), which upstream left untraced (a factory per
    cursor replaces the traced one it gives ``connect``);
    otel_xray/instrumentation/psycopg2_cursors.py (a hook)."""
    response, found = idioms(function, "psycopg2-idioms", **sql_event(postgresql))
    assert response == [1, 2, "two"]
    assert statements(found) == [
        "CREATE TEMP TABLE item (id int, name text)",
        "INSERT INTO item (id, name) VALUES (?,?),(?,?)",
        "SELECT id FROM item ORDER BY id",
        "SELECT name FROM item WHERE id = %s",  # cursor(cursor_factory=RealDictCursor)
    ]
    assert_named_after_database(found, "postgresql")


@pytest.mark.parametrize("library", ["pymysql", "mysql"])
def test_mysql_driver_idioms(
    library: str, function: LocalFunction, mariadb: servers.Server
) -> None:
    """``with conn.cursor()`` and ``executemany`` (PyMySQL: https://pymysql.readthedocs.io/
    en/latest/user/examples.html and modules/cursors.html; mysql-connector:
    https://dev.mysql.com/doc/connector-python/en/connector-python-api-mysqlcursor-
    executemany.html), and mysql-connector's ``cursor(prepared=True)``
    (connector-python-api-mysqlcursorprepared.html). That one read no row on MariaDB
    once traced: the connector appends its own ``traceparent`` query attribute under a
    recording span; otel_xray/instrumentation/mysql_connector.py (a hook) turns it off."""
    response, found = idioms(function, f"{library}-idioms", **sql_event(mariadb))
    expected = [
        "CREATE TEMPORARY TABLE item (id int, name varchar(?))",
        "INSERT INTO item (id, name) VALUES (%s, %s)",  # executemany: one call
        "SELECT count(*) FROM item",
    ]
    if library == "mysql":
        assert response == [2, "two"]  # the prepared statement's row
        expected.append("SELECT name FROM item WHERE id = %s")
    else:
        assert response == [2]
    assert statements(found) == expected
    assert_named_after_database(found, "mysql")


def test_sqlalchemy_idioms(function: LocalFunction, postgresql: servers.Server) -> None:
    """SQLAlchemy 2.0: ``engine.begin()`` and ``engine.connect()`` with ``text()``
    (https://docs.sqlalchemy.org/en/20/tutorial/dbapi_transactions.html), ORM
    ``session.add`` + ``commit`` (tutorial/orm_data_manipulation.html) and
    ``Session.execute(select(...))`` (tutorial/data_select.html). Each statement is a
    SQLAlchemy span and the driver's (both instrumented, as the X-Ray SDK records both
    when ext/sqlalchemy_core and ext/psycopg2 are patched)."""
    response, found = idioms(function, "sqlalchemy-idioms", **sql_event(postgresql), suffix="s")
    assert response == ["one", "one", "two"]
    sent = statements(found)
    for statement in (
        "INSERT INTO item_s VALUES (?, ?)",  # text() in engine.begin()
        "SELECT name FROM item_s",  # text() in engine.connect()
        "INSERT INTO item_s (id, name) VALUES (%(id)s, %(name)s)",  # session.add + commit
        "SELECT item_s.name \nFROM item_s ORDER BY item_s.id",  # Session.execute(select())
    ):
        assert sent.count(statement) == 2, (statement, sent)
    assert_named_after_database([c for c in found if "sql" in c], "postgresql")


def test_sqlalchemy_async_engine_over_asyncpg(
    function: LocalFunction, postgresql: servers.Server
) -> None:
    """``create_async_engine("postgresql+asyncpg://...")`` (https://docs.sqlalchemy.org/en/
    20/orm/extensions/asyncio.html): the asyncpg row of the registry traces the
    prepared statements the dialect runs; with SQLAlchemy's own span, two per query."""
    response, found = idioms(function, "sqlalchemy-async", **sql_event(postgresql))
    assert response == 1
    assert statements(found).count("SELECT ?") == 2
    assert_named_after_database([c for c in found if "sql" in c], "postgresql")


def test_asyncpg_pool_under_gather(function: LocalFunction, postgresql: servers.Server) -> None:
    """asyncpg's pool (https://magicstack.github.io/asyncpg/current/usage.html#connection-
    pools), three queries at once under ``asyncio.gather``: each on a pool connection,
    each in the caller's trace under the function (asyncio tasks copy the context)."""
    response, found = idioms(function, "asyncpg-pool", **sql_event(postgresql))
    assert response == [0, 1, 2]
    assert statements(found).count("SELECT $1::int") == 3
    assert_named_after_database(found, "postgresql")


def test_redis_idioms(function: LocalFunction, redis_server: servers.Server) -> None:
    """redis-py: ``pipeline()`` (a MULTI/EXEC transaction by default),
    ``pipeline(transaction=False)`` and ``transaction(func, *watches)``
    (https://redis.readthedocs.io/en/stable/advanced_features.html#pipelines), pub/sub
    ``publish`` (#publish-subscribe) and
    ``redis.asyncio`` (examples/asyncio_examples.html). A pipeline is one subsegment
    with its commands, as the upstream instrumentation makes it
    (opentelemetry-instrumentation-redis ``_traced_execute_pipeline``: one span, the
    commands joined in ``db.statement``); the X-Ray SDK has no Redis patch to compare."""
    response, found = idioms(function, "redis-idioms", port=redis_server.port)
    assert response == ["placed", "paid"]
    for call in found:
        assert call["name"] == "127.0.0.1" and call["namespace"] == "remote"
        assert not call.get("fault") and "sql" not in call  # Redis is not SQL (sql.go)
    commands = [c["metadata"]["default"].get("db.statement", "").split("\n") for c in found]
    assert commands == [
        ["SET ? ?", "INCRBY ? ?", "GET ?"],  # pipeline(): MULTI/EXEC; incr() is INCRBY key 1
        ["GET ?", "GET ?"],  # pipeline(transaction=False)
        ["PUBLISH ? ?"],
        # transaction(func, "orders:count"): WATCH and the reads run at once, then the
        # queued commands as one MULTI/EXEC pipeline
        ["WATCH ?"],
        ["GET ?"],
        ["SET ? ?"],
        ["SET ? ?"],  # redis.asyncio
        ["GET ?", "INCRBY ? ?"],  # redis.asyncio pipeline
        ["GET ?"],
    ], commands


def urls(found: list[Document]) -> list[str]:
    return sorted(c["http"]["request"]["url"].split("/", 3)[3] for c in found)


def assert_http(found: list[Document]) -> None:
    for call in found:
        assert call["name"] == "127.0.0.1" and call["namespace"] == "remote"
        assert call["http"]["response"]["status"] == 200 and not call.get("fault")


def test_httpx_idioms(function: LocalFunction, http_server: str) -> None:
    """httpx: ``Client(base_url=...)`` (https://www.python-httpx.org/advanced/clients/),
    streaming responses with ``client.stream`` (quickstart/#streaming-responses) and
    ``AsyncClient`` under ``asyncio.gather`` (https://www.python-httpx.org/async/):
    every request one subsegment named after the host, in the caller's trace."""
    response, found = idioms(function, "httpx-idioms", url=http_server)
    assert response == [200, 12, 200, 200, 200]
    assert urls(found) == ["ok/0", "ok/1", "ok/2", "ok/astream", "ok/base", "ok/stream"]
    assert_http(found)


def test_aiohttp_idioms(function: LocalFunction, http_server: str) -> None:
    """aiohttp: ``async with session.get(...)`` in a ``ClientSession``
    (https://docs.aiohttp.org/en/stable/client_quickstart.html), three under
    ``asyncio.gather``: each its own subsegment under the function."""
    response, found = idioms(function, "aiohttp-idioms", url=http_server)
    assert response == [200, 200, 200]
    assert urls(found) == ["ok/0", "ok/1", "ok/2"]
    assert_http(found)


def test_urllib3_idioms(function: LocalFunction, http_server: str) -> None:
    """urllib3: ``PoolManager().request`` and ``preload_content=False`` with
    ``response.stream()`` (https://urllib3.readthedocs.io/en/stable/user-guide.html,
    #making-requests and #streaming-and-i-o)."""
    response, found = idioms(function, "urllib3-idioms", url=http_server)
    assert response == [200, 12]
    assert urls(found) == ["ok/pool", "ok/stream"]
    assert_http(found)


def test_boto3_idioms(function: LocalFunction, aws: LocalServices) -> None:
    """boto3: the resource API, ``dynamodb.Table(...).put_item`` and ``s3.Object(...).put``
    (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/resources.html,
    guide/dynamodb.html), a waiter (guide/clients.html#waiters), a paginator
    (guide/paginators.html) and ``upload_file`` / ``download_file``
    (guide/s3-uploading-files.html, guide/s3-example-download-file.html) of 11 MiB in
    5 MiB parts. Those run every S3 call on s3transfer's worker threads; before
    otel_xray/instrumentation/s3transfer.py (our wrapper) each became a trace of its own.
    Now all are in the function's trace, under the function (``idioms`` checks), inside
    one local subsegment per transfer (ours: the X-Ray SDK has none)."""
    event = {"table": aws.table, "bucket": aws.bucket}
    response, found, subsegments = idioms_and_trace(function, "boto3-idioms", **event)
    assert response == {"keys": ["receipts/r-1.txt", "receipts/r-2.txt"], "size": 11 * 2**20}
    operations = [(c["name"], c["aws"]["operation"]) for c in found]
    assert operations[:6] == [
        ("DynamoDB", "PutItem"),
        ("S3", "PutObject"),
        ("S3", "PutObject"),
        ("S3", "HeadObject"),  # the waiter's one poll: the object is there
        ("S3", "ListObjectsV2"),  # PageSize=1: one page per key,
        ("S3", "ListObjectsV2"),
    ]
    assert found[0]["aws"]["table_name"] == aws.table
    transfer = [operation for _, operation in operations[6:]]
    assert transfer.count("UploadPart") == 3 and transfer.count("GetObject") == 3, transfer
    assert {"CreateMultipartUpload", "CompleteMultipartUpload", "HeadObject"} <= set(transfer)
    assert all(not c.get("fault") for c in found)
    # Under the call: each transfer is one local subsegment with its S3 calls in it.
    [upload] = [d for d in subsegments if d["name"] == "S3.upload_file"]
    [download] = [d for d in subsegments if d["name"] == "S3.download_file"]
    assert "namespace" not in upload and "namespace" not in download  # no map node
    inside = {
        name: sorted(c["aws"]["operation"] for c in transfer_document.get("subsegments", []))
        for name, transfer_document in (("upload", upload), ("download", download))
    }
    assert inside["upload"] == [
        "CompleteMultipartUpload",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "UploadPart",
    ], inside
    assert inside["download"].count("GetObject") == 3 and "HeadObject" in inside["download"]


def test_psycopg_copy_error(function: LocalFunction, postgresql: servers.Server) -> None:
    """A failing COPY (no such table) is a fault with psycopg's own error, raised to the
    function as without tracing."""
    result, store = invoke(
        function, library="psycopg-copy-error", case="error", **sql_event(postgresql)
    )
    assert not result.ok and "UndefinedTable" in json.dumps(result.error)
    [copy] = [c for c in calls(store, result) if c.get("sql", {}).get("url") == "COPY"]
    assert copy["name"] == f"{servers.DATABASE}@127.0.0.1" and copy["fault"] is True
    assert "UndefinedTable" in copy["cause"]["exceptions"][0]["type"]
