"""An OpenTelemetry span as an X-Ray segment document.

Follows the ADOT collector's awsxray exporter (``translator/segment.go``) so a span
reads the same whether it goes through the collector or straight to the daemon:
name precedence, ``aws``/``remote`` namespace, the ``http``, ``aws`` and ``cause``
blocks, annotations from ``aws.xray.annotations``, the rest in ``metadata.default``,
``enduser.id`` as ``user``, span links as ``links``. One deliberate difference: in a Lambda function
(resource ``cloud.platform=aws_lambda``) a span whose parent is remote, i.e.
Lambda's ``AWS::Lambda::Function`` segment from ``_X_AMZN_TRACE_ID``, is a
subsegment of it whatever its kind, so the service map shows no extra node.
Elsewhere a SERVER span continuing a caller's trace stays a segment of its own.

Every document is an independent document: subsegments carry ``type``,
``parent_id`` and ``trace_id``, as the daemon protocol requires.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> span = TracerProvider().get_tracer("t").start_span("work"); span.end()
    >>> doc = span_to_document(span)
    >>> sorted(k for k in doc if k in ("name", "id", "trace_id"))
    ['id', 'name', 'trace_id']
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray.ids import format_span_id, format_xray_trace_id
from otel_xray.xray import (
    ANNOTATIONS_ATTRIBUTE,
    MAX_ANNOTATION_KEY,
    MAX_ANNOTATION_VALUE,
    MAX_DATAGRAM_BYTES,
    MAX_LINKS,
    METADATA_PREFIX,
    ORIGIN_BY_PLATFORM,
)

#: One UDP datagram, header line included, must fit the daemon's buffer.
MAX_DOCUMENT_BYTES = MAX_DATAGRAM_BYTES - 64
MAX_NAME_LENGTH = 200
MAX_STACK_FRAMES = 50
MAX_HTTP_FIELD = 250

_NAME_PUNCTUATION = frozenset("_.:/%&#=+-@")
_ANNOTATION_KEY_DISALLOWED = re.compile(r"[^A-Za-z0-9_]")
_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<label>.+)$')

# Attributes that become a block of their own instead of metadata.
_CONSUMED = frozenset(
    {
        ANNOTATIONS_ATTRIBUTE,
        "enduser.id",
        "http.method",
        "http.request.method",
        "http.url",
        "url.full",
        "http.status_code",
        "http.response.status_code",
        "http.user_agent",
        "user_agent.original",
        "client.address",
    }
)
# Consumed only by the ``aws`` block, so only where there is one.
_AWS_CONSUMED = frozenset(
    {
        "rpc.method",
        "rpc.service",
        "rpc.system",
        "aws.request_id",
        "aws.queue_url",
        "aws.dynamodb.table_names",
        "aws.operation",
        "cloud.region",
        "cloud.account.id",
    }
)


def span_to_document(span: ReadableSpan) -> dict[str, Any]:
    """The segment or independent subsegment document for ``span``."""
    attributes: Mapping[str, Any] = span.attributes or {}
    context = span.context
    if context is None:
        raise ValueError("a span without a context has no X-Ray document")
    parent = span.parent
    # ADOT: a subsegment iff not SERVER and parented. In Lambda a remote parent is the
    # function segment Lambda emits, so any span under it is a subsegment (no extra node).
    in_lambda = span.resource.attributes.get("cloud.platform") == "aws_lambda"
    is_subsegment = parent is not None and (
        span.kind is not SpanKind.SERVER or (parent.is_remote and in_lambda)
    )
    document: dict[str, Any] = {
        "name": _segment_name(span, attributes, is_subsegment),
        "id": format_span_id(context.span_id),
        "trace_id": format_xray_trace_id(context.trace_id),
        "start_time": (span.start_time or 0) / 1e9,
    }
    if span.end_time is None:
        document["in_progress"] = True
    else:
        document["end_time"] = span.end_time / 1e9
    if parent is not None:
        document["parent_id"] = format_span_id(parent.span_id)
    if is_subsegment:
        document["type"] = "subsegment"
        namespace = _namespace(span, attributes)
        if namespace:
            document["namespace"] = namespace
    else:
        document.update(_segment_only(span, attributes))

    http = _http_block(attributes)
    if http:
        document["http"] = http
    aws = _aws_block(attributes)
    if aws:
        document["aws"] = aws
    sql = _sql_block(attributes) if is_subsegment else {}
    if sql:
        document["sql"] = sql
    _set_fault_flags(document, span, http.get("response", {}).get("status"))
    cause = _cause(span)
    if cause:
        document["cause"] = cause
    links = _links(span)
    if links:
        document["links"] = links
    annotations, annotated = _annotations(attributes)
    if annotations:
        document["annotations"] = annotations
    consumed = _CONSUMED | _AWS_CONSUMED if aws else _CONSUMED
    full_url = attributes.get("url.full") or attributes.get("http.url")
    if isinstance(full_url, str) and len(full_url) > MAX_HTTP_FIELD:
        consumed = consumed - {"url.full", "http.url"}
    if sql:
        consumed = consumed | _SQL_CONSUMED
    metadata: dict[str, Any] = {}
    default: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in consumed or key in annotated:
            continue
        found = _metadata_namespace(key, value)
        if found is not None:
            metadata[found[0]] = found[1]
        else:
            default[key] = _json_safe(value)
    if default:
        metadata["default"] = default
    if metadata:
        document["metadata"] = metadata
    return shrink_to_fit(document)


#: ``db.system`` values the collector gives an ``sql`` block.
SQL_SYSTEMS = frozenset(
    {
        "db2",
        "derby",
        "h2",
        "hanadb",
        "hsqldb",
        "informix",
        "ingres",
        "mariadb",
        "mssql",
        "mysql",
        "oracle",
        "other_sql",
        "postgresql",
        "redshift",
        "sqlite",
        "sybase",
        "teradata",
        "trino",
    }
)
_SQL_CONSUMED = frozenset({"db.statement", "db.query.text", "db.user", "db.connection_string"})


def _sql_block(attributes: Mapping[str, Any]) -> dict[str, Any]:
    system = attributes.get("db.system") or attributes.get("db.system.name")
    if system not in SQL_SYSTEMS:
        return {}
    block: dict[str, Any] = {"database_type": system}
    statement = attributes.get("db.statement") or attributes.get("db.query.text")
    if isinstance(statement, str):
        block["sanitized_query"] = statement
    user = attributes.get("db.user")
    if isinstance(user, str):
        block["user"] = user[:250]
    connection = attributes.get("db.connection_string")
    database = attributes.get("db.name") or attributes.get("db.namespace")
    if isinstance(connection, str):
        block["url"] = f"{connection}/{database}" if isinstance(database, str) else connection
    return block


def _metadata_namespace(key: str, value: Any) -> tuple[str, dict[str, Any]] | None:
    """``aws.xray.metadata.<ns>`` holding a JSON object: (namespace, its metadata)."""
    if not key.startswith(METADATA_PREFIX) or not isinstance(value, str):
        return None
    namespace = key[len(METADATA_PREFIX) :]
    if not namespace or namespace.startswith("AWS.") or namespace == "default":
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return (namespace, parsed) if isinstance(parsed, dict) else None


def _segment_name(span: ReadableSpan, attributes: Mapping[str, Any], is_subsegment: bool) -> str:
    kind = span.kind
    candidates: list[Any] = []
    if kind in (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER):
        candidates.append(attributes.get("aws.remote.service"))
    if kind is SpanKind.SERVER:
        candidates.append(attributes.get("aws.local.service"))
    candidates += [attributes.get("peer.service"), attributes.get("aws.service")]
    if kind is not SpanKind.INTERNAL:
        candidates.append(_database_name(attributes))
    if kind is SpanKind.SERVER and not is_subsegment:
        candidates.append(span.resource.attributes.get("service.name"))
    if attributes.get("rpc.system") == "aws-api" or kind is not SpanKind.INTERNAL:
        candidates += [
            attributes.get("rpc.service"),
            attributes.get("http.host"),
            attributes.get("server.address"),
            attributes.get("net.peer.name"),
            _host_of(attributes.get("http.url") or attributes.get("url.full")),
        ]
    candidates.append(span.name)
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return sanitize_name(candidate)
    return "span"


def _database_name(attributes: Mapping[str, Any]) -> str | None:
    """``db.name@host`` as the collector names a database call's subsegment."""
    database = attributes.get("db.name") or attributes.get("db.namespace")
    if not isinstance(database, str) or not database:
        return None
    host = attributes.get("server.address") or attributes.get("net.peer.name")
    return f"{database}@{host}" if isinstance(host, str) and host else database


