"""The real collector and the real X-Ray daemon between the layer and a local X-Ray API.

Built from source by ``make collector`` (``collector/builder-config.yaml``) and
``make daemon``; the local API (``otel_xray.devtools.components.xray_api``) checks their SigV4
signatures and stores what they upload in the trace store ``map`` reads. Paths:

1. xray-udp: function -> the real daemon -> PutTraceSegments. Every document the
   function sent is stored unchanged, and the daemon logs no unprocessed segment.
2. otlp: function -> the real collector running the shipped ``collector/config.yaml``
   -> its awsxray exporter -> PutTraceSegments; and xray-udp -> the shipped
   ``collector/sidecar.yaml``'s awsxray (UDP) receiver -> the same exporter. Each
   service map equals the emulated daemon path's, node for node, but for the one
   difference listed in docs/how-it-works.md (the collector has no S3 bucket field).
3. centralized sampling: the layer's sampler -> the daemon's proxy, the sidecar's
   proxy and the awsproxy extension -> GetSamplingRules / GetSamplingTargets.

The daemon: github.com/aws/aws-xray-daemon is refused by this project's Go module
proxy (``403 Forbidden ... This module version is not available``), so ``make daemon``
fails here and the daemon cases skip unless ``build/bin/xray`` exists.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples import demo
from otel_xray.devtools.components.runners import COLLECTOR_BINARY, DAEMON_BINARY, Collector, Daemon
from otel_xray.devtools.components.xray_api import XRayAPI, sampling_rule
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.sampling.centralized import CentralizedSampler
from tests.functional.test_sampling_centralized import STATISTICS_FIELDS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector" / "config.yaml"
SIDECAR = ROOT / "collector" / "sidecar.yaml"
OTLP_RECIPE = ROOT / "collector" / "config-otlp.yaml"
AWSPROXY = ROOT / "tests" / "data" / "collector-awsproxy.yaml"
_RUN_SUFFIX = re.compile(r"-[0-9a-f]{8} \(")
#: The one node the collector cannot name as the xray-udp path does: its awsxray
#: exporter has no ``bucket_name`` field (internal/aws/xray/tracesegment.go, AWSData),
#: so X-Ray cannot tell the bucket and the node is plain ``S3``.
COLLECTOR_NODE_NAMES = {"order-receipts (AWS::S3::Bucket)": "S3 (AWS::S3::Bucket)"}

needs_collector = pytest.mark.skipif(
    not COLLECTOR_BINARY.exists(), reason="the collector is built by 'make collector'"
)
needs_daemon = pytest.mark.skipif(
    not DAEMON_BINARY.exists(),
    reason="no X-Ray daemon: the Go module proxy refuses github.com/aws/aws-xray-daemon "
    "(403 'This module version is not available'); 'make daemon' says so",
)


def unsuffixed(label: str) -> str:
    return _RUN_SUFFIX.sub(" (", label)


def the_map(store: TraceStore) -> tuple[set[str], set[tuple[str, str]]]:
    graph = ServiceGraph.build(store)
    nodes = {unsuffixed(n.label) for n in graph.nodes.values()}
    return nodes, {(unsuffixed(a), unsuffixed(b)) for a, b in graph.edge_labels()}


def as_the_collector_names(
    view: tuple[set[str], set[tuple[str, str]]],
) -> tuple[set[str], set[tuple[str, str]]]:
    nodes, edges = view
    rename = COLLECTOR_NODE_NAMES.get
    return {rename(n, n) for n in nodes}, {(rename(a, a), rename(b, b)) for a, b in edges}


def wait_for(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)


@pytest.fixture(scope="module")
def emulated_map() -> tuple[set[str], set[tuple[str, str]]]:
    """The map of the path the rest of the suite checks: our daemon emulation."""
    store = TraceStore()
    demo.run(store, exporter="xray-udp")
    return the_map(store)


@pytest.fixture
def api() -> Iterator[XRayAPI]:
    with XRayAPI() as running:
        yield running


def lambda_segments(results: list[demo.InvocationResult]) -> list[dict[str, object]]:
    """The segments the Lambda service itself sends (not through the daemon or collector)."""
    return [
        s for r in results for s in r.segments if str(s.get("origin", "")).startswith("AWS::Lambda")
    ]


# 1. the X-Ray daemon ----------------------------------------------------------------


@needs_daemon
def test_the_daemon_uploads_every_document_unchanged(
    api: XRayAPI, emulated_map: tuple[set[str], set[tuple[str, str]]]
) -> None:
    with Daemon(api.endpoint) as daemon:
        results = demo.run(TraceStore(), forward_udp_to=("127.0.0.1", daemon.port))
        sent = [
            datagram.partition(b"\n")[2].decode() for r in results for datagram in r.raw_datagrams
        ]
        wait_for(lambda: len(api.received) >= len(sent))
        log = daemon.log
    assert sent and sorted(api.received) == sorted(sent)  # byte for byte
    assert "Unprocessed" not in log and "Missing header" not in log, log
    assert {op for op, _ in api.calls} >= {"PutTraceSegments"}
    assert {key for _, key in api.calls} == {"testing"}  # signed, with the test key
    api.store.add_all(lambda_segments(results))
    assert the_map(api.store) == emulated_map


@needs_daemon
def test_sampling_through_the_daemons_proxy(api: XRayAPI) -> None:
    with Daemon(api.endpoint) as daemon:
        sampling_follows_the_api(api, f"http://127.0.0.1:{daemon.tcp_port}")


# 2. the collector ------------------------------------------------------------------


@needs_collector
def test_the_collector_path_draws_the_same_map(
    api: XRayAPI, emulated_map: tuple[set[str], set[tuple[str, str]]]
) -> None:
    """The shipped Lambda config, as the ADOT extension runs it."""
    with Collector(CONFIG, api.endpoint) as collector:
        results = demo.run(TraceStore(), exporter="otlp", otlp_endpoint=collector.otlp_endpoint)
        sent = sum(len(r.spans) for r in results) or None
        wait_for(lambda: len(api.received) >= (sent or 16))
        log = collector.log
    assert api.received, log
    assert "error" not in log.lower().replace("error_mode", ""), log
    assert {key for _, key in api.calls} == {"testing"}
    api.store.add_all(lambda_segments(results))
    assert the_map(api.store) == as_the_collector_names(emulated_map)
    for trace in api.store.traces():
        assert trace.orphans == []


@needs_collector
def test_awss_otlp_recipe_signs_toward_x_rays_otlp_endpoint(
    api: XRayAPI, emulated_map: tuple[set[str], set[tuple[str, str]]]
) -> None:
    """``collector/config-otlp.yaml`` (AWS's CloudWatch-OTLPSimplesetup example) in the real
    collector: otlphttp with gzip, signed by the sigv4auth extension (v0.143.0), toward the
    local X-Ray API's ``/v1/traces``, which verifies the signature as X-Ray would. The
    spans are converted by our translator there, as by the otlp path's, so the map is the
    one the otlp path draws."""
    with Collector(OTLP_RECIPE, api.endpoint) as collector:
        results = demo.run(TraceStore(), exporter="otlp", otlp_endpoint=collector.otlp_endpoint)
        wait_for(lambda: len(api.received) >= 16)  # what the collector path delivers
        log = collector.log
    assert api.otlp_refused == [], log
    assert api.otlp_requests and api.calls == [], log  # OTLP only, no PutTraceSegments
    api.store.add_all(lambda_segments(results))
    assert the_map(api.store) == emulated_map
    # Refused when the collector signs with the wrong secret: X-Ray's 403, in its log.
    with XRayAPI(credentials={"testing": "not-the-secret"}) as strict:
        with Collector(OTLP_RECIPE, strict.endpoint) as collector:
            demo.run(TraceStore(), exporter="otlp", otlp_endpoint=collector.otlp_endpoint)
            wait_for(lambda: bool(strict.otlp_refused))
        assert strict.otlp_refused[0][0] == 403 and strict.store.documents() == []


@needs_collector
def test_the_sidecar_collector_takes_the_daemons_udp_protocol(
    api: XRayAPI, emulated_map: tuple[set[str], set[tuple[str, str]]]
) -> None:
    """The shipped sidecar config: the function's datagrams, as to the daemon."""
    with Collector(SIDECAR, api.endpoint) as collector:
        results = demo.run(TraceStore(), forward_udp_to=("127.0.0.1", collector.ports["xray_udp"]))
        sent = sum(len(r.raw_datagrams) for r in results)
        wait_for(lambda: len(api.received) >= sent)
        log = collector.log
    assert len(api.received) == sent, log
    api.store.add_all(lambda_segments(results))
    assert the_map(api.store) == as_the_collector_names(emulated_map)


@needs_collector
@pytest.mark.parametrize("config", [SIDECAR, AWSPROXY], ids=["sidecar-receiver", "awsproxy"])
def test_sampling_through_the_collectors_proxy(api: XRayAPI, config: Path) -> None:
    with Collector(config, api.endpoint) as collector:
        port = collector.ports.get("awsproxy") or collector.ports["xray_proxy"]
        sampling_follows_the_api(api, f"http://127.0.0.1:{port}")


# 3. centralized sampling ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def decisions(sampler: CentralizedSampler, count: int) -> list[bool]:
    return [
        sampler.should_sample(None, 1, "GET /orders", attributes={}).decision.is_sampled()
        for _ in range(count)
    ]


def settle(sampler: CentralizedSampler) -> None:
    """Let the background refresh the last decision started finish."""
    deadline = time.monotonic() + 10
    while sampler._refreshing.locked() and time.monotonic() < deadline:
        time.sleep(0.02)


def sampling_follows_the_api(api: XRayAPI, proxy: str) -> None:
    """Rules from the API through the proxy; a rule changed mid-run applies on the next
    targets call (every ``Interval`` s); statistics reach the API in its field names.

    The sampler runs on a test clock, so "10 s later" is immediate; its requests are real.
    """
    api.set_rules([sampling_rule("never", 1, 0.0, 0, ServiceName="*")])
    clock = Clock()
    sampler = CentralizedSampler(proxy, service_name="checkout", clock=clock)
    decisions(sampler, 1)  # starts the first rules fetch
    settle(sampler)
    assert [r.name for r in sampler.rules] == ["never"], sampler.failures
    assert not any(decisions(sampler, 50))
    api.set_rules([sampling_rule("always", 1, 1.0, 0, ServiceName="checkout")])
    clock.now += 10.5  # the targets interval (10 s; the API's Interval is 10 too)
    decisions(sampler, 1)
    settle(sampler)  # targets: LastRuleModification is newer -> the rules again
    decisions(sampler, 1)
    settle(sampler)
    assert [r.name for r in sampler.rules] == ["always"]
    assert all(decisions(sampler, 50))
    assert api.statistics, "no SamplingStatisticsDocument reached the API"
    for document in api.statistics:
        assert set(document) <= STATISTICS_FIELDS
    never = [d for d in api.statistics if d["RuleName"] == "never"]
    # 50 decisions under "never"; the one that found the refresh due is counted too
    # unless the background refresh took the counts first.
    assert sum(d["RequestCount"] for d in never) in (50, 51)
    assert sum(d["SampledCount"] for d in never) == 0
    operations = [op for op, _ in api.calls]
    assert operations.count("GetSamplingRules") >= 2 and "GetSamplingTargets" in operations
    assert {key for _, key in api.calls} == {"testing"}  # the proxy signed them


def test_the_api_refuses_the_sampler_without_a_proxy(api: XRayAPI) -> None:
    """The layer's sampler does not sign; straight at the API it is refused, as AWS would."""
    sampler = CentralizedSampler(api.endpoint, service_name="checkout")
    decisions(sampler, 1)
    settle(sampler)
    assert sampler.rules == [] and sampler.failures == 1
    assert api.calls == []
