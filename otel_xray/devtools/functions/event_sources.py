"""A local SQS event source mapping: poll a queue, build Lambda's SQS event, delete what succeeded.

What Lambda's poller does for an SQS trigger, against any SQS endpoint (moto's
server here): ``ReceiveMessage`` with every system attribute (``AWSTraceHeader``
included, which is how the consumer's trace links to the producer's), records
shaped exactly as Lambda delivers them, and after the invocation ``DeleteMessage``
for every record except those the function lists in ``batchItemFailures``.

Example (with a queue at ``endpoint``)::

    source = SqsEventSource(queue_url, client=boto3.client("sqs", endpoint_url=endpoint))
    event = source.next_event()
    result = worker.invoke(event)
    source.complete(event, result.response)
"""

from __future__ import annotations

from typing import Any

import boto3  # type: ignore[import-untyped]


class SqsEventSource:
    """Batches of up to ``batch_size`` messages from one queue, as Lambda's SQS events."""

    def __init__(
        self,
        queue_url: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        batch_size: int = 10,
    ) -> None:
        """``client`` is a boto3 SQS client; without one, one is made for ``endpoint_url``."""
        if not 1 <= batch_size <= 10:
            raise ValueError(f"batch_size {batch_size}: accepted values are 1 to 10")
        self.queue_url = queue_url
        self.region = region
        self.batch_size = batch_size
        if client is None:
            client = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
        self._client = client
        arn = self._client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn: str = arn["Attributes"]["QueueArn"]

    def next_event(self, wait_seconds: int = 1) -> dict[str, Any] | None:
        """The next batch as an SQS event, or None when the queue stayed empty."""
        reply = self._client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages") or []
        if not messages:
            return None
        return {"Records": [self._record(m) for m in messages]}

    def complete(self, event: dict[str, Any], response: Any) -> list[str]:
        """Delete the records that succeeded; returns the ids left for redelivery."""
        failed = set()
        if isinstance(response, dict):
            for failure in response.get("batchItemFailures") or []:
                if isinstance(failure, dict):
                    failed.add(failure.get("itemIdentifier"))
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self._client.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"]
                )
        return sorted(str(f) for f in failed)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda's event spells the keys in camelCase, unlike the SQS API.
    converted: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = value["BinaryValue"]
    return converted
