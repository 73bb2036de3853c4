"""Build the process's tracing pipeline from :class:`~otel_xray.settings.Settings`, and
own everything otel-xray keeps for the life of the process.

Deliberately not a fork of the SDK's ``_initialize_components`` (which resolves
every component through entry points): the components are few and known, so they
are constructed directly, and each is imported only when the settings use it. The
xray-udp path therefore never imports protobuf, and nothing here imports
``otel_xray.devtools``.

Process state has one owner, :class:`ProcessState`: the pipeline, whether set-up
was attempted, the cold-start flag, the annotation ledger and the once-only log
lines. :func:`reset` replaces it whole (tests); :func:`reset_inherited` is what a
forked child or a restored snapshot runs, keeping the configuration but nothing
that belongs to the parent process.

Example:
    >>> import otel_xray
    >>> tracing = otel_xray.configure(environ={"OTEL_TRACES_EXPORTER": "none"})
    >>> tracing.settings.exporter
    'none'
    >>> state().tracing is tracing
    True
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider

from otel_xray.export import BoundedExporter, Deadline
from otel_xray.ids import XRayIdGenerator
from otel_xray.instrumentation import instrument as load_instrumentations
from otel_xray.instrumentation import uninstrument
from otel_xray.instrumentation.hooks import cancel, when_imported
from otel_xray.propagation import build_propagator
from otel_xray.resource import build_resource
from otel_xray.sampling import build_sampler
from otel_xray.sampling import forget_inherited as forget_inherited_sampling
from otel_xray.settings import XRAY_OTLP_ENDPOINT, Settings
from otel_xray.version import __version__

if TYPE_CHECKING:
    from otel_xray.export.batch import BatchExportProcessor
    from otel_xray.export.processor import InvocationSpanProcessor
    from otel_xray.pii.processor import RedactingSpanProcessor
    from otel_xray.pii.redactor import Redactor

    #: The processor that exports: Lambda's invocation processor, or the batch worker.
    ExportingProcessor = InvocationSpanProcessor | BatchExportProcessor

logger = logging.getLogger("otel_xray")


# Plain classes, not dataclasses: a dataclass compiles its methods from source when
# its module is imported (~0.4 ms each at a cold start; see otel_xray.settings).


class Tracing:
    """The configured pipeline; one per process (see :func:`configure`)."""

    def __init__(
        self,
        settings: Settings,
        provider: TracerProvider,
        exporting: ExportingProcessor | None,
        redacting: RedactingSpanProcessor | None = None,
    ) -> None:
        self.settings = settings
        self.provider = provider
        #: The processor that exports (typed handle for flushes and its statistics); None
        #: when the exporter is ``none``.
        self.exporting = exporting
        #: The PII redactor in front of ``exporting``; None with redaction off.
        self.redacting = redacting
        #: What the provider calls: ``exporting`` behind the PII redactor, unless that is off.
        self.processor: SpanProcessor | None = redacting if redacting is not None else exporting
        #: The instrumentations armed (see :func:`otel_xray.instrumentation.instrument`).
        self.instrumented: list[str] = []
        #: The X-Ray SDK bridge is armed (:mod:`otel_xray.bridge.xray_sdk`).
        self.bridged = False
        self._tracer: trace.Tracer | None = None

    @property
    def redactor(self) -> Redactor | None:
        """The redactor of every exported value (None with redaction off), made on first
        use; also what the Lambda integration gives the runtime's X-Ray error cause."""
        return None if self.redacting is None else self.redacting.redactor

    def tracer(self) -> trace.Tracer:
        """The tracer of otel-xray's own spans, made once: the SDK's ``get_tracer`` looks
        up its cache only after building two scope objects and resetting a warnings
        filter, ~15 µs of every invocation (and it resets the warnings cache)."""
        if self._tracer is None:
            self._tracer = self.provider.get_tracer("otel_xray", __version__)
        return self._tracer

    def flush(self, deadline: Deadline) -> bool:
        """Send buffered spans by ``deadline``; never raises."""
        if self.exporting is None:
            return True
        try:
            return self.exporting.flush(deadline)
        except Exception:
            logger.exception("otel-xray: flush failed")
            return False

    def shutdown(self) -> None:
        uninstrument(self.instrumented)
        if self.bridged:
            _disarm_bridge()
        self.provider.shutdown()


