"""Where a service runs outside Lambda: ECS, Elastic Beanstalk, EC2, as resource attributes.

The X-Ray SDK's plugins (aws-xray-sdk 2.15 ``core/plugins``: ``ecs_plugin``,
``ec2_plugin``, ``elasticbeanstalk_plugin``) and the collector's awsxray translator
(``aws.go`` ``makeAws``, ``segment.go`` ``determineAwsOrigin``) give a service's segment an
``origin`` and an ``aws`` block (``ecs``, ``ec2``, ``elastic_beanstalk``). The translator
(:mod:`otel_xray.xray.segment`) reads them from the resource, under the semantic
conventions' names, as the collector does; this module finds them, once, at
configuration:

* **ECS** (EC2 and Fargate launch types): ``ECS_CONTAINER_METADATA_URI_V4``, set by the
  ECS agent in every container, and its two documents, the container's (``${uri}``) and
  the task's (``${uri}/task``); docs.aws.amazon.com/AmazonECS/latest/developerguide/
  task-metadata-endpoint-v4.html (and ...-v4-fargate.html for Fargate's).
* **Elastic Beanstalk**: ``/var/elasticbeanstalk/xray/environment.conf``, the file the
  X-Ray SDK's plugin reads (the X-Ray guide, "Segment documents", ``aws`` block).
* **EC2**: IMDSv2, a session token (``PUT /latest/api/token`` with
  ``X-aws-ec2-metadata-token-ttl-seconds``) then the instance identity document
  (``GET /latest/dynamic/instance-identity/document`` with ``X-aws-ec2-metadata-token``);
  docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
  and instance-identity-documents.html. The endpoint is botocore's
  ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` (default ``http://169.254.169.254``), and
  ``AWS_EC2_METADATA_DISABLED=true`` turns it off, as for botocore.

Startup cost where there is no metadata: ECS needs its variable, Beanstalk its file, so
both cost a lookup. IMDS is the one network probe, and a request to a link-local
address that nobody answers waits for its timeout (the X-Ray SDK waits up to a second
twice, upstream's EC2 detector 5 s). So the probe is only made when the machine says
it is an EC2 instance: the DMI files Linux exposes hold ``Amazon EC2`` (Nitro) or the
hypervisor's UUID starts with ``ec2`` (Xen); "Detect whether a host is an EC2 instance",
docs.aws.amazon.com/AWSEC2/latest/UserGuide/identify_ec2_instances.html. Elsewhere
detection reads a few small files and makes no request (``benchmarks/platform_detection.py``).
An explicitly set endpoint is probed without that check. Each request is bounded by
:data:`TIMEOUT_SECONDS`; a failure is a debug line and no attributes, never an error.

* **EKS**: in a pod (``KUBERNETES_SERVICE_HOST`` / ``KUBERNETES_SERVICE_PORT``, set by the
  kubelet, and the service account's token and CA under
  ``/var/run/secrets/kubernetes.io/serviceaccount``: kubernetes.io, "Accessing the
  Kubernetes API from a Pod"), as upstream's ``AwsEksResourceDetector``
  (opentelemetry-sdk-extension-aws 2.1, ``resource/eks.py``) does it: the ``aws-auth``
  ConfigMap in ``kube-system`` says EKS, the ``cluster-info`` ConfigMap of Container
  Insights (``amazon-cloudwatch``) names the cluster, ``/proc/self/cgroup`` holds the
  container id; the pod is the hostname (the X-Ray guide's ``eks.pod``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel_xray.settings import PlatformEnvironment

logger = logging.getLogger("otel_xray")

#: Each metadata request's bound (the X-Ray SDK's plugins use 1 s).
TIMEOUT_SECONDS = 1.0
IMDS_DEFAULT_ENDPOINT = "http://169.254.169.254"
BEANSTALK_CONF = Path("/var/elasticbeanstalk/xray/environment.conf")
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CGROUP = Path("/proc/self/cgroup")
_CONTAINER_ID_LENGTH = 64
#: Files that say "this is an EC2 instance" (identify_ec2_instances.html).
EC2_HINTS: tuple[tuple[Path, str], ...] = (
    (Path("/sys/devices/virtual/dmi/id/sys_vendor"), "amazon ec2"),
    (Path("/sys/devices/virtual/dmi/id/board_asset_tag"), "i-"),
    (Path("/sys/hypervisor/uuid"), "ec2"),
)

Attributes = dict[str, Any]


def detect(
    where: PlatformEnvironment,
    *,
    beanstalk_conf: Path = BEANSTALK_CONF,
    service_account: Path = SERVICE_ACCOUNT,
    ec2_hints: tuple[tuple[Path, str], ...] = EC2_HINTS,
) -> Attributes:
    """The resource attributes of the platform this process runs on ({} when none).

    Never raises: a file this process may not read (``Path.is_file`` raises
    ``PermissionError`` on Python 3.11) or any other surprise means no platform, so
    tracing still starts.
    """
    return _guarded(
        "platform",
        lambda: _detect(where, beanstalk_conf, service_account, ec2_hints),
    )


def _detect(
    where: PlatformEnvironment,
    beanstalk_conf: Path,
    service_account: Path,
    ec2_hints: tuple[tuple[Path, str], ...],
) -> Attributes:
    ecs_uri = where.ecs_metadata_uri
    if ecs_uri:
        found = _guarded("ECS", lambda: ecs(ecs_uri))
        if found:
            return found
    if where.k8s_service_host and (service_account / "token").is_file():
        found = _guarded(
            "EKS",
            lambda: eks(where.k8s_service_host or "", where.k8s_service_port or "443",
                        service_account, where.hostname),
        )
        if found:
            return found
    if beanstalk_conf.is_file():
        found = _guarded("Elastic Beanstalk", lambda: beanstalk(beanstalk_conf))
        if found:
            return found
    if where.imds_disabled:
        return {}
    endpoint = where.imds_endpoint
    if endpoint or _looks_like_ec2(ec2_hints):
        return _guarded("EC2", lambda: ec2(endpoint or IMDS_DEFAULT_ENDPOINT))
    return {}


def _guarded(platform: str, find: Any) -> Attributes:
    try:
        found: Attributes = find()
        return found
    except Exception as error:
        logger.debug("otel-xray: no %s metadata: %s", platform, error)
        return {}


def _get_json(
    url: str, headers: Mapping[str, str] | None = None, method: str = "GET", context: Any = None
) -> Any:
    import urllib.request  # noqa: PLC0415  (only where there is metadata to ask for)

    request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=context) as response:
        return json.loads(response.read())


def eks(
    host: str, port: str, service_account: Path, hostname: str | None, cgroup: Path | None = None
) -> Attributes:
    """The Kubernetes API with the pod's service account: EKS, its cluster, the container."""
    import ssl  # noqa: PLC0415

    token = (service_account / "token").read_text().strip()
    context = ssl.create_default_context(cafile=str(service_account / "ca.crt"))
    base = f"https://{host}:{port}/api/v1/namespaces"
    auth = {"Authorization": f"Bearer {token}"}
    _get_json(f"{base}/kube-system/configmaps/aws-auth", auth, context=context)  # EKS's own
    cluster = ""
    try:
        info = _get_json(
            f"{base}/amazon-cloudwatch/configmaps/cluster-info", auth, context=context
        )
        cluster = str(info.get("data", {}).get("cluster.name", ""))
    except Exception as error:
        logger.debug("otel-xray: no EKS cluster name (Container Insights' cluster-info): %s", error)
    found: Attributes = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_eks",
        "k8s.cluster.name": cluster,
        "k8s.pod.name": hostname,
        "container.id": _container_id(cgroup or CGROUP),
    }
    return {k: v for k, v in found.items() if v not in (None, "")}


