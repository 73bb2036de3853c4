"""Cold start the way a user would see it: AWS's Runtime Interface Emulator, read-only code,
a Lambda trace header on every invocation, each tracer against no tracing in one batch.

The same handler as ``benchmarks/coldstart.py`` (``benchmarks/functions/checkout``: boto3
and requests, DynamoDB, an HTTP API and SQS on loopback, ``LocalServices``) and the same
peers (``benchmarks/peers.py``: the X-Ray SDK, Powertools, ADOT, ADOT fast start,
upstream OpenTelemetry), but started by the ``aws-lambda-rie`` binary (``make rie``)
instead of our own Runtime API; how the sandbox is run and timed, and why, is in
``benchmarks/rie.py``. Per run, one fresh RIE and runtime give:

- **init**: the RIE's own ``INIT REPORT`` duration (rapid's init phase: the runtime's
  start to its first ``/runtime/invocation/next``; the proxy's view of the same span
  is in the JSON);
- **first response**: the invoke sent (the RIE starts the runtime on it) to the runtime
  posting its response, when Lambda's caller would get it; **RIE reply**: when the RIE
  itself answered, which is after the runtime's next poll and every extension's
  ``/extension/event/next``, so work done after the response (an inline flush, an
  extension's export) shows here and not in the first response;
- **CPU**: CPU time of the function's processes for init and the first invocation;
- **warm p50**: ``--warm`` more invocations, response posted (and RIE reply);
- **peak RSS**: the function's processes' ``VmHWM`` after the warm invocations;
- **spans**: what arrived at the daemon stand-in and the OTLP receiver in each run, and
  whether any joined the trace the Lambda header named. A traced configuration whose
  spans never arrive fails the benchmark.

Each round runs every traced configuration once, in rotated order, each run between two
no-tracing runs (B C1 B C2 B ... B); a run's overhead is against the mean of the two
no-tracing runs around it, and the table gives medians over the rounds.

    python -m benchmarks.coldstart_rie [--runs 10] [--warm 10] [--only NAME] [--python 3.11]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks import save
from benchmarks.coldstart import BASELINE, EVENT, FUNCTION, Configuration
from benchmarks.peers import PEERS, build_peer
from benchmarks.rie import RIE, RieSandbox, read_only_mode, stdlib_dir
from examples.local_services import ROOT, LocalServices
from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.components.receiver import OTLPReceiver, readable_span
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from otel_xray.devtools.functions.sandbox import BOOTSTRAP, DEFAULT_DIR, RuntimeEnv, runtime_root
from otel_xray.xray.segment import span_to_document

_RAPID_INIT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
#: What the table shows, per run: (key, label, with a ratio column).
METRICS = [
    ("init_ms", "init ms", True),
    ("first_response_ms", "first response ms", True),
    ("first_reply_ms", "RIE reply, 1st ms", False),
    ("cpu_ms", "CPU ms, init + 1st", False),
    ("warm_p50_ms", "warm p50 ms", False),
    ("warm_reply_p50_ms", "warm p50, RIE reply ms", False),
    ("peak_rss_mib", "peak RSS MiB", False),
]


@dataclass
class Batch:
    """What every run of a batch shares: the services, the sinks, the runtime."""

    services: LocalServices
    daemon: XRayDaemon
    receiver: OTLPReceiver
    runtime: RuntimeEnv
    read_only: list[Path]
    mode: str
    samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def configurations(
    only: str | None, python: str, layers: list[str] | None = None
) -> list[Configuration]:
    """The baseline, otel-xray, the peers, and any ``NAME=DIR`` layers (an older build)."""
    ours = ROOT / default_layer_dir()
    if not (ours / "otel-instrument").exists():
        raise SystemExit(f"no layer at {ours}: run 'make layer'")
    found = [
        Configuration(BASELINE, None, python=python),
        Configuration("otel-xray", ours, python=python),
    ]
    for name, (_, exporter) in PEERS.items():
        if not only or only in name:  # building a peer's layer takes a while
            found.append(Configuration(name, build_peer(name), exporter, python=python))
    for spec in layers or []:
        name, _, directory = spec.partition("=")
        found.append(Configuration(name, Path(directory), python=python))
    return [c for c in found if not only or only in c.name or c.name == BASELINE]


def environment(batch: Batch, config: Configuration) -> dict[str, str]:
    """The environment ``benchmarks/coldstart.py`` gives the same configuration (the
    local harness's own), less the Runtime API address, which the RIE sets."""
    function = LocalFunction(
        "app.handler",
        FUNCTION,
        layer_dir=config.layer,
        use_layer=config.layer is not None,
        env={**batch.services.function_env(), **config.env},
        function_name="order-api",
        exporter=config.exporter,
        otlp_endpoint=config.otlp_endpoint,
        runtime_dir=batch.runtime.root,
    )
    function.api = SimpleNamespace(address="")  # type: ignore[assignment]
    function.daemon, function.receiver = batch.daemon, batch.receiver
    env = function.environment()
    del env["AWS_LAMBDA_RUNTIME_API"]
    return env


def _span_count(document: dict[str, Any]) -> int:
    return 1 + sum(_span_count(s) for s in document.get("subsegments") or [])


def received(batch: Batch) -> list[dict[str, Any]]:
    """The documents (spans as X-Ray documents) that reached either sink since last asked."""
    batch.daemon.wait_idle(quiet_seconds=0.05, timeout=1.0)
    documents = batch.daemon.take()
    batch.daemon.otlp_spans, batch.daemon.raw, batch.daemon.senders = [], [], []
    documents += [span_to_document(readable_span(s)) for s in batch.receiver.take()]
    return documents


def one_run(batch: Batch, config: Configuration, warm: int) -> dict[str, float]:
    command = [str(batch.runtime.python), str(BOOTSTRAP)]
    read_only = list(batch.read_only)
    if config.layer is not None:
        command.insert(0, str(config.layer / "otel-instrument"))
        read_only.append(config.layer)
    received(batch)  # whatever a previous run sent late is not this run's
    sandbox = RieSandbox(command, environment(batch, config), FUNCTION, read_only, batch.mode)
    with sandbox:
        proxy = sandbox.proxy
        assert proxy is not None
        sent, status, body = sandbox.invoke(EVENT)
        first_reply = (time.monotonic() - sent) * 1000
        _check(config, sandbox, status, body)
        cpu = sandbox.cpu_ms()
        if not proxy.wait_responses(1, 5) or proxy.first_next_at is None:
            raise RuntimeError(f"{config.name}: the proxy saw no response\n{sandbox.logs()}")
        first_response = (proxy.responses_at[0] - sent) * 1000
        proxy_init = (proxy.first_next_at - sent) * 1000
        posted, replies = [], []
        for n in range(1, warm + 1):
            sent, status, body = sandbox.invoke(EVENT)
            replies.append((time.monotonic() - sent) * 1000)
            _check(config, sandbox, status, body)
            proxy.wait_responses(n + 1, 5)
            posted.append((proxy.responses_at[n] - sent) * 1000)
        rss = sandbox.peak_rss_mib()
        logs = sandbox.logs()
        documents = received(batch)
        roots = set(proxy.roots)
        extensions = len(proxy.extensions)
    batch.services.drain_queue()  # moto (in this process) slows as the queue grows
    rapid = _RAPID_INIT.search(logs)
    return {
        "init_ms": float(rapid.group(1)) if rapid else proxy_init,
        "proxy_init_ms": proxy_init,
        "first_response_ms": first_response,
        "first_reply_ms": first_reply,
        "cpu_ms": cpu,
        "warm_p50_ms": statistics.median(posted) if posted else first_response,
        "warm_reply_p50_ms": statistics.median(replies) if replies else 0.0,
        "peak_rss_mib": rss,
        "spans": float(sum(_span_count(d) for d in documents)),
        "joined": float(any(d.get("trace_id") in roots for d in documents)),
        "extensions": float(extensions),
    }


def _check(config: Configuration, sandbox: RieSandbox, status: int, body: bytes) -> None:
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or answer.get("statusCode") != 201:
        raise RuntimeError(f"{config.name}: HTTP {status} {body[:300]!r}\n{sandbox.logs()[-3000:]}")


def schedule(traced: list[Configuration], rounds: int) -> list[list[Configuration]]:
    """Per round, every traced configuration once (rotated by one each round)."""
    if not traced:
        return [[] for _ in range(rounds)]
    return [traced[r % len(traced) :] + traced[: r % len(traced)] for r in range(rounds)]


def bracketed(
    runs: list[tuple[Configuration, dict[str, float]]],
) -> dict[str, list[dict[str, float]]]:
    """Each traced run with its overhead against the mean of the no-tracing runs just
    before and after it (``runs`` alternates: baseline, traced, baseline, ...)."""
    out: dict[str, list[dict[str, float]]] = {}
    for i, (config, sample) in enumerate(runs):
        if config.name == BASELINE:
            out.setdefault(BASELINE, []).append(dict(sample))
            continue
        before, after = runs[i - 1][1], runs[i + 1][1]
        row = dict(sample)
        for key, _, _ in METRICS:
            base = (before[key] + after[key]) / 2
            row[f"{key}_added"] = sample[key] - base
            row[f"{key}_ratio"] = sample[key] / base if base else 0.0
        out.setdefault(config.name, []).append(row)
    return out


def table(configs: list[Configuration], samples: dict[str, list[dict[str, float]]]) -> str:
    header = "| configuration | " + " | ".join(
        f"{label} (added{', ratio' if ratio else ''})" for _, label, ratio in METRICS
    )
    rows = [header + " | spans / run, joined Lambda's trace |"]
    rows.append("|---" * (len(METRICS) + 2) + "|")
    for config in configs:
        runs = samples[config.name]
        cells = []
        for key, _, ratio in METRICS:
            value = statistics.median(r[key] for r in runs)
            digits = 0 if key in ("init_ms", "first_response_ms", "first_reply_ms", "cpu_ms") else 1
            if config.name == BASELINE:
                cells.append(f"{value:.{digits}f}")
                continue
            added = statistics.median(r[f"{key}_added"] for r in runs)
            text = f"{value:.{digits}f} ({added:+.{digits}f}"
            if ratio:
                text += f", {statistics.median(r[f'{key}_ratio'] for r in runs):.2f}x"
            cells.append(text + ")")
        spans = statistics.median(r["spans"] for r in runs)
        joined = sum(r["joined"] for r in runs)
        cells.append(f"{spans:.0f}, {joined:.0f}/{len(runs)}")
        rows.append(f"| {config.name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--warm", type=int, default=10, help="warm invocations per run")
    parser.add_argument("--only", help="run the configurations whose name contains this")
    parser.add_argument("--python", default="3.11", help="the local runtime (make runtime)")
    parser.add_argument(
        "--layer", action="append", default=[], metavar="NAME=DIR",
        help="another unpacked otel-xray layer in the same batch, e.g. an older build",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not RIE.exists():
        raise SystemExit(f"{RIE} is missing: run 'make rie'")
    if not (FUNCTION / ".built").exists():
        raise SystemExit(f"{FUNCTION} is missing: run 'make bench-functions'")
    runtime = RuntimeEnv(runtime_root(args.python, ROOT / DEFAULT_DIR))
    runtime.check()
    configs = configurations(args.only, args.python, args.layer)
    # The function as the local harness leaves it after its first run: with its bytecode
    # (a read-only /var/task caches nothing, so without it every run would compile).
    subprocess.run([str(runtime.python), "-m", "compileall", "-q", str(FUNCTION)], check=True)
    mode = read_only_mode()
    traced = [c for c in configs if c.name != BASELINE]
    baseline = configs[0]
    with LocalServices() as services, XRayDaemon() as daemon, OTLPReceiver() as receiver:
        batch = Batch(
            services, daemon, receiver, runtime,
            [FUNCTION, runtime.root, stdlib_dir(runtime.python)], mode,
        )  # fmt: skip
        for config in configs:  # warm the page cache once
            one_run(batch, config, 1)
        runs = [(baseline, one_run(batch, baseline, args.warm))]
        for order in schedule(traced, args.runs):
            for config in order:
                runs.append((config, one_run(batch, config, args.warm)))
                runs.append((baseline, one_run(batch, baseline, args.warm)))
    samples = bracketed(runs)
    silent = [c.name for c in traced if not any(r["spans"] for r in samples[c.name])]
    if silent:
        raise SystemExit(f"no span of {', '.join(silent)} reached the daemon or the receiver")
    text = table(configs, samples)
    how = (
        "read-only bind mounts (unshare -m)"
        if mode == "unshare"
        else "PYTHONDONTWRITEBYTECODE=1 (unshare refused here: the directories stay writable)"
    )
    command = " ".join(["python -m benchmarks.coldstart_rie", *(argv or sys.argv[1:])])
    heading = (
        f"Under AWS's RIE (`{command}`): python{args.python}, {args.runs} rounds, "
        f"{args.warm} warm invocations per run, code {how}. Medians; overhead against the "
        "mean of the two no-tracing runs around each run."
    )
    print(f"{heading}\n{text}")
    report: dict[str, Any] = {
        "runs": args.runs,
        "warm_invocations": args.warm,
        "python": args.python,
        "read_only": mode,
        "baseline": "each traced run against the mean of the no-tracing runs before and after it",
        "configurations": {
            c.name: {
                "medians": {
                    k: statistics.median(r[k] for r in samples[c.name]) for k in samples[c.name][0]
                },
                "runs": samples[c.name],
            }
            for c in configs
        },
    }
    save("coldstart-rie" if not args.only else "coldstart-rie-only", f"{heading}\n\n{text}", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
