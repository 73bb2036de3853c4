"""The zero-code path for real: the built layer, awslambdaric, a local Runtime API."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.local_services import BUILD, LocalServices
from otel_xray.boundary import is_dev_only
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from tests.e2e.conftest import LAYER, ROOT, RUNTIME, VERSIONS, runtime_of

API_EVENT = json.loads((ROOT / "examples" / "order_api" / "event.json").read_text())


def order_event(amount: float) -> dict[str, object]:
    return {**API_EVENT, "body": json.dumps({"amount": amount, "items": ["book"]})}


def local_function(
    code: Path, handler: str = "app.handler", runtime: Path = RUNTIME, **kwargs: object
) -> LocalFunction:
    return LocalFunction(
        handler,
        code,
        layer_dir=ROOT / default_layer_dir(),
        runtime_dir=runtime,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module", params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    """The core cases run on every Lambda Python runtime (issue 16)."""
    return str(request.param)


@pytest.fixture(scope="module")
def order_api(services: LocalServices, version: str) -> Iterator[LocalFunction]:
    """The order API exporting OTLP, so tests can read the spans themselves."""
    with local_function(
        BUILD / "order_api",
        runtime=runtime_of(version),
        env=services.function_env(),
        function_name="order-api",
        exporter="otlp",
    ) as fn:
        yield fn


def test_two_invocations_attach_to_lambdas_segment(order_api: LocalFunction) -> None:
    results = [order_api.invoke(order_event(42.5)), order_api.invoke(order_event(10))]
    coldstarts = []
    for result in results:
        assert result.ok, result.error
        assert result.response["statusCode"] == 201
        trace_hex = result.root[2:].replace("-", "")
        assert {s["trace_id"] for s in result.spans} == {trace_hex}
        [invocation] = [s for s in result.spans if s["name"] == "order-api"]
        assert invocation["parent_span_id"] == result.parent
        assert invocation["kind"] == "INTERNAL"
        children = {s["name"] for s in result.spans if s["parent_span_id"] == invocation["span_id"]}
        assert children == {"store order", "charge payment", "SQS.SendMessage"}
        [store] = [s for s in result.spans if s["name"] == "store order"]
        assert [s["name"] for s in result.spans if s["parent_span_id"] == store["span_id"]] == [
            "DynamoDB.PutItem"
        ]
        coldstarts.append(invocation["attributes"]["faas.coldstart"])
        assert invocation["resource"]["cloud.platform"] == "aws_lambda"
        assert invocation["resource"]["service.name"] == "order-api"
    assert coldstarts == [True, False]


def test_a_raising_handler_gives_an_error_span_and_the_same_error(order_api: LocalFunction) -> None:
    result = order_api.invoke(order_event(99_999))
    assert result.error is not None
    assert result.error["errorType"] == "PaymentDeclinedError"
    assert "declined: HTTP 402" in result.error["errorMessage"]
    [invocation] = [s for s in result.spans if s["name"] == "order-api"]
    assert invocation["status"]["code"] == "ERROR"
    [exception] = [e for e in invocation["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.message"] == result.error["errorMessage"]
    assert "app.py" in exception["attributes"]["exception.stacktrace"]


def test_an_unanswering_collector_cannot_hold_the_invocation(
    services: LocalServices, version: str
) -> None:
    """A collector that accepts the connection and never answers: the flush bound holds."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        endpoint = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        env = {**services.function_env(), "OTEL_XRAY_FLUSH_TIMEOUT_MS": "300"}
        with local_function(
            BUILD / "order_api",
            runtime=runtime_of(version),
            env=env,
            function_name="order-api",
            otlp_endpoint=endpoint,
            exporter="otlp",
        ) as fn:
            durations = []
            for _ in range(3):
                result = fn.invoke(order_event(5))
                assert result.ok and result.response["statusCode"] == 201
                durations.append(result.duration_ms)
    # Each invocation: the handler's own work plus at most the 300 ms bound.
    assert max(durations) < 300 + 700, durations


def test_closed_collector_adds_next_to_nothing(services: LocalServices) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = services.function_env()
    with local_function(
        BUILD / "order_api",
        env=env,
        function_name="order-api",
        otlp_endpoint=f"http://127.0.0.1:{port}",
        exporter="otlp",
    ) as fn:
        fn.invoke(order_event(5))  # cold
        result = fn.invoke(order_event(5))
    assert result.ok and result.duration_ms < 500


