"""``opentelemetry-instrument`` with otel-xray installed, as a user runs it outside Lambda.

A fresh virtualenv with the built wheel (:mod:`tests.e2e.packaging`), a program that
makes one span of its own and one sqlite3 query (an instrumentation of the registry),
run by the real ``opentelemetry-instrument`` command, its documents received by a
loopback X-Ray daemon (:class:`~otel_xray.devtools.components.daemon.XRayDaemon`).

What the command does is opentelemetry-instrumentation 0.66b1's
``auto_instrumentation/__init__.py`` (``run``, ``_initialize``) and ``_load.py``
(``_load_distro``, ``_load_configurators``, ``_load_instrumentors``): the first distro and
configurator entry points found win unless ``OTEL_PYTHON_DISTRO`` /
``OTEL_PYTHON_CONFIGURATOR`` name one, which is why opentelemetry-distro is also put
*ahead* of otel-xray on ``sys.path`` here (``pip install --target`` + ``PYTHONPATH``):
its entry points are then found first, the order in which otel-xray used to lose.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_xray.devtools.components.daemon import XRayDaemon
from tests.e2e.packaging import PIP_QUIET, build_dist, clean_env, make_venv, run

pytestmark = pytest.mark.e2e

PROGRAM = """
    import sqlite3
    from opentelemetry import trace

    tracer = trace.get_tracer("svc")
    with tracer.start_as_current_span("job", kind=trace.SpanKind.SERVER):
        sqlite3.connect(":memory:").cursor().execute("select 1")
    print("done")
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The base wheel in a fresh virtualenv (no extra: what ``pip install otel-xray`` gives)."""
    dist = build_dist(tmp_path_factory.mktemp("dist"))
    [wheel] = dist.glob("*.whl")
    yield make_venv(tmp_path_factory.mktemp("venv") / "env", str(wheel))


@pytest.fixture(scope="module")
def upstream_distro(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """opentelemetry-distro (its distro and its SDK configurator) in a directory of its own,
    to put ahead of the virtualenv's site-packages."""
    target = tmp_path_factory.mktemp("upstream-distro")
    installed = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", *PIP_QUIET, "--no-deps",
         "--target", str(target), "opentelemetry-distro==0.66b1"],
        cwd=target.parent, env=clean_env(venv),
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return target


@pytest.fixture
def daemon() -> Iterator[XRayDaemon]:
    with XRayDaemon() as running:
        yield running


def instrument(
    venv: Path, tmp_path: Path, daemon: XRayDaemon, **environ: str
) -> tuple[str, str, list[dict[str, Any]]]:
    """``opentelemetry-instrument python svc.py``: its stdout, its stderr, the documents."""
    (tmp_path / "svc.py").write_text(textwrap.dedent(PROGRAM))
    env = clean_env(venv) | {
        "OTEL_SERVICE_NAME": "svc",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.address[1]}",
        **environ,
    }
    done = run([str(venv / "bin" / "opentelemetry-instrument"), "python", "svc.py"],
               cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    daemon.wait_idle(quiet_seconds=0.2)
    assert daemon.rejected == []
    return done.stdout, done.stderr, daemon.take()


def assert_traced(documents: list[dict[str, Any]], query: bool = True) -> None:
    """The service's segment named by OTEL_SERVICE_NAME, and the query's subsegment in it."""
    [segment] = [d for d in documents if "parent_id" not in d]
    assert segment["name"] == "svc"
    assert segment["trace_id"].startswith("1-")  # X-Ray's ids: otel-xray's pipeline
    queries = [d for d in documents if d.get("parent_id") == segment["id"]]
    assert len(queries) == (1 if query else 0), documents
    if query:
        assert queries[0]["type"] == "subsegment"
        assert queries[0]["sql"]["database_type"] == "sqlite", queries[0]


def test_starts_clean_and_sends_segments_to_the_daemon(
    venv: Path, tmp_path: Path, daemon: XRayDaemon
) -> None:
    """No traceback, no warning, nothing but the program's own output."""
    stdout, stderr, documents = instrument(venv, tmp_path, daemon, OTEL_TRACES_EXPORTER="xray-udp")
    assert (stdout, stderr) == ("done\n", "")
    assert_traced(documents)


def test_console_exporter_and_no_metrics_or_logs_exporter_demanded(
    venv: Path, tmp_path: Path, daemon: XRayDaemon, upstream_distro: Path
) -> None:
    """``OTEL_TRACES_EXPORTER=console`` prints the spans; with opentelemetry-distro first on
    the path (its distro defaults OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER to
    ``otlp``, whose gRPC exporter is not installed), nothing asks for a metrics exporter."""
    stdout, stderr, documents = instrument(
        venv, tmp_path, daemon, OTEL_TRACES_EXPORTER="console", PYTHONPATH=str(upstream_distro)
    )
    assert stderr == ""
    lines = stdout.splitlines()
    assert lines[0] == "done"
    spans = [json.loads(line) for line in lines[1:]]
    assert sorted(span["name"] for span in spans) == ["job", "select"]
    assert documents == []


def test_ours_wins_when_opentelemetry_distro_comes_first(
    venv: Path, tmp_path: Path, daemon: XRayDaemon, upstream_distro: Path
) -> None:
    """Both distros and both configurators installed, upstream's found first: otel-xray's
    configurator runs (X-Ray ids, our exporter, our registry), once, with no warning."""
    check = run([str(venv / "bin" / "python"), "-c",
                 "from importlib.metadata import entry_points as e; "
                 "print([p.name for p in e(group='opentelemetry_configurator')])"],
                cwd=tmp_path, env=clean_env(venv) | {"PYTHONPATH": str(upstream_distro)})
    assert check.stdout.strip() == "['configurator', 'otel_xray']", check.stdout + check.stderr
    stdout, stderr, documents = instrument(
        venv, tmp_path, daemon, OTEL_TRACES_EXPORTER="xray-udp", PYTHONPATH=str(upstream_distro)
    )
    assert (stdout, stderr) == ("done\n", "")
    assert_traced(documents)


def test_disabled_instrumentations_keep_their_meaning(
    venv: Path, tmp_path: Path, daemon: XRayDaemon
) -> None:
    stdout, stderr, documents = instrument(
        venv, tmp_path, daemon,
        OTEL_TRACES_EXPORTER="xray-udp", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sqlite3",
    )
    assert (stdout, stderr) == ("done\n", "")
    assert_traced(documents, query=False)


def test_the_sdk_configurator_resolves_xray_udp_by_entry_point(
    venv: Path, tmp_path: Path, daemon: XRayDaemon, upstream_distro: Path
) -> None:
    """A user who names the SDK's configurator still gets ``xray-udp``: it is a standard
    ``opentelemetry_traces_exporter`` entry point (the SDK builds the rest: its random
    trace ids, which X-Ray reads as W3C ids, and upstream's instrumentations)."""
    stdout, stderr, documents = instrument(
        venv, tmp_path, daemon,
        OTEL_TRACES_EXPORTER="xray-udp",
        OTEL_PYTHON_CONFIGURATOR="configurator",
        PYTHONPATH=str(upstream_distro),
    )
    assert stdout == "done\n"
    assert "Traceback" not in stderr and "not found in entry point" not in stderr, stderr
    [segment] = [d for d in documents if "parent_id" not in d]
    assert segment["name"] == "svc"
    assert any(d.get("parent_id") == segment["id"] for d in documents), documents
