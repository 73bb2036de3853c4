"""Bridges: code written for other tracing libraries runs on otel-xray's spans.

A function that already traces through the AWS X-Ray SDK for Python (directly, or
through Powertools for AWS Lambda's ``Tracer``, which runs on it) would otherwise be
traced twice under the layer. :mod:`otel_xray.bridge.xray_sdk` makes that SDK's
recorder write otel-xray's spans instead. A bridge module is imported only when the
library it bridges is (``otel_xray.instrumentation.hooks``): a function that never
imports ``aws_xray_sdk`` pays nothing for it.
"""
