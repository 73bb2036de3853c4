"""The local daemon reads what the xray-udp exporter sends, and rejects what the real one would."""

from __future__ import annotations

import socket

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_xray.devtools.components.daemon import XRayDaemon, parse_datagram
from otel_xray.export import ExportOutcome
from otel_xray.export.xray_udp import XRayUdpExporter
from otel_xray.xray import DAEMON_HEADER


def test_the_udp_exporter_and_the_daemon_agree() -> None:
    tracer = TracerProvider().get_tracer("t")
    spans = []
    for name in ("one", "two", "three"):
        span = tracer.start_span(name)
        span.end()
        spans.append(span)
    with XRayDaemon() as daemon:
        exporter = XRayUdpExporter(daemon.address)
        assert exporter.export_before(spans, deadline=0) is ExportOutcome.SENT  # type: ignore[arg-type]
        daemon.wait_idle(quiet_seconds=0.1)
        documents = daemon.take()
    assert sorted(d["name"] for d in documents) == ["one", "three", "two"]
    assert daemon.rejected == []
    assert daemon.environment_value.startswith("udp:127.0.0.1:")


def test_what_the_daemon_would_drop_is_counted_with_the_reason() -> None:
    with XRayDaemon() as daemon, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in (
            b'{"id": "no header"}',
            b'{"format":"json","version":2}\n{"id":"a"}',
            DAEMON_HEADER + b"[1, 2]",
            DAEMON_HEADER + b'{"id": "ok"}',
        ):
            sock.sendto(datagram, daemon.address)
        daemon.wait_idle(quiet_seconds=0.1)
        assert daemon.take() == [{"id": "ok"}]
        assert len(daemon.rejected) == 3


def test_an_oversized_datagram_is_what_the_real_daemon_truncates() -> None:
    document, reason = parse_datagram(DAEMON_HEADER + b'{"x":"' + b"a" * 70_000 + b'"}')
    assert document is None and "64 KB" in reason


@pytest.mark.parametrize("name", ["xray-udp", "xray-otlp-udp"])
def test_any_configurator_resolves_both_daemon_exporters_by_name(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's own configurator (opentelemetry-sdk, ``_import_exporters``, which
    ``opentelemetry-distro`` and ``_OTelSDKConfigurator`` use) resolves
    ``OTEL_TRACES_EXPORTER`` through the ``opentelemetry_traces_exporter`` entry points
    of the installed package and builds the class with no arguments. Both wires to the
    daemon must resolve that way and reach the daemon named by AWS_XRAY_DAEMON_ADDRESS."""
    from opentelemetry.sdk._configuration import _import_exporters  # noqa: PLC0415

    [exporter_class], _, _ = (list(found.values()) for found in _import_exporters([name], [], []))
    with XRayDaemon() as daemon:
        monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.environment_value)
        exporter = exporter_class()
        span = TracerProvider().get_tracer("t").start_span("resolved by name")
        span.end()
        assert exporter.export([span]) is SpanExportResult.SUCCESS
        daemon.wait_idle(quiet_seconds=0.1)
        documents = daemon.take()
        exporter.shutdown()
    assert [d["name"] for d in documents] == ["resolved by name"]
