"""The X-Ray header: every shape of xray-facts.md section 1, and no input that raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from otel_xray.ids import XRayIdGenerator
from otel_xray.propagation import (
    XRayLambdaPropagator,
    XRayPropagator,
    parse_trace_header,
)
from otel_xray.sampling import XRayParentBased

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
SPAN_ID = 0x53995C3F42CD8AD8


def extract(header: str) -> trace.SpanContext:
    ctx = XRayPropagator().extract({"X-Amzn-Trace-Id": header})
    return trace.get_current_span(ctx).get_span_context()


def upstream_extract(header: str) -> trace.SpanContext:
    ctx = AwsXRayPropagator().extract({"X-Amzn-Trace-Id": header})
    return trace.get_current_span(ctx).get_span_context()


@pytest.mark.parametrize(
    ("header", "sampled"),
    [
        (f"Root={ROOT};Parent={PARENT};Sampled=1", True),
        (f"Root={ROOT};Parent={PARENT};Sampled=0", False),
        (f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5", True),
        (f"Root={ROOT};Parent={PARENT};Sampled=1;", True),  # trailing ;
        (f"Root={ROOT};;Parent={PARENT};Sampled=1", True),  # empty pair
        (f"Root={ROOT};Parent={PARENT};garbage;Sampled=1", True),  # pair without =
        (f"root={ROOT};PARENT={PARENT};sampled=1", True),  # keys in any case
        (f" Root = {ROOT} ; Parent = {PARENT} ; Sampled = 1 ", True),  # white space
        (f"Sampled=1;Parent={PARENT};Root={ROOT}", True),  # any order
    ],
)
def test_header_shapes_continue_the_trace(header: str, sampled: bool) -> None:
    span_context = extract(header)
    assert span_context.is_valid and span_context.is_remote
    assert (span_context.trace_id, span_context.span_id) == (TRACE_ID, SPAN_ID)
    assert span_context.trace_flags.sampled is sampled


@pytest.mark.parametrize(
    "header",
    [
        f"Root={ROOT};Parent={PARENT};Sampled=1;",
        f"root={ROOT};parent={PARENT};sampled=1",
        f"Root={ROOT};Parent={PARENT};Sampled=?",
    ],
)
def test_upstream_loses_these_headers_and_we_do_not(header: str) -> None:
    assert not upstream_extract(header).is_valid
    assert extract(header).is_valid


def _sample(parent_ctx: object, root_sampler: object) -> bool:
    provider = TracerProvider(sampler=XRayParentBased(root_sampler), id_generator=XRayIdGenerator())  # type: ignore[arg-type]
    span = provider.get_tracer("t").start_span("s", context=parent_ctx)  # type: ignore[arg-type]
    return span.get_span_context().trace_flags.sampled


@pytest.mark.parametrize("sampled_part", [";Sampled=?", ""])
def test_open_sampling_decision_defers_to_the_local_sampler(sampled_part: str) -> None:
    ctx = XRayPropagator().extract(
        {"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT}{sampled_part}"}
    )
    assert _sample(ctx, ALWAYS_ON) is True
    assert _sample(ctx, ALWAYS_OFF) is False


def test_explicit_decisions_are_followed_whatever_the_local_sampler() -> None:
    on = XRayPropagator().extract({"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=1"})
    off = XRayPropagator().extract({"X-Amzn-Trace-Id": f"Root={ROOT};Parent={PARENT};Sampled=0"})
    assert _sample(on, ALWAYS_OFF) is True
    assert _sample(off, ALWAYS_ON) is False


def test_root_without_parent_joins_the_callers_trace() -> None:
    """ALB sends Root with no Parent: the new root span must keep that trace id."""

    ctx = XRayPropagator().extract(
        {"x-amzn-trace-id": f"Self=1-67891234-12456789abcdef012345678;Root={ROOT}"}
    )
    assert not trace.get_current_span(ctx).get_span_context().is_valid
    provider = TracerProvider(id_generator=XRayIdGenerator(), sampler=XRayParentBased(ALWAYS_ON))
    token = otel_context.attach(ctx)
    try:
        span = provider.get_tracer("t").start_span("alb-request", context=ctx)
    finally:
        otel_context.detach(token)
    assert span.get_span_context().trace_id == TRACE_ID
    assert span.parent is None


def test_root_only_with_decision_is_followed() -> None:
    ctx = XRayPropagator().extract({"X-Amzn-Trace-Id": f"Root={ROOT};Sampled=0"})
    assert _sample(ctx, ALWAYS_ON) is False


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Root=",
        f"Parent={PARENT};Sampled=1",
        "Root=1-zzzzzzzz-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
        "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
        "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",
        "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8",
    ],
)
def test_invalid_roots_are_ignored(header: str) -> None:
    assert parse_trace_header(header) is None
    assert not extract(header).is_valid


def test_invalid_parent_is_treated_as_root_only() -> None:
    header = parse_trace_header(f"Root={ROOT};Parent=0000000000000000;Sampled=1")
    assert header is not None and header.parent is None and header.root == ROOT


def test_inject_writes_the_current_span_and_keeps_unknown_keys() -> None:
    incoming = f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1"
    ctx = XRayPropagator().extract({"X-Amzn-Trace-Id": incoming})
    provider = TracerProvider(id_generator=XRayIdGenerator())
    span = provider.get_tracer("t").start_span("child", context=ctx)
    carrier: dict[str, str] = {}
    XRayPropagator().inject(carrier, context=trace.set_span_in_context(span, ctx))
    header = parse_trace_header(carrier["X-Amzn-Trace-Id"])
    assert header is not None
    assert header.root == ROOT
    assert header.parent == f"{span.get_span_context().span_id:016x}"
    assert header.sampled is True
    assert header.extra == (("Lineage", "a87bd80c:1"),)


def test_inject_without_a_span_writes_nothing() -> None:
    carrier: dict[str, str] = {}
    XRayPropagator().inject(carrier)
    assert carrier == {}


def test_lambda_propagator_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    ctx = XRayLambdaPropagator().extract({})
    assert trace.get_current_span(ctx).get_span_context().span_id == SPAN_ID
    other = f"Root=1-5759e988-00000000000000000000000a;Parent={'1' * 16};Sampled=1"
    ctx = XRayLambdaPropagator().extract({"X-Amzn-Trace-Id": other})
    assert trace.get_current_span(ctx).get_span_context().span_id == int("1" * 16, 16)


_header_parts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["Root=", "Parent=", "Sampled=", ";", "=", "?", ROOT, PARENT, "1", "0"]),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_header_parts, max_size=12).map("".join))
def test_no_header_makes_extraction_raise(header: str) -> None:
    for propagator in (XRayPropagator(), XRayLambdaPropagator()):
        propagator.extract({"X-Amzn-Trace-Id": header})
        propagator.extract({"x-amzn-trace-id": [header, header]})


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.binary(max_size=100),
        st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=40)), max_size=4),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    )
)
def test_non_string_carrier_values_do_not_raise(value: object) -> None:
    XRayPropagator().extract({"X-Amzn-Trace-Id": value})  # type: ignore[dict-item]
