"""AWS's own Python distro (aws-opentelemetry-distro 0.21.0) as a client of the local
endpoints, and as the reference of our OTLP datagrams.

ADOT runs in its own virtualenv (``make adot``: it pins opentelemetry-sdk 1.44), as a real
process. Its files read here (aws-otel-python-instrumentation,
``aws-opentelemetry-distro/src/amazon/opentelemetry/distro/``):

- ``exporter/otlp/aws/traces/otlp_aws_span_exporter.py``, ``OTLPAwsSpanExporter``: signs
  with botocore's ``SigV4Auth(credentials, "xray", region)`` in
  ``exporter/otlp/aws/common/aws_auth_session.py``, ``AwsAuthSession.request``;
- ``otlp_udp_exporter.py``, ``UdpExporter.send_data`` and ``OTLPUdpSpanExporter.export``:
  the daemon header line, ``T1S`` / ``T1U``, base64 protobuf.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.components.xray_api import XRayAPI
from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.xray_otlp_udp import XRayOtlpUdpExporter
from otel_xray.ids import XRayIdGenerator
from otel_xray.xray.app_signals import application_signals
from tests.e2e.conftest import ROOT

ADOT_PYTHON = ROOT / "build" / "adot-venv" / "bin" / "python"

PRELUDE = """
import json, os, sys, time
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

def make_spans(processor):
    provider = TracerProvider(resource=Resource({"service.name": "adot-fn"}))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("adot")
    with tracer.start_as_current_span("adot-fn", kind=SpanKind.SERVER):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes={"peer.service": "pay.example.com"}
        ):
            pass
    provider.shutdown()
"""


def _adot(script: str, tmp_path: Path, **env: str) -> str:
    if not ADOT_PYTHON.exists():
        pytest.fail("run 'make adot' first: AWS's distro is the reference client here")
    (tmp_path / "adot_client.py").write_text(PRELUDE + script)
    result = subprocess.run(
        [str(ADOT_PYTHON), str(tmp_path / "adot_client.py")],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_adots_signed_exporter_is_accepted_by_the_local_endpoint(tmp_path: Path) -> None:
    """``OTLPAwsSpanExporter(aws_region=..., session=botocore Session, endpoint=...)``."""
    with XRayAPI() as api:
        out = _adot(
            """
from botocore.session import Session
from amazon.opentelemetry.distro.exporter.otlp.aws.traces.otlp_aws_span_exporter import (
    OTLPAwsSpanExporter,
)
exporter = OTLPAwsSpanExporter(aws_region="us-east-1", session=Session(), endpoint=sys.argv[1])
make_spans(SimpleSpanProcessor(exporter))
print("done")
""".replace("sys.argv[1]", repr(api.otlp_endpoint)),
            tmp_path,
        )
        assert "done" in out
        assert api.otlp_refused == []
        names = sorted(d["name"] for d in api.store.documents())
        assert names == ["adot-fn", "pay.example.com"]
        assert [call for call in api.calls] == []  # no PutTraceSegments: OTLP only
    # And refused with the wrong secret, as X-Ray would.
    with XRayAPI(credentials={"testing": "other"}) as api:
        _adot(
            """
from botocore.session import Session
from amazon.opentelemetry.distro.exporter.otlp.aws.traces.otlp_aws_span_exporter import (
    OTLPAwsSpanExporter,
)
make_spans(SimpleSpanProcessor(OTLPAwsSpanExporter(
    aws_region="us-east-1", session=Session(), endpoint=ENDPOINT)))
""".replace("ENDPOINT", repr(api.otlp_endpoint)),
            tmp_path,
        )
        assert api.otlp_refused and api.otlp_refused[0][0] == 403
        assert api.store.documents() == []


def test_adots_udp_exporter_reaches_the_daemon_stand_in(tmp_path: Path) -> None:
    """``OTLPUdpSpanExporter(endpoint="host:port")``: the stand-in takes OTLP datagrams, as
    the real daemon forwards them (shared/reference/xray-otlp.md, the correction)."""
    with XRayDaemon() as daemon:
        host, port = daemon.address
        _adot(
            f"""
