"""X-Ray local sampling rules as ``AWS::XRay::SamplingRule`` resources.

The same rules a function uses locally (``collector/sampling-rules.json``) become
centralized rules in the account, so both agree. File order becomes priority
order (1000, 1010, ...). The ``default`` rule has no resource: X-Ray's own
``Default`` rule (1 request a second, then 5%) plays it and CloudFormation cannot
manage it.

    python -m otel_xray.devtools.cloudformation collector/sampling-rules.json \
        > deploy/sampling-rules.template.json

Example:
    >>> doc = {"version": 2, "default": {"fixed_target": 1, "rate": 0.05}, "rules": [
    ...     {"description": "health checks: never", "host": "*", "http_method": "GET",
    ...      "url_path": "/health*", "fixed_target": 0, "rate": 0}]}
    >>> sorted(sampling_rules_template(doc)["Resources"])
    ['SamplingRuleHealthChecks']
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from otel_xray.sampling.rules import LocalRules


def sampling_rules_template(document: Any, service_name: str = "*") -> dict[str, Any]:
    """A CloudFormation template (JSON form) with one resource per non-default rule."""
    rules = LocalRules.parse(document)  # same validation as at run time
    resources: dict[str, Any] = {}
    for index, rule in enumerate(rules.rules):
        words = re.findall(r"[A-Za-z0-9]+", rule.description.split(":")[0])
        name = "-".join(w.lower() for w in words)[:23] or f"rule-{index + 1}"
        logical = "SamplingRule" + "".join(w.capitalize() for w in words)
        resources[logical] = {
            "Type": "AWS::XRay::SamplingRule",
            "Properties": {
                "SamplingRule": {
                    "RuleName": f"otelxray-{name}",
                    "Priority": 1000 + index * 10,
                    "FixedRate": rule.rate,
                    "ReservoirSize": rule.fixed_target,
                    "ServiceName": service_name,
                    "ServiceType": "*",
                    "Host": rule.host,
                    "HTTPMethod": rule.http_method,
                    "URLPath": rule.url_path,
                    "ResourceARN": "*",
                    "Version": 1,
                }
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "otel-xray sampling rules (generated from collector/sampling-rules.json)",
        "Resources": resources,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m otel_xray.devtools.cloudformation RULES.json", file=sys.stderr)
        return 2
    template = sampling_rules_template(json.loads(Path(args[0]).read_text()))
    print(json.dumps(template, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
