"""Centralized X-Ray sampling rules, safe in a sandbox that freezes between invocations.

Rules come from ``GetSamplingRules`` and quotas from ``SamplingTargets``, both
through the X-Ray daemon's (or the collector's awsproxy) HTTP proxy, by default
``http://127.0.0.1:2000``. The semantics are X-Ray's:

- rules are tried in (``Priority``, ``RuleName``) order; the first whose
  ServiceName, ServiceType, Host, HTTPMethod, URLPath, ResourceARN and
  Attributes all match decides;
- before its first target, a rule with ``ReservoirSize`` > 0 borrows one request
  a second (counted as ``BorrowCount``); with a target, it takes
  ``ReservoirQuota`` a second until ``ReservoirQuotaTTL``; beyond that, the
  target's ``FixedRate`` (or the rule's) applies;
- statistics are reported with the API model's field names (``RuleName``,
  ``ClientID``, ``Timestamp``, ``RequestCount``, ``SampledCount``,
  ``BorrowCount``; upstream OTel samplers send ``SampleCount``);
- rules are fetched every 300 s, targets every 10 s (or the smallest
  ``Interval``), again at once when ``LastRuleModification`` is newer; rules
  older than an hour are not trusted, and the fallback (1/s + 5%) decides.

Deliberately different from upstream samplers: there is no timer thread. A frozen
Lambda sandbox would fire a timer late, in a burst, after a thaw. Instead a
decision that finds a refresh due starts one fetch in the background and decides
with what it has; it never waits for the network, and no failure reaches the app.

Restored (SnapStart) and forked copies decide independently: rates are drawn from
``random.SystemRandom`` (``os.urandom``; no state to clone), and
:meth:`CentralizedSampler.forget_inherited`, run by the process-state reset after a
fork or a restore, gives the copy its own ``ClientID`` and drops what X-Ray granted
the parent's (its quota and statistics). Inference: X-Ray hands out reservoir quota
per ClientID, so copies sharing one id would share, and overdraw, one reservoir.

Example:
    >>> sampler = CentralizedSampler(endpoint="http://127.0.0.1:9", start_refresh=lambda f: None)
    >>> sampler.get_description()
    'XRayCentralized{endpoint:http://127.0.0.1:9, rules:0}'
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from otel_xray.sampling.local import LocalRulesSampler, request_of
from otel_xray.sampling.rules import (
    DEFAULT_RULES_DOCUMENT,
    Clock,
    LocalRules,
    Reservoir,
    wildcard_match,
)

logger = logging.getLogger("otel_xray")

RULES_INTERVAL = 300.0
TARGETS_INTERVAL = 10.0
CACHE_TTL = 3600.0
REQUEST_TIMEOUT = 2.0


@dataclass
class CentralRule:
    """One rule of ``GetSamplingRules`` with its target and statistics."""

    name: str
    priority: int
    fixed_rate: float
    reservoir_size: int
    service_name: str = "*"
    service_type: str = "*"
    host: str = "*"
    http_method: str = "*"
    url_path: str = "*"
    resource_arn: str = "*"
    attributes: dict[str, str] = field(default_factory=dict)
    # target state
    target_rate: float | None = None
    quota: Reservoir | None = None
    quota_expires: float = 0.0
    borrow: Reservoir | None = None
    # statistics since the last report
    requests: int = 0
    sampled: int = 0
    borrowed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> CentralRule:
        """A ``SamplingRule`` of the API; KeyError, ValueError or TypeError if malformed."""
        attributes = raw.get("Attributes") or {}
        if not isinstance(attributes, Mapping):
            raise TypeError("Attributes must be an object")
        return cls(
            name=str(raw["RuleName"]),
            priority=int(raw["Priority"]),
            fixed_rate=_fraction(raw["FixedRate"]),
            reservoir_size=int(raw["ReservoirSize"]),
            service_name=str(raw.get("ServiceName", "*")),
            service_type=str(raw.get("ServiceType", "*")),
            host=str(raw.get("Host", "*")),
            http_method=str(raw.get("HTTPMethod", "*")),
            url_path=str(raw.get("URLPath", "*")),
            resource_arn=str(raw.get("ResourceARN", "*")),
            attributes={str(k): str(v) for k, v in attributes.items()},
        )

    def matches(self, service: Mapping[str, str | None], attributes: Mapping[str, Any]) -> bool:
        host, method, path = request_of(attributes)
        arn = attributes.get("cloud.resource_id") or service.get("resource_arn")
        return (
            wildcard_match(self.service_name, service.get("name"))
            and wildcard_match(self.service_type, service.get("type"))
            and (host is None or wildcard_match(self.host, host))
            and (method is None or wildcard_match(self.http_method, method))
            and (path is None or wildcard_match(self.url_path, path))
            and wildcard_match(self.resource_arn, arn if isinstance(arn, str) else None)
            and all(
                wildcard_match(pattern, str(attributes[key])) if key in attributes else False
                for key, pattern in self.attributes.items()
            )
        )

    def decide(self, now: float, draw: float) -> bool:
        with self.lock:
            self.requests += 1
            sampled = False
            if self.quota is not None and now < self.quota_expires:
                sampled = self.quota.take()
            elif self.target_rate is None and self.borrow is not None and self.borrow.take():
                # No target yet: borrow one a second from the reservoir.
                self.borrowed += 1
                sampled = True
            if not sampled:
                rate = self.target_rate if self.target_rate is not None else self.fixed_rate
                sampled = draw < rate
            if sampled:
                self.sampled += 1
            return sampled

    def take_statistics(self) -> tuple[int, int, int]:
        with self.lock:
            counts = (self.requests, self.sampled, self.borrowed)
            self.requests = self.sampled = self.borrowed = 0
            return counts

    def apply_target(self, document: Mapping[str, Any], clock: Clock) -> None:
        rate = _fraction(document["FixedRate"])
        quota = document.get("ReservoirQuota")
        ttl = document.get("ReservoirQuotaTTL")
        with self.lock:
            self.target_rate = rate
            if quota is not None and ttl is not None:
                self.quota = Reservoir(int(quota), clock)
                self.quota_expires = float(ttl)

    def carry_over(self, previous: CentralRule) -> None:
        """Keep a re-fetched rule's target and statistics (same name)."""
        with previous.lock:
            self.target_rate, self.quota = previous.target_rate, previous.quota
            self.quota_expires = previous.quota_expires
            self.requests, self.sampled = previous.requests, previous.sampled
            self.borrowed = previous.borrowed


