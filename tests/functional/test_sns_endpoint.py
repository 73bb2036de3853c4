"""One local SNS endpoint serves every topic of an app (``SnsTopic.share``).

SNS has one endpoint per region: a publisher that names two topics reaches both through
it, which ``otel-xray up`` relies on (every function gets one ``AWS_ENDPOINT_URL_SNS``).
Driven by boto3's own SNS client; the SQS side records what SNS would send it.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from otel_xray.devtools.services.moto_server import TEST_CREDENTIALS
from otel_xray.devtools.services.sns import SnsTopic


class Queue:
    """Stands where an SQS client would: keeps what SendMessage would have queued."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> dict[str, str]:
        self.sent.append(request)
        return {"MessageId": str(len(self.sent))}


def test_each_topic_is_reached_through_any_endpoint() -> None:
    placed, completed = Queue(), Queue()
    first = SnsTopic("placed", [("sqs", "http://q/placed", placed)]).start()
    second = SnsTopic("completed", [("sqs", "http://q/completed", completed)]).start()
    try:
        SnsTopic.share([first, second])
        sns = boto3.Session(**TEST_CREDENTIALS, region_name="us-east-1").client(
            "sns", endpoint_url=first.endpoint
        )
        sns.publish(TopicArn=second.topic_arn, Message="done")
        sns.publish(TopicArn=first.topic_arn, Message="new")
        assert [m["QueueUrl"] for m in completed.sent] == ["http://q/completed"]
        assert [m["QueueUrl"] for m in placed.sent] == ["http://q/placed"]
        with pytest.raises(ClientError) as refused:
            sns.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:other", Message="x")
        assert refused.value.response["Error"]["Code"] == "NotFound"
        assert first.topic_arn in refused.value.response["Error"]["Message"]
    finally:
        first.stop()
        second.stop()
