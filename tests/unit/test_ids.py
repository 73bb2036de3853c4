"""X-Ray ids: format, and uniqueness across forks and snapshot restores."""

from __future__ import annotations

import os
import random
import time

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


def _ids_from_forked_children(children: int) -> list[set[int]]:
    gen = XRayIdGenerator()
    gen.generate_span_id()  # "seeded" before the fork, as at init before a snapshot
    results: list[set[int]] = []
    for _ in range(children):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            payload = ",".join(
                str(gen.generate_trace_id() & (2**96 - 1)) + ":" + str(gen.generate_span_id())
                for _ in range(IDS_PER_PROCESS)
            )
            os.write(write_fd, payload.encode())
            os._exit(0)
        os.close(write_fd)
        chunks = []
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        results.append(
            {int(x) for pair in b"".join(chunks).decode().split(",") for x in pair.split(":")}
        )
    return results


def test_forked_processes_never_repeat_ids() -> None:
    sets = _ids_from_forked_children(4)
    assert all(len(s) == 2 * IDS_PER_PROCESS for s in sets)
    union = set().union(*sets)
    assert len(union) == sum(len(s) for s in sets)


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
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

    snapshot = random.getstate()
    upstream = AwsXRayIdGenerator()
    first = [upstream.generate_span_id() for _ in range(100)]
    random.setstate(snapshot)
    assert [upstream.generate_span_id() for _ in range(100)] == first
