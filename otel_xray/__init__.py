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

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_xray.version import __version__

if TYPE_CHECKING:
    from otel_xray.awslambda.handler import lambda_handler
    from otel_xray.configurator import Tracing, configure

__all__ = ["Tracing", "__version__", "configure", "lambda_handler"]

_LAZY = {
    "configure": ("otel_xray.configurator", "configure"),
    "Tracing": ("otel_xray.configurator", "Tracing"),
    "lambda_handler": ("otel_xray.awslambda.handler", "lambda_handler"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'otel_xray' has no attribute {name!r}")
