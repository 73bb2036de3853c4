"""Export outside Lambda, as a service runs it: a program under ``opentelemetry-instrument``
(the development virtualenv's), real processes, real sockets on 127.0.0.1.

- SIGTERM (what ``docker stop``, ECS and Kubernetes send) to a plain Python service: the
  spans it still queues reach the daemon, then the process ends by SIGTERM as it would
  have (Python's default SIGTERM action skips ``atexit``; otel-xray's handler flushes
  first, only when no other handler is installed).
- A dead OTLP endpoint, the worst kind: a socket that accepts connections into its
  backlog and never answers, so each export waits for its timeout (upstream's OTLP
  exporter: 10 s, with retries). Creating spans stays quick (the SDK's batch worker
  exports off the request path), memory stays bounded (a queue of at most
  ``OTEL_XRAY_MAX_QUEUE_SIZE`` spans, the oldest dropped), and the exit waits at most
  about ``OTEL_XRAY_FLUSH_TIMEOUT_MS`` instead of the SDK's 30 s
  (opentelemetry-sdk 1.45 ``BatchProcessor.shutdown``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.loopback import end_process_group

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent

SERVICE = """
    import sys, time
    from opentelemetry import trace

    tracer = trace.get_tracer("svc")
    for n in range(5):
        with tracer.start_as_current_span(f"job {n}", kind=trace.SpanKind.SERVER):
            pass
    print("ready", flush=True)
    time.sleep(120)
"""

FLOOD = """
    import json, resource, time
    from opentelemetry import trace

    tracer = trace.get_tracer("svc")
    def burst(count):
        started = time.perf_counter()
        for n in range(count):
            with tracer.start_as_current_span("job", kind=trace.SpanKind.SERVER) as span:
                span.set_attribute("payload", "x" * 200)
        return (time.perf_counter() - started) / count * 1e6
    burst(2000)  # warm: the queue is full from here on
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_span_us = burst(20000)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"per_span_us": per_span_us, "rss_growth_kb": rss_after - rss_before}),
          flush=True)
    print("exiting", time.monotonic(), flush=True)
"""


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL", "PYTHON", "AWS_"))}
    return env | {"OTEL_SERVICE_NAME": "svc", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*",
                  "OTEL_XRAY_FLUSH_TIMEOUT_MS": "1000", **extra}


def test_sigterm_flushes_what_is_queued_then_ends_as_sigterm(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(textwrap.dedent(SERVICE))
    with XRayDaemon() as daemon:
        env = environment(
            OTEL_TRACES_EXPORTER="xray-udp",
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.address[1]}",
            OTEL_BSP_SCHEDULE_DELAY="60000",  # nothing leaves before the signal
        )
        process = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), sys.executable, "svc.py"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n"
            daemon.wait_idle(quiet_seconds=0.3)
            assert daemon.take() == []  # still queued in the batch worker
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == -signal.SIGTERM
            daemon.wait_idle(quiet_seconds=0.3)
            names = sorted(d["name"] for d in daemon.take())
        finally:
            end_process_group(process)
        assert names == ["svc"] * 5
        assert process.stderr is not None and b"Traceback" not in process.stderr.read()


def test_a_dead_otlp_endpoint_never_blocks_grows_or_holds_the_exit(tmp_path: Path) -> None:
    (tmp_path / "flood.py").write_text(textwrap.dedent(FLOOD))
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)  # never accepted, never answered
    try:
        env = environment(
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{blackhole.getsockname()[1]}",
            OTEL_XRAY_MAX_QUEUE_SIZE="2048",
        )
        done = subprocess.run(
            [str(BIN / "opentelemetry-instrument"), sys.executable, "flood.py"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        ended = time.monotonic()
    finally:
        blackhole.close()
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    measured = json.loads(lines[0])
    exiting = float(lines[1].split()[1])
    # Spans are made at memory speed, not network speed (the export timeout is 10 s).
    assert measured["per_span_us"] < 1000, measured
    # 20 000 spans with 200-byte values: about 4 MB if they were all kept; the queue keeps
    # 2048 (already full before the measure), so the peak barely moves.
    assert measured["rss_growth_kb"] < 2048, measured
    # The exit waits for the bounded shutdown (1 s), not the SDK's 30 s.
    assert ended - exiting < 6, ended - exiting
