"""Build the process's tracing pipeline from :class:`~otel_xray.settings.Settings`.

Deliberately not a fork of the SDK's ``_initialize_components`` (which resolves
every component through entry points): the components are few and known, so they
are constructed directly, and each is imported only when the settings use it. The
xray-udp path therefore never imports protobuf, and nothing here imports
``otel_xray.local``.

Example:
    >>> import otel_xray
    >>> tracing = otel_xray.configure(environ={"OTEL_TRACES_EXPORTER": "none"})
    >>> tracing.settings.exporter
    'none'
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from otel_xray.export import BoundedExporter
from otel_xray.settings import Settings

logger = logging.getLogger("otel_xray")


@dataclass
class Tracing:
    """The configured pipeline; one per process (see :func:`configure`)."""

    settings: Settings
    provider: TracerProvider
    #: The exporting processor (behind the PII redactor unless that is turned off);
    #: None when the exporter is ``none``.
    processor: SpanProcessor | None
    instrumented: list[str] = field(default_factory=list)

    def tracer(self) -> trace.Tracer:
        """The tracer of otel-xray's own spans (the SDK caches it per scope)."""
        from otel_xray.version import __version__

        return self.provider.get_tracer("otel_xray", __version__)

    def flush(self, timeout_seconds: float) -> bool:
        """Send buffered spans within ``timeout_seconds``; never raises."""
        if self.processor is None:
            return True
        try:
            return self.processor.force_flush(int(timeout_seconds * 1000))
        except Exception:
            logger.exception("otel-xray: flush failed")
            return False

    def shutdown(self) -> None:
        from otel_xray.instrumentation import uninstrument

        uninstrument(self.instrumented)
        self.provider.shutdown()


_tracing: Tracing | None = None
#: Set once configure() has run, so a disabled or failed set-up is not retried
#: (and its errors not logged again) on every invocation.
_attempted = False
_lock = threading.Lock()


def configure(
    environ: Mapping[str, str] | None = None,
    *,
    exporter: BoundedExporter | None = None,
    set_global: bool = True,
    instrument: bool = True,
) -> Tracing | None:
    """Set up tracing once for this process and return it (None when disabled).

    Args:
        environ: variables to read instead of ``os.environ``.
        exporter: an exporter to use instead of the one the settings name (tests).
        set_global: register the provider and propagator as OpenTelemetry's globals.
        instrument: load the instrumentations the settings name.

    A second call returns the first result, even when that was None (disabled, or
    set-up failed); passing ``environ`` or ``exporter`` rebuilds the pipeline (the
    way tests swap in an in-memory exporter).
    Never raises: a failure logs and returns None, and the function runs untraced.
    """
    global _tracing, _attempted
    with _lock:
        if _attempted and exporter is None and environ is None:
            return _tracing
        _attempted = True
        try:
            if _tracing is not None:
                _tracing.shutdown()
                _tracing = None
            _tracing = _build(environ, exporter, set_global, instrument)
        except Exception:
            logger.exception("otel-xray: tracing set-up failed; running without tracing")
            _tracing = None
        return _tracing


def reset() -> None:
    """Shut down the pipeline and forget it, so the next :func:`configure` starts afresh (tests)."""
    global _tracing, _attempted
    with _lock:
        if _tracing is not None:
            _tracing.shutdown()
        _tracing = None
        _attempted = False


def current() -> Tracing | None:
    """The pipeline :func:`configure` built, if any."""
    return _tracing


def _build(
    environ: Mapping[str, str] | None,
    exporter: BoundedExporter | None,
    set_global: bool,
    instrument: bool,
) -> Tracing | None:
    env = os.environ if environ is None else environ
    settings = Settings.from_env(env)
    if settings.sdk_disabled:
        return None

    from otel_xray.ids import XRayIdGenerator
    from otel_xray.propagation import build_propagator
    from otel_xray.resource import build_resource
    from otel_xray.sampling import build_sampler

    provider = TracerProvider(
        resource=build_resource(settings, env),
        id_generator=XRayIdGenerator(),
        sampler=build_sampler(settings),
    )
    processor = _build_processor(settings, exporter)
    if processor is not None and settings.pii.enabled:
        from otel_xray.pii import RedactingSpanProcessor, Redactor

        processor = RedactingSpanProcessor(processor, Redactor(settings.pii))
    if processor is not None:
        provider.add_span_processor(processor)
    tracing = Tracing(settings=settings, provider=provider, processor=processor)
    if set_global:
        _set_global_provider(provider)
        propagate.set_global_textmap(build_propagator(settings.propagators))
    if instrument:
        from otel_xray.instrumentation import instrument as load_instrumentations

        tracing.instrumented = load_instrumentations(settings.instrumentations, provider)
    return tracing


def _build_processor(settings: Settings, exporter: BoundedExporter | None) -> SpanProcessor | None:
    """Lambda: flushed at the end of each invocation. Elsewhere: the SDK's batch worker."""
    if exporter is None and settings.exporter == "none":
        return None
    if settings.in_lambda:
        from otel_xray.awslambda.flush import InvocationSpanProcessor

        return InvocationSpanProcessor(
            exporter or _build_exporter(settings), settings.max_queue_size
        )

    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    if exporter is None and settings.exporter == "otlp":
        # A long-running process can afford upstream's retrying exporter.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        upstream: SpanExporter = OTLPSpanExporter(
            endpoint=settings.otlp_endpoint, headers=settings.otlp_headers
        )
        return BatchSpanProcessor(upstream)
    from otel_xray.export import SpanExporterAdapter

    adapted = SpanExporterAdapter(exporter or _build_exporter(settings), settings.flush_timeout_ms)
    return BatchSpanProcessor(adapted)


def _build_exporter(settings: Settings) -> BoundedExporter:
    if settings.exporter == "xray-udp":
        from otel_xray.xray.udp import XRayUdpExporter

        return XRayUdpExporter(settings.daemon_udp_address)
    if settings.exporter == "console":
        from otel_xray.export import ConsoleExporter

        return ConsoleExporter()
    from otel_xray.otlp import LambdaOTLPExporter

    return LambdaOTLPExporter(settings.otlp_endpoint, settings.otlp_headers)


def _set_global_provider(provider: TracerProvider) -> None:
    # The API refuses a second global provider; a re-configure (tests) replaces it.
    once = getattr(trace, "_TRACER_PROVIDER_SET_ONCE", None)
    if once is not None and getattr(once, "_done", False):
        once._done = False
    trace.set_tracer_provider(provider)