def _container_id(cgroup: Path) -> str:
    """The last 64 characters of the first long ``/proc/self/cgroup`` line (upstream's rule;
    a ``.scope`` suffix, as containerd's, is cut first)."""
    try:
        for raw in cgroup.read_text().splitlines():
            line = raw.strip().removesuffix(".scope")
            if len(line) > _CONTAINER_ID_LENGTH:
                return line[-_CONTAINER_ID_LENGTH:]
    except OSError:
        pass
    return ""


def ecs(uri: str) -> Attributes:
    """Task metadata endpoint v4: the container's document and the task's."""
    container = _get_json(uri)
    task = _get_json(uri.rstrip("/") + "/task")
    task_arn = str(task.get("TaskARN", ""))
    # arn:aws:ecs:<region>:<account>:task/<cluster>/<id>
    arn_parts = task_arn.split(":")
    cluster = str(task.get("Cluster", ""))
    if cluster and not cluster.startswith("arn:") and len(arn_parts) >= 5:
        cluster = f"arn:aws:ecs:{arn_parts[3]}:{arn_parts[4]}:cluster/{cluster}"
    found: Attributes = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_ecs",
        "aws.ecs.task.arn": task_arn,
        "aws.ecs.task.family": task.get("Family"),
        "aws.ecs.task.revision": task.get("Revision"),
        "aws.ecs.cluster.arn": cluster,
        "aws.ecs.container.arn": container.get("ContainerARN"),
        "aws.ecs.launchtype": str(task.get("LaunchType", "")).lower(),
        "cloud.availability_zone": task.get("AvailabilityZone"),
        "container.name": container.get("Name"),
        "container.id": container.get("DockerId"),
    }
    if len(arn_parts) >= 5:
        found["cloud.region"], found["cloud.account.id"] = arn_parts[3], arn_parts[4]
    if container.get("LogDriver") == "awslogs":
        options = container.get("LogOptions") or {}
        group, region = options.get("awslogs-group"), options.get("awslogs-region")
        if group:
            found["aws.log.group.names"] = (group,)
            if region and len(arn_parts) >= 5:
                found["aws.log.group.arns"] = (
                    f"arn:aws:logs:{region}:{arn_parts[4]}:log-group:{group}",
                )
        stream = options.get("awslogs-stream")
        if stream:
            found["aws.log.stream.names"] = (stream,)
    return {k: v for k, v in found.items() if v not in (None, "")}


