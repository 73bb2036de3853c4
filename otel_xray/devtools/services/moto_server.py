"""AWS's APIs on loopback for local runs: moto's server, plus what it leaves out of tracing.

moto stores the data; what AWS does with the trace header at a service boundary is
ours to emulate, with the source of each rule in its docstring. One thing moto
does not do that SQS does: take the ``X-Amzn-Trace-Id`` header of a
``SendMessage`` call and keep it as the message's ``AWSTraceHeader`` system
attribute (the AWS X-Ray guide, "Amazon SQS and AWS X-Ray"). :class:`SqsTraceHeader`
adds that, so a consumer's trace links to the producer's as it does on AWS.

Example:
    >>> with AwsServices() as aws:
    ...     sqs = aws.client("sqs")
    ...     url = sqs.create_queue(QueueName="doc-example")["QueueUrl"]
    ...     aws.endpoint.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any, Self

import boto3  # type: ignore[import-untyped]
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from otel_xray.devtools.loopback import Running

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Credentials moto accepts; never real ones.
TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class SqsTraceHeader:
    """WSGI middleware: a traced SendMessage keeps its trace header as ``AWSTraceHeader``."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        header = environ.get("HTTP_X_AMZN_TRACE_ID")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if header and target == "AmazonSQS.SendMessage":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            try:
                request = json.loads(body)
                system = request.setdefault("MessageSystemAttributes", {})
                system.setdefault("AWSTraceHeader", {"DataType": "String", "StringValue": header})
                body = json.dumps(request).encode()
            except (ValueError, AttributeError):
                pass  # not ours to judge: moto answers it as it is
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


class AwsServices(Running):
    """moto's server on 127.0.0.1 (a free port), behind the trace-header middleware."""

    def __init__(self, region: str = "us-east-1") -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.region = region
        self._server = make_server(
            "127.0.0.1",
            0,
            SqsTraceHeader(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def reset(self) -> None:
        """Forget every table, queue, bucket and message (moto keeps one store per
        process, shared by every server in it: a second app would meet the first's)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def client(self, service: str) -> Any:
        """A boto3 client of the local endpoint (test credentials)."""
        return boto3.Session(**TEST_CREDENTIALS, region_name=self.region).client(
            service,
            endpoint_url=self.endpoint,
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
