"""Every export path through the built layer, on every Lambda Python runtime.

The paths (``docs/exporters.md``): segment documents to the daemon (``xray-udp``), OTLP to
a collector (``otlp`` with the extension), OTLP datagrams to the daemon as AWS's own
layer sends them (``xray-otlp-udp``: ADOT ``otlp_udp_exporter.py``), and signed OTLP to
X-Ray's endpoint (``otlp`` + ``OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER=
aws_sigv4``, here the local X-Ray API's ``/v1/traces``). X-Ray's meaning must survive the
wire: the function's segment under Lambda's, annotations indexed, redaction applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from tests.e2e.conftest import ROOT, VERSIONS, runtime_of

PATHS = ("xray-udp", "otlp", "xray-otlp-udp", "xray-otlp")
SECRET_EMAIL = "jane.doe@example.com"
CODE = f"""
import otel_xray
from opentelemetry import trace

def handler(event, context):
    otel_xray.annotate("customer_tier", "gold")
    otel_xray.metadata("order", items=3)
    trace.get_current_span().set_attribute("customer.contact", "{SECRET_EMAIL}")
    return {{"ok": True}}
"""


@pytest.fixture(scope="module", params=[(v, p) for v in VERSIONS for p in PATHS],
                ids=lambda vp: f"{vp[0]}-{vp[1]}")  # fmt: skip
def function(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, LocalFunction]]:
    version, path = request.param
    runtime = runtime_of(version)
    code = tmp_path_factory.mktemp("paths")
    (code / "app.py").write_text(CODE)
    with LocalFunction(
        "app.handler",
        code,
        layer_dir=ROOT / default_layer_dir(),
        runtime_dir=runtime,
        function_name="checkout",
        exporter=path,
    ) as fn:
        yield path, fn


def test_the_function_segment_is_under_lambdas_with_its_annotations(
    function: tuple[str, LocalFunction],
) -> None:
    path, fn = function
    result = fn.invoke({"order": 1})
    assert result.ok, fn.logs()
    assert result.rejected == []
    ours = [s for s in result.segments if s.get("parent_id") == result.parent]
    assert len(ours) == 1, (path, result.segments)
    [segment] = ours
    assert segment["trace_id"] == result.root
    assert segment["annotations"]["customer_tier"] == "gold"
    assert segment["metadata"]["order"] == {"items": 3}
    assert SECRET_EMAIL not in json.dumps(result.segments)
    wire = b"".join(result.raw_datagrams)
    if path == "xray-otlp-udp":
        assert wire.startswith(b'{"format":"json","version":1}\nT1S')
        spans = [s for s in result.spans if s["parent_span_id"] == result.parent]
        assert "customer_tier" in spans[0]["attributes"]["aws.xray.annotations"]
        assert spans[0]["attributes"]["aws.local.operation"] == "checkout/FunctionHandler"
    if path == "xray-otlp":
        assert fn.xray_api is not None and fn.xray_api.otlp_refused == []
        wire = json.dumps(fn.xray_api.otlp_requests).encode()
        assert b"aws.xray.annotations" in wire and b"aws.local.service" in wire
    assert SECRET_EMAIL.encode() not in wire


def test_a_second_invocation_is_warm_and_joins_its_own_trace(
    function: tuple[str, LocalFunction],
) -> None:
    _, fn = function
    first, second = fn.invoke({}), fn.invoke({})
    assert first.root != second.root
    [warm] = [s for s in second.segments if s.get("parent_id") == second.parent]
    assert warm["trace_id"] == second.root
    assert warm["annotations"].get("ColdStart") in (False, None)


def test_paths_module_is_named_in_the_docs() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "exporters.md").read_text()
    for path in ("xray-udp", "xray-otlp-udp", "OTEL_TRACES_EXPORTER=otlp"):
        assert path in docs
