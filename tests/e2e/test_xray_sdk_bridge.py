"""The bridge compared with the real thing: the same handlers, the same documents.

Each handler of ``bridge_functions.py`` (the X-Ray SDK's documented examples,
Powertools' documented Tracer examples, and one mixing both with OpenTelemetry's
API) runs twice in the local Lambda runtime (awslambdaric against a local Runtime
API, the daemon stand-in receiving the datagrams):

- *reference*: the real ``aws-xray-sdk`` 2.15.0 and ``aws-lambda-powertools`` 3.37.0
  with no layer, sending their own documents to the daemon, as on Lambda today;
- *bridged*: the same code and packages under otel-xray's layer, the SDK on the
  bridge (``otel_xray.bridge.xray_sdk``).

The documents are compared as trees under Lambda's function segment: subsegment
names and nesting, namespaces, annotation and metadata keys and values, the error,
throttle and fault flags, causes (exception types and messages, and which
subsegment holds them) and HTTP statuses. Two invocations each, so ``ColdStart`` is
seen true then false. The differences that remain are normalized here, each one
named, and listed in docs/migrating.md ("What the console shows differently"):

1. the bridged trace has otel-xray's invocation subsegment (named after the
   function) between Lambda's function segment and the code's first subsegment:
   it is made transparent here;
2. spans made with OpenTelemetry's API exist only in the bridged run (the API is a
   no-op without an SDK): transparent here too;
3. a cause that the SDK writes as the *id* of an exception recorded in a subsegment
   inside (``"cause": "<id>"``) is left out by the bridge (the fault flag stays);
4. metadata's ``default`` namespace also holds the span's OpenTelemetry attributes
   (dotted names): only the keys the reference has are compared there;
5. the HTTP and AWS call subsegments come from OpenTelemetry's instrumentations: their
   names, namespaces, statuses and flags are compared, their metadata is not;
6. an AWS call's subsegment is named after the service as X-Ray's console labels it
   (``S3``; the SDK writes botocore's endpoint prefix, ``s3``), compared without case;
   and a call that never reached AWS (connection refused, no response) is a fault
   with its cause under otel-xray, where the SDK's botocore patch records neither;
7. the SDK writes ``"namespace": "local"`` on its own subsegments, otel-xray writes no
   namespace there: a missing namespace reads as ``local`` here.

Runs on every local runtime (python3.11-3.13; ``make runtime`` builds them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_xray.devtools.functions.invoke import LocalFunction
from otel_xray.devtools.loopback import LoopbackHandler, unused_port
from tests.e2e.bridge_functions import FUNCTIONS
from tests.e2e.conftest import LAYER, ROOT, VERSIONS, runtime_of

#: The function's own packages, per runtime, as its deployment package would hold them.
DEPS = ROOT / "build" / "bridge-deps"
PACKAGES = (
    "aws-lambda-powertools[tracer]==3.37.0",
    "aws-xray-sdk==2.15.0",
    "requests",
    "opentelemetry-api==1.45.1",
)
#: Where each comparison's two views are written, for reading (not compared again).
OUT = ROOT / "build" / "bridge-comparison"
LAMBDAS_OWN = frozenset({"Initialization", "Invocation", "Overhead"})


def function_packages(version: str) -> Path:
    """``pip install --target`` of the function's packages for ``version`` (cached)."""
    target = DEPS / version
    stamp = target / ".stamp"
    if stamp.exists() and stamp.read_text() == "\n".join(PACKAGES):
        return target
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--upgrade", "--target", str(target), "--python-version", version,
         "--only-binary=:all:", *PACKAGES],
        check=True, timeout=600,
    )  # fmt: skip
    stamp.write_text("\n".join(PACKAGES))
    return target


class _Orders(LoopbackHandler):
    def do_GET(self) -> None:
        self.reply_json(404, {"order": "none"})


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Orders)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "url": f"http://127.0.0.1:{server.server_address[1]}/orders/1",
        "refused": f"http://127.0.0.1:{unused_port()}",
    }
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bridge-functions")
    for module, (source, _handler, _otel) in FUNCTIONS.items():
        (directory / f"{module}.py").write_text(source)
    return directory


def run(
    module: str, version: str, code: Path, urls: dict[str, str], bridged: bool
) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """Two invocations' trees (cold, then warm), reference or bridged, and the
    function's own documents as the daemon received them."""
    _source, handler, otel_only = FUNCTIONS[module]
    runtime = runtime_of(version)
    packages = function_packages(version)
    env = {
        "PYTHONPATH": f"{runtime / 'runtime'}:{packages}",
        "POWERTOOLS_SERVICE_NAME": "payment",
        "OTEL_XRAY_LOG_LEVEL": "info",
    }
    trees, documents = [], []
    with LocalFunction(
        handler,
        code_dir=code,
        use_layer=bridged,
        layer_dir=LAYER / "x86_64" if bridged else None,
        runtime_dir=runtime,
        function_name="bridge-fn",
        env=env,
    ) as function:
        for _ in range(2):
            result = function.invoke({"charge_id": "c-1", **urls})
            assert result.error is None, (result.error, function.logs())
            assert result.rejected == []
            trees.append(tree(result.segments, result.parent, otel_only, "bridge-fn"))
            documents.append([d for d in result.segments if "origin" not in d])
    return trees, documents