def test_the_functions_own_packages_come_first(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import sys, botocore, opentelemetry.sdk.trace\n"
        "def handler(event, context):\n"
        "    return {'path': sys.path, 'botocore': botocore.__file__,\n"
        "            'sdk': opentelemetry.sdk.trace.__file__}\n"
    )
    with local_function(tmp_path) as fn:
        result = fn.invoke({})
    assert result.ok, result.error
    path = result.response["path"]
    layer_python = str((ROOT / default_layer_dir() / "python").resolve())
    assert (
        path.index(str(tmp_path.resolve()))
        < path.index(layer_python)
        < path.index(str(RUNTIME.resolve() / "runtime"))
    )
    assert result.response["botocore"].startswith(str(RUNTIME.resolve() / "runtime"))
    assert result.response["sdk"].startswith(layer_python)


def test_a_handler_in_a_subdirectory_works_through_the_layer(tmp_path: Path) -> None:
    (tmp_path / "src" / "orders").mkdir(parents=True)
    (tmp_path / "src" / "orders" / "app.py").write_text(
        "def handler(event, context):\n    return 'nested'\n"
    )
    with local_function(tmp_path, "src/orders/app.handler") as fn:
        result = fn.invoke({})
    assert result.response == "nested"
    function_documents = [d for d in result.segments if d.get("type") == "subsegment"]
    assert [d["name"] for d in function_documents] == [fn.function_name]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_layer_zip_is_laid_out_as_lambda_mounts_it(arch: str) -> None:
    with zipfile.ZipFile(LAYER / f"otel-xray-layer-{arch}.zip") as archive:
        infos = {info.filename: info for info in archive.infolist()}
    names = set(infos)
    assert (infos["otel-instrument"].external_attr >> 16) & 0o111
    assert "python/otel_xray/awslambda/wrapper.py" in names
    assert "collector-config/config.yaml" in names
    assert "collector-config/sampling-rules.json" in names
    # Bytecode for every runtime the layer serves, side by side (issue 16).
    for tag in ("311", "312", "313"):
        assert f"python/otel_xray/__pycache__/configurator.cpython-{tag}.pyc" in names, tag
    # Native parts for every runtime of deploy/template.yaml's CompatibleRuntimes,
    # python3.14 included: its wheels need no interpreter here (its bytecode does).
    template = (ROOT / "deploy" / "template.yaml").read_text()
    runtimes = set(re.findall(r"CompatibleRuntimes: \[([^\]]*)\]", template))
    assert runtimes == {"python3.11, python3.12, python3.13, python3.14"}
    for tag in ("311", "312", "313", "314"):
        assert any(f"wrapt/_wrappers.cpython-{tag}-" in n for n in names), tag
    tops = {n.split("/")[1] for n in names if n.startswith("python/")}
    assert not tops & {"boto3", "botocore", "urllib3", "requests", "grpc", "s3transfer"}
    shipped_modules = {
        n.removeprefix("python/").removesuffix(".py").replace("/", ".")
        for n in names
        if n.startswith("python/otel_xray/") and n.endswith(".py")
    }
    assert "otel_xray.export.xray_udp" in shipped_modules
    assert [m for m in shipped_modules if is_dev_only(m)] == []
    # The size budget: at most 15 MB unzipped and 5 MB zipped per architecture.
    assert sum(info.file_size for info in infos.values()) <= 15_000_000
    assert (LAYER / f"otel-xray-layer-{arch}.zip").stat().st_size <= 5_000_000
    # Every native extension is built for the layer's architecture (ELF e_machine).
    expected_machine = {"x86_64": 0x3E, "arm64": 0xB7}[arch]
    with zipfile.ZipFile(LAYER / f"otel-xray-layer-{arch}.zip") as archive:
        machines = {
            n: int.from_bytes(archive.read(n)[18:20], "little") for n in names if n.endswith(".so")
        }
    assert machines and set(machines.values()) == {expected_machine}, machines


@pytest.mark.parametrize("how", ["absolute", "relative", "on PATH"])
def test_the_exec_wrapper_finds_its_layer_however_it_is_run(how: str) -> None:
    """Lambda runs ``/opt/otel-instrument`` by its absolute path (found without a
    subprocess); a relative path and a bare name on PATH must find the layer too."""
    layer = (ROOT / default_layer_dir()).resolve()
    command = {
        "absolute": [str(layer / "otel-instrument")],
        "relative": ["./" + layer.name + "/otel-instrument"],
        "on PATH": ["otel-instrument"],
    }[how]
    done = subprocess.run(
        [*command, "/usr/bin/env"],
        cwd=layer.parent,
        env={"PATH": f"{layer}:/usr/bin:/bin", "_HANDLER": "app.handler"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert env["PYTHONPATH"].split(":")[0] == str(layer / "python")
    assert env["_HANDLER"] == "otel_xray.awslambda.wrapper.handler"
    assert env["ORIG_HANDLER"] == "app.handler"
