"""Cost per subsegment: X-Ray SDK code on its own, and the same code on otel-xray's bridge.

One handler, as Powertools and X-Ray SDK users write it: ten subsegments per
invocation (``in_subsegment``, one annotation and one metadata entry each). Run in
Lambda's mode (``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``, a daemon address on a
local UDP socket that is never read), each variant in a process of its own:

- ``sdk``: aws-xray-sdk alone, sending each subsegment as it closes (Lambda mode);
- ``bridge``: the same code under ``otel_xray.lambda_handler`` with the bridge, the
  invocation's span included, exported (xray-udp) at the end of each invocation;
- ``native``: the same ten subsegments written with otel-xray's own API
  (``otel_xray.subsegment``, ``annotate``, ``metadata``): what the bridge adds is the
  difference between the last two.

Reports the median of the repeats, in microseconds per subsegment.

    python -m benchmarks.xray_sdk_bridge [--invocations 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks import save

WORKER = """
import json, sys, time
variant, invocations = sys.argv[1], int(sys.argv[2])
if variant != "sdk":
    import otel_xray
    otel_xray.configure()
from aws_xray_sdk.core import xray_recorder


def handler(event, context):
    for number in range(10):
        with xray_recorder.in_subsegment("## step") as sub:
            sub.put_annotation("step", number)
            sub.put_metadata("order", {"id": "o-1", "items": [1, 2]}, "shop")
    return "ok"


def native(event, context):
    for number in range(10):
        with otel_xray.subsegment("## step") as sub:
            sub.annotate(step=number)
            otel_xray.metadata("shop", order={"id": "o-1", "items": [1, 2]})
    return "ok"


if variant == "bridge":
    handler = otel_xray.lambda_handler(handler)
elif variant == "native":
    handler = otel_xray.lambda_handler(native)
handler({}, None)  # warm up: first imports, first datagram
started = time.perf_counter()
for _ in range(invocations):
    handler({}, None)
elapsed = time.perf_counter() - started
print(json.dumps({"us_per_subsegment": elapsed / (invocations * 10) * 1e6}))
"""


def run(variant: str, invocations: int, port: int) -> float:
    env = {
        **os.environ,
        "LAMBDA_TASK_ROOT": os.getcwd(),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
        "_X_AMZN_TRACE_ID": "Root=1-6b000000-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;"
        "Sampled=1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    done = subprocess.run(
        [sys.executable, "-c", WORKER, variant, str(invocations)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    value: float = json.loads(done.stdout.strip().splitlines()[-1])["us_per_subsegment"]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    samples: dict[str, list[float]] = {"sdk": [], "bridge": [], "native": []}
    try:
        for _ in range(args.repeats):  # interleaved, so machine load hits all alike
            for variant, values in samples.items():
                values.append(run(variant, args.invocations, port))
                time.sleep(0.1)
    finally:
        sink.close()
    medians = {variant: statistics.median(values) for variant, values in samples.items()}
    table = "\n".join(
        [
            "| X-Ray SDK code, per subsegment | µs (median) |",
            "|---|---|",
            f"| aws-xray-sdk alone (Lambda mode, UDP per subsegment) | {medians['sdk']:.1f} |",
            f"| on otel-xray's bridge (xray-udp, invocation span included) "
            f"| {medians['bridge']:.1f} |",
            f"| otel-xray's own API, same subsegments (xray-udp) | {medians['native']:.1f} |",
        ]
    )
    print(table)
    report: dict[str, Any] = {"invocations": args.invocations, "samples": samples}
    save("xray_sdk_bridge", table, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
