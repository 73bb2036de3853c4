"""``otel-xray up``: the deploy template itself, run locally, is the example architecture.

The app is read from ``deploy/template.yaml`` (the one ``sam deploy`` takes: its
functions, ``Events``, ``Environment`` and resources), started on loopback and fed the
requests in ``examples/requests/orders.json``. The map must be the one drawn in
docs/how-it-works.md, edge for edge (the same edges ``tests/e2e/test_architecture.py``
asks of the hand-wired run, with the names CloudFormation would give: the table and
bucket by logical id, since the template names neither); a request not sampled at API
Gateway leaves nothing; a template or request file that cannot run is refused with a
message naming what and what is accepted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from examples.local_services import PaymentApi
from otel_xray.devtools.cli import main
from otel_xray.devtools.sam.app import (
    App,
    LocalApp,
    Sent,
    TemplateError,
    load_requests,
    load_template,
)
from otel_xray.devtools.traces.filters import FilterExpression
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from tests.e2e.conftest import ROOT
from tests.e2e.test_architecture import (
    API_FN,
    BUCKET,
    EXPECTED_EDGES,
    LEDGER,
    PAYMENTS,
    QUEUE,
    TABLE,
    TOPIC,
    drawn_edges,
)

TEMPLATE = ROOT / "deploy" / "template.yaml"
REQUESTS = ROOT / "examples" / "requests" / "orders.json"
BUILD = ROOT / "build" / "up"
UNSAMPLED_ROOT = "1-6b0cc901-0123456789abcdef01234567"
LOCAL_NAMES = {
    TABLE: "OrdersTable (AWS::DynamoDB::Table)",
    BUCKET: "receiptsbucket (AWS::S3::Bucket)",
    TOPIC: "OrdersTopic (AWS::SNS::Topic)",
    QUEUE: "OrdersQueue (AWS::SQS::Queue)",
}


@pytest.fixture(scope="module")
def up() -> tuple[TraceStore, list[Sent], LocalApp]:
    items = load_requests(REQUESTS)
    # Unsampled, and declined (no SNS publish): the synchronous chain, stage to pricing.
    # Past a queue the worker runs in a trace Lambda samples itself (test_architecture).
    items.append(
        {**items[1], "trace_header": f"Root={UNSAMPLED_ROOT};Parent=53995c3f42cd8ad8;Sampled=0"}
    )
    with PaymentApi() as payments:
        app = App.from_template(load_template(TEMPLATE), TEMPLATE.parent)
        parameters = {"PaymentUrl": payments.url, "PaymentHost": "127.0.0.1"}
        with LocalApp(app, parameters, build_dir=BUILD) as local:
            sent = [local.send(item) for item in items]
            local.settle()
            documents = list(local.documents)
    return TraceStore(documents), sent, local


def test_the_template_runs_as_the_architecture_drawn(
    up: tuple[TraceStore, list[Sent], LocalApp],
) -> None:
    store, sent, local = up
    assert [s.status for s in sent] == [201, 502, 502]
    graph = ServiceGraph.build(store)
    drawn, drawn_links = drawn_edges()  # docs/how-it-works.md
    assert drawn == EXPECTED_EDGES
    # The payment API is outside the template (a PaymentUrl parameter): its own segments go
    # to its own daemon, so here the function's call to it stays a remote node.
    architecture = EXPECTED_EDGES - {(API_FN, PAYMENTS), (PAYMENTS, LEDGER)}
    architecture |= {(API_FN, "127.0.0.1 (remote)")}
    expected = {(LOCAL_NAMES.get(a, a), LOCAL_NAMES.get(b, b)) for a, b in architecture}
    assert set(graph.edge_labels()) == expected
    linked = {(graph.nodes[e.source].label, graph.nodes[e.target].label)
              for e in graph.edges.values() if e.linked}  # fmt: skip
    assert linked == {(LOCAL_NAMES.get(a, a), LOCAL_NAMES.get(b, b)) for a, b in drawn_links}
    for trace in store.traces():
        assert trace.orphans == []
    # What the template declares but up does not run is said, not assumed.
    assert any("OrderApiGroup (AWS::XRay::Group)" in note for note in local.notes)


def test_every_hop_continues_or_links_the_request_s_trace(
    up: tuple[TraceStore, list[Sent], LocalApp],
) -> None:
    store, _, _ = up
    pricing = FilterExpression.parse('edge("order-api", "pricing")').select(store)
    assert len(pricing) == 2  # both sampled orders, each one trace from the stage down
    for trace in pricing:
        stage = trace.segments[0]
        assert stage["origin"] == "AWS::ApiGateway::Stage" and stage["name"] == "orders/prod"
        names = {s.get("name") for s in trace.segments}
        assert {"order-api", "pricing"} <= names
    faults = FilterExpression.parse('service("order-api") { fault }').select(store)
    assert len(faults) == 1 and faults[0] in pricing
    # SNS to the notifier continues the accepted order's trace; the queue links the worker's.
    [accepted] = [t for t in pricing if t not in faults]
    assert "notifier" in {s.get("name") for s in accepted.segments}
    [worker] = FilterExpression.parse('service("order-worker")').select(store)
    assert worker.id != accepted.id
    graph = ServiceGraph.build(store)
    [queue_hop] = [e for (_, t), e in graph.edges.items() if t == ("order-worker", "AWS::Lambda")]
    assert queue_hop.linked  # SQS links the consumer's trace to the producer's
    through_events = FilterExpression.parse('edge("EventBridge", "notifier")').select(store)
    assert [t.id for t in through_events] == [worker.id]


def test_a_request_not_sampled_at_the_stage_leaves_no_document(
    up: tuple[TraceStore, list[Sent], LocalApp],
) -> None:
    store, sent, local = up
    assert sent[-1].status == 502  # served all the same (and declined)
    assert local.invocations["pricing"][-1].root == UNSAMPLED_ROOT  # the header went on
    assert all(d.get("trace_id") != UNSAMPLED_ROOT for d in store.documents())


def test_the_command_writes_the_documents_and_prints_the_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "segments.jsonl"
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps([{"invoke": "pricing", "payload": {"items": ["book"]}}]))
    with PaymentApi() as payments:
        code = main([
            "up", str(TEMPLATE), "--parameter", f"PaymentUrl={payments.url}",
            "--parameter", "PaymentHost=127.0.0.1", "--send", str(requests),
            "--segments", str(out), "--build-dir", str(BUILD),
        ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "invoke pricing -> 200" in printed
    assert "pricing (AWS::Lambda::Function)" in printed  # the map
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert {d["name"] for d in documents} == {"pricing"}


@pytest.mark.parametrize(
    ("argv_extra", "message"),
    [
        ([], "parameter PaymentUrl has no Default: pass --parameter PaymentUrl=VALUE"),
        (["--parameter", "PaymentUrl=x", "--parameter", "PaymentHost=h", "--parameter", "Nope=1"],
         "--parameter Nope: not in the template's Parameters"),
    ],
)  # fmt: skip
def test_missing_or_unknown_parameters_are_refused_by_name(
    argv_extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", str(TEMPLATE), *argv_extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"get": "/orders"}',
            "needs exactly one of api, invoke, publish, put_events, send_message",
        ),
        ("[1]", "item 1: needs exactly one of"),
        ('[{"path": "/x", "invoke": "f"}]', "item 1: needs exactly one of"),
        ("not json", "Expecting value"),
    ],
)
def test_a_request_file_that_cannot_be_sent_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "requests.json"
    path.write_text(content)
    with pytest.raises(TemplateError, match=message.replace("(", r"\(")):
        load_requests(path)


def _template(**function: Any) -> dict[str, Any]:
    props = {"CodeUri": "fn/", "Handler": "app.handler", **function}
    return {"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": props}}}


def test_a_template_that_cannot_run_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"Runtime 'python3\.9'; accepted: python3\.11"):
        App.from_template(_template(Runtime="python3.9"), tmp_path)
    with pytest.raises(TemplateError, match="CodeUri and Handler must be given as text"):
        App.from_template(_template(CodeUri={"Bucket": "b", "Key": "k"}), tmp_path)
    with pytest.raises(TemplateError, match="declares no AWS::Serverless::Function"):
        App.from_template({"Resources": {}}, tmp_path)
    app = App.from_template(
        _template(Events={"Tick": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 h)"}}}),
        tmp_path,
    )  # fmt: skip
    assert app.events_not_run == ["Fn.Tick (Schedule)"]


def test_without_requests_it_serves_until_interrupted(tmp_path: Path) -> None:
    """The interactive use: ``up`` prints each API's URL, serves what a client sends, and
    on Ctrl-C (SIGINT) settles, prints the map and writes the documents."""
    out = tmp_path / "segments.jsonl"
    with PaymentApi() as payments:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "otel_xray.devtools.cli", "up", str(TEMPLATE),
                "--parameter", f"PaymentUrl={payments.url}", "--parameter", "PaymentHost=h",
                "--segments", str(out), "--build-dir", str(BUILD),
            ],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            url = None
            for line in process.stdout:
                if line.startswith("API OrdersApi: "):
                    url = line.split(": ", 1)[1].strip()
                if line.startswith("running;"):
                    break
            assert url is not None, "no API URL printed"
            request = urllib.request.Request(
                url + "/orders", data=json.dumps({"amount": 42.5, "items": ["book"]}).encode(),
                method="POST", headers={"Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=120) as response:
                assert response.status == 201
            process.send_signal(signal.SIGINT)
            rest, _ = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, rest
    assert "orders/prod (AWS::ApiGateway::Stage)" in rest  # the map
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    assert "orders/prod" in {d["name"] for d in documents}
    assert "notifier" in {d["name"] for d in documents}  # the topic's delivery settled too


def test_a_trigger_naming_the_wrong_resource_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    template = _template(
        Events={"Q": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Bucket", "Arn"]}}}}
    )
    template["Resources"]["Bucket"] = {"Type": "AWS::S3::Bucket"}
    app = App.from_template(template, tmp_path)
    with pytest.raises(TemplateError, match=r"Fn\.Q: Bucket is not an AWS::SQS::Queue"):
        LocalApp(app, build_dir=tmp_path / "build").start()


def test_make_up_runs_the_example_template_with_its_orders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``make up`` runs (examples/up.py), with its documents sent elsewhere."""
    from examples import up as make_up  # noqa: PLC0415

    out = tmp_path / "segments.jsonl"
    assert make_up.main(["--segments", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "POST /orders -> 201" in printed and "POST /orders -> 502" in printed
    assert "orders/prod" in {json.loads(line)["name"] for line in out.read_text().splitlines()}


def test_the_fulfilment_joins_the_worker_s_trace_down_to_its_last_lambda_task(
    up: tuple[TraceStore, list[Sent], LocalApp],
) -> None:
    """The template's OrderFulfilment (AWS::Serverless::StateMachine, DefinitionUri with
    DefinitionSubstitutions, Tracing.Enabled): the worker's StartExecution carries its
    header, so the execution segment and each Lambda task's segments are in the worker's
    trace (Step Functions developer guide, concepts-xray-tracing; botocore's model,
    StartExecutionInput.traceHeader: the header is used)."""
    store, _, local = up
    [worker] = local.invocations["order-worker"]
    [reserve] = local.invocations["reserve-stock"]
    [ship] = local.invocations["ship-order"]
    assert reserve.root == ship.root == worker.root
    assert ship.response["tracking"].startswith("TRK-")
    trace = store.trace(worker.root)
    machine_origin = "AWS::StepFunctions::StateMachine"
    [machine] = [s for s in trace.segments if s.get("origin") == machine_origin]
    assert machine["name"] == "order-fulfilment" and "fault" not in machine
    assert [s["name"] for s in machine["subsegments"]][-1] == "Ship"


STATE_MACHINE_TEMPLATE = {
    "Resources": {
        "Fn": {"Type": "AWS::Serverless::Function",
               "Properties": {"CodeUri": "fn/", "Handler": "app.handler"}},
        "Flow": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "flow",
                "TracingConfiguration": {"Enabled": False},
                "DefinitionSubstitutions": {"Target": {"Fn::GetAtt": ["Fn", "Arn"]}},
                "Definition": {"StartAt": "Call", "States": {"Call": {
                    "Type": "Task", "Resource": "${Target}", "End": True}}},
            },
        },
    }
}  # fmt: skip


