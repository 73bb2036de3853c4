"""A durable function through the built layer: the plugin is found from /opt/python.

The function's code directory holds its handler and the real
aws-durable-execution-sdk-python (as a user's deployment package would), plus the
SDK's local test runner (aws-durable-execution-sdk-python-testing) playing the
durable service. The process is started the way Lambda starts a runtime: the layer's
``otel-instrument`` (which sets ``DURABLE_EXECUTION_PLUGINS=otel-xray``, puts the layer
on the path and swaps ``_HANDLER`` for otel-xray's wrapper) execs the python3.13
runtime's bare interpreter. The runner invokes the wrapper, which loads the handler;
``@durable_execution`` resolves the plugin through the layer's own
``otel_xray-*.dist-info`` entry point; spans go as segment documents over UDP to a
local daemon. Durable functions need python3.13 or later on Lambda.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.functions.invoke import default_layer_dir
from otel_xray.devtools.functions.sandbox import RuntimeEnv
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.text import render_trace
from tests.e2e.conftest import ROOT, runtime_of

APP = """
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.context import durable_step, durable_with_child_context
from aws_durable_execution_sdk_python.execution import durable_execution


@durable_step
def reserve(step_context, item):
    return f"reserved {item}"


@durable_step
def charge(step_context, amount):
    return f"charged {amount}"


@durable_with_child_context
def payment(ctx, amount):
    return ctx.step(charge(amount))


@durable_execution
def handler(event, context):
    done = [context.step(reserve("book"))]
    context.wait(Duration.from_seconds(60))
    done.append(context.run_in_child_context(payment(12)))
    return done
"""

RUN = """
import importlib.metadata, json, os
from aws_durable_execution_sdk_python.execution import InvocationStatus
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from otel_xray.awslambda.wrapper import handler

(plugin,) = importlib.metadata.entry_points(group="aws_durable_execution.plugins")
print("plugin", plugin.name, plugin.dist._path)
with DurableFunctionTestRunner(handler=handler) as runner:
    result = runner.run(input=json.dumps({"id": "o-1"}), execution_timeout=30)
print("status", result.status.name, result.result)
"""


def test_a_durable_functions_steps_are_subsegments_through_the_layer(tmp_path: Path) -> None:
    runtime = RuntimeEnv(runtime_of("3.13"))
    layer = (ROOT / default_layer_dir()).resolve()
    site = Path(__import__("aws_durable_execution_sdk_python").__file__).parents[1]
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(APP)
    (task / "run.py").write_text(RUN)
    for package in ("aws_durable_execution_sdk_python", "aws_durable_execution_sdk_python_testing"):
        shutil.copytree(site / package, task / package)
    with XRayDaemon() as daemon:
        host, port = daemon.address
        env = {
            "PATH": "/usr/bin:/bin",
            "LAMBDA_TASK_ROOT": str(task),
            "PYTHONPATH": str(runtime.runtime_dir),
            "_HANDLER": "app.handler",
            "AWS_LAMBDA_FUNCTION_NAME": "orders",
            "AWS_REGION": "us-east-1",
            "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
        done = subprocess.run(
            [str(layer / "otel-instrument"), str(runtime.python), str(task / "run.py")],
            env=env,
            cwd=task,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        daemon.wait_idle(quiet_seconds=0.3)
        documents = daemon.take()
    assert f"plugin otel-xray {layer}/python/otel_xray-" in done.stdout, done.stdout
    assert "status SUCCEEDED" in done.stdout, done.stdout + done.stderr
    store = TraceStore(documents)
    traces = store.traces()
    assert len(traces) == 2  # one per invocation: the wait suspends the first
    names = [{node["name"] for node, _ in trace.walk()} for trace in traces]
    first, second = sorted(names, key=lambda n: "payment" in n)
    assert "reserve" in first and "payment" not in first
    assert {"payment", "charge"} <= second and "reserve" not in second
    for trace in traces:
        print(render_trace(trace))
