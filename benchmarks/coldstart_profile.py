"""Where otel-xray's cold start goes: CPU per step of init and the first invocation.

The other benchmarks give totals. This one takes the layer's cold start apart the way
``docs/performance.md`` ("Cold start: where the time goes") reports it, with the
checkout handler on the local python3.11 runtime and the layer as Lambda mounts it (no
bytecode written):

1. every module the untraced start imports (the standard library, boto3, requests:
   what the function costs anyway) is imported first, untimed, in both processes;
2. then, timed, each group the layer adds, in the order a start imports them: the
   OpenTelemetry API, the SDK, otel_xray's own modules on the start path, and the
   instrumentations of the libraries the handler uses (with wrapt and the
   instrumentation base);
3. then the handler's module: in the traced process through
   ``otel_xray.awslambda.wrapper`` (configuration, patching the libraries, the
   extension's registration) and in the untraced one directly: the difference is the
   set-up;
4. then the first invocation: the caller's part (the handler's call, spans included)
   against the untraced call, and the export that follows it (the flush that the
   extension runs after the response), timed on its own.

Each number is the process's CPU time (``time.process_time``) for that step, median over
``--runs`` alternating pairs of fresh processes. The groups are marginal costs: what the
step adds after the steps before it, which is what a cold start pays.

    python -m benchmarks.coldstart_profile [--runs 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from typing import Any

from benchmarks import save
from benchmarks.coldstart import FUNCTION
from benchmarks.coldstart_cpu import CONTEXT, child_env
from examples.local_services import ROOT, LocalServices
from otel_xray.devtools.functions.invoke import default_layer_dir
from otel_xray.devtools.functions.sandbox import DEFAULT_DIR

#: What the layer adds at a start, by group, in import order.
GROUPS: dict[str, list[str]] = {
    "OpenTelemetry API (trace, context, propagate, metrics, baggage)": [
        "opentelemetry.context",
        "opentelemetry.trace",
        "opentelemetry.propagate",
        "opentelemetry.metrics",
        "opentelemetry.baggage",
    ],
    "OpenTelemetry SDK (trace, resources)": [
        "opentelemetry.sdk.resources",
        "opentelemetry.sdk.trace",
    ],
    "otel_xray on the start path": [
        "otel_xray.settings",
        "otel_xray.configurator",
        "otel_xray.awslambda.handler",
        "otel_xray.awslambda.extension",
        "otel_xray.export.processor",
        "otel_xray.pii.processor",
    ],
    "instrumentations (botocore, urllib3, requests, urllib; wrapt and their base)": [
        "wrapt",
        "opentelemetry.instrumentation.instrumentor",
        "opentelemetry._logs",
        "opentelemetry.util.http",
        "opentelemetry.instrumentation.botocore",
        "opentelemetry.instrumentation.urllib3",
        "opentelemetry.instrumentation.requests",
        "opentelemetry.instrumentation.urllib",
        "otel_xray.instrumentation.aws_sdk_header",
        "otel_xray.instrumentation.aws_sdk_resources",
        "otel_xray.instrumentation.s3transfer",
    ],
}

CHILD = "import json, os, sys, time" + CONTEXT + """traced = os.environ["TRACED"] == "1"
if os.environ.get("LIST"):
    from app import handler
    handler(json.loads(os.environ["EVENT"]), Context())
    print(json.dumps(sorted(sys.modules)))
    raise SystemExit
for name in json.loads(os.environ["PRELOAD"]):
    try:
        __import__(name)
    except Exception:
        pass
steps = {}
clock = time.process_time()
def mark(step):
    global clock
    now = time.process_time()
    steps[step] = steps.get(step, 0.0) + (now - clock) * 1000
    clock = now
if traced:
    for group, modules in json.loads(os.environ["GROUPS"]).items():
        for name in modules:
            __import__(name)
        mark(group)
    from otel_xray.configurator import Tracing
    flush = Tracing.flush
    def timed_flush(self, deadline):
        mark("first invocation: the caller's part")
        done = flush(self, deadline)
        mark("first invocation: the export (after the response)")
        return done
    Tracing.flush = timed_flush
    from otel_xray.awslambda.wrapper import handler
else:
    from app import handler
mark("the handler's module (traced: set-up, patching, registration)")
os.environ["_X_AMZN_TRACE_ID"] = (
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
)
handler(json.loads(os.environ["EVENT"]), Context())
mark("first invocation: the caller's part")
print(json.dumps(steps))
"""


def run_child(env: dict[str, str], traced: bool, path: str, **extra: str) -> Any:
    python = ROOT / DEFAULT_DIR / "lang" / "bin" / "python3"
    done = subprocess.run(
        [str(python), "-c", CHILD],
        env={**env, "TRACED": "1" if traced else "0", "PYTHONPATH": path, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"profile run failed (traced={traced}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    layer = ROOT / default_layer_dir() / "python"
    runtime = ROOT / DEFAULT_DIR / "runtime"
    traced_path = f"{FUNCTION}:{layer}:{runtime}"
    plain_path = f"{FUNCTION}:{runtime}"
    with LocalServices() as services:
        env = {**child_env(services), "GROUPS": json.dumps(GROUPS)}
        untraced_modules = run_child({**env, "PRELOAD": "[]"}, False, plain_path, LIST="1")
        preload = [m for m in untraced_modules if m not in ("__main__", "app")]
        env["PRELOAD"] = json.dumps(preload)
        traced: list[dict[str, float]] = []
        untraced: list[dict[str, float]] = []
        for number in range(args.runs):
            traced.append(run_child(env, True, traced_path))
            untraced.append(run_child(env, False, plain_path))
            if number % 10 == 9:
                services.drain_queue()
    base = {key: statistics.median(run.get(key, 0.0) for run in untraced) for key in untraced[0]}
    rows = ["| step | CPU ms traced (median) | untraced | added |", "|---|---|---|---|"]
    added_total = 0.0
    for key in traced[0]:
        value = statistics.median(run.get(key, 0.0) for run in traced)
        added = value - base.get(key, 0.0)
        added_total += added
        untraced_cell = f"{base[key]:.1f}" if key in base else "-"
        rows.append(f"| {key} | {value:.1f} | {untraced_cell} | {added:+.1f} |")
    rows.append(f"| **total** | | | **{added_total:+.1f}** |")
    table = "\n".join(rows)
    print(f"Cold start by step, {args.runs} pairs of fresh processes:\n{table}")
    save("coldstart-profile", table, {"runs": args.runs, "traced": traced, "untraced": untraced})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
