"""Issue 32, class by class: the shapes that still got through, and the data that was lost.

Each case runs ordinary handler code through ``XRayCapture`` (the real SDK and its
instrumentations, the redacting processor, the translator) and searches what both
exporters would send (the X-Ray documents and the OTLP protobuf body, see
``captured_bytes``), each needle plain, percent-encoded once and twice, JSON-escaped,
and as digits only (``leaked``, from the round-2 tests). Where a library is involved,
its own call or its own error makes the value: moto's STS, pydantic, botocore's
parameter validation, jsonschema, marshmallow, Django.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import marshmallow
import pydantic
import pytest
import requests
from django import forms
from django.conf import settings as django_settings
from django.db import models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from opentelemetry import trace
from opentelemetry.trace import SpanKind

import otel_xray
from otel_xray.pii import Redactor
from otel_xray.pii.detectors import gs1_valid, luhn_valid
from otel_xray.settings import PiiSettings
from otel_xray.testing import XRayCapture
from tests.functional.test_pii_classes import captured_bytes, leaked

if not django_settings.configured:  # Django's messages need its settings, any will do
    django_settings.configure(USE_I18N=False)

redactor = Redactor(PiiSettings())
LENIENT = {"OTEL_XRAY_STRICT": "false"}


def run(handler: Any, event: Any = None) -> tuple[Any, bytes]:
    """One invocation; what both exporters would send."""
    with XRayCapture(environ=LENIENT) as capture:
        result = capture.invoke(handler, event if event is not None else {})
        return result, captured_bytes(capture)


# 1. Credential structures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sts_responses() -> dict[str, dict[str, Any]]:
    """The dicts boto3 returns for ``assume_role`` and ``get_session_token`` (moto's STS
    in process: the response shape is botocore's own parse of STS's XML)."""
    with mock_aws():
        sts = boto3.client(
            "sts",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assumed = sts.assume_role(
            RoleArn="arn:aws:iam::123456789012:role/orders", RoleSessionName="orders-fn"
        )
        session = sts.get_session_token(DurationSeconds=900)
    return {"assume_role": assumed, "get_session_token": session}


@pytest.mark.parametrize("call", ["assume_role", "get_session_token"])
def test_sts_credentials_leave_nothing_in_metadata_or_attributes(
    call: str, sts_responses: dict[str, dict[str, Any]]
) -> None:
    response = sts_responses[call]
    credentials = response["Credentials"]
    secret, token = credentials["SecretAccessKey"], credentials["SessionToken"]
    assert isinstance(credentials["Expiration"], datetime.datetime)  # a real response

    def handler(event: Any, context: Any) -> None:
        otel_xray.metadata("sts", response=response, credentials=credentials)
        span = trace.get_current_span()
        span.set_attribute("sts.credentials", {k: str(v) for k, v in credentials.items()})
        span.set_attribute("sts.repr", str(credentials))  # a log line of the dict
        span.set_attribute("sts.json", json.dumps(credentials, default=str))
        # botocore's frozen credentials (access_key, secret_key, token): a bare tuple.
        span.set_attribute("botocore.frozen", [credentials["AccessKeyId"], secret, token])
        # The same values under names no rule knows: their shape next to the key id.
        renamed = {"id": credentials["AccessKeyId"], "k": secret, "t": token}
        otel_xray.metadata("renamed", creds=renamed)
        span.set_attribute("renamed", renamed)

    result, sent = run(handler)
    assert result.error is None
    assert leaked(sent, secret, token, token[:60], secret[:30]) == []
    assert b"AssumedRoleUser" in sent or call == "get_session_token"  # the rest is kept


SECRET_WORDS = [["secret", "access", "key"], ["client", "secret", "value"]]
SECRET_WORDS += [["refresh", "token", "expiry"], ["api", "key"], ["session", "token"]]
SECRET_WORDS += [["db", "password", "hash"], ["x", "auth", "token"], ["private", "key", "pem"]]
BENIGN_WORDS = [["idempotency", "key"], ["partition", "key"], ["sort", "key"], ["cache", "key"]]
BENIGN_WORDS += [["primary", "key"], ["token", "type"], ["expires", "in"], ["tokens", "used"]]
BENIGN_WORDS += [["max", "tokens"], ["secret", "id"], ["signature", "version"]]


def spell(words: list[str], style: str) -> str:
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if style == "pascal":
        return "".join(w.capitalize() for w in words)
    if style == "upper_snake":
        return "_".join(words).upper()
    return {"snake": "_", "kebab": "-", "dotted": "."}[style].join(words)


#: Dotted keys are namespaces (``aws.secretsmanager.secret.arn``): their last part decides.
styles = st.sampled_from(["camel", "pascal", "snake", "kebab", "upper_snake"])


@settings(max_examples=200, deadline=None)
@given(
    words=st.sampled_from(SECRET_WORDS), style=styles, prefix=st.sampled_from(["", "aws.", "app."])
)
def test_a_key_is_secret_by_any_of_its_words_in_any_casing(
    words: list[str], style: str, prefix: str
) -> None:
    key = prefix + spell(words, style)
    assert redactor.value(key, "plain looking value") == "[REDACTED:secret]", key


@settings(max_examples=200, deadline=None)
@given(words=st.sampled_from(BENIGN_WORDS), style=styles)
def test_benign_compounds_keep_their_values(words: list[str], style: str) -> None:
    key = spell(words, style)
    assert redactor.value(key, "orders-2026-11") == "orders-2026-11", key


def test_aws_secret_keys_and_session_tokens_by_shape_next_to_an_access_key_id() -> None:
    """A 40-character key without / or + and a session token, next to a key id only."""
    secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY1"  # no / or +: shape alone
    token = "IQoJb3JpZ2luX2VjEJr" + "A1b2C3d4E5f6" * 20
    text = f"using ASIAIOSFODNN7EXAMPLE {secret} {token}"
    out = redactor.text(text)
    assert secret not in out and token[:40] not in out, out
    alone = f"cursor {secret}"
    assert redactor.text(alone) == alone  # a cursor, with no key id or secret word near


# 2. Phone numbers where the key says phone -----------------------------------------------

nanp = st.from_regex(r"1?[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)
PHONE_KEYS = ["phone", "mobile", "tel", "msisdn", "sms_to", "contact_number", "customerPhone"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(number=nanp, key=st.sampled_from(PHONE_KEYS), as_int=st.booleans())
def test_a_bare_nanp_number_under_a_phone_key_in_every_place(
    number: str, key: str, as_int: bool
) -> None:
    value: Any = int(number) if as_int else number

    def handler(event: Any, context: Any) -> None:
        trace.get_current_span().set_attribute(key, value)
        otel_xray.metadata("customer", profile={key: value, "plan": "gold"})
        otel_xray.annotate(key.replace("-", "_"), value)
        with otel_xray.subsegment("notify", kind="compute", **{key: value}) as sub:
            sub.set(**{f"{key}_backup": value})

    result, sent = run(handler)
    assert result.error is None
    assert leaked(sent, number) == []
    assert b"gold" in sent


PHONE_WORDS = ["SMS to", "phone", "call me at", "Telefon:", "Handynummer", "téléphone",
               "portable", "teléfono", "celular", "telefone", "mobile no.", "WhatsApp"]  # fmt: skip
national = st.one_of(nanp, st.from_regex(r"0[1-9][0-9]{8,9}", fullmatch=True))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(word=st.sampled_from(PHONE_WORDS), number=national)
def test_a_bare_number_right_after_a_phone_word_in_a_span_status(word: str, number: str) -> None:
    def handler(event: Any, context: Any) -> None:
        span = trace.get_current_span()
        span.set_status(trace.StatusCode.ERROR, f"{word} {number} failed")
        span.add_event("retry", {"detail": f"{word} {number} failed"})

    _, sent = run(handler)
    assert leaked(sent, number) == []


def test_numbers_without_a_phone_word_or_key_are_kept() -> None:
    assert redactor.value("order_id", 4155552671) == 4155552671
    assert redactor.text("order 4155552671 shipped") == "order 4155552671 shipped"
    assert redactor.value("customer.phone_verified", True) is True


# 3. Values libraries echo in their errors -----------------------------------------------

NAME, NUMBER = "Zoe Mueller", "4155552671"


def _pydantic() -> None:
    class Signup(pydantic.BaseModel):
        age: int
        phone: pydantic.constr(pattern=r"^\+")  # type: ignore[valid-type]

    Signup(age=NAME, phone=NUMBER)  # type: ignore[arg-type]


def _pydantic_json() -> None:
    class Signup(pydantic.BaseModel):
        age: int

    Signup.model_validate_json(json.dumps({"age": f"{NAME} {NUMBER}"}))


def _botocore() -> None:
    sns = boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    )
    sns.publish(PhoneNumber=int(NUMBER), Message=NAME)  # type: ignore[arg-type]


def _botocore_nested() -> None:
    dynamodb = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="t"
    )
    dynamodb.put_item(TableName="users", Item={"name": NAME, "phone": {"N": int(NUMBER)}})  # type: ignore[dict-item]


def _jsonschema_type() -> None:
    jsonschema.validate(
        {"name": NAME, "phone": NUMBER}, {"properties": {"name": {"type": "integer"}}}
    )


def _jsonschema_not() -> None:
    schema = {"properties": {"phone": {"not": {"pattern": "^[0-9]+$"}}}}
    jsonschema.validate({"phone": NUMBER, "name": NAME}, schema)


def _jsonschema_any_of() -> None:
    schema = {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}
    jsonschema.validate({"name": NAME, "phone": NUMBER}, schema)


def _jsonschema_enum() -> None:
    jsonschema.validate(f"{NAME} {NUMBER}", {"enum": ["a", "b"]})


def _marshmallow_unknown() -> None:
    class Contact(marshmallow.Schema):
        kind = marshmallow.fields.String()

    Contact().load({NAME: NUMBER, NUMBER: 1})


def _marshmallow_nested_unknown() -> None:
    class Address(marshmallow.Schema):
        city = marshmallow.fields.String()

    class Contact(marshmallow.Schema):
        address = marshmallow.fields.Nested(Address)

    Contact().load({"address": {"city": "Berlin", f"{NAME} {NUMBER}": True}})


def _django_model_field() -> None:
    models.IntegerField().to_python(f"{NAME} {NUMBER}")


def _django_uuid() -> None:
    models.UUIDField().to_python(f"{NAME} {NUMBER}")


def _django_choice() -> None:
    forms.ChoiceField(choices=[("a", "A")]).clean(f"{NAME} {NUMBER}")


def _django_model_choice() -> None:
    field = models.CharField(choices=[("a", "A")], max_length=40)
    field.validate(f"{NAME} {NUMBER}", None)


LIBRARY_ERRORS = [
    _pydantic,
    _pydantic_json,
    _botocore,
    _botocore_nested,
    _jsonschema_type,
    _jsonschema_not,
    _jsonschema_any_of,
    _jsonschema_enum,
    _marshmallow_unknown,
    _marshmallow_nested_unknown,
    _django_model_field,
    _django_uuid,
    _django_choice,
    _django_model_choice,
]


@pytest.mark.parametrize("failing", LIBRARY_ERRORS, ids=lambda f: f.__name__.lstrip("_"))
def test_a_library_error_echoing_the_input_leaves_nothing(failing: Any) -> None:
    try:
        failing()
    except Exception as error:
        message = str(error)
    else:
        pytest.fail("the library raised nothing")
    assert NAME in message or NUMBER in message, message  # the library does echo it

    def handler(event: Any, context: Any) -> None:
        try:
            failing()
        except Exception as error:
            span = trace.get_current_span()
            span.set_attribute("error.detail", str(error))
            otel_xray.metadata("validation", error=str(error))
            raise

    result, sent = run(handler)
    assert result.error is not None
    assert leaked(sent, NAME, NUMBER) == [], message
    assert type(result.error).__name__.encode() in sent


#: Generated inputs: quotes, backslashes, commas, brackets and new lines that the
#: libraries' reprs escape or keep; "zq" marks every part of the value.
echoed_inputs = st.from_regex(r"zq[A-Za-z0-9 .,@'\"\\\[\]{}:=\n-]{4,40}", fullmatch=True)


def _raise_each(value: str) -> list[str]:
    """The messages of each library's own error for ``value``."""
    messages = []

    class Signup(pydantic.BaseModel):
        age: int

    raisers = [
        lambda: Signup(age=value),  # type: ignore[arg-type]
        lambda: Signup.model_validate_json(json.dumps({"age": value})),
        lambda: jsonschema.validate({"age": value}, {"properties": {"age": {"type": "integer"}}}),
        lambda: jsonschema.validate(value, {"enum": ["a", "b"]}),
        lambda: models.IntegerField().to_python(value),
        lambda: forms.ChoiceField(choices=[("a", "A")]).clean(value),
        lambda: boto3.client(
            "sns", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        ).publish(PhoneNumber=[value], Message="m"),  # type: ignore[arg-type]
    ]
    for raiser in raisers:
        try:
            raiser()
        except Exception as error:
            messages.append(str(error))
    return messages