class _TracerProvider(TracerProvider):
    """The SDK's provider without its at-fork resource re-detection.

    opentelemetry-sdk 1.45's ``TracerProvider._handle_fork`` runs in every forked child:
    it scans the resource-detector entry points and runs them on a
    ``ThreadPoolExecutor``. Where ``concurrent.futures.thread`` is first imported after
    the provider is made (boto3's s3transfer does, when a handler module imports boto3),
    that module's at-fork hook, which re-creates its global lock, runs after the
    provider's, and the child blocks for ever in ``submit``: found with the SnapStart
    emulation, whose restores are forks; gunicorn ``--preload`` and multiprocessing's
    fork start method fork the same way. otel-xray builds its resource itself and uses
    no entry-point detectors (no entry-point scan is a cold-start rule), so a child only
    renews the tracers' lock.
    """

    def _handle_fork(self) -> None:
        self._tracers_lock = threading.Lock()


#: How many traces the annotation ledger remembers (their keys count toward X-Ray's 50).
TRACES_REMEMBERED = 256


class AnnotationLedger:
    """What ``otel_xray.annotate`` did in this process (see :mod:`otel_xray.annotations`)."""

    def __init__(self) -> None:
        self.written = 0
        #: Rejected annotations by rule.
        self.rejected: dict[str, int] = {}
        #: Annotation keys per trace id, newest last, at most :data:`TRACES_REMEMBERED`
        #: traces.
        self.keys_by_trace: OrderedDict[int, set[str]] = OrderedDict()
        #: Annotation keys code set itself that otel-xray would otherwise set
        #: (``ColdStart``, ``Service``), per trace id, as many traces as above.
        self.claimed_by_trace: OrderedDict[int, set[str]] = OrderedDict()
        self.lock = threading.Lock()


class ProcessState:
    """Everything otel-xray keeps between invocations; one object, replaced by :func:`reset`."""

    def __init__(self) -> None:
        self.tracing: Tracing | None = None
        #: configure() has run: a disabled or failed set-up is not retried on every
        #: invocation.
        self.attempted = False
        #: The next invocation is this sandbox's first.
        self.cold_start = True
        self.annotations = AnnotationLedger()
        #: Keys of warnings already logged once (a rule, a policy).
        self.logged_once: set[str] = set()

    def take_cold_start(self) -> bool:
        """True for the first invocation of the process only."""
        first, self.cold_start = self.cold_start, False
        return first

    def log_once(self, key: str) -> bool:
        """True the first time ``key`` is seen: the caller logs then, and never again."""
        if key in self.logged_once:
            return False
        self.logged_once.add(key)
        return True


_state = ProcessState()
_lock = threading.Lock()


def state() -> ProcessState:
    """This process's otel-xray state (tests read it; the API and the handler use it)."""
    return _state


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
    with _lock:
        if _state.attempted and exporter is None and environ is None:
            return _state.tracing
        _state.attempted = True
        try:
            if _state.tracing is not None:
                _state.tracing.shutdown()
                _state.tracing = None
            _state.tracing = _build(environ, exporter, set_global, instrument)
        except Exception:
            logger.exception("otel-xray: tracing set-up failed; running without tracing")
            _state.tracing = None
        return _state.tracing


def reset() -> None:
    """Shut the pipeline down and start over with a fresh :class:`ProcessState` (tests).

    Nothing of the previous configuration stays reachable: the next
    :func:`configure` reads its settings again, the next invocation is a cold start,
    and the annotation ledger and once-only logs are empty.
    """
    global _state
    with _lock:
        if _state.tracing is not None:
            _state.tracing.shutdown()
        _state = ProcessState()


def reset_inherited() -> None:
    """In a forked child or a restored snapshot: keep the configuration, drop what the
    parent owns (its buffered spans, its socket or kept-alive connection, its sampling
    client id and the quota X-Ray granted that id).

    Ids (:mod:`otel_xray.ids`) and sampling draws come from ``os.urandom`` and have no
    state to renew; what is renewed here is state a copy must not share.
    """
    tracing = _state.tracing
    if tracing is None:
        return
    if tracing.exporting is not None:
        tracing.exporting.forget_inherited()
    sampler = getattr(tracing.provider, "sampler", None)
    if sampler is not None:
        forget_inherited_sampling(sampler)


def after_restore() -> None:
    """SnapStart's after-restore hook: :func:`reset_inherited`, and the next invocation
    is a cold start. AWS counts a SnapStart cold start as Restore Duration + Duration
    (snapstart-monitoring): the first invocation of each restored sandbox, even when the
    function was invoked before the snapshot (priming)."""
    reset_inherited()
    _state.cold_start = True


def current() -> Tracing | None:
    """The pipeline :func:`configure` built, if any."""
    return _state.tracing


