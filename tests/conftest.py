"""Shared fixtures: a Lambda-configured SDK with an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_xray import configurator
from otel_xray.awslambda import handler as handler_module
from otel_xray.configurator import Tracing
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


class LambdaContext:
    """What awslambdaric passes as ``context`` (the parts the wrapper reads)."""

    function_name = "my-function"
    aws_request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:my-function"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def exporter() -> InMemoryExporter:
    return InMemoryExporter()


@pytest.fixture
def lambda_tracing(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemoryExporter
) -> Iterator[Tracing]:
    """Tracing configured as on Lambda, inside an invocation whose header is ROOT/PARENT."""
    for key, value in LAMBDA_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    monkeypatch.setattr(handler_module, "_cold_start", True)
    tracing = configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False)
    assert tracing is not None
    yield tracing
    configurator.reset()


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
