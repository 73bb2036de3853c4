"""X-Ray compatible trace and span ids that stay unique across forks and SnapStart.

Upstream ``AwsXRayIdGenerator`` draws from Python's ``random`` module. Its state is
part of process memory: a SnapStart restore (and a fork without the at-fork hook)
clones that state, so two sandboxes restored from one snapshot emit the same ids.
Here every id comes from ``os.urandom``, the kernel CSPRNG, which Lambda reseeds on
restore; there is no state to clone. The layout is upstream's: the first 32 bits of
the trace id are the epoch seconds, which X-Ray requires (ids older than 30 days are
rejected).

Example:
    >>> gen = XRayIdGenerator()
    >>> tid = gen.generate_trace_id()
    >>> import time; abs((tid >> 96) - int(time.time())) < 5
    True
"""

from __future__ import annotations

import os
import time

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace.id_generator import IdGenerator

#: Set by the propagator for a header with Root but no Parent (what ALB sends): the
#: next root span started in that context joins this trace id instead of a new one.
JOIN_TRACE_ID_KEY = otel_context.create_key("otel-xray-join-trace-id")


class XRayIdGenerator(IdGenerator):
    """Trace ids ``<epoch seconds:32><random:96>``, span ids random 64 bits, never 0."""

    def generate_span_id(self) -> int:
        while True:
            span_id = int.from_bytes(os.urandom(8), "big")
            if span_id:
                return span_id

    def generate_trace_id(self) -> int:
        joined = otel_context.get_value(JOIN_TRACE_ID_KEY)
        if isinstance(joined, int) and joined:
            return joined
        return (int(time.time()) << 96) | int.from_bytes(os.urandom(12), "big")


def format_xray_trace_id(trace_id: int) -> str:
    """``1-<8 hex epoch>-<24 hex>``, X-Ray's text form of an OTel trace id.

    >>> format_xray_trace_id(0x5759e988bd862e3fe1be46a994272793)
    '1-5759e988-bd862e3fe1be46a994272793'
    """
    hex32 = f"{trace_id:032x}"
    return f"1-{hex32[:8]}-{hex32[8:]}"


def format_span_id(span_id: int) -> str:
    """16 lowercase hex characters."""
    return f"{span_id:016x}"
