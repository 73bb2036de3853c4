"""The SAM template: cfn-lint clean (and cfn-lint catches breakage), consistent, complete."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
PARAMETERS = {
    "FunctionNamePrefix": "",
    "GroupPrefix": "orders",
    "PaymentHost": "127.0.0.1",
    "SlowCheckoutSeconds": "1",
    "AWS::Region": "us-east-1",
}
#: CloudWatch metrics the dashboard may use, by namespace: metric -> dimension names.
#: Sources: the X-Ray guide, "Monitoring X-Ray with CloudWatch" (groups emit
#: ApproximateTraceCount by GroupName), and the Lambda guide's function metrics.
KNOWN_METRICS = {
    "AWS/X-Ray": {"ApproximateTraceCount": {"GroupName"}},
    "AWS/Lambda": {
        name: {"FunctionName", "Resource"}
        for name in ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions")
    },
}


def template() -> dict[str, Any]:
    decoded, problems = decode(str(TEMPLATE))
    assert not problems and decoded is not None
    return dict(decoded)


def substitute(value: Any, extra: dict[str, str] | None = None) -> str:
    """Resolve a Fn::Sub (string or [string, map]) with the test's parameter values."""
    names = {**PARAMETERS, **(extra or {})}
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
    if isinstance(value, list):
        text, local = value
        names.update({k: f"fn-{k.lower()}" for k in local})
        value = text
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], str(value))


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cfn_lint_passes() -> None:
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("before", "after", "rule"),
    [
        ("Type: AWS::XRay::Group\n", "Type: AWS::XRay::Groups\n", "E3006"),  # no such type
        ("        FixedRate: 0.2\n", "", "E3003"),  # a required property gone
        ("        ReservoirSize: 2\n", '        ReservoirSize: "two"\n', "E3012"),  # wrong type
    ],
)
def test_cfn_lint_fails_on_a_broken_template(
    tmp_path: Path, before: str, after: str, rule: str
) -> None:
    text = TEMPLATE.read_text()
    assert before in text
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(before, after, 1))
    result = cfn_lint(broken)
    assert result.returncode != 0 and rule in result.stdout, result.stdout


def test_the_sampling_rules_are_the_shipped_ones() -> None:
    generated = json.loads((ROOT / "deploy" / "sampling-rules.template.json").read_text())
    resources = template()["Resources"]
    for logical, resource in generated["Resources"].items():
        assert resources[logical] == resource


def test_tracing_is_on_everywhere() -> None:
    parsed = template()
    function_globals = parsed["Globals"]["Function"]
    assert function_globals["Tracing"] == "Active"
    assert (
        function_globals["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"]
        == "/opt/otel-instrument"
    )
    resources = parsed["Resources"]
    assert resources["OrdersApi"]["Properties"]["TracingEnabled"] is True
    layers = [r for r in resources.values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert sorted(r["Properties"]["CompatibleArchitectures"][0] for r in layers) == [
        "arm64",
        "x86_64",
    ]
    # One zip per architecture serves every runtime whose bytecode it carries.
    for layer in layers:
        assert layer["Properties"]["CompatibleRuntimes"] == [
            "python3.11",
            "python3.12",
            "python3.13",
            "python3.14",
        ]
    for name in ("OrderApiFunction", "OrderWorkerFunction"):
        policies = resources[name]["Properties"]["Policies"]
        assert all(isinstance(p, dict) and len(p) == 1 for p in policies)  # scoped templates only
    assert resources["OrdersTopic"]["Properties"]["TracingConfig"] == "Active"


def test_the_template_deploys_the_architecture_the_demo_runs() -> None:
    """examples/architecture.py's hops, as resources: the functions, the topic with the
    queue and the notifier subscribed, the EventBridge rule, and each function's variables."""
    resources = template()["Resources"]
    functions = {
        substitute(r["Properties"]["FunctionName"]): r
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert set(functions) == {
        "order-api", "order-worker", "pricing", "notifier", "reserve-stock", "ship-order"
    }  # fmt: skip
    api_env = functions["order-api"]["Properties"]["Environment"]["Variables"]
    assert set(api_env) == {"PRICING_FUNCTION", "ORDERS_TOPIC_ARN"}
    worker_env = functions["order-worker"]["Properties"]["Environment"]["Variables"]
    assert worker_env == {
        "EVENT_BUS_NAME": "default",
        "FULFILMENT_STATE_MACHINE_ARN": {"Ref": "OrderFulfilment"},
    }
    # The fulfilment the worker starts: its tasks are the template's two functions, and
    # its definition file is the one examples/architecture.py runs (issue 31).
    machine = resources["OrderFulfilment"]["Properties"]
    assert machine["Tracing"] == {"Enabled": True}
    assert machine["DefinitionUri"] == "statemachines/fulfilment.asl.json"
    assert set(machine["DefinitionSubstitutions"]) == {
        "ReserveFunctionArn", "ShipFunctionArn", "OrdersTable"
    }  # fmt: skip
    events = functions["notifier"]["Properties"]["Events"]
    assert {e["Type"] for e in events.values()} == {"SNS", "EventBridgeRule"}
    rule = events["OrderCompleted"]["Properties"]["Pattern"]
    assert rule == {"source": ["orders"], "detail-type": ["OrderCompleted"]}
    subscription = resources["OrdersQueueSubscription"]["Properties"]
    assert subscription["Protocol"] == "sqs"


def test_the_dashboard_names_real_metrics_and_every_group() -> None:
    resources = template()["Resources"]
    groups = {
        substitute(r["Properties"]["GroupName"])
        for r in resources.values()
        if r["Type"] == "AWS::XRay::Group"
    }
    body = json.loads(substitute(resources["Dashboard"]["Properties"]["DashboardBody"]))
    seen_groups = set()
    kinds = set()
    for widget in body["widgets"]:
        kinds.add(widget["type"])
        if widget["type"] == "metric":
            for metric in widget["properties"]["metrics"]:
                namespace, name, *rest = metric
                dimensions = [x for x in rest if not isinstance(x, dict)]
                assert name in KNOWN_METRICS[namespace], (namespace, name)
                for key in dimensions[0::2]:
                    assert key in KNOWN_METRICS[namespace][name], (namespace, name, key)
                if namespace == "AWS/X-Ray":
                    seen_groups.add(dimensions[1])
                stats = [x.get("stat") for x in rest if isinstance(x, dict)]
                assert all(s is None or re.fullmatch(r"Sum|Average|p\d{2}", s) for s in stats)
        if widget["type"] == "log":
            query = widget["properties"]["query"]
            assert "SOURCE '/aws/lambda/fn-api'" in query and "trace_id" in query
    assert seen_groups == groups
    assert kinds == {"text", "metric", "log"}
