"""otel-xray's exporters as the SDK's ``SpanExporter`` classes, for any configurator.

The SDK's own configurator (``opentelemetry-distro``'s, or ``_OTelSDKConfigurator``)
resolves each name in ``OTEL_TRACES_EXPORTER`` through the ``opentelemetry_traces_exporter``
entry points and constructs the class with no arguments (opentelemetry-sdk 1.45,
``sdk/_configuration/__init__.py`` ``_import_exporters`` and ``_init_tracing``). So the
classes here read their address from the same :class:`~otel_xray.settings.Settings` as
otel-xray's configurator, and ``OTEL_TRACES_EXPORTER=xray-udp`` means the same thing
whichever configurator runs. otel-xray's own configurator does not come through here: it
constructs its exporters directly (:mod:`otel_xray.configurator`).

Example:
    >>> import os
    >>> os.environ["AWS_XRAY_DAEMON_ADDRESS"] = "127.0.0.1:2999"
    >>> XRayUdpSpanExporter().exporter.address
    ('127.0.0.1', 2999)
    >>> XRayOtlpUdpSpanExporter().exporter.address
    ('127.0.0.1', 2999)
    >>> del os.environ["AWS_XRAY_DAEMON_ADDRESS"]
"""

from __future__ import annotations

from otel_xray.export.batch import SpanExporterAdapter
from otel_xray.export.xray_otlp_udp import XRayOtlpUdpExporter
from otel_xray.export.xray_udp import XRayUdpExporter
from otel_xray.settings import Settings


class XRayUdpSpanExporter(SpanExporterAdapter):
    """``xray-udp``: segment documents to ``AWS_XRAY_DAEMON_ADDRESS`` (127.0.0.1:2000)."""

    exporter: XRayUdpExporter

    def __init__(self) -> None:
        settings = Settings.from_env()
        super().__init__(XRayUdpExporter(settings.daemon_udp_address), settings.flush_timeout_ms)


class XRayOtlpUdpSpanExporter(SpanExporterAdapter):
    """``xray-otlp-udp``: OTLP datagrams (``T1S``/``T1U``) to the same daemon address."""

    exporter: XRayOtlpUdpExporter

    def __init__(self) -> None:
        settings = Settings.from_env()
        exporter = XRayOtlpUdpExporter(
            settings.daemon_udp_address, lambda_function=settings.lambda_env.function_name
        )
        super().__init__(exporter, settings.flush_timeout_ms)
