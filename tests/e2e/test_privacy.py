"""Through the built layer: PII in the event, the HTTP call and the exception is never exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.local_services import LocalServices
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from tests.e2e.conftest import ROOT, RUNTIME

EMAIL, CARD, PHONE = "jane.doe@example.com", "4111 1111 1111 1111", "+14155552671"
CLIENT_IP, TOKEN = "203.0.113.77", "mF_9.B5f-4.1JqMzz"
FUNCTION = (
    """
import json, os, urllib3

http = urllib3.PoolManager()

def handler(event, context):
    order = json.loads(event["body"])
    url = os.environ["PAYMENT_URL"] + "?email=" + order["email"] + "&phone=" + order["phone"]
    reply = http.request("POST", url, body=json.dumps({"amount": 99999}),
                         headers={"Authorization": "Bearer """
    + TOKEN
    + """"})
    if reply.status != 200:
        raise RuntimeError(f"payment declined for {order['email']}, card {order['card']}")
    return {"statusCode": 200}
"""
)


@pytest.mark.parametrize("exporter", ["xray-udp", "otlp"])
def test_an_invocation_exports_no_personal_data(
    exporter: str, services: LocalServices, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(FUNCTION)
    event = {
        "resource": "/customers/{email}/orders",
        "path": f"/customers/{EMAIL}/orders",
        "httpMethod": "POST",
        "headers": {
            "Authorization": f"Bearer {TOKEN}",
            "X-Forwarded-For": CLIENT_IP,
            "Host": "api.example.com",
        },
        "queryStringParameters": {"email": EMAIL, "page": "2"},
        "requestContext": {"identity": {"sourceIp": CLIENT_IP}, "stage": "prod"},
        "body": json.dumps({"email": EMAIL, "card": CARD, "phone": PHONE}),
    }
    with LocalFunction(
        "app.handler",
        tmp_path,
        layer_dir=ROOT / default_layer_dir(),
        runtime_dir=RUNTIME,
        env=services.function_env(),
        function_name="checkout",
        exporter=exporter,
    ) as function:
        result = function.invoke(event)
        peer = function.daemon if exporter == "xray-udp" else function.receiver
        assert peer is not None
        sent = b"".join(peer.raw)
    assert result.error is not None and EMAIL in result.error["errorMessage"]  # the caller's
    assert b"payment declined for" in sent and b"/customers/{email}/orders" in sent
    for secret in (
        EMAIL,
        CARD,
        PHONE,
        CLIENT_IP,
        TOKEN,
        "jane.doe%40example.com",
        "%2B14155552671",
    ):
        assert secret.encode() not in sent, secret
    # Lambda's own function segment: its cause is what the runtime client sent in the
    # Lambda-Runtime-Function-XRay-Error-Cause header, redacted by the layer.
    function_segment = next(
        d for d in result.segments if d.get("origin") == "AWS::Lambda::Function"
    )
    cause = function_segment["cause"]
    [exception] = cause["exceptions"]
    assert exception["type"] == "RuntimeError" and exception["stack"]
    assert exception["message"].startswith("payment declined for [REDACTED:email], card [")
    assert cause["working_directory"] and cause["paths"]
    assert not [s for s in (EMAIL, CARD, "4111111111111111") if s in json.dumps(cause)]
    documents = [d for d in result.segments if d.get("type") == "subsegment"]
    payment = next(d for d in documents if d.get("namespace") == "remote")
    assert payment["http"]["request"]["url"].endswith(
        "?email=[REDACTED:query]&phone=[REDACTED:query]"
    )
