"""The service graph follows GetServiceGraph's rules: nodes, client, edges, counts, links."""

from __future__ import annotations

from typing import Any

from otel_xray.devtools.functions.lambda_segments import lambda_segments
from otel_xray.devtools.traces.service_graph import CLIENT, ServiceGraph
from otel_xray.devtools.traces.store import TraceStore

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
OTHER = "1-5759e988-00000000000000000000000b"


def sub(id_: str, name: str, parent: str, trace: str = ROOT, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": id_,
        "trace_id": trace,
        "type": "subsegment",
        "parent_id": parent,
        "start_time": 10.0,
        "end_time": 10.25,
        **extra,
    }


def function(trace: str, parent: str, name: str = "api", **kwargs: Any) -> list[dict[str, Any]]:
    return lambda_segments(
        function_name=name,
        function_arn=f"arn:aws:lambda:us-east-1:1:function:{name}",
        request_id="r",
        root=trace,
        parent=parent,
        received=10.0,
        started=10.0,
        finished=11.0,
        **kwargs,
    )


def test_a_lambda_invocation_maps_client_lambda_function_and_downstreams() -> None:
    store = TraceStore(
        [
            *function(ROOT, "f" * 16),
            sub("1" * 16, "api", "f" * 16),
            sub("2" * 16, "DynamoDB", "1" * 16, namespace="aws"),
            sub("3" * 16, "DynamoDB", "1" * 16, namespace="aws", throttle=True, error=True),
            sub("4" * 16, "pay.example.com", "1" * 16, namespace="remote", fault=True),
            sub("5" * 16, "compute", "1" * 16),  # no namespace: no edge
        ]
    )
    graph = ServiceGraph.build(store)
    assert graph.edge_labels() == {
        ("client", "api (AWS::Lambda)"),
        ("api (AWS::Lambda)", "api (AWS::Lambda::Function)"),
        ("api (AWS::Lambda::Function)", "DynamoDB (AWS::DynamoDB::Table)"),
        ("api (AWS::Lambda::Function)", "pay.example.com (remote)"),
    }
    table = graph.edges[(("api", "AWS::Lambda::Function"), ("DynamoDB", "AWS::DynamoDB::Table"))]
    assert (table.statistics.ok, table.statistics.error, table.statistics.throttle) == (1, 1, 1)
    assert graph.nodes[("pay.example.com", "remote")].statistics.fault == 1
    assert graph.roots() == [("api", "AWS::Lambda")]
    assert graph.nodes[CLIENT].statistics.total == 1


def test_a_call_to_a_traced_service_leads_to_its_segment_not_a_remote_node() -> None:
    store = TraceStore(
        [
            {"name": "web", "id": "a" * 16, "trace_id": ROOT, "start_time": 1.0, "end_time": 2.0},
            sub("b" * 16, "orders.internal", "a" * 16, namespace="remote"),
            {
                "name": "orders",
                "id": "c" * 16,
                "trace_id": ROOT,
                "parent_id": "b" * 16,
                "origin": "AWS::ECS::Container",
                "start_time": 10.0,
                "end_time": 10.2,
            },
        ]
    )
    assert ServiceGraph.build(store).edge_labels() == {
        ("client", "web (service)"),
        ("web (service)", "orders (AWS::ECS::Container)"),
    }


def test_an_sqs_consumer_is_connected_to_the_queue_through_its_link() -> None:
    producer = [
        *function(ROOT, "f" * 16, "api"),
        sub("1" * 16, "api", "f" * 16),
        sub("2" * 16, "SQS", "1" * 16, namespace="aws", aws={"operation": "SendMessage"}),
    ]
    consumer = function(OTHER, "e" * 16, "worker", links=[(ROOT, "2" * 16)])
    graph = ServiceGraph.build(TraceStore(producer + consumer))
    assert ("SQS (AWS::SQS::Queue)", "worker (AWS::Lambda)") in graph.edge_labels()
    assert ("client", "worker (AWS::Lambda)") not in graph.edge_labels()
    edge = graph.edges[(("SQS", "AWS::SQS::Queue"), ("worker", "AWS::Lambda"))]
    assert edge.linked
    # A link to a trace the store does not hold: the consumer is a root again.
    alone = ServiceGraph.build(TraceStore(consumer))
    assert ("client", "worker (AWS::Lambda)") in alone.edge_labels()


def test_a_failed_invocation_is_a_fault_of_the_function() -> None:
    error = {"errorType": "ValueError", "errorMessage": "bad order"}
    graph = ServiceGraph.build(TraceStore(function(ROOT, "f" * 16, error=error)))
    function_node = graph.nodes[("api", "AWS::Lambda::Function")]
    assert (function_node.statistics.fault, function_node.statistics.ok) == (1, 0)
    assert graph.nodes[("api", "AWS::Lambda")].statistics.ok == 1


def test_the_json_uses_the_x_ray_api_field_names() -> None:
    graph = ServiceGraph.build(TraceStore(function(ROOT, "f" * 16)))
    services = graph.to_dict()["Services"]
    by_type = {s["Type"]: s for s in services}
    client = by_type["client"]
    assert client["Edges"][0]["ReferenceId"] == by_type["AWS::Lambda"]["ReferenceId"]
    summary = by_type["AWS::Lambda::Function"]["SummaryStatistics"]
    assert set(summary) == {
        "OkCount",
        "ErrorStatistics",
        "FaultStatistics",
        "TotalCount",
        "TotalResponseTime",
    }
    assert summary["OkCount"] == 1 and summary["TotalResponseTime"] == 1.0
    assert by_type["AWS::Lambda"]["Root"] is True
    assert by_type["AWS::Lambda::Function"]["ResponseTimeHistogram"] == [{"Value": 1.0, "Count": 1}]
