"""Local stand-ins for the metadata a service reads about where it runs: ECS's task
metadata endpoint v4, EC2's instance metadata service (IMDSv2), and the Kubernetes API
an EKS pod asks (:class:`KubernetesApi`).

The shapes are the documented example responses, trimmed to the fields
:mod:`otel_xray.platforms` reads and a few beside them (transcribed from the pages; not
compared with a live endpoint here):

* ECS: docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-examples.html
  (EC2 launch type) and task-metadata-endpoint-v4-fargate-examples.html (Fargate):
  ``GET ${ECS_CONTAINER_METADATA_URI_V4}`` is the container's document,
  ``GET ${ECS_CONTAINER_METADATA_URI_V4}/task`` the task's.
* EC2: docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html
  (``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` from 1 to 21600,
  else 400) and instance-identity-documents.html (the document). A request without a
  valid token is refused with 401, as IMDSv2-only instances do.

Example:
    >>> import json, urllib.request
    >>> with MetadataServer(launch_type="FARGATE") as server:
    ...     uri = server.ecs_uri
    ...     json.loads(urllib.request.urlopen(uri + "/task").read())["LaunchType"]
    'FARGATE'
"""

from __future__ import annotations

import copy
import secrets
import ssl
from pathlib import Path
from typing import Any, Self

from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer, Running

REGION = "us-west-2"
ACCOUNT = "111122223333"
CLUSTER = "default"
TASK_ID = "158d1c8083dd49d6b527399fd6414f5c"
CONTAINER_ID = "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66"

CONTAINER: dict[str, Any] = {
    "DockerId": CONTAINER_ID,
    "Name": "payments",
    "DockerName": "ecs-payments-5-payments-e4e8e495e8baa5de1a00",
    "Image": "111122223333.dkr.ecr.us-west-2.amazonaws.com/payments:latest",
    "ImageID": "sha256:2ae34abc2ed0a22e280d17e13f9c01aaf725688b09b7a1525d1a2750e2c0d1de",
    "Labels": {
        "com.amazonaws.ecs.cluster": CLUSTER,
        "com.amazonaws.ecs.container-name": "payments",
        "com.amazonaws.ecs.task-arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{TASK_ID}",
        "com.amazonaws.ecs.task-definition-family": "payments",
        "com.amazonaws.ecs.task-definition-version": "5",
    },
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 128, "Memory": 256},
    "CreatedAt": "2020-10-02T00:15:07.620912337Z",
    "StartedAt": "2020-10-02T00:15:08.062559351Z",
    "Type": "NORMAL",
    "LogDriver": "awslogs",
    "LogOptions": {
        "awslogs-create-group": "true",
        "awslogs-group": "/ecs/payments",
        "awslogs-region": REGION,
        "awslogs-stream": f"ecs/payments/{TASK_ID}",
    },
    "ContainerARN": (
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/{TASK_ID}/"
        "1bdcca8b-f905-4ee6-885c-4064cb70f6e6"
    ),
    "Networks": [
        {"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.106"]},
    ],
}

TASK: dict[str, Any] = {
    "Cluster": CLUSTER,
    "TaskARN": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{TASK_ID}",
    "Family": "payments",
    "Revision": "5",
    "DesiredStatus": "RUNNING",
    "KnownStatus": "RUNNING",
    "Limits": {"CPU": 0.25, "Memory": 512},
    "PullStartedAt": "2020-10-02T00:43:06.202617438Z",
    "PullStoppedAt": "2020-10-02T00:43:06.31288465Z",
    "AvailabilityZone": "us-west-2d",
    "LaunchType": "EC2",
    "Containers": [CONTAINER],
}

#: The instance identity document's example (instance-identity-documents.html).
IDENTITY: dict[str, Any] = {
    "accountId": "0123456789",
    "architecture": "x86_64",
    "availabilityZone": "us-east-1e",
    "billingProducts": None,
    "devpayProductCodes": None,
    "marketplaceProductCodes": ["1abc2defghijklm3nopqrs4tu"],
    "imageId": "ami-5fb8c835",
    "instanceId": "i-1234567890abcdef0",
    "instanceType": "t2.micro",
    "kernelId": None,
    "pendingTime": "2016-11-19T16:32:11Z",
    "privateIp": "10.158.112.84",
    "ramdiskId": None,
    "region": "us-east-1",
    "version": "2017-09-30",
}


