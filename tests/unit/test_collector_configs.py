"""The collector configs use only components and options the ADOT collector builds have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Components of the ADOT Lambda extension's collector, from
# aws-observability/aws-otel-lambda, adot/collector/lambdacomponents/default.go
# (extensions: sigv4auth; receivers: otlp; exporters: awsxray, awsemf, prometheus,
# prometheusremotewrite, logging, otlp, otlphttp; no processors).
ADOT_LAMBDA = {
    "extensions": {"sigv4auth"},
    "receivers": {"otlp"},
    "processors": set(),
    "exporters": {
        "awsxray",
        "awsemf",
        "prometheus",
        "prometheusremotewrite",
        "logging",
        "otlp",
        "otlphttp",
    },
}
# Components of the aws-otel-collector (ECS/EC2) build, from
# aws-observability/aws-otel-collector, pkg/defaultcomponents/defaults.go.
ADOT_SIDECAR = {
    "extensions": {
        "awsproxy",
        "ecs_observer",
        "health_check",
        "pprof",
        "sigv4auth",
        "zpages",
        "memory_ballast",
        "file_storage",
    },
    "receivers": {
        "awsecscontainermetrics",
        "awscontainerinsightreceiver",
        "awsxray",
        "statsd",
        "prometheus",
        "kafka",
        "jaeger",
        "zipkin",
        "otlp",
        "filelog",
    },
    "processors": {
        "groupbytrace",
        "tail_sampling",
        "attributes",
        "resource",
        "probabilistic_sampler",
        "span",
        "filter",
        "metricstransform",
        "resourcedetection",
        "experimental_metricsgeneration",
        "cumulativetodelta",
        "deltatorate",
        "batch",
        "memory_limiter",
        "k8sattributes",
    },
    "exporters": {
        "awsemf",
        "prometheusremotewrite",
        "prometheus",
        "file",
        "kafka",
        "debug",
        "logging",
        "otlp",
        "otlphttp",
        "awsxray",
        "loadbalancing",
        "awscloudwatchlogs",
    },
}
# Options per component. awsproxy: opentelemetry-collector-contrib internal/aws/proxy/cfg.go
# (read for this test); the awsxray exporter: ../shared/reference/xray-facts.md section 4
# plus the AWS session settings it embeds (no_verify_ssl, proxy_address); otlp, batch and
# health_check: their documented settings.
OPTIONS: dict[str, set[str]] = {
    "awsxray@exporters": {
        "region",
        "endpoint",
        "resource_arn",
        "role_arn",
        "indexed_attributes",
        "index_all_attributes",
        "aws_log_groups",
        "local_mode",
        "num_workers",
        "request_timeout_seconds",
        "max_retries",
        "telemetry",
        "no_verify_ssl",
        "proxy_address",
    },
    "otlp@receivers": {"protocols"},
    "awsxray@receivers": {"endpoint", "transport", "proxy_server"},
    "awsproxy@extensions": {
        "endpoint",
        "proxy_address",
        "tls",
        "region",
        "role_arn",
        "aws_endpoint",
        "local_mode",
        "imds_retries",
    },
    "health_check@extensions": {"endpoint", "path", "check_collector_pipeline", "tls"},
    # sigv4authextension v0.143.0 config.go (region, service, assume_role) and the otlphttp
    # exporter v0.143.0 config.go (confighttp.ClientConfig squashed, endpoints, retry, queue),
    # read from the module cache for this test.
    "sigv4auth@extensions": {"region", "service", "assume_role"},
    "otlphttp@exporters": {
        "endpoint",
        "traces_endpoint",
        "compression",
        "auth",
        "headers",
        "timeout",
        "tls",
        "retry_on_failure",
        "sending_queue",
        "encoding",
    },
    "batch@processors": {
        "timeout",
        "send_batch_size",
        "send_batch_max_size",
        "metadata_keys",
        "metadata_cardinality_limit",
    },
}


def components(config: dict[str, Any], kind: str) -> dict[str, Any]:
    return config.get(kind) or {}


@pytest.mark.parametrize(
    ("name", "build", "loopback_only"),
    [
        ("config.yaml", ADOT_LAMBDA, True),
        ("sidecar.yaml", ADOT_SIDECAR, False),
        ("config-otlp.yaml", ADOT_LAMBDA, True),
        ("config-otlp.yaml", ADOT_SIDECAR, False),
    ],
)
def test_a_config_uses_only_what_the_build_has(
    name: str, build: dict[str, set[str]], loopback_only: bool
) -> None:
    config = yaml.safe_load((ROOT / "collector" / name).read_text())
    for kind in ("extensions", "receivers", "processors", "exporters"):
        for component, settings in components(config, kind).items():
            base = component.split("/")[0]
            assert base in build[kind], f"{name}: {kind} {base} is not in this ADOT build"
            known = OPTIONS.get(f"{base}@{kind}")
            if known is not None:
                unknown = set(settings or {}) - known
                assert not unknown, f"{name}: {component} has no option(s) {unknown}"
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in components(config, "extensions")
    for pipeline in service["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in components(config, kind), f"{name}: {component} is not defined"
    endpoints = [
        protocol["endpoint"]
        for protocol in components(config, "receivers")
        .get("otlp", {})
        .get("protocols", {})
        .values()
    ]
    assert endpoints
    if loopback_only:  # inside a Lambda sandbox nothing else should reach it
        assert all(e.startswith(("localhost:", "127.0.0.1:")) for e in endpoints)


def test_the_sidecar_serves_the_daemon_ports_for_udp_export_and_sampling() -> None:
    """UDP 2000 and TCP 2000, each with one owner.

    The awsxray receiver always starts its own X-Ray proxy (receiver/awsxrayreceiver
    factory.go: ``ProxyServer: proxy.DefaultConfig()``, on localhost:2000), so the
    sidecar uses that one on 0.0.0.0:2000 and has no awsproxy extension on the same
    port. ``tests/e2e/test_collector.py`` runs this config in the real collector.
    """
    config = yaml.safe_load((ROOT / "collector" / "sidecar.yaml").read_text())
    assert config["receivers"]["awsxray"] == {
        "endpoint": "0.0.0.0:2000",
        "transport": "udp",
        "proxy_server": {"endpoint": "0.0.0.0:2000"},
    }
    tcp_2000 = [
        name
        for name, settings in (config.get("extensions") or {}).items()
        if str((settings or {}).get("endpoint", "")).endswith(":2000")
    ]
    assert tcp_2000 == []


def test_the_otlp_recipe_is_awss_documented_example() -> None:
    """CloudWatch user guide, CloudWatch-OTLPSimplesetup: otlphttp/traces with gzip, the
    X-Ray endpoint, sigv4auth/traces with service xray, in the pipeline and extensions."""
    config = yaml.safe_load((ROOT / "collector" / "config-otlp.yaml").read_text())
    exporter = config["exporters"]["otlphttp/traces"]
    assert exporter["compression"] == "gzip"
    assert exporter["traces_endpoint"] == "https://xray.${env:AWS_REGION}.amazonaws.com/v1/traces"
    assert exporter["auth"] == {"authenticator": "sigv4auth/traces"}
    assert config["extensions"]["sigv4auth/traces"]["service"] == "xray"
    assert config["service"]["extensions"] == ["sigv4auth/traces"]
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["otlp"],
        "exporters": ["otlphttp/traces"],
    }
