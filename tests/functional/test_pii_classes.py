"""Issue 14, class by class: personal data out by no shape, place, length or format.

Each case runs ordinary handler code through ``XRayCapture`` (the real SDK, the
redacting processor, the translator) or a span through the pipeline, and searches
the bytes each exporter would send: the X-Ray documents (xray-udp) and the OTLP
protobuf body (``encode_spans`` of the exported, redacted spans). Every needle is
searched plain, percent-encoded once and twice, JSON-escaped, and as digits only
where it has digits. The keep-cases at the end are values that must come through
as they are.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
import urllib3
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider

import otel_xray
from otel_xray.export import Deadline
from otel_xray.export.processor import InvocationSpanProcessor
from otel_xray.pii import RedactingSpanProcessor, Redactor
from otel_xray.settings import PiiSettings
from otel_xray.testing import InMemoryExporter, XRayCapture
from otel_xray.xray.segment import encode, span_to_document
from tests.ports import unused_port

EMAIL = "zoe.mueller@example.de"
CARD = "4111 1111 1111 1111"
API_KEY = "k-9f8e7d6c5b4a3f2e"
redactor = Redactor(PiiSettings())


def forms(needle: str) -> set[bytes]:
    once = urllib.parse.quote(needle, safe="")
    found = {needle, once, urllib.parse.quote(once, safe=""), json.dumps(needle)[1:-1]}
    found.add(urllib.parse.quote_plus(needle))
    digits = "".join(c for c in needle if c.isdigit())
    if len(digits) >= 8 and not any(c.isalpha() for c in needle):  # a card or phone number
        found.add(digits)
    return {f.encode() for f in found}


def leaked(sent: bytes, *needles: str) -> list[str]:
    return [n for n in needles if any(form in sent for form in forms(n))]


def captured_bytes(capture: XRayCapture) -> bytes:
    """What both exporters would send for the captured spans, and Lambda's own segments."""
    spans = capture._exporter.spans
    return json.dumps(capture.documents).encode() + encode_spans(spans).SerializeToString()


@pytest.fixture
def xray() -> Iterator[XRayCapture]:
    with XRayCapture(environ={"OTEL_XRAY_STRICT": "false"}) as capture:
        yield capture


# 2. Metadata and captured responses are structures, redacted by key ----------------------


def test_metadata_of_headers_and_events_is_redacted_by_key(xray: XRayCapture) -> None:
    headers = {
        "Cookie": "sid=s3cr3t-c00kie",
        "X-Api-Key": API_KEY,
        "Authorization": "Token 9f1e2d3c4b5a6978",
        "User-Agent": "Mozilla/5.0 Chrome/120.0.0.0",
    }
    event = {"headers": headers, "body": json.dumps({"password": "hunter2-pw", "email": EMAIL})}

    def handler(event: Any, context: Any) -> dict[str, Any]:
        otel_xray.metadata("request", headers=event["headers"])
        otel_xray.metadata("event", event=event)
        otel_xray.metadata("session", user="u-1", expires=3600)  # a namespace named session
        return {
            "statusCode": 200,
            "headers": {"Set-Cookie": "sid=n3w-s3cr3t; HttpOnly"},
            "body": json.dumps({"access_token": "at-123456789", "refresh_token": "rt-98765"}),
        }

    with XRayCapture(environ={"OTEL_XRAY_CAPTURE_RESPONSE": "true"}) as capture:
        result = capture.invoke(handler, event)
        sent = captured_bytes(capture)
    assert result.error is None
    secrets = ["s3cr3t-c00kie", API_KEY, "9f1e2d3c4b5a6978", "hunter2-pw", EMAIL]
    secrets += ["n3w-s3cr3t", "at-123456789", "rt-98765"]
    assert leaked(sent, *secrets) == []
    assert b"Chrome/120.0.0.0" in sent  # a user agent is not personal
    documents = [d for d in result.documents if "metadata" in d]
    namespaces = {ns for d in documents for ns in d["metadata"]}
    assert {"request", "event", "session", "response"} <= namespaces
    session = next(d["metadata"]["session"] for d in documents if "session" in d["metadata"])
    assert session == {"user": "u-1", "expires": 3600}  # named session, not hidden whole


