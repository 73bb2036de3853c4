"""What the layer imports at cold start: only what the configuration uses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from otel_xray.devtools.functions.invoke import default_layer_dir
from tests.e2e.conftest import ROOT, RUNTIME

PROBE = (
    "import json, sys; import otel_xray.awslambda.wrapper; print(json.dumps(sorted(sys.modules)))"
)
#: The same, after the pipeline made what its first flush makes (on Lambda, after the first
#: response): the exporter and the redactor.
PROBE_AFTER_FIRST_FLUSH = (
    "import json, sys; import otel_xray.awslambda.wrapper; "
    "from otel_xray.configurator import current; t = current(); "
    "t.exporting._exporter; t.redactor; print(json.dumps(sorted(sys.modules)))"
)
#: A function's own requests (and urllib3), as the example API packages them
#: (make examples, which make test runs); the app.py there is shadowed by the probe's.
FUNCTION_DEPS = ROOT / "build" / "examples" / "order_api"


def modules_at_start(
    tmp_path: Path, imports: str = "", probe: str = PROBE, **environ: str
) -> set[str]:
    """sys.modules after the runtime imported the layer's handler, as on a cold start.

    ``imports``: what the function's module imports, e.g. ``"import requests"``.
    """
    (tmp_path / "app.py").write_text(f"{imports}\ndef handler(event, context):\n    return 'ok'\n")
    layer = ROOT / default_layer_dir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "ORIG_HANDLER": "app.handler",
        "PYTHONPATH": f"{tmp_path}:{layer / 'python'}:{RUNTIME / 'runtime'}:{FUNCTION_DEPS}",
        **environ,
    }
    output = subprocess.run(
        [str(RUNTIME / "lang" / "bin" / "python"), "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


def under(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_the_default_lambda_path_imports_only_what_it_uses(tmp_path: Path) -> None:
    modules = modules_at_start(tmp_path)
    # The exporter and the redactor are made at the first flush (after the response), not
    # during init; the pipeline's processors are there.
    assert "otel_xray.export.processor" in modules
    assert "otel_xray.pii.processor" in modules
    assert under(modules, "otel_xray.export.xray_udp", "otel_xray.export.udp") == []
    assert under(modules, "otel_xray.xray.segment", "otel_xray.pii.redactor") == []
    assert under(modules, "otel_xray.pii.detectors", "otel_xray.pii.sql") == []
    flushed = modules_at_start(tmp_path, probe=PROBE_AFTER_FIRST_FLUSH)
    assert "otel_xray.export.xray_udp" in flushed  # the default exporter without a collector
    assert "otel_xray.pii.redactor" in flushed
    modules = flushed
    assert under(modules, "grpc") == []
    assert under(modules, "google.protobuf") == []  # no protobuf on the UDP path
    assert under(modules, "opentelemetry.exporter") == []
    assert under(modules, "otel_xray.devtools", "otel_xray.testing") == []
    # No entry-point driven set-up: not the SDK's configurator, not auto-instrumentation.
    assert under(modules, "opentelemetry.sdk._configuration") == []
    assert under(modules, "opentelemetry.instrumentation.auto_instrumentation") == []
    assert under(modules, "otel_xray.subsegments", "otel_xray.concurrency") == []  # API: on use
    # Nothing of the other paths: the batch worker, the console exporter, the sampler proxy.
    assert under(modules, "otel_xray.export.batch", "otel_xray.export.console") == []
    assert under(modules, "otel_xray.export.otlp", "otel_xray.sampling.centralized") == []


@pytest.mark.parametrize("collector", ["/opt/collector-config/config.yaml"])
def test_with_a_collector_only_the_otlp_encoder_is_added(tmp_path: Path, collector: str) -> None:
    modules = modules_at_start(
        tmp_path, probe=PROBE_AFTER_FIRST_FLUSH, OPENTELEMETRY_COLLECTOR_CONFIG_URI=collector
    )
    assert "otel_xray.export.otlp" in modules
    assert "otel_xray.export.xray_udp" not in modules
    assert under(modules, "grpc") == []
    # Protobuf is imported on the first export, not at start.
    assert under(modules, "opentelemetry.exporter.otlp.proto.grpc") == []


XRAY_OTLP = {
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.us-east-1.amazonaws.com/v1/traces",
    "OTEL_TRACES_EXPORTER": "otlp",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
}


@pytest.mark.parametrize(
    "environ", [{"OTEL_TRACES_EXPORTER": "xray-otlp-udp"}, XRAY_OTLP], ids=["udp", "signed"]
)
def test_the_otlp_paths_to_x_ray_import_no_protobuf_nor_botocore(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """Issue 26: OTLP encoded by hand (otel_xray.export.otlp_proto), signed by hand
    (otel_xray.export.aws_auth): no protobuf runtime, no upstream exporter, and no
    botocore while the credentials are in the environment."""
    modules = modules_at_start(tmp_path, probe=PROBE_AFTER_FIRST_FLUSH, **environ)
    assert "otel_xray.export.otlp_proto" in modules
    if environ.get("OTEL_TRACES_EXPORTER") == "xray-otlp-udp":
        # Nothing of the HTTP path: http.client alone is ~11 ms (python -X importtime).
        assert under(modules, "otel_xray.export.otlp", "otel_xray.export.aws_auth") == []
        assert "http.client" not in modules
    assert under(modules, "google.protobuf", "opentelemetry.exporter", "opentelemetry.proto") == []
    assert under(modules, "botocore", "boto3", "grpc", "requests") == []
    assert under(modules, "otel_xray.devtools", "otel_xray.testing") == []


def test_a_function_that_imports_no_library_pays_for_no_instrumentation(tmp_path: Path) -> None:
    """Issue 17, lazy by import: nothing of any instrumentation, nor the instrumentation
    base, wrapt (which imports asyncio) or packaging, when the function imports none of
    the instrumented libraries."""
    modules = modules_at_start(tmp_path)
    assert under(modules, "opentelemetry.instrumentation") == []
    assert under(modules, "wrapt", "packaging", "asyncio") == []
    assert under(modules, "botocore", "requests", "urllib3") == []


@pytest.mark.parametrize(
    ("imports", "instrumented", "not_instrumented"),
    [
        ("import requests", ["requests", "urllib3"], ["botocore"]),
        ("import urllib3", ["urllib3"], ["requests", "botocore"]),
        ("import boto3", ["botocore"], ["requests"]),
    ],
)
def test_a_library_is_instrumented_when_the_function_imports_it(
    tmp_path: Path, imports: str, instrumented: list[str], not_instrumented: list[str]
) -> None:
    modules = modules_at_start(tmp_path, imports)
    for name in instrumented:
        assert f"opentelemetry.instrumentation.{name}" in modules, name
    for name in not_instrumented:
        assert f"opentelemetry.instrumentation.{name}" not in modules, name
    if "botocore" in instrumented:
        assert "otel_xray.instrumentation.aws_sdk_header" in modules  # the X-Ray hook too
    # The dependency checker (packaging.requirements) only where a check runs: the
    # layer patches instrumentor.py (layer/build.py, UPSTREAM_PATCHES).
    assert "packaging.requirements" not in modules
    assert "asyncio" not in modules  # wrapt 1.17: no asyncio on import
    # The semantic conventions' attribute modules: their strings are inlined by the
    # layer build (layer/inline_constants.py); packaging.version only for a schema URL.
    # The largest of them (db_attributes alone ~3 ms) are not imported; what stays is
    # what is imported for a class or a function (metric instruments, Schemas).
    for name in ("db", "http", "net", "rpc", "cloud", "messaging", "aws"):
        assert f"opentelemetry.semconv._incubating.attributes.{name}_attributes" not in modules
        assert f"opentelemetry.semconv.attributes.{name}_attributes" not in modules
    assert "packaging" not in modules


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OPENTELEMETRY_COLLECTOR_CONFIG_URI": "/opt/collector-config/config.yaml"},
        {"OTEL_TRACES_EXPORTER": "xray-otlp-udp"},
        XRAY_OTLP,
    ],
    ids=["xray-udp", "collector", "xray-otlp-udp", "signed-otlp"],
)
def test_what_a_cold_start_imports_from_the_layer_has_bytecode(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """The layer compiles only what its code paths import (layer/build.py,
    ``_bytecode_sources``); a module a cold start imports without bytecode would be
    compiled on every cold start. /opt is read-only, so nothing caches it."""
    # As on Lambda, nothing is written back (here the layer is not read-only).
    modules = modules_at_start(tmp_path, "import requests", PYTHONDONTWRITEBYTECODE="1", **environ)
    python = ROOT / default_layer_dir() / "python"
    missing = []
    for name in modules:
        base = python.joinpath(*name.split("."))
        source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not source.is_file():
            continue  # not the layer's (the runtime's, the function's, the stdlib)
        if not (source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc").exists():
            missing.append(name)
    assert missing == []


def test_the_x_ray_sdk_bridge_costs_nothing_unless_the_function_imports_the_sdk(
    tmp_path: Path,
) -> None:
    """The bridge (otel_xray.bridge) is armed by a post-import hook on aws_xray_sdk.core:
    a function that never imports the SDK imports neither; one that does gets it."""
    from tests.e2e.test_xray_sdk_bridge import function_packages  # noqa: PLC0415

    assert under(modules_at_start(tmp_path), "otel_xray.bridge", "aws_xray_sdk") == []
    layer = ROOT / default_layer_dir()
    path = f"{tmp_path}:{layer / 'python'}:{RUNTIME / 'runtime'}:{function_packages('3.11')}"
    modules = modules_at_start(
        tmp_path, "from aws_xray_sdk.core import xray_recorder", PYTHONPATH=path
    )
    assert "otel_xray.bridge.xray_sdk" in modules
    assert under(modules, "aws_lambda_powertools") == []  # only what the function imports


def test_registering_the_extension_that_exports_after_the_response_imports_nothing(
    tmp_path: Path,
) -> None:
    """The registration (otel_xray/awslambda/extension.py) is one loopback request on a raw
    socket: no http.client (~11 ms), and no getaddrinfo, whose IDNA encoding of the host
    imports encodings.idna, stringprep and unicodedata."""
    from otel_xray.devtools.functions.runtime_api import RuntimeAPI  # noqa: PLC0415

    (tmp_path / "without").mkdir()
    (tmp_path / "with").mkdir()
    without = modules_at_start(tmp_path / "without")
    with RuntimeAPI("arn:aws:lambda:us-east-1:123456789012:function:probe") as api:
        modules = modules_at_start(tmp_path / "with", AWS_LAMBDA_RUNTIME_API=api.address)
        assert [extension.name for extension in api.extensions.values()] == ["otel-xray"]
    assert sorted(modules - without) == []
    assert under(modules, "http.client", "encodings.idna", "unicodedata") == []
