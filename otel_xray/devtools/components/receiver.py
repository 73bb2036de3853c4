"""An OTLP/HTTP (protobuf) trace receiver on 127.0.0.1, playing the collector extension.

What a function exports is decoded with the OTLP protobuf definitions and kept as
plain dicts (hex ids, nanosecond times, attribute values as Python values), the
form the tests read. :func:`readable_span` turns one back into an SDK span, so the
collector path is translated into X-Ray documents by the same translator as the
UDP path (whose rules are the collector's awsxray exporter's).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_xray.devtools.loopback import LoopbackServer

SpanDict = dict[str, Any]


class OTLPReceiver(LoopbackServer):
    """Collects spans POSTed to ``/v1/traces``; ``spans`` is the list so far."""

    def __init__(self, delay_seconds: float = 0.0) -> None:
        #: Seconds each export waits before it is answered (a slow or hung collector).
        self.delay_seconds = delay_seconds
        #: The next this many exports are answered 503 (a collector that is starting).
        self.unavailable = 0
        #: Epoch seconds at which each export arrived (its body read), and at which each
        #: accepted export was answered.
        self.arrived_at: list[float] = []
        self.answered_at: list[float] = []
        self.spans: list[SpanDict] = []
        #: Every request body as it arrived: what went over the wire, for privacy checks.
        self.raw: list[bytes] = []
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    def take(self) -> list[SpanDict]:
        """The spans received since the last call."""
        with self._lock:
            spans, self.spans = self.spans, []
        return spans

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between writes

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.arrived_at.append(time.time())
                if self.path.rstrip("/") != "/v1/traces":
                    self._reply(404)
                    return
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                with receiver._lock:
                    refuse = receiver.unavailable > 0
                    receiver.unavailable -= refuse
                if refuse:
                    self._reply(503)
                    return
                try:
                    spans = decode_export_request(body)
                except Exception:
                    self._reply(400)
                    return
                with receiver._lock:
                    receiver.raw.append(body)
                    receiver.spans.extend(spans)
                    receiver.requests += 1
                    receiver.answered_at.append(time.time())
                self._reply(200)

            def _reply(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def decode_export_request(body: bytes) -> list[SpanDict]:
    """An ``ExportTraceServiceRequest`` as a list of span dicts."""

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[SpanDict] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "parent_is_remote": bool(span.flags & _IS_REMOTE),
                        "name": span.name,
                        "kind": _KINDS.get(span.kind, "INTERNAL"),
                        "start_time_unix_nano": span.start_time_unix_nano,
                        "end_time_unix_nano": span.end_time_unix_nano,
                        "attributes": _attributes(span.attributes),
                        "status": {
                            "code": _STATUS.get(span.status.code, "UNSET"),
                            "message": span.status.message,
                        },
                        "events": [
                            {
                                "name": e.name,
                                "time_unix_nano": e.time_unix_nano,
                                "attributes": _attributes(e.attributes),
                            }
                            for e in span.events
                        ],
                        "links": [
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "attributes": _attributes(link.attributes),
                            }
                            for link in span.links
                        ],
                        "resource": resource,
                        "scope": scope,
                    }
                )
    return spans


_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def readable_span(span: SpanDict) -> ReadableSpan:
    """A decoded span as the SDK's ``ReadableSpan`` (what the translator reads)."""
    sampled = TraceFlags(TraceFlags.SAMPLED)
    parent = None
    if span["parent_span_id"]:
        parent = SpanContext(
            int(span["trace_id"], 16),
            int(span["parent_span_id"], 16),
            is_remote=span.get("parent_is_remote", False),
            trace_flags=sampled,
        )
    return ReadableSpan(
        name=span["name"],
        context=SpanContext(
            int(span["trace_id"], 16), int(span["span_id"], 16), False, trace_flags=sampled
        ),
        parent=parent,
        resource=Resource(span["resource"]),
        attributes=span["attributes"],
        events=[
            Event(e["name"], e["attributes"], timestamp=e["time_unix_nano"]) for e in span["events"]
        ],
        links=[
            Link(
                SpanContext(int(link["trace_id"], 16), int(link["span_id"], 16), True),
                link["attributes"],
            )
            for link in span["links"]
        ],
        kind=SpanKind[span["kind"]],
        status=Status(StatusCode[span["status"]["code"]], span["status"]["message"] or None),
        start_time=span["start_time_unix_nano"],
        end_time=span["end_time_unix_nano"],
        instrumentation_scope=InstrumentationScope(span["scope"]),
    )