def _build(
    environ: Mapping[str, str] | None,
    exporter: BoundedExporter | None,
    set_global: bool,
    instrument: bool,
) -> Tracing | None:
    settings = Settings.from_env(os.environ if environ is None else environ)
    if settings.sdk_disabled:
        return None
    redacting_on = settings.pii.enabled
    provider = _TracerProvider(
        resource=build_resource(settings),
        id_generator=XRayIdGenerator(),
        sampler=build_sampler(settings),
        # With redaction on, the SDK keeps whole values: a value cut before redaction
        # could keep part of an email or card. The length limit is applied after it.
        span_limits=SpanLimits(
            max_attribute_length=SpanLimits.UNSET, max_span_attribute_length=SpanLimits.UNSET
        )
        if redacting_on
        else None,
    )
    exporting = _build_processor(settings, exporter)
    redacting = None
    if exporting is not None and redacting_on:
        # Cold start: imported only with redaction on; the redactor (the detectors and
        # their patterns) is made on first use, on Lambda at the first flush.
        from otel_xray.pii.processor import RedactingSpanProcessor  # noqa: PLC0415

        redacting = RedactingSpanProcessor(
            exporting,
            functools.partial(_make_redactor, settings),
            value_length_limit=settings.attribute_value_length_limit,
        )
    tracing = Tracing(settings, provider, exporting, redacting)
    if tracing.processor is not None:
        provider.add_span_processor(tracing.processor)
    if set_global:
        _set_global_provider(provider)
        propagate.set_global_textmap(build_propagator(settings.propagators))
    if instrument:
        tracing.instrumented = load_instrumentations(settings.instrumentations, provider)
        if settings.xray_sdk_bridge:
            when_imported(XRAY_SDK_TRIGGER, functools.partial(_arm_bridge, settings.in_lambda))
            tracing.bridged = True
    if settings.lambda_env.initialization_type == "snap-start":
        _register_after_restore()
    if settings.in_lambda and settings.lambda_env.never_frozen and exporting is not None:
        flush_on_sigterm(tracing)
    if set_global and not settings.in_lambda:
        _shutdown_on_sigterm()
    return tracing


def _make_redactor(settings: Settings) -> Redactor:
    from otel_xray.pii.redactor import Redactor  # noqa: PLC0415

    return Redactor(settings.pii)


def flush_on_sigterm(tracing: Tracing, budget_ms: int | None = None) -> None:
    """The SIGTERM that comes at shutdown flushes what is left within
    ``OTEL_XRAY_FLUSH_TIMEOUT_MS`` (and ``budget_ms``, the grace Lambda gives), then does
    what the signal did before (the previous handler, or the default: exit). Managed
    Instances (spans wait in the background worker), and functions that export after
    the response (:mod:`otel_xray.awslambda.extension`)."""
    # Cold start: signal is imported only where this is installed.
    import signal  # noqa: PLC0415

    previous = signal.getsignal(signal.SIGTERM)
    bound = tracing.settings.flush_timeout_ms
    if budget_ms is not None:
        bound = min(bound, budget_ms)

    def on_sigterm(signum: int, frame: object) -> None:
        tracing.flush(Deadline.within_ms(bound))
        if callable(previous):
            previous(signum, frame)  # type: ignore[arg-type]
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: the runtime's own handling stays
        logger.debug("otel-xray: SIGTERM flush not installed (not the main thread)")


#: The module whose import arms the X-Ray SDK bridge, and the bridge (by name: it sits
#: above this layer, and a function that never imports the SDK never imports it).
XRAY_SDK_TRIGGER = "aws_xray_sdk.core"
_BRIDGE = "otel_xray.bridge.xray_sdk"


def _arm_bridge(in_lambda: bool, _module: object = None) -> None:
    importlib.import_module(_BRIDGE).install(in_lambda=in_lambda)


def _disarm_bridge() -> None:
    cancel(XRAY_SDK_TRIGGER)
    bridge = sys.modules.get(_BRIDGE)
    if bridge is not None:
        bridge.uninstall()


def _shutdown_on_sigterm() -> None:
    """Outside Lambda, a SIGTERM (``docker stop``, ECS stopping a task, Kubernetes) ends a
    plain Python process without running ``atexit``, so the spans still queued would be
    lost. When nobody handles SIGTERM yet (a server such as gunicorn or uvicorn installs
    its own later and exits through ``atexit``), the handler here shuts the pipeline down,
    bounded by ``OTEL_XRAY_FLUSH_TIMEOUT_MS``, then lets SIGTERM do what it would have
    done. Only from the main thread (Python's rule for ``signal.signal``)."""
    import signal  # noqa: PLC0415

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_sigterm(signum: int, frame: object) -> None:
            try:
                tracing = current()  # the pipeline of now, not of when this was installed
                if tracing is not None:
                    tracing.provider.shutdown()
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):
        logger.debug("otel-xray: no SIGTERM handler installed", exc_info=True)


