"""Every Lambda Python runtime at full speed: the layer's bytecode, and AWS's own emulator.

Issue 16. Lambda mounts a layer read-only at /opt, so a runtime whose bytecode the
layer lacks compiles every module at every cold start and caches nothing. The
first test starts a cold sandbox per version with bytecode writes off and the
layer directory read-only, and fails if any module of the layer was compiled from
source (it records every ``SourceLoader.source_to_code`` call: the import system
calls it only when there is no usable .pyc). The second runs the layer's exec
wrapper under AWS's Runtime Interface Emulator (the ``aws-lambda-rie`` binary the
aws-sam-cli wheel ships; ``make rie``), a component nobody here wrote.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.functions.invoke import default_layer_dir
from otel_xray.devtools.functions.lambda_segments import __file__ as _devtools_file
from tests.e2e.conftest import ROOT, VERSIONS, runtime_of
from tests.ports import unused_port

BOOTSTRAP = Path(_devtools_file).with_name("bootstrap.py")
RIE = ROOT / "build" / "rie" / "aws-lambda-rie"
SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "xray-segmentdocument-schema-v1.0.0.json").read_text()
)
#: Imports the layer's entry module as Lambda's runtime does, recording what is compiled.
PROBE = """
import importlib._bootstrap_external as external, json, sys
compiled = []
original = external.SourceLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = source_to_code
import otel_xray.awslambda.wrapper
print(json.dumps({"compiled": compiled, "version": "%d.%d" % sys.version_info[:2]}))
"""


class RieRun:
    """AWS's RIE running a function (see :func:`under_rie`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: What the RIE and the runtime printed, once the RIE has stopped.
        self.output = ""

    def invoke(self, event: object) -> object:
        """One invocation through the RIE's HTTP API: the reply's JSON."""
        request = urllib.request.Request(self.url, data=json.dumps(event).encode())
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())


@contextlib.contextmanager
def under_rie(task: Path, runtime: Path, env: dict[str, str]) -> Iterator[RieRun]:
    """The RIE running ``task``'s ``app.handler`` on ``runtime`` as Lambda starts it with
    the layer: RIE -> otel-instrument -> bootstrap (which reads ``_HANDLER``) ->
    awslambdaric; ``env`` adds to Lambda's variables. Stopped by PID on leaving."""
    if not RIE.exists():
        pytest.fail(f"{RIE} is missing: run 'make rie'")
    api_port, rie_port = unused_port(), unused_port()
    lambda_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(task),
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(task),
        "PYTHONPATH": str(runtime / "runtime"),
        "AWS_LAMBDA_FUNCTION_NAME": "rie-function",
        "AWS_REGION": "us-east-1",
    }
    command = [
        str(RIE),
        "--runtime-interface-emulator-address", f"127.0.0.1:{rie_port}",
        "--runtime-api-address", f"127.0.0.1:{api_port}",
        str(ROOT / default_layer_dir() / "otel-instrument"),
        str(runtime / "lang" / "bin" / "python3"),
        str(BOOTSTRAP),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        env={**lambda_env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=task,
    )
    run = RieRun(f"http://127.0.0.1:{rie_port}/2015-03-31/functions/function/invocations")
    try:
        wait_for_port(rie_port, process)
        yield run
    finally:
        process.terminate()
        try:
            run.output = process.communicate(timeout=10)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            process.kill()
            run.output = process.communicate()[0].decode(errors="replace")


def read_only_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return target


@pytest.fixture
def read_only_layer(tmp_path: Path) -> Iterator[Path]:
    layer = read_only_copy(ROOT / default_layer_dir(), tmp_path / "opt")
    yield layer
    for path in [layer, *layer.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def compiled_from_source(python: Path, layer: Path, runtime: Path, task: Path) -> list[str]:
    """The layer's modules ``python`` compiled at a cold start (empty: all from .pyc)."""
    (task / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(task),
        "PYTHONDONTWRITEBYTECODE": "1",  # as on a read-only /opt: nothing is cached
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(task),
        "ORIG_HANDLER": "app.handler",
        "PYTHONPATH": f"{task}:{layer / 'python'}:{runtime / 'runtime'}",
    }
    output = subprocess.run(
        [str(python), "-c", PROBE], env=env, capture_output=True, text=True, timeout=60,
        check=True,
    ).stdout  # fmt: skip
    result = json.loads(output.splitlines()[-1])
    return [path for path in result["compiled"] if path.startswith(str(layer))]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_layer_never_compiles_at_run_time(
    version: str, read_only_layer: Path, tmp_path: Path
) -> None:
    runtime = runtime_of(version)
    task = tmp_path / "task"
    task.mkdir()
    python = runtime / "lang" / "bin" / "python3"
    assert compiled_from_source(python, read_only_layer, runtime, task) == []


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the emulator exited: {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the emulator did not listen on {port}")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_layer_works_under_awss_runtime_interface_emulator(
    version: str, tmp_path: Path
) -> None:
    """The RIE runs the runtime command it is given; Lambda puts the exec wrapper in front
    of its bootstrap, and so does this test: RIE -> otel-instrument -> bootstrap (which
    reads ``_HANDLER``, as Lambda's does) -> awslambdaric.

    The RIE sets no ``_X_AMZN_TRACE_ID``. The layer then has no Lambda segment to attach
    to: the function's span becomes a root segment of a fresh trace (the default
    sampler samples it), sent to the daemon address like any other.
    """
    if not RIE.exists():
        pytest.fail(f"{RIE} is missing: run 'make rie'")
    runtime = runtime_of(version)
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(
        "import sys\n"
        "def handler(event, context):\n"
        "    return {'echo': event['n'], 'python': '%d.%d' % sys.version_info[:2]}\n"
    )
    daemon_env = {"AWS_LAMBDA_FUNCTION_NAME": "rie-function"}
    with XRayDaemon() as daemon:
        daemon_env["AWS_XRAY_DAEMON_ADDRESS"] = f"{daemon.address[0]}:{daemon.address[1]}"
        with under_rie(task, runtime, daemon_env) as rie:
            responses = [rie.invoke({"n": n}) for n in (1, 2)]
            daemon.wait_idle(0.3)
            documents = daemon.take()
    output = rie.output
    assert responses == [{"echo": 1, "python": version}, {"echo": 2, "python": version}], output
    functions = [d for d in documents if d.get("name") == "rie-function"]
    assert len(functions) == 2, (documents, output)
    for document in functions:
        assert "parent_id" not in document and "type" not in document  # fresh root segments
        jsonschema.validate(document, SCHEMA)
    assert len({d["trace_id"] for d in functions}) == 2
    assert daemon.rejected == []
