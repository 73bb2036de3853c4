"""otel-xray: OpenTelemetry for AWS Lambda (Python) that lands correctly in AWS X-Ray.

Zero-code: attach the layer and set ``AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument``.
In code:

    >>> import otel_xray
    >>> @otel_xray.lambda_handler
    ... def handler(event, context):
    ...     return "ok"

Names are resolved lazily so that ``import otel_xray`` costs almost nothing at
cold start; the SDK is imported when tracing is configured.
"""

import importlib
from typing import TYPE_CHECKING, Any

from otel_xray.version import __version__

if TYPE_CHECKING:
    from otel_xray.annotations import AnnotationError, annotate, annotation_stats, metadata
    from otel_xray.awslambda.handler import lambda_handler
    from otel_xray.concurrency import TracedThreadPoolExecutor, in_current_context
    from otel_xray.configurator import Tracing, configure
    from otel_xray.subsegments import Subsegment, subsegment

__all__ = [
    "AnnotationError",
    "Subsegment",
    "TracedThreadPoolExecutor",
    "Tracing",
    "__version__",
    "annotate",
    "annotation_stats",
    "configure",
    "in_current_context",
    "lambda_handler",
    "metadata",
    "subsegment",
]

_LAZY = {
    "configure": ("otel_xray.configurator", "configure"),
    "Tracing": ("otel_xray.configurator", "Tracing"),
    "lambda_handler": ("otel_xray.awslambda.handler", "lambda_handler"),
    "annotate": ("otel_xray.annotations", "annotate"),
    "metadata": ("otel_xray.annotations", "metadata"),
    "annotation_stats": ("otel_xray.annotations", "annotation_stats"),
    "AnnotationError": ("otel_xray.annotations", "AnnotationError"),
    "subsegment": ("otel_xray.subsegments", "subsegment"),
    "Subsegment": ("otel_xray.subsegments", "Subsegment"),
    "in_current_context": ("otel_xray.concurrency", "in_current_context"),
    "TracedThreadPoolExecutor": ("otel_xray.concurrency", "TracedThreadPoolExecutor"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'otel_xray' has no attribute {name!r}")
