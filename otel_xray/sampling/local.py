"""A sampler that decides with X-Ray local sampling rules (the SDK's rules file).

The request's host, method and path come from the span's HTTP attributes (the
handler span of an API Gateway, ALB or function-URL event has them; stable and
older semantic-convention names are both read).

Rates are drawn from ``random.SystemRandom`` (``os.urandom``), not a seeded
``random.Random``: a generator's state is process memory, so every sandbox restored
from one SnapStart snapshot, and every child forked after set-up, would draw the same
sequence and make the same decisions. AWS's SnapStart uniqueness page names
``/dev/urandom``-based randomness as what stays unique after a restore; there is no
state here to renew.

Example:
    >>> sampler = LocalRulesSampler(LocalRules.parse(DEFAULT_RULES_DOCUMENT))
    >>> sampler.get_description()
    'XRayLocalRules{rules:0, default:1/s+5%}'
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from otel_xray.sampling.rules import DEFAULT_RULES_DOCUMENT, LocalRules

__all__ = ["DEFAULT_RULES_DOCUMENT", "LocalRulesSampler", "request_of"]


def request_of(attributes: Attributes) -> tuple[str | None, str | None, str | None]:
    """(host, method, path) of a span's HTTP attributes; None for what it lacks."""
    found: Mapping[str, Any] = attributes or {}
    host = found.get("server.address") or found.get("http.host") or found.get("net.host.name")
    method = found.get("http.request.method") or found.get("http.method")
    path = found.get("url.path") or found.get("http.target") or found.get("http.route")
    if isinstance(path, str):
        path = path.split("?", 1)[0]
    return (
        host if isinstance(host, str) else None,
        method if isinstance(method, str) else None,
        path if isinstance(path, str) else None,
    )


class LocalRulesSampler(Sampler):
    """First matching rule in file order: its reservoir, then its rate."""

    def __init__(self, rules: LocalRules, random_source: random.Random | None = None) -> None:
        self.rules = rules
        self._random = random_source or random.SystemRandom()

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        rule = self.rules.match(*request_of(attributes))
        sampled = (rule.reservoir is not None and rule.reservoir.take()) or (
            self._random.random() < rule.rate
        )
        if sampled:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        default = self.rules.default
        return (
            f"XRayLocalRules{{rules:{len(self.rules.rules)}, "
            f"default:{default.fixed_target}/s+{default.rate:.0%}}}"
        )