# 3. Nothing is cut before it is redacted ----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(padding=st.integers(0, 5000))
def test_a_value_across_every_cut_leaves_no_part(padding: int) -> None:
    """Values around the metadata cut (4096), the OTEL length limit and the old path cuts."""
    exporter = InMemoryExporter()
    processor = InvocationSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(
        RedactingSpanProcessor(processor, Redactor(PiiSettings()), value_length_limit=2048)
    )
    text = "x" * padding + f" {EMAIL} and {CARD} "
    with provider.get_tracer("cut").start_as_current_span("cut") as span:
        span.set_attribute("note", text)
        span.set_attribute("url.path", "/a" * (padding // 2) + f"/{EMAIL}")
        span.set_attribute("aws.xray.metadata.big", json.dumps({"text": text}))
    processor.flush(Deadline.within_ms(1000))
    [exported] = exporter.spans
    sent = encode(span_to_document(exported)) + encode_spans([exported]).SerializeToString()
    partial = [EMAIL[:12], "4111 1111 1111", "zoe.mueller@"]
    assert [p for p in partial if p.encode() in sent] == []
    assert all(len(v) <= 2048 for v in exported.attributes.values() if isinstance(v, str))


# 4. Formats from many countries -------------------------------------------------------------

PHONES = [
    "415 555 2671",
    "call 4155552671",
    "+44 20 7946 0958",
    "020 7946 0958",
    "+44 (0)20 7946 0958",
    "07911 123456",
    "+49 30 12345678",
    "030 12345678",
    "+33 6 12 34 56 78",
    "06 12 34 56 78",
    "+91 98765 43210",
    "98765 43210",
    "+55 11 91234-5678",
    "(11) 91234-5678",
]
OTHER_FORMATS = [
    ("6759 6498 2643 8453", "card"),  # Maestro
    ("6521 8800 0000 0002", "card"),  # RuPay-style, Luhn-valid
    ("5067 1234 5678 9014", "card"),  # Elo-style, Luhn-valid
    ("4111.1111.1111.1111", "card"),
    ("ORD4111111111111111", "card"),  # glued to an id
    ("DE89 3704 0044 0532 0130 00", "iban"),
    ("GB82WEST12345698765432", "iban"),
    ("203.0.113.77:51234", "ip"),  # X-Forwarded-For with a port
    ("::ffff:203.0.113.77", "ip"),
    ("josé.garcía@correo.es", "email"),
    ("用户@例子.中国", "email"),
    ("anna@xn--mller-kva.de", "email"),
]


@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_of_many_countries(phone: str) -> None:
    out = redactor.text(f"contact: {phone} today")
    number = phone.removeprefix("call ")
    assert number not in out and "[REDACTED:phone]" in out, out


@pytest.mark.parametrize(("value", "kind"), OTHER_FORMATS)
def test_cards_ibans_addresses_and_emails_in_other_formats(value: str, kind: str) -> None:
    out = redactor.text(f"value {value} end")
    assert f"[REDACTED:{kind}]" in out and value not in out, out


def test_an_ssn_without_dashes_where_the_key_says_ssn() -> None:
    assert redactor.value("customer.ssn", "078051120") == "[REDACTED:secret]"


# 5. URLs inside free text: the real libraries' own error messages ------------------------


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def not_found() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


QUERY = urllib.parse.urlencode({"email": EMAIL, "api_key": API_KEY})


def _requests_http_error(base: str) -> None:
    url = f"{base}/users/{urllib.parse.quote(EMAIL)}?{QUERY}"
    requests.get(url, timeout=2).raise_for_status()


def _requests_connection_error(base: str) -> None:
    requests.get(f"http://127.0.0.1:{unused_port()}/users/{EMAIL}?{QUERY}", timeout=2)


def _urllib3_max_retry(base: str) -> None:
    pool = urllib3.PoolManager(retries=urllib3.Retry(0))
    pool.request("GET", f"http://127.0.0.1:{unused_port()}/u/{urllib.parse.quote(EMAIL)}?{QUERY}")


def _botocore_endpoint_error(base: str) -> None:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{unused_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1),
    )
    client.get_object(Bucket="receipts", Key=f"users/{EMAIL}/receipt.pdf")


@pytest.mark.parametrize(
    "failing",
    [
        _requests_http_error,
        _requests_connection_error,
        _urllib3_max_retry,
        _botocore_endpoint_error,
    ],
)
def test_the_ordinary_failure_paths_of_http_clients_leak_nothing(
    failing: Any, not_found: str
) -> None:
    def handler(event: Any, context: Any) -> None:
        failing(not_found)

    with XRayCapture(environ={"OTEL_XRAY_STRICT": "false"}) as capture:
        result = capture.invoke(handler, {})
        sent = captured_bytes(capture)
    assert result.error is not None  # the handler's own error is its own
    assert leaked(sent, EMAIL, API_KEY) == []


GH_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("callback https://app.example.com/cb?code=SplxlOBeZQQYbYS6&state=xyz", "SplxlOBeZQQYbYS6"),
        ("redirect to /login?next_url=https%3A%2F%2Fapp.example.com%2Fu%2Fzoe", "%2Fu%2Fzoe"),
        ("see https://app.example.com/#access_token=ya29.a0AfH6SMB&token_type=x", "ya29.a0AfH6SMB"),
        (f"clone https://{GH_TOKEN}@github.com/o/r.git", GH_TOKEN),
        ("failed: api_key=k-9f8e7d6c5b4a3f2e&page=2", API_KEY),
        ('{"password": "hunter2-pw", "user": "u-1"}', "hunter2-pw"),
        ("Authorization: Token 9f1e2d3c4b5a6978", "9f1e2d3c4b5a6978"),
    ],
)
def test_urls_and_credentials_inside_free_text(text: str, gone: str) -> None:
    assert gone not in redactor.text(text)


