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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from examples.payments.app import DECLINE_ABOVE, SLOW_AMOUNT, SLOW_SECONDS, THROTTLED_AMOUNT
from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.loopback import Running, end_process_group
from otel_xray.devtools.services.metadata import MetadataServer
from otel_xray.devtools.services.moto_server import AwsServices

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "examples"
#: The payment API's amounts (examples/payments/app.py): above DECLINE_ABOVE declined
#: (HTTP 402), SLOW_AMOUNT answered slowly, THROTTLED_AMOUNT throttled (HTTP 429).
__all__ = ["DECLINE_ABOVE", "SLOW_AMOUNT", "SLOW_SECONDS", "THROTTLED_AMOUNT"]


#: The payment API's gunicorn workers.
WORKERS = 2


class PaymentApi(Running):
    """The payment API (examples/payments/app.py) as a traced service on 127.0.0.1: Flask
    under gunicorn with two workers, started by ``opentelemetry-instrument``, "on ECS"
    through the task metadata stand-in, its segment documents sent over UDP to a local
    X-Ray daemon of its own (:attr:`documents` after :meth:`stop`, or :meth:`take`).

    ``url`` is its charges endpoint (e.g. for ``otel-xray up``'s PaymentUrl).
    ``aws_endpoint`` and ``ledger_table``: where it records each charge (its own
    downstream call); without them it calls nothing. ``python -m examples.local_services``
    runs it until Ctrl-C and prints its URL.
    """

    def __init__(self, aws_endpoint: str | None = None, ledger_table: str | None = None) -> None:
        self._metadata = MetadataServer(container_name="payments")
        self._daemon = XRayDaemon()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/charges"
        self._aws_endpoint = aws_endpoint
        self._ledger_table = ledger_table
        self._process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="payments-", suffix=".log")[1])
        self.documents: list[dict[str, Any]] = []

    def start(self) -> PaymentApi:
        self._metadata.start()
        self._daemon.start()
        bin_dir = Path(sys.executable).parent
        fd = self._listener.fileno()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "PYTHON"))
        } | {
            "PYTHONPATH": str(ROOT),
            "OTEL_SERVICE_NAME": "payments",
            "OTEL_TRACES_EXPORTER": "xray-udp",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{self._daemon.address[1]}",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "ECS_CONTAINER_METADATA_URI_V4": self._metadata.ecs_uri,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self._aws_endpoint and self._ledger_table:
            env |= {
                "AWS_ENDPOINT_URL": self._aws_endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "PAYMENTS_LEDGER_TABLE": self._ledger_table,
            }
        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                [str(bin_dir / "opentelemetry-instrument"), str(bin_dir / "gunicorn"),
                 "--workers", str(WORKERS), "--bind", f"fd://{fd}", "examples.payments.app:app"],
                env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=(fd,),
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Until every worker has answered: one still booting would compete for the CPU
        with the first requests (a cold start seconds slower on a small machine)."""
        health = self.url.removesuffix("/charges") + "/health"
        answered: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(answered) < WORKERS:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the payment API exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(health, timeout=2) as reply:
                    answered.add(int(json.loads(reply.read())["pid"]))
            except OSError:
                time.sleep(0.1)
        if len(answered) < WORKERS:
            raise RuntimeError(f"the payment API did not start:\n{self.log.read_text()[-3000:]}")
        self._daemon.wait_idle(quiet_seconds=0.3)
        self._daemon.take()  # the probes' own segments

    def take(self) -> list[dict[str, Any]]:
        """The documents its workers sent since the last call."""
        self.documents.extend(self._daemon.take())
        documents, self.documents = self.documents, []
        return documents

    def stop(self) -> None:
        """SIGTERM to gunicorn (its workers flush what they buffer as they exit), by PID."""
        end_process_group(self._process, grace=20)
        self._daemon.wait_idle(quiet_seconds=0.3, timeout=5)
        self.documents.extend(self._daemon.take())
        self._daemon.stop()
        self._metadata.stop()
        self._listener.close()
        self.log.unlink(missing_ok=True)


class LocalServices:
    """moto's server with the app's table, queue and bucket, and the payment API."""

    def __init__(self, unique_names: bool = True) -> None:
        """``unique_names``: a suffix per instance (moto keeps one backend per process,
        so tests that start several need it); the demo, a process of its own, uses the
        plain names its service map should read with."""
        self._aws = AwsServices()
        self._payments: PaymentApi | None = None
        self.aws_endpoint = ""
        self.payment_url = ""
        self.queue_url = ""
        suffix = f"-{os.urandom(4).hex()}" if unique_names else ""
        self.table = f"orders{suffix}"
        self.bucket = f"order-receipts{suffix}"
        self.queue_name = f"orders{suffix}"
        self.ledger = f"payments-ledger{suffix}"

    def start(self) -> LocalServices:
        self._aws.start()
        self.aws_endpoint = self._aws.endpoint
        self.provision()
        self._payments = PaymentApi(self.aws_endpoint, self.ledger)
        self.payment_url = self._payments.start().url
        return self

    def provision(self) -> LocalServices:
        """Create the tables, the queue and the bucket that are missing (all of them at
        start). moto keeps one store per process, which ``mock_aws()`` empties on leaving
        and an in-process SAM app resets for a fresh stack, so a session-long instance (the
        tests') provisions again before each use; what still exists is kept, items too."""
        dynamodb = self.client("dynamodb")
        existing = set(dynamodb.list_tables()["TableNames"])
        for table, key in ((self.ledger, "charge_id"), (self.table, "order_id")):
            if table not in existing:
                dynamodb.create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
        self.queue_url = self.client("sqs").create_queue(QueueName=self.queue_name)["QueueUrl"]
        s3 = self.client("s3")
        if self.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=self.bucket)
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

    @property
    def payments(self) -> PaymentApi:
        """The payment service (its documents: :meth:`PaymentApi.take`)."""
        assert self._payments is not None, "LocalServices is not started"
        return self._payments

    def stop(self) -> None:
        if self._payments is not None:
            self._payments.stop()
        self._aws.stop()

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
