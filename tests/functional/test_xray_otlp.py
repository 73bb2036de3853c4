"""X-Ray's OTLP endpoint, locally, with real clients: botocore's signer and our exporter.

Facts from the CloudWatch user guide (CloudWatch-OTLPEndpoint, CloudWatch-OTLPTroubleshooting)
and the OTLP specification (opentelemetry-proto ``docs/specification.md``), collected in
``shared/reference/xray-otlp.md``; what rests on inference is said where it is used.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

from otel_xray.devtools.components.xray_api import XRayAPI
from otel_xray.devtools.components.xray_otlp import TRANSACTION_SEARCH_OFF
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer, end_process_group
from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.otlp import XRAY_LIMITS, LambdaOTLPExporter
from otel_xray.ids import XRayIdGenerator
from otel_xray.settings import AwsCredentialEnv, OtlpSigning
from tests.ports import unused_port

CREDENTIALS = AwsCredentialEnv(
    access_key_id="testing", secret_access_key="testing", session_token="tok"
)


@pytest.fixture
def api() -> Iterator[XRayAPI]:
    with XRayAPI(api_keys=("key-123",)) as server:
        yield server


def _spans(count: int = 3, **attributes: object) -> list[ReadableSpan]:
    provider = TracerProvider(
        resource=Resource({"service.name": "orders", "cloud.provider": "aws"}),
        id_generator=XRayIdGenerator(),
    )
    tracer = provider.get_tracer("t")
    spans = []
    with tracer.start_as_current_span("orders", kind=SpanKind.SERVER) as root:
        for i in range(count - 1):
            with tracer.start_as_current_span(
                f"GET {i}",
                kind=SpanKind.CLIENT,
                attributes={"url.full": "https://pay.example.com/x"},
            ) as child:
                child.set_attributes(attributes)  # type: ignore[arg-type]
            spans.append(child)
    spans.append(root)
    return spans  # type: ignore[return-value]


def _botocore_post(
    api: XRayAPI,
    body: bytes,
    content_type: str,
    encoding: str | None = None,
    secret: str = "testing",
) -> tuple[int, bytes, dict[str, str]]:
    """A request signed by botocore's ``SigV4Auth`` for ``xray`` (ADOT's
    ``AwsAuthSession.request`` signs the same way), sent with urllib."""
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = AWSRequest("POST", api.otlp_endpoint, data=body, headers=headers)
    SigV4Auth(BotocoreCredentials("testing", secret), "xray", "us-east-1").add_auth(request)
    sent = urllib.request.Request(
        api.otlp_endpoint, data=body, headers=dict(request.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.mark.parametrize("encoding", [None, "gzip"])
@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_botocore_signed_protobuf_and_json_land_in_the_store(
    api: XRayAPI, content_type: str, encoding: str | None
) -> None:
    spans = _spans()
    message = encode_spans(spans)
    if content_type == "application/json":
        body = json.dumps(_hex_ids(json_format.MessageToDict(message))).encode()
    else:
        body = message.SerializeToString()
    if encoding:
        body = gzip.compress(body)
    status, reply, _ = _botocore_post(api, body, content_type, encoding)
    assert status == 200, reply
    documents = api.store.documents()
    assert len(documents) == 3
    assert {d["name"] for d in documents} >= {"orders", "pay.example.com"}
    # Every reader sees them: the X-Ray API's own GetServiceGraph through boto3.
    xray = boto3.client(
        "xray",
        endpoint_url=api.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    now = time.time()
    graph = xray.get_service_graph(StartTime=now - 600, EndTime=now + 600)
    assert {s["Name"] for s in graph["Services"]} >= {"orders", "pay.example.com"}


def _hex_ids(value: object) -> object:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON as hex."""
    if isinstance(value, dict):
        return {
            k: base64.b64decode(v).hex()
            if k in ("traceId", "spanId", "parentSpanId")
            else _hex_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def test_x_rays_403_messages(api: XRayAPI) -> None:
    body = encode_spans(_spans(1)).SerializeToString()
    status, reply, _ = _botocore_post(api, body, "application/x-protobuf", secret="wrong")
    assert status == 403
    assert "signature we calculated does not match" in status_pb2.Status.FromString(reply).message
    unsigned = urllib.request.Request(
        api.otlp_endpoint, data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=10)
    assert refused.value.code == 403
    request = AWSRequest(
        "POST", api.otlp_endpoint, data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    SigV4Auth(BotocoreCredentials("AKIDUNKNOWN", "x"), "xray", "us-east-1").add_auth(request)
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(
            urllib.request.Request(api.otlp_endpoint, data=body, headers=dict(request.headers)),
            timeout=10,
        )
    assert status_pb2.Status.FromString(unknown.value.read()).message == (
        "The security token included in the request is invalid."
    )
    assert api.store.documents() == []


def _exporter(api: XRayAPI, **kwargs: object) -> LambdaOTLPExporter:
    options: dict[str, object] = {
        "signing": OtlpSigning("us-east-1"),
        "credentials": CREDENTIALS,
        "limits": XRAY_LIMITS,
    }
    options.update(kwargs)
    return LambdaOTLPExporter(api.otlp_endpoint, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_our_exporter_signs_what_it_sends(api: XRayAPI, compression: str) -> None:
    exporter = _exporter(api, compression=compression)
    assert exporter.export_before(_spans(), Deadline.within_ms(5000)) is ExportOutcome.SENT
    assert len(api.store.documents()) == 3
    assert exporter.sent_spans == 3 and api.otlp_refused == []


def test_a_bearer_api_key_replaces_signing(api: XRayAPI) -> None:
    exporter = LambdaOTLPExporter(api.otlp_endpoint, {"Authorization": "Bearer key-123"})
    assert exporter.export_before(_spans(), Deadline.within_ms(5000)) is ExportOutcome.SENT
    wrong = LambdaOTLPExporter(api.otlp_endpoint, {"Authorization": "Bearer nope"})
    assert wrong.export_before(_spans(), Deadline.within_ms(5000)) is ExportOutcome.DROP


def test_transaction_search_off_is_one_log_line_naming_the_fix(
    api: XRayAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.transaction_search = False
    exporter = _exporter(api)
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        for _ in range(3):
            assert exporter.export_before(_spans(), Deadline.within_ms(5000)) is ExportOutcome.DROP
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert TRANSACTION_SEARCH_OFF.rstrip(".") in lines[0] and "Transaction Search" in lines[0]
    assert api.otlp_refused[0][1] == TRANSACTION_SEARCH_OFF


def test_throttling_is_retried_within_the_deadline_honouring_retry_after(api: XRayAPI) -> None:
    """429/502/503/504 are retryable, with optional Retry-After (OTLP specification,
    "OTLP/HTTP Throttling")."""
    exporter = _exporter(api)
    api.fail_next(429, retry_after=0)
    api.fail_next(503)
    assert exporter.export_before(_spans(), Deadline.within_ms(5000)) is ExportOutcome.SENT
    assert exporter.requests == 3 and len(api.store.documents()) == 3
    api.fail_next(429, retry_after=30)
    started = time.monotonic()
    assert exporter.export_before(_spans(), Deadline.within_ms(300)) is ExportOutcome.RETRY
    assert time.monotonic() - started < 0.3


def test_partial_success_is_counted_and_never_retried(
    api: XRayAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """The endpoint refuses a span 15 days old; our exporter (which would drop it itself)
    is told the endpoint's limits are not its own here, so the endpoint answers
    ``partial_success`` (the OTLP way; whether X-Ray does is unknown)."""
    old = time.time_ns() - 15 * 86400 * 10**9
    spans = _spans(2)
    stale = ReadableSpan(
        name="stale",
        context=SpanContext(spans[0].context.trace_id, 0xABC, False),
        resource=spans[0].resource,
        start_time=old,
        end_time=old + 1000,
    )
    exporter = _exporter(api, limits=XRAY_LIMITS._replace(max_age_seconds=None))
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        outcome = exporter.export_before([*spans, stale], Deadline.within_ms(5000))
        exporter.export_before([stale], Deadline.within_ms(5000))
    assert outcome is ExportOutcome.SENT
    assert exporter.rejected_spans == 2 and exporter.requests == 2
    assert api.otlp_rejected_spans == 2
    assert len([r for r in caplog.records if "rejected" in r.getMessage()]) == 1


def test_spans_the_endpoint_would_refuse_are_dropped_before_sending(api: XRayAPI) -> None:
    now = time.time_ns()
    base = _spans(1)[0]

    def at(start: int, name: str, **attributes: object) -> ReadableSpan:
        return ReadableSpan(
            name=name,
            context=SpanContext(base.context.trace_id, abs(hash(name)) % 2**63 + 1, False),
            resource=base.resource,
            start_time=start,
            end_time=start + 10,
            attributes=attributes,  # type: ignore[arg-type]
        )

    spans = [
        at(now - 15 * 86400 * 10**9, "old"),
        at(now + 3 * 3600 * 10**9, "future"),
        at(now, "huge", blob="x" * (201 * 1024)),
        at(now, "fine", blob="x" * (190 * 1024)),
    ]
    exporter = _exporter(api)
    assert exporter.export_before(spans, Deadline.within_ms(5000)) is ExportOutcome.SENT
    assert exporter.dropped_spans == 3
    assert [d["name"] for d in api.store.documents()] == ["fine"]
    assert api.otlp_rejected_spans == 0


def test_requests_are_cut_to_the_span_and_byte_limits(api: XRayAPI) -> None:
    """10,000 spans and 5 MB uncompressed a request: 10,001 spans go as two requests;
    30 spans of 190 KB (5.7 MB) as two."""
    exporter = _exporter(api)
    many = [s for _ in range(5001) for s in _spans(2)][:10_001]
    assert exporter.export_before(many, Deadline.within_ms(60_000)) is ExportOutcome.SENT
    assert exporter.requests == 2 and api.otlp_refused == []
    big = _spans(31, blob="y" * (190 * 1024))
    assert exporter.export_before(big, Deadline.within_ms(60_000)) is ExportOutcome.SENT
    assert exporter.requests == 4 and api.otlp_refused == []
    assert api.otlp_rejected_spans == 0


def test_the_byte_limit_counts_every_scope_s_header(api: XRayAPI) -> None:
    """49 spans of 100 KB (4.9 MB of span data), each from its own instrumentation scope
    with 5 KB of scope attributes: a request carries one ``ScopeSpans`` header per scope,
    250 KB here, so one request would be 5.27 MB, over the 5 MB the endpoint accepts
    uncompressed (CloudWatch-OTLPEndpoint). Before, only the first scope's header was
    counted: one request, refused with 413, and all 49 spans dropped."""
    base = _spans(1)[0]
    spans = [
        ReadableSpan(
            name=f"s{i}",
            context=SpanContext(base.context.trace_id, i + 1, False),
            resource=base.resource,
            start_time=base.start_time,
            end_time=base.end_time,
            attributes={"blob": "x" * (100 * 1024)},
            instrumentation_scope=InstrumentationScope(
                f"instrumentation.number.{i}", "1.0.0", None, {"scope.padding": "p" * 5 * 1024}
            ),
        )
        for i in range(49)
    ]
    exporter = _exporter(api)
    assert exporter.export_before(spans, Deadline.within_ms(60_000)) is ExportOutcome.SENT
    assert exporter.requests == 2 and api.otlp_refused == []
    assert len(api.store.documents()) == 49


def test_an_unreachable_host_costs_no_more_than_the_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = LambdaOTLPExporter(
        f"http://127.0.0.1:{unused_port()}/v1/traces",
        signing=OtlpSigning("us-east-1"),
        credentials=CREDENTIALS,
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        for _ in range(2):
            assert exporter.export_before(_spans(), Deadline.within_ms(500)) is ExportOutcome.RETRY
    assert time.monotonic() - started < 1.2
    assert len(caplog.records) == 1 and "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" in caplog.text
    # A black hole (TEST-NET-1) is bounded by the deadline too.
    hole = LambdaOTLPExporter("http://192.0.2.1:4318/v1/traces")
    started = time.monotonic()
    assert hole.export_before(_spans(), Deadline.within_ms(200)) is ExportOutcome.RETRY
    assert time.monotonic() - started < 0.5


def test_missing_credentials_are_one_log_line_and_nothing_sent(
    api: XRayAPI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    exporter = _exporter(api, credentials=AwsCredentialEnv())
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        for _ in range(2):
            assert exporter.export_before(_spans(), Deadline.within_ms(2000)) is ExportOutcome.DROP
    assert len(caplog.records) == 1 and "AWS_ACCESS_KEY_ID" in caplog.text
    assert api.otlp_requests == [] and api.otlp_refused == []


class _SlowContainerCredentials(LoopbackHandler):
    """The container credentials endpoint (ECS, SnapStart: botocore ``ContainerProvider``),
    answering after ``delay`` seconds, or 401 to a wrong token."""

    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(type(self).delay)
        if self.headers.get("Authorization") != "right-token":
            self.reply_json(401, {"message": "unauthorized"})
            return
        self.reply_json(
            200,
            {
                "AccessKeyId": "testing",
                "SecretAccessKey": "testing",
                "Token": "tok",
                "Expiration": "2999-01-01T00:00:00Z",
            },
        )


def test_a_slow_credentials_endpoint_keeps_the_spans_a_wrong_token_drops_them(
    api: XRayAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """A timeout reaching the credentials endpoint is transient, like an unreachable OTLP
    endpoint: RETRY, and the warning does not blame the variables. A 401 from it is a
    configuration problem: DROP, naming the token. Before, both were DROP."""
    handler = type("Creds", (_SlowContainerCredentials,), {"delay": 0.5})
    with LoopbackServer(handler) as server:
        uri = f"http://{server.address}/creds"
        exporter = _exporter(
            api,
            credentials=AwsCredentialEnv(container_full_uri=uri, container_token="right-token"),
        )
        spans = _spans()
        with caplog.at_level(logging.WARNING, logger="otel_xray"):
            started = time.monotonic()
            assert exporter.export_before(spans, Deadline.within_ms(200)) is ExportOutcome.RETRY
            assert time.monotonic() - started < 0.45
        [warning] = [r.getMessage() for r in caplog.records]
        assert "kept for the next flush" in warning and "check" not in warning
        handler.delay = 0.0
        # The same spans, on the next flush.
        assert exporter.export_before(spans, Deadline.within_ms(5000)) is ExportOutcome.SENT
        assert len(api.store.documents()) == 3
        caplog.clear()
        wrong = _exporter(
            api, credentials=AwsCredentialEnv(container_full_uri=uri, container_token="wrong")
        )
        with caplog.at_level(logging.WARNING, logger="otel_xray"):
            assert wrong.export_before(spans, Deadline.within_ms(5000)) is ExportOutcome.DROP
        assert "HTTP 401" in caplog.text and "AWS_CONTAINER_AUTHORIZATION_TOKEN" in caplog.text


def test_the_cli_serves_the_endpoint_with_transaction_search_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``otel-xray xray-api --transaction-search off``, a real process, stopped by its PID."""
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_xray.devtools.cli", "xray-api", "--transaction-search", "off"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        [endpoint] = re.findall(r"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=(\S+)", "".join(lines))
        exporter = LambdaOTLPExporter(
            endpoint, signing=OtlpSigning("us-east-1"), credentials=CREDENTIALS
        )
        with caplog.at_level(logging.WARNING, logger="otel_xray"):
            assert exporter.export_before(_spans(), Deadline.within_ms(5000)) is ExportOutcome.DROP
        assert "Transaction Search" in caplog.text
    finally:
        end_process_group(process, grace=5)
