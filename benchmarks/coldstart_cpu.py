"""Cold-start CPU time: the layer's init and first invocation, paired against no tracing.

``benchmarks.coldstart`` times whole sandboxes by the wall clock, which on a shared
machine drifts by 15 ms or more from batch to batch (every configuration of a batch
moves together, so its table still compares within the batch). This one measures what
the layer itself costs, steadily: a fresh process on the local python3.11 runtime
imports the handler (through ``otel_xray.awslambda.wrapper`` or not, with the same
paths Lambda gives it) and runs the first invocation of the checkout handler, then
reports its own CPU time (``time.process_time()``: every thread, user and system, at
nanosecond resolution). Runs alternate, traced and untraced, in a shuffled order each
round, and the report is the median of each, their difference, and the middle half of
the runs (this machine's spread).

One row per exporter of the layer (issue 26): ``xray-udp`` (the default), ``xray-otlp-udp``
(OTLP datagrams to the daemon address) and signed OTLP to X-Ray's endpoint (the local X-Ray
API's ``/v1/traces`` on loopback, so the first export's request, signing and TCP connect
are in the CPU time, not the network's wait).

    python -m benchmarks.coldstart_cpu [--runs 60] [--layer NAME=DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
from pathlib import Path

from benchmarks import save
from benchmarks.coldstart import EVENT, FUNCTION
from examples.local_services import ROOT, LocalServices
from otel_xray.devtools.components.xray_api import XRayAPI
from otel_xray.devtools.functions.invoke import default_layer_dir
from otel_xray.devtools.functions.sandbox import DEFAULT_DIR

#: The Lambda context the child processes pass the handler (the source of a class).
CONTEXT = """
class Context:
    aws_request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:order-api"
    function_name = "order-api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 30000
"""

CHILD = "import json, os, time" + CONTEXT + """if os.environ["TRACED"] == "1":
    from otel_xray.awslambda.wrapper import handler
else:
    from app import handler
os.environ["_X_AMZN_TRACE_ID"] = (
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
)
handler(json.loads(os.environ["EVENT"]), Context())
print(time.process_time() * 1000)
"""


def child_env(services: LocalServices) -> dict[str, str]:
    """What Lambda would give the checkout function, with the loopback services."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **services.function_env(),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "order-api",
        "OTEL_SERVICE_NAME": "order-api",
        "ORIG_HANDLER": "app.handler",
        # Active tracing: Lambda's daemon address (nothing listens; UDP does not wait).
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "PYTHONDONTWRITEBYTECODE": "1",  # as on Lambda's read-only /opt
        "EVENT": json.dumps(EVENT),
    }


def one_start(env: dict[str, str], traced: bool, path: str) -> float:
    """CPU milliseconds of one cold start (init and first invocation); ``path`` is the
    function's, then the layer's (traced only), then the runtime's, as on Lambda."""
    python = ROOT / DEFAULT_DIR / "lang" / "bin" / "python3"
    done = subprocess.run(
        [str(python), "-c", CHILD],
        env={**env, "TRACED": "1" if traced else "0", "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start failed (traced={traced}):\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument(
        "--layer", action="append", default=[], metavar="NAME=DIR",
        help="another unpacked layer to run alongside, e.g. an older build (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    ours = ROOT / default_layer_dir()
    api = XRayAPI()  # bound now, served from the `with` below
    layers: dict[str, tuple[Path, dict[str, str]]] = {
        "otel-xray, xray-udp (default)": (ours, {}),
        "otel-xray, xray-otlp-udp": (ours, {"OTEL_TRACES_EXPORTER": "xray-otlp-udp"}),
        "otel-xray, signed OTLP to X-Ray": (
            ours,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": api.otlp_endpoint,
                "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "aws_sigv4",
            },
        ),
    }
    for spec in args.layer:
        name, _, directory = spec.partition("=")
        layers[name] = (Path(directory), {})
    runtime = ROOT / DEFAULT_DIR / "runtime"
    samples: dict[str, list[float]] = {"no tracing": [], **{name: [] for name in layers}}
    with api, LocalServices() as services:
        env = child_env(services)
        order = ["no tracing", *layers]
        for number in range(args.runs):
            random.shuffle(order)  # no configuration always runs first, or after another
            for name in order:
                if name == "no tracing":
                    samples[name].append(one_start(env, False, f"{FUNCTION}:{runtime}"))
                else:
                    layer, extra = layers[name]
                    path = f"{FUNCTION}:{layer / 'python'}:{runtime}"
                    samples[name].append(one_start({**env, **extra}, True, path))
            if number % 10 == 9:
                services.drain_queue()
    base = statistics.median(samples["no tracing"])
    rows = [
        "| configuration | cold-start CPU ms (median) | overhead | middle half of the runs |",
        "|---|---|---|---|",
    ]
    for name, values in samples.items():
        median = statistics.median(values)
        low, _, high = statistics.quantiles(values, n=4)
        rows.append(f"| {name} | {median:.1f} | {median - base:+.1f} | {low:.0f} to {high:.0f} |")
    table = "\n".join(rows)
    print(f"Cold-start CPU time, {args.runs} alternating runs each:\n{table}")
    save("coldstart-cpu", table, {"runs": args.runs, "samples_ms": samples})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
