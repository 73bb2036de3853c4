"""Sampling decisions that understand the X-Ray tracing header.

Upstream ``ParentBased`` only sees the parent's sampled bit, so an upstream
``Sampled=?`` (or no ``Sampled`` at all) reads as "not sampled" and drops the
trace. :class:`XRayParentBased` reads the header's own value that the propagator
keeps in the context: ``None`` hands the decision to the local root sampler, and a
Root-only header's explicit decision is followed by the root span that joins it.

Example:
    >>> from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    >>> sampler = XRayParentBased(ALWAYS_ON)
    >>> sampler.get_description().startswith("XRayParentBased")
    True
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from otel_xray.propagation import XRAY_SAMPLED_KEY
from otel_xray.settings import Settings

_MISSING = object()


class XRayParentBased(ParentBased):
    """``ParentBased`` that defers to ``root`` when the X-Ray header left the decision open."""

    def __init__(self, root: Sampler) -> None:
        super().__init__(root)
        self._root = root

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        header_sampled = otel_context.get_value(XRAY_SAMPLED_KEY, parent_context)
        parent = trace.get_current_span(parent_context).get_span_context()
        if header_sampled is None and XRAY_SAMPLED_KEY in (parent_context or {}):
            if parent.is_valid and parent.is_remote:
                return self._root.should_sample(
                    parent_context, trace_id, name, kind, attributes, links, trace_state
                )
        elif isinstance(header_sampled, bool) and not parent.is_valid:
            decision = Decision.RECORD_AND_SAMPLE if header_sampled else Decision.DROP
            return SamplingResult(decision, attributes if header_sampled else None)
        return super().should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"XRayParentBased{{root:{self._root.get_description()}}}"


def build_sampler(settings: Settings) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` names, parent-based ones X-Ray aware."""
    name, arg = settings.sampler, settings.sampler_arg
    root: Sampler = {"always_on": ALWAYS_ON, "always_off": ALWAYS_OFF}.get(
        name.removeprefix("parentbased_"), ALWAYS_ON
    )
    if name.endswith("traceidratio"):
        root = TraceIdRatioBased(arg)
    return XRayParentBased(root) if name.startswith("parentbased_") else root
