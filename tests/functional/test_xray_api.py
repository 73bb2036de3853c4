"""The local X-Ray API, driven by boto3's own xray client (its model parses every reply).

Shapes and paths: botocore's xray service model (``botocore/data/xray/2016-04-12``).
Signatures: botocore's ``SigV4Auth`` signs; the API must accept exactly what it signs
and refuse a changed body, a wrong secret, an unknown key and no signature, with the
error types AWS returns for them. The real daemon and collector are in
tests/e2e/test_collector.py.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.devtools.components.sigv4 import SignatureError, verify
from otel_xray.devtools.components.xray_api import OPERATIONS, XRayAPI, sampling_rule

NOW = time.time()
TRACE = f"1-{int(NOW):08x}-a006649127e371903a2de979"


def document(**fields: Any) -> str:
    base = {
        "name": "api",
        "id": "70de5b6f19ff9a0a",
        "trace_id": TRACE,
        "start_time": NOW,
        "end_time": NOW + 0.25,
    }
    return json.dumps({**base, **fields})


@pytest.fixture
def api(tmp_path: Path) -> Iterator[XRayAPI]:
    with XRayAPI(segments_path=tmp_path / "segments.jsonl") as running:
        yield running


def client(api: XRayAPI, secret: str = "testing", key: str = "testing") -> Any:
    return boto3.client(
        "xray",
        endpoint_url=api.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def error_of(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_uploaded_documents_are_stored_unchanged_and_read_back(api: XRayAPI) -> None:
    xray = client(api)
    child = document(
        id="a1b2c3d4e5f60718",
        name="DynamoDB",
        type="subsegment",
        parent_id="70de5b6f19ff9a0a",
        namespace="aws",
        aws={"operation": "PutItem", "table_name": "orders"},
    )
    root = document(annotations={"tier": "gold"}, http={"response": {"status": 500}}, fault=True)
    reply = xray.put_trace_segments(TraceSegmentDocuments=[root, child])
    assert reply["UnprocessedTraceSegments"] == []
    assert api.received == [root, child]  # as sent, byte for byte
    assert Path(api.segments_path or "").read_text().splitlines() == [root, child]
    [trace] = xray.batch_get_traces(TraceIds=[TRACE])["Traces"]
    names = {json.loads(s["Document"])["name"] for s in trace["Segments"]}
    assert names == {"api", "DynamoDB"}  # the subsegment merged, an inferred segment added
    summaries = xray.get_trace_summaries(
        StartTime=NOW - 60, EndTime=NOW + 60, FilterExpression='annotation.tier = "gold" AND fault'
    )["TraceSummaries"]
    assert [s["Id"] for s in summaries] == [TRACE]
    assert summaries[0]["HasFault"] is True
    assert summaries[0]["Http"]["HttpStatus"] == 500
    assert summaries[0]["Annotations"]["tier"][0]["AnnotationValue"] == {"StringValue": "gold"}
    none = xray.get_trace_summaries(StartTime=NOW - 60, EndTime=NOW + 60, FilterExpression="ok")
    assert none["TraceSummaries"] == [] and none["TracesProcessedCount"] == 1
    services = xray.get_service_graph(StartTime=NOW - 60, EndTime=NOW + 60)["Services"]
    assert {(s["Name"], s["Type"]) for s in services} >= {("orders", "AWS::DynamoDB::Table")}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (document(id="short"), "16 hexadecimal"),
        (document(trace_id="1-xyz"), "trace_id"),
        (json.dumps({"name": "a", "id": "70de5b6f19ff9a0a", "trace_id": TRACE}), "start_time"),
        (
            json.dumps(
                {"name": "a", "id": "70de5b6f19ff9a0a", "trace_id": TRACE, "start_time": NOW}
            ),
            "end_time nor in_progress",
        ),
        (document(type="subsegment"), "parent_id"),
    ],
    # Fixed ids: the documents hold the time, and xdist workers must collect the same names.
    ids=["not-json", "not-object", "short-id", "bad-trace-id", "no-start", "no-end", "no-parent"],
)
def test_a_document_x_ray_would_not_take_is_unprocessed_with_the_reason(
    api: XRayAPI, raw: str, reason: str
) -> None:
    reply = client(api).put_trace_segments(TraceSegmentDocuments=[raw, document()])
    [unprocessed] = reply["UnprocessedTraceSegments"]
    assert unprocessed["ErrorCode"] == "InvalidSegment" and reason in unprocessed["Message"]
    assert len(api.store.documents()) == 1  # the good one is kept


def test_malformed_requests_get_the_apis_error_shapes(api: XRayAPI) -> None:
    xray = client(api)
    assert error_of(
        xray.get_trace_summaries, StartTime=NOW, EndTime=NOW + 1, FilterExpression="service("
    ) == ("InvalidRequestException", 400)
    assert error_of(xray.batch_get_traces, TraceIds=[TRACE] * 6) == (
        "InvalidRequestException",
        400,
    )
    assert error_of(xray.get_trace_summaries, StartTime=NOW + 10, EndTime=NOW) == (
        "InvalidRequestException",
        400,
    )
    # SampleCount is what some OTel samplers send; the model says SampledCount (boto3
    # would not send this, so it goes signed by hand).
    statistics = {
        "RuleName": "Default",
        "ClientID": "a" * 24,
        "Timestamp": NOW,
        "RequestCount": 1,
        "SampleCount": 1,
    }
    body = json.dumps({"SamplingStatisticsDocuments": [statistics]}).encode()
    status, headers, reply = signed_post(api, "/SamplingTargets", body)
    assert (status, headers.get("x-amzn-ErrorType")) == (400, "InvalidRequestException")
    assert "SampledCount" in json.loads(reply)["message"]


def test_a_body_that_is_not_json_is_invalid(api: XRayAPI) -> None:
    status, headers, body = signed_post(api, "/TraceSegments", b"{not json")
    assert (status, headers.get("x-amzn-ErrorType")) == (400, "InvalidRequestException")
    assert "not JSON" in json.loads(body)["message"]


@pytest.mark.parametrize(
    ("key", "secret", "expected"),
    [
        ("testing", "wrong", "InvalidSignatureException"),
        ("AKIDNOBODY", "testing", "UnrecognizedClientException"),
    ],
)
def test_a_wrong_signature_is_refused(api: XRayAPI, key: str, secret: str, expected: str) -> None:
    assert error_of(client(api, secret, key).get_sampling_rules) == (expected, 403)
    assert api.calls == []


def test_an_unsigned_or_altered_request_is_refused(api: XRayAPI) -> None:
    request = urllib.request.Request(api.endpoint + "/GetSamplingRules", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    status, headers, _ = signed_post(
        api,
        "/TraceSegments",
        b'{"TraceSegmentDocuments": []}',
        send=b'{"TraceSegmentDocuments": [ ]}',
    )
    assert (status, headers.get("x-amzn-ErrorType")) == (403, "InvalidSignatureException")


def test_the_verifier_accepts_what_botocore_signs_and_checks_the_clock() -> None:
    request = AWSRequest("POST", "http://127.0.0.1:9/Traces?a=1&b=x%20y", data=b'{"x": 1}')
    SigV4Auth(Credentials("AKID", "secret", "token"), "xray", "eu-west-1").add_auth(request)
    headers = dict(request.headers) | {"host": "127.0.0.1:9"}
    assert verify("POST", "/Traces?a=1&b=x%20y", headers, b'{"x": 1}', {"AKID": "secret"}) == "AKID"
    with pytest.raises(SignatureError, match="expired"):
        verify(
            "POST",
            "/Traces?a=1&b=x%20y",
            headers,
            b'{"x": 1}',
            {"AKID": "secret"},
            now=time.time() + 3600,
        )
    with pytest.raises(SignatureError) as wrong_service:
        verify(
            "POST",
            "/Traces?a=1&b=x%20y",
            headers,
            b'{"x": 1}',
            {"AKID": "secret"},
            service="lambda",
        )
    assert wrong_service.value.code == "InvalidSignatureException"


def test_sampling_targets_follow_the_rules(api: XRayAPI) -> None:
    api.set_rules([sampling_rule("checkout", 10, 0.25, 3)])
    reply = client(api).get_sampling_targets(
        SamplingStatisticsDocuments=[
            {
                "RuleName": "checkout",
                "ClientID": "a" * 24,
                "Timestamp": NOW,
                "RequestCount": 10,
                "SampledCount": 4,
                "BorrowCount": 1,
            },
            {
                "RuleName": "gone",
                "ClientID": "a" * 24,
                "Timestamp": NOW,
                "RequestCount": 1,
                "SampledCount": 0,
            },
        ]
    )
    [target] = reply["SamplingTargetDocuments"]
    assert (target["RuleName"], target["FixedRate"], target["ReservoirQuota"]) == (
        "checkout",
        0.25,
        3,
    )
    assert [u["RuleName"] for u in reply["UnprocessedStatistics"]] == ["gone"]
    assert reply["LastRuleModification"].timestamp() == pytest.approx(api.last_rule_modification)


def signed_post(
    api: XRayAPI, path: str, body: bytes, send: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST ``send`` (default ``body``) with a signature made for ``body``."""
    request = AWSRequest("POST", api.endpoint + path, data=body)
    SigV4Auth(Credentials("testing", "testing"), "xray", "us-east-1").add_auth(request)
    raw = urllib.request.Request(
        api.endpoint + path, data=send if send is not None else body, headers=dict(request.headers)
    )
    try:
        with urllib.request.urlopen(raw, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


# Against the references: botocore's xray model, and botocore's signer -----------------

MODEL = botocore.session.get_session().get_service_model("xray")


def conforms(value: Any, shape: Any, where: str = "") -> list[str]:
    """Where ``value`` (a raw JSON reply) leaves ``shape`` (botocore's output shape)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, the model says structure"]
        found = [f"{where}.{k}: not in the model" for k in value if k not in shape.members]
        for key, member in shape.members.items():
            if key in value and value[key] is not None:
                found += conforms(value[key], member, f"{where}.{key}")
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            p for i, item in enumerate(value) for p in conforms(item, shape.member, f"{where}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: not a map"]
        return [p for k, v in value.items() for p in conforms(v, shape.value, f"{where}[{k}]")]
    expected = {
        "string": str,
        "boolean": bool,
        "integer": int,
        "long": int,
        "double": (int, float),
        "float": (int, float),
        "timestamp": (int, float),
    }.get(kind, object)
    if isinstance(value, bool) and kind not in ("boolean",):
        return [f"{where}: a boolean, the model says {kind}"]
    return [] if isinstance(value, expected) else [f"{where}: {value!r} is not a {kind}"]


def test_every_reply_has_the_models_shape(api: XRayAPI) -> None:
    """Each operation's raw JSON, member by member, against botocore's output shape (boto3
    would parse a reply with unknown or mistyped members without complaint)."""
    child = document(id="a1b2c3d4e5f60718", name="DynamoDB", type="subsegment",
                     parent_id="70de5b6f19ff9a0a", namespace="aws",
                     aws={"operation": "PutItem", "table_name": "orders"})  # fmt: skip
    root = document(annotations={"tier": "gold", "total": 12.5, "vip": True},
                    http={"request": {"method": "GET", "url": "http://x/y"},
                          "response": {"status": 500}}, fault=True)  # fmt: skip
    statistics = {"RuleName": "Default", "ClientID": "a" * 24, "Timestamp": NOW,
                  "RequestCount": 2, "SampledCount": 1, "BorrowCount": 0}  # fmt: skip
    calls = {
        "PutTraceSegments": ("/TraceSegments", {"TraceSegmentDocuments": [root, child, "{"]}),
        "BatchGetTraces": ("/Traces", {"TraceIds": [TRACE, "1-00000000-000000000000000000000000"]}),
        "GetTraceSummaries": ("/TraceSummaries", {"StartTime": NOW - 60, "EndTime": NOW + 60}),
        "GetServiceGraph": ("/ServiceGraph", {"StartTime": NOW - 60, "EndTime": NOW + 60}),
        "GetSamplingRules": ("/GetSamplingRules", {}),
        "GetSamplingTargets": ("/SamplingTargets", {"SamplingStatisticsDocuments": [statistics]}),
    }
    for operation, (path, body) in calls.items():
        status, _, reply = signed_post(api, path, json.dumps(body).encode())
        assert status == 200, (operation, reply)
        shape = MODEL.operation_model(operation).output_shape
        assert conforms(json.loads(reply), shape, operation) == []
    assert MODEL.operation_model("PutTraceSegments").http["requestUri"] == "/TraceSegments"
    for path, operation in OPERATIONS.items():  # the paths are the model's
        assert MODEL.operation_model(operation).http["requestUri"] == path


@settings(max_examples=60, deadline=None)
@given(
    path=st.from_regex(r"/[A-Za-z0-9_.~-]{0,20}(/[A-Za-z0-9_.~-]{1,10}){0,2}", fullmatch=True),
    query=st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                          st.text(alphabet="abc xyz/=&+%", max_size=8), max_size=3),
    body=st.binary(max_size=200),
    token=st.none() | st.text(alphabet="abcdef0123456789", min_size=8, max_size=20),
)  # fmt: skip
def test_the_verifier_agrees_with_botocores_signer(
    path: str, query: dict[str, str], body: bytes, token: str | None
) -> None:
    """Generated requests signed by botocore's SigV4Auth: accepted as signed; refused with
    one byte of the body changed, or with another secret."""
    url = "http://127.0.0.1:9" + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = AWSRequest("POST", url, data=body)
    SigV4Auth(Credentials("AKID", "secret", token), "xray", "us-east-1").add_auth(request)
    target = urllib.parse.urlsplit(request.url)
    line = target.path + ("?" + target.query if target.query else "")
    headers = dict(request.headers) | {"host": "127.0.0.1:9"}
    assert verify("POST", line, headers, body, {"AKID": "secret"}) == "AKID"
    with pytest.raises(SignatureError):
        verify("POST", line, headers, body + b"!", {"AKID": "secret"})
    with pytest.raises(SignatureError):
        verify("POST", line, headers, body, {"AKID": "other"})
