"""OTLP trace protobuf, encoded by hand: ``ExportTraceServiceRequest`` bytes without protobuf.

Why not upstream's ``encode_spans``: it builds the message with the protobuf runtime,
whose import costs a Lambda cold start about 40 ms (``python -X importtime``), more
than the rest of otel-xray. The trace messages use five wire constructs (varint,
fixed64, fixed32, length-delimited bytes, nested messages), so the encoder is short.
It also gives what the X-Ray endpoint's limits need and upstream's does not: the
encoded size of each span, so a request is cut by bytes and an oversized span is
dropped before it is sent.

The output is byte-for-byte what upstream's ``encode_spans(spans).SerializeToString()``
gives (fields in number order, proto3 defaults left out, oneof members and set
sub-messages kept even when empty); ``tests/unit/test_otlp_proto.py`` checks that on
hypothesis-generated spans. Field numbers: opentelemetry-proto
``opentelemetry/proto/trace/v1/trace.proto``, ``common/v1/common.proto``,
``resource/v1/resource.proto``, ``collector/trace/v1/trace_service.proto``.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
    ...     pass
    >>> body = encode_request([span])
    >>> body[:1] == b"\\n"  # field 1 (resource_spans), length-delimited
    True
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

#: SpanFlags: the parent's is_remote is known / is true (trace.proto, SpanFlags).
HAS_IS_REMOTE = 0x100
IS_REMOTE = 0x200
#: The bytes a span may add to a request beyond its own encoding (tag + length varint).
SPAN_FRAMING_BYTES = 6

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 as two's complement, ten bytes
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str | None) -> bytes:
    return _field(number, text.encode("utf-8", "surrogatepass")) if text else b""


def _uint(number: int, value: int | None) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _fixed64(number: int, value: int | None) -> bytes:
    return _varint(number << 3 | 1) + _pack_fixed64(value) if value else b""


def _fixed32(number: int, value: int) -> bytes:
    return _varint(number << 3 | 5) + _pack_fixed32(value) if value else b""


def any_value(value: Any) -> bytes:
    """``AnyValue`` (oneof: its member is written even when it holds the default)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _field(1, value.encode("utf-8", "surrogatepass"))
    if isinstance(value, int):
        if not -(1 << 63) <= value < 1 << 63:
            raise TypeError(f"{value} does not fit an int64")
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _field(7, value)
    if isinstance(value, Sequence):
        return _field(5, b"".join(_field(1, any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(6, b"".join(_field(1, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"invalid type {type(value).__name__} of value {value!r}")


def _key_value(key: str, value: Any) -> bytes:
    return _string(1, key) + _field(2, any_value(value))


def attributes(number: int, pairs: Mapping[str, Any] | None) -> bytes:
    """Repeated ``KeyValue`` field ``number``; a value that cannot be encoded is left out
    (upstream logs and skips it the same way)."""
    if not pairs:
        return b""
    out = []
    for key, value in pairs.items():
        try:
            out.append(_field(number, _key_value(key, value)))
        except TypeError:
            continue
    return b"".join(out)


def _flags(parent: Any) -> int:
    return HAS_IS_REMOTE | (IS_REMOTE if parent is not None and parent.is_remote else 0)


def encode_span(span: ReadableSpan) -> bytes:
    """One ``Span`` message (trace.proto field numbers 1-16)."""
    context = span.get_span_context()
    assert context is not None
    trace_state = context.trace_state
    parent = span.parent
    status = span.status
    status_bytes = b""
    if status is not None:
        status_bytes = _string(2, status.description) + _uint(3, status.status_code.value)
    out = [
        _field(1, context.trace_id.to_bytes(16, "big")),
        _field(2, context.span_id.to_bytes(8, "big")),
    ]
    if trace_state is not None:
        out.append(_string(3, ",".join(f"{k}={v}" for k, v in trace_state.items())))
    if parent is not None:
        out.append(_field(4, parent.span_id.to_bytes(8, "big")))
    out += [
        _string(5, span.name),
        _uint(6, span.kind.value + 1),  # SDK INTERNAL=0 .. CONSUMER=4; proto 1 .. 5
        _fixed64(7, span.start_time),
        _fixed64(8, span.end_time),
        attributes(9, span.attributes),
        _uint(10, span.dropped_attributes),
    ]
    for event in span.events:
        out.append(
            _field(
                11,
                _fixed64(1, event.timestamp)
                + _string(2, event.name)
                + attributes(3, event.attributes)
                + _uint(4, event.dropped_attributes),
            )
        )
    out.append(_uint(12, span.dropped_events))
    for link in span.links:
        out.append(
            _field(
                13,
                _field(1, link.context.trace_id.to_bytes(16, "big"))
                + _field(2, link.context.span_id.to_bytes(8, "big"))
                + attributes(4, link.attributes)
                + _uint(5, link.dropped_attributes)
                + _fixed32(6, _flags(link.context)),
            )
        )
    out.append(_uint(14, span.dropped_links))
    if status is not None:
        out.append(_field(15, status_bytes))
    out.append(_fixed32(16, _flags(parent)))
    return b"".join(out)


def _scope(scope: Any) -> bytes:
    if scope is None:
        return b""
    return _string(1, scope.name) + _string(2, scope.version) + attributes(3, scope.attributes)


def group(
    encoded: Iterable[tuple[ReadableSpan, bytes]],
) -> dict[Any, dict[Any, list[bytes]]]:
    """Encoded spans by resource, then by instrumentation scope, in first-seen order
    (upstream's grouping: the SDK's ``Resource`` and ``InstrumentationScope`` as keys)."""
    grouped: dict[Any, dict[Any, list[bytes]]] = {}
    for span, data in encoded:
        by_scope = grouped.setdefault(span.resource, {})
        by_scope.setdefault(span.instrumentation_scope or None, []).append(data)
    return grouped


def request_from_groups(grouped: Mapping[Any, Mapping[Any, Sequence[bytes]]]) -> bytes:
    """``ExportTraceServiceRequest`` from :func:`group`'s output."""
    out = []
    for resource, by_scope in grouped.items():
        scope_spans = []
        for scope, spans in by_scope.items():
            scope_spans.append(
                _field(
                    2,
                    _field(1, _scope(scope))
                    + b"".join(_field(2, data) for data in spans)
                    + _string(3, scope.schema_url if scope is not None else None),
                )
            )
        out.append(
            _field(
                1,
                _field(1, attributes(1, resource.attributes))
                + b"".join(scope_spans)
                + _string(3, resource.schema_url),
            )
        )
    return b"".join(out)


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """The bytes of upstream's ``encode_spans(spans).SerializeToString()``."""
    return request_from_groups(group((span, encode_span(span)) for span in spans))


class RequestSize:
    """The encoded size of a request being packed span by span (an upper bound).

    Each span costs its bytes and its field's framing; its resource's header (the
    ``ResourceSpans`` framing, the ``Resource``, its schema URL) the first time that
    resource appears in the request, and its scope's header (the ``ScopeSpans`` framing,
    the ``InstrumentationScope``, its schema URL) the first time that (resource, scope)
    pair appears: :func:`request_from_groups` writes one of each per group. Framing is
    counted at :data:`SPAN_FRAMING_BYTES` (a tag byte and a length of up to five bytes).
    Groups are keyed by object identity; two equal but distinct resources are counted
    twice, which only over-counts.
    """

    __slots__ = ("_headers", "_resources", "_scopes", "bytes")

    def __init__(self, headers: dict[tuple[int, int], tuple[int, int]] | None = None) -> None:
        self.bytes = 0
        self._resources: set[int] = set()
        self._scopes: set[tuple[int, int]] = set()
        #: (resource id, scope id) -> (resource header, scope header) bytes; shareable
        #: between the requests of one export so each header is encoded once.
        self._headers = {} if headers is None else headers

    def cost(self, span: ReadableSpan, data: bytes) -> int:
        """Bytes ``span`` (encoded as ``data``) would add to this request."""
        key = (id(span.resource), id(span.instrumentation_scope))
        cost = len(data) + SPAN_FRAMING_BYTES
        if key not in self._scopes:
            resource_bytes, scope_bytes = self._header_bytes(span, key)
            cost += scope_bytes
            if key[0] not in self._resources:
                cost += resource_bytes
        return cost

    def alone(self, span: ReadableSpan, data: bytes) -> int:
        """Bytes of a request holding only ``span``."""
        resource_bytes, scope_bytes = self._header_bytes(
            span, (id(span.resource), id(span.instrumentation_scope))
        )
        return len(data) + SPAN_FRAMING_BYTES + resource_bytes + scope_bytes

    def add(self, span: ReadableSpan, cost: int) -> None:
        """Record ``span`` as packed, at the ``cost`` :meth:`cost` gave."""
        key = (id(span.resource), id(span.instrumentation_scope))
        self._resources.add(key[0])
        self._scopes.add(key)
        self.bytes += cost

    def _header_bytes(self, span: ReadableSpan, key: tuple[int, int]) -> tuple[int, int]:
        sizes = self._headers.get(key)
        if sizes is None:
            resource = span.resource
            scope = span.instrumentation_scope or None
            resource_bytes = (
                len(_field(1, attributes(1, resource.attributes)))
                + len(_string(3, resource.schema_url))
                + SPAN_FRAMING_BYTES
            )
            scope_bytes = (
                len(_field(1, _scope(scope)))
                + len(_string(3, scope.schema_url if scope is not None else None))
                + SPAN_FRAMING_BYTES
            )
            sizes = self._headers[key] = (resource_bytes, scope_bytes)
        return sizes


def read_partial_success(body: bytes) -> tuple[int, str]:
    """``(rejected_spans, error_message)`` of an ``ExportTraceServiceResponse`` (0, "" when
    it has none or cannot be read)."""
    try:
        for number, value in _fields(body):
            if number == 1 and isinstance(value, bytes):
                rejected, message = 0, ""
                for inner, inner_value in _fields(value):
                    if inner == 1 and isinstance(inner_value, int):
                        rejected = inner_value
                    elif inner == 2 and isinstance(inner_value, bytes):
                        message = inner_value.decode("utf-8", "replace")
                return rejected, message
    except (IndexError, ValueError):
        pass
    return 0, ""


def read_status_message(body: bytes) -> str:
    """The ``message`` (field 2) of a ``google.rpc.Status`` error body, or ""."""
    try:
        for number, value in _fields(body):
            if number == 2 and isinstance(value, bytes):
                return value.decode("utf-8", "replace")
    except (IndexError, ValueError):
        pass
    return ""


def _fields(data: bytes) -> Iterable[tuple[int, int | bytes]]:
    """(field number, value) of each field of a message; raises ValueError when malformed."""
    position = 0
    while position < len(data):
        tag, position = _read_varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _read_varint(data, position)
            yield number, value
        elif wire == 2:
            length, position = _read_varint(data, position)
            if position + length > len(data):
                raise ValueError("truncated field")
            yield number, data[position : position + length]
            position += length
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        else:
            raise ValueError(f"wire type {wire}")


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
