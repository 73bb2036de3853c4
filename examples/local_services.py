"""The example app's world on loopback: its table, queue and bucket, and the payment API.

Used by ``make demo``, the benchmarks and the end-to-end tests; everything binds
port 0 and is stopped by :meth:`LocalServices.stop`. The AWS APIs themselves
(moto's server, and what it leaves out of tracing) are the dev tools'
:class:`otel_xray.devtools.services.moto_server.AwsServices`; this module only adds what is
the example's own.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from otel_xray.devtools.loopback import Running
from otel_xray.devtools.services.moto_server import AwsServices

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


class PaymentApi(Running):
    """The payment API alone on 127.0.0.1 (``url``), e.g. for ``otel-xray up``'s PaymentUrl.

    ``python -m examples.local_services`` runs it until Ctrl-C and prints its URL.
    """

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _PaymentHandler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/charges"

    def start(self) -> PaymentApi:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class LocalServices:
    """moto's server with the app's table, queue and bucket, and the payment API."""

    def __init__(self, unique_names: bool = True) -> None:
        """``unique_names``: a suffix per instance (moto keeps one backend per process,
        so tests that start several need it); the demo, a process of its own, uses the
        plain names its service map should read with."""
        self._aws = AwsServices()
        self._payments = PaymentApi()
        self.aws_endpoint = ""
        self.payment_url = ""
        self.queue_url = ""
        suffix = f"-{os.urandom(4).hex()}" if unique_names else ""
        self.table = f"orders{suffix}"
        self.bucket = f"order-receipts{suffix}"
        self.queue_name = f"orders{suffix}"

    def start(self) -> LocalServices:
        self._aws.start()
        self.aws_endpoint = self._aws.endpoint
        self.payment_url = self._payments.start().url
        self.client("dynamodb").create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.queue_url = self.client("sqs").create_queue(QueueName=self.queue_name)["QueueUrl"]
        self.client("s3").create_bucket(Bucket=self.bucket)
        return self

    def client(self, service: str) -> Any:
        """A boto3 client of the local AWS endpoint (test credentials)."""
        return self._aws.client(service)

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
        self._aws.stop()
        self._payments.stop()

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


if __name__ == "__main__":
    with PaymentApi() as api:
        print(f"payment API on {api.url} (Ctrl-C stops it)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
