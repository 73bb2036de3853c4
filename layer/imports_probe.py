"""What the layer's own code paths import: run by layer/build.py against a fresh layer.

Prints (as JSON) every module under the layer's ``python/`` that these paths import:
the exec wrapper's start (xray-udp, the default), an OTLP encode (the collector path's
first export), PII redaction, the centralized sampler, the developer API, and the
AWS SDK, requests and urllib3 instrumentations with a call to each AWS service the
X-Ray resource fields cover (to a closed loopback port, so each fails at once).
The build gives bytecode to these modules of the families it ships as source
otherwise (``layer/build.py``, ``SOURCE_UNLESS_IMPORTED``).

    python layer/imports_probe.py LAYER_PYTHON_DIR
"""

# The imports are in the functions on purpose: what they import is the measurement.
# ruff: noqa: PLC0415

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> None:
    layer = str(Path(sys.argv[1]).resolve())
    task = tempfile.mkdtemp(prefix="otel-xray-probe-")
    Path(task, "probe_app.py").write_text("def handler(event, context):\n    return 1\n")
    sys.path.insert(0, task)
    os.environ.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "probe",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "LAMBDA_TASK_ROOT": task,
            "ORIG_HANDLER": "probe_app.handler",
        }
    )
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import otel_xray.awslambda.wrapper
    import otel_xray.export.otlp
    import otel_xray.pii
    import otel_xray.sampling.centralized
    import otel_xray.subsegments  # noqa: F401

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("probe").start_as_current_span("probe", attributes={"a": 1}):
        pass
    encode_spans(exporter.get_finished_spans()).SerializeToString()
    from opentelemetry import trace

    # Through the provider the wrapper configured: redaction on the span's end.
    with trace.get_tracer("probe").start_as_current_span("p", attributes={"e": "a@b.example"}):
        pass
    with contextlib.suppress(ImportError):
        _call_aws_and_http()
    print(
        json.dumps(
            sorted(
                name
                for name, module in list(sys.modules.items())
                if str(getattr(module, "__file__", "") or "").startswith(layer)
            )
        )
    )


def _call_aws_and_http() -> None:
    import boto3
    import requests
    from botocore.config import Config
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    BotocoreInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    URLLib3Instrumentor().instrument()
    config = Config(connect_timeout=0.2, read_timeout=0.2, retries={"max_attempts": 1})
    calls = {
        "sqs": ("send_message", {"QueueUrl": "http://127.0.0.1:9/1/q", "MessageBody": "x"}),
        "dynamodb": ("get_item", {"TableName": "t", "Key": {"k": {"S": "v"}}}),
        "s3": ("get_object", {"Bucket": "b", "Key": "k"}),
        "sns": ("publish", {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "x"}),
        "lambda": ("invoke", {"FunctionName": "f"}),
        "kinesis": ("put_record", {"StreamName": "s", "Data": b"x", "PartitionKey": "p"}),
        "stepfunctions": ("start_execution", {"stateMachineArn": "arn:aws:states:x"}),
        "events": ("put_events", {"Entries": [{"Source": "s"}]}),
        "secretsmanager": ("get_secret_value", {"SecretId": "s"}),
    }
    for service, (operation, parameters) in calls.items():
        client = boto3.client(
            service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9", config=config
        )
        with contextlib.suppress(Exception):
            getattr(client, operation)(**parameters)
    with contextlib.suppress(Exception):
        requests.get("http://127.0.0.1:9", timeout=0.2)


if __name__ == "__main__":
    main()
