"""An SNS topic on 127.0.0.1: ``Publish`` fanned out to local functions and SQS queues.

Only as far as it serves tracing, after the X-Ray guide's SNS page
(xray-services-sns.md: "If you publish to an Amazon SNS topic from a service that's
already instrumented with X-Ray, Amazon SNS passes the trace context from publisher to
subscribers") and its SQS page (xray-services-sqs.md: the ``AWSTraceHeader`` message
system attribute carries the trace header with a message):

- a Lambda subscriber is invoked asynchronously with the publisher's trace header, so
  its invocation continues the publisher's trace; the event is SNS's
  (``Records[].Sns``);
- an SQS subscriber gets the message (SNS's JSON envelope, raw delivery off) with the
  header as its ``AWSTraceHeader``, so the consumer that later takes it links to the
  publisher's trace, as for any traced SendMessage.

``tracing`` is the topic's ``TracingConfig``:

- ``PassThrough`` (the default, as on AWS): the topic records nothing; in the service
  map the publish call's inferred ``SNS`` node stands between the publisher and its
  subscribers (``traces.PASS_THROUGH``);
- ``Active``: for a publish whose trace header says ``Sampled=1`` (CloudFormation's
  ``TracingConfig``: "Amazon SNS vend X-Ray segment data to topic owner account if the
  sampled flag in the tracing header is true"), the topic records a segment named after
  itself and one subsegment per delivery. The X-Ray guide's SNS page describes that
  timeline: "The **myTopic** segment represents the latency of the Amazon SNS response
  to the publish request", "The **SQS** subsegment represents the round-trip time it
  takes Amazon SNS to publish the message to an Amazon SQS queue", and the gap between
  them the time the message spends in SNS. The service map then shows "connected
  nodes for Amazon SNS publishers, the Amazon SNS topic, and downstream subscribers":
  publisher -> topic -> SQS queue (inferred from the delivery subsegment) ··> the
  queue's consumer (a link), and topic -> a Lambda subscriber's ``AWS::Lambda``
  segment. Each subscriber gets a header whose ``Parent`` is its delivery subsegment.

  **Inference** (no published segment JSON): the topic segment's ``origin``
  ``AWS::SNS::Topic`` (CloudFormation's type name, as the ``AWS::SQS::Queue`` and
  ``AWS::DynamoDB::Table`` nodes are named), its ``aws.topic_arn``, the delivery
  subsegment's fields (``namespace: aws``, ``aws.operation`` ``SendMessage`` with
  ``queue_url``, or ``Invoke`` with ``function_name``; named ``SQS`` as the guide's
  timeline shows, and ``Lambda`` by analogy), and that a Lambda delivery's subsegment
  ends when Lambda accepted the asynchronous invoke.

The SNS Query API: ``Action=Publish`` with ``TopicArn`` and ``Message``, answered in XML.

Example:
    >>> SnsTopic("orders", []).topic_arn
    'arn:aws:sns:us-east-1:123456789012:orders'
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.propagation import parse_trace_header

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
#: ``AWS::SNS::Topic`` ``TracingConfig`` values (CloudFormation resource reference).
TRACING_MODES = ("PassThrough", "Active")
#: The ``origin`` of an Active topic's own segment (inference: see the module docstring).
TOPIC_ORIGIN = "AWS::SNS::Topic"


class SnsTopic(LoopbackServer):
    """One topic; ``subscribers`` are local functions or ``("sqs", queue_url, client)``."""

    def __init__(
        self,
        name: str,
        subscribers: Sequence[LocalFunction | tuple[str, str, Any]],
        tracing: str = "PassThrough",
    ) -> None:
        if tracing not in TRACING_MODES:
            raise ValueError(
                f"SNS topic {name}: TracingConfig {tracing!r}; accepted: {', '.join(TRACING_MODES)}"
            )
        self.name = name
        self.tracing = tracing
        #: The topic's own segment documents (``Active`` only): the topic segment, then
        #: each delivery as an independent subsegment.
        self.documents: list[dict[str, Any]] = []
        self.topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        self.subscribers = list(subscribers)
        #: (function name, result) of every Lambda delivery, in order.
        self.deliveries: list[tuple[str, InvocationResult]] = []
        self._lock = threading.Lock()
        self._invoke_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: The topics this endpoint serves, by ARN (itself; more after :meth:`share`).
        self.registry: dict[str, SnsTopic] = {self.topic_arn: self}
        super().__init__(self._handler_class())

    @staticmethod
    def share(topics: Sequence[SnsTopic]) -> None:
        """Let each topic's endpoint serve every one of ``topics`` (SNS has one endpoint
        per region: a client publishes to any topic through it)."""
        registry = {topic.topic_arn: topic for topic in topics}
        for topic in topics:
            topic.registry = registry

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    def wait(self, timeout: float = 30.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout)

    def publish(
        self,
        message: str,
        subject: str | None,
        trace_header: str | None,
        received: float | None = None,
    ) -> str:
        received = time.time() if received is None else received
        message_id = str(uuid.uuid4())
        notification: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic_arn,
            "Subject": subject,
            "Message": message,
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "SignatureVersion": "1",
            "MessageAttributes": {},
        }
        incoming = parse_trace_header(trace_header)
        active = self.tracing == "Active" and incoming is not None and incoming.sampled is True
        segment_id = os.urandom(8).hex()
        deliveries: list[tuple[LocalFunction | tuple[str, str, Any], str, str | None]] = []
        for subscriber in self.subscribers:
            if active:
                assert incoming is not None
                delivery_id = os.urandom(8).hex()
                forwarded = f"Root={incoming.root};Parent={delivery_id};Sampled=1"
                deliveries.append((subscriber, delivery_id, forwarded))
            else:
                deliveries.append((subscriber, "", trace_header))
        if active:
            assert incoming is not None
            segment: dict[str, Any] = {
                "name": self.name,
                "id": segment_id,
                "trace_id": incoming.root,
                "start_time": received,
                "end_time": time.time(),
                "origin": TOPIC_ORIGIN,
                "aws": {"topic_arn": self.topic_arn, "message_id": message_id},
            }
            if incoming.parent:
                segment["parent_id"] = incoming.parent
            with self._lock:
                self.documents.append(segment)
        for subscriber, delivery_id, header in deliveries:
            if isinstance(subscriber, LocalFunction):
                thread = threading.Thread(
                    target=self._deliver,
                    args=(subscriber, notification, header, delivery_id, segment_id, incoming),
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
            else:
                _, queue_url, client = subscriber
                system = (
                    {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
                    if header
                    else {}
                )
                started = time.time()
                client.send_message(
                    QueueUrl=queue_url,
                    MessageBody=json.dumps(notification),
                    MessageSystemAttributes=system,
                )
                if delivery_id and incoming is not None:
                    self._record_delivery(
                        delivery_id, segment_id, incoming.root, "SQS", started, time.time(),
                        {"operation": "SendMessage", "queue_url": queue_url},
                    )  # fmt: skip
        return message_id

    def _record_delivery(
        self,
        delivery_id: str,
        segment_id: str,
        root: str,
        service: str,
        started: float,
        ended: float,
        aws: dict[str, Any],
    ) -> None:
        """One delivery, as an independent subsegment of the topic's segment."""
        with self._lock:
            self.documents.append(
                {
                    "type": "subsegment",
                    "name": service,
                    "id": delivery_id,
                    "parent_id": segment_id,
                    "trace_id": root,
                    "start_time": started,
                    "end_time": max(ended, started),
                    "namespace": "aws",
                    "aws": {"region": REGION, **aws},
                    # What the delivery call was answered (inference, as its fields):
                    # SendMessage 200, an asynchronous Invoke 202.
                    "http": {"response": {"status": 202 if service == "Lambda" else 200}},
                }
            )

    def _deliver(
        self,
        function: LocalFunction,
        notification: dict[str, Any],
        trace_header: str | None,
        delivery_id: str = "",
        segment_id: str = "",
        incoming: Any = None,
    ) -> None:
        event = {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{self.topic_arn}:{uuid.uuid4()}",
                    "Sns": notification,
                }
            ]
        }
        with self._invoke_lock:  # a subscriber's sandbox serves one invocation at a time
            started = time.time()
            result = function.invoke(event, trace_header=trace_header)
        with self._lock:
            self.deliveries.append((function.function_name, result))
        if delivery_id and incoming is not None:
            # Lambda accepts an asynchronous invoke at once: the delivery ends when its
            # AWS::Lambda segment starts (inference, see the module docstring).
            accepted = next(
                (d["start_time"] for d in result.segments if d.get("origin") == "AWS::Lambda"),
                started,
            )
            self._record_delivery(
                delivery_id, segment_id, incoming.root, "Lambda", started, accepted,
                {"operation": "Invoke", "function_name": function.function_name},
            )  # fmt: skip

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        topic = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                received = time.time()
                body = self.read_body()
                form = dict(parse_qsl(body.decode()))
                if form.get("Action") != "Publish":
                    self._error(
                        "InvalidAction", f"{form.get('Action')!r}: this topic serves Publish"
                    )
                    return
                target = topic.registry.get(form.get("TopicArn", ""))
                if target is None or "Message" not in form:
                    known = ", ".join(sorted(topic.registry))
                    self._error("NotFound", f"Topic does not exist; this endpoint serves {known}")
                    return
                message_id = target.publish(
                    form["Message"],
                    form.get("Subject"),
                    self.headers.get("X-Amzn-Trace-Id"),
                    received,
                )
                self._reply(
                    200,
                    "<PublishResponse><PublishResult><MessageId>"
                    f"{message_id}</MessageId></PublishResult><ResponseMetadata><RequestId>"
                    f"{uuid.uuid4()}</RequestId></ResponseMetadata></PublishResponse>",
                )

            def _error(self, code: str, message: str) -> None:
                self._reply(
                    400 if code != "NotFound" else 404,
                    f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>"
                    f"{escape(message)}</Message></Error></ErrorResponse>",
                )

            def _reply(self, status: int, xml: str) -> None:
                self.reply(status, xml.encode(), "text/xml")

        return Handler
