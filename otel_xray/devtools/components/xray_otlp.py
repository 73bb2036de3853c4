"""X-Ray's OTLP endpoint (``POST /v1/traces``), locally: what it takes, refuses and answers.

The local X-Ray API (:mod:`otel_xray.devtools.components.xray_api`) serves it beside
``PutTraceSegments``; this module holds the OTLP side so the API module stays about the
JSON operations. What it follows (CloudWatch user guide, CloudWatch-OTLPEndpoint and
CloudWatch-OTLPTroubleshooting; ``shared/reference/xray-otlp.md``):

- ``application/x-protobuf`` or ``application/json`` (OTLP/JSON: hex ids, enum numbers
  or names), ``Content-Encoding: gzip`` or none; anything else is refused;
- at most 5 MB uncompressed and 10,000 spans a request (the whole request refused);
- a span over 200 KB, or more than 14 days old or two hours ahead, is refused;
- SigV4 (``xray``) or an API key as a bearer token; X-Ray's 403 messages;
- with Transaction Search off, X-Ray's refusal "The OTLP API is supported with
  CloudWatch Logs as a Trace Segment Destination";
- success is ``ExportTraceServiceResponse``; errors a ``google.rpc.Status`` (OTLP
  specification, "OTLP/HTTP Response").

**Inference**, not published: the HTTP status of the Transaction Search refusal (400 here),
whether a refused span fails the request or comes back as ``partial_success`` (here:
``partial_success``, the OTLP specification's way), and the error body's exact form.

Accepted spans become segment documents through otel-xray's own translator
(:func:`otel_xray.xray.segment.span_to_document`) and go to the same trace store as
``PutTraceSegments``, so every view reads every path alike. X-Ray's own conversion is not
published; this is an approximation of it (docs/exporters.md lists what may differ).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from typing import Any, NamedTuple

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_xray.devtools.components.receiver import SpanDict, decode_export_request

PATH = "/v1/traces"
MAX_REQUEST_BYTES = 5 * 1024 * 1024
MAX_SPANS = 10_000
MAX_SPAN_BYTES = 200 * 1024
MAX_AGE_NS = 14 * 86400 * 10**9
MAX_AHEAD_NS = 2 * 3600 * 10**9
TRANSACTION_SEARCH_OFF = (
    "The OTLP API is supported with CloudWatch Logs as a Trace Segment Destination."
)
INVALID_TOKEN = "The security token included in the request is invalid."
THROTTLED = "Too many requests"


class OtlpError(Exception):
    """A refused request: HTTP status, gRPC code (google.rpc.Code) and message."""

    def __init__(self, status: int, message: str, code: int = 3, error_type: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.error_type = error_type or {
            400: "InvalidRequestException",
            403: "AccessDeniedException",
            413: "RequestEntityTooLargeException",
            415: "UnsupportedMediaTypeException",
            429: "ThrottlingException",
            503: "ServiceUnavailableException",
        }.get(status, "InternalFailure")


class Ingested(NamedTuple):
    """What one request carried and what became of it."""

    accepted: list[SpanDict]
    rejected: int
    message: str
    #: The request as OTLP/JSON (``MessageToDict``), for showing what arrived.
    decoded: dict[str, Any]
    as_json: bool


def ingest(
    body: bytes, content_type: str, content_encoding: str, now_ns: int | None = None
) -> Ingested:
    """Decode and check one request; raises :class:`OtlpError` for a refused request."""
    encoding = (content_encoding or "").strip().lower()
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as error:
            raise OtlpError(400, f"the body is not gzip: {error}") from None
    elif encoding not in ("", "identity"):
        raise OtlpError(415, f"Content-Encoding {encoding!r}: accepted are gzip and none")
    if len(body) > MAX_REQUEST_BYTES:
        raise OtlpError(413, f"request of {len(body)} bytes uncompressed exceeds 5MB")
    media = (content_type or "").split(";")[0].strip().lower()
    request = ExportTraceServiceRequest()
    try:
        if media == "application/x-protobuf":
            request.ParseFromString(body)
        elif media == "application/json":
            json_format.ParseDict(_otlp_json_ids(json.loads(body)), request)
        else:
            raise OtlpError(
                415,
                f"Content-Type {media!r}: accepted are application/x-protobuf, application/json",
            )
    except (DecodeError, json_format.ParseError, ValueError, TypeError, AttributeError) as error:
        raise OtlpError(400, f"the body is not an ExportTraceServiceRequest: {error}") from None
    count = sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
    if count > MAX_SPANS:
        raise OtlpError(400, f"{count} spans in one request; at most {MAX_SPANS}")
    now = now_ns if now_ns is not None else time.time_ns()
    rejected, reasons = 0, []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            kept = []
            for span in scope_spans.spans:
                reason = _refusal(span, now)
                if reason:
                    rejected += 1
                    reasons.append(reason)
                else:
                    kept.append(span)
            del scope_spans.spans[:]
            scope_spans.spans.extend(kept)
    decoded = json_format.MessageToDict(request)
    accepted = decode_export_request(request.SerializeToString())
    message = f"{rejected} spans rejected: {reasons[0]}" if rejected else ""
    return Ingested(accepted, rejected, message, decoded, media == "application/json")


def _refusal(span: Any, now: int) -> str:
    size = span.ByteSize()
    if size > MAX_SPAN_BYTES:
        return f"span {span.span_id.hex()} is {size} bytes, over 200KB"
    for stamp in (span.start_time_unix_nano, span.end_time_unix_nano):
        if stamp and stamp < now - MAX_AGE_NS:
            return f"span {span.span_id.hex()} is more than 14 days in the past"
        if stamp and stamp > now + MAX_AHEAD_NS:
            return f"span {span.span_id.hex()} is more than 2 hours in the future"
    return ""


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _otlp_json_ids(value: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping expects base64 (OTLP spec,
    "JSON Protobuf Encoding")."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _ID_KEYS and isinstance(item, str):
                out[key] = base64.b64encode(bytes.fromhex(item)).decode()
            else:
                out[key] = _otlp_json_ids(item)
        return out
    if isinstance(value, list):
        return [_otlp_json_ids(v) for v in value]
    return value


def success_body(rejected: int, message: str, as_json: bool) -> tuple[bytes, str]:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if as_json:
        return json.dumps(json_format.MessageToDict(response)).encode(), "application/json"
    return response.SerializeToString(), "application/x-protobuf"


def error_body(error: OtlpError, as_json: bool) -> tuple[bytes, str]:
    status = status_pb2.Status(code=error.code, message=str(error))
    if as_json:
        return json.dumps({"code": error.code, "message": str(error)}).encode(), "application/json"
    return status.SerializeToString(), "application/x-protobuf"
