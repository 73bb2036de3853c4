"""Shared fixtures: a Lambda-configured SDK with an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from otel_xray import configurator
from otel_xray.configurator import Tracing
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter, LambdaContext

# Hypothesis' per-example deadline (200 ms) measures the machine, not the code: on a
# loaded two-core machine a correct example can take longer and fail as "flaky".
# Speed is measured in benchmarks (make bench), so no test here has a deadline.
settings.register_profile("otel-xray", deadline=None)
settings.load_profile("otel-xray")

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


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
    monkeypatch.setattr(configurator.state(), "cold_start", True)
    tracing = configurator.configure(environ=dict(LAMBDA_ENV), exporter=exporter, instrument=False)
    assert tracing is not None
    yield tracing
    configurator.reset()


@pytest.fixture
def fresh_process() -> Iterator[None]:
    """A process in which otel-xray has done nothing yet, and the same afterwards."""
    configurator.reset()
    yield
    configurator.reset()


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
