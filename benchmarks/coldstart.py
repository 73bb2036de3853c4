"""Cold start of the example order API with and without the otel-xray layer.

Process start to the first invocation's response, through the real start path
(exec wrapper, awslambdaric, local Runtime API), the handler importing boto3 and
requests and calling DynamoDB (moto) and an HTTP API on loopback. Runs are
interleaved so both configurations see the same machine; the table reports
medians and the overhead against the no-tracing runs of the same batch.

    python -m benchmarks.coldstart [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from examples.local_services import ROOT, LocalServices
from otel_xray.local.invoke import LocalFunction

EVENT = json.loads(
    (Path(__file__).parents[1] / "examples" / "order_api" / "event.json").read_text()
)
RESULTS = Path(__file__).parent / "results"
#: Zero-code, so it runs unchanged with and without tracing (make bench-functions).
FUNCTION = ROOT / "build" / "bench" / "checkout"
#: name -> (layer attached, exporter the layer uses)
CONFIGURATIONS = {
    "no tracing": (False, "xray-udp"),
    "otel-xray layer, xray-udp (default)": (True, "xray-udp"),
    "otel-xray layer, OTLP to a collector": (True, "otlp"),
}


def cold_start_ms(services: LocalServices, configuration: tuple[bool, str]) -> tuple[float, float]:
    """(cold start ms, warm invocation ms) of one fresh sandbox."""
    use_layer, exporter = configuration
    function = LocalFunction(
        "app.handler",
        FUNCTION,
        use_layer=use_layer,
        env=services.function_env(),
        function_name="order-api",
        exporter=exporter,
    )
    with function:
        first = function.invoke(EVENT)
        cold = (time.monotonic() - function.started_at) * 1000
        warm = function.invoke(EVENT)
    if not (first.ok and warm.ok):
        raise RuntimeError(f"invocation failed: {first.error or warm.error}")
    return cold, warm.duration_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    samples: dict[str, dict[str, list[float]]] = {
        n: {"cold": [], "warm": []} for n in CONFIGURATIONS
    }
    with LocalServices() as services:
        for configuration in CONFIGURATIONS.values():  # warm the page cache once
            cold_start_ms(services, configuration)
        for _ in range(args.runs):
            for name, configuration in CONFIGURATIONS.items():
                cold, warm = cold_start_ms(services, configuration)
                samples[name]["cold"].append(cold)
                samples[name]["warm"].append(warm)
    baseline = statistics.median(samples["no tracing"]["cold"])
    base_warm = statistics.median(samples["no tracing"]["warm"])
    header = "| configuration | cold start (median ms) | overhead ms | ratio | warm (median ms) |"
    rows = [header, "|---|---|---|---|---|"]
    report = {"runs": args.runs, "configurations": {}}
    for name, values in samples.items():
        cold = statistics.median(values["cold"])
        warm = statistics.median(values["warm"])
        rows.append(
            f"| {name} | {cold:.0f} | {cold - baseline:+.0f} | {cold / baseline:.2f} "
            f"| {warm:.1f} ({warm - base_warm:+.1f}) |"
        )
        report["configurations"][name] = {
            "cold_ms": values["cold"],
            "warm_ms": values["warm"],
            "cold_median_ms": cold,
            "warm_median_ms": warm,
        }
    table = "\n".join(rows)
    print(f"Cold start, {args.runs} interleaved runs each:\n{table}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "coldstart.md").write_text(table + "\n")
    (RESULTS / "coldstart.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
