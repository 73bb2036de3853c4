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

import functools
import ipaddress
import json
import math
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel_xray.ids import format_span_id, format_xray_trace_id
from otel_xray.spans import plain_attributes
from otel_xray.xray import (
    ANNOTATIONS_ATTRIBUTE,
    CAUSE_ATTRIBUTE,
    CAUSE_ID_ATTRIBUTE,
    ECS_ORIGIN_BY_LAUNCH_TYPE,
    FLAG_ATTRIBUTES,
    MAX_ANNOTATION_KEY,
    MAX_ANNOTATION_VALUE,
    MAX_DATAGRAM_BYTES,
    MAX_LINKS,
    METADATA_PREFIX,
    ORIGIN_BY_PLATFORM,
)
from otel_xray.xray.name_characters import NAME_CHARACTERS

#: One UDP datagram, header line included, must fit the daemon's buffer.
MAX_DOCUMENT_BYTES = MAX_DATAGRAM_BYTES - 64
MAX_NAME_LENGTH = 200
MAX_STACK_FRAMES = 50
MAX_HTTP_FIELD = 250

_NAME_PUNCTUATION = frozenset("_.:/%&#=+-@")
_ANNOTATION_KEY_DISALLOWED = re.compile(r"[^A-Za-z0-9_]")
_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<label>.+)$')

#: The attributes that make a span an HTTP one for http.go (its ``hasHTTP``).
_HTTP_KEYS = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.client_ip",
        "http.user_agent",
        "user_agent.original",
        "http.status_code",
        "http.response.status_code",
        "http.url",
        "url.full",
        "http.scheme",
        "url.scheme",
        "http.host",
        "http.target",
        "http.server_name",
        "net.host.port",
        "url.path",
        "url.query",
    }
)
# Attributes that become a block of their own instead of metadata: what http.go
# makeHTTP takes out of metadata, HTTP span or not (the HTTP attributes, the URL's
# parts and the peer's address: in the URL, the name or client_ip), and the rest.
_CONSUMED = _HTTP_KEYS | frozenset(
    {
        ANNOTATIONS_ATTRIBUTE,
        CAUSE_ATTRIBUTE,
        *FLAG_ATTRIBUTES.values(),
        "http.response.body.size",
        "enduser.id",
        "client.address",
        "host.name",
        "net.host.name",
        "net.peer.name",
        "net.peer.port",
        "net.peer.ip",
        "network.peer.address",
        "server.address",
        "server.port",
    }
)
# Consumed by the ``aws`` block (aws.go ``makeAws`` takes them out of the attributes).
_AWS_CONSUMED = frozenset(
    {
        "rpc.method",
        "aws.operation",
        "aws.account_id",
        "aws.region",
        "aws.request_id",
        "aws.requestId",
        "aws.queue_url",
        "aws.queue.url",
        "aws.table_name",
        "aws.table.name",
    }
)
# Consumed on AWS SDK spans too: what their aws block shows (our choice; the collector
# leaves these in metadata as well).
_AWS_SDK_CONSUMED = _AWS_CONSUMED | frozenset(
    {
        "rpc.service",
        "rpc.system",
        "aws.dynamodb.table_names",
        "messaging.url",
        "cloud.region",
        "cloud.account.id",
        "aws.sns.topic.arn",
        "faas.invoked_name",
        "aws.lambda.invocation_type",
        "aws.s3.bucket",
        "aws.s3.key",
    }
)


def span_to_document(span: ReadableSpan) -> dict[str, Any]:
    """The segment or independent subsegment document for ``span``."""
    return shrink_to_fit(_document(span))


def encoded_document(span: ReadableSpan) -> bytes:
    """``encode(span_to_document(span))``, encoding once when it fits (the usual case)."""
    document = _document(span)
    data = encode(document)
    return data if len(data) <= MAX_DOCUMENT_BYTES else encode(shrink_to_fit(document))