def _register_after_restore() -> None:
    """SnapStart: run :func:`after_restore` after each restore (Lambda's runtime hooks)."""
    try:
        # Only a SnapStart function imports Lambda's runtime-hooks module.
        from snapshot_restore_py import (  # type: ignore[import-untyped]  # noqa: PLC0415
            register_after_restore,
        )
    except ImportError:
        logger.debug("otel-xray: no snapshot_restore_py; sockets reopen on their first error")
        return
    register_after_restore(after_restore)


def _build_processor(
    settings: Settings, exporter: BoundedExporter | None
) -> ExportingProcessor | None:
    """Lambda: flushed at the end of each invocation. Elsewhere, and on Lambda Managed
    Instances (never frozen: a background worker runs there as in any long-lived
    process), the SDK's batch worker.

    Cold start: each processor and exporter module is imported only when the settings
    use it (the local imports below), so the xray-udp path never loads protobuf
    (~40 ms with the OTLP exporter, ``python -X importtime``) and Lambda never loads
    the batch worker.
    """
    if exporter is None and settings.exporter == "none":
        return None
    if settings.in_lambda and not settings.lambda_env.never_frozen:
        from otel_xray.export.processor import InvocationSpanProcessor  # noqa: PLC0415

        if exporter is not None:
            return InvocationSpanProcessor(exporter, settings.max_queue_size)
        # Made at the first flush (after the response): the exporter's modules are not
        # imported during init.
        return InvocationSpanProcessor(
            max_queue_size=settings.max_queue_size,
            make_exporter=functools.partial(_build_exporter, settings),
        )
    from otel_xray.export.batch import BatchExportProcessor, SpanExporterAdapter  # noqa: PLC0415

    if exporter is None and settings.exporter == "otlp" and not _to_xray(settings):
        # A long-running process can afford upstream's retrying exporter (toward a
        # collector; upstream cannot sign, nor keep to X-Ray's limits).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        return BatchExportProcessor(
            OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=settings.otlp_headers),
            max_queue_size=settings.max_queue_size,
            shutdown_timeout_ms=settings.flush_timeout_ms,
        )
    adapted = SpanExporterAdapter(exporter or _build_exporter(settings), settings.flush_timeout_ms)
    return BatchExportProcessor(
        adapted,
        max_queue_size=settings.max_queue_size,
        shutdown_timeout_ms=settings.flush_timeout_ms,
    )


def _build_exporter(settings: Settings) -> BoundedExporter:
    # One exporter module per choice, imported only when chosen (see _build_processor).
    if settings.exporter == "xray-udp":
        from otel_xray.export.xray_udp import XRayUdpExporter  # noqa: PLC0415

        return XRayUdpExporter(settings.daemon_udp_address)
    if settings.exporter == "console":
        from otel_xray.export.console import ConsoleExporter  # noqa: PLC0415

        return ConsoleExporter()
    if settings.exporter == "xray-otlp-udp":
        from otel_xray.export.xray_otlp_udp import XRayOtlpUdpExporter  # noqa: PLC0415

        return XRayOtlpUdpExporter(
            settings.daemon_udp_address, lambda_function=settings.lambda_env.function_name
        )
    from otel_xray.export.otlp import (  # noqa: PLC0415
        COLLECTOR_LIMITS,
        XRAY_LIMITS,
        LambdaOTLPExporter,
    )

    return LambdaOTLPExporter(
        settings.otlp_endpoint,
        settings.otlp_headers,
        compression=settings.otlp_compression,
        signing=settings.otlp_signing,
        credentials=settings.aws_credentials,
        limits=XRAY_LIMITS if _to_xray(settings) else COLLECTOR_LIMITS,
        app_signals=_to_xray(settings),
        lambda_function=settings.lambda_env.function_name,
    )


def _to_xray(settings: Settings) -> bool:
    """OTLP goes to X-Ray itself (signed, or its endpoint with an API key)."""
    return settings.otlp_signing is not None or bool(
        XRAY_OTLP_ENDPOINT.match(settings.otlp_endpoint.lower())
    )


def _set_global_provider(provider: TracerProvider) -> None:
    # The API refuses a second global provider; a re-configure (tests) replaces it.
    once = getattr(trace, "_TRACER_PROVIDER_SET_ONCE", None)
    if once is not None and getattr(once, "_done", False):
        once._done = False
    trace.set_tracer_provider(provider)


# A forked child must not share its parent's socket, connection or buffered spans.
os.register_at_fork(after_in_child=reset_inherited)
