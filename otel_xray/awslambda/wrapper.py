"""The handler the layer's ``otel-instrument`` puts in ``_HANDLER``.

The runtime imports this module during init: it configures tracing once, imports
the user's handler named in ``ORIG_HANDLER`` exactly as the runtime would
(``dir/sub/module.function`` included), and exposes it wrapped as ``handler``.
No re-exec and no ``sitecustomize``: one process, one import of the SDK.

An import error in the user's module is raised unchanged, so the function fails
its init the same way it would without the layer. Spans leave after the response,
through the internal extension this module registers during init
(:mod:`otel_xray.awslambda.extension`). The runtime's X-Ray error cause
is redacted like every span (:mod:`otel_xray.awslambda.error_cause`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from otel_xray.awslambda import error_cause, extension
from otel_xray.awslambda.handler import lambda_handler, load_handler
from otel_xray.configurator import configure

ORIG_HANDLER_ENV = "ORIG_HANDLER"


def _wrapped_original() -> Callable[..., Any]:
    name = os.environ.get(ORIG_HANDLER_ENV, "")
    if not name:
        raise RuntimeError(
            f"{ORIG_HANDLER_ENV} is not set: otel-instrument sets it from _HANDLER; "
            "run the function through the layer's otel-instrument exec wrapper"
        )
    return lambda_handler(load_handler(name))


_tracing = configure()
# During init, before the runtime's first poll: register the extension that exports
# after the response (or fall back to flushing before it).
extension.start(_tracing)
if _tracing is not None and _tracing.redacting is not None:
    # The runtime's own X-Ray error cause leaves through Lambda: redact it too (the
    # redactor is made when a cause first needs it).
    error_cause.install(lambda: None if _tracing is None else _tracing.redactor)
handler = _wrapped_original()
