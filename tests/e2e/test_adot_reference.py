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
from opentelemetry.trace import SpanKind

from otel_xray.devtools.daemon import XRayDaemon
from otel_xray.devtools.xray_api import XRayAPI
from otel_xray.export import Deadline, ExportOutcome
from otel_xray.export.xray_otlp_udp import XRayOtlpUdpExporter
from otel_xray.ids import XRayIdGenerator
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
