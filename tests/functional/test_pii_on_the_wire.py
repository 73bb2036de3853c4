"""PII of every kind, in every place a span carries text, never reaches the wire.

The real SDK, configured as in Lambda, exports through each real exporter to a
real peer on loopback (the local X-Ray daemon for xray-udp, an OTLP receiver for
OTLP); the test then searches every byte that arrived.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest
from opentelemetry import trace

import otel_xray
from otel_xray import configurator
from otel_xray.devtools.components.daemon import XRayDaemon
from otel_xray.devtools.components.receiver import OTLPReceiver
from otel_xray.export import Deadline
from otel_xray.testing import LAMBDA_ENV, LambdaContext

PII = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "card_plain": "5500005555555559",
    "ssn": "078-05-1120",
    "phone": "+14155552671",
    "phone_national": "(415) 555-2671",
    "ipv4": "203.0.113.77",
    "ipv6": "2001:db8::7334",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl",
    "bearer": "Bearer mF_9.B5f-4.1JqMzz",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
URL_PASSWORD = "hunter2secret"
HEADER_SECRETS = {"cookie": "sid=s3cr3t-c00kie-value", "x-api-key": "k-9f8e7d6c5b4a"}
#: As text carries them: a dotted quad is an address where the text says so (issue 32,
#: class 5: a bare 4.2.0.1 is a build number as often); the needle stays the bare address.
AS_TEXT = {k: f"client {v}" if k == "ipv4" else v for k, v in PII.items()}
ALL = " ; ".join(AS_TEXT.values())
#: Non-personal values that must come through unchanged.
KEPT = ["o-20261125-0042", "orders-prod", "DynamoDB.PutItem", "HTTP 201"]


def traced_handler(event: object, context: object) -> dict[str, object]:
    tracer = trace.get_tracer("corpus")
    path_values = "/".join(urllib.parse.quote(v, safe="") for v in AS_TEXT.values())
    link_context = trace.SpanContext(0x6B069E856C663EBA378038F66131E4F3, 0x1111222233334444, True)
    with tracer.start_as_current_span(
        f"charge {ALL} /customers/{PII['phone']}",
        attributes={
            "order_id": KEPT[0],
            "aws.dynamodb.table_names": [KEPT[1]],
            "rpc.method": "PutItem",
            "note": ALL,
            "customer": [PII["email"], PII["ssn"]],
            "http.request.header.authorization": [PII["bearer"]],
            "http.request.header.cookie": [HEADER_SECRETS["cookie"]],
            "http.request.header.x-api-key": [HEADER_SECRETS["x-api-key"]],
            "url.full": f"https://admin:{URL_PASSWORD}@api.example.com/customers/{path_values}"
            f"?{urllib.parse.urlencode(PII)}",
            "url.path": f"/customers/{path_values}",
            "db.statement": "SELECT * FROM customers WHERE "
            + " AND ".join(f"{k} = '{v}'" for k, v in PII.items()),
            "client.address": PII["ipv4"],
            "status_text": KEPT[3],
        },
        links=[trace.Link(link_context, {"origin": ALL})],
    ) as span:
        span.add_event("lookup", {"query": ALL, "table": KEPT[1]})
        span.set_attribute("db.operation", KEPT[2])
        # Structured values, metadata of headers, a URL in an error message (issue 14).
        span.set_attribute("customer", {"contact": {"email": PII["email"]}, "pin": 4821})  # type: ignore[arg-type]
        otel_xray.metadata("request", headers={"Cookie": HEADER_SECRETS["cookie"]})
        span.set_status(
            trace.StatusCode.ERROR,
            f"GET https://pay.example.com/u/{urllib.parse.quote(PII['email'])}"
            f"?api_key={HEADER_SECRETS['x-api-key']} failed",
        )
    raise ValueError(f"payment declined for {ALL}")


@pytest.fixture(params=["xray-udp", "otlp"])
def wire(request: pytest.FixtureRequest) -> Iterator[list[bytes]]:
    """Tracing as in Lambda, exporting to a real peer; yields the bytes that peer received."""
    environ = {
        **LAMBDA_ENV,
        "OTEL_RESOURCE_ATTRIBUTES": f"owner.email={PII['email']},owner.note={ALL},team=payments",
    }
    peer: XRayDaemon | OTLPReceiver
    if request.param == "xray-udp":
        peer = XRayDaemon().start()
        environ |= {
            "OTEL_TRACES_EXPORTER": "xray-udp",
            "AWS_XRAY_DAEMON_ADDRESS": f"{peer.address[0]}:{peer.address[1]}",
        }
    else:
        peer = OTLPReceiver().start()
        environ |= {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": peer.endpoint}
    configurator.reset()
    configurator.state().cold_start = True
    tracing = configurator.configure(environ=environ, instrument=False)
    assert tracing is not None and tracing.settings.exporter == request.param
    try:
        yield peer.raw
    finally:
        configurator.reset()
        peer.stop()


def test_nothing_personal_reaches_the_wire(
    wire: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-6b069e85-6c663eba378038f66131e4f2;Parent=6ff7291ea17a501a;Sampled=1",
    )
    with pytest.raises(ValueError, match="payment declined") as raised:
        otel_xray.lambda_handler(traced_handler)({}, LambdaContext())
    assert PII["email"] in str(raised.value)  # the handler's own error is untouched
    configurator.current().flush(Deadline.within_ms(2000))  # type: ignore[union-attr]
    for _ in range(50):
        if len(wire) and b"payment declined" in b"".join(wire):
            break
        __import__("time").sleep(0.02)
    sent = b"".join(wire)
    assert b"payment declined" in sent, "nothing arrived"
    needles = [*PII.values(), URL_PASSWORD, *HEADER_SECRETS.values()]
    needles += [urllib.parse.quote(v, safe="") for v in PII.values()]
    needles += [urllib.parse.quote_plus(v) for v in PII.values()]
    needles += ["".join(c for c in PII["card"] if c.isdigit()), "4155552671", "jane.doe"]
    leaked = [n for n in needles if n.encode() in sent]
    assert leaked == []
    for kept in KEPT:
        assert kept.encode() in sent
    for placeholder in ("[REDACTED:email]", "[REDACTED:card]", "[REDACTED:secret]", "{email}"):
        assert placeholder.encode() in sent
