"""Redaction by attribute key, URLs, SQL, hash mode, and the settings that shape it."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.pii.redactor import Redactor
from otel_xray.pii.sql import sanitize_sql
from otel_xray.settings import PiiSettings, Settings

redactor = Redactor(PiiSettings())


@pytest.mark.parametrize(
    "key",
    [
        "authorization",
        "Authorization",
        "http.request.header.authorization",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "http.request.header.x-api-key",
        "X_API_KEY",
        "password",
        "db_password",
        "user.Password",
        "client-secret",
        "accessToken",
        "refresh_token",
        "x-amz-security-token",
        "sessionId",
        "SESSION",
        "private_key",
        "pwd",
    ],
)
def test_a_secret_key_hides_any_value(key: str) -> None:
    assert redactor.value(key, "plain-looking value") == "[REDACTED:secret]"
    assert redactor.value(key, ["a-value", "another"]) == ["[REDACTED:secret]"] * 2


@pytest.mark.parametrize("key", ["order_id", "tokens_used", "aws.request_id", "db.name"])
def test_ordinary_keys_keep_ordinary_values(key: str) -> None:
    assert redactor.value(key, "o-20261125-0042") == "o-20261125-0042"


def test_urls_keep_their_shape() -> None:
    assert (
        redactor.value(
            "url.full",
            "https://admin:hunter2secret@api.example.com/customers/jane.doe%40example.com"
            "/cards/4111111111111111?page=2&email=jane.doe@example.com&sort=asc#frag",
        )
        == "https://admin:[REDACTED:password]@api.example.com/customers/{email}/cards/{card}"
        "?page=2&email=[REDACTED:query]&sort=asc#frag"
    )


def test_presigned_url_parameters_are_always_redacted() -> None:
    allow_all = Redactor(PiiSettings(query_allow=("x-amz-signature", "x-amz-credential")))
    url = (
        "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261125&X-Amz-Signature=abc123"
    )
    out = allow_all.value("url.full", url)
    assert "AKIAIOSFODNN7EXAMPLE" not in out and "abc123" not in out
    assert "X-Amz-Algorithm=[REDACTED:query]" in out  # not allow-listed here


def test_query_and_path_attributes() -> None:
    assert redactor.value("url.query", "email=a@b.co&limit=5") == "email=[REDACTED:query]&limit=5"
    assert redactor.value("url.path", "/users/+14155552671/orders") == "/users/{phone}/orders"
    assert redactor.value("http.route", "/users/{id}") == "/users/{id}"


def test_server_addresses_are_not_personal_but_client_addresses_are() -> None:
    assert redactor.value("server.address", "10.0.3.7") == "10.0.3.7"
    assert redactor.value("client.address", "203.0.113.9") == "[REDACTED:ip]"
    keep = Redactor(PiiSettings(redact_ip_addresses=False))
    assert keep.value("client.address", "203.0.113.9") == "203.0.113.9"


def test_span_names_get_placeholders_not_pseudonyms() -> None:
    hashing = Redactor(PiiSettings(mode="hash", hash_key=b"k" * 32))
    assert hashing.name("GET /users/jane@example.com") == "GET /users/{email}"
    assert hashing.name("notify jane@example.com") == "notify {email}"
    assert redactor.name("DynamoDB.PutItem") == "DynamoDB.PutItem"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "SELECT * FROM customers WHERE email = 'jane@example.com' AND id IN (1, 2, 3)",
            "SELECT * FROM customers WHERE email = ? AND id IN (?, ?, ?)",
        ),
        (
            "UPDATE t SET n = 'O''Brien', v = -3.5e2 WHERE id = 0x1F",
            "UPDATE t SET n = ?, v = ? WHERE id = ?",
        ),
        ("SELECT 1 -- jane@example.com", "SELECT ?"),
        ("SELECT $$4111 1111 1111 1111$$", "SELECT ?"),
        (
            'SELECT * FROM "orders" WHERE "order_id" = ?',
            'SELECT * FROM "orders" WHERE "order_id" = ?',
        ),
        (
            "INSERT INTO \"orders\" VALUE {'order_id': 'o-1', 'email': 'jane@example.com'}",
            "INSERT INTO \"orders\" VALUE {'order_id': ?, 'email': ?}",
        ),
        ("SELECT '2026-11-25'::date", "SELECT ?::date"),
    ],
)
def test_sql_literals_become_placeholders(statement: str, expected: str) -> None:
    assert sanitize_sql(statement) == expected
    assert redactor.value("db.statement", statement) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="'\\\x00"), min_size=1, max_size=40))
def test_no_string_literal_survives(literal: str) -> None:
    statement = f"SELECT * FROM users WHERE name = '{literal}' AND age > 30"
    assert sanitize_sql(statement) == "SELECT * FROM users WHERE name = ? AND age > ?"


def test_hash_mode_is_a_stable_keyed_pseudonym() -> None:
    one = Redactor(PiiSettings(mode="hash", hash_key=b"first-key-0123456789"))
    again = Redactor(PiiSettings(mode="hash", hash_key=b"first-key-0123456789"))
    other = Redactor(PiiSettings(mode="hash", hash_key=b"other-key-0123456789"))
    text = "user Jane.Doe@Example.com paid"
    pseudonym = one.text(text)
    assert pseudonym.startswith("user [email:") and "Jane" not in pseudonym
    assert again.text(text) == pseudonym
    assert one.text("user jane.doe@example.com paid") == pseudonym  # same person
    assert other.text(text) != pseudonym
    assert one.text("user john@example.com paid") != pseudonym
    # Numbers are one person whatever the separators.
    assert one.text("card 4111 1111 1111 1111") == one.text("card 4111-1111-1111-1111")


def test_hash_mode_without_a_key_is_an_error_and_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="otel_xray"):
        s = Settings.from_env({"OTEL_XRAY_PII_MODE": "hash", "OTEL_XRAY_PII_HASH_KEY": "short"})
    assert s.pii.mode == "placeholder" and s.pii.enabled
    [error] = [e for e in s.errors if e.variable == "OTEL_XRAY_PII_HASH_KEY"]
    assert "at least 16 characters" in error.accepted
    assert "short" not in caplog.text  # the key is never logged


def test_extra_patterns_keys_and_allow_lists_from_settings() -> None:
    s = Settings.from_env(
        {
            "OTEL_XRAY_PII_PATTERNS": '{"order_ref": "ORD-[0-9]{8}", "bad": "([", "empty": "x*"}',
            "OTEL_XRAY_PII_SECRET_KEYS": "customer-pin,Magic_Word",
            "OTEL_XRAY_PII_ALLOW_KEYS": "enduser.id",
            "OTEL_XRAY_PII_QUERY_ALLOW": "q",
        }
    )
    # Settings check the shape; the PII component decides which patterns can be detectors.
    custom = Redactor(s.pii)
    problems = [e.accepted for e in custom.pattern_errors]
    assert [e.variable for e in custom.pattern_errors] == ["OTEL_XRAY_PII_PATTERNS"] * 2
    assert len(problems) == 2 and "not a valid regular expression" in problems[0]
    assert "matches the empty string" in problems[1]
    assert custom.text("see ORD-12345678 now") == "see [REDACTED:order_ref] now"
    assert custom.text("mail jane@example.com") == "mail [REDACTED:email]"  # defaults stay on
    assert custom.value("customer_pin", "1234") == "[REDACTED:secret]"
    assert custom.value("magicWord", "please") == "[REDACTED:secret]"
    assert custom.value("enduser.id", "jane@example.com") == "jane@example.com"
    assert custom.value("url.query", "q=shoes&page=2") == "q=shoes&page=[REDACTED:query]"


def test_a_malformed_pattern_setting_keeps_the_defaults() -> None:
    s = Settings.from_env({"OTEL_XRAY_PII_PATTERNS": "not json"})
    assert s.pii.extra_patterns == {} and s.pii.enabled
    assert any("JSON object" in e.accepted for e in s.errors)
    assert Redactor(s.pii).text("mail jane@example.com") == "mail [REDACTED:email]"


# Issue 32 (round 3) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("SecretAccessKey", True),
        ("client_secret_value", True),
        ("refreshTokenExpiry", True),
        ("SessionToken", True),
        ("X-Api-Key", True),
        ("signingKey", True),
        ("sessionId", True),
        ("aws.secretsmanager.secret.arn", False),  # an ARN names the secret, holds nothing
        ("SecretId", False),
        ("idempotency-key", False),
        ("partitionKey", False),
        ("SortKey", False),
        ("cache_key", False),
        ("primary-key", False),
        ("token_type", False),
        ("expires_in", False),
        ("tokens_used", False),
        ("RoleSessionName", False),
    ],
)
def test_a_keys_secrecy_by_all_its_words(key: str, secret: bool) -> None:
    redacted = redactor.value(key, "some-value-1") == "[REDACTED:secret]"
    assert redacted is secret, key


def test_s3_keys_and_file_paths_keep_question_marks_and_hashes() -> None:
    assert redactor.value("aws.s3.key", "reports/q3?#draft.csv") == "reports/q3?#draft.csv"
    assert redactor.value("aws.s3.key", "u/bob@example.com/a.pdf") == "u/{email}/a.pdf"
    assert redactor.value("file.path", "/tmp/sms/07700900123.json") == "/tmp/sms/{phone}"
    assert redactor.value("file.path", "/tmp/orders/2026112500.json") == (
        "/tmp/orders/2026112500.json"
    )  # no phone word in the path: an id


@pytest.mark.parametrize("value", [4155552671, "4155552671", "+1 (415) 555-2671", 14155552671])
def test_a_phone_key_hides_a_bare_number(value: object) -> None:
    assert redactor.value("contact.mobile", value) == "[REDACTED:phone]"
    if isinstance(value, int):  # a number under any other key is a count or an id
        assert redactor.value("orders.count", value) == value