def test_a_cloudformation_state_machine_runs_with_tracing_off_as_the_guide_says(
    tmp_path: Path,
) -> None:
    """AWS::StepFunctions::StateMachine with an inline Definition and tracing off: an
    execution is traced only "if a trace ID is passed by an upstream service" (developer
    guide), here ``traceHeader`` in the body; one without stays untraced, and ``up``
    says tracing is off."""
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return event\n")
    app = App.from_template(STATE_MACHINE_TEMPLATE, tmp_path)
    root = "1-6b0cc903-0123456789abcdef01234567"
    with LocalApp(app, build_dir=tmp_path / "build") as local:
        header = f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1"
        traced = local.send({"start_execution": "Flow", "input": {"n": 1}, "trace_header": header})
        untraced = local.send({"start_execution": "flow", "input": {"n": 2}})
        documents = list(local.documents)
        notes = list(local.notes)
    assert traced.answer.endswith(":execution:flow:" + traced.answer.rsplit(":", 1)[-1])
    assert untraced.status == 200
    machines = [d for d in documents if d.get("origin") == "AWS::StepFunctions::StateMachine"]
    assert [(m["name"], m["trace_id"]) for m in machines] == [("flow", root)]
    [fn] = local.invocations["Fn"][:1]
    assert fn.root == root and fn.response == {"n": 1}
    assert any("Flow: tracing is off" in note for note in notes)
    with (
        pytest.raises(TemplateError, match="start_execution 'Nope': accepted: Flow"),
        LocalApp(app, build_dir=tmp_path / "build") as again,
    ):
        again.send({"start_execution": "Nope"})


def test_a_topic_tracing_config_that_is_not_one_is_refused_by_name(tmp_path: Path) -> None:
    """CloudFormation, AWS::SNS::Topic TracingConfig: Active or PassThrough."""
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    template = _template(Events={"N": {"Type": "SNS", "Properties": {"Topic": {"Ref": "T"}}}})
    template["Resources"]["T"] = {"Type": "AWS::SNS::Topic", "Properties": {"TracingConfig": "On"}}
    app = App.from_template(template, tmp_path)
    with pytest.raises(TemplateError, match="T: TracingConfig 'On'; accepted: PassThrough, Active"):
        LocalApp(app, build_dir=tmp_path / "build").start()
