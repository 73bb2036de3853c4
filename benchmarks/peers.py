"""The alternatives, each laid out as a Lambda layer of its own, for the side-by-side benchmark.

Each peer gets ``build/bench/peers/<name>/``: ``python/`` (its pinned packages,
installed with pip into that folder only) and an ``otel-instrument`` exec wrapper
that starts the function the way that peer's layer or documentation does. The
local harness then runs them exactly as it runs ours (``AWS_LAMBDA_EXEC_WRAPPER``,
awslambdaric, the local Runtime API). Our own code is not in any of them; the
wrappers are written here from each project's documented start path:

- ``upstream-otel``: ``opentelemetry-instrument`` (entry-point discovery of every
  installed instrumentation) re-executing Python with its ``sitecustomize``, the
  ``aws-lambda`` instrumentation wrapping the handler, OTLP/HTTP to a collector;
  as the opentelemetry-lambda Python layer does.
- ``aws-otel-distro``: the same start path with ``aws-opentelemetry-distro`` and the
  environment its layer sets (X-Ray id generator and propagators, OTLP/HTTP), and its
  layer's ``otel_wrapper.py`` extractor, which parents the function's span on Lambda's
  ``_X_AMZN_TRACE_ID`` (without it the spans start traces of their own).
- ``aws-otel-distro-fast-start``: the same package in its layer's fast-start mode
  (``OTEL_AWS_LAMBDA_FAST_START=true``; aws-otel-python-instrumentation
  ``lambda-layer/src/otel-instrument`` and ``otel_wrapper.py``): no
  ``opentelemetry-instrument``, the runtime is exec'd as it is, and the wrapper module
  calls the distro's ``configure_lite_mode()`` (its own provider, spans to the daemon
  over UDP, botocore/requests/urllib3 only) before instrumenting the handler with the
  same extractor.
- ``xray-sdk``: ``aws_xray_sdk.core.patch_all()`` before the handler is imported,
  segments to the X-Ray daemon.
- ``powertools``: Powertools ``Tracer`` (which patches through the X-Ray SDK) with
  ``capture_lambda_handler``.
"""

from __future__ import annotations

import hashlib
import io
import py_compile
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / "build" / "bench" / "peers"

#: name -> (pinned requirements, exporter the harness provides: "otlp" or "xray-udp")
PEERS: dict[str, tuple[list[str], str]] = {
    "upstream-otel": (
        [
            "opentelemetry-distro==0.66b1",
            "opentelemetry-sdk==1.45.1",
            "opentelemetry-exporter-otlp-proto-http==1.45.1",
            "opentelemetry-instrumentation-aws-lambda==0.66b1",
            "opentelemetry-instrumentation-botocore==0.66b1",
            "opentelemetry-instrumentation-requests==0.66b1",
            "opentelemetry-instrumentation-urllib3==0.66b1",
            "opentelemetry-propagator-aws-xray==1.0.2",
        ],
        "otlp",
    ),
    "aws-otel-distro": (["aws-opentelemetry-distro==0.21.0"], "otlp"),
    "aws-otel-distro-fast-start": (["aws-opentelemetry-distro==0.21.0"], "xray-udp"),
    "xray-sdk": (["aws-xray-sdk==2.15.0"], "xray-udp"),
    "powertools": (["aws-lambda-powertools[tracer]==3.37.0"], "xray-udp"),
}

_OTEL_WRAPPER = '''"""Start path of an OpenTelemetry Lambda layer: wrap ORIG_HANDLER with the
aws-lambda instrumentation (opentelemetry-instrument has already configured the SDK)."""
import importlib
import os

from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

_module, _, _function = os.environ["ORIG_HANDLER"].rpartition(".")
AwsLambdaInstrumentor().instrument()
handler = getattr(importlib.import_module(_module.replace("/", ".")), _function)
'''

