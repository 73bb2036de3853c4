"""Every setting: defaults, valid values, and a clear error plus fallback for bad ones."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.settings import KNOWN_INSTRUMENTATIONS, OtlpSigning, Settings


def test_defaults_outside_lambda() -> None:
    s = Settings.from_env({})
    assert (s.in_lambda, s.exporter, s.sampler, s.flush_timeout_ms) == (
        False,
        "otlp",
        "parentbased_always_on",
        1000,
    )
    assert s.instrumentations == KNOWN_INSTRUMENTATIONS
    assert s.propagators == ("tracecontext", "xray")
    assert s.errors == ()


def test_lambda_is_detected_and_names_the_service() -> None:
    s = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "orders"})
    assert s.in_lambda and s.service_name == "orders"
    assert (
        Settings.from_env(
            {"AWS_LAMBDA_FUNCTION_NAME": "orders", "OTEL_SERVICE_NAME": "api"}
        ).service_name
        == "api"
    )


def test_lambda_sends_to_the_daemon_unless_a_collector_is_attached() -> None:
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "orders"}
    assert Settings.from_env(lambda_env).exporter == "xray-udp"
    with_collector = {**lambda_env, "OPENTELEMETRY_COLLECTOR_CONFIG_URI": "/opt/c.yaml"}
    assert Settings.from_env(with_collector).exporter == "otlp"
    assert Settings.from_env({**lambda_env, "OTEL_TRACES_EXPORTER": "otlp"}).exporter == "otlp"
    assert (
        Settings.from_env({**with_collector, "OTEL_TRACES_EXPORTER": "xray-udp"}).exporter
        == "xray-udp"
    )


def test_otlp_endpoint_precedence() -> None:
    assert Settings.from_env({}).otlp_endpoint == "http://localhost:4318/v1/traces"
    assert (
        Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}).otlp_endpoint
        == "http://c:4318/v1/traces"
    )
    both = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x",
    }
    assert Settings.from_env(both).otlp_endpoint == "http://t/x"


def test_disabled_instrumentations_are_removed() -> None:
    s = Settings.from_env({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests, URLLIB3"})
    assert s.instrumentations == tuple(
        n for n in KNOWN_INSTRUMENTATIONS if n not in ("requests", "urllib3")
    )
    only = Settings.from_env({"OTEL_XRAY_INSTRUMENTATIONS": "requests"})
    assert only.instrumentations == ("requests",)


@pytest.mark.parametrize(
    ("variable", "value", "accepted_fragment", "field", "fallback"),
    [
        ("OTEL_XRAY_FLUSH_TIMEOUT_MS", "soon", "a number from 0", "flush_timeout_ms", 1000),
        ("OTEL_XRAY_FLUSH_TIMEOUT_MS", "-5", "a number from 0", "flush_timeout_ms", 1000),
        ("OTEL_XRAY_MAX_QUEUE_SIZE", "0", "a number from 1", "max_queue_size", 2048),
        ("OTEL_TRACES_EXPORTER", "jaeger", "one of otlp", "exporter", "otlp"),
        (
            "OTEL_TRACES_SAMPLER",
            "sometimes",
            "one of parentbased_always_on",
            "sampler",
            "parentbased_always_on",
        ),
        ("OTEL_TRACES_SAMPLER_ARG", "2", "a number from 0 to 1", "sampler_arg", 1.0),
        (
            "OTEL_PROPAGATORS",
            "tracecontext,b3",
            "comma-separated list of xray",
            "propagators",
            ("tracecontext", "xray"),
        ),
        (
            "OTEL_XRAY_INSTRUMENTATIONS",
            "tornado",
            "comma-separated list of botocore",
            "instrumentations",
            KNOWN_INSTRUMENTATIONS,
        ),
        ("OTEL_SDK_DISABLED", "maybe", "true or false", "sdk_disabled", False),
        ("OTEL_RESOURCE_ATTRIBUTES", "team", "key=value pairs", "resource_attributes", {}),
    ],
)
def test_bad_values_name_the_variable_and_fall_back(
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
    accepted_fragment: str,
    field: str,
    fallback: object,
) -> None:
    with caplog.at_level(logging.ERROR, logger="otel_xray"):
        s = Settings.from_env({variable: value})
    assert getattr(s, field) == fallback
    [error] = s.errors
    assert error.variable == variable
    message = caplog.records[-1].getMessage()
    assert variable in message and repr(value) in message and accepted_fragment in message


def test_resource_attributes_keep_good_pairs() -> None:
    s = Settings.from_env({"OTEL_RESOURCE_ATTRIBUTES": "team=payments,broken,env = prod"})
    assert s.resource_attributes == {"team": "payments", "env": "prod"}
    assert len(s.errors) == 1


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "OTEL_XRAY_FLUSH_TIMEOUT_MS",
                "OTEL_TRACES_EXPORTER",
                "OTEL_PROPAGATORS",
                "OTEL_TRACES_SAMPLER",
                "OTEL_TRACES_SAMPLER_ARG",
                "OTEL_SDK_DISABLED",
                "OTEL_RESOURCE_ATTRIBUTES",
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
                "OTEL_XRAY_MAX_QUEUE_SIZE",
                "OTEL_EXPORTER_OTLP_HEADERS",
            ]
        ),
        st.text(max_size=40),
    )
)
def test_no_environment_makes_parsing_raise(env: dict[str, str]) -> None:
    Settings.from_env(env)


def test_the_hash_key_never_shows_in_a_repr() -> None:
    key = "k3y-" + "x" * 20
    parsed = Settings.from_env({"OTEL_XRAY_PII_MODE": "hash", "OTEL_XRAY_PII_HASH_KEY": key})
    assert parsed.pii.hash_key == key.encode()
    assert key not in repr(parsed) and key not in repr(parsed.pii) and key not in str(parsed)


def test_settings_are_immutable_values() -> None:
    parsed = Settings.from_env({"OTEL_XRAY_FLUSH_TIMEOUT_MS": "250"})
    assert parsed == Settings.from_env({"OTEL_XRAY_FLUSH_TIMEOUT_MS": "250"})
    with pytest.raises(AttributeError):
        parsed.flush_timeout_ms = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Settings().resource_attributes["x"] = "y"  # type: ignore[index]  # the shared default


def test_the_x_ray_sdk_bridge_is_on_unless_turned_off() -> None:
    assert Settings.from_env({}).xray_sdk_bridge is True
    assert Settings.from_env({"OTEL_XRAY_SDK_BRIDGE": "false"}).xray_sdk_bridge is False
    bad = Settings.from_env({"OTEL_XRAY_SDK_BRIDGE": "sometimes"})
    assert bad.xray_sdk_bridge is True
    assert [e.variable for e in bad.errors] == ["OTEL_XRAY_SDK_BRIDGE"]


# OTLP straight to X-Ray ---------------------------------------------------------------


def test_xray_endpoint_is_signed_for_its_region() -> None:
    """ADOT's configurator: ``AWS_TRACES_OTLP_ENDPOINT_PATTERN`` picks the signed exporter
    (aws_opentelemetry_configurator.py, ``_is_aws_otlp_endpoint``); region from the host."""
    s = Settings.from_env(
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.eu-west-3.amazonaws.com/v1/traces"}
    )
    assert s.otlp_signing == OtlpSigning("eu-west-3", "xray")
    china = Settings.from_env(
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.cn-north-1.amazonaws.com.cn/v1/traces"}
    )
    assert china.otlp_signing == OtlpSigning("cn-north-1", "xray")
    assert Settings.from_env({}).otlp_signing is None


def test_a_bearer_key_replaces_signing() -> None:
    s = Settings.from_env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://xray.us-east-1.amazonaws.com/v1/traces",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=Bearer abc",
        }
    )
    assert s.otlp_signing is None and s.otlp_headers == {"Authorization": "Bearer abc"}


def test_credential_provider_signs_any_endpoint_with_aws_region() -> None:
    """ADOT's ``aws_sigv4_session_factory.py``: OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_
    CREDENTIAL_PROVIDER=aws_sigv4; region from AWS_REGION / AWS_DEFAULT_REGION."""
    base = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "aws_sigv4",
    }
    assert Settings.from_env({**base, "AWS_REGION": "us-west-2"}).otlp_signing == OtlpSigning(
        "us-west-2"
    )
    missing = Settings.from_env(base)
    assert missing.otlp_signing is None
    assert "AWS_REGION" in str(missing.errors[0])
    wrong = Settings.from_env(
        {**base, "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": "iam"}
    )
    assert "aws_sigv4" in str(wrong.errors[0])


def test_compression_and_the_udp_otlp_exporter() -> None:
    s = Settings.from_env(
        {"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_TRACES_EXPORTER": "xray-otlp-udp"}
    )
    assert (s.otlp_compression, s.exporter) == ("gzip", "xray-otlp-udp")
    bad = Settings.from_env({"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"})
    assert bad.otlp_compression == "none" and "gzip" in str(bad.errors[0])
