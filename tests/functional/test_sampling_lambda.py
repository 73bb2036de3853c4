"""Lambda's Sampled=0: final when Lambda decided, a documented policy when tracing is off."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from otel_xray.testing import XRayCapture


def run(
    monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], times: int = 1, **environ: str
) -> list[list[dict[str, Any]]]:
    """Invoke with Sampled=0 and active tracing off; the documents of each invocation."""
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS", raising=False)
    with XRayCapture(environ=environ) as capture:
        results = [capture.invoke(lambda e, c: "ok", event, sampled=False) for _ in range(times)]
    for result in results:
        for document in result.documents:
            assert document["trace_id"] == result.root  # Lambda's Root, joined
    return [r.documents for r in results]


def test_by_default_the_local_rules_decide_and_the_span_roots_lambdas_trace(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        # The second's reservoir is spent: only the 5% rate decides it, either way is right.
        first, _ = run(monkeypatch, {}, times=2)
    # 1 a second from the reservoir, then 5%: the first is sampled.
    [segment] = first
    assert "parent_id" not in segment and "type" not in segment  # a segment: no orphan
    assert caplog.text.count("OTEL_XRAY_LAMBDA_UNSAMPLED=rules") == 1


def test_the_policy_can_follow_lambda_or_keep_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, {}, times=3, OTEL_XRAY_LAMBDA_UNSAMPLED="drop") == [[], [], []]
    assert [
        len(docs) for docs in run(monkeypatch, {}, times=3, OTEL_XRAY_LAMBDA_UNSAMPLED="all")
    ] == [
        1,
        1,
        1,
    ]


def test_rules_from_the_setting_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = '{"version": 2, "default": {"fixed_target": 0, "rate": 0}, "rules": []}'
    assert run(monkeypatch, {}, times=3, OTEL_XRAY_SAMPLING_RULES=rules) == [[], [], []]


def test_an_upstream_decision_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    event = {"headers": {"X-Amzn-Trace-Id": "Root=1-6b069e85-6c663eba378038f66131e4f2;Sampled=0"}}
    assert run(monkeypatch, event, times=2, OTEL_XRAY_LAMBDA_UNSAMPLED="all") == [[], []]
    sqs = {"Records": [{"eventSource": "aws:sqs", "attributes": {"AWSTraceHeader": "Root=1-x"}}]}
    assert run(monkeypatch, sqs, OTEL_XRAY_LAMBDA_UNSAMPLED="all") == [[]]
