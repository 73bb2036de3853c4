"""A local X-Ray API on 127.0.0.1, for the real X-Ray daemon and the real collector.

The daemon and the collector's ``awsxray`` exporter upload with
``PutTraceSegments``; centralized sampling goes through their proxies to
``GetSamplingRules`` and ``GetSamplingTargets``. Pointed at this server (the
daemon's ``--endpoint``, the exporter's and ``awsproxy``'s ``endpoint`` /
``aws_endpoint``), they run unchanged against loopback. Reading back works the
way AWS's does: ``BatchGetTraces``, ``GetTraceSummaries`` (filter expressions by
:mod:`otel_xray.devtools.traces.filters`) and ``GetServiceGraph``.

What it shares with AWS, so a client's mistakes show here:

- the operations, paths and field names of botocore's ``xray`` service model
  (``rest-json``; boto3's own client is a test of every reply);
- SigV4 on every call (:mod:`otel_xray.devtools.components.sigv4`), with the error types AWS
  returns: ``MissingAuthenticationTokenException``,
  ``UnrecognizedClientException``, ``InvalidSignatureException`` (HTTP 403);
- ``InvalidRequestException`` (HTTP 400, type in ``x-amzn-ErrorType``, text in
  ``message``) for a body that is not a JSON object, a missing required field or a
  filter expression that does not parse; a segment document X-Ray would not take
  goes to ``UnprocessedTraceSegments`` with its id and the reason, as AWS does.

It also serves X-Ray's OTLP endpoint, ``POST /v1/traces``
(:mod:`otel_xray.devtools.components.xray_otlp`): SigV4 or an API key, the Transaction Search switch
(:attr:`XRayAPI.transaction_search`), the endpoint's limits, ``partial_success``, and 429 or
503 with ``Retry-After`` on demand (:meth:`XRayAPI.fail_next`). Its spans are translated
into documents by otel-xray's translator and land in the same store.

Documents are stored unchanged, as received, in a :class:`TraceStore` (the one
``map``, ``traces``, ``query`` read) and optionally appended to a JSON-lines file.

Example:
    >>> import boto3
    >>> with XRayAPI() as api:
    ...     xray = boto3.client("xray", endpoint_url=api.endpoint, region_name="us-east-1",
    ...                         aws_access_key_id="testing", aws_secret_access_key="testing")
    ...     reply = xray.put_trace_segments(TraceSegmentDocuments=[
    ...         '{"name":"api","id":"70de5b6f19ff9a0a","start_time":1.0,"end_time":1.5,'
    ...         '"trace_id":"1-581cf771-a006649127e371903a2de979"}'])
    ...     reply["UnprocessedTraceSegments"], len(api.store.documents())
    ([], 1)
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from otel_xray.devtools.components.receiver import readable_span
from otel_xray.devtools.components.sigv4 import SignatureError, verify
from otel_xray.devtools.components.xray_otlp import (
    INVALID_TOKEN,
    THROTTLED,
    TRANSACTION_SEARCH_OFF,
    OtlpError,
    error_body,
    ingest,
    success_body,
)
from otel_xray.devtools.components.xray_otlp import PATH as OTLP_PATH
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.devtools.traces.filters import FilterExpression, FilterSyntaxError
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import Document, Trace, TraceStore
from otel_xray.devtools.traces.summary import check_document, trace_summary
from otel_xray.xray.segment import span_to_document

#: The credentials the local API accepts (access key id -> secret): moto's and the
#: local sandboxes' test values.
TEST_CREDENTIALS = {"testing": "testing"}

#: BatchGetTraces takes at most this many ids a call (the API reference).
MAX_BATCH_TRACE_IDS = 5


class APIError(Exception):
    """An error reply: the type AWS names (``x-amzn-ErrorType``), its status and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def sampling_rule(
    name: str,
    priority: int,
    fixed_rate: float,
    reservoir: int,
    *,
    modified_at: float = 0.0,
    **matchers: Any,
) -> dict[str, Any]:
    """One ``SamplingRuleRecord`` as ``GetSamplingRules`` returns it (``*`` matchers by default)."""
    return {
        "SamplingRule": {
            "RuleName": name,
            "RuleARN": f"arn:aws:xray:us-east-1:123456789012:sampling-rule/{name}",
            "ResourceARN": "*",
            "Priority": priority,
            "FixedRate": fixed_rate,
            "ReservoirSize": reservoir,
            "ServiceName": "*",
            "ServiceType": "*",
            "Host": "*",
            "HTTPMethod": "*",
            "URLPath": "*",
            "Version": 1,
            "Attributes": {},
            **matchers,
        },
        "CreatedAt": 0.0,
        "ModifiedAt": modified_at,
    }


