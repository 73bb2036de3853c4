"""A tenant-isolated function's ``context.tenant_id`` as a searchable annotation.

Source: awslambdaric 4.2.2 ``lambda_runtime_client.wait_next_invocation`` reads the
``Lambda-Runtime-Aws-Tenant-Id`` header into ``context.tenant_id``
(``lambda_context.LambdaContext``); the Lambda guide's tenant-isolation page names the
invoke's ``TenantId``. The annotation is ``TenantId``; ``OTEL_XRAY_TENANT_ID`` and the
PII settings decide what is written (a tenant id can name a customer).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import otel_xray
from otel_xray import configurator
from otel_xray.settings import Settings
from otel_xray.testing import LAMBDA_ENV, InMemoryExporter, LambdaContext
from otel_xray.xray import ANNOTATIONS_ATTRIBUTE
from otel_xray.xray.segment import span_to_document
from tests.conftest import PARENT, ROOT

KEY = "k" * 32


@pytest.fixture(autouse=True)
def invocation_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={ROOT};Parent={PARENT};Sampled=1")
    configurator.reset()
    yield
    configurator.reset()


def annotations(env: dict[str, str], tenant: str | None) -> dict[str, object]:
    exporter = InMemoryExporter()
    configurator.configure(environ={**LAMBDA_ENV, **env}, exporter=exporter, instrument=False)
    otel_xray.lambda_handler(lambda event, context: "ok")({}, LambdaContext(tenant_id=tenant))
    (span,) = exporter.spans
    document = span_to_document(span)
    assert set(document.get("annotations", {})) >= set(span.attributes[ANNOTATIONS_ATTRIBUTE])
    return dict(document.get("annotations", {}))


def test_kept_by_default_and_absent_without_a_tenant() -> None:
    assert annotations({}, "tenant-a")["TenantId"] == "tenant-a"
    configurator.reset()
    assert "TenantId" not in annotations({}, None)


def test_an_email_used_as_tenant_id_is_redacted_like_every_value() -> None:
    assert annotations({}, "zoe@example.de")["TenantId"] == "[REDACTED:email]"


def test_hashed_in_the_pii_hash_mode_with_the_documented_formula() -> None:
    env = {"OTEL_XRAY_PII_MODE": "hash", "OTEL_XRAY_PII_HASH_KEY": KEY}
    value = annotations(env, "acme-corp")["TenantId"]
    expected = hmac.new(KEY.encode(), b"tenant:acme-corp", hashlib.sha256).hexdigest()[:16]
    assert value == f"[tenant:{expected}]"  # docs/reading-traces.md gives this formula


def test_off_records_nothing_and_hash_without_a_key_falls_back_to_off() -> None:
    assert "TenantId" not in annotations({"OTEL_XRAY_TENANT_ID": "off"}, "acme-corp")
    parsed = Settings.from_env({**LAMBDA_ENV, "OTEL_XRAY_TENANT_ID": "hash"})
    assert parsed.tenant_id == "off"
    assert any(e.variable == "OTEL_XRAY_TENANT_ID" for e in parsed.errors)
    wrong = Settings.from_env({**LAMBDA_ENV, "OTEL_XRAY_TENANT_ID": "plain"})
    assert wrong.tenant_id == "keep" and "auto, keep, hash, off" in str(wrong.errors[0])


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=256))
def test_any_tenant_id_never_breaks_the_handler_and_stays_one_annotation(tenant: str) -> None:
    configurator.reset()
    env = {"OTEL_XRAY_PII_MODE": "hash", "OTEL_XRAY_PII_HASH_KEY": KEY}
    value = annotations(env, tenant)["TenantId"]
    assert isinstance(value, str) and value.startswith("[tenant:") and len(value) == 25
