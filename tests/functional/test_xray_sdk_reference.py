"""The X-Ray SDK for Python as the reference for HTTP client subsegments.

docs/how-it-works.md and tests/e2e/test_libraries.py say HTTP calls are named after
the host "as the X-Ray SDK does", with its error (4xx), throttle (429) and fault (5xx,
or no response) flags. Here the X-Ray SDK itself (aws-xray-sdk, ``patch(["requests"])``,
its segments collected from its emitter) and otel-xray (the upstream requests
instrumentation, then our translator) make the same calls to a loopback server, each
in a process of its own, and the subsegments are compared.

Known and kept apart: the X-Ray SDK writes the method as requests passes it (``get``),
otel-xray as the HTTP conventions do (``GET``); the comparison is case-insensitive there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from otel_xray.devtools.loopback import LoopbackHandler, unused_port

STATUSES = [200, 201, 204, 400, 401, 403, 404, 409, 429, 499, 500, 502, 503, 504, 599]

XRAY_SDK = """
import json, sys
from aws_xray_sdk.core import patch, xray_recorder
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

documents = []

class Collect(UDPEmitter):
    def send_entity(self, entity):
        documents.append(json.loads(entity.serialize()))

xray_recorder.configure(emitter=Collect(), context_missing="LOG_ERROR", sampling=False)
patch(["requests"])
import requests

xray_recorder.begin_segment("reference")
for url in sys.argv[1:]:
    try:
        requests.get(url, timeout=2)
    except Exception:
        pass
xray_recorder.end_segment()
[segment] = documents
print(json.dumps(segment["subsegments"]))
"""

OTEL_XRAY = """
import json, sys
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from otel_xray.xray.segment import span_to_document

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
RequestsInstrumentor().instrument(tracer_provider=provider)
import requests

with provider.get_tracer("reference").start_as_current_span("reference", kind=SpanKind.SERVER):
    for url in sys.argv[1:]:
        try:
            requests.get(url, timeout=2)
        except Exception:
            pass
calls = [s for s in exporter.get_finished_spans() if s.name != "reference"]
calls.sort(key=lambda s: s.start_time)
print(json.dumps([span_to_document(s) for s in calls]))
"""


class _Status(LoopbackHandler):
    def do_GET(self) -> None:
        self.reply_json(int(self.path.strip("/")), {"status": self.path})


@pytest.fixture(scope="module")
def urls() -> Iterator[list[str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    refused = f"http://127.0.0.1:{unused_port()}/200"
    yield [f"{base}/{status}" for status in STATUSES] + [refused]
    server.shutdown()
    server.server_close()


def subsegments(script: str, urls: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", script, *urls],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def view(document: dict[str, Any]) -> dict[str, Any]:
    http = document.get("http", {})
    return {
        "name": document.get("name"),
        "namespace": document.get("namespace"),
        "method": str(http.get("request", {}).get("method", "")).upper(),
        "url": http.get("request", {}).get("url"),
        "status": http.get("response", {}).get("status"),
        "error": bool(document.get("error")),
        "throttle": bool(document.get("throttle")),
        "fault": bool(document.get("fault")),
        "cause": bool(document.get("cause")),
    }


def test_http_calls_are_what_the_x_ray_sdk_records(urls: list[str]) -> None:
    reference = [view(d) for d in subsegments(XRAY_SDK, urls)]
    ours = [view(d) for d in subsegments(OTEL_XRAY, urls)]
    assert len(reference) == len(ours) == len(urls)
    for url, theirs, mine in zip(urls, reference, ours, strict=True):
        assert mine == theirs, url
    # The loopback server's answers did reach both: the flags are not all false.
    assert {v["status"] for v in reference} >= {200, 404, 429, 500}
    assert any(v["fault"] and v["status"] is None for v in reference)  # the refused call
