"""boto3's managed transfers (``upload_file``, ``download_file``, ``copy``) in the caller's
trace: our own wrapper, as no upstream instrumentation covers it.

``S3.Client.upload_file`` and ``download_file`` (boto3's guide: "Uploading files",
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/s3-uploading-files.html)
hand the transfer to s3transfer's ``TransferManager``, which runs every S3 call
(``PutObject``, or ``CreateMultipartUpload``, each ``UploadPart`` and
``CompleteMultipartUpload``; ``HeadObject`` and the ranged ``GetObject`` calls of a
download) on the worker threads of its ``BoundedExecutor`` (``s3transfer/futures.py``).
OpenTelemetry's context is a ``contextvars`` variable that a ``ThreadPoolExecutor``
thread does not inherit, so those calls had no parent: each became a trace of its
own, away from the function's (seen before this module: one new trace per part).
s3transfer passes botocore's own context to its tasks (``get_context()``), not
OpenTelemetry's.

Here ``BoundedExecutor.submit`` hands its executor each task wrapped with the
submitter's OpenTelemetry context. The submission task runs on a worker too and
submits the parts from there, so the context carries on to them: every call is a
subsegment under the span current when the function called ``upload_file``. The X-Ray
SDK loses these calls the same way (its context is thread-local:
``SegmentNotFoundException`` on the worker threads).

The transfer itself, ``S3Transfer.upload_file`` / ``download_file`` (what
``S3.Client.upload_file`` and ``download_file`` and the ``Bucket`` / ``Object``
variants call), is one local subsegment, ``S3.upload_file`` or ``S3.download_file``,
with the transfer's S3 calls under it, so they read as one call in the trace, its
failure (``S3UploadFailedError``) on it. The X-Ray SDK has no such subsegment (ours;
the operation names are boto3's). ``upload_fileobj`` and ``download_fileobj`` use the
transfer manager directly: their calls are under the caller's span, with no subsegment
of their own.

The registry row's trigger is ``boto3.s3.transfer``, which imports s3transfer; it is
complete when the row applies (s3transfer alone is not: boto3 imports it mid-way).

Cost: one small object per submitted task and one span per transfer, only where a
function uses boto3's managed transfers.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Collection
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.trace import SpanKind

_ORIGINAL = "__otel_xray_original__"
_OPERATIONS = ("upload_file", "download_file")


class _InCallersContext:
    """An s3transfer task run under the OpenTelemetry context of whoever submitted it.

    ``BoundedExecutor.submit`` reads the task's ``transfer_id``; anything else is the
    task's own (``__getattr__``)."""

    __slots__ = ("_context", "_task")

    def __init__(self, task: Any) -> None:
        self._task = task
        self._context = otel_context.get_current()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(self._context)
        try:
            return self._task(*args, **kwargs)
        finally:
            otel_context.detach(token)


def _submit(original: Any) -> Any:
    def submit(self: Any, task: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, _InCallersContext(task), *args, **kwargs)

    setattr(submit, _ORIGINAL, original)
    submit.__doc__ = original.__doc__
    return submit


def _transfer(original: Any, operation: str, tracer: Any) -> Any:
    @functools.wraps(original)
    def transfer(self: Any, *args: Any, **kwargs: Any) -> Any:
        with tracer.start_as_current_span(f"S3.{operation}", kind=SpanKind.INTERNAL):
            return original(self, *args, **kwargs)

    setattr(transfer, _ORIGINAL, original)
    return transfer


class S3TransferInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Keeps s3transfer's worker-thread calls in the caller's trace (see the module)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("s3transfer >= 0.3",)

    def _instrument(self, **kwargs: Any) -> None:
        from s3transfer.futures import BoundedExecutor  # noqa: PLC0415  (imported by boto3)

        if not hasattr(BoundedExecutor.submit, _ORIGINAL):
            BoundedExecutor.submit = _submit(BoundedExecutor.submit)
        transfer_class = _s3_transfer_class()
        if transfer_class is None:
            return
        tracer = trace.get_tracer(__name__, tracer_provider=kwargs.get("tracer_provider"))
        for operation in _OPERATIONS:
            method = getattr(transfer_class, operation, None)
            if method is not None and not hasattr(method, _ORIGINAL):
                setattr(transfer_class, operation, _transfer(method, operation, tracer))

    def _uninstrument(self, **kwargs: Any) -> None:
        from s3transfer.futures import BoundedExecutor  # noqa: PLC0415

        original = getattr(BoundedExecutor.submit, _ORIGINAL, None)
        if original is not None:
            BoundedExecutor.submit = original
        transfer_class = _s3_transfer_class()
        for operation in _OPERATIONS:
            method = getattr(transfer_class, operation, None)
            original = getattr(method, _ORIGINAL, None)
            if original is not None:
                setattr(transfer_class, operation, original)


def _s3_transfer_class() -> Any:
    module = sys.modules.get("boto3.s3.transfer")
    return getattr(module, "S3Transfer", None)