@settings(max_examples=40, deadline=None)
@given(value=echoed_inputs)
def test_generated_inputs_echoed_by_each_library_are_replaced(value: str) -> None:
    messages = _raise_each(value)
    assert len(messages) == 7
    for message in messages:
        assert "zq" in message  # the library does echo it
        out = redactor.text(message)
        assert "zq" not in out, (message, out)


def test_pydantic_errors_as_data_leave_nothing() -> None:
    """``errors()`` (FastAPI's and Powertools' 422 bodies) and ``json()``: the input key."""
    try:
        _pydantic()
    except pydantic.ValidationError as raised:
        error = raised
    as_data, as_json = error.errors(), error.json()
    assert any(item["input"] == NAME for item in as_data)

    def handler(event: Any, context: Any) -> dict[str, Any]:
        otel_xray.metadata("validation", errors=as_data)
        trace.get_current_span().set_attribute("validation.errors", as_json)
        return {"statusCode": 422, "body": json.dumps({"detail": as_data}, default=str)}

    with XRayCapture(environ={**LENIENT, "OTEL_XRAY_CAPTURE_RESPONSE": "true"}) as capture:
        result = capture.invoke(handler, {})
        sent = captured_bytes(capture)
    assert result.error is None
    assert leaked(sent, NAME, NUMBER) == []
    assert b"int_parsing" in sent


