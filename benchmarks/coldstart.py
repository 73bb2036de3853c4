"""Side by side: otel-xray and the alternatives, on the same handler, in one run.

Every configuration runs the same zero-code handler (``benchmarks/functions/checkout``:
imports boto3 and requests, writes DynamoDB, POSTs to a payment API, sends to SQS,
all on loopback) through its real start path: an exec wrapper under awslambdaric
against the local Runtime API. Per run, one fresh sandbox gives:

- cold start: process start to the first invocation's response;
- warm latency: the next ``--warm`` invocations (p50 and p99 of each run), each sent
  once the sandbox is free again (an extension's work after the previous response,
  otel-xray's export, is not on the next caller's clock, as on Lambda);
- CPU time per warm invocation (user + system of the sandbox process);
- peak RSS (the sandbox process's VmHWM).

Runs are interleaved so every configuration sees the same machine; the report
gives medians over the runs and each configuration's overhead against the
no-tracing runs of the same batch, as a difference and a ratio, plus each layer's
size. The alternatives are built by ``benchmarks/peers.py`` from pinned versions.

    python -m benchmarks.coldstart [--runs 11] [--warm 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import save
from benchmarks.peers import PEERS, build_peer, size_bytes
from examples.local_services import ROOT, LocalServices
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from otel_xray.devtools.functions.sandbox import DEFAULT_DIR, runtime_root

EVENT = {
    **json.loads((ROOT / "examples" / "order_api" / "event.json").read_text()),
    "body": json.dumps({"amount": 10, "items": ["book"]}),
}
#: Zero-code, so it runs unchanged with and without tracing (make bench-functions).
FUNCTION = ROOT / "build" / "bench" / "checkout"
BASELINE = "no tracing"


@dataclass
class Configuration:
    name: str
    layer: Path | None
    exporter: str = "xray-udp"
    env: dict[str, str] = field(default_factory=dict)
    otlp_endpoint: str | None = None
    #: The local runtime of this Python version (make runtime builds each one found).
    python: str = "3.11"
    #: The no-tracing row of the same runtime: the baseline of this row's overhead.
    baseline: str = BASELINE


#: OTEL_XRAY_EXPORT_AFTER_RESPONSE=false: spans flushed before each response.
INLINE = {"OTEL_XRAY_EXPORT_AFTER_RESPONSE": "false"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def configurations(only: str | None = None, layers: list[str] | None = None) -> list[Configuration]:
    ours = ROOT / default_layer_dir()
    down = closed_port()
    found = [
        Configuration(BASELINE, None),
        Configuration("otel-xray, xray-udp (default)", ours),
        Configuration("otel-xray, OTLP to a collector", ours, "otlp"),
        # Issue 26: AWS's own layer's wire, and signed OTLP to (the local) X-Ray endpoint.
        Configuration("otel-xray, xray-otlp-udp", ours, "xray-otlp-udp"),
        Configuration("otel-xray, signed OTLP to X-Ray", ours, "xray-otlp"),
        Configuration(
            "otel-xray, daemon unreachable",
            ours,
            env={"AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{down}"},
        ),
        Configuration(
            "otel-xray, collector unreachable",
            ours,
            "otlp",
            otlp_endpoint=f"http://127.0.0.1:{down}",
        ),
        # Export after the response (the default) against the flush before it.
        Configuration("otel-xray, xray-udp, flush before the response", ours, env=INLINE),
        Configuration(
            "otel-xray, collector unreachable, flush before the response",
            ours,
            "otlp",
            otlp_endpoint=f"http://127.0.0.1:{down}",
            env=INLINE,
        ),
    ]
    for name, (_, exporter) in PEERS.items():
        if not only or only in name:  # building a peer's layer takes a while
            found.append(Configuration(name, build_peer(name), exporter))
    for spec in layers or []:  # NAME=DIR: another otel-xray layer, e.g. an older build
        name, _, directory = spec.partition("=")
        found.append(Configuration(name, Path(directory)))
    # Per runtime, as on Lambda's read-only /opt: no bytecode written at run time, so a
    # version the layer carries no bytecode for would compile it at every cold start.
    for version in ("3.11", "3.12", "3.13"):
        if not (runtime_root(version, ROOT / DEFAULT_DIR) / ".stamp").exists():
            print(f"no local python{version} runtime: its rows are left out (make runtime)")
            continue
        no_writes = {"PYTHONDONTWRITEBYTECODE": "1"}
        base = f"no tracing, python{version}, no bytecode writes"
        found.append(Configuration(base, None, env=no_writes, python=version, baseline=base))
        found.append(
            Configuration(
                f"otel-xray, python{version}, no bytecode writes",
                ours,
                env=no_writes,
                python=version,
                baseline=base,
            )
        )
    return found


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def one_run(services: LocalServices, config: Configuration, warm: int) -> dict[str, float]:
    """One fresh sandbox: cold start, warm latencies, CPU per invocation, peak RSS."""
    function = LocalFunction(
        "app.handler",
        FUNCTION,
        layer_dir=config.layer,
        use_layer=config.layer is not None,
        env={**services.function_env(), **config.env},
        function_name="order-api",
        exporter=config.exporter,
        otlp_endpoint=config.otlp_endpoint,
        runtime_dir=runtime_root(config.python, ROOT / DEFAULT_DIR),
    )
    with function:
        first = function.invoke(EVENT, collect=False)
        cold = (time.monotonic() - function.started_at) * 1000
        if not first.ok:
            raise RuntimeError(f"{config.name}: {first.error}\n{function.logs()[-2000:]}")
        assert function.process is not None
        pid = function.process.pid
        cpu_before = _cpu_seconds(pid)
        latencies = []
        for _ in range(warm):
            # A caller's request goes to a sandbox that is free: the previous invoke
            # phase (an export after the response) is over, as between two requests.
            function.wait_idle()
            began = time.monotonic()
            result = function.invoke(EVENT, collect=False)
            latencies.append((time.monotonic() - began) * 1000)
            if not result.ok:
                raise RuntimeError(f"{config.name}: {result.error}")
        cpu = (_cpu_seconds(pid) - cpu_before) / warm * 1000
        peak = _peak_rss_kib(pid)
    services.drain_queue()  # moto (in this process) slows as the queue grows
    latencies.sort()
    return {
        "cold_ms": cold,
        "warm_p50_ms": statistics.median(latencies),
        "warm_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "cpu_ms_per_invocation": cpu,
        "peak_rss_mib": peak / 1024,
    }


def layer_size(config: Configuration) -> tuple[float, float] | None:
    if config.layer is None:
        return None
    if config.layer.parent.name == "layer":  # ours: what make layer measured
        sizes = json.loads((ROOT / "build" / "layer" / "sizes.json").read_text())
        mine = sizes[config.layer.name]
        return mine["unzipped_bytes"] / 1e6, mine["zipped_bytes"] / 1e6
    unzipped, zipped = size_bytes(config.layer)
    return unzipped / 1e6, zipped / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--only", help="run the configurations whose name contains this")
    parser.add_argument(
        "--layer", action="append", default=[], metavar="NAME=DIR",
        help="another unpacked otel-xray layer in the same batch, e.g. an older build",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # The no-tracing baseline always runs: every overhead is against the same batch.
    configs = [
        c
        for c in configurations(args.only, args.layer)
        if not args.only or args.only in c.name or c.name == BASELINE
    ]
    samples: dict[str, list[dict[str, float]]] = {c.name: [] for c in configs}
    with LocalServices() as services:
        for config in configs:  # warm the page cache once
            one_run(services, config, 2)
        for _ in range(args.runs):
            for config in configs:
                samples[config.name].append(one_run(services, config, args.warm))
    medians: dict[str, dict[str, float]] = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in samples.items()
    }
    base_of = {name: medians[name] for name in medians}
    header = (
        "| configuration | cold start ms (overhead, ratio) | warm p50 ms (overhead) "
        "| warm p99 ms | CPU ms / invocation (overhead) | peak RSS MiB (overhead) "
        "| layer MB unzipped / zipped |"
    )
    rows = [header, "|---|---|---|---|---|---|---|"]
    report: dict[str, Any] = {
        "runs": args.runs,
        "warm_invocations": args.warm,
        "configurations": {},
    }
    for config in configs:
        m = medians[config.name]
        base = base_of.get(config.baseline) or m
        size = layer_size(config)
        size_text = "-" if size is None else f"{size[0]:.1f} / {size[1]:.1f}"
        rows.append(
            f"| {config.name} "
            f"| {m['cold_ms']:.0f} ({m['cold_ms'] - base['cold_ms']:+.0f}, "
            f"{m['cold_ms'] / base['cold_ms']:.2f}) "
            f"| {m['warm_p50_ms']:.1f} ({m['warm_p50_ms'] - base['warm_p50_ms']:+.1f}) "
            f"| {m['warm_p99_ms']:.1f} "
            f"| {m['cpu_ms_per_invocation']:.1f} "
            f"({m['cpu_ms_per_invocation'] - base['cpu_ms_per_invocation']:+.1f}) "
            f"| {m['peak_rss_mib']:.1f} ({m['peak_rss_mib'] - base['peak_rss_mib']:+.1f}) "
            f"| {size_text} |"
        )
        report["configurations"][config.name] = {
            "medians": m,
            "runs": samples[config.name],
            "layer_mb": size,
        }
    table = "\n".join(rows)
    print(f"Side by side, {args.runs} interleaved runs each (medians):\n{table}")
    # A subset (--only) never overwrites the full side-by-side table.
    save("coldstart" if not args.only else "coldstart-only", table, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