def _document(span: ReadableSpan) -> dict[str, Any]:
    """The document before it is made to fit a datagram."""
    attributes = plain_attributes(span)
    resource = plain_attributes(span.resource)
    context = span.context
    if context is None:
        raise ValueError("a span without a context has no X-Ray document")
    parent = span.parent
    # ADOT: a subsegment iff not SERVER and parented. In Lambda a remote parent is the
    # function segment Lambda emits, so any span under it is a subsegment (no extra node).
    in_lambda = resource.get("cloud.platform") == "aws_lambda"
    is_subsegment = parent is not None and (
        span.kind is not SpanKind.SERVER or (parent.is_remote and in_lambda)
    )
    document: dict[str, Any] = {
        "name": _segment_name(span, attributes, resource, is_subsegment),
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
        document.update(_segment_only(attributes, resource))

    http = _http_block(attributes, span.kind)
    if http:
        document["http"] = http
    aws = _aws_block(attributes, resource, not is_subsegment)
    if aws:
        document["aws"] = aws
    sql = _sql_block(attributes, span.name) if is_subsegment else {}
    if sql:
        document["sql"] = sql
    _set_fault_flags(document, span, http.get("response", {}).get("status"))
    for flag, key in FLAG_ATTRIBUTES.items():
        if attributes.get(key) is True:
            document[flag] = True
    cause = _cause(span, attributes.get(CAUSE_ATTRIBUTE))
    if cause:
        document["cause"] = cause
    links = _links(span)
    if links:
        document["links"] = links
    annotations, annotated = _annotations(attributes)
    if annotations:
        document["annotations"] = annotations
    consumed = _CONSUMED
    if aws:
        sdk_span = attributes.get("rpc.system") == "aws-api"
        consumed = consumed | (_AWS_SDK_CONSUMED if sdk_span else _AWS_CONSUMED)
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
        found = _metadata_namespace(key, value) if key.startswith(METADATA_PREFIX) else None
        if found is not None and found[0] == "default":
            default.update(found[1])  # otel_xray.metadata("default", ...), put_metadata(k, v)
        elif found is not None:
            metadata[found[0]] = found[1]
        else:
            kind = type(value)  # the common JSON-ready values skip _json_safe's checks
            plain = kind is str or kind is bool or kind is int
            default[key] = value if plain else _json_safe(value)
    if default:
        metadata["default"] = default
    if metadata:
        document["metadata"] = metadata
    return document


#: ``db.system`` values the collector gives an ``sql`` block (sql.go ``isSQL``).
SQL_SYSTEMS = frozenset(
    {
        "db2",
        "derby",
        "hive",
        "mariadb",
        "mssql",
        "mysql",
        "oracle",
        "other_sql",
        "postgresql",
        "sqlite",
        "teradata",
    }
)
# sql.go makeSQL: the five it reads (db.query.text is the newer db.statement).
_SQL_CONSUMED = frozenset(
    {"db.statement", "db.query.text", "db.user", "db.connection_string", "db.system", "db.name"}
)


def _sql_block(attributes: Mapping[str, Any], span_name: str) -> dict[str, Any]:
    """sql.go ``makeSQL``: ``url`` is the span name ("having the DB connection string
    set as the URL value of the segment is not useful", the collector says),
    ``connection_string`` the connection string (or ``localhost``) + ``/`` + the
    database name, then the type, user and statement."""
    system = attributes.get("db.system") or attributes.get("db.system.name")
    if system not in SQL_SYSTEMS:
        return {}
    connection = attributes.get("db.connection_string")
    if not isinstance(connection, str) or not connection:
        connection = "localhost"
    database = attributes.get("db.name") or attributes.get("db.namespace") or ""
    block: dict[str, Any] = {
        "url": span_name,
        "connection_string": f"{connection}/{database}",
        "database_type": system,
    }
    user = attributes.get("db.user")
    if isinstance(user, str):
        block["user"] = user[:250]
    statement = attributes.get("db.statement") or attributes.get("db.query.text")
    if isinstance(statement, str):
        block["sanitized_query"] = statement
    return block


def _metadata_namespace(key: str, value: Any) -> tuple[str, dict[str, Any]] | None:
    """``aws.xray.metadata.<ns>`` holding a JSON object: (namespace, its metadata)."""
    if not key.startswith(METADATA_PREFIX) or not isinstance(value, str):
        return None
    namespace = key[len(METADATA_PREFIX) :]
    if not namespace or namespace.startswith("AWS."):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return (namespace, parsed) if isinstance(parsed, dict) else None


def _segment_name(
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    resource: Mapping[str, Any],
    is_subsegment: bool,
) -> str:
    kind = span.kind
    candidates: list[Any] = []
    if kind in (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER):
        remote = attributes.get("aws.remote.service")
        if isinstance(remote, str) and attributes.get("rpc.system") == "aws-api":
            remote = remote.removeprefix("AWS.SDK.").removeprefix("AWS::")  # trimAwsSdkPrefix
        candidates.append(remote)
    if kind is SpanKind.SERVER:
        candidates.append(attributes.get("aws.local.service"))
    candidates += [attributes.get("peer.service"), attributes.get("aws.service")]
    if kind is not SpanKind.INTERNAL:
        candidates.append(_database_name(attributes))
    if kind is SpanKind.SERVER and not is_subsegment:
        candidates.append(resource.get("service.name"))
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
    """``db.name@host`` as the collector names a database call's subsegment: the host of
    ``db.connection_string`` (``jdbc:`` trimmed); without one, the stable conventions'
    ``server.address`` (or ``net.peer.name``), which the collector does not read."""
    database = attributes.get("db.name") or attributes.get("db.namespace")
    if not isinstance(database, str) or not database:
        return None
    connection = attributes.get("db.connection_string")
    host: Any = None
    if isinstance(connection, str):
        try:
            host = urllib.parse.urlsplit(connection.removeprefix("jdbc:")).hostname
        except ValueError:  # "Invalid IPv6 URL": a malformed string names no host
            host = None
    host = host or attributes.get("server.address") or attributes.get("net.peer.name")
    return f"{database}@{host}" if isinstance(host, str) and host else database


def sanitize_name(name: str) -> str:
    """Characters X-Ray accepts in a name, at most 200 of them; never empty.

    Letters of any script stay (``注文サービス``, ``Café-svc``), as in the collector's
    ``fixSegmentName``; only what the official schema's ``name`` pattern forbids is
    removed (:mod:`otel_xray.xray.name_characters`). An empty result is ``span``,
    the collector's default.

    >>> sanitize_name("注文サービス"), sanitize_name("Café-svc!"), sanitize_name("¿?")
    ('注文サービス', 'Café-svc', 'span')
    """
    if name.isascii():
        kept = "".join(c for c in name if c in _NAME_PUNCTUATION or c == " " or c.isalnum())
    else:
        kept = "".join(_name_characters().findall(name))
    cleaned = kept.strip()[:MAX_NAME_LENGTH]
    return cleaned or "span"


@functools.cache
def _name_characters() -> re.Pattern[str]:
    return re.compile(f"[{NAME_CHARACTERS}]")


def _host_of(url: Any) -> str | None:
    if not isinstance(url, str) or "://" not in url:
        return None
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _namespace(span: ReadableSpan, attributes: Mapping[str, Any]) -> str | None:
    """segment.go (v0.143.0, ``MakeSegment``): ``aws`` for AWS SDK spans, ``remote`` for
    CLIENT and PRODUCER spans, and for CONSUMER spans with ``aws.remote.service``
    (``addNamespaceToSubsegmentWithRemoteService``)."""
    if attributes.get("rpc.system") == "aws-api" or "aws.service" in attributes:
        return "aws"
    if span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
        return "remote"
    if span.kind in (SpanKind.PRODUCER, SpanKind.CONSUMER) and "aws.remote.service" in attributes:
        return "remote"
    return None


def _segment_only(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    user = attributes.get("enduser.id")
    if isinstance(user, str) and user:
        found["user"] = user[:MAX_NAME_LENGTH]
    origin = aws_origin(resource)
    if origin:
        found["origin"] = origin
    return found


def aws_origin(resource: Mapping[str, Any]) -> str | None:
    """The segment's ``origin`` from the resource, as the collector's ``determineAwsOrigin``.

    None when ``cloud.provider`` is set to anything but ``aws``, and for platforms
    it does not name (Lambda among them: the function segment is Lambda's own, and
    Lambda gives it ``AWS::Lambda::Function``). ECS by launch type.

    >>> aws_origin({"cloud.provider": "aws", "cloud.platform": "aws_ecs",
    ...             "aws.ecs.launchtype": "fargate"})
    'AWS::ECS::Fargate'
    >>> aws_origin({"cloud.provider": "gcp", "cloud.platform": "aws_ec2"}) is None
    True
    """
    provider = resource.get("cloud.provider")
    if provider is not None and provider != "aws":
        return None
    platform = resource.get("cloud.platform")
    if platform == "aws_lambda":
        return None  # the function segment is Lambda's own
    if platform == "aws_ecs":
        launch_type = str(resource.get("aws.ecs.launchtype"))
        return ECS_ORIGIN_BY_LAUNCH_TYPE.get(launch_type, ORIGIN_BY_PLATFORM["aws_ecs"])
    return ORIGIN_BY_PLATFORM.get(str(platform))


def _http_block(attributes: Mapping[str, Any], kind: SpanKind | None = None) -> dict[str, Any]:
    """http.go ``makeHTTP``: method, URL (built from its parts when no full URL is given:
    ``constructServerURL`` / ``constructClientURL``, stable and old conventions),
    user agent, client address (``x_forwarded_for`` when it came from a forwarded
    header: ``http.client_ip``), response status. Values are already redacted."""
    # The schema caps each request field at 250 characters; a longer URL is cut here
    # and kept whole in metadata (the ``url.full`` attribute stays there).
    request: dict[str, Any] = {}
    for field, keys in (
        ("method", ("http.request.method", "http.method")),
        ("url", ("url.full", "http.url")),
        ("user_agent", ("user_agent.original", "http.user_agent")),
    ):
        value = next((attributes[k] for k in keys if isinstance(attributes.get(k), str)), None)
        if value is not None:
            request[field] = value[:MAX_HTTP_FIELD]
    if not any(key in attributes for key in _HTTP_KEYS):
        return {}  # http.go: no HTTP attribute, no http block (a client address alone is not)
    if "url" not in request:
        built = _url_from_parts(attributes, kind is SpanKind.SERVER)
        if built is not None:
            request["url"] = built[:MAX_HTTP_FIELD]
    client = attributes.get("http.client_ip") or _ip(attributes.get("client.address"))
    if isinstance(client, str):
        request["client_ip"] = client[:MAX_HTTP_FIELD]
    if "client_ip" not in request:
        # http.go: a peer's IP stands in for the client's (net.peer.ip, or
        # network.peer.address when it is an IP).
        peer = attributes.get("net.peer.ip") or _ip(attributes.get("network.peer.address"))
        if isinstance(peer, str):
            request["client_ip"] = peer[:MAX_HTTP_FIELD]
    elif not (attributes.get("net.peer.ip") or _ip(attributes.get("network.peer.address"))):
        # http.go: a client IP not taken from the socket's peer came from a header.
        request["x_forwarded_for"] = True
    response: dict[str, Any] = {}
    status = attributes.get("http.response.status_code") or attributes.get("http.status_code")
    if isinstance(status, int) and not isinstance(status, bool):
        response["status"] = status
    size = attributes.get("http.response.body.size")
    if isinstance(size, int) and not isinstance(size, bool):
        response["content_length"] = size  # the X-Ray SDK's put_http_meta("content_length")
    block: dict[str, Any] = {}
    if request:
        block["request"] = request
    if response:
        block["response"] = response
    return block


def _ip(value: Any) -> str | None:
    """``value`` if it is an IPv4 or IPv6 address (Go's ``net.ParseIP``), else None."""
    if not isinstance(value, str):
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return None
    return value


def _url_from_parts(attributes: Mapping[str, Any], server: bool) -> str | None:
    """http.go ``constructServerURL`` / ``constructClientURL``: scheme://host[:port]target,
    None without a host.

    Server: host from ``http.host`` (no port), else ``http.server_name``,
    ``net.host.name``, ``host.name``, ``server.address`` with ``net.host.port`` or
    ``server.port``. Client: ``http.host`` (no port), else ``net.peer.name`` or
    ``net.peer.ip`` with ``net.peer.port``; the collector stops there (a stable-
    conventions client span gets ``https:///path``), here ``server.address`` with
    ``server.port`` follows (docs/how-it-works.md lists the difference).
    """

    def first(*keys: str) -> Any:
        return next((attributes[k] for k in keys if attributes.get(k) not in (None, "")), None)

    port: Any = None
    host = first("http.host")
    if host is None and server:
        host = first("http.server_name", "net.host.name", "host.name", "server.address")
        port = first("net.host.port", "server.port")
    elif host is None:
        host = first("net.peer.name", "net.peer.ip")
        port = first("net.peer.port")
        if host is None:
            host, port = first("server.address"), first("server.port")
    if not isinstance(host, str) or not host:
        return None
    scheme = first("http.scheme", "url.scheme") or "http"
    url = f"{scheme}://{host}"
    if port is not None and str(port) != {"http": "80", "https": "443"}.get(scheme):
        url += f":{port}"
    target = attributes.get("http.target")
    if isinstance(target, str):
        return url + target
    path = attributes.get("url.path")
    url += path if isinstance(path, str) else "/"
    query = attributes.get("url.query")
    if isinstance(query, str):
        url += query if query.startswith("?") else f"?{query}"
    return url


def _aws_block(
    attributes: Mapping[str, Any], resource: Mapping[str, Any], is_segment: bool
) -> dict[str, Any]:
    """aws.go ``makeAws``, on any span: ``operation``, ``account_id``, ``region``,
    ``request_id``, ``queue_url``, ``table_name``/``table_names`` from their attributes
    (and the semantic conventions' ``messaging.url`` and ``aws.dynamodb.table_names``,
    which win); none at all when ``cloud.provider`` is not ``aws``.

    On AWS SDK spans also the X-Ray SDK's resource fields (aws-xray-sdk-python
    ``ext/resources/aws_para_whitelist.json``): ``topic_arn`` (SNS), ``function_name``
    and ``invocation_type`` (Lambda), ``bucket_name`` and ``key`` (S3). On segments,
    ``xray`` (SDK name, version, auto-instrumentation) and ``cloudwatch_logs`` from
    the resource. Two sources the collector does not read, kept on purpose: the
    botocore instrumentation's ``cloud.region`` and ``cloud.account.id``.
    """
    provider = resource.get("cloud.provider")
    if provider is not None and provider != "aws":
        return {}
    aws_sdk = attributes.get("rpc.system") == "aws-api"
    block: dict[str, Any] = {}
    for key, names in _AWS_FIELDS:
        value = next((attributes[n] for n in names if isinstance(attributes.get(n), str)), None)
        if value:
            block[key] = value
    if "operation" not in block and isinstance(attributes.get("rpc.method"), str):
        block["operation"] = attributes["rpc.method"]
    if aws_sdk:
        for key, name in (("region", "cloud.region"), ("account_id", "cloud.account.id")):
            if key not in block and isinstance(attributes.get(name), str):
                block[key] = attributes[name]
        for key, name in _AWS_SDK_RESOURCE_FIELDS:
            if isinstance(attributes.get(name), str):
                block[key] = attributes[name]
    tables = attributes.get("aws.dynamodb.table_names")
    if isinstance(tables, Sequence) and not isinstance(tables, str):
        if len(tables) == 1:
            block["table_name"] = str(tables[0])
        elif tables:
            block.pop("table_name", None)
            block["table_names"] = [str(t) for t in tables]
    elif isinstance(tables, str):
        block["table_name"] = tables
    if is_segment:
        block.update(_aws_segment_fields(resource))
    return block


#: aws.go: X-Ray field <- attributes, the later semantic-convention name winning.
_AWS_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("operation", ("aws.operation",)),
    ("account_id", ("aws.account_id",)),
    ("region", ("aws.region",)),
    ("request_id", ("aws.request_id", "aws.requestId")),
    ("queue_url", ("messaging.url", "aws.queue_url", "aws.queue.url")),
    ("table_name", ("aws.table_name", "aws.table.name")),
)
#: The X-Ray SDK's request parameters, from the attributes the instrumentation (or the
#: registry's botocore hook) sets.
_AWS_SDK_RESOURCE_FIELDS = (
    ("topic_arn", "aws.sns.topic.arn"),
    ("function_name", "faas.invoked_name"),
    ("invocation_type", "aws.lambda.invocation_type"),
    ("bucket_name", "aws.s3.bucket"),
    ("key", "aws.s3.key"),
)


def _aws_segment_fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    """aws.go: ``xray`` SDK information and ``cloudwatch_logs`` from the resource."""
    found: dict[str, Any] = {}
    name, language = resource.get("telemetry.sdk.name"), resource.get("telemetry.sdk.language")
    sdk = f"{name} for {language}" if name and language else name
    if sdk:
        found["xray"] = {
            "sdk": str(sdk),
            "sdk_version": str(resource.get("telemetry.sdk.version", "")),
            # aws.go: either the old or the current name of the distro's version.
            "auto_instrumentation": bool(
                resource.get("telemetry.auto.version") or resource.get("telemetry.distro.version")
            ),
        }
    found.update(_platform_fields(resource))
    arns = _log_groups(resource.get("aws.log.group.arns"))
    names = _log_groups(resource.get("aws.log.group.names"))
    if arns:
        found["cloudwatch_logs"] = [
            {"log_group": arn.split(":")[6] if arn.count(":") >= 6 else arn, "arn": arn}
            for arn in arns
        ]
    elif names:
        found["cloudwatch_logs"] = [{"log_group": name} for name in names]
    return found


def _platform_fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    """aws.go ``makeAws``: ``ec2`` (``aws_ec2`` or a ``host.id``), ``ecs`` (``aws_ecs``),
    ``elastic_beanstalk`` (``aws_elastic_beanstalk`` with a ``service.instance.id``),
    ``eks`` (``aws_eks`` or a ``k8s.cluster.name``), and ``account_id`` from the resource;
    the field names are awsxray's ``tracesegment.go`` and the X-Ray guide's ``aws`` block.
    On segments only, as the X-Ray SDK's plugins record them (the collector repeats them
    on every subsegment). Empty fields are left out (the collector's ``omitempty``)."""

    def text(key: str) -> str | None:
        value = resource.get(key)
        return str(value) if value not in (None, "") else None

    def block(**fields: Any) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}

    found: dict[str, Any] = {}
    platform = resource.get("cloud.platform")
    if text("cloud.account.id"):
        found["account_id"] = text("cloud.account.id")
    if platform == "aws_ec2" or text("host.id"):
        found["ec2"] = block(
            instance_id=text("host.id"),
            availability_zone=text("cloud.availability_zone"),
            instance_size=text("host.type"),
            ami_id=text("host.image.id"),
        )
    if platform == "aws_ecs":
        found["ecs"] = block(
            container=text("container.name"),
            container_id=text("container.id"),
            availability_zone=text("cloud.availability_zone"),
            container_arn=text("aws.ecs.container.arn"),
            cluster_arn=text("aws.ecs.cluster.arn"),
            task_arn=text("aws.ecs.task.arn"),
            task_family=text("aws.ecs.task.family"),
            launch_type=text("aws.ecs.launchtype"),
        )
    deployment = text("service.instance.id")
    if platform == "aws_elastic_beanstalk" and deployment:
        found["elastic_beanstalk"] = block(
            environment_name=text("service.namespace"),
            deployment_id=int(deployment) if deployment.isdigit() else 0,
            version_label=text("service.version"),
        )
    if platform == "aws_eks" or text("k8s.cluster.name"):
        found["eks"] = block(
            cluster_name=text("k8s.cluster.name"),
            pod=text("k8s.pod.name"),
            container_id=text("container.id"),
        )
    return found


