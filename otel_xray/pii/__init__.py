"""Personal data never leaves the function: redaction before every exporter, on by default.

None of aws-opentelemetry-distro, the opentelemetry-lambda layer, the X-Ray SDK or
Powertools redacts anything; an email in a URL, a card number in an exception
message or a token in a header goes to X-Ray as it is. Here a processor
(:class:`~otel_xray.pii.processor.RedactingSpanProcessor`) in front of the
exporting one replaces what :class:`~otel_xray.pii.redactor.Redactor` finds,
everywhere a span carries text. Settings: ``OTEL_XRAY_PII_*`` (see the README).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_xray.pii.processor import RedactingSpanProcessor
    from otel_xray.pii.redactor import Redactor

__all__ = ["RedactingSpanProcessor", "Redactor"]

#: Resolved on first use, so that the Lambda pipeline can import the processor during
#: init and leave the detectors' module for its first flush (after the response).
_LAZY = {
    "RedactingSpanProcessor": "otel_xray.pii.processor",
    "Redactor": "otel_xray.pii.redactor",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
