"""An API Gateway REST API stage with tracing on, on 127.0.0.1, in front of a local function.

Requests go to the function as a Lambda proxy integration (the REST API's version 1.0
event), and the stage records what API Gateway records for X-Ray (the X-Ray guide,
xray-services-apigateway.md):

- a trace header on every request that has none (``Root=...``); one that has one is
  honoured: its Root is kept, the stage's segment goes under its ``Parent``, and a
  request not sampled upstream (``Sampled=0``) records no segment at all, here or in
  the function;
- an ``AWS::ApiGateway::Stage`` segment named ``{api}/{stage}`` with the request's
  ``http`` block (method, URL, client IP, response status) and ``fault`` / ``error``
  from the status;
- under it, the integration call (a ``Lambda`` subsegment, ``namespace: aws``), which
  the function's ``AWS::Lambda`` segment is parented to.

Routes: by default every path and method goes to one function (``/{proxy+}``, ANY);
with ``routes`` (a SAM template's ``Api`` events, :mod:`otel_xray.devtools.sam.app`),
each ``(method, path)`` goes to its function, ``{name}`` and ``{name+}`` path
parameters filled in. Which path matches which route, and its parameters, is compared
with ``sam local start-api``'s own path conversion and router on generated routes
(tests/functional/test_app_template.py). A request no route matches gets
``403 {"message":"Missing Authentication Token"}``, what REST APIs answer for an
undefined resource (from memory of AWS's behaviour: no test compares it), and no
segment (by inference: not modelled).

By inference (no published document here): ``aws.api_gateway`` (account, API id,
stage, request id) on the segment, and the integration subsegment's fields, follow
what deployed traces show for a Lambda proxy integration; every request is sampled
when no header decides (the default rule's reservoir is not modelled).

Example:
    >>> stage = ApiGatewayStage.__new__(ApiGatewayStage)
    >>> stage.api_name, stage.stage = "orders", "prod"
    >>> stage.name
    'orders/prod'
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.functions.runtime_api import new_trace_ids
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.propagation import parse_trace_header

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class Route:
    """One resource and method of the API, and the function it integrates with.

    >>> route = Route("GET", "/orders/{id}", None)  # type: ignore[arg-type]
    >>> route.match("GET", "/orders/42"), route.match("POST", "/orders/42")
    ({'id': '42'}, None)
    """

    def __init__(self, method: str, path: str, function: LocalFunction) -> None:
        self.method = method.upper()
        self.path = path
        self.function = function
        pattern = ""
        for piece in re.split(r"(\{[^}]+\})", path):
            if piece.startswith("{") and piece.endswith("+}"):
                pattern += f"(?P<{piece[1:-2]}>.+)"
            elif piece.startswith("{"):
                pattern += f"(?P<{piece[1:-1]}>[^/]+)"
            else:
                pattern += re.escape(piece)
        # No trailing slash matches one that is not in the route: as ``sam local
        # start-api`` (tests/functional/test_app_template.py compares with it).
        self._regex = re.compile(pattern)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method.upper()):
            return None
        found = self._regex.fullmatch(path)
        return None if found is None else found.groupdict()


class ApiGatewayStage(LoopbackServer):
    """Every path and method to ``function`` (``/{proxy+}``), or each of ``routes`` to
    its own; ``endpoint`` is the stage URL."""

    def __init__(
        self,
        function: LocalFunction | None = None,
        api_name: str = "api",
        stage: str = "prod",
        routes: list[Route] | None = None,
        tracing: bool = True,
    ) -> None:
        if function is None and not routes:
            raise ValueError("an API Gateway stage needs a function or at least one route")
        self.routes = routes or [Route("ANY", "/{proxy+}", function)]  # type: ignore[arg-type]
        self.api_name = api_name
        self.stage = stage
        #: The stage's TracingEnabled: off, it records nothing and adds no trace header.
        self.tracing = tracing
        self.api_id = os.urandom(5).hex()
        #: Every segment document the stage recorded.
        self.documents: list[dict[str, Any]] = []
        #: Every invocation of the function, in order.
        self.invocations: list[InvocationResult] = []
        #: The same, with the name of the function each went to.
        self.invoked: list[tuple[str, InvocationResult]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    @property
    def name(self) -> str:
        return f"{self.api_name}/{self.stage}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}/{self.stage}"

    def settle(self) -> None:
        """Wait until the request being served has its documents recorded (a client
        has its answer before that: the harness's collecting is not on its timeline)."""
        with self._lock:
            return

    def handle(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        client_ip: str,
        respond: Callable[[int, dict[str, str], bytes], None],
    ) -> None:
        """Run one request; ``respond`` answers the client as soon as the function has
        (the stage's segment is recorded after, once the function's documents are in)."""
        started = time.time()
        incoming = parse_trace_header(headers.get("x-amzn-trace-id"))
        root = incoming.root if incoming else new_trace_ids()[0]
        upstream = incoming.parent if incoming else None
        sampled = self.tracing and (not incoming or incoming.sampled is not False)
        segment_id, call_id = os.urandom(8).hex(), os.urandom(8).hex()
        forwarded = f"Root={root};Parent={call_id};Sampled={int(sampled)}"
        split = urlsplit(target)
        path = split.path.removeprefix(f"/{self.stage}") or "/"
        matched = next(
            ((r, p) for r in self.routes if (p := r.match(method, path)) is not None), None
        )
        if matched is None:
            respond(403, {}, b'{"message":"Missing Authentication Token"}')
            return
        route, parameters = matched
        function = route.function
        request_id = str(uuid.uuid4())
        event = {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": {**headers, "X-Amzn-Trace-Id": forwarded} if self.tracing else headers,
            "queryStringParameters": dict(parse_qsl(split.query)) or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "requestId": request_id,
                "accountId": ACCOUNT_ID,
                "apiId": self.api_id,
                "identity": {"sourceIp": client_ip, "userAgent": headers.get("user-agent")},
            },
            "body": body.decode() if body else None,
            "isBase64Encoded": False,
        }
        with self._lock:  # one sandbox serves one invocation at a time
            called = time.time()
            answered: list[tuple[float, int, bytes]] = []

            def answer(result: InvocationResult) -> None:
                status, response_headers, response_body = _response(result)
                answered.append((time.time(), status, response_body))
                respond(status, response_headers, response_body)

            result = function.invoke(
                event, trace_header=forwarded if self.tracing else None, on_response=answer
            )
            self.invocations.append(result)
            self.invoked.append((function.function_name, result))
            [(returned, status, response_body)] = answered
            if sampled:  # recorded before the lock is let go: settle() waits for it
                self.documents.append(
                    self._segment(
                        root, segment_id, call_id, upstream, method, target, headers, client_ip,
                        status, len(response_body), request_id, (started, called, returned),
                        function.function_name,
                    )
                )  # fmt: skip

    def _segment(
        self,
        root: str,
        segment_id: str,
        call_id: str,
        upstream: str | None,
        method: str,
        target: str,
        headers: dict[str, str],
        client_ip: str,
        status: int,
        length: int,
        request_id: str,
        times: tuple[float, float, float],
        function_name: str,
    ) -> dict[str, Any]:
        started, called, returned = times
        host = headers.get("host", self.address)
        request: dict[str, Any] = {"url": f"http://{host}{target}", "method": method}
        forwarded_for = headers.get("x-forwarded-for")
        request["client_ip"] = forwarded_for.split(",")[0].strip() if forwarded_for else client_ip
        if forwarded_for:
            request["x_forwarded_for"] = True
        if headers.get("user-agent"):
            request["user_agent"] = headers["user-agent"]
        segment: dict[str, Any] = {
            "name": self.name,
            "id": segment_id,
            "trace_id": root,
            "start_time": started,
            "end_time": returned,
            "origin": "AWS::ApiGateway::Stage",
            "resource_arn": (
                f"arn:aws:apigateway:{REGION}::/restapis/{self.api_id}/stages/{self.stage}"
            ),
            "http": {"request": request, "response": {"status": status, "content_length": length}},
            "aws": {
                "api_gateway": {
                    "account_id": ACCOUNT_ID,
                    "rest_api_id": self.api_id,
                    "stage": self.stage,
                    "request_id": request_id,
                }
            },
            "subsegments": [
                {
                    "id": call_id,
                    "name": "Lambda",
                    "namespace": "aws",
                    "start_time": called,
                    "end_time": returned,
                    "http": {"response": {"status": 200}},
                    "aws": {
                        "function_name": function_name,
                        "region": REGION,
                        "operation": "Invoke",
                        "resource_names": [function_name],
                    },
                }
            ],
        }
        if upstream:
            segment["parent_id"] = upstream
        if status >= 500:
            segment["fault"] = True
        elif status == 429:
            segment["throttle"] = segment["error"] = True
        elif status >= 400:
            segment["error"] = True
        return segment

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stage = self

        class Handler(LoopbackHandler):
            def _any(self) -> None:
                body = self.read_body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                if not self.path.startswith(f"/{stage.stage}/") and self.path != f"/{stage.stage}":
                    self.reply(403, b'{"message":"Forbidden"}')
                    return
                stage.handle(
                    self.command, self.path, headers, body, self.client_address[0], self._answer
                )

            def _answer(self, status: int, extra: dict[str, str], payload: bytes) -> None:
                kind = next((v for k, v in extra.items() if k.lower() == "content-type"), None)
                others = {k: v for k, v in extra.items() if k.lower() != "content-type"}
                self.reply(status, payload, kind or "application/json", others)

            # One method for every verb (the proxy resource's ANY method).
            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        return Handler


def _response(result: InvocationResult) -> tuple[int, dict[str, str], bytes]:
    """A proxy integration's response, or API Gateway's 502 for a failed or malformed one."""
    response = result.response
    if not result.ok or not isinstance(response, dict) or "statusCode" not in response:
        return 502, {}, b'{"message": "Internal server error"}'
    body = response.get("body") or ""
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    return (
        int(response["statusCode"]),
        headers,
        (body if isinstance(body, str) else json.dumps(body)).encode(),
    )