def flatten(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (sub)segment on its own, nested ones with their container as parent."""
    found = []

    def visit(document: dict[str, Any], parent: str | None) -> None:
        own = {k: v for k, v in document.items() if k != "subsegments"}
        if parent is not None:
            own["parent_id"] = parent
        found.append(own)
        for child in document.get("subsegments", []):
            visit(child, document["id"])

    for document in documents:
        visit(document, None)
    return found


def tree(
    documents: list[dict[str, Any]],
    function_segment: str,
    transparent: tuple[str, ...],
    function_name: str,
) -> list[dict[str, Any]]:
    flat = [d for d in flatten(documents) if "origin" not in d and d["name"] not in LAMBDAS_OWN]

    def children(parent: str) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        for document in flat:
            if document.get("parent_id") != parent:
                continue
            invocation = parent == function_segment and document["name"] == function_name
            if invocation or document["name"] in transparent:
                nodes += children(document["id"])  # differences 1 and 2
            else:
                nodes.append(node(document))
        return sorted(nodes, key=lambda n: (n["name"], json.dumps(n, sort_keys=True)))

    def node(document: dict[str, Any]) -> dict[str, Any]:
        cause = document.get("cause")
        return {
            "name": document["name"],
            "namespace": document.get("namespace", "local"),
            "annotations": document.get("annotations", {}),
            "metadata": document.get("metadata", {}),
            "flags": sorted(f for f in ("error", "throttle", "fault") if document.get(f)),
            "cause": [
                (e.get("type"), e.get("message")) for e in cause.get("exceptions", [])
            ] if isinstance(cause, dict) else cause,
            "status": document.get("http", {}).get("response", {}).get("status"),
            "children": children(document["id"]),
        }  # fmt: skip

    return children(function_segment)


def normalized(reference: Any, bridged: Any) -> tuple[Any, Any]:
    """The two trees with the listed differences (3-5) taken out, nothing else."""
    if isinstance(reference, list) and isinstance(bridged, list):
        pairs = [normalized(r, b) for r, b in zip(reference, bridged, strict=False)]
        extra_r, extra_b = reference[len(pairs) :], bridged[len(pairs) :]
        return [p[0] for p in pairs] + extra_r, [p[1] for p in pairs] + extra_b
    if not (isinstance(reference, dict) and isinstance(bridged, dict)):
        return reference, bridged
    reference, bridged = dict(reference), dict(bridged)
    if isinstance(reference.get("cause"), str) and bridged.get("cause") is None:
        reference["cause"] = None  # difference 3
    call = reference.get("namespace") in ("remote", "aws") and not reference["annotations"]
    if call:  # difference 5
        reference["metadata"] = bridged["metadata"] = {}
    if reference.get("namespace") == "aws" and bridged.get("namespace") == "aws":  # 6
        reference["name"] = bridged["name"] = str(reference["name"]).lower()
        unanswered = reference["status"] is None and not reference["flags"]
        if unanswered and not reference["cause"] and bridged["status"] is None:
            bridged["flags"], bridged["cause"] = [], None
    default_r = reference.get("metadata", {}).get("default")
    default_b = bridged.get("metadata", {}).get("default")
    if isinstance(default_b, dict):  # difference 4
        kept = {k: v for k, v in default_b.items() if k in (default_r or {})}
        bridged["metadata"] = {**bridged["metadata"], "default": kept}
        if not kept and default_r is None:
            del bridged["metadata"]["default"]
    children = normalized(reference["children"], bridged["children"])
    reference["children"], bridged["children"] = children
    return reference, bridged


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("module", sorted(FUNCTIONS))
def test_the_bridge_writes_what_the_sdk_writes(
    module: str, version: str, code: Path, urls: dict[str, str]
) -> None:
    reference, reference_documents = run(module, version, code, urls, bridged=False)
    bridged, bridged_documents = run(module, version, code, urls, bridged=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{module}-{version}.json").write_text(
        json.dumps(
            {
                "reference": reference,
                "bridged": bridged,
                "reference_documents": reference_documents,
                "bridged_documents": bridged_documents,
            },
            indent=1,
        )
    )
    assert reference[0], "the reference run recorded nothing: the comparison would be empty"
    for invocation, pair in enumerate(zip(reference, bridged, strict=True)):
        theirs, ours = normalized(*pair)
        assert ours == theirs, f"invocation {invocation} of {module} on python{version}"
