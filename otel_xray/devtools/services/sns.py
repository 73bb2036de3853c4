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

In the service map the publish call's inferred ``SNS`` node stands between the publisher
and its subscribers (``traces.PASS_THROUGH``). The SNS Query API: ``Action=Publish``
with ``TopicArn`` and ``Message``, answered in XML.

Example:
    >>> SnsTopic("orders", []).topic_arn
    'arn:aws:sns:us-east-1:123456789012:orders'
"""

from __future__ import annotations

import json
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

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class SnsTopic(LoopbackServer):
    """One topic; ``subscribers`` are local functions or ``("sqs", queue_url, client)``."""

    def __init__(
        self, name: str, subscribers: Sequence[LocalFunction | tuple[str, str, Any]]
    ) -> None:
        self.name = name
        self.topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
        self.subscribers = list(subscribers)
        #: (function name, result) of every Lambda delivery, in order.
        self.deliveries: list[tuple[str, InvocationResult]] = []
        self._lock = threading.Lock()
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

    def publish(self, message: str, subject: str | None, trace_header: str | None) -> str:
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
        for subscriber in self.subscribers:
            if isinstance(subscriber, LocalFunction):
                thread = threading.Thread(
                    target=self._deliver, args=(subscriber, notification, trace_header), daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                _, queue_url, client = subscriber
                system = (
                    {"AWSTraceHeader": {"DataType": "String", "StringValue": trace_header}}
                    if trace_header
                    else {}
                )
                client.send_message(
                    QueueUrl=queue_url,
                    MessageBody=json.dumps(notification),
                    MessageSystemAttributes=system,
                )
        return message_id

    def _deliver(
        self, function: LocalFunction, notification: dict[str, Any], trace_header: str | None
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
        with self._lock:  # a subscriber's sandbox serves one invocation at a time
            result = function.invoke(event, trace_header=trace_header)
            self.deliveries.append((function.function_name, result))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        topic = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
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
                    form["Message"], form.get("Subject"), self.headers.get("X-Amzn-Trace-Id")
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