def _log_groups(value: Any) -> list[str]:
    """aws.go ``normalizeToSlice``: a list, or a string of names joined by ``&``."""
    if isinstance(value, str):
        return [item for item in value.split("&") if item]
    if isinstance(value, Sequence):
        return [str(item) for item in value if item]
    return []


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


def _cause(span: ReadableSpan, recorded: Any = None) -> dict[str, Any] | None:
    """cause.go ``makeCause``: one exception per ``exception`` event (chained Python
    exceptions become linked exceptions, ``fillPythonStacktrace``), ``remote`` on
    CLIENT and PRODUCER spans; without events, an ERROR status's description.

    Exceptions code recorded the X-Ray SDK's way (``CAUSE_ATTRIBUTE``, written by
    :mod:`otel_xray.bridge.xray_sdk`) come first, as that SDK wrote them."""
    remote = span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
    exceptions: list[dict[str, Any]] = _recorded_exceptions(recorded)
    for event in span.events:
        if event.name != "exception":
            continue
        attrs = plain_attributes(event)
        if CAUSE_ID_ATTRIBUTE in attrs:
            continue  # the same exception as one of CAUSE_ATTRIBUTE's, written above
        exceptions += _exceptions(
            str(attrs.get("exception.type", "")),
            str(attrs.get("exception.message", "")),
            str(attrs.get("exception.stacktrace", "")),
            remote,
        )
    if not exceptions and span.status.status_code is StatusCode.ERROR and span.status.description:
        exceptions.append({"id": os.urandom(8).hex(), "message": span.status.description})
    if not exceptions:
        return None
    return {"working_directory": os.getcwd(), "exceptions": exceptions}


