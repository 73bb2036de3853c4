"""The two segments Lambda itself sends to X-Ray for an invocation, built locally.

With active tracing on, Lambda records an ``AWS::Lambda`` segment (the service
accepting the invoke) and an ``AWS::Lambda::Function`` segment (the function's
execution, with ``Initialization`` on a cold start and ``Invocation``), whose id is
the ``Parent`` it puts in ``_X_AMZN_TRACE_ID``. The function's own subsegments
attach under that id. The local harness emits both, with the ids it handed the
function, so a local trace assembles and maps as a deployed one does.

For an SQS event, Lambda links the invocation's trace to each message's trace
(the ``AWSTraceHeader`` system attribute); the links go on the ``AWS::Lambda``
segment, which is how the service map connects the queue to the consumer.

The shape follows the published ``BatchGetTraces`` example
(``aws-xray-developer-guide/xray-api-gettingdata.md``): the function segment carries
``aws: {function_arn, resource_names, account_id}`` (no ``resource_arn``, which is the
``AWS::Lambda`` segment's), and ``Initialization`` carries ``aws.function_arn``;
``Invocation`` and ``Overhead`` (the time from the response to the runtime's next
poll, when the harness saw one) carry it too, by analogy (unverified: the example
predates them).

An extension that works after the response (otel-xray's export, see
:mod:`otel_xray.awslambda.extension`) lengthens the invoke phase, not the caller's
wait: the ``AWS::Lambda`` segment still ends at the response, and the function segment
ends when the last extension calls next. AWS's emulator (RAPID,
``internal/lambda/rapid/handlers.go``, ``doInvoke``) captures ``Overhead`` around the
runtime's next only and waits for the extensions after it, inside the function
segment (reporting that wait as the ``extensionOverhead`` span; CloudWatch's metric is
``PostRuntimeExtensionsDuration``); so here the extensions' time is the end of the
function segment after ``Overhead``, not a subsegment of its own. Whether the X-Ray
console draws it inside ``Overhead`` has no published source (unverified).

The function's own subsegments hang directly under the function segment, as in the
``BatchGetTraces`` example; whether today's console nests them under
``Invocation`` has no published source here, so they stay where the example puts
them (unverified).

A failed invocation marks the function segment ``fault`` with the cause the runtime
client sent (``Lambda-Runtime-Function-XRay-Error-Cause``), or the error body's type
and message where it sent none (a timeout). Whether Lambda marks it ``fault`` or
``error`` has no published trace or statement here: ``fault`` is kept (unverified).

Example:
    >>> docs = lambda_segments(
    ...     function_name="orders", function_arn="arn:aws:lambda:us-east-1:1:function:orders",
    ...     request_id="r-1", root="1-5759e988-bd862e3fe1be46a994272793",
    ...     parent="53995c3f42cd8ad8", received=10.0, started=10.001, finished=10.2)
    >>> [(d["origin"], d["name"]) for d in docs]
    [('AWS::Lambda', 'orders'), ('AWS::Lambda::Function', 'orders')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from otel_xray.awslambda.events import incoming_links
from otel_xray.ids import format_span_id, format_xray_trace_id


def lambda_segments(
    *,
    function_name: str,
    function_arn: str,
    request_id: str,
    root: str,
    parent: str,
    received: float,
    started: float,
    finished: float,
    init_started: float | None = None,
    init_finished: float | None = None,
    init_phase: str = "Initialization",
    next_poll: float | None = None,
    extensions_done: float | None = None,
    error: dict[str, Any] | None = None,
    xray_cause: dict[str, Any] | None = None,
    upstream_parent: str | None = None,
    links: Iterable[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """The ``AWS::Lambda`` and ``AWS::Lambda::Function`` documents of one invocation.

    Times are epoch seconds: ``received`` when the invoke was accepted, ``started``
    when the runtime took the event, ``finished`` when it posted the result;
    ``init_started`` and ``init_finished`` (the runtime's first poll) on a cold
    start; ``init_phase`` names that phase: ``Initialization``, or ``Restore`` for a
    sandbox restored from a SnapStart snapshot (snapstart-monitoring: "the Restore
    subsegment"; its start here is when the restore was asked for, its end the restored
    runtime's first poll); ``next_poll`` the runtime's next poll after the response (``Overhead``);
    ``extensions_done`` when the last extension called next after it (the invoke phase's
    end, and the function segment's).
    ``error`` is the runtime's error body; ``xray_cause`` the X-Ray cause the
    runtime client sent in ``Lambda-Runtime-Function-XRay-Error-Cause``, from which
    Lambda builds the function segment's cause (a timeout has none: then the error
    body's type and message).
    ``links`` are (X-Ray trace id, segment id) pairs of the messages that triggered it.
    """
    service_id = _derived_id(parent, "AWS::Lambda")
    service: dict[str, Any] = {
        "name": function_name,
        "id": service_id,
        "trace_id": root,
        "start_time": received,
        "end_time": finished,
        "origin": "AWS::Lambda",
        "resource_arn": function_arn,
        "aws": {"request_id": request_id},
        "http": {"response": {"status": 200}},
    }
    if upstream_parent:
        service["parent_id"] = upstream_parent
    link_list = [{"trace_id": t, "id": s} for t, s in links][:20]
    if link_list:
        service["links"] = link_list
    function_start = init_started if init_started is not None else started
    arn_aws = {"function_arn": function_arn}
    function_aws: dict[str, Any] = {**arn_aws, "resource_names": [function_name]}
    account = function_arn.split(":")[4] if function_arn.count(":") >= 6 else ""
    if account.isdigit():
        function_aws["account_id"] = account
    end = max(finished, next_poll) if next_poll is not None else finished
    if extensions_done is not None:
        end = max(end, extensions_done)
    function: dict[str, Any] = {
        "name": function_name,
        "id": parent,
        "trace_id": root,
        "parent_id": service_id,
        "start_time": function_start,
        "end_time": end,
        "origin": "AWS::Lambda::Function",
        "aws": function_aws,
        "subsegments": [],
    }
    if init_started is not None:
        initialization = min(init_finished or started, started)
        function["subsegments"].append(
            _phase(init_phase, parent, init_started, initialization, arn_aws)
        )
    function["subsegments"].append(_phase("Invocation", parent, started, finished, arn_aws))
    if next_poll is not None and next_poll >= finished:
        function["subsegments"].append(_phase("Overhead", parent, finished, next_poll, arn_aws))
    if error is not None:
        # An unhandled error or a timeout fails the function: a fault, with its cause.
        function["fault"] = True
        function["cause"] = _cause(parent, error, xray_cause)
    return [service, function]


def _cause(parent: str, error: dict[str, Any], xray_cause: dict[str, Any] | None) -> dict[str, Any]:
    """The function segment's cause: the runtime's X-Ray cause where it sent one."""
    exceptions = (xray_cause or {}).get("exceptions")
    if isinstance(exceptions, list) and exceptions and all(isinstance(e, dict) for e in exceptions):
        assert xray_cause is not None
        cause: dict[str, Any] = {
            "exceptions": [
                {
                    "id": _derived_id(parent, f"cause/{index}"),
                    "type": str(exception.get("type", "Unhandled"))[:200],
                    "message": str(exception.get("message", "")),
                    "stack": [
                        {
                            "path": str(frame.get("path", "")),
                            "line": frame.get("line", 0),
                            "label": str(frame.get("label", "")),
                        }
                        for frame in exception.get("stack") or []
                        if isinstance(frame, dict)
                    ],
                }
                for index, exception in enumerate(exceptions)
            ]
        }
        if isinstance(xray_cause.get("working_directory"), str):
            cause["working_directory"] = xray_cause["working_directory"]
        if isinstance(xray_cause.get("paths"), list):
            cause["paths"] = [str(p) for p in xray_cause["paths"]]
        return cause
    return {
        "exceptions": [
            {
                "id": _derived_id(parent, "cause"),
                "type": str(error.get("errorType", "Unhandled"))[:200],
                "message": str(error.get("errorMessage", "")),
            }
        ]
    }


def asynchronous(attempts: list[list[dict[str, Any]]], queued: float) -> None:
    """Lambda's segments of an asynchronous (``Event``) invocation, from each attempt's
    documents (in place): one ``AWS::Lambda`` segment from the moment the event was
    queued to the end of the last attempt, with a ``Dwell Time`` subsegment (queued ->
    the first attempt began) and one ``Attempt #N`` subsegment per attempt; each
    attempt's ``AWS::Lambda::Function`` segment hangs under that one segment.

    Inference: AWS publishes this shape only as console screenshots (the X-Ray guide's
    Lambda page shows ``Dwell Time`` and ``Attempt #1``); the field names, the
    ``fault`` on a failed attempt, and where the function segments hang are this
    module's reading of them, not a published document. Retries (Lambda retries a
    failed asynchronous invocation twice) appear as further attempts in the same trace.
    """
    services = []
    for documents in attempts:
        service = next((d for d in documents if d.get("origin") == "AWS::Lambda"), None)
        if service is None:
            return  # not sampled: Lambda recorded nothing
        services.append(service)
    first = services[0]
    functions = [
        d for documents in attempts for d in documents if d.get("origin") == "AWS::Lambda::Function"
    ]
    subsegments = [_phase("Dwell Time", first["id"], queued, first["start_time"], {})]
    for number, (service, function) in enumerate(zip(services, functions, strict=False), 1):
        end = max(service["end_time"], function["end_time"])  # Overhead included
        attempt = _phase(f"Attempt #{number}", first["id"], service["start_time"], end, {})
        del attempt["aws"]
        if function.get("fault"):
            attempt["fault"] = True
        subsegments.append(attempt)
    subsegments[0].pop("aws", None)
    first["start_time"] = queued
    first["end_time"] = max(d["end_time"] for d in [*services, *functions])
    first["http"] = {"response": {"status": 202}}
    first["subsegments"] = subsegments
    for function in functions:
        function["parent_id"] = first["id"]
    for documents, service in zip(attempts[1:], services[1:], strict=True):
        documents.remove(service)


def sqs_links(event: object) -> list[tuple[str, str]]:
    """(trace id, parent id) of each SQS record's ``AWSTraceHeader``, in record order.

    The same links the function's handler span records (``events.incoming_links``),
    as Lambda's trace linking sees them: only the X-Ray headers of SQS messages.
    """

    return [
        (format_xray_trace_id(link.context.trace_id), format_span_id(link.context.span_id))
        for link in incoming_links(event)
        if (link.attributes or {}).get("otel_xray.link.source") == "sqs.AWSTraceHeader"
    ]


def _phase(name: str, parent: str, start: float, end: float, aws: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "id": _derived_id(parent, name),
        "start_time": start,
        "end_time": max(end, start),
        "aws": dict(aws),
    }


def _derived_id(parent: str, what: str) -> str:
    # Stable per invocation, so a re-sent document replaces rather than duplicates.
    return hashlib.sha256(f"{parent}/{what}".encode()).hexdigest()[:16]
