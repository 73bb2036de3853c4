"""``otel-xray up``'s reading of a SAM template: intrinsics, routes, what it refuses.

References: CloudFormation's intrinsic function reference (``Fn::Sub`` with
``${Logical.Attribute}`` and ``${!Literal}``; ``Fn::If`` over ``Conditions``) and
API Gateway's REST path templates (``{name}``, greedy ``{name+}``; an undefined
resource answers 403 ``Missing Authentication Token``). The deploy template itself is
read here too, as ``sam deploy`` would take it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_xray.devtools.api_gateway import Route
from otel_xray.devtools.app import App, Resolver, TemplateError, load_template

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = {
    "Queue": {"Ref": "http://sqs/q", "Arn": "arn:aws:sqs:us-east-1:123456789012:q",
              "QueueName": "q"},
    "Fn": {"Ref": "pricing", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:pricing"},
}  # fmt: skip
CONDITIONS = {
    "IsArm": {"Fn::Equals": [{"Ref": "Arch"}, "arm64"]},
    "NotArm": {"Fn::Not": [{"Condition": "IsArm"}]},
}


def resolver(arch: str = "arm64") -> Resolver:
    return Resolver({"Arch": arch, "Prefix": "dev-"}, RESOURCES, CONDITIONS)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Queue"}, "http://sqs/q"),
        ({"Fn::GetAtt": ["Queue", "Arn"]}, "arn:aws:sqs:us-east-1:123456789012:q"),
        ({"Fn::GetAtt": "Queue.QueueName"}, "q"),  # the short form's text
        ({"Fn::Sub": "${Prefix}orders"}, "dev-orders"),
        ({"Fn::Sub": "${Fn.Arn}:live"}, RESOURCES["Fn"]["Arn"] + ":live"),
        ({"Fn::Sub": "${!Literal}-${AWS::Region}"}, "${Literal}-us-east-1"),
        ({"Fn::Sub": ["${A}/${Prefix}", {"A": {"Ref": "Fn"}}]}, "pricing/dev-"),
        ({"Fn::If": ["IsArm", "a", "x"]}, "a"),
        ({"Fn::If": ["NotArm", "a", "x"]}, "x"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Fn"}]]}, "a-pricing"),
        ({"Fn::Select": ["1", ["a", "b"]]}, "b"),
        ({"Key": {"Ref": "Fn"}}, {"Key": "pricing"}),
    ],
)  # fmt: skip
def test_intrinsics_resolve_against_the_local_resources(value: object, expected: object) -> None:
    assert resolver().resolve(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": "Nope"}, "Ref 'Nope': no parameter or resource of that name"),
        ({"Fn::GetAtt": ["Queue", "Url"]}, "Queue.Url: not known locally; accepted: Arn, Queue"),
        ({"Fn::ImportValue": "x"}, "Fn::ImportValue is not resolved locally; accepted: Ref"),
        ({"Fn::If": ["Missing", 1, 2]}, "Condition 'Missing' is not in the template's Conditions"),
    ],
)  # fmt: skip
def test_what_cannot_be_resolved_is_named(value: object, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        resolver().resolve(value)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("route", "method", "path", "expected"),
    [
        (("POST", "/orders"), "POST", "/orders", {}),
        (("POST", "/orders"), "POST", "/orders/", {}),
        (("POST", "/orders"), "GET", "/orders", None),
        (("ANY", "/orders"), "DELETE", "/orders", {}),
        (("GET", "/orders/{id}"), "GET", "/orders/42", {"id": "42"}),
        (("GET", "/orders/{id}"), "GET", "/orders/42/items", None),
        (("get", "/files/{key+}"), "GET", "/files/a/b.txt", {"key": "a/b.txt"}),
        (("GET", "/a.b"), "GET", "/aXb", None),  # a dot is a dot
    ],
)
def test_routes_match_as_rest_api_resources(
    route: tuple[str, str], method: str, path: str, expected: dict[str, str] | None
) -> None:
    assert Route(*route, None).match(method, path) == expected  # type: ignore[arg-type]


def test_the_deploy_template_reads_as_the_example_architecture() -> None:
    template = ROOT / "deploy" / "template.yaml"
    app = App.from_template(load_template(template), template.parent)
    events = {f.logical_id: sorted(e.kind for e in f.events) for f in app.functions}
    assert events == {
        "OrderApiFunction": ["Api"],
        "OrderWorkerFunction": ["SQS"],
        "PricingFunction": [],
        "NotifierFunction": ["EventBridgeRule", "SNS"],
    }
    assert {f.runtime for f in app.functions} == {"3.13"}  # Globals.Function.Runtime
    api = next(f for f in app.functions if f.logical_id == "OrderApiFunction")
    assert api.code_dir == ROOT / "examples" / "order_api"
    assert {"ORDERS_TABLE", "PRICING_FUNCTION", "AWS_LAMBDA_EXEC_WRAPPER"} <= set(api.environment)
    assert app.not_run["OrderApiGroup"] == "AWS::XRay::Group"


def test_a_template_that_is_not_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Resources: [1, 2]\n")
    with pytest.raises(TemplateError, match="needs a Resources mapping"):
        load_template(path)
