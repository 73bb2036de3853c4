"""10,000 real HTTP requests over loopback: the sampled count per rule is what the rules say."""

from __future__ import annotations

import http.client
import itertools
import json
import math
import random
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_xray.sampling import XRayParentBased
from otel_xray.sampling.local import LocalRulesSampler
from otel_xray.sampling.rules import LocalRules

#: The rules the project ships (collector/sampling-rules.json), as a team would use them.
RULES = json.loads((Path(__file__).parents[2] / "collector" / "sampling-rules.json").read_text())
#: (method, path, the shipped rule it meets, requests) of the 10,000.
TRAFFIC = [
    ("GET", "/health", "health checks", 2000),
    ("POST", "/orders", "creates", 3000),
    ("GET", "/orders/42", "reads", 4000),
    ("DELETE", "/users/7", "deletes", 1000),
]
REQUESTS_PER_SECOND = 500  # of the injected clock: 20 seconds of traffic


class RequestClock:
    """Time advances with the requests served: 500 of them per second."""

    def __init__(self) -> None:
        self.served = itertools.count()
        self.now = 0.0

    def tick(self) -> None:
        self.now = next(self.served) / REQUESTS_PER_SECOND

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def traced_server() -> Iterator[tuple[str, InMemorySpanExporter, RequestClock]]:
    clock = RequestClock()
    lock = threading.Lock()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        sampler=XRayParentBased(
            LocalRulesSampler(LocalRules.parse(RULES, clock), random.Random(11))
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("load")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            return None

        def handle_one(self) -> None:
            with lock:
                clock.tick()
                attributes = {
                    "http.request.method": self.command,
                    "url.path": self.path,
                    "server.address": "api.local",
                }
                span = tracer.start_span("request", kind=SpanKind.SERVER, attributes=attributes)
            span.end()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self.handle_one()

        def do_POST(self) -> None:
            self.handle_one()

        def do_DELETE(self) -> None:
            self.handle_one()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", exporter, clock
    server.shutdown()
    server.server_close()
    provider.shutdown()


def test_ten_thousand_requests_are_sampled_as_the_rules_say(
    traced_server: tuple[str, InMemorySpanExporter, RequestClock],
) -> None:
    address, exporter, _ = traced_server
    host, port = address.split(":")
    plan = [(method, path) for method, path, _, count in TRAFFIC for _ in range(count)]
    random.Random(5).shuffle(plan)
    chunks = [plan[i::4] for i in range(4)]
    failures: list[BaseException] = []

    def client(requests: list[tuple[str, str]]) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            for method, path in requests:
                connection.request(method, path)
                connection.getresponse().read()
        except BaseException as error:  # surfaced below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and len(plan) == 10_000
    spans = exporter.get_finished_spans()
    sampled = Counter(
        (s.attributes["http.request.method"], s.attributes["url.path"]) for s in spans
    )  # type: ignore[index]
    seconds = 10_000 // REQUESTS_PER_SECOND
    rules = LocalRules.parse(RULES)
    for method, path, name, count in TRAFFIC:
        rule = rules.match("api.local", method, path)
        assert rule.description.startswith(name), (method, path, rule.description)
        # Each second: the reservoir first (never more than the requests), then the rate.
        reservoir = seconds * min(rule.fixed_target, count / seconds)
        rest = count - reservoir
        expected = reservoir + rest * rule.rate
        spread = 3 * math.sqrt(rest * rule.rate * (1 - rule.rate))
        got = sampled[(method, path)]
        assert abs(got - expected) <= spread + 1, (name, got, expected, spread)
    assert sampled[("GET", "/health")] == 0