def _recorded_exceptions(recorded: Any) -> list[dict[str, Any]]:
    """The X-Ray SDK's exception objects from ``CAUSE_ATTRIBUTE`` (a JSON list)."""
    if not isinstance(recorded, str):
        return []
    try:
        parsed = json.loads(recorded)
    except ValueError:
        return []
    if not isinstance(parsed, list):
        return []
    found = []
    for item in parsed:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            found.append(item)
    return found


_DURING_HANDLING = "During handling of the above exception, another exception occurred:"
_DIRECT_CAUSE = "The above exception was the direct cause of the following exception:"


def _exceptions(kind: str, message: str, stacktrace: str, remote: bool) -> list[dict[str, Any]]:
    """A Python traceback as X-Ray exceptions: the raised one first, then each exception it
    was raised while handling, each one's ``cause`` naming the next one's ``id``.

    The collector (``fillPythonStacktrace``) splits at "During handling of the above
    exception"; a ``raise ... from`` chain ("The above exception was the direct
    cause") is split the same way here, an inference from the same format.
    """
    sections = re.split(
        f"^(?:{re.escape(_DURING_HANDLING)}|{re.escape(_DIRECT_CAUSE)})$", stacktrace, flags=re.M
    )
    # The traceback lists the oldest exception first; X-Ray's first is the raised one.
    sections.reverse()
    exceptions: list[dict[str, Any]] = []
    for index, section in enumerate(sections):
        exception: dict[str, Any] = {"id": os.urandom(8).hex()}
        section_kind, section_message = (
            (kind, message) if index == 0 else _last_exception_line(section)
        )
        exception["type"] = section_kind[:MAX_NAME_LENGTH]
        exception["message"] = section_message
        exception["remote"] = remote
        stack = _python_stack(section)
        if stack:
            exception["stack"] = stack[:MAX_STACK_FRAMES]
            if len(stack) > MAX_STACK_FRAMES:
                exception["truncated"] = len(stack) - MAX_STACK_FRAMES
        if exceptions:
            exceptions[-1]["cause"] = exception["id"]
        exceptions.append(exception)
    return exceptions


def _last_exception_line(section: str) -> tuple[str, str]:
    """``Type: message`` at the end of one traceback section (after its frames)."""
    lines = section.strip("\n").splitlines()
    for position in range(len(lines) - 1, -1, -1):
        if lines[position].startswith("  "):  # a frame or its source line
            tail = "\n".join(lines[position + 1 :])
            kind, _, message = tail.partition(": ")
            return kind.strip(), message
    kind, _, message = "\n".join(lines).partition(": ")
    return kind.strip(), message


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
    return list(reversed(frames))  # X-Ray lists the innermost frame first (as the collector)


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
