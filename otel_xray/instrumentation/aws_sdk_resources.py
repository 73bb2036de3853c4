"""The AWS resource an SDK call names, as attributes the translator makes X-Ray fields of.

The X-Ray SDK for Python records some request parameters of AWS calls in the
subsegment's ``aws`` block (``aws_xray_sdk/ext/resources/aws_para_whitelist.json``):
SNS ``Publish`` ``TopicArn`` as ``topic_arn``, Lambda ``Invoke`` ``FunctionName`` and
``InvocationType`` as ``function_name`` and ``invocation_type``, S3 ``Bucket`` as
``bucket_name`` and ``Key`` as ``key``. The upstream botocore instrumentation sets
``aws.sns.topic.arn`` and ``faas.invoked_name`` itself; this request hook adds the
rest (``aws.s3.bucket`` and ``aws.s3.key`` are semantic-convention names;
``aws.lambda.invocation_type`` is ours). The S3 key is redacted like every value.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> span = TracerProvider().get_tracer("t").start_span("S3.GetObject")
    >>> request_hook(span, "s3", "GetObject", {"Bucket": "receipts", "Key": "r/1.pdf"})
    >>> span.attributes["aws.s3.bucket"], span.attributes["aws.s3.key"]
    ('receipts', 'r/1.pdf')
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span

#: service -> ((request parameter, attribute), ...)
PARAMETERS: dict[str, tuple[tuple[str, str], ...]] = {
    "s3": (("Bucket", "aws.s3.bucket"), ("Key", "aws.s3.key")),
    "lambda": (
        ("FunctionName", "faas.invoked_name"),
        ("InvocationType", "aws.lambda.invocation_type"),
    ),
    "sns": (("TopicArn", "aws.sns.topic.arn"),),
}


def request_hook(span: Span, service_name: str, operation_name: str, api_params: Any) -> None:
    """botocore instrumentation's ``request_hook``: never raises."""
    try:
        if not span.is_recording() or not isinstance(api_params, dict):
            return
        for parameter, attribute in PARAMETERS.get(service_name, ()):
            value = api_params.get(parameter)
            if isinstance(value, str) and value:
                span.set_attribute(attribute, value)
    except Exception:
        return
