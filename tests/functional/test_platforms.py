"""Where a service runs: its segment's ``origin`` and ``aws`` block, from the platform's
metadata served by loopback stand-ins (otel_xray/devtools/services/metadata.py, the AWS
pages cited there), through configure(), the resource and the translator.

Expected values: the collector's awsxray translator (segment.go ``determineAwsOrigin``,
aws.go ``makeAws``; awsxray ``tracesegment.go`` field names) and the X-Ray guide's ``aws``
block (reference/aws-xray-developer-guide/xray-api-segmentdocuments.md); the X-Ray SDK's
plugins give the same origins (aws_xray_sdk/core/plugins: ``AWS::ECS::Container``,
``AWS::EC2::Instance``, ``AWS::ElasticBeanstalk::Environment``); ECS by launch type
is the collector's (``AWS::ECS::EC2`` / ``AWS::ECS::Fargate``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from otel_xray import configurator, platforms
from otel_xray.devtools.services.metadata import IDENTITY, KubernetesApi, MetadataServer
from otel_xray.export import Deadline
from otel_xray.settings import PlatformEnvironment, Settings
from otel_xray.testing import InMemoryExporter
from otel_xray.xray.segment import span_to_document


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    configurator.reset()
    yield
    configurator.reset()


def segment(environ: dict[str, str]) -> dict[str, Any]:
    exporter = InMemoryExporter()
    tracing = configurator.configure(
        environ={"OTEL_SERVICE_NAME": "payments", **environ}, exporter=exporter, instrument=False
    )
    assert tracing is not None
    tracing.tracer().start_span("GET /charges", kind=SpanKind.SERVER).end()
    assert tracing.flush(Deadline.within_ms(2000))
    [span] = exporter.spans
    return span_to_document(span)


@pytest.mark.parametrize(
    ("launch_type", "origin"), [("EC2", "AWS::ECS::EC2"), ("FARGATE", "AWS::ECS::Fargate")]
)
def test_ecs(launch_type: str, origin: str) -> None:
    with MetadataServer(launch_type=launch_type) as server:
        document = segment({"ECS_CONTAINER_METADATA_URI_V4": server.ecs_uri})
    assert document["origin"] == origin
    task_arn = server.task["TaskARN"]
    assert document["aws"]["ecs"] == {
        "container": "payments",
        "container_id": server.container["DockerId"],
        "availability_zone": "us-west-2d",
        "container_arn": server.container["ContainerARN"],
        "cluster_arn": "arn:aws:ecs:us-west-2:111122223333:cluster/default",
        "task_arn": task_arn,
        "task_family": "payments",
        "launch_type": launch_type.lower(),
    }
    assert document["aws"]["account_id"] == "111122223333"
    assert document["aws"]["cloudwatch_logs"] == [
        {"log_group": "/ecs/payments",
         "arn": "arn:aws:logs:us-west-2:111122223333:log-group:/ecs/payments"}
    ]


def test_ec2_imdsv2_with_its_token() -> None:
    with MetadataServer() as server:
        document = segment({"AWS_EC2_METADATA_SERVICE_ENDPOINT": server.imds_endpoint})
        asked = dict(server.requests)
    assert document["origin"] == "AWS::EC2::Instance"
    assert document["aws"]["ec2"] == {
        "instance_id": IDENTITY["instanceId"],
        "availability_zone": IDENTITY["availabilityZone"],
        "instance_size": IDENTITY["instanceType"],
        "ami_id": IDENTITY["imageId"],
    }
    # One token, one document: the stand-in refuses the document without the token.
    assert asked == {"/latest/api/token": 1, "/latest/dynamic/instance-identity/document": 1}


def test_elastic_beanstalk(tmp_path: Path) -> None:
    """The file's shape: the X-Ray guide's aws block (``environment.conf``) and the X-Ray
    SDK's elasticbeanstalk_plugin, which loads it whole as the block."""
    conf = tmp_path / "environment.conf"
    conf.write_text(json.dumps({
        "deployment_id": 32,
        "version_label": "app-5a56-170119_190650",
        "environment_name": "scorekeep",
    }))
    attributes = platforms.detect(PlatformEnvironment(), beanstalk_conf=conf, ec2_hints=())
    assert attributes["cloud.platform"] == "aws_elastic_beanstalk"
    document = segment({"OTEL_RESOURCE_ATTRIBUTES": ",".join(
        f"{k}={v}" for k, v in attributes.items())})
    assert document["origin"] == "AWS::ElasticBeanstalk::Environment"
    assert document["aws"]["elastic_beanstalk"] == {
        "environment_name": "scorekeep", "deployment_id": 32,
        "version_label": "app-5a56-170119_190650",
    }