from amazon.opentelemetry.distro.otlp_udp_exporter import OTLPUdpSpanExporter
make_spans(SimpleSpanProcessor(OTLPUdpSpanExporter(endpoint="{host}:{port}")))
""",
            tmp_path,
        )
        daemon.wait_idle(quiet_seconds=0.2)
        assert daemon.rejected == []
        assert sorted(d["name"] for d in daemon.take()) == ["adot-fn", "pay.example.com"]
        assert all(raw[30:33] == b"T1S" for raw in daemon.raw)


def _our_spans(count: int) -> list[ReadableSpan]:
    provider = TracerProvider(
        resource=Resource({"service.name": "ours"}), id_generator=XRayIdGenerator()
    )
    tracer = provider.get_tracer("t")
    spans = []
    with tracer.start_as_current_span("ours", kind=SpanKind.SERVER) as root:
        for i in range(count):
            with tracer.start_as_current_span(f"child {i}", attributes={"pad": "z" * 4000}) as c:
                pass
            spans.append(c)
    return [*spans, root]  # type: ignore[list-item]


def test_our_datagrams_are_adots_format_cut_to_fit(tmp_path: Path) -> None:
    """Each of our datagrams is what ADOT's ``UdpExporter.send_data(data, "T1S")`` sends for
    the same protobuf bytes (ADOT sends them again here, byte for byte compared), and
    each fits one IPv4 UDP datagram (65,507 bytes), where ADOT's 10-span batches of
    these 4 KB spans would not be cut (``OTLPUdpSpanExporter.export`` has no size check)."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    exporter = XRayOtlpUdpExporter(receiver.getsockname())
    spans = _our_spans(40)
    assert exporter.export_before(spans, Deadline.within_ms(1000)) is ExportOutcome.SENT
    ours = [receiver.recv(70_000) for _ in range(exporter.sent_datagrams)]
    assert len(ours) >= 3 and all(len(d) <= 65_507 for d in ours)
    payloads = [base64.b64decode(d[33:]).hex() for d in ours]
    _adot(
        f"""
from amazon.opentelemetry.distro.otlp_udp_exporter import UdpExporter
udp = UdpExporter(endpoint="127.0.0.1:{receiver.getsockname()[1]}")
for payload in json.loads({json.dumps(json.dumps(payloads))}):
    udp.send_data(data=bytes.fromhex(payload), signal_format_prefix="T1S")
""",
        tmp_path,
    )
    adots = [receiver.recv(70_000) for _ in ours]
    receiver.close()
    assert adots == ours
    # And the stand-in daemon reads all 41 spans from them.
    with XRayDaemon() as daemon:
        sender = XRayOtlpUdpExporter(daemon.address)
        sender.export_before(spans, Deadline.within_ms(1000))
        daemon.wait_idle(quiet_seconds=0.2)
        assert daemon.rejected == [] and len(daemon.take()) == 41


#: Spans as otel-xray's instrumentations (botocore, requests/urllib3, databases) and
#: hand-made ones write them; each compared with ADOT's own generator.
SIGNAL_SPANS = [
    ("orders", "SERVER", None, {}, "orders"),
    ("orders", "INTERNAL", "remote", {}, "orders"),
    ("GET", "SERVER", None, {"http.method": "GET", "http.target": "/orders/12"}, "api"),
    (
        "DynamoDB.PutItem",
        "CLIENT",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": "PutItem",
            "aws.dynamodb.table_names": ["orders|eu^1"],
        },
        "orders",
    ),
    (
        "SQS.SendMessage",
        "PRODUCER",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "SQS",
            "rpc.method": "SendMessage",
            "aws.sqs.queue.url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
        },
        "orders",
    ),
    (
        "S3.PutObject",
        "CLIENT",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "S3",
            "rpc.method": "PutObject",
            "aws.s3.bucket": "receipts",
        },
        "orders",
    ),
    (
        "SNS.Publish",
        "PRODUCER",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "SNS",
            "rpc.method": "Publish",
            "aws.sns.topic.arn": "arn:aws:sns:us-east-1:123456789012:order-events",
        },
        "orders",
    ),
    (
        "SFN.StartExecution",
        "CLIENT",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "SFN",
            "rpc.method": "StartExecution",
            "aws.step_functions.state_machine.arn": (
                "arn:aws:states:us-east-1:123456789012:stateMachine:fulfil"
            ),
        },
        "orders",
    ),
    (
        "Lambda.Invoke",
        "CLIENT",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "Lambda",
            "rpc.method": "Invoke",
            "aws.lambda.function.name": "pricing",
        },
        "orders",
    ),
    (
        "Lambda.GetFunction",
        "CLIENT",
        "local",
        {
            "rpc.system": "aws-api",
            "rpc.service": "Lambda",
            "rpc.method": "GetFunction",
            "aws.lambda.function.name": "pricing",
        },
        "orders",
    ),
    (
        "SELECT",
        "CLIENT",
        "local",
        {
            "db.system": "postgresql",
            "db.name": "shop",
            "db.operation": "SELECT",
            "server.address": "db.internal",
            "server.port": 5432,
        },
        "orders",
    ),
    (
        "query",
        "CLIENT",
        "local",
        {"db.system": "redis", "db.connection_string": "redis://cache:6379/0"},
        "orders",
    ),
    (
        "GET",
        "CLIENT",
        "local",
        {"http.method": "GET", "http.url": "https://pay.example.com/charge/9?x=1"},
        "orders",
    ),
    (
        "GET",
        "CLIENT",
        "local",
        {
            "http.request.method": "GET",
            "url.full": "https://pay.example.com/charge",
            "peer.service": "pay.example.com",
        },
        "orders",
    ),
    ("call", "CLIENT", "local", {"net.peer.name": "inventory", "net.peer.port": 8080}, "orders"),
    (
        "send",
        "PRODUCER",
        "local",
        {"messaging.system": "kafka", "messaging.operation": "publish"},
        "orders",
    ),
    ("invoke", "CLIENT", "local", {"faas.invoked_name": "tax", "faas.trigger": "http"}, "orders"),
    (
        "x",
        "CLIENT",
        "local",
        {
            "aws.remote.service": "Billing",
            "aws.remote.operation": "Charge",
            "peer.service": "ignored",
        },
        "unknown_service:python",
    ),
    (
        "process",
        "CONSUMER",
        "remote",
        {"messaging.system": "AmazonSQS", "messaging.operation": "process"},
        "worker",
    ),
]
SIGNAL_KEYS = (
    "aws.local.service",
    "aws.local.operation",
    "aws.remote.service",
    "aws.remote.operation",
    "aws.remote.resource.type",
    "aws.remote.resource.identifier",
    "aws.span.kind",
)


