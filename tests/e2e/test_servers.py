"""Servers that fork or spawn workers, under ``opentelemetry-instrument``, as real processes.

gunicorn (sync workers, forked from the master after ``sitecustomize`` configured
otel-xray there) serving Flask and Django, and uvicorn (its workers spawned) serving
FastAPI. The listening socket is bound here on 127.0.0.1 port 0 and handed over as a
file descriptor (gunicorn ``--bind fd://N``, uvicorn ``--fd N``); the server is stopped by
SIGTERM to its process group, by PID.

What must hold: every request is exactly one segment (none lost across the fork, none
sent twice from a queue copied into a child: the SDK empties its batch queue in a
forked child, ``BatchProcessor._at_fork_reinit``), each sent by the worker that served
it (the document carries the worker's pid, and it matches the pid in the response),
from more than one worker, and the spans still buffered at SIGTERM are flushed as the
workers exit. Sampling is per worker: with a reservoir of one trace a second and no
rate, each worker samples its own first request (X-Ray's sampling rule semantics,
docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.loopback import end_process_group

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
REQUESTS = 24

FLASK_APP = """
    import os, time
    import flask
    from opentelemetry import trace

    app = flask.Flask("payments")

    @app.get("/orders/<int:number>")
    def order(number):
        trace.get_current_span().set_attribute("app.pid", os.getpid())
        time.sleep(0.05)
        return {"pid": os.getpid(), "number": number}
"""

DJANGO_APP = """
    import os, time
    from django.http import JsonResponse
    from django.urls import path
    from opentelemetry import trace

    DEBUG = False
    ROOT_URLCONF = "django_app"
    ALLOWED_HOSTS = ["*"]
    MIDDLEWARE = []
    INSTALLED_APPS = []
    SECRET_KEY = "test-only-not-a-secret"

    def order(request, number):
        trace.get_current_span().set_attribute("app.pid", os.getpid())
        time.sleep(0.05)
        return JsonResponse({"pid": os.getpid(), "number": number})

    urlpatterns = [path("orders/<int:number>", order)]

    from django.core.wsgi import get_wsgi_application
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app")
    application = get_wsgi_application()
"""

FASTAPI_APP = """
    import asyncio, os
    import fastapi
    from opentelemetry import trace

    app = fastapi.FastAPI()

    @app.get("/orders/{number}")
    async def order(number: int):
        trace.get_current_span().set_attribute("app.pid", os.getpid())
        await asyncio.sleep(0.05)
        return {"pid": os.getpid(), "number": number}
"""

SERVERS = {
    "gunicorn-flask": ("flask_app.py", FLASK_APP, ["gunicorn", "-w", "3", "flask_app:app"]),
    "gunicorn-django": (
        "django_app.py", DJANGO_APP, ["gunicorn", "-w", "3", "django_app:application"]
    ),
    "uvicorn-fastapi": (
        "fastapi_app.py", FASTAPI_APP, ["uvicorn", "--workers", "2", "fastapi_app:app"]
    ),
}


@pytest.fixture
def daemon() -> Iterator[XRayDaemon]:
    with XRayDaemon() as running:
        yield running


def serve(
    name: str, tmp_path: Path, daemon: XRayDaemon, **environ: str
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    filename, source, command = SERVERS[name]
    (tmp_path / filename).write_text(textwrap.dedent(source))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    bind = ["--bind", f"fd://{fd}"] if command[0] == "gunicorn" else ["--fd", str(fd)]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL", "PYTHON", "AWS_"))
    } | {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OTEL_SERVICE_NAME": "payments",
        "OTEL_TRACES_EXPORTER": "xray-udp",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **environ,
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), str(BIN / command[0]), *command[1:], *bind],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            pass_fds=(fd,), start_new_session=True,
        )
    listener.close()
    try:
        _wait_ready(port, process, log)
        yield port, process, log
    finally:
        end_process_group(process)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {log.read_text()[-3000:]}")
        try:
            get(port, 0)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer in 60 s: {log.read_text()[-3000:]}")


def get(port: int, number: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/{number}", timeout=10) as reply:
        body: dict[str, Any] = json.loads(reply.read())
        return body


def run_requests(port: int) -> dict[int, int]:
    """``REQUESTS`` requests, six at a time (more than the workers): number -> serving pid."""
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda n: get(port, n), range(1, REQUESTS + 1)))
    return {reply["number"]: reply["pid"] for reply in replies}


def request_segments(daemon: XRayDaemon) -> dict[int, list[dict[str, Any]]]:
    """The received segments by the order number in their URL (the readiness probe's 0
    included)."""
    by_number: dict[int, list[dict[str, Any]]] = {}
    for document in daemon.take():
        if "parent_id" in document or "http" not in document:
            continue
        number = int(document["http"]["request"]["url"].rsplit("/", 1)[1])
        by_number.setdefault(number, []).append(document)
    return by_number


def stop(process: subprocess.Popen[bytes], daemon: XRayDaemon) -> None:
    end_process_group(process, grace=20)
    assert process.returncode is not None
    daemon.wait_idle(quiet_seconds=0.3, timeout=5)


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_each_worker_exports_its_own_requests_once(
    name: str, tmp_path: Path, daemon: XRayDaemon
) -> None:
    for port, process, log in serve(name, tmp_path, daemon):
        served = run_requests(port)
        stop(process, daemon)  # SIGTERM: what the workers still buffer is flushed at exit
        segments = request_segments(daemon)
        assert daemon.rejected == []
        missing = sorted(set(served) - set(segments))
        doubled = sorted(n for n, found in segments.items() if len(found) > 1)
        assert (missing, doubled) == ([], []), log.read_text()[-2000:]
        for number, pid in served.items():
            [segment] = segments[number]
            assert segment["name"] == "payments"
            assert segment["metadata"]["default"]["app.pid"] == pid
            assert segment["http"]["response"]["status"] == 200
        if name.startswith("gunicorn"):
            assert len(set(served.values())) > 1, "one worker served every request"
        text = log.read_text()
        assert "Traceback" not in text and "already instrumented" not in text, text[-3000:]


def test_sampling_is_per_worker(tmp_path: Path, daemon: XRayDaemon) -> None:
    """A reservoir of 1/s and a rate of 0, in each of three gunicorn workers: each worker
    samples its first request, and at most one a second."""
    rules = json.dumps({"version": 2, "default": {"fixed_target": 1, "rate": 0.0}, "rules": []})
    for port, process, _log in serve(
        "gunicorn-flask", tmp_path, daemon,
        OTEL_TRACES_SAMPLER="xray_local", OTEL_XRAY_SAMPLING_RULES=rules,
    ):
        time.sleep(1.1)  # the readiness probe's second is over
        daemon.take()
        started = time.time()
        served = run_requests(port)
        # X-Ray's reservoir is per wall-clock second: one trace per second touched.
        seconds = int(time.time()) - int(started) + 1
        stop(process, daemon)
        segments = request_segments(daemon)
        sampled = [found[0]["metadata"]["default"]["app.pid"] for found in segments.values()]
        workers = set(served.values())
        assert set(sampled) == workers, (sampled, workers)  # each worker sampled its first
        assert all(sampled.count(pid) <= seconds for pid in workers), (sampled, seconds)
        if len(workers) > seconds:
            # More than one shared reservoir could give: the reservoirs are the workers' own.
            assert len(sampled) > seconds
