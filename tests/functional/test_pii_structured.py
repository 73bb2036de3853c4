"""Structured attribute values (issue 14, class 1): mappings, nested lists, bytes, numbers.

The SDK accepts ``AnyValue`` attributes (``opentelemetry.attributes._clean_attribute_value``
keeps mappings as dicts, sequences as tuples, bytes as bytes, at any depth), on
spans, events and links. Each is walked: personal data is found at any depth,
a secret-named key hides its value at any depth, and what cannot be read is
replaced and counted, never exported as it was.

The bytes searched are the ones each exporter sends: the X-Ray document
(``span_to_document`` then ``encode``, what xray-udp puts in a datagram) and the
OTLP protobuf body (``encode_spans``, what the OTLP exporter POSTs).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

import otel_xray
from otel_xray.export import Deadline
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.pii import RedactingSpanProcessor, Redactor
from otel_xray.settings import PiiSettings
from otel_xray.testing import InMemoryExporter, XRayCapture
from otel_xray.xray.segment import encode, span_to_document

EMAIL = "zoe.mueller@example.de"
CARD = "4111111111111111"
SECRET = "s3cr3t-Pa55w0rd-value"
SECRET_KEYS = ["password", "api_key", "Authorization", "x-api-key", "client_secret", "token"]
PLAIN_KEYS = ["customer", "contact", "profile", "items", "data", "note"]


def encodings(needle: str) -> list[bytes]:
    """The forms a value could leave in: plain, percent-encoded (once, twice), JSON-escaped."""
    once = urllib.parse.quote(needle, safe="")
    forms = {needle, once, urllib.parse.quote(once, safe=""), json.dumps(needle)[1:-1]}
    return [form.encode() for form in forms]


def leaks(sent: bytes, *needles: str) -> list[str]:
    return [n for n in needles if any(form in sent for form in encodings(n))]


@pytest.fixture
def pipeline() -> Iterator[tuple[trace.Tracer, InvocationSpanProcessor, InMemoryExporter]]:
    exporter = InMemoryExporter()
    processor = InvocationSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(processor, Redactor(PiiSettings())))
    yield provider.get_tracer("structured"), processor, exporter
    provider.shutdown()


def wire_bytes(spans: list[ReadableSpan]) -> bytes:
    xray = b"".join(encode(span_to_document(span)) for span in spans)
    return xray + b"\n" + encode_spans(spans).SerializeToString()


def export_one(
    pipeline: tuple[trace.Tracer, InvocationSpanProcessor, InMemoryExporter],
    attributes: dict[str, Any],
) -> bytes:
    tracer, processor, exporter = pipeline
    exporter.spans.clear()
    link = trace.Link(trace.SpanContext(0x6B069E856C663EBA378038F66131E4F3, 0x11, True), attributes)
    with tracer.start_as_current_span("structured", attributes=attributes, links=[link]) as span:
        span.add_event("details", attributes)
    assert processor.flush(Deadline.within_ms(1000))
    [exported] = exporter.spans
    return wire_bytes([exported])


def test_personal_data_inside_mappings_lists_and_bytes_is_redacted(
    pipeline: tuple[trace.Tracer, InvocationSpanProcessor, InMemoryExporter],
) -> None:
    sent = export_one(
        pipeline,
        {
            "customer": {"email": EMAIL, "cards": [CARD], "name_len": 3},
            "nested": [[{"contact": {"mail": EMAIL}}]],
            "raw": EMAIL.encode(),
            "payload": {"password": SECRET, "pin": 4821, "user": {"api_key": [SECRET]}},
            "user_pin": 4821,
            "big": int(CARD),
        },
    )
    assert leaks(sent, EMAIL, CARD, SECRET) == []
    assert b"4821" not in sent  # a PIN stored as a number, under a secret key
    assert b"[REDACTED:email]" in sent and b"[REDACTED:secret]" in sent
    assert b"name_len" in sent  # structure and non-personal values are kept


def test_personal_data_in_mapping_keys_is_redacted_and_no_entry_is_lost(
    pipeline: tuple[trace.Tracer, InvocationSpanProcessor, InMemoryExporter],
) -> None:
    """A mapping keyed by email: the keys are exported too (OTLP kvlist, X-Ray metadata)."""
    sent = export_one(
        pipeline, {"orders_by_customer": {EMAIL: 3, "bob@example.com": 5, "total": 8}}
    )
    assert leaks(sent, EMAIL, "bob@example.com") == []
    redacted = Redactor(PiiSettings()).value(
        "orders_by_customer", {EMAIL: 3, "bob@example.com": 5, "total": 8}
    )
    assert sorted(redacted.values()) == [3, 5, 8]  # nothing merged away


def test_what_cannot_be_read_is_replaced_and_counted() -> None:
    redactor = Redactor(PiiSettings())
    deep: Any = EMAIL
    for _ in range(40):
        deep = {"level": deep}
    assert EMAIL not in json.dumps(redactor.value("deep", deep))
    assert redactor.value("blob", b"\xff\xfe" + EMAIL.encode()) == "[REDACTED:uninspectable]"
    assert redactor.uninspectable == 2
    assert redactor.value("ok", b"plain bytes") == b"plain bytes"  # nothing found: as it was


def test_the_developer_api_with_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """``otel_xray.subsegment("store", customer={...})`` as a user writes it."""

    def handler(event: Any, context: Any) -> str:
        with otel_xray.subsegment("store", customer={"email": EMAIL, "card": CARD}):
            trace.get_current_span().set_attribute("user", {"password": SECRET})  # type: ignore[arg-type]
        return "ok"

    with XRayCapture() as capture:
        result = capture.invoke(handler, {})
    assert result.error is None
    sent = json.dumps(result.documents).encode()
    assert leaks(sent, EMAIL, CARD, SECRET) == []
    assert b"[REDACTED:email]" in sent


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8), st.just(EMAIL)
)


@st.composite
def nested_with_secret(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A mapping of random shape with a secret-named key at a random depth."""
    depth = draw(st.integers(0, 6))
    secret_key = draw(st.sampled_from(SECRET_KEYS))
    value: Any = {secret_key: draw(st.sampled_from([SECRET, [SECRET], {"v": SECRET}]))}
    for _ in range(depth):
        key = draw(st.sampled_from(PLAIN_KEYS))
        siblings = draw(st.dictionaries(st.sampled_from(PLAIN_KEYS), json_scalars, max_size=3))
        wrapped: Any = {**siblings, key: value}
        value = draw(st.sampled_from([wrapped, [wrapped], (wrapped,)]))
    return {"attr": value}, secret_key


FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # the pipeline is emptied per example


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(case=nested_with_secret())
def test_a_secret_key_at_any_depth_hides_its_value(
    pipeline: tuple[trace.Tracer, InvocationSpanProcessor, InMemoryExporter],
    case: tuple[dict[str, Any], str],
) -> None:
    attributes, _ = case
    sent = export_one(pipeline, attributes)
    assert leaks(sent, SECRET, EMAIL) == []


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE_OK)
@given(
    shape=st.recursive(
        st.one_of(st.just(EMAIL), st.just(EMAIL.encode()), st.just(CARD), json_scalars),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(PLAIN_KEYS), inner, max_size=3),
        max_leaves=12,
    )
)
def test_personal_data_at_any_place_of_any_shape_is_redacted(
    pipeline: tuple[trace.Tracer, InvocationSpanProcessor, InMemoryExporter], shape: Any
) -> None:
    sent = export_one(pipeline, {"payload": shape})
    assert leaks(sent, EMAIL, CARD) == []


@pytest.mark.parametrize(
    "key",
    [
        "card_cvv",
        "user_pin",
        "customer_ssn",
        "customerSsn",
        "login-otp",
        "payment.card.cvc",
        "http.request.header.x-auth-key",
        "http.request.header.ocp-apim-subscription-key",
        "http.request.header.x-functions-key",
    ],
)
def test_secret_keys_are_matched_by_their_last_word(key: str) -> None:
    """Issue 14, class 6: ``*_cvv``, ``*_pin``, ``*_ssn``, ``*_otp``; headers ending in key."""
    assert Redactor(PiiSettings()).value(key, "4821") == "[REDACTED:secret]"


@pytest.mark.parametrize(
    "key",
    [
        "pinned",
        "spinner_state",
        "opinion",
        "shipping_option",
        "http.request.header.idempotency-key",
        "keyboard_layout",
        "monkey",
    ],
)
def test_words_that_only_contain_a_secret_word_are_kept(key: str) -> None:
    assert Redactor(PiiSettings()).value(key, "4821-a") == "4821-a"