#: What the ADOT layer's otel_wrapper.py does after setting up (aws-otel-python-instrumentation
#: lambda-layer/src/otel_wrapper.py, since #250): the aws-lambda instrumentation with an
#: extractor that puts Lambda's _X_AMZN_TRACE_ID in place of the event's X-Ray header.
_ADOT_HANDLER = """
from opentelemetry.context import Context  # noqa: E402
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor  # noqa: E402
from opentelemetry.propagate import get_global_textmap  # noqa: E402
from opentelemetry.trace import get_current_span  # noqa: E402


def _extract(event):
    headers = event.get("headers") if isinstance(event, dict) else None
    headers = dict(headers) if isinstance(headers, dict) else {}
    lambda_header = os.environ.get("_X_AMZN_TRACE_ID")
    if lambda_header:
        headers = {k: v for k, v in headers.items() if k.lower() != "x-amzn-trace-id"}
        headers["X-Amzn-Trace-Id"] = lambda_header
    context = get_global_textmap().extract(headers)
    return context if get_current_span(context).get_span_context() else Context()


AwsLambdaInstrumentor().instrument(event_context_extractor=_extract)
_module, _, _function = os.environ["ORIG_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(_module.replace("/", ".")), _function)
"""

_ADOT_WRAPPER = (
    '''"""Start path of the ADOT layer (its otel_wrapper.py; opentelemetry-instrument has
already configured the SDK)."""
import importlib
import os
'''
    + _ADOT_HANDLER
)

_FAST_START_WRAPPER = (
    '''"""Start path of the ADOT layer in fast-start mode (its otel_wrapper.py): the lite
SDK (configure_lite_mode), then the aws-lambda instrumentation."""
import importlib
import os

from amazon.opentelemetry.distro.opentelemetry_lite_sdk import configure_lite_mode

configure_lite_mode()
'''
    + _ADOT_HANDLER
)

_XRAY_WRAPPER = '''"""Start path of the X-Ray SDK: patch_all() before the handler is imported."""
import importlib
import os

from aws_xray_sdk.core import patch_all

patch_all()
_module, _, _function = os.environ["ORIG_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(_module.replace("/", ".")), _function)
'''

_POWERTOOLS_WRAPPER = '''"""Start path of Powertools Tracer: Tracer() (patches through the X-Ray
SDK), then capture_lambda_handler around the function's handler."""
import importlib
import os

from aws_lambda_powertools import Tracer

tracer = Tracer(service=os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
_module, _, _function = os.environ["ORIG_HANDLER"].rpartition(".")
handler = tracer.capture_lambda_handler(
    getattr(importlib.import_module(_module.replace("/", ".")), _function)
)
'''

_COMMON = """#!/bin/sh
LAYER="$(cd "$(dirname "$0")" && pwd)"
export ORIG_HANDLER="$_HANDLER"
export _HANDLER="peer_wrapper.handler"
export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-$AWS_LAMBDA_FUNCTION_NAME}"
"""
_OTEL_EXEC = """export OTEL_TRACES_EXPORTER=otlp
export OTEL_METRICS_EXPORTER=none
export OTEL_LOGS_EXPORTER=none
export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
exec "$1" -c 'from opentelemetry.instrumentation.auto_instrumentation import run; run()' "$@"
"""

#: The instrumentations the ADOT layer turns off unless the function names its own list
#: (aws-otel-python-instrumentation lambda-layer/src/otel-instrument, full mode).
_ADOT_DISABLED = ",".join(
    [
        *("aio-pika", "aiohttp-client", "aiohttp-server", "aiopg", "asgi", "asyncio"),
        *("asyncpg", "boto", "boto3", "cassandra", "celery", "confluent_kafka", "dbapi"),
        *("django", "falcon", "fastapi", "flask", "grpc_client", "grpc_server"),
        *("grpc_aio_client", "grpc_aio_server", "httpx", "jinja2", "kafka", "logging"),
        *("mysql", "mysqlclient", "pika", "psycopg", "psycopg2", "pymemcache", "pymongo"),
        *("pymysql", "pyramid", "redis", "remoulade", "requests", "sklearn", "sqlalchemy"),
        *("sqlite3", "starlette", "system_metrics", "threading", "tornado", "tortoiseorm"),
        *("wsgi", "openai_agents", "aws_openai_agents", "aws_crewai", "aws_langchain"),
        *("aws_mcp", "aws_llama-index"),
    ]
)