class XRayAPI(LoopbackServer):
    """The six X-Ray calls on loopback; ``endpoint`` is what clients are pointed at."""

    def __init__(
        self,
        store: TraceStore | None = None,
        *,
        credentials: Mapping[str, str] = TEST_CREDENTIALS,
        segments_path: str | Path | None = None,
        target_interval: int = 10,
        clock: Callable[[], float] = time.time,
        port: int = 0,
        transaction_search: bool = True,
        api_keys: tuple[str, ...] = (),
    ) -> None:
        self.store = store if store is not None else TraceStore()
        self.credentials = dict(credentials)
        self.segments_path = Path(segments_path) if segments_path else None
        #: Every document string PutTraceSegments took, exactly as it arrived.
        self.received: list[str] = []
        #: (operation, access key id) of every signed call, in order.
        self.calls: list[tuple[str, str]] = []
        #: The TelemetryRecords the daemon reported (PutTelemetryRecords).
        self.telemetry: list[dict[str, Any]] = []
        #: Every SamplingStatisticsDocument reported.
        self.statistics: list[dict[str, Any]] = []
        #: The ``Interval`` (seconds) sampling targets ask clients to report at.
        self.target_interval = target_interval
        self._clock = clock
        self._rules: list[dict[str, Any]] = [sampling_rule("Default", 10000, 0.05, 1)]
        self.last_rule_modification = 0.0
        #: Transaction Search on the account: X-Ray's OTLP endpoint refuses spans when off.
        self.transaction_search = transaction_search
        #: API keys accepted as ``Authorization: Bearer <key>`` on /v1/traces.
        self.api_keys = set(api_keys)
        #: Every OTLP request as it was decoded (OTLP/JSON form), after the limits.
        self.otlp_requests: list[dict[str, Any]] = []
        #: (HTTP status, message) of every refused OTLP request.
        self.otlp_refused: list[tuple[int, str]] = []
        #: Spans refused inside accepted requests (partial_success).
        self.otlp_rejected_spans = 0
        self._faults: list[tuple[int, int | None]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), port)

    def fail_next(self, status: int, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` OTLP requests with ``status`` (429, 503 ...) and
        ``Retry-After: retry_after`` seconds, as a throttled or unavailable X-Ray would."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * times)

    @property
    def otlp_endpoint(self) -> str:
        return f"http://{self.address}{OTLP_PATH}"

    def otlp(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes, str, dict[str, str]]:
        """Answer one ``POST /v1/traces``: (status, body, content type, extra headers)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        as_json = lowered.get("content-type", "").startswith("application/json")
        try:
            authorization = lowered.get("authorization", "")
            if authorization.lower().startswith("bearer "):
                if authorization[7:].strip() not in self.api_keys:
                    raise OtlpError(403, INVALID_TOKEN, 16)
            else:
                try:
                    verify("POST", OTLP_PATH, headers, body, self.credentials)
                except SignatureError as error:
                    raise OtlpError(error.status, str(error), 16, error.code) from None
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                status, retry_after = fault
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                message = THROTTLED if status == 429 else "Service Unavailable"
                payload, media = error_body(OtlpError(status, message, 14), as_json)
                return status, payload, media, extra
            if not self.transaction_search:
                raise OtlpError(400, TRANSACTION_SEARCH_OFF, 9)
            ingested = ingest(
                body, lowered.get("content-type", ""), lowered.get("content-encoding", "")
            )
        except OtlpError as error:
            with self._lock:
                self.otlp_refused.append((error.status, str(error)))
            payload, media = error_body(error, as_json)
            return error.status, payload, media, {"x-amzn-ErrorType": error.error_type}
        documents = [span_to_document(readable_span(span)) for span in ingested.accepted]
        with self._lock:
            self.otlp_requests.append(ingested.decoded)
            self.otlp_rejected_spans += ingested.rejected
            for document in documents:
                self.received.append(json.dumps(document))
                self.store.add(document)
            if self.segments_path is not None and documents:
                with self.segments_path.open("a") as out:
                    out.writelines(json.dumps(d) + "\n" for d in documents)
        payload, media = success_body(ingested.rejected, ingested.message, ingested.as_json)
        return 200, payload, media, {}

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    # sampling rules ---------------------------------------------------------------

    @property
    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rules)

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        """Replace the rules, as an UpdateSamplingRule would: clients see a newer
        ``LastRuleModification`` on their next ``GetSamplingTargets``."""
        with self._lock:
            self._rules = list(rules)
            self.last_rule_modification = self._clock()

    # operations ---------------------------------------------------------------------

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one (already authenticated) call; raises :class:`APIError`."""
        handler = (
            getattr(self, _snake(operation), None) if operation in OPERATIONS.values() else None
        )
        if handler is None:
            raise APIError("UnknownOperationException", f"unknown operation {operation}", 404)
        result: dict[str, Any] = handler(body)
        return result

    def put_trace_segments(self, body: dict[str, Any]) -> dict[str, Any]:
        documents = _required_list(body, "TraceSegmentDocuments")
        unprocessed = []
        accepted = []
        for raw in documents:
            if not isinstance(raw, str):
                raise APIError("InvalidRequestException", "TraceSegmentDocuments takes strings")
            document, problem = check_document(raw)
            if document is None:
                unprocessed.append(
                    {"Id": _id_of(raw), "ErrorCode": "InvalidSegment", "Message": problem}
                )
                continue
            accepted.append((raw, document))
        with self._lock:
            for raw, document in accepted:
                self.received.append(raw)
                self.store.add(document)
            if self.segments_path is not None and accepted:
                with self.segments_path.open("a") as out:
                    out.writelines(raw.replace("\n", " ") + "\n" for raw, _ in accepted)
        return {"UnprocessedTraceSegments": unprocessed}

    def batch_get_traces(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = _required_list(body, "TraceIds")
        if len(ids) > MAX_BATCH_TRACE_IDS:
            raise APIError(
                "InvalidRequestException",
                f"TraceIds takes at most {MAX_BATCH_TRACE_IDS} ids, got {len(ids)}",
            )
        known = set(self.store.trace_ids())
        traces = []
        for trace_id in ids:
            if trace_id not in known:
                continue
            trace = self.store.trace(trace_id)
            traces.append(
                {
                    "Id": trace_id,
                    "Duration": round(trace.duration, 3),
                    "LimitExceeded": False,
                    "Segments": [
                        {"Id": str(s.get("id")), "Document": json.dumps(s)} for s in trace.segments
                    ],
                }
            )
        return {"Traces": traces, "UnprocessedTraceIds": [t for t in ids if t not in known]}

    def get_trace_summaries(self, body: dict[str, Any]) -> dict[str, Any]:
        start, end = _time(body, "StartTime"), _time(body, "EndTime")
        if end < start:
            raise APIError("InvalidRequestException", "EndTime is before StartTime")
        expression = None
        text = body.get("FilterExpression")
        if text:
            try:
                expression = FilterExpression.parse(str(text))
            except FilterSyntaxError as error:
                raise APIError("InvalidRequestException", str(error)) from None
        summaries = []
        traces = [t for t in self.store.traces() if start <= t.start < end]
        for trace in traces:
            if expression is None or expression.matches(trace, self.store):
                summaries.append(trace_summary(trace))
        return {
            "TraceSummaries": summaries,
            "ApproximateTime": end,
            "TracesProcessedCount": len(traces),
        }

    def get_service_graph(self, body: dict[str, Any]) -> dict[str, Any]:
        start, end = _time(body, "StartTime"), _time(body, "EndTime")
        in_range = TraceStore(
            d for t in self.store.traces() if start <= t.start < end for d in _raw(t, self.store)
        )
        graph = ServiceGraph.build(in_range).to_dict()
        graph.pop("TraceCount", None)  # ours, not the API's
        return {
            "StartTime": start,
            "EndTime": end,
            "Services": graph["Services"],
            "ContainsOldGroupVersions": False,
        }

    def put_telemetry_records(self, body: dict[str, Any]) -> dict[str, Any]:
        # The daemon's own health counters (segments received, rejected, sent); kept
        # so a test can read what the daemon says it rejected.
        _required_list(body, "TelemetryRecords")
        with self._lock:
            self.telemetry.extend(body["TelemetryRecords"])
        return {}

    def get_sampling_rules(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"SamplingRuleRecords": self.rules}

    def get_sampling_targets(self, body: dict[str, Any]) -> dict[str, Any]:
        documents = _required_list(body, "SamplingStatisticsDocuments")
        rules = {r["SamplingRule"]["RuleName"]: r["SamplingRule"] for r in self.rules}
        targets, unprocessed = [], []
        for document in documents:
            problem = _statistics_problem(document)
            if problem:
                raise APIError("InvalidRequestException", problem)
            with self._lock:
                self.statistics.append(dict(document))
            rule = rules.get(document["RuleName"])
            if rule is None:
                unprocessed.append(
                    {
                        "RuleName": document["RuleName"],
                        "ErrorCode": "400",
                        "Message": "no such rule",
                    }
                )
                continue
            targets.append(
                {
                    "RuleName": rule["RuleName"],
                    "FixedRate": rule["FixedRate"],
                    "ReservoirQuota": rule["ReservoirSize"],
                    "ReservoirQuotaTTL": self._clock() + 60,
                    "Interval": self.target_interval,
                }
            )
        return {
            "SamplingTargetDocuments": targets,
            "LastRuleModification": self.last_rule_modification,
            "UnprocessedStatistics": unprocessed,
        }

    # HTTP ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                if self.path.split("?")[0].rstrip("/") == OTLP_PATH:
                    status, payload, media, extra = api.otlp(dict(self.headers.items()), body)
                    self.reply(status, payload, media, extra)
                    return
                try:
                    operation = OPERATIONS.get(self.path.split("?")[0].rstrip("/"))
                    if operation is None:
                        raise APIError(
                            "UnknownOperationException",
                            f"no X-Ray operation at {self.path}; accepted: "
                            + ", ".join(sorted(OPERATIONS)),
                            404,
                        )
                    try:
                        access_key = verify(
                            "POST", self.path, dict(self.headers.items()), body, api.credentials
                        )
                    except SignatureError as error:
                        raise APIError(error.code, str(error), error.status) from None
                    try:
                        decoded = json.loads(body or b"{}")
                    except ValueError as error:
                        raise APIError(
                            "InvalidRequestException", f"the body is not JSON: {error}"
                        ) from None
                    if not isinstance(decoded, dict):
                        raise APIError("InvalidRequestException", "the body is not a JSON object")
                    with api._lock:
                        api.calls.append((operation, access_key))
                    self.reply_json(200, api.call(operation, decoded))
                except APIError as error:
                    self.reply_json(
                        error.status, {"message": str(error)}, {"x-amzn-ErrorType": error.code}
                    )

        return Handler


#: Request path -> operation, from botocore's xray service model.
OPERATIONS = {
    "/TraceSegments": "PutTraceSegments",
    "/Traces": "BatchGetTraces",
    "/TraceSummaries": "GetTraceSummaries",
    "/ServiceGraph": "GetServiceGraph",
    "/GetSamplingRules": "GetSamplingRules",
    "/SamplingTargets": "GetSamplingTargets",
    "/TelemetryRecords": "PutTelemetryRecords",
}


def _snake(operation: str) -> str:
    """``PutTraceSegments`` -> ``put_trace_segments``, the method that answers it."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _raw(trace: Trace, store: TraceStore) -> list[Document]:
    """The stored (unassembled) documents of one trace."""
    return [d for d in store.documents() if d.get("trace_id") == trace.id]


def _id_of(raw: str) -> str:
    try:
        document = json.loads(raw)
    except ValueError:
        return ""
    return str(document.get("id", "")) if isinstance(document, dict) else ""


def _required_list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise APIError("InvalidRequestException", f"{key} is required and must be a list")
    return value


def _time(body: Mapping[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise APIError(
            "InvalidRequestException", f"{key} is required: a time in seconds since the epoch"
        )
    return float(value)


#: Python types of the model's shape types (a timestamp arrives as epoch seconds in JSON).
_SHAPE_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "long": int,
    "timestamp": (int, float),
}


@functools.cache
def _statistics_model() -> tuple[dict[str, type | tuple[type, ...]], frozenset[str]]:
    """botocore's ``SamplingStatisticsDocument``: its members' types, and the required ones.

    Read from the model every AWS SDK is generated from, not written here again.
    """
    import botocore.session  # type: ignore[import-untyped]  # noqa: PLC0415

    shape = (
        botocore.session.get_session()
        .get_service_model("xray")
        .shape_for("SamplingStatisticsDocument")
    )
    members = {name: _SHAPE_TYPES[m.type_name] for name, m in shape.members.items()}
    return members, frozenset(shape.required_members)


def _statistics_problem(document: Any) -> str:
    """Why a SamplingStatisticsDocument is invalid (the API model's fields and types)."""
    if not isinstance(document, dict):
        return "a SamplingStatisticsDocument must be an object"
    members, required = _statistics_model()
    for key, kind in members.items():
        value = document.get(key)
        if (value is None and key in required) or (
            value is not None and (isinstance(value, bool) or not isinstance(value, kind))
        ):
            return f"SamplingStatisticsDocument: {key} is required (model field name)"
    unknown = set(document) - set(members)
    if unknown:
        return f"SamplingStatisticsDocument: unknown fields {sorted(unknown)}"
    return ""
