"""What an invocation's event says about its trigger and the traces that led to it.

Incoming contexts other than Lambda's own become span *links*, never the parent:
aws-opentelemetry-distro lets a W3C ``traceparent`` win, and the function's work
then no longer hangs under its node in X-Ray. Every reader here tolerates any
event shape (None, lists, strings, wrong types): it returns less, never raises.

Example:
    >>> event = {"Records": [{"eventSource": "aws:sqs", "attributes": {
    ...     "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;"
    ...                       "Parent=53995c3f42cd8ad8;Sampled=1"}}]}
    >>> trigger(event), len(incoming_links(event))
    ('pubsub', 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from otel_xray.propagation import parse_trace_header
from otel_xray.xray import MAX_LINKS

_RECORD_SOURCE_TRIGGERS = {
    "aws:sqs": "pubsub",
    "aws:sns": "pubsub",
    "aws:kinesis": "datasource",
    "aws:dynamodb": "datasource",
    "aws:s3": "datasource",
}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _records(event: object) -> list[Mapping[str, Any]]:
    records = _mapping(event).get("Records")
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, Mapping)]


def is_http_event(event: object) -> bool:
    """API Gateway (REST or HTTP API), ALB or a function URL."""
    body = _mapping(event)
    return (
        "httpMethod" in body
        or "routeKey" in body
        or (
            "requestContext" in body
            and (
                "http" in _mapping(body.get("requestContext"))
                or "elb" in _mapping(body.get("requestContext"))
            )
        )
    )


def trigger(event: object) -> str:
    """``faas.trigger``: http, pubsub, datasource, timer or other."""
    body = _mapping(event)
    if is_http_event(event):
        return "http"
    records = _records(event)
    if records:
        source = records[0].get("eventSource") or records[0].get("EventSource")
        return _RECORD_SOURCE_TRIGGERS.get(source if isinstance(source, str) else "", "other")
    if body.get("source") == "aws.events" or body.get("detail-type") == "Scheduled Event":
        return "timer"
    return "other"


def http_attributes(event: object) -> dict[str, AttributeValue]:
    """Request attributes of an HTTP event (semantic conventions, stable names)."""
    body = _mapping(event)
    context = _mapping(body.get("requestContext"))
    http = _mapping(context.get("http"))
    method = body.get("httpMethod") or http.get("method")
    path = body.get("path") or body.get("rawPath") or http.get("path")
    route = body.get("resource") or _route_from_key(body.get("routeKey"))
    headers = {str(k).lower(): v for k, v in _mapping(body.get("headers")).items()}
    found: dict[str, AttributeValue] = {}
    if isinstance(method, str):
        found["http.request.method"] = method.upper()[:16]
    # Nothing here is cut: a value cut before redaction could keep part of an email or
    # a card. Redaction runs first, then the length limits (the PII processor's and
    # the X-Ray translator's).
    if isinstance(path, str):
        found["url.path"] = path
    if isinstance(route, str):
        found["http.route"] = route
    scheme = headers.get("x-forwarded-proto")
    if isinstance(scheme, str):
        found["url.scheme"] = scheme[:16]
    host = headers.get("host")
    if isinstance(host, str):
        found["server.address"] = host
    user_agent = headers.get("user-agent")
    if isinstance(user_agent, str):
        found["user_agent.original"] = user_agent
    query = _query_string(body)
    if query:
        found["url.query"] = query
    client = _mapping(context.get("identity")).get("sourceIp") or http.get("sourceIp")
    forwarded = headers.get("x-forwarded-for")
    if not isinstance(client, str) and isinstance(forwarded, str):
        client = forwarded.split(",")[0].strip()
        if client:
            # From a forwarded header: X-Ray's x_forwarded_for (the collector reads the
            # old conventions' http.client_ip as that, http.go makeHTTP).
            found["http.client_ip"] = client
    if isinstance(client, str) and client:
        found["client.address"] = client
    return found


def _query_string(body: Mapping[str, Any]) -> str | None:
    raw = body.get("rawQueryString")
    if isinstance(raw, str):
        return raw or None
    multi = _mapping(body.get("multiValueQueryStringParameters"))
    if multi:
        pairs = [(str(k), str(v)) for k, values in multi.items() for v in (values or [])]
        return urlencode(pairs) or None
    single = _mapping(body.get("queryStringParameters"))
    return urlencode([(str(k), str(v)) for k, v in single.items()]) or None


def _route_from_key(route_key: object) -> str | None:
    if not isinstance(route_key, str) or route_key == "$default":
        return None
    return route_key.partition(" ")[2] or route_key


def response_status(result: object) -> int | None:
    """The HTTP status of a proxy-integration response, if it has one."""
    status = _mapping(result).get("statusCode")
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    if isinstance(status, str) and status.isdigit() and 100 <= int(status) <= 599:
        return int(status)
    return None


def has_upstream_trace_header(event: object) -> bool:
    """Whether a caller sent an X-Ray header: HTTP ``X-Amzn-Trace-Id`` or SQS ``AWSTraceHeader``."""
    headers = _mapping(_mapping(event).get("headers"))
    if any(str(k).lower() == "x-amzn-trace-id" for k in headers):
        return True
    return any("AWSTraceHeader" in _mapping(r.get("attributes")) for r in _records(event))


def incoming_links(event: object) -> list[trace.Link]:
    """Links to the contexts the event carries, at most :data:`MAX_LINKS`, deduplicated."""
    links: list[trace.Link] = []
    seen: set[tuple[int, int]] = set()

    def add(span_context: trace.SpanContext | None, source: str) -> None:
        if span_context is None or not span_context.is_valid or len(links) >= MAX_LINKS:
            return
        key = (span_context.trace_id, span_context.span_id)
        if key not in seen:
            seen.add(key)
            links.append(trace.Link(span_context, {"otel_xray.link.source": source}))

    headers = {str(k).lower(): v for k, v in _mapping(_mapping(event).get("headers")).items()}
    add(_traceparent_context(headers.get("traceparent")), "http.traceparent")
    for record in _records(event):
        if len(links) >= MAX_LINKS:
            break
        attributes = _mapping(record.get("attributes"))
        add(_xray_context(attributes.get("AWSTraceHeader")), "sqs.AWSTraceHeader")
        message_attributes = _mapping(record.get("messageAttributes"))
        traceparent = _mapping(message_attributes.get("traceparent")).get("stringValue")
        add(_traceparent_context(traceparent), "sqs.traceparent")
    return links


def _xray_context(value: object) -> trace.SpanContext | None:
    header = parse_trace_header(value)
    if header is None or header.parent_span_id is None:
        return None
    return trace.SpanContext(
        header.trace_id,
        header.parent_span_id,
        is_remote=True,
        trace_flags=trace.TraceFlags(1 if header.sampled else 0),
    )


def _traceparent_context(value: object) -> trace.SpanContext | None:
    if not isinstance(value, str) or len(value) > 256:
        return None
    ctx = TraceContextTextMapPropagator().extract({"traceparent": value})
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None
