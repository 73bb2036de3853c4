"""What a service pays at start to find its platform when there is none (not ECS, not
Elastic Beanstalk, not EC2): ``otel_xray.platforms.detect`` on this machine, in a fresh
interpreter each run (first call: the module's import included, after what configure()
has imported anyway) and warm.

    python -m benchmarks.platform_detection [--runs 30]

Writes ``results/platform_detection.md`` and ``.json``. The bound this checks is the
issue's "a few milliseconds": no request is made without a sign of EC2 (the DMI files),
so the cost is the import and a few file reads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from benchmarks import save
from otel_xray.platforms import detect
from otel_xray.settings import PlatformEnvironment

PROBE = """
import json, time
from otel_xray.settings import Settings  # what configure() has imported already
import opentelemetry.sdk.trace
t0 = time.perf_counter()
from otel_xray.platforms import detect
found = detect(Settings.from_env({}).platform)
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000, "found": found}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    first: list[float] = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                             check=True, env={"PATH": "/usr/bin:/bin"}).stdout
        result = json.loads(out)
        assert result["found"] == {}, f"this machine has platform metadata: {result['found']}"
        first.append(result["ms"])
    warm: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        detect(PlatformEnvironment())
        warm.append((time.perf_counter() - started) * 1000)
    table = "\n".join([
        "| platform detection, no metadata | p50 ms | max ms |",
        "|---|---|---|",
        f"| first call, fresh interpreter (its import included) | {statistics.median(first):.3f} "
        f"| {max(first):.3f} |",
        f"| warm call | {statistics.median(warm):.3f} | {max(warm):.3f} |",
    ])
    print(table)
    save("platform_detection", table, {"runs": runs, "first_ms": first, "warm_ms": warm})


if __name__ == "__main__":
    main()
