"""The AWS services (moto's server) and the payment API (a real HTTP server) on loopback.

Used by ``make demo`` and the end-to-end tests; everything binds port 0 and is
stopped by :meth:`LocalServices.stop`.

One thing moto does not do that SQS does: take the ``X-Amzn-Trace-Id`` header of
a ``SendMessage`` call and keep it as the message's ``AWSTraceHeader`` system
attribute (the AWS X-Ray guide, "Amazon SQS and AWS X-Ray"). A small WSGI
middleware in front of moto adds that, so the consumer's trace links to the
producer's as it does on AWS.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "examples"
#: Payments above this amount are declined (HTTP 402), so the demo can show an error.
DECLINE_ABOVE = 10_000
#: This amount makes the payment API answer slowly (a slow checkout to find in X-Ray).
SLOW_AMOUNT = 7_500
SLOW_SECONDS = 1.2
#: This amount is throttled (HTTP 429).
THROTTLED_AMOUNT = 429


class _PaymentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            amount = float(json.loads(body).get("amount", 0))
        except (ValueError, AttributeError):
            amount = -1
        status = 200 if 0 < amount <= DECLINE_ABOVE else 402
        if amount == THROTTLED_AMOUNT:
            status = 429
        if amount == SLOW_AMOUNT:
            time.sleep(SLOW_SECONDS)
        payload = json.dumps({"approved": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


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


class LocalServices:
    """moto's server with the app's table, queue and bucket, and the payment API."""

    def __init__(self) -> None:
        import logging

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = make_server(
            "127.0.0.1",
            0,
            SqsTraceHeader(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self._payments = ThreadingHTTPServer(("127.0.0.1", 0), _PaymentHandler)
        self._payments.daemon_threads = True
        self.aws_endpoint = ""
        self.payment_url = ""
        self.queue_url = ""
        # moto keeps one backend per process: names are unique per instance.
        suffix = os.urandom(4).hex()
        self.table = f"orders-{suffix}"
        self.bucket = f"order-receipts-{suffix}"

    def start(self) -> LocalServices:

        suffix = self.table.rpartition("-")[2]
        threading.Thread(target=self._moto.serve_forever, daemon=True).start()
        self.aws_endpoint = f"http://127.0.0.1:{self._moto.server_address[1]}"
        threading.Thread(target=self._payments.serve_forever, daemon=True).start()
        self.payment_url = f"http://127.0.0.1:{self._payments.server_address[1]}/charges"
        self.client("dynamodb").create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.queue_url = self.client("sqs").create_queue(QueueName=f"orders-{suffix}")["QueueUrl"]
        self.client("s3").create_bucket(Bucket=self.bucket)
        return self

    def client(self, service: str) -> Any:
        """A boto3 client of the local AWS endpoint (test credentials)."""
        import boto3

        return boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client(service, endpoint_url=self.aws_endpoint)  # type: ignore[call-overload]

    def drain_queue(self) -> int:
        """Delete what the queue holds (what the worker would consume); how many there were.

        moto serves from this process and slows down as a queue grows, so long runs
        (benchmarks, load tests) drain it between batches.
        """
        sqs, drained = self.client("sqs"), 0
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(messages)
                ],
            )
            drained += len(messages)
        return drained

    def stop(self) -> None:
        self._moto.shutdown()
        self._moto.server_close()
        self._payments.shutdown()
        self._payments.server_close()

    def __enter__(self) -> LocalServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def function_env(self) -> dict[str, str]:
        """What the example functions read from their environment."""
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "ORDERS_TABLE": self.table,
            "ORDERS_QUEUE_URL": self.queue_url,
            "RECEIPTS_BUCKET": self.bucket,
            "PAYMENT_URL": self.payment_url,
        }
