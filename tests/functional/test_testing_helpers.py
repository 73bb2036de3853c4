"""otel_xray.testing as a user's own test would use it."""

from __future__ import annotations

import pytest

import otel_xray
from otel_xray.testing import capture_lambda_spans
from tests.conftest import PARENT, ROOT, LambdaContext


def test_capture_lambda_spans_sees_the_invocation(
    fresh_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")

    @otel_xray.lambda_handler
    def handler(event: object, context: object) -> str:
        return "ok"

    with capture_lambda_spans({"AWS_LAMBDA_FUNCTION_NAME": "billing"}) as spans:
        assert handler({}, LambdaContext()) == "ok"
    assert [s.name for s in spans] == ["my-function"]
    assert spans[0].resource.attributes["service.name"] == "billing"
    assert spans[0].parent is not None and f"{spans[0].parent.span_id:016x}" == PARENT