def test_captured_referer_and_location_headers_are_urls() -> None:
    referer = redactor.value(
        "http.request.header.referer", [f"https://shop.example.com/account?email={EMAIL}"]
    )
    location = redactor.value("http.response.header.location", f"https://x.example/u/{EMAIL}")
    assert EMAIL not in json.dumps([referer, location])


def test_the_peer_of_a_server_span_is_the_client() -> None:
    """Old conventions: on a SERVER span ``net.peer.ip`` is the client's address."""
    client = {"net.peer.ip": "203.0.113.77"}
    as_server = dict(redactor.attributes(client, server_span=True) or {})
    assert as_server["net.peer.ip"] == "[REDACTED:ip]"
    assert dict(redactor.attributes(client) or {})["net.peer.ip"] == "203.0.113.77"  # a server


# 7. Statements keep no values -------------------------------------------------------------


def test_statements_in_every_dialect_lose_their_values() -> None:
    mysql = redactor.attributes(
        {"db.system": "mariadb", "db.statement": f'SELECT * FROM u WHERE email = "{EMAIL}"'}
    )
    mongo = redactor.attributes(
        {
            "db.system": "mongodb",
            "db.statement": json.dumps({"find": "users", "filter": {"email": EMAIL}}),
        }
    )
    connection = redactor.value(
        "db.connection_string", "Server=db.internal;Database=app;Uid=app;Pwd=Sup3r-S3cret;"
    )
    jdbc = redactor.value(
        "db.connection_string", "jdbc:mysql://db.internal/app?user=app&password=Sup3r-S3cret"
    )
    sent = json.dumps([dict(mysql or {}), dict(mongo or {}), connection, jdbc])
    assert EMAIL not in sent and "Sup3r-S3cret" not in sent
    assert '"find":"users"' in dict(mongo or {})["db.statement"]


# 8. Route parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "path", "expected"),
    [
        ("/reset-password/{token}", "/reset-password/abc123def456", "/reset-password/{token}"),
        ("/users/{phone}", "/users/4155552671", "/users/{phone}"),
        ("GET /users/{email}/orders", "/users/anything-here/orders", "/users/{email}/orders"),
        ("/orders/{order_id}", "/orders/o-1234", "/orders/o-1234"),
    ],
)
def test_route_parameters_with_personal_names_are_hidden(
    route: str, path: str, expected: str
) -> None:
    redacted = redactor.attributes({"http.route": route, "url.path": path})
    assert dict(redacted or {})["url.path"] == expected


# Keep-cases: not personal, and left exactly as they are -----------------------------------

KEEP = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
    "request 8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    "c0a8f5d1-4111-4111-9111-411111111111",
    "aws_request_id 51234567-8901-4234-8567-890123456789",
    "version 1.45.1",
    "v10.0.19041.1",
    "build 4.2.0.1",
    "order o-20261125-0042",
    "order 2026112500",
    "cursor AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
    "arn:aws:lambda:us-east-1:123456789012:function:order-api",
    "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
    "2026-11-25T09:41:07.123Z",
    "sent at 1732500000000",
    "ean 4006381333931",
    "server 10.0.12.7 and 172.16.4.2:5432 and 192.168.1.10",
    "date 01-11-2026",
]


@pytest.mark.parametrize("text", KEEP)
def test_keep_cases_come_through_unchanged(text: str) -> None:
    assert redactor.text(text) == text
    assert redactor.value("some.unrecognised.key", text) == text