def _signal_span(spec: tuple) -> ReadableSpan:  # type: ignore[type-arg]
    name, kind, parent, attributes, service = spec
    parent_context = None
    if parent is not None:
        parent_context = SpanContext(7, 8, is_remote=parent == "remote")
    return ReadableSpan(
        name=name,
        context=SpanContext(7, 9, False),
        parent=parent_context,
        kind=SpanKind[kind],
        attributes=attributes,
        resource=Resource({"service.name": service}),
        instrumentation_scope=InstrumentationScope("otel_xray"),
    )


@pytest.mark.parametrize("function", ["checkout", None])
def test_application_signals_attributes_are_adots(tmp_path: Path, function: str | None) -> None:
    """Our ``application_signals`` against ADOT's ``_AwsMetricAttributeGenerator.
    generate_metric_attributes_dict_from_span`` (``_aws_metric_attribute_generator.py``;
    its dependency attributes where it makes both, as ``AwsMetricAttributesSpanExporter``
    puts on a span), run by ADOT itself on the same spans, on Lambda and off it."""
    out = _adot(
        f"""
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from amazon.opentelemetry.distro._aws_metric_attribute_generator import (
    _AwsMetricAttributeGenerator,
)
results = []
for name, kind, parent, attributes, service in json.loads({json.dumps(json.dumps(SIGNAL_SPANS))}):
    parent_context = SpanContext(7, 8, is_remote=parent == "remote") if parent else None
    resource = Resource({{"service.name": service}})
    span = ReadableSpan(name=name, context=SpanContext(7, 9, False), parent=parent_context,
        kind=SpanKind[kind], attributes=attributes, resource=resource,
        instrumentation_scope=InstrumentationScope("otel_xray"))
    made = _AwsMetricAttributeGenerator().generate_metric_attributes_dict_from_span(span, resource)
    chosen = made.get("Dependency") or made.get("Service") or {{}}
    results.append({{k: v for k, v in chosen.items()}})
print(json.dumps(results))
""",
        tmp_path,
        **({"AWS_LAMBDA_FUNCTION_NAME": function} if function else {}),
    )
    theirs = json.loads(out.splitlines()[-1])
    for spec, expected in zip(SIGNAL_SPANS, theirs, strict=True):
        ours = application_signals(_signal_span(spec), function)
        want = {k: v for k, v in expected.items() if k in SIGNAL_KEYS}
        if spec[1] in ("CLIENT", "PRODUCER", "CONSUMER") and spec[2] == "local":
            # ADOT's AttributePropagatingSpanProcessor gives egress spans the local root's
            # operation (no such processor in the generator alone): ours is the function's.
            want.pop("aws.local.operation", None)
            ours.pop("aws.local.operation", None)
        assert ours == want, spec
