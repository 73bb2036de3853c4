"""``otel-xray up``'s reading of a SAM template: intrinsics, routes, what it refuses.

References: CloudFormation's intrinsic function reference (``Fn::Sub`` with
``${Logical.Attribute}`` and ``${!Literal}``; ``Fn::If`` over ``Conditions``) and
API Gateway's REST path templates (``{name}``, greedy ``{name+}``; an undefined
resource answers 403 ``Missing Authentication Token``). The deploy template itself is
read here too, as ``sam deploy`` would take it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.devtools.sam.app import App, Resolver, TemplateError, load_template
from otel_xray.devtools.services.api_gateway import Route

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
        (("POST", "/orders"), "POST", "/orders/", None),  # as sam local start-api
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
        "ReserveStockFunction": [],  # the fulfilment's Lambda tasks
        "ShipOrderFunction": [],
    }
    assert "OrderFulfilment" not in app.not_run  # the state machine runs (issue 31)
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


# Against references nobody here wrote ----------------------------------------------------

_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,10}", fullmatch=True)
_LITERAL = st.text(alphabet="abcXYZ019-_./:@ ", max_size=8)


@st.composite
def parameters_and_template(draw: st.DrawFn) -> tuple[dict[str, str], str]:
    params = draw(st.dictionaries(_NAMES, st.text(alphabet="az09-./", max_size=12), min_size=1))
    pieces = draw(
        st.lists(
            st.one_of(
                _LITERAL,
                st.sampled_from(sorted(params)).map(lambda name: "${" + name + "}"),
                _NAMES.map(lambda name: "${!" + name + "}"),
                st.just("${AWS::Region}"),
            ),
            max_size=6,
        )
    )
    return params, "".join(pieces)


@settings(max_examples=200, deadline=None)  # the first case imports aws-sam-translator
@given(parameters_and_template())
def test_ref_and_sub_resolve_as_sams_own_resolver(case: tuple[dict[str, str], str]) -> None:
    """SAM's ``IntrinsicsResolver`` (aws-sam-translator, what ``sam build`` and the SAM
    transform run) resolves parameter references; what it leaves for CloudFormation, the
    ``Fn::Sub`` wrapper and the ``${!Literal}`` escape, is finished as CloudFormation's
    Fn::Sub documentation says (``${!Literal}`` is the literal ``${Literal}``)."""
    from samtranslator.intrinsics.resolver import IntrinsicsResolver  # noqa: PLC0415

    params, template = case
    sam = IntrinsicsResolver({**params, "AWS::Region": "us-east-1"})
    ours = Resolver(params, {}, {})
    assert ours.resolve({"Ref": next(iter(params))}) == sam.resolve_parameter_refs(
        {"Ref": next(iter(params))}
    )
    resolved = sam.resolve_parameter_refs({"Fn::Sub": template})
    expected = resolved["Fn::Sub"].replace("${!", "${") if isinstance(resolved, dict) else resolved
    assert ours.resolve({"Fn::Sub": template}) == expected


def _sam_path_converter() -> Any:
    """``sam local start-api``'s own conversion of API Gateway paths to Flask routes, read
    from the aws-sam-cli wheel ``make rie`` downloads."""
    wheels = sorted((ROOT / "build" / "rie").glob("aws_sam_cli-*.whl"))
    if not wheels:
        pytest.skip("no aws-sam-cli wheel in build/rie (make rie downloads it)")
    source = zipfile.ZipFile(wheels[-1]).read("samcli/local/apigw/path_converter.py")
    namespace: dict[str, Any] = {}
    exec(compile(source, "samcli/local/apigw/path_converter.py", "exec"), namespace)
    return namespace["PathConverter"]


_SEGMENT = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,6}", fullmatch=True)


@st.composite
def route_and_path(draw: st.DrawFn) -> tuple[str, str]:
    names = iter(f"p{n}" for n in range(10))
    template = draw(
        st.lists(st.one_of(_SEGMENT, st.just(None)), min_size=1, max_size=4).map(
            lambda parts: [p if p is not None else "{" + next(names) + "}" for p in parts]
        )
    )
    if draw(st.booleans()):
        template.append("{" + next(names) + "+}")
    route = "/" + "/".join(template)
    if draw(st.booleans()):  # a path made from the route: it should match
        path = route
        for part in template:
            if part.endswith("+}"):
                values = draw(st.lists(_SEGMENT, min_size=1, max_size=3))
                path = path.replace(part, "/".join(values))
            elif part.startswith("{"):
                path = path.replace(part, draw(_SEGMENT))
    else:  # any path: mostly not
        path = "/" + "/".join(draw(st.lists(_SEGMENT, min_size=1, max_size=5)))
    return route, path + draw(st.sampled_from(["", "", "/"]))


@settings(max_examples=300)
@given(route_and_path())
def test_routes_match_as_sam_local_start_api_does(case: tuple[str, str]) -> None:
    """The same route and path through SAM's converter and Werkzeug's router (what
    ``sam local start-api`` serves with) and through ours: the same match and the same
    path parameters."""
    from werkzeug.exceptions import NotFound  # noqa: PLC0415
    from werkzeug.routing import Map, Rule  # noqa: PLC0415

    route, path = case
    adapter = Map([Rule(_sam_path_converter().convert_path_to_flask(route))]).bind("localhost")
    try:
        _, expected = adapter.match(path, method="GET")
    except NotFound:
        expected = None
    assert Route("GET", route, None).match("GET", path) == expected  # type: ignore[arg-type]