class MetadataServer(Running):
    """ECS v4 under ``/v4/<id>`` and IMDSv2 under ``/latest``, on one loopback port.

    ``launch_type``: ``EC2`` or ``FARGATE`` (Fargate's task document also has no
    container instance). ``container_name`` renames the container (the demo's service).
    :attr:`requests` counts what was asked, by path.
    """

    def __init__(self, launch_type: str = "EC2", container_name: str = "payments") -> None:
        container = copy.deepcopy(CONTAINER)
        container["Name"] = container_name
        task = copy.deepcopy(TASK)
        task["LaunchType"] = launch_type
        task["Containers"] = [container]
        if launch_type == "FARGATE":
            task["Cluster"] = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
        self.container, self.task = container, task
        self.tokens: set[str] = set()
        self.requests: dict[str, int] = {}
        server = self

        class Handler(LoopbackHandler):
            def _count(self) -> None:
                server.requests[self.path] = server.requests.get(self.path, 0) + 1

            def do_PUT(self) -> None:
                self._count()
                if self.path != "/latest/api/token":
                    self.reply(404, b"")
                    return
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    self.reply(400, b"", content_type="text/plain")
                    return
                token = secrets.token_urlsafe(32)
                server.tokens.add(token)
                self.reply(200, token.encode(), content_type="text/plain")

            def do_GET(self) -> None:
                self._count()
                if self.path.startswith("/latest/"):
                    if self.headers.get("X-aws-ec2-metadata-token") not in server.tokens:
                        self.reply(401, b"", content_type="text/plain")
                    elif self.path == "/latest/dynamic/instance-identity/document":
                        self.reply_json(200, IDENTITY)
                    else:
                        self.reply(404, b"", content_type="text/plain")
                elif self.path == f"/v4/{TASK_ID}":
                    self.reply_json(200, server.container)
                elif self.path == f"/v4/{TASK_ID}/task":
                    self.reply_json(200, server.task)
                else:
                    self.reply(404, b"", content_type="text/plain")

        self._server = LoopbackServer(Handler)

    @property
    def ecs_uri(self) -> str:
        """``ECS_CONTAINER_METADATA_URI_V4`` as the ECS agent sets it."""
        return f"http://{self._server.address}/v4/{TASK_ID}"

    @property
    def imds_endpoint(self) -> str:
        """``AWS_EC2_METADATA_SERVICE_ENDPOINT``."""
        return f"http://{self._server.address}"

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


class KubernetesApi(Running):
    """The two ConfigMaps an EKS pod's detector reads, over HTTPS with a bearer token, and
    the pod's service account directory (``token``, ``ca.crt``) to point it at.

    Shapes: the Kubernetes API's ConfigMap object (kubernetes.io API reference, ConfigMap
    v1: ``kind``, ``apiVersion``, ``metadata``, ``data``); ``aws-auth`` in ``kube-system``
    is EKS's (docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html) and
    ``cluster-info`` in ``amazon-cloudwatch`` holds ``cluster.name`` (Container Insights'
    quick start, docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    Container-Insights-setup-EKS-quickstart.html). A request without the token is 401.
    The certificate is made here for 127.0.0.1 (``cryptography``, from the local extra).
    """

    def __init__(self, directory: Path, cluster_name: str = "shop", eks: bool = True) -> None:
        self.directory = directory
        self.token = secrets.token_urlsafe(24)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(self.token)
        cert, key = _self_signed(directory)
        (directory / "ca.crt").write_bytes(cert.read_bytes())
        maps = {"/api/v1/namespaces/amazon-cloudwatch/configmaps/cluster-info": {
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": "cluster-info", "namespace": "amazon-cloudwatch"},
            "data": {"cluster.name": cluster_name, "logs.region": REGION},
        }}
        if eks:
            maps["/api/v1/namespaces/kube-system/configmaps/aws-auth"] = {
                "kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                "data": {"mapRoles": "- rolearn: arn:aws:iam::111122223333:role/nodes\n"},
            }
        token = self.token

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self.reply_json(401, {"kind": "Status", "code": 401})
                elif self.path in maps:
                    self.reply_json(200, maps[self.path])
                else:
                    self.reply_json(404, {"kind": "Status", "code": 404})

        self._server = LoopbackServer(Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        inner = self._server._server  # the loopback HTTP server, wrapped in TLS
        inner.socket = context.wrap_socket(inner.socket, server_side=True)

    @property
    def host_port(self) -> tuple[str, str]:
        """``KUBERNETES_SERVICE_HOST`` and ``KUBERNETES_SERVICE_PORT``."""
        host, _, port = self._server.address.partition(":")
        return host, port

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime  # noqa: PLC0415
    import ipaddress  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_path, key_path
