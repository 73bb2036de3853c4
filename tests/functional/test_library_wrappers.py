"""otel-xray's own library wrappers in-process, on inputs the idiom tests do not use:
sqlite3's other ways to name a database and its error paths, s3transfer's real executor
under load and failure and a failed ``upload_file`` (moto's server), mysql-connector's
connection objects of every shape.

The idioms themselves, through the built layer against real servers, are in
tests/e2e/test_libraries.py.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from s3transfer.futures import BoundedExecutor, TransferCoordinator
from s3transfer.tasks import Task

from otel_xray.devtools.services.moto_server import AwsServices
from otel_xray.instrumentation import mysql_connector
from otel_xray.instrumentation.s3transfer import S3TransferInstrumentor
from otel_xray.instrumentation.sqlite import SQLiteInstrumentor, _database
from otel_xray.testing import XRayCapture
from otel_xray.xray.segment import sanitize_name


def sql_calls(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in documents if "sql" in d]


# sqlite3 -------------------------------------------------------------------------------


def test_sqlite_databases_named_every_way_connect_accepts(
    xray: XRayCapture, tmp_path: Path
) -> None:
    """``connect`` takes a str, a path-like or bytes, positionally or as ``database=``,
    and a URI with ``uri=True`` (https://docs.python.org/3/library/sqlite3.html#sqlite3.connect);
    each call is named after what was given, as the X-Ray SDK names it (``args[0]``)."""
    path = tmp_path / "orders.db"

    def handler(event: Any, context: Any) -> Any:
        for connection in (
            sqlite3.connect(str(path)),
            sqlite3.connect(path),
            sqlite3.connect(os.fsencode(path)),
            sqlite3.connect(database=path),
            sqlite3.connect(f"file:{path}?mode=ro", uri=True),
        ):
            connection.execute("SELECT 1")
            connection.close()

    result = xray.invoke(handler, {})
    assert result.error is None
    names = [d["name"] for d in sql_calls(result.documents)]
    assert names == [str(path)] * 4 + [sanitize_name(f"file:{path}?mode=ro")]


@given(st.one_of(st.text(), st.binary(), st.none(), st.integers(), st.builds(Path, st.text())))
def test_any_database_argument_gives_a_name_or_none(value: Any) -> None:
    """Whatever reaches ``connect`` (sqlite3 itself refuses most), the name is a str."""
    name = _database((value,), {})
    assert isinstance(name, str)
    assert name == "" or sanitize_name(name)


def test_sqlite_errors_and_rollback_keep_the_library_behaviour(xray: XRayCapture) -> None:
    """A failing ``executescript`` is a fault with sqlite3's own error and still raises it;
    an exception inside ``with db:`` rolls back and reaches the caller unchanged
    (#sqlite3-connection-context-manager); ``Connection.execute`` returns a cursor that
    traces what runs on it next; the proxy is a ``sqlite3.Connection`` to ``isinstance``."""
    seen: dict[str, Any] = {}

    def handler(event: Any, context: Any) -> Any:
        db = sqlite3.connect(":memory:")
        seen["is_connection"] = isinstance(db, sqlite3.Connection)
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        with pytest.raises(sqlite3.OperationalError):
            db.executescript("INSERT INTO t VALUES (1); SELEC nothing;")
        with pytest.raises(ZeroDivisionError), db:
            db.execute("INSERT INTO t VALUES (2)")
            _ = 1 / 0
        cursor = db.execute("SELECT count(*) FROM t")
        seen["count"] = cursor.fetchone()[0]
        cursor.execute("SELECT id FROM t")
        seen["ids"] = [row[0] for row in cursor.fetchall()]
        with pytest.raises(sqlite3.IntegrityError):
            db.executemany("INSERT INTO t VALUES (?)", [(3,), (3,)])
        return "done"

    result = xray.invoke(handler, {})
    assert result.error is None and result.response == "done"
    # executescript commits first, so its INSERT stays; the `with` block's is rolled back.
    assert seen == {"is_connection": True, "count": 1, "ids": [1]}
    calls = sql_calls(result.documents)
    queries = [c["sql"]["sanitized_query"] for c in calls]
    assert queries == [
        "CREATE TABLE t (id INTEGER PRIMARY KEY)",
        "INSERT INTO t VALUES (?); SELEC nothing;",
        "INSERT INTO t VALUES (?)",
        "SELECT count(*) FROM t",
        "SELECT id FROM t",  # on the cursor Connection.execute returned
        "INSERT INTO t VALUES (?)",
    ]
    faults = [c for c in calls if c.get("fault")]
    assert [c["cause"]["exceptions"][0]["type"] for c in faults] == [
        "sqlite3.OperationalError",
        "sqlite3.IntegrityError",
    ]


def test_sqlite_backup_between_traced_connections(xray: XRayCapture) -> None:
    """``src.backup(dst)`` as documented (#sqlite3.Connection.backup): sqlite3 checks the
    target's type in C, so a proxy there was refused (upstream's proxy too)."""

    def handler(event: Any, context: Any) -> Any:
        source = sqlite3.connect(":memory:")
        source.execute("CREATE TABLE t (x)")
        source.execute("INSERT INTO t VALUES (1)")
        source.commit()
        target = sqlite3.connect(":memory:")
        source.backup(target)
        return target.execute("SELECT x FROM t").fetchall()

    result = xray.invoke(handler, {})
    assert result.error is None and result.response == [(1,)]


def test_sqlite_uninstrument_gives_back_the_plain_connect() -> None:
    provider = TracerProvider()
    instrumentor = SQLiteInstrumentor()
    before = sqlite3.connect
    instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
    try:
        assert sqlite3.connect is not before
        assert type(sqlite3.connect(":memory:")).__name__ == "_Connection"
    finally:
        instrumentor.uninstrument()
    assert sqlite3.connect is before
    assert type(sqlite3.connect(":memory:")) is sqlite3.Connection


# s3transfer ----------------------------------------------------------------------------


class _Recording(Task):  # type: ignore[misc]
    """An s3transfer task that records the span current on its worker thread."""

    def _main(self, seen: list[Any], fail: bool) -> None:
        seen.append(
            (trace.get_current_span().get_span_context().span_id, threading.current_thread())
        )
        if fail:
            raise RuntimeError("part failed")


def test_s3transfer_tasks_run_in_the_submitters_context_on_real_worker_threads() -> None:
    """s3transfer's own ``BoundedExecutor`` and ``Task``: 50 tasks on 10 threads, each
    sees the span current where it was submitted; a failing task still fails its
    transfer with its own error (s3transfer's ``TransferCoordinator``)."""
    instrumentor = S3TransferInstrumentor()
    instrumentor.instrument(skip_dep_check=True)
    tracer = TracerProvider().get_tracer("test")
    try:
        executor = BoundedExecutor(max_size=20, max_num_threads=10)
        seen: list[Any] = []
        coordinator = TransferCoordinator(transfer_id=1)
        with tracer.start_as_current_span("upload_file") as span:
            futures = [
                executor.submit(_Recording(coordinator, main_kwargs={"seen": seen, "fail": False}))
                for _ in range(50)
            ]
        failing = TransferCoordinator(transfer_id=2)
        with tracer.start_as_current_span("download_file"):
            executor.submit(
                _Recording(failing, main_kwargs={"seen": [], "fail": True}, is_final=True)
            )
        for future in futures:
            future.result()
        executor.shutdown()
        assert len(seen) == 50
        assert {span_id for span_id, _ in seen} == {span.get_span_context().span_id}
        assert all(thread is not threading.main_thread() for _, thread in seen)
        with pytest.raises(RuntimeError, match="part failed"):
            failing.result()
    finally:
        instrumentor.uninstrument()
    assert not hasattr(BoundedExecutor.submit, "__otel_xray_original__")


def test_a_failed_upload_is_a_fault_on_its_transfer_subsegment(
    xray: XRayCapture, tmp_path: Path
) -> None:
    """``upload_file`` to a bucket that does not exist, against moto's server: boto3
    raises ``S3UploadFailedError`` to the function as untraced; the ``S3.upload_file``
    subsegment is a fault with it, and the failed ``PutObject`` (from a worker thread)
    is inside it, in the same trace."""
    source = tmp_path / "receipt.txt"
    source.write_bytes(b"receipt")
    with AwsServices() as aws:
        client = aws.client("s3")

        def handler(event: Any, context: Any) -> Any:
            client.upload_file(str(source), "no-such-bucket", "r.txt")

        result = xray.invoke(handler, {})
    assert type(result.error).__name__ == "S3UploadFailedError"
    [upload] = [d for d in result.documents if d["name"] == "S3.upload_file"]
    assert upload["fault"] is True
    assert upload["cause"]["exceptions"][0]["type"].endswith("S3UploadFailedError")
    [put] = [d for d in result.documents if d.get("aws", {}).get("operation") == "PutObject"]
    assert put["parent_id"] == upload["id"] and put["trace_id"] == upload["trace_id"]
    assert put["error"] is True  # moto's 404 NoSuchBucket: the caller's error


# mysql-connector -----------------------------------------------------------------------


class _Slotted:
    __slots__ = ()


class _Refusing:
    @property
    def otel_context_propagation(self) -> bool:
        return True

    @otel_context_propagation.setter
    def otel_context_propagation(self, value: bool) -> None:
        raise RuntimeError("read-only here")


@pytest.mark.parametrize(
    "made",
    [
        SimpleNamespace(otel_context_propagation=True),
        # a pooled connection: its own connection (_cnx) is the one that sends queries
        SimpleNamespace(_cnx=SimpleNamespace(otel_context_propagation=True)),
        SimpleNamespace(),  # a connector older than 8.1: nothing to turn off
        _Slotted(),
        _Refusing(),
        None,
    ],
)
def test_mysql_connect_turns_propagation_off_on_any_connection(made: Any) -> None:
    connect = mysql_connector._without_propagation(lambda *args, **kwargs: made)
    assert connect(host="127.0.0.1") is made
    for target in (made, getattr(made, "_cnx", None)):
        if isinstance(target, SimpleNamespace) and hasattr(target, "otel_context_propagation"):
            assert target.otel_context_propagation is False
