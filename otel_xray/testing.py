"""Helpers for testing code traced by otel-xray, in-process (not shipped in the layer).

:class:`XRayCapture` (and the ``xray`` pytest fixture) runs a handler as Lambda
would, with tracing configured as in the layer and the AWS SDK and HTTP clients
instrumented, and gives back what X-Ray would hold: the segment documents
(Lambda's own two segments included), the assembled trace and the service graph.
To use the fixture, add ``pytest_plugins = ["otel_xray.testing"]`` to a conftest.

Example (a pytest test of a user's handler)::

    pytest_plugins = ["otel_xray.testing"]

    def test_orders_reach_dynamodb(xray):
        result = xray.invoke(app.handler, {"body": "{}"})
        assert result.error is None
        # One node per table, named after it, as GetServiceGraph names it.
        assert ("my-function (AWS::Lambda::Function)", "orders (AWS::DynamoDB::Table)") in (
            xray.service_graph().edge_labels()
        )

:func:`capture_lambda_spans` is the lower-level form: the OpenTelemetry spans.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray.devtools import require_local_extra

try:
    from awslambdaric.bootstrap import make_xray_fault
except ModuleNotFoundError:  # a base install: say which extra brings it
    require_local_extra("otel_xray.testing (the xray fixture)")
    raise

from otel_xray import configurator
from otel_xray.awslambda import error_cause
from otel_xray.awslambda.handler import lambda_handler
from otel_xray.configurator import configure
from otel_xray.devtools.functions.lambda_segments import lambda_segments, sqs_links
from otel_xray.devtools.functions.runtime_api import new_trace_ids
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.export import Deadline, ExportOutcome
from otel_xray.xray.segment import span_to_document

if TYPE_CHECKING:
    from otel_xray.devtools.traces.store import Trace

LAMBDA_ENV: dict[str, str] = {
    "AWS_LAMBDA_FUNCTION_NAME": "my-function",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/my-function",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
}
ACCOUNT_ID = "123456789012"


class LambdaContext:
    """A stand-in for the ``context`` Lambda passes a handler (what handlers commonly read)."""

    def __init__(
        self,
        function_name: str = "my-function",
        remaining_ms: int = 30_000,
        request_id: str | None = None,
        memory_limit_in_mb: int = 512,
        tenant_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        #: A tenant-isolated function's tenant (awslambdaric 4.x sets it; None otherwise).
        self.tenant_id = tenant_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/25/[$LATEST]0123456789abcdef"
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class InMemoryExporter:
    """Keeps exported spans in ``spans``; ``outcome`` sets what each export returns."""

    def __init__(self, outcome: ExportOutcome = ExportOutcome.SENT) -> None:
        self.spans: list[ReadableSpan] = []
        self.outcome = outcome
        self.calls = 0
        self._lock = threading.Lock()

    def export_before(self, spans: Sequence[ReadableSpan], deadline: Deadline) -> ExportOutcome:
        with self._lock:
            self.calls += 1
            if self.outcome is ExportOutcome.SENT:
                self.spans.extend(spans)
        return self.outcome

    def reopen(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


@contextmanager
def capture_lambda_spans(
    environ: Mapping[str, str] | None = None, instrument: bool = False
) -> Iterator[list[ReadableSpan]]:
    """Configure tracing as in Lambda with an in-memory exporter; yields the exported spans.

    Spans appear in the list when an invocation (or ``Tracing.flush``) sends them.
    """
    exporter = InMemoryExporter()
    env = {**LAMBDA_ENV, **(environ or {})}
    tracing = configure(environ=env, exporter=exporter, instrument=instrument)
    try:
        yield exporter.spans
    finally:
        if tracing is not None:
            tracing.flush(Deadline.within_ms(1000))


@dataclass
class CapturedInvocation:
    """One invocation run by :meth:`XRayCapture.invoke`."""

    root: str
    response: Any = None
    error: BaseException | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)


def _runtime_cause(error: BaseException) -> dict[str, Any]:
    """The X-Ray cause the Lambda runtime client would send for ``error``, redacted as the
    layer redacts it (``otel_xray.awslambda.error_cause``)."""
    frames = [
        (frame.filename, frame.lineno, frame.name, frame.line)
        for frame in traceback.extract_tb(error.__traceback__)
    ]
    fault: dict[str, Any] = make_xray_fault(type(error).__name__, str(error), os.getcwd(), frames)
    tracing = configurator.current()
    if tracing is not None and tracing.redactor is not None:
        fault = error_cause.redact_fault(fault, tracing.redactor)
    return fault


class XRayCapture:
    """In-process X-Ray for tests: invoke handlers as Lambda does, read traces and the map.

    Each :meth:`invoke` gets a fresh ``_X_AMZN_TRACE_ID`` (as Lambda gives it), runs
    the handler through otel-xray's wrapper, and records Lambda's ``AWS::Lambda`` and
    ``AWS::Lambda::Function`` segments (``Initialization`` on the first invoke,
    ``Invocation`` and ``Overhead`` on each, as ``otel-xray invoke`` writes them) next
    to the function's own documents, so the trace and the service graph are those
    X-Ray would show.
    """

    def __init__(
        self,
        function_name: str = "my-function",
        environ: Mapping[str, str] | None = None,
        instrument: bool = True,
    ) -> None:
        self.function_name = function_name
        # Strict: a misused API (a bad annotation) fails the test instead of logging.
        self.environ = {
            **LAMBDA_ENV,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "OTEL_XRAY_STRICT": "true",
            **(environ or {}),
        }
        self.instrument = instrument
        self.documents: list[dict[str, Any]] = []
        self._exporter = InMemoryExporter()
        #: When the sandbox's init began; the first invoke ends it (Initialization).
        self._init_started: float | None = None

    def __enter__(self) -> XRayCapture:
        configurator.reset()  # a fresh process: the next invoke is a cold start
        self._init_started = time.time()
        configurator.configure(
            environ=self.environ, exporter=self._exporter, instrument=self.instrument
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        configurator.reset()

    def invoke(
        self, handler: Callable[..., Any], event: Any, context: Any = None, *, sampled: bool = True
    ) -> CapturedInvocation:
        """Run ``handler(event, context)`` as one traced invocation; never raises its error.

        ``sampled=False`` gives the function ``Sampled=0``, as Lambda does when its own
        sampler says no or when active tracing is off; Lambda then sends no segments.
        """

        context = context or LambdaContext(self.function_name)
        root, parent = new_trace_ids()
        captured = CapturedInvocation(root)
        # The variables Lambda sets, for the handler and the libraries it calls
        # (botocore copies _X_AMZN_TRACE_ID into requests when it sees a function name).
        lambda_env = {
            **self.environ,
            "_X_AMZN_TRACE_ID": f"Root={root};Parent={parent};Sampled={int(sampled)}",
        }
        previous = {key: os.environ.get(key) for key in lambda_env}
        os.environ.update(lambda_env)
        seen = len(self._exporter.spans)
        received = time.time()
        try:
            captured.response = lambda_handler(handler)(event, context)
        except Exception as raised:
            captured.error = raised
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        finished = time.time()
        error = captured.error
        init_started, self._init_started = self._init_started, None
        exported = [span_to_document(span) for span in self._exporter.spans[seen:]]
        # Overhead: from the response to the runtime's next poll, as ``otel-xray invoke``
        # records it (``functions/lambda_segments.py``). In-process, the runtime client's
        # work after the response (posting it, asking for the next event) is this
        # bookkeeping: short, as in a warm sandbox whose handler flushed before returning.
        next_poll = time.time()
        lambdas_own = lambda_segments(
            function_name=self.function_name,
            function_arn=getattr(context, "invoked_function_arn", ""),
            request_id=str(getattr(context, "aws_request_id", "")),
            root=root,
            parent=parent,
            received=received,
            started=received,
            finished=finished,
            init_started=init_started,
            init_finished=received,
            next_poll=next_poll,
            error={"errorType": type(error).__name__, "errorMessage": str(error)}
            if error is not None
            else None,
            xray_cause=_runtime_cause(error) if error is not None else None,
            links=sqs_links(event),
        )
        captured.documents = (lambdas_own if sampled else []) + exported
        self.documents.extend(captured.documents)
        return captured

    def store(self) -> TraceStore:
        """Every captured document, assembled as X-Ray would (fresh each call)."""

        return TraceStore(self.documents)

    def trace(self, root: str) -> Trace:
        return self.store().trace(root)

    def service_graph(self) -> ServiceGraph:
        return ServiceGraph.build(self.store())


try:
    import pytest
except ImportError:  # pytest is only needed for the fixture
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def xray() -> Iterator[XRayCapture]:
        """An :class:`XRayCapture` for the test's function, torn down after it."""
        with XRayCapture() as capture:
            yield capture
