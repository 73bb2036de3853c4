"""The RIE benchmark's sandbox (``benchmarks/rie.py``) gives the function what Lambda would.

``benchmarks/coldstart_rie.py`` rests on four things about AWS's Runtime Interface
Emulator (the ``aws-lambda-rie`` binary, ``make rie``) and the proxy put in front of its
Runtime API; each test here checks one against the real binary:

- the runtime gets a Lambda-style ``_X_AMZN_TRACE_ID`` (Sampled=1) per invocation, a new
  one each time, the one the proxy handed out (the RIE alone sends none: rapid's
  ``NoOpTracer.BuildTracingHeader``, internal/lambda/telemetry/tracer.go);
- the code directories are read-only inside the sandbox, as ``/var/task`` and ``/opt``
  are on Lambda, while the same paths stay writable outside it;
- the RIE implements the Extensions API for an internal extension (registered from the
  runtime process, ``internal/lambda/rapi/handler/agentregister.go``) and answers its
  caller only after that extension's next ``/extension/event/next``
  (``rapidcore.Server.Invoke`` waits for ``AwaitRelease``), which is why the benchmark
  times the response when the runtime posts it;
- the RIE's ``Init Duration`` in ``REPORT`` is not the runtime's init (``InitHandler``
  returns once init is dispatched), while rapid's ``INIT REPORT`` is.
"""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path

import pytest

from benchmarks.rie import RIE, RieSandbox, read_only_mode
from otel_xray.devtools.functions.sandbox import BOOTSTRAP, RuntimeEnv
from tests.e2e.conftest import runtime_of

APP = '''
import json, os, threading, time, urllib.request

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
DELAY = float(os.environ.get("EXTENSION_DELAY") or 0)


def _register():
    """An internal extension, as a layer would register one during init."""
    request = urllib.request.Request(
        f"http://{API}/2020-01-01/extension/register",
        data=json.dumps({"events": ["INVOKE"]}).encode(),
        headers={"Lambda-Extension-Name": "delayed-export"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        identifier = answer.headers["Lambda-Extension-Identifier"]

    def loop():
        while True:
            request = urllib.request.Request(
                f"http://{API}/2020-01-01/extension/event/next",
                headers={"Lambda-Extension-Identifier": identifier},
            )
            with urllib.request.urlopen(request) as answer:
                event = json.loads(answer.read())
            if event.get("eventType") == "INVOKE":
                time.sleep(DELAY)  # the work after the response (an export)

    threading.Thread(target=loop, daemon=True).start()


if DELAY:
    _register()


def handler(event, context):
    wrote = {}
    for name in ("LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"):
        try:
            with open(os.path.join(os.environ[name], "probe.txt"), "w"):
                pass
            wrote[name] = "written"
        except OSError as error:
            wrote[name] = error.errno
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID"), "n": event["n"], "wrote": wrote}
'''


def sandbox(tmp_path: Path, **env: str) -> RieSandbox:
    if not RIE.exists():
        pytest.fail(f"{RIE} is missing: run 'make rie'")
    runtime = RuntimeEnv(runtime_of("3.11"))
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(APP)
    scratch = tmp_path / "runtime-dir"  # stands in for /var/runtime: read-only in there
    scratch.mkdir()
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(task),
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(scratch),
        "PYTHONPATH": str(runtime.runtime_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "rie-bench",
        "AWS_REGION": "us-east-1",
        **env,
    }
    command = [str(runtime.python), str(BOOTSTRAP)]
    return RieSandbox(command, environment, task, [task, scratch], read_only_mode())


def test_each_invocation_gets_a_sampled_lambda_trace_header_and_read_only_code(
    tmp_path: Path,
) -> None:
    with sandbox(tmp_path) as running:
        answers = [json.loads(running.invoke({"n": n})[2]) for n in range(3)]
        assert running.proxy is not None
        roots = list(running.proxy.roots)
        logs = running.logs()
    assert [a["n"] for a in answers] == [0, 1, 2], logs
    for answer, root in zip(answers, roots, strict=True):
        fields = dict(part.split("=", 1) for part in answer["trace"].split(";"))
        assert fields["Root"] == root and fields["Sampled"] == "1"
        assert len(fields["Parent"]) == 16
    assert len(set(roots)) == 3
    if running.mode != "unshare":
        pytest.skip(f"no read-only mounts here ({running.mode}): the header part passed")
    for answer in answers:
        assert answer["wrote"] == {
            "LAMBDA_TASK_ROOT": errno.EROFS,
            "LAMBDA_RUNTIME_DIR": errno.EROFS,
        }
    (tmp_path / "task" / "outside.txt").write_text("the mount was the sandbox's only")


def test_the_emulator_answers_after_an_internal_extensions_next_event(tmp_path: Path) -> None:
    delay = 0.5
    with sandbox(tmp_path, EXTENSION_DELAY=str(delay)) as running:
        proxy = running.proxy
        assert proxy is not None
        timings = []
        for n in range(2):
            sent, status, body = running.invoke({"n": n})
            replied = time.monotonic()
            assert status == 200 and json.loads(body)["n"] == n, running.logs()
            assert proxy.wait_responses(n + 1, 5)
            timings.append((proxy.responses_at[n] - sent, replied - sent))
        extensions = list(proxy.extensions)
    assert extensions == ["delayed-export"]
    for posted, replied in timings:
        # The extension sleeps after the response: the caller of the RIE waits for it,
        # a caller of Lambda would not (it has the response when the runtime posts it).
        assert replied - posted >= delay * 0.9, timings


def test_the_rie_reports_init_dispatch_and_rapid_reports_the_runtime_init(
    tmp_path: Path,
) -> None:
    with sandbox(tmp_path) as running:
        sent, status, _ = running.invoke({"n": 0})
        assert running.proxy is not None and running.proxy.first_next_at is not None
        runtime_init_ms = (running.proxy.first_next_at - sent) * 1000
        logs = running.logs()
        dispatch_ms = running.init_duration_ms()
    assert status == 200, logs
    assert dispatch_ms is not None and "INIT REPORT(durationMs:" in logs, logs
    # Starting Python and awslambdaric takes far longer than dispatching the init.
    assert dispatch_ms < runtime_init_ms / 2, (dispatch_ms, runtime_init_ms, logs)


def test_a_sandbox_that_fails_to_start_leaves_nothing_running(tmp_path: Path) -> None:
    """A directory that cannot be mounted read-only (it does not exist) stops the start
    with an error naming it; the emulator, its namespace and the proxy are gone."""
    missing = tmp_path / "no-such-layer"
    running = sandbox(tmp_path)
    if running.mode != "unshare":
        pytest.skip(f"no read-only mounts here ({running.mode})")
    running.read_only.append(missing)
    with pytest.raises(RuntimeError, match=f"could not bind-mount read-only: .*{missing}"):
        running.start()
    assert running.process is None and running.proxy is None