class SamplingProxyClient:
    """POSTs the two X-Ray calls to the daemon's proxy; raises on any failure."""

    def __init__(self, endpoint: str, timeout: float = REQUEST_TIMEOUT) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "") or not parts.hostname:
            raise ValueError(f"sampling endpoint {endpoint!r}: accepted: http://host:port")
        self.host, self.port = parts.hostname, parts.port or 2000
        self.timeout = timeout

    def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            payload = json.dumps(body).encode()
            connection.request("POST", path, payload, {"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read(1_000_000)
            if response.status != 200:
                raise OSError(f"{path}: HTTP {response.status}")
            decoded = json.loads(data)
            if not isinstance(decoded, dict):
                raise ValueError(f"{path}: the response is not a JSON object")
            return decoded
        finally:
            connection.close()


def _start_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="otel-xray-sampling", daemon=True).start()


class CentralizedSampler(Sampler):
    """X-Ray's centralized sampling, refreshed on the request path without waiting."""

    def __init__(
        self,
        endpoint: str = "http://127.0.0.1:2000",
        *,
        fallback: Sampler | None = None,
        service_name: str | None = None,
        service_type: str | None = None,
        resource_arn: str | None = None,
        clock: Clock = time.time,
        random_source: random.Random | None = None,
        client: SamplingProxyClient | None = None,
        start_refresh: Callable[[Callable[[], None]], None] = _start_thread,
    ) -> None:
        self.endpoint = endpoint
        self.fallback = fallback or LocalRulesSampler(
            LocalRules.parse(DEFAULT_RULES_DOCUMENT, clock)
        )
        self.service = {"name": service_name, "type": service_type, "resource_arn": resource_arn}
        self.client_id = os.urandom(12).hex()
        self.rules: list[CentralRule] = []
        self.rules_fetched_at = 0.0
        self.failures = 0
        self._clock = clock
        self._random = random_source or random.SystemRandom()
        self._client = client or SamplingProxyClient(endpoint)
        self._start_refresh = start_refresh
        self._next_rules = 0.0
        self._next_targets = 0.0
        self._refreshing = threading.Lock()
        self._logged = False

    def forget_inherited(self) -> None:
        """In a forked child or a restored sandbox: become a new sampling client.

        A new ``ClientID``; the parent's statistics (reported by the parent) and the
        quota X-Ray granted the parent's id are dropped, so this copy borrows until its
        own first target, as a fresh sampler does; the refresh lock is new (a refresh
        thread of the parent's does not exist here), and targets are due at once.
        """
        self.client_id = os.urandom(12).hex()
        for rule in self.rules:
            rule.lock = threading.Lock()
            rule.take_statistics()
            rule.target_rate, rule.quota, rule.quota_expires = None, None, 0.0
        self._refreshing = threading.Lock()
        self._next_targets = 0.0

    # deciding ---------------------------------------------------------------------

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
        try:
            now = self._clock()
            self._refresh_if_due(now)
            rules = self.rules
            if rules and now - self.rules_fetched_at <= CACHE_TTL:
                found: Mapping[str, Any] = attributes or {}
                for rule in rules:
                    if rule.matches(self.service, found):
                        if rule.decide(now, self._random.random()):
                            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
                        return SamplingResult(Decision.DROP)
        except Exception:
            self._log_once("otel-xray: centralized sampling failed; using the fallback rules")
        return self.fallback.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"XRayCentralized{{endpoint:{self.endpoint}, rules:{len(self.rules)}}}"

    # refreshing -------------------------------------------------------------------

    def _refresh_if_due(self, now: float) -> None:
        if now < self._next_rules and now < self._next_targets:
            return
        if not self._refreshing.acquire(blocking=False):
            return  # one refresh at a time; this request does not wait for it
        try:
            self._start_refresh(self._refresh)
        except Exception:
            self._refreshing.release()
            raise

    def _refresh(self) -> None:
        try:
            now = self._clock()
            if now >= self._next_rules:
                self._next_rules = now + RULES_INTERVAL
                self._fetch_rules(now)
            if now >= self._next_targets and self.rules:
                self._next_targets = now + TARGETS_INTERVAL
                self._fetch_targets(now)
        except Exception as error:
            self.failures += 1
            self._log_once(f"otel-xray: sampling rules from {self.endpoint} unavailable: {error}")
        finally:
            self._refreshing.release()

    def _fetch_rules(self, now: float) -> None:
        records: list[Any] = []
        token: str | None = None
        for _ in range(10):  # pages
            reply = self._client.call("/GetSamplingRules", {"NextToken": token} if token else {})
            page = reply.get("SamplingRuleRecords")
            if not isinstance(page, list):
                raise ValueError("GetSamplingRules: no SamplingRuleRecords list")
            records += page
            token = reply.get("NextToken") or None
            if token is None:
                break
        rules = []
        for record in records:
            raw = record.get("SamplingRule") if isinstance(record, Mapping) else None
            if not isinstance(raw, Mapping) or raw.get("Version", 1) != 1:
                continue
            try:
                rules.append(CentralRule.from_api(raw))
            except (KeyError, ValueError, TypeError) as error:
                self._log_once(f"otel-xray: sampling rule {raw.get('RuleName')!r} skipped: {error}")
        previous = {rule.name: rule for rule in self.rules}
        for rule in rules:
            if rule.reservoir_size > 0:
                rule.borrow = Reservoir(1, self._clock)
            if rule.name in previous:
                rule.carry_over(previous[rule.name])
        self.rules = sorted(rules, key=lambda r: (r.priority, r.name))
        self.rules_fetched_at = now
        self._next_targets = min(self._next_targets, now)

    def _fetch_targets(self, now: float) -> None:
        documents = []
        for rule in self.rules:
            requests, sampled, borrowed = rule.take_statistics()
            documents.append(
                {
                    "RuleName": rule.name,
                    "ClientID": self.client_id,
                    "Timestamp": round(now, 3),
                    "RequestCount": requests,
                    "SampledCount": sampled,
                    "BorrowCount": borrowed,
                }
            )
        reply = self._client.call("/SamplingTargets", {"SamplingStatisticsDocuments": documents})
        targets = reply.get("SamplingTargetDocuments")
        if not isinstance(targets, list):
            raise ValueError("SamplingTargets: no SamplingTargetDocuments list")
        by_name = {rule.name: rule for rule in self.rules}
        intervals = []
        for document in targets:
            if not isinstance(document, Mapping) or document.get("RuleName") not in by_name:
                continue
            try:
                by_name[document["RuleName"]].apply_target(document, self._clock)
            except (KeyError, ValueError, TypeError) as error:
                self._log_once(f"otel-xray: sampling target skipped: {error}")
                continue
            interval = document.get("Interval")
            if isinstance(interval, int | float) and interval > 0:
                intervals.append(float(interval))
        if intervals:
            self._next_targets = now + min(intervals)
        modified = reply.get("LastRuleModification")
        if isinstance(modified, int | float) and modified > self.rules_fetched_at:
            self._next_rules = now  # the rules changed: fetch them on the next decision

    def _log_once(self, message: str) -> None:
        if not self._logged:
            self._logged = True
            logger.warning("%s", message)
        else:
            logger.debug("%s", message)


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"rate {value!r} is not between 0 and 1")
    return number