CONTAINER = "3f2c7e4b9a1d0c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e"


@pytest.mark.parametrize("is_eks", [True, False])
def test_eks_through_the_kubernetes_api(tmp_path: Path, is_eks: bool) -> None:
    """The pod's service account against the API stand-in over TLS; a Kubernetes cluster
    without EKS's aws-auth ConfigMap is not EKS."""
    cgroup = tmp_path / "cgroup"
    cgroup.write_text(f"0::/kubepods/besteffort/pod1234/cri-containerd-{CONTAINER}.scope\n")
    account = tmp_path / "serviceaccount"
    with KubernetesApi(account, cluster_name="shop", eks=is_eks) as api:
        host, port = api.host_port
        where = PlatformEnvironment(k8s_service_host=host, k8s_service_port=port,
                                    hostname="payments-6d4cf56db6-8xkqz", imds_disabled=True)
        original = platforms.CGROUP
        platforms.CGROUP = cgroup
        try:
            found = platforms.detect(where, service_account=account,
                                     beanstalk_conf=tmp_path / "none")
        finally:
            platforms.CGROUP = original
    if not is_eks:
        assert found == {}
        return
    assert found == {
        "cloud.provider": "aws", "cloud.platform": "aws_eks", "k8s.cluster.name": "shop",
        "k8s.pod.name": "payments-6d4cf56db6-8xkqz", "container.id": CONTAINER,
    }


def test_eks_from_resource_attributes() -> None:
    """The same attributes set by the user (or an operator): aws.go's block."""
    document = segment({"OTEL_RESOURCE_ATTRIBUTES": (
        "cloud.provider=aws,cloud.platform=aws_eks,k8s.cluster.name=shop,"
        "k8s.pod.name=payments-6d4cf56db6-8xkqz,container.id=0f1e2d"
    )})
    assert document["origin"] == "AWS::EKS::Container"
    assert document["aws"]["eks"] == {
        "cluster_name": "shop", "pod": "payments-6d4cf56db6-8xkqz", "container_id": "0f1e2d"
    }


def test_nothing_there_no_block_no_request_and_fast(tmp_path: Path) -> None:
    """No ECS variable, no Beanstalk file, not an EC2 machine: no origin, no platform
    block, no request, and detection returns in a few milliseconds at most (its cost is
    measured by benchmarks/platform_detection.py; this bound only catches a network wait)."""
    started = time.perf_counter()
    found = platforms.detect(
        Settings.from_env({}).platform, beanstalk_conf=tmp_path / "none.conf", ec2_hints=()
    )
    assert found == {} and time.perf_counter() - started < 0.5
    document = segment({"OTEL_XRAY_PLATFORM_DETECTION": "false"})
    assert "origin" not in document and set(document["aws"]) <= {"xray"}


def test_a_dead_endpoint_is_bounded_and_gives_nothing() -> None:
    """An ECS variable pointing at a port nobody listens on: no attributes, no error."""
    found = platforms.detect(PlatformEnvironment(ecs_metadata_uri="http://127.0.0.1:9/v4/x"))
    assert "cloud.platform" not in found


def test_a_file_it_may_not_read_gives_no_platform_and_tracing_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.11's ``Path.is_file`` raises ``PermissionError`` for a file under a
    directory the process may not enter (found in review: the Beanstalk file under a 0700
    directory switched tracing off). As root the kernel would let the test read it, so
    the refusal is the one the OS gives an unprivileged process, raised where it is."""
    refused = platforms.BEANSTALK_CONF  # as configure() looks for it

    def is_file(path: Path) -> bool:
        if path == refused:
            raise PermissionError(13, "Permission denied", str(path))
        return original(path)

    original = Path.is_file
    monkeypatch.setattr(Path, "is_file", is_file)
    found = platforms.detect(Settings.from_env({}).platform, ec2_hints=())
    assert found == {}
    tracing = configurator.configure(
        environ={"OTEL_TRACES_EXPORTER": "none"}, instrument=False, set_global=False
    )
    assert tracing is not None
    tracing.shutdown()


def test_never_in_lambda() -> None:
    settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "f",
                                  "ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:9/"})
    assert settings.platform.enabled is False
