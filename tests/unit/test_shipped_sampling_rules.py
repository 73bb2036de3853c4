"""The shipped rules fit a serverless API, and the CloudFormation copy says the same."""

from __future__ import annotations

import json
from pathlib import Path

from otel_xray.devtools.sam.cloudformation import sampling_rules_template
from otel_xray.sampling.rules import LocalRules

ROOT = Path(__file__).resolve().parents[2]
RULES = json.loads((ROOT / "collector" / "sampling-rules.json").read_text())
REQUIRED = {
    "FixedRate",
    "Host",
    "HTTPMethod",
    "Priority",
    "ReservoirSize",
    "ResourceARN",
    "ServiceName",
    "ServiceType",
    "URLPath",
    "RuleName",
    "Version",
}


def test_health_checks_and_pings_are_never_sampled_and_writes_more_than_reads() -> None:
    rules = LocalRules.parse(RULES)
    for method, path in [
        ("GET", "/health"),
        ("GET", "/healthz"),
        ("POST", "/warmup"),
        ("GET", "/ping"),
    ]:
        rule = rules.match("api.example.com", method, path)
        assert (rule.fixed_target, rule.rate) == (0, 0.0), (method, path)
    read = rules.match("api.example.com", "GET", "/orders/1")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        write = rules.match("api.example.com", method, "/orders/1")
        assert write.fixed_target > read.fixed_target and write.rate > read.rate
    assert (rules.default.fixed_target, rules.default.rate) == (1, 0.05)


def test_the_cloudformation_rules_are_generated_from_the_json_and_complete() -> None:
    committed = json.loads((ROOT / "deploy" / "sampling-rules.template.json").read_text())
    assert committed == sampling_rules_template(RULES), (
        "regenerate: python -m otel_xray.devtools.sam.cloudformation collector/sampling-rules.json "
        "> deploy/sampling-rules.template.json"
    )
    resources = committed["Resources"].values()
    assert len(resources) == len(RULES["rules"])
    priorities = []
    for resource in resources:
        assert resource["Type"] == "AWS::XRay::SamplingRule"
        rule = resource["Properties"]["SamplingRule"]
        assert set(rule) == REQUIRED
        assert 1 <= len(rule["RuleName"]) <= 32 and rule["RuleName"] != "Default"
        priorities.append(rule["Priority"])
    assert priorities == sorted(priorities) and len(set(priorities)) == len(priorities)