def beanstalk(conf: Path) -> Attributes:
    """The X-Ray environment file of Elastic Beanstalk (what its X-Ray plugin reads)."""
    document = json.loads(conf.read_text())
    found: Attributes = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_elastic_beanstalk",
        "service.namespace": document.get("environment_name"),
        "service.version": document.get("version_label"),
        "service.instance.id": str(document["deployment_id"])
        if "deployment_id" in document
        else None,
    }
    return {k: v for k, v in found.items() if v not in (None, "")}


def ec2(endpoint: str) -> Attributes:
    """IMDSv2: a token, then the instance identity document."""
    import urllib.request  # noqa: PLC0415

    base = endpoint.rstrip("/")
    token_request = urllib.request.Request(
        f"{base}/latest/api/token",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        method="PUT",
    )
    with urllib.request.urlopen(token_request, timeout=TIMEOUT_SECONDS) as response:
        token = response.read().decode()
    document = _get_json(
        f"{base}/latest/dynamic/instance-identity/document",
        headers={"X-aws-ec2-metadata-token": token},
    )
    found: Attributes = {
        "cloud.provider": "aws",
        "cloud.platform": "aws_ec2",
        "cloud.account.id": document.get("accountId"),
        "cloud.region": document.get("region"),
        "cloud.availability_zone": document.get("availabilityZone"),
        "host.id": document.get("instanceId"),
        "host.type": document.get("instanceType"),
        "host.image.id": document.get("imageId"),
    }
    return {k: v for k, v in found.items() if v not in (None, "")}


def _looks_like_ec2(hints: tuple[tuple[Path, str], ...]) -> bool:
    for path, prefix in hints:
        try:
            if path.read_text().strip().lower().startswith(prefix):
                return True
        except OSError:
            continue
    return False
