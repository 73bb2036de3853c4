"""X-Ray resources and CloudFormation: sampling rules out, X-Ray groups in.

:func:`xray_groups` reads the ``AWS::XRay::Group`` resources of a SAM or CloudFormation
template (YAML with the short ``!Sub`` / ``!Ref`` tags, or JSON), with ``${Name}``
resolved from parameter defaults or the values given, for the console's group presets.

X-Ray local sampling rules as ``AWS::XRay::SamplingRule`` resources.

The same rules a function uses locally (``collector/sampling-rules.json``) become
centralized rules in the account, so both agree. File order becomes priority
order (1000, 1010, ...). The ``default`` rule has no resource: X-Ray's own
``Default`` rule (1 request a second, then 5%) plays it and CloudFormation cannot
manage it.

    python -m otel_xray.devtools.sam.cloudformation collector/sampling-rules.json \
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

import yaml  # type: ignore[import-untyped]

from otel_xray.sampling.rules import LocalRules


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short tags (``!Sub x`` -> ``{"Fn::Sub": x}``)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: Any) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _tag)


def read_template(path: str | Path) -> Any:
    """A CloudFormation or SAM template (YAML or JSON), short tags as their long forms."""
    return yaml.load(Path(path).read_text(), Loader=_TemplateLoader)


def xray_groups(
    path: str | Path, parameters: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    r"""Group name -> filter expression, and what could not be resolved (as messages).

    Example:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        ...     _ = f.write('Parameters: {P: {Default: orders}}\nResources:\n'
        ...                 '  G: {Type: AWS::XRay::Group, Properties:'
        ...                 ' {GroupName: !Sub "${P}-faults", FilterExpression: fault}}\n')
        >>> xray_groups(f.name)
        ({'orders-faults': 'fault'}, [])
        >>> os.unlink(f.name)
    """
    document = read_template(path)
    values = {
        name: str(spec["Default"])
        for name, spec in (document.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }
    values.update(parameters or {})
    groups: dict[str, str] = {}
    problems: list[str] = []
    for logical, resource in (document.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::XRay::Group":
            continue
        properties = resource.get("Properties") or {}
        try:
            name = _resolve(properties.get("GroupName", logical), values)
            groups[name] = _resolve(properties.get("FilterExpression", ""), values)
        except KeyError as missing:
            problems.append(
                f"group {logical}: parameter {missing.args[0]} has no default; "
                f"give it as --param {missing.args[0]}=VALUE"
            )
    return groups, problems


def _resolve(value: Any, values: dict[str, str]) -> str:
    """A string, ``Fn::Sub`` (string or [string, map]) or ``Ref``, as text."""
    if isinstance(value, dict) and "Ref" in value:
        return values[str(value["Ref"])]
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
        local: dict[str, str] = {}
        if isinstance(value, list):
            value, local = value[0], {k: str(v) for k, v in value[1].items()}
        names = {**values, **local}
        return re.sub(r"\$\{([^}!]+)\}", lambda m: names[m.group(1)], str(value))
    return str(value)


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
        print("usage: python -m otel_xray.devtools.sam.cloudformation RULES.json", file=sys.stderr)
        return 2
    template = sampling_rules_template(json.loads(Path(args[0]).read_text()))
    print(json.dumps(template, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
