"""Centralized sampling against a loopback server that speaks the two X-Ray API calls."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
import pytest

from otel_xray.devtools.components.xray_api import sampling_rule
from otel_xray.sampling.centralized import CACHE_TTL, CentralizedSampler

#: The reference: botocore's model of X-Ray's API, from which every AWS SDK is generated.
STATISTICS_FIELDS = set(
    botocore.session.get_session()
    .get_service_model("xray")
    .shape_for("SamplingStatisticsDocument")
    .members
)


def rule(name: str, priority: int, rate: float, reservoir: int, **matchers: Any) -> dict[str, Any]:
    return sampling_rule(name, priority, rate, reservoir, modified_at=1530558121.0, **matchers)


class XRayProxy:
    """GetSamplingRules and SamplingTargets as the API model defines them."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = [rule("Default", 10000, 0.0, 0)]
        self.targets: dict[str, dict[str, Any]] = {}
        self.last_modification = 0.0
        self.statistics: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.broken: str | None = None  # "status" | "json" | "shape"
        self.gate = threading.Event()
        self.gate.set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                proxy.gate.wait(10)
                proxy.calls.append(self.path)
                status, reply = 200, proxy.answer(self.path, body)
                if proxy.broken == "status":
                    status = 500
                payload = b"{not json" if proxy.broken == "json" else json.dumps(reply).encode()
                if proxy.broken == "shape":
                    payload = b'{"SamplingRuleRecords": 7, "SamplingTargetDocuments": "x"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/GetSamplingRules":
            return {"SamplingRuleRecords": self.rules}
        assert path == "/SamplingTargets"
        for document in body["SamplingStatisticsDocuments"]:
            assert set(document) == STATISTICS_FIELDS
            assert re.fullmatch(r"[0-9a-f]{24}", document["ClientID"])
            self.statistics.append(document)
        return {
            "SamplingTargetDocuments": list(self.targets.values()),
            "LastRuleModification": self.last_modification,
            "UnprocessedStatistics": [],
        }

    def stop(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.5

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def proxy() -> Iterator[XRayProxy]:
    running = XRayProxy()
    yield running
    running.stop()


def make(proxy_endpoint: str, clock: Clock, **kwargs: Any) -> CentralizedSampler:
    return CentralizedSampler(
        proxy_endpoint,
        clock=clock,
        random_source=random.Random(3),
        service_name="orders",
        start_refresh=lambda work: work(),  # deterministic: refresh inline when due
        **kwargs,
    )


def sampled(sampler: CentralizedSampler, count: int, **attributes: Any) -> int:
    return sum(
        sampler.should_sample(None, 1, "req", attributes=attributes or None).decision.is_sampled()
        for _ in range(count)
    )


def test_rules_by_priority_borrowing_then_targets_and_ttl(proxy: XRayProxy) -> None:
    clock = Clock()
    proxy.rules = [
        rule("Default", 10000, 0.0, 1),
        rule("checkout", 10, 0.0, 5, URLPath="/checkout*", HTTPMethod="POST"),
        rule("b-later", 20, 1.0, 0, URLPath="/checkout*"),
    ]
    sampler = make(proxy.endpoint, clock)
    post = {"http.request.method": "POST", "url.path": "/checkout/1"}
    # Before any target: borrow one a second, then the rule's fixed rate (0).
    assert sampled(sampler, 20, **post) == 1
    assert [r.name for r in sampler.rules] == ["checkout", "b-later", "Default"]
    # GET /checkout falls to b-later (priority 20, rate 1).
    assert sampled(sampler, 5, **{"http.request.method": "GET", "url.path": "/checkout"}) == 5
    # Ten seconds on: statistics are reported, a quota of 3/s for 60 s comes back.
    proxy.targets["checkout"] = {
        "RuleName": "checkout",
        "FixedRate": 0.0,
        "ReservoirQuota": 3,
        "ReservoirQuotaTTL": clock.now + 60,
        "Interval": 10,
    }
    clock.now += 10
    sampler.should_sample(None, 1, "tick")  # the request that finds targets due
    reported = {d["RuleName"]: d for d in proxy.statistics}
    assert reported["checkout"]["RequestCount"] == 20
    assert (reported["checkout"]["SampledCount"], reported["checkout"]["BorrowCount"]) == (1, 1)
    for second in range(3):
        clock.now += 1
        assert sampled(sampler, 10, **post) == 3, second
    # Past the quota's TTL: the fixed rate (0) only.
    clock.now += 61
    sampler._next_targets = clock.now + 100  # no new target in between
    assert sampled(sampler, 10, **post) == 0


def test_a_rule_change_mid_run_is_picked_up(proxy: XRayProxy) -> None:
    clock = Clock()
    proxy.rules = [rule("everything", 1, 1.0, 0)]
    sampler = make(proxy.endpoint, clock)
    assert sampled(sampler, 10) == 10
    proxy.rules = [rule("nothing", 1, 0.0, 0)]
    proxy.last_modification = clock.now + 5
    clock.now += 10
    sampler.should_sample(None, 1, "targets")  # targets say the rules changed
    sampler.should_sample(None, 1, "rules")  # so the next decision fetches them
    assert [r.name for r in sampler.rules] == ["nothing"]
    assert sampled(sampler, 10) == 0


def test_matchers_on_service_type_and_attributes(proxy: XRayProxy) -> None:
    proxy.rules = [
        rule(
            "lambda-vip",
            1,
            1.0,
            0,
            ServiceType="AWS::Lambda::Function",
            Attributes={"tier": "vip*"},
        ),
        rule("Default", 10000, 0.0, 0),
    ]
    sampler = make(proxy.endpoint, Clock(), service_type="AWS::Lambda::Function")
    assert sampled(sampler, 5, tier="vip-gold") == 5
    assert sampled(sampler, 5, tier="basic") == 0
    assert sampled(sampler, 5) == 0  # the attribute is required


@pytest.mark.parametrize("broken", ["status", "json", "shape"])
def test_malformed_responses_keep_what_was_known(proxy: XRayProxy, broken: str) -> None:
    clock = Clock()
    proxy.rules = [rule("everything", 1, 1.0, 0)]
    sampler = make(proxy.endpoint, clock)
    assert sampled(sampler, 5) == 5
    proxy.broken = broken
    clock.now += 301  # rules and targets due: both answers are bad
    assert sampled(sampler, 5) == 5  # no exception, the known rule still decides
    assert sampler.failures >= 1
    # An hour without a good answer: the rules are not trusted any more.
    clock.now += CACHE_TTL
    decided = sampled(sampler, 100)
    assert decided < 100  # the fallback: 1/s + 5%


def test_an_unreachable_endpoint_falls_back_and_never_raises() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    clock = Clock()
    sampler = make(closed, clock)
    assert sampled(sampler, 1) == 1  # the fallback's reservoir: 1 a second
    assert sampler.rules == [] and sampler.failures == 1


def test_a_due_refresh_never_makes_a_request_wait(proxy: XRayProxy) -> None:
    proxy.rules = [rule("everything", 1, 1.0, 0)]
    proxy.gate.clear()  # the proxy holds every call until released
    sampler = CentralizedSampler(proxy.endpoint, service_name="orders")  # real background refresh
    for _ in range(50):  # each returns while the proxy still holds the fetch
        sampler.should_sample(None, 1, "r")
    assert sampler.rules == []  # still fetching: decided by the fallback meanwhile
    proxy.gate.set()
    for _ in range(200):
        if sampler.rules:
            break
        threading.Event().wait(0.01)
    assert [r.name for r in sampler.rules] == ["everything"]
    assert sampled(sampler, 10) == 10