# 4. Personal data in outgoing paths, S3 keys and file paths ----------------------------


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def ok_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(number=nanp, shape=st.sampled_from(["/v1/users/{}/sms", "/sms/{}", "/phone/{}/verify"]))
def test_a_phone_in_an_outgoing_url_path(ok_server: str, number: str, shape: str) -> None:
    def handler(event: Any, context: Any) -> None:
        requests.get(ok_server + shape.format(number), timeout=2)

    result, sent = run(handler)
    assert result.error is None
    assert leaked(sent, number) == []
    assert b"{phone}" in sent


def test_an_email_or_phone_in_an_s3_object_key(tmp_path: Path) -> None:
    keys = ["users/zoe.mueller@example.de/receipt.pdf", "sms/4155552671/log.json"]

    def handler(event: Any, context: Any) -> None:
        s3 = boto3.client(
            "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
        s3.create_bucket(Bucket="receipts")
        for key in keys:
            s3.put_object(Bucket="receipts", Key=key, Body=b"{}")

    with mock_aws():
        result, sent = run(handler)
    assert result.error is None
    assert leaked(sent, "zoe.mueller@example.de", "4155552671") == []
    assert b"receipt.pdf" in sent  # the key keeps its shape


segment_words = st.from_regex(r"[a-z][a-z0-9_-]{0,11}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(segment_words, max_size=3),
    after=st.lists(segment_words, max_size=2),
    phone_word=st.sampled_from(["sms", "phone", "mobile", "whatsapp", "telefon", "calls"]),
    number=st.one_of(nanp, st.from_regex(r"0[1-9][0-9]{8,9}", fullmatch=True)),
    extension=st.sampled_from(["", ".json", ".wav", ".txt"]),
    key=st.sampled_from(["aws.s3.key", "file.path", "url.path", "url.full"]),
)
def test_generated_paths_with_a_phone_word_hide_the_number(
    before: list[str],
    after: list[str],
    phone_word: str,
    number: str,
    extension: str,
    key: str,
) -> None:
    path = "/".join([*before, phone_word, number + extension, *after])
    value = f"https://api.example.com/{path}" if key == "url.full" else path
    out = redactor.value(key, value)
    assert number not in out and "{phone}" in out, out
    assert all(part in out for part in before), out  # the rest of the path is kept


def test_a_phone_in_a_file_path_of_the_subsegment_api(tmp_path: Path) -> None:
    path = tmp_path / "sms" / "07700900123.json"

    def handler(event: Any, context: Any) -> None:
        with otel_xray.subsegment("save", kind="file", path=str(path), operation="write") as sub:
            path.parent.mkdir()
            sub.set_bytes(path.write_text("{}"))

    result, sent = run(handler)
    assert result.error is None
    assert leaked(sent, "07700900123") == []
    assert b"{phone}" in sent


# 5. Four-part build versions -------------------------------------------------------------

quads = (
    st.tuples(*[st.integers(1, 254)] * 4)
    .map(lambda q: ".".join(map(str, q)))
    .filter(lambda q: not q.startswith(("10.", "127.", "169.254.", "192.168.", "172.")))
)


@settings(max_examples=100, deadline=None)
@given(version=quads, where=st.sampled_from(["app.version", "build", "note", "service.version"]))
def test_a_dotted_quad_that_nothing_calls_an_address_is_kept(version: str, where: str) -> None:
    assert redactor.value(where, version) == version
    assert redactor.text(f"deployed {version} to prod") == f"deployed {version} to prod"


@settings(max_examples=100, deadline=None)
@given(
    address=quads,
    text=st.sampled_from(
        [
            "client {}",
            "host: {}",
            "peer {} refused",
            "ip={}",
            "X-Forwarded-For: {}",
            "remote address {}",
            "{}:443",
            'sourceIp": "{}',
        ]
    ),
)
def test_a_dotted_quad_the_text_calls_an_address_or_with_a_port_is_redacted(
    address: str, text: str
) -> None:
    assert address not in redactor.text(text.format(address))


@pytest.mark.parametrize("key", ["client.address", "http.client_ip", "sourceIp", "remote_addr"])
def test_a_dotted_quad_under_an_address_key_is_redacted(key: str) -> None:
    assert redactor.value(key, "4.2.0.1") == "[REDACTED:ip]"
    assert redactor.value("http.request.header.x-forwarded-for", ["4.2.0.1"]) == ["[REDACTED:ip]"]


# 6. GTIN/EAN-13 barcodes -----------------------------------------------------------------


def _ean13(body: str) -> str:
    for check in "0123456789":
        if gs1_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


barcodes = st.from_regex(r"[0-9]{12}", fullmatch=True).map(_ean13).filter(luhn_valid)


@settings(max_examples=150, deadline=None)
@given(code=barcodes, before=st.sampled_from(["", "item ", "sku=", "scanned ", "product "]))
def test_an_ean13_that_passes_luhn_is_kept(code: str, before: str) -> None:
    assert redactor.text(f"{before}{code} in stock") == f"{before}{code} in stock"


@settings(max_examples=60, deadline=None)
@given(code=barcodes.filter(lambda c: c[0] != "0"), word=st.sampled_from(["card", "Visa", "PAN:"]))
def test_a_13_digit_number_with_a_card_context_is_a_card(code: str, word: str) -> None:
    assert code not in redactor.text(f"{word} {code} declined")
    assert redactor.value("card_number", code) == "[REDACTED:card]"


# 7. A client span's peer is the server -----------------------------------------------------


@pytest.mark.parametrize("address", ["10.0.3.8", "52.94.133.131", "4.2.0.1"])
def test_a_client_spans_peer_address_is_kept(address: str) -> None:
    peer = {
        "server.address": address,
        "network.peer.address": address,
        "net.peer.ip": address,
        "peer.ip": address,
        "upstream.address": address,
        "url.full": f"http://{address}:8080/v1/health",
    }

    def handler(event: Any, context: Any) -> None:
        tracer = trace.get_tracer("orders")
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes=peer):
            pass

    result, sent = run(handler)
    assert result.error is None
    [client] = [d for d in result.documents if "/v1/health" in json.dumps(d)]
    assert client["http"]["request"]["url"] == peer["url.full"]
    assert json.dumps(client).count(address) >= 2  # the URL, the metadata of the peer
    assert sent.count(address.encode()) >= len(peer) + 2  # OTLP: every one; X-Ray: some
    on_server = dict(redactor.attributes(peer, server_span=True) or {})
    on_client = dict(redactor.attributes(peer) or {})
    assert on_client == peer
    if address != "10.0.3.8":  # on a SERVER span the peer is the client: a person
        assert on_server["network.peer.address"] == "[REDACTED:ip]"
        assert on_server["peer.ip"] == "[REDACTED:ip]"