WRAPPERS: dict[str, tuple[str, str]] = {
    "upstream-otel": (
        _COMMON
        + 'export PYTHONPATH="$LAMBDA_TASK_ROOT:$LAYER/python:$PYTHONPATH"\n'
        + "export OTEL_PROPAGATORS=tracecontext,baggage,xray-lambda\n"
        + _OTEL_EXEC,
        _OTEL_WRAPPER,
    ),
    "aws-otel-distro": (
        _COMMON
        # As its layer: the runtime first, then the layer.
        + 'export PYTHONPATH="$LAMBDA_RUNTIME_DIR:$LAYER/python:$PYTHONPATH"\n'
        + "export OTEL_PROPAGATORS=baggage,xray,tracecontext\n"
        + "export OTEL_PYTHON_ID_GENERATOR=xray\n"
        + "export OTEL_AWS_APPLICATION_SIGNALS_ENABLED=false\n"
        + 'export OTEL_RESOURCE_ATTRIBUTES="cloud.region=$AWS_REGION,cloud.provider=aws,'
        + 'cloud.platform=aws_lambda,faas.name=$AWS_LAMBDA_FUNCTION_NAME"\n'
        # Its layer's deny-list, and aws-lambda: the wrapper module instruments the handler.
        + 'export OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="${OTEL_PYTHON_DISABLED_INSTRUMENTATIONS:-'
        + _ADOT_DISABLED
        + '},aws-lambda"\n'
        + _OTEL_EXEC,
        _ADOT_WRAPPER,
    ),
    "aws-otel-distro-fast-start": (
        _COMMON
        + 'export PYTHONPATH="$LAMBDA_RUNTIME_DIR:$LAYER/python:$PYTHONPATH"\n'
        + "export OTEL_AWS_LAMBDA_FAST_START=true\n"
        + "export OTEL_PROPAGATORS=baggage,xray,tracecontext\n"
        + "export OTEL_METRICS_EXPORTER=none\n"
        + "export OTEL_LOGS_EXPORTER=none\n"
        + 'export OTEL_RESOURCE_ATTRIBUTES="cloud.region=$AWS_REGION,cloud.provider=aws,'
        + 'cloud.platform=aws_lambda,faas.name=$AWS_LAMBDA_FUNCTION_NAME"\n'
        + 'exec "$@"\n',
        _FAST_START_WRAPPER,
    ),
    "xray-sdk": (
        _COMMON + 'export PYTHONPATH="$LAMBDA_TASK_ROOT:$LAYER/python:$PYTHONPATH"\nexec "$@"\n',
        _XRAY_WRAPPER,
    ),
    "powertools": (
        _COMMON
        + 'export PYTHONPATH="$LAMBDA_TASK_ROOT:$LAYER/python:$PYTHONPATH"\n'
        + "export POWERTOOLS_TRACER_CAPTURE_RESPONSE=false\n"
        + 'exec "$@"\n',
        _POWERTOOLS_WRAPPER,
    ),
}


def build_peer(name: str) -> Path:
    """``build/bench/peers/<name>``: its packages installed once per requirements digest,
    its wrapper script and module (re)written when they differ (and the module compiled,
    as pip compiles the packages: a read-only layer caches no bytecode)."""
    requirements, _ = PEERS[name]
    script, module = WRAPPERS[name]
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    folder = PEERS_DIR / name
    stamp = folder / ".built"
    if not stamp.exists() or stamp.read_text() != digest:
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "python").mkdir(parents=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(folder / "python"),
                *requirements,
            ],
            check=True,
        )
        # As in a layer: the runtime's own boto3/botocore win (the harness's runtime has them).
        for shadowed in ("boto3", "botocore", "s3transfer", "urllib3"):
            shutil.rmtree(folder / "python" / shadowed, ignore_errors=True)
        stamp.write_text(digest)
    target = folder / "python" / "peer_wrapper.py"
    if not target.exists() or target.read_text() != module:
        target.write_text(module)
        py_compile.compile(str(target), doraise=True)
    wrapper = folder / "otel-instrument"
    if not wrapper.exists() or wrapper.read_text() != script:
        wrapper.write_text(script)
        wrapper.chmod(0o755)
    return folder


def size_bytes(folder: Path) -> tuple[int, int]:
    """(unzipped, zipped) size of a layer's ``python/`` folder."""
    files = sorted(p for p in (folder / "python").rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder))
    return unzipped, len(buffer.getvalue())
