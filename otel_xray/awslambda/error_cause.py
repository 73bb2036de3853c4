"""Redact the X-Ray error cause that the Lambda runtime client reports for this process.

On an unhandled error, the Python runtime interface client builds an X-Ray cause
(``awslambdaric.bootstrap.make_xray_fault``: type, message, stack, working
directory, paths) and posts it in the ``Lambda-Runtime-Function-XRay-Error-Cause``
header of ``/invocation/{id}/error``; Lambda shows it as the cause of its own
``AWS::Lambda::Function`` segment. The message is the exception's ``str()``, and so
as personal as any: ``payment declined for zoe.mueller@example.de``. The layer
runs in that process, so it wraps ``make_xray_fault`` and redacts the message (and
the stack's labels and paths, which are code, but cheap to check) with the same
redactor as every span. The error response the caller gets is the function's own
and stays as it is.

The runtime looks the function up by name when an invocation fails, so replacing
the module attribute is enough. Lambda's runtimes run ``awslambdaric`` (python3.12
and later for certain; the module name on older images is an inference, so a
top-level ``bootstrap`` module with the same function is handled the same way).
If the fault cannot be redacted, its message becomes ``[REDACTED:uninspectable]``:
privacy fails closed here too.

Example:
    >>> import types
    >>> from otel_xray.pii import Redactor
    >>> from otel_xray.settings import PiiSettings
    >>> runtime = types.SimpleNamespace(make_xray_fault=lambda t, m, w, tb: {
    ...     "working_directory": w, "paths": [],
    ...     "exceptions": [{"type": t, "message": m, "stack": []}]})
    >>> install(Redactor(PiiSettings()), modules=[runtime])
    1
    >>> fault = runtime.make_xray_fault("ValueError", "no bob@example.com", "/var/task", [])
    >>> fault["exceptions"][0]["message"]
    'no [REDACTED:email]'
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only the type: the redactor comes from the pipeline, so with redaction off the
    # PII package is never imported at start.
    from otel_xray.pii import Redactor

logger = logging.getLogger("otel_xray")

#: Where the runtime interface client keeps ``make_xray_fault``.
RUNTIME_MODULES = ("awslambdaric.bootstrap", "bootstrap")
UNINSPECTABLE = "[REDACTED:uninspectable]"


def install(
    redactor: Redactor | Callable[[], Redactor | None], modules: Iterable[Any] | None = None
) -> int:
    """Wrap each runtime module's ``make_xray_fault``; how many were wrapped.

    ``redactor`` may be a function that gives it, called when a fault is made (the
    Lambda wrapper's: the redactor is made on first use, not during init)."""
    found: list[Any] = (
        [sys.modules[name] for name in RUNTIME_MODULES if name in sys.modules]
        if modules is None
        else list(modules)
    )
    wrapped = 0
    for module in found:
        original = getattr(module, "make_xray_fault", None)
        if not callable(original) or getattr(original, "__otel_xray_redacted__", False):
            continue
        module.make_xray_fault = _redacting(original, redactor)
        wrapped += 1
    return wrapped


def _redacting(
    original: Callable[..., Any], redactor: Redactor | Callable[[], Redactor | None]
) -> Callable[..., Any]:
    @functools.wraps(original)
    def make_xray_fault(*args: Any, **kwargs: Any) -> Any:
        fault = original(*args, **kwargs)
        try:
            found = redactor() if callable(redactor) else redactor
            if found is None:
                return _blank(fault)  # redaction is on, but no redactor: fail closed
            return redact_fault(fault, found)
        except Exception:
            logger.debug("otel-xray: the runtime's X-Ray cause was not redactable", exc_info=True)
            return _blank(fault)

    make_xray_fault.__otel_xray_redacted__ = True  # type: ignore[attr-defined]
    return make_xray_fault


def redact_fault(fault: Any, redactor: Redactor) -> Any:
    """The cause with its messages, labels and paths redacted (a new dict)."""
    redacted = dict(fault)
    exceptions = []
    for exception in fault.get("exceptions") or []:
        copy = dict(exception)
        copy["message"] = redactor.text(str(exception.get("message", "")))
        copy["stack"] = [
            {
                **frame,
                "label": redactor.text(str(frame.get("label", ""))),
                "path": redactor.text(str(frame.get("path", ""))),
            }
            for frame in exception.get("stack") or []
        ]
        exceptions.append(copy)
    redacted["exceptions"] = exceptions
    redacted["paths"] = [redactor.text(str(path)) for path in fault.get("paths") or []]
    return redacted


def _blank(fault: Any) -> Any:
    try:
        return {
            **fault,
            "exceptions": [{**e, "message": UNINSPECTABLE} for e in fault.get("exceptions") or []],
        }
    except Exception:
        return {"exceptions": [{"message": UNINSPECTABLE}]}
