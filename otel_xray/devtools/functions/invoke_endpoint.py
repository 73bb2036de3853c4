"""Lambda's Invoke API on 127.0.0.1, in front of local sandboxes: one function calling another.

``boto3.client("lambda", endpoint_url=...).invoke(FunctionName=..., Payload=...)``
reaches the named :class:`~otel_xray.devtools.functions.invoke.LocalFunction` with the
caller's ``X-Amzn-Trace-Id`` header (the layer's AWS SDK hook sets it on every call).
As Lambda does for a request already sampled upstream (the X-Ray guide,
xray-services-lambda.md), the callee's invocation continues the caller's trace: the
same Root, its ``AWS::Lambda`` segment parented to the caller's ``Invoke``
subsegment, and the caller's sampling decision (``Sampled=0``: no segments at all).

The API's shapes (botocore's ``lambda`` service model, ``Invoke``):
``POST /2015-03-31/functions/{FunctionName}/invocations``; ``X-Amz-Invocation-Type``
``RequestResponse`` (200 and the function's response; a function error is still 200,
with ``X-Amz-Function-Error: Unhandled`` and the error as the payload), ``Event`` (202;
run in the background) or ``DryRun`` (204); an unknown function is
``ResourceNotFoundException`` (404). ``FunctionName`` may be a name, an ARN or a
partial ARN; a qualifier is ignored.

For ``Event`` the trace is continued the same way. That asynchronous invocations keep
the caller's trace has no published source here (inference from the synchronous case).
A failed ``Event`` invocation is retried (Lambda retries twice, about one and two
minutes apart: the Lambda guide's invocation-async-retain-records; here after
:data:`ASYNC_RETRY_DELAYS`), in the same trace, and Lambda's ``AWS::Lambda`` segment
gets ``Dwell Time`` and ``Attempt #N`` subsegments (``lambda_segments.asynchronous``;
published only as console screenshots: inference).

Example:
    >>> endpoint = LambdaEndpoint({})
    >>> endpoint.function_name("arn:aws:lambda:us-east-1:123456789012:function:pricing:live")
    'pricing'
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.functions.lambda_segments import asynchronous
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer

#: Seconds before each retry of a failed ``Event`` invocation (Lambda: ~60 and ~120).
ASYNC_RETRY_DELAYS = (0.05, 0.1)

_PREFIX = "/2015-03-31/functions/"
_SUFFIX = "/invocations"


class LambdaEndpoint(LoopbackServer):
    """Serves Invoke for ``functions`` (name -> started sandbox); ``endpoint`` is its URL."""

    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        self.functions = dict(functions)
        #: (function name, invocation type, result) of every invocation, in order.
        self.invocations: list[tuple[str, str, InvocationResult]] = []
        self._locks = {name: threading.Lock() for name in self.functions}
        self._lock = threading.Lock()
        self._background: list[threading.Thread] = []
        super().__init__(self._handler_class())

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    @staticmethod
    def function_name(identifier: str) -> str:
        """A name, ``function:NAME[:qualifier]`` or an ARN, as the name alone."""
        parts = unquote(identifier).split(":")
        if "function" in parts:
            return parts[parts.index("function") + 1]
        return parts[0]

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the ``Event`` invocations still running."""
        for thread in list(self._background):
            thread.join(timeout)

    def run(
        self,
        name: str,
        kind: str,
        payload: bytes,
        trace_header: str | None,
        on_response: Callable[[InvocationResult], None] | None = None,
    ) -> InvocationResult:
        """Invoke ``name``; ``on_response`` answers the caller as soon as it returned."""
        event = json.loads(payload or b"{}")
        with self._locks[name]:  # one sandbox serves one invocation at a time
            result = self.functions[name].invoke(
                event, trace_header=trace_header, on_response=on_response
            )
            with self._lock:  # before the function's lock is let go: settle() waits for it
                self.invocations.append((name, kind, result))
        return result

    def run_event(self, name: str, payload: bytes, trace_header: str | None, queued: float) -> None:
        """An ``Event`` invocation: attempts until one succeeds or the retries are spent."""
        event = json.loads(payload or b"{}")
        attempts: list[InvocationResult] = []
        header = trace_header
        with self._locks[name]:
            for number in range(1 + len(ASYNC_RETRY_DELAYS)):
                if number:
                    time.sleep(ASYNC_RETRY_DELAYS[number - 1])
                result = self.functions[name].invoke(event, trace_header=header)
                attempts.append(result)
                # A retry continues the first attempt's trace (the caller's, if any).
                header = header or f"Root={result.root};Sampled=1"
                if result.ok:
                    break
            asynchronous([r.segments for r in attempts], queued)
            with self._lock:
                self.invocations.extend((name, "Event", r) for r in attempts)

    def settle(self) -> None:
        """Wait until every invocation being served has its documents collected (the
        caller has its answer before that)."""
        for lock in self._locks.values():
            with lock:
                pass

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                payload = self.read_body()
                path = self.path.split("?")[0]
                if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
                    self._error(404, "UnknownOperationException", f"no Lambda API at {path}")
                    return
                name = endpoint.function_name(path[len(_PREFIX) : -len(_SUFFIX)])
                if name not in endpoint.functions:
                    self._error(
                        404,
                        "ResourceNotFoundException",
                        f"Function not found: {name}; local functions: "
                        + ", ".join(sorted(endpoint.functions)),
                    )
                    return
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                trace_header = self.headers.get("X-Amzn-Trace-Id")
                try:
                    json.loads(payload or b"{}")
                except ValueError:
                    self._error(
                        400,
                        "InvalidRequestContentException",
                        "Could not parse request body into json",
                    )
                    return
                if kind == "DryRun":
                    self._reply(204, b"")
                elif kind == "Event":
                    thread = threading.Thread(
                        target=endpoint.run_event,
                        args=(name, payload, trace_header, time.time()),
                        daemon=True,
                    )
                    endpoint._background.append(thread)
                    thread.start()
                    self._reply(202, b"")
                elif kind == "RequestResponse":

                    def answer(result: InvocationResult) -> None:
                        body = json.dumps(result.response if result.ok else result.error)
                        headers = {} if result.ok else {"X-Amz-Function-Error": "Unhandled"}
                        self._reply(200, body.encode(), headers)

                    endpoint.run(name, kind, payload, trace_header, on_response=answer)
                else:
                    self._error(
                        400,
                        "InvalidParameterValueException",
                        f"X-Amz-Invocation-Type {kind!r}; accepted: RequestResponse, Event, DryRun",
                    )

            def _error(self, status: int, kind: str, message: str) -> None:
                self.reply_json(
                    status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": kind}
                )

            def _reply(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.reply(
                    status, body, headers={"X-Amz-Executed-Version": "$LATEST", **(headers or {})}
                )

        return Handler
