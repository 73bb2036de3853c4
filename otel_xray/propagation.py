"""X-Ray tracing header parsing and the propagators built on it.

Why not upstream's ``AwsXRayPropagator``: any parse failure there returns the
input context unchanged, so ``Sampled=?``, a trailing ``;``, a pair without ``=``,
a Root with no Parent (what ALB sends) and mixed-case keys all lose the trace,
and a missing ``Sampled`` counts as "not sampled" (python-contrib #649, #1378,
#1875, #1972). Here:

* keys are case-insensitive and stray separators or bare words are skipped;
* ``Sampled=?`` or no ``Sampled`` defers the decision to the local sampler
  (``XRAY_SAMPLED_KEY`` is None in the context; :mod:`otel_xray.sampling` reads it);
* a header with Root but no Parent keeps its trace id (``JOIN_TRACE_ID_KEY``, read
  by :class:`otel_xray.ids.XRayIdGenerator`), so the new root span joins the
  caller's trace instead of starting another;
* unknown keys (``Lineage``, ``Self``...) are kept and re-emitted on inject, as the
  X-Ray SDK does.

Nothing here raises on any input.

Example:
    >>> h = parse_trace_header("root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?;")
    >>> (h.root, h.parent, h.sampled)
    ('1-5759e988-bd862e3fe1be46a994272793', None, None)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_xray.ids import JOIN_TRACE_ID_KEY, format_xray_trace_id

TRACE_HEADER_NAME = "X-Amzn-Trace-Id"
LAMBDA_TRACE_ENV = "_X_AMZN_TRACE_ID"
#: The header's ``Sampled`` value: True, False, or None for "left to the callee".
XRAY_SAMPLED_KEY = otel_context.create_key("otel-xray-sampled")
EXTRA_HEADER_PAIRS_KEY = otel_context.create_key("otel-xray-extra-header-pairs")

_ROOT_RE = re.compile(r"^1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})$")
_PARENT_RE = re.compile(r"^[0-9a-fA-F]{16}$")
_MAX_HEADER_LENGTH = 4096


class TraceHeader(NamedTuple):
    """A parsed ``X-Amzn-Trace-Id``; ``sampled`` is None when the caller left it open."""

    root: str
    parent: str | None = None
    sampled: bool | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def trace_id(self) -> int:
        return int(self.root[2:10] + self.root[11:], 16)

    @property
    def parent_span_id(self) -> int | None:
        return int(self.parent, 16) if self.parent else None

    def to_header(self) -> str:
        parts = [f"Root={self.root}"]
        if self.parent:
            parts.append(f"Parent={self.parent}")
        parts.append("Sampled=" + {True: "1", False: "0", None: "?"}[self.sampled])
        parts.extend(f"{k}={v}" for k, v in self.extra)
        return ";".join(parts)


def parse_trace_header(value: object) -> TraceHeader | None:
    """Parse a tracing header leniently; None when it holds no valid Root."""
    if not isinstance(value, str) or len(value) > _MAX_HEADER_LENGTH:
        return None
    root: str | None = None
    parent: str | None = None
    sampled: bool | None = None
    extra: list[tuple[str, str]] = []
    for pair in value.split(";"):
        key, sep, val = pair.partition("=")
        key, val = key.strip(), val.strip()
        if not sep or not key:
            continue
        lowered = key.lower()
        if lowered == "root":
            if _ROOT_RE.match(val):
                root = val.lower()
        elif lowered == "parent":
            if _PARENT_RE.match(val) and int(val, 16) != 0:
                parent = val.lower()
        elif lowered == "sampled":
            sampled = {"1": True, "0": False}.get(val)
        elif len(extra) < 8:
            extra.append((key, val))
    if root is None or int(root[2:10] + root[11:], 16) == 0:
        return None
    return TraceHeader(root, parent, sampled, tuple(extra))


def context_from_header(
    header: TraceHeader, context: otel_context.Context | None = None
) -> otel_context.Context:
    """The OTel context a parsed header stands for (see the module docstring)."""
    ctx = context if context is not None else otel_context.Context()
    ctx = otel_context.set_value(XRAY_SAMPLED_KEY, header.sampled, ctx)
    if header.extra:
        ctx = otel_context.set_value(EXTRA_HEADER_PAIRS_KEY, header.extra, ctx)
    if header.parent_span_id is None:
        return otel_context.set_value(JOIN_TRACE_ID_KEY, header.trace_id, ctx)
    flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if header.sampled else 0)
    span_context = trace.SpanContext(
        trace_id=header.trace_id,
        span_id=header.parent_span_id,
        is_remote=True,
        trace_flags=flags,
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context), ctx)


def _get_case_insensitive(carrier: CarrierT, getter: Getter[CarrierT], name: str) -> str | None:
    values = getter.get(carrier, name)
    if not values:
        lowered = name.lower()
        try:
            for key in getter.keys(carrier):
                if isinstance(key, str) and key.lower() == lowered:
                    values = getter.get(carrier, key)
                    break
        except Exception:
            return None
    if not values:
        return None
    if isinstance(values, str):
        return values
    first = next(iter(values), None)
    return first if isinstance(first, str) else None


class XRayPropagator(TextMapPropagator):
    """Extracts and injects ``X-Amzn-Trace-Id`` with the fixes listed above."""

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        try:
            header = parse_trace_header(_get_case_insensitive(carrier, getter, TRACE_HEADER_NAME))
        except Exception:
            header = None
        if header is None:
            return context if context is not None else otel_context.get_current()
        base = context if context is not None else otel_context.get_current()
        return context_from_header(header, base)

    def inject(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        span_context = trace.get_current_span(context).get_span_context()
        if not span_context.is_valid:
            return
        extra = otel_context.get_value(EXTRA_HEADER_PAIRS_KEY, context)
        header = TraceHeader(
            root=format_xray_trace_id(span_context.trace_id),
            parent=f"{span_context.span_id:016x}",
            sampled=span_context.trace_flags.sampled,
            extra=extra if isinstance(extra, tuple) else (),
        )
        setter.set(carrier, TRACE_HEADER_NAME, header.to_header())

    @property
    def fields(self) -> set[str]:
        return {TRACE_HEADER_NAME}


class XRayLambdaPropagator(XRayPropagator):
    """Like :class:`XRayPropagator`, then falls back to ``_X_AMZN_TRACE_ID``.

    Used outside the handler wrapper (which reads the variable itself): when a
    carrier holds no X-Ray context, the Lambda function segment becomes the parent.
    """

    def extract(
        self,
        carrier: CarrierT,
        context: otel_context.Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> otel_context.Context:
        ctx = super().extract(carrier, context, getter)
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
        header = lambda_trace_header()
        return context_from_header(header, ctx) if header else ctx


def lambda_trace_header() -> TraceHeader | None:
    """The current invocation's ``_X_AMZN_TRACE_ID``, parsed."""
    return parse_trace_header(os.environ.get(LAMBDA_TRACE_ENV))


def build_propagator(names: Iterable[str]) -> TextMapPropagator:
    """A composite of the named propagators (names as in ``OTEL_PROPAGATORS``)."""
    propagators: list[TextMapPropagator] = []
    for name in names:
        if name == "xray":
            propagators.append(XRayPropagator())
        elif name == "xray-lambda":
            propagators.append(XRayLambdaPropagator())
        elif name == "tracecontext":
            propagators.append(TraceContextTextMapPropagator())
        elif name == "baggage":
            propagators.append(W3CBaggagePropagator())
    return CompositePropagator(propagators)
