"""The AWS services (moto's server) and the payment API (a real HTTP server) on loopback.

Used by ``make demo`` and the end-to-end tests; everything binds port 0 and is
stopped by :meth:`LocalServices.stop`.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "examples"
#: Payments above this amount are declined (HTTP 402), so the demo can show an error.
DECLINE_ABOVE = 10_000


class _PaymentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            amount = float(json.loads(body).get("amount", 0))
        except (ValueError, AttributeError):
            amount = -1
        status = 200 if 0 < amount <= DECLINE_ABOVE else 402
        payload = json.dumps({"approved": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class LocalServices:
    """moto's server with the app's table, queue and bucket, and the payment API."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
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
        import boto3

        suffix = self.table.rpartition("-")[2]
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        threading.Thread(target=self._payments.serve_forever, daemon=True).start()
        self.payment_url = f"http://127.0.0.1:{self._payments.server_address[1]}/charges"
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        session.client("dynamodb", endpoint_url=self.aws_endpoint).create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.queue_url = session.client("sqs", endpoint_url=self.aws_endpoint).create_queue(
            QueueName=f"orders-{suffix}"
        )["QueueUrl"]
        session.client("s3", endpoint_url=self.aws_endpoint).create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        self._moto.stop()
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
