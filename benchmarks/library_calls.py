"""Cost per call of otel-xray's own library wrappers, next to the upstream ones they extend.

Spans go to a processor that drops them, so the figures are the wrappers and the
SDK's span, not export. Each row is the median of several repeats, in microseconds:

- sqlite3 ``cursor.execute("SELECT 1")``: untraced, through the upstream DB-API proxy,
  through ours (``otel_xray.instrumentation.sqlite``; the difference is our wrapper's
  cost on a call upstream already traced, with the ``db.name`` attribute it adds), and
  ``Connection.execute`` through ours (upstream left it untraced: its cost is a new
  traced call's);
- s3transfer: a task run under the submitter's context
  (``otel_xray.instrumentation.s3transfer``) against the bare task, per S3 call of a
  transfer;
- psycopg: making a connection's cursor class with ``copy`` traced
  (``otel_xray.instrumentation.psycopg3_cursors``), once per connection; no server needed.

The mysql-connector hook costs one attribute write per ``connect`` and nothing per
query. ``python -m benchmarks.library_calls [--calls 20000] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from benchmarks import save
from otel_xray.instrumentation.psycopg3_cursors import _with_copy
from otel_xray.instrumentation.s3transfer import _InCallersContext
from otel_xray.instrumentation.sqlite import SQLiteInstrumentor


class Sink(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        return None


def _per_call(run: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median over repeats of the mean µs per call."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def sqlite_rows(provider: TracerProvider, calls: int, repeats: int) -> dict[str, float]:
    """Upstream and ours alternate in each round, so machine load falls on both alike."""
    samples: dict[str, list[float]] = {}

    def sample(name: str, run: Callable[[], Any]) -> None:
        samples.setdefault(name, []).append(_per_call(run, calls, 1))

    bare = sqlite3.connect(":memory:").cursor()
    for _ in range(repeats):
        sample("sqlite3 cursor.execute, untraced", lambda: bare.execute("SELECT 1"))
        upstream = SQLite3Instrumentor()
        upstream.instrument(tracer_provider=provider, skip_dep_check=True)
        traced = sqlite3.connect(":memory:").cursor()
        sample("sqlite3 cursor.execute, upstream proxy", lambda c=traced: c.execute("SELECT 1"))
        upstream.uninstrument()
        ours = SQLiteInstrumentor()
        ours.instrument(tracer_provider=provider, skip_dep_check=True)
        connection = sqlite3.connect(":memory:")
        cursor = connection.cursor()
        sample("sqlite3 cursor.execute, ours", lambda c=cursor: c.execute("SELECT 1"))
        sample(
            "sqlite3 Connection.execute, ours (untraced upstream)",
            lambda c=connection: c.execute("SELECT 1"),
        )
        ours.uninstrument()
    return {name: statistics.median(values) for name, values in samples.items()}


def s3transfer_rows(provider: TracerProvider, calls: int, repeats: int) -> dict[str, float]:
    def task() -> None:
        return None

    tracer = provider.get_tracer("bench")
    rows: dict[str, float] = {"s3transfer task, bare": _per_call(task, calls, repeats)}
    with tracer.start_as_current_span("upload_file"):
        rows["s3transfer task, wrapped and run in the caller's context"] = _per_call(
            lambda: _InCallersContext(task).__call__(), calls, repeats
        )
    return rows


def psycopg_rows(provider: TracerProvider, calls: int, repeats: int) -> dict[str, float]:
    name = "opentelemetry.instrumentation.psycopg"
    try:
        upstream: Any = importlib.import_module(name)
    except ImportError:  # psycopg is not a dev dependency: the libraries example has it
        sys.path.append(str(Path(__file__).parents[1] / "build" / "examples" / "libraries"))
        try:
            upstream = importlib.import_module(name)
        except ImportError:
            return {}

    db_api = upstream.DatabaseApiIntegration(
        "bench", "postgresql", tracer_provider=provider, connect_module=upstream.psycopg
    )
    factory = upstream._new_cursor_factory
    with_copy = _with_copy(factory, upstream.CursorTracer)
    count = max(1, calls // 10)
    return {
        "psycopg cursor class per connection, upstream": _per_call(
            lambda: factory(db_api=db_api), count, repeats
        ),
        "psycopg cursor class per connection, with COPY traced": _per_call(
            lambda: with_copy(db_api=db_api), count, repeats
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(Sink())
    rows: dict[str, float] = {}
    for measure in (sqlite_rows, s3transfer_rows, psycopg_rows):
        rows.update(measure(provider, args.calls, args.repeats))
    lines = ["| call | µs per call (median) |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in rows.items()]
    table = "\n".join(lines)
    print(table)
    save("library-calls", table, {"calls": args.calls, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
