"""Sampling decisions that understand the X-Ray tracing header and X-Ray's rules.

Upstream ``ParentBased`` only sees the parent's sampled bit, so an upstream
``Sampled=?`` (or no ``Sampled`` at all) reads as "not sampled" and drops the
trace. :class:`XRayParentBased` reads the header's own value that the propagator
keeps in the context: ``None`` hands the decision to the local root sampler, and a
Root-only header's explicit decision is followed by the root span that joins it.

In Lambda with active tracing off, Lambda passes ``Sampled=0`` even when nobody
upstream decided anything, and every alternative then drops every span. The
handler marks that case (:data:`LAMBDA_PASSTHROUGH_KEY`) and the policy
``OTEL_XRAY_LAMBDA_UNSAMPLED`` decides: ``rules`` (default, the local rules,
1/s + 5% unless ``OTEL_XRAY_SAMPLING_RULES`` says otherwise), ``all`` or ``drop``.

Samplers by ``OTEL_TRACES_SAMPLER``: ``xray`` is centralized X-Ray sampling
(:mod:`otel_xray.sampling.centralized`) with the local rules as fallback;
``xray_local`` the local rules only (:mod:`otel_xray.sampling.local`); both also
as ``parentbased_*``.

Example:
    >>> from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    >>> sampler = XRayParentBased(ALWAYS_ON)
    >>> sampler.get_description().startswith("XRayParentBased")
    True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from otel_xray.propagation import XRAY_SAMPLED_KEY
from otel_xray.sampling.local import LocalRulesSampler
from otel_xray.sampling.rules import DEFAULT_RULES_DOCUMENT, LocalRules, SamplingRulesError
from otel_xray.settings import Settings
from otel_xray.xray import ORIGIN_BY_PLATFORM

logger = logging.getLogger("otel_xray")

#: Set by the Lambda handler when Sampled=0 only means "active tracing is off".
LAMBDA_PASSTHROUGH_KEY = otel_context.create_key("otel-xray-lambda-passthrough")


class XRayParentBased(ParentBased):
    """``ParentBased`` that defers to ``root`` when the X-Ray header left the decision open."""

    def __init__(self, root: Sampler, passthrough: Sampler | None = None) -> None:
        super().__init__(root)
        self._root = root
        self._passthrough = passthrough

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
        if self._passthrough is not None and otel_context.get_value(
            LAMBDA_PASSTHROUGH_KEY, parent_context
        ):
            return self._passthrough.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        header_sampled = otel_context.get_value(XRAY_SAMPLED_KEY, parent_context)
        parent = trace.get_current_span(parent_context).get_span_context()
        if header_sampled is None and XRAY_SAMPLED_KEY in (parent_context or {}):
            if parent.is_valid and parent.is_remote:
                return self._root.should_sample(
                    parent_context, trace_id, name, kind, attributes, links, trace_state
                )
        elif isinstance(header_sampled, bool) and not parent.is_valid:
            decision = Decision.RECORD_AND_SAMPLE if header_sampled else Decision.DROP
            return SamplingResult(decision, attributes if header_sampled else None)
        return super().should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"XRayParentBased{{root:{self._root.get_description()}}}"


def forget_inherited(sampler: Sampler) -> None:
    """Run ``forget_inherited`` of every sampler inside ``sampler`` (after a fork or a
    SnapStart restore: see :meth:`CentralizedSampler.forget_inherited`)."""
    seen: set[int] = set()
    pending: list[object] = [sampler]
    while pending:
        found = pending.pop()
        if found is None or id(found) in seen:
            continue
        seen.add(id(found))
        renew = getattr(found, "forget_inherited", None)
        if callable(renew):
            renew()
        pending += [getattr(found, name, None) for name in ("_root", "_passthrough", "fallback")]


def build_sampler(settings: Settings) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` names, parent-based ones X-Ray aware.

    The local rules are read once and their one sampler (one reservoir per rule)
    serves every place that decides by them.
    """
    name, arg = settings.sampler, settings.sampler_arg
    base = name.removeprefix("parentbased_")
    local: list[Sampler] = []

    def local_rules() -> Sampler:
        if not local:
            local.append(LocalRulesSampler(load_local_rules(settings.sampling_rules)))
        return local[0]

    root: Sampler
    if base == "traceidratio":
        root = TraceIdRatioBased(arg)
    elif base == "xray":
        root = _centralized(settings, local_rules())
    elif base == "xray_local":
        root = local_rules()
    else:
        root = ALWAYS_OFF if base == "always_off" else ALWAYS_ON
    if not name.startswith("parentbased_"):
        return root
    passthrough: Sampler | None = None
    if settings.in_lambda and settings.lambda_unsampled == "rules":
        passthrough = local_rules()
    elif settings.in_lambda and settings.lambda_unsampled == "all":
        passthrough = ALWAYS_ON
    return XRayParentBased(root, passthrough)


def _centralized(settings: Settings, fallback: Sampler) -> Sampler:
    # Cold start: the centralized sampler and its HTTP client cost ~17 ms
    # (python -X importtime); only OTEL_TRACES_SAMPLER=xray needs them.
    from otel_xray.sampling.centralized import CentralizedSampler  # noqa: PLC0415

    try:
        return CentralizedSampler(
            settings.sampling_endpoint,
            fallback=fallback,
            service_name=settings.service_name,
            service_type=ORIGIN_BY_PLATFORM["aws_lambda"] if settings.in_lambda else None,
        )
    except ValueError as error:
        logger.error("otel-xray: OTEL_XRAY_SAMPLING_ENDPOINT: %s; using the local rules", error)
        return fallback


def load_local_rules(source: str | None) -> LocalRules:
    """Rules from a path or inline JSON; on any problem one clear error and the defaults."""
    if source is None:
        return LocalRules.parse(DEFAULT_RULES_DOCUMENT)
    try:
        text = source if source.lstrip().startswith("{") else Path(source).read_text()
        return LocalRules.parse(json.loads(text))
    except (OSError, ValueError) as error:
        where = "inline JSON" if source.lstrip().startswith("{") else source
        reason = f"not JSON: {error}" if isinstance(error, json.JSONDecodeError) else str(error)
        kind = "" if isinstance(error, SamplingRulesError) else " (unreadable)"
        logger.error(
            "otel-xray: OTEL_XRAY_SAMPLING_RULES (%s)%s: %s; using the default rules "
            "(1 request a second, then 5%%)",
            where,
            kind,
            reason,
        )
        return LocalRules.parse(DEFAULT_RULES_DOCUMENT)
