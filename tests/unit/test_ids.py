"""X-Ray ids: format, and uniqueness across forks and snapshot restores."""

from __future__ import annotations

import random
import subprocess
import sys
import time

from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

from otel_xray.ids import XRayIdGenerator, format_xray_trace_id

IDS_PER_PROCESS = 2000


def test_trace_id_carries_the_epoch_seconds() -> None:
    trace_id = XRayIdGenerator().generate_trace_id()
    assert abs((trace_id >> 96) - int(time.time())) <= 2
    text = format_xray_trace_id(trace_id)
    assert len(text) == 35 and text.startswith("1-") and text[10] == "-"


def test_span_ids_are_never_zero_and_fit_64_bits() -> None:
    gen = XRayIdGenerator()
    ids = [gen.generate_span_id() for _ in range(1000)]
    assert all(0 < i < 2**64 for i in ids)


#: Run in a fresh interpreter: forking pytest's own process (threads, and the SDK's
#: at-fork hook on every TracerProvider created so far) can deadlock the child.
FORK_SCRIPT = """
import os, sys
from otel_xray.ids import XRayIdGenerator
gen = XRayIdGenerator()
gen.generate_span_id()  # used before the fork, as at init before a snapshot
children = int(sys.argv[1]); per_child = int(sys.argv[2])
pipes = []
for _ in range(children):
    read_fd, write_fd = os.pipe()
    if os.fork() == 0:
        status = 1
        try:
            ids = [str(gen.generate_trace_id() & (2**96 - 1)) for _ in range(per_child)]
            ids += [str(gen.generate_span_id()) for _ in range(per_child)]
            with os.fdopen(write_fd, "w") as out:
                out.write(",".join(ids))
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    pipes.append(read_fd)
for read_fd in pipes:
    with os.fdopen(read_fd) as source:
        print(source.read())
for _ in pipes:
    assert os.wait()[1] == 0
"""


def test_forked_processes_never_repeat_ids() -> None:
    children = 4
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(children), str(IDS_PER_PROCESS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    sets = [{int(x) for x in line.split(",")} for line in done.stdout.split()]
    assert len(sets) == children
    assert all(len(s) == 2 * IDS_PER_PROCESS for s in sets)
    assert len(set().union(*sets)) == children * 2 * IDS_PER_PROCESS


def test_a_cloned_random_state_does_not_repeat_ids() -> None:
    """A SnapStart restore clones the memory, including Python's random state."""
    snapshot = random.getstate()
    gen = XRayIdGenerator()
    first = [gen.generate_span_id() for _ in range(100)]
    random.setstate(snapshot)  # the second sandbox restored from the same snapshot
    second = [gen.generate_span_id() for _ in range(100)]
    assert not set(first) & set(second)


def test_upstream_generator_repeats_ids_after_the_same_restore() -> None:
    """The contrast that makes the test above meaningful."""

    snapshot = random.getstate()
    upstream = AwsXRayIdGenerator()
    first = [upstream.generate_span_id() for _ in range(100)]
    random.setstate(snapshot)
    assert [upstream.generate_span_id() for _ in range(100)] == first
