"""The batch worker outside a frozen Lambda (services, Lambda Managed Instances).

What the SDK does, read in opentelemetry-sdk 1.45
``opentelemetry/sdk/trace/export/__init__.py``: ``BatchSpanProcessor.__init__`` raises
``ValueError("max_export_batch_size must be less than or equal to max_queue_size")``
(``_validate_arguments``) and its export batch is 512 (or
``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``) whatever the queue; ``force_flush(timeout_millis)``
ignores its timeout (``_shared_internal.BatchProcessor.force_flush`` waits for the
export to finish).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_xray import configurator
from otel_xray.devtools.components.receiver import OTLPReceiver
from otel_xray.export import Deadline
from otel_xray.export.batch import BatchExportProcessor
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    configurator.reset()
    yield
    configurator.reset()


SERVICE = {"OTEL_SERVICE_NAME": "shop"}
MANAGED_INSTANCES = {**LAMBDA_ENV, "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances"}


@pytest.mark.parametrize("environ", [SERVICE, MANAGED_INSTANCES], ids=["service", "managed"])
def test_a_queue_under_512_still_traces(environ: dict[str, str]) -> None:
    """OTEL_XRAY_MAX_QUEUE_SIZE=100: before, configure() returned None (tracing off)."""
    exporter = InMemoryExporter()
    tracing = configurator.configure(
        environ={**environ, "OTEL_XRAY_MAX_QUEUE_SIZE": "100"}, exporter=exporter,
        instrument=False,
    )  # fmt: skip
    assert tracing is not None and isinstance(tracing.exporting, BatchExportProcessor)
    for i in range(250):
        tracing.tracer().start_span(f"s{i}").end()
    assert tracing.flush(Deadline.within_ms(5000))
    # At most 100 queued at once; the worker drains as they come, so most arrive.
    assert 100 <= len(exporter.spans) <= 250
    assert {s.name for s in exporter.spans} <= {f"s{i}" for i in range(250)}


def test_a_queue_under_512_with_upstream_s_exporter_to_a_collector() -> None:
    """The other BatchExportProcessor construction: upstream's OTLPSpanExporter."""
    receiver = OTLPReceiver().start()
    try:
        tracing = configurator.configure(
            environ={
                **SERVICE,
                "OTEL_XRAY_MAX_QUEUE_SIZE": "100",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/v1/traces",
            },
            instrument=False,
        )
        assert tracing is not None
        for i in range(5):
            tracing.tracer().start_span(f"s{i}").end()
        assert tracing.flush(Deadline.within_ms(5000))
        assert sorted(s["name"] for s in receiver.spans) == [f"s{i}" for i in range(5)]
    finally:
        configurator.reset()
        receiver.stop()