def sanitize_name(name: str) -> str:
    """Characters X-Ray accepts in a name, at most 200 of them; never empty."""
    # The schema's pattern lists old Unicode ranges; accents are folded (Ü -> U) and
    # whatever is still outside ASCII letters, digits, spaces and _.:/%&#=+-@ dropped.
    folded = unicodedata.normalize("NFKD", name)
    kept = (
        c for c in folded if c in _NAME_PUNCTUATION or c == " " or (c.isascii() and c.isalnum())
    )
    cleaned = "".join(kept).strip()[:MAX_NAME_LENGTH]
    return cleaned or "span"


def _host_of(url: Any) -> str | None:
    if not isinstance(url, str) or "://" not in url:
        return None
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _namespace(span: ReadableSpan, attributes: Mapping[str, Any]) -> str | None:
    if attributes.get("rpc.system") == "aws-api" or "aws.service" in attributes:
        return "aws"
    if span.kind is SpanKind.CLIENT:
        return "remote"
    return None


def _segment_only(span: ReadableSpan, attributes: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    user = attributes.get("enduser.id")
    if isinstance(user, str) and user:
        found["user"] = user[:MAX_NAME_LENGTH]
    platform = span.resource.attributes.get("cloud.platform")
    # Not for Lambda: its function segment is Lambda's own, which carries that origin.
    origin = ORIGIN_BY_PLATFORM.get(str(platform)) if platform != "aws_lambda" else None
    if origin:
        found["origin"] = origin
    return found


def _http_block(attributes: Mapping[str, Any]) -> dict[str, Any]:
    # The schema caps each request field at 250 characters; a longer URL is cut here
    # and kept whole in metadata (the ``url.full`` attribute stays there).
    request: dict[str, Any] = {}
    for field, keys in (
        ("method", ("http.request.method", "http.method")),
        ("url", ("url.full", "http.url")),
        ("user_agent", ("user_agent.original", "http.user_agent")),
        ("client_ip", ("client.address",)),
    ):
        value = next((attributes[k] for k in keys if isinstance(attributes.get(k), str)), None)
        if value is not None:
            request[field] = value[:MAX_HTTP_FIELD]
    response: dict[str, Any] = {}
    status = attributes.get("http.response.status_code") or attributes.get("http.status_code")
    if isinstance(status, int) and not isinstance(status, bool):
        response["status"] = status
    block: dict[str, Any] = {}
    if request:
        block["request"] = request
    if response:
        block["response"] = response
    return block


def _aws_block(attributes: Mapping[str, Any]) -> dict[str, Any]:
    if attributes.get("rpc.system") != "aws-api":
        return {}
    block: dict[str, Any] = {}
    for key, attribute in (
        ("operation", "aws.operation"),
        ("operation", "rpc.method"),
        ("request_id", "aws.request_id"),
        ("queue_url", "aws.queue_url"),
        ("region", "cloud.region"),
        ("account_id", "cloud.account.id"),
    ):
        value = attributes.get(attribute)
        if isinstance(value, str) and key not in block:
            block[key] = value
    tables = attributes.get("aws.dynamodb.table_names")
    if isinstance(tables, Sequence) and not isinstance(tables, str):
        if len(tables) == 1:
            block["table_name"] = str(tables[0])
        elif tables:
            block["table_names"] = [str(t) for t in tables]
    return block


def _set_fault_flags(document: dict[str, Any], span: ReadableSpan, status: Any) -> None:
    if isinstance(status, int):
        if status == 429:
            document["throttle"] = document["error"] = True
            return
        if 400 <= status < 500:
            document["error"] = True
            return
        if status >= 500:
            document["fault"] = True
            return
    if span.status.status_code is StatusCode.ERROR:
        document["fault"] = True


def _cause(span: ReadableSpan) -> dict[str, Any] | None:
    exceptions = []
    for event in span.events:
        if event.name != "exception":
            continue
        attrs = event.attributes or {}
        exception: dict[str, Any] = {
            "id": os.urandom(8).hex(),
            "type": str(attrs.get("exception.type", ""))[:MAX_NAME_LENGTH],
            "message": str(attrs.get("exception.message", "")),
        }
        stack = _python_stack(str(attrs.get("exception.stacktrace", "")))
        if stack:
            exception["stack"] = stack[-MAX_STACK_FRAMES:]
            if len(stack) > MAX_STACK_FRAMES:
                exception["truncated"] = len(stack) - MAX_STACK_FRAMES
        exceptions.append(exception)
    if not exceptions and span.status.status_code is StatusCode.ERROR and span.status.description:
        exceptions.append({"id": os.urandom(8).hex(), "message": span.status.description})
    if not exceptions:
        return None
    return {"working_directory": os.getcwd(), "exceptions": exceptions}


def _links(span: ReadableSpan) -> list[dict[str, Any]]:
    """Span links as the collector writes them: ``trace_id``, ``id``, ``attributes``."""
    links = []
    for link in span.links[:MAX_LINKS]:
        entry: dict[str, Any] = {
            "trace_id": format_xray_trace_id(link.context.trace_id),
            "id": format_span_id(link.context.span_id),
        }
        if link.attributes:
            entry["attributes"] = {k: _json_safe(v) for k, v in link.attributes.items()}
        links.append(entry)
    return links


def _python_stack(stacktrace: str) -> list[dict[str, Any]]:
    frames = []
    for line in stacktrace.splitlines():
        match = _PY_FRAME.match(line)
        if match:
            frames.append(
                {"path": match["path"], "line": int(match["line"]), "label": match["label"].strip()}
            )
    return list(reversed(frames))  # X-Ray lists the innermost frame first


def _annotations(attributes: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    keys = attributes.get(ANNOTATIONS_ATTRIBUTE)
    if not isinstance(keys, Sequence) or isinstance(keys, str):
        return {}, set()
    annotations: dict[str, Any] = {}
    used: set[str] = set()
    for key in keys:
        value = attributes.get(key) if isinstance(key, str) else None
        if isinstance(value, str):
            value = value[:MAX_ANNOTATION_VALUE]
        elif not isinstance(value, bool | int | float) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            continue
        annotations[_ANNOTATION_KEY_DISALLOWED.sub("_", key)[:MAX_ANNOTATION_KEY]] = value
        used.add(key)
    return annotations, used


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray):
        # The SDK lets bytes through as attribute values; JSON has no bytes.
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Sequence):
        return [_json_safe(v) for v in value]
    return str(value)


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def shrink_to_fit(document: dict[str, Any], limit: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """Drop metadata, then shorten long strings, until ``document`` fits in ``limit`` bytes.

    What is cut is marked: ``metadata.otel_xray.truncated`` and the ``truncated``
    count of dropped stack frames. The required fields are never touched.
    """
    if len(encode(document)) <= limit:
        return document
    document.pop("metadata", None)
    document["metadata"] = {"otel_xray": {"truncated": True}}
    cap = 4096
    while len(encode(document)) > limit and cap >= 16:
        _shorten_strings(document, cap)
        cause = document.get("cause")
        if isinstance(cause, dict):
            for exception in cause.get("exceptions", []):
                stack = exception.get("stack", [])
                if len(stack) > 5:
                    exception["truncated"] = exception.get("truncated", 0) + len(stack) - 5
                    exception["stack"] = stack[:5]
            if len(cause.get("exceptions", [])) > 1:
                cause["exceptions"] = cause["exceptions"][:1]
        cap //= 2
    return document


_PROTECTED = frozenset({"name", "id", "trace_id", "parent_id", "type", "namespace", "origin"})


def _shorten_strings(node: Any, cap: int) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in _PROTECTED:
                node[k] = _shorten_strings(v, cap)
        return node
    if isinstance(node, list):
        return [_shorten_strings(v, cap) for v in node]
    if isinstance(node, str) and len(node) > cap:
        return node[:cap]
    return node
