"""The real OpenTelemetry collector and X-Ray daemon, run as local processes on loopback.

``make collector`` builds ``build/bin/otelcol-xray`` from ``collector/builder-config.yaml``
(the collector's awsxray receiver and exporter, awsproxy, otlp, batch, debug,
health_check). ``make daemon`` builds ``build/bin/xray`` from
``github.com/aws/aws-xray-daemon`` where the Go module proxy serves it.
:class:`Collector` and :class:`Daemon` start one with every listening port on
127.0.0.1 (free ports unless given), every AWS endpoint pointed at a local X-Ray
API (:mod:`otel_xray.devtools.components.xray_api`), test credentials, and its log in a file;
they wait until it says it is ready and stop it by its PID.

Example (not run here: it needs the built binary):

    with XRayAPI() as api, Collector(Path("collector/config.yaml"), api.endpoint) as collector:
        ...  # OTLP to collector.ports["otlp_http"]; documents arrive in api.store
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml  # type: ignore[import-untyped]

from otel_xray.devtools.loopback import Running, end_process_group, unused_port

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / "build" / "bin"
COLLECTOR_BINARY = BIN / "otelcol-xray"
DAEMON_BINARY = BIN / "xray"
REGION = "us-east-1"
#: What the components sign with; the local X-Ray API's test credentials.
TEST_ENV = {
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class ComponentError(RuntimeError):
    """The component exited or never became ready; the message ends with its log."""


class _Process(Running):
    ready_line = ""
    binary = Path()

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"otel-xray-{self.binary.name}-")[1])
        #: Files of this run, removed when ``with`` ends (the log, a written config).
        self.temporary: list[Path] = [self.log_path]

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir()}

    def start(self, timeout: float = 30.0) -> Self:
        if not self.binary.exists():
            raise ComponentError(f"{self.binary} is not built: run 'make {self.make_target}'")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise ComponentError(f"{self.binary.name} exited ({code})\n{self.log}")
            if self.ready_line in self.log:
                return self
            time.sleep(0.05)
        self.stop()
        raise ComponentError(f"{self.binary.name} not ready in {timeout:.0f} s\n{self.log}")

    @property
    def make_target(self) -> str:
        return "collector" if self.binary == COLLECTOR_BINARY else "daemon"

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        end_process_group(process)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        for path in self.temporary:
            path.unlink(missing_ok=True)


class Collector(_Process):
    """The built collector with a shipped config, its ports and X-Ray endpoint overridden.

    The shipped configs are used as they are; ``--set`` overrides (the collector's
    own flag) move every listener to a free loopback port, point the awsxray
    exporter and the X-Ray proxies at ``xray_endpoint`` with ``local_mode`` (no EC2
    metadata), and turn the collector's own metrics off (they would bind :8888).
    ``ports`` names each port: ``otlp_http``, ``otlp_grpc``, and where the config has
    them ``xray_udp`` and ``xray_proxy`` (the awsxray receiver's UDP port and its TCP
    proxy for sampling), ``awsproxy``, ``health``.
    """

    ready_line = "Everything is ready"
    binary = COLLECTOR_BINARY

    def __init__(
        self,
        config: Path,
        xray_endpoint: str,
        *,
        extra_sets: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.xray_endpoint = xray_endpoint
        shipped = yaml.safe_load(config.read_text())
        receivers = shipped.get("receivers") or {}
        extensions = shipped.get("extensions") or {}
        self.ports: dict[str, int] = {"otlp_http": unused_port(), "otlp_grpc": unused_port()}
        sets = {
            "service.telemetry.metrics.level": "none",
            "receivers.otlp.protocols.http.endpoint": f"127.0.0.1:{self.ports['otlp_http']}",
            "receivers.otlp.protocols.grpc.endpoint": f"127.0.0.1:{self.ports['otlp_grpc']}",
        }
        if "awsxray" in (shipped.get("exporters") or {}):
            sets["exporters.awsxray.endpoint"] = xray_endpoint
            sets["exporters.awsxray.region"] = REGION
            sets["exporters.awsxray.local_mode"] = "true"
        for name in shipped.get("exporters") or {}:
            if name.split("/")[0] == "otlphttp":  # X-Ray's OTLP endpoint, locally
                sets[f"exporters.{name}.traces_endpoint"] = xray_endpoint + "/v1/traces"
        for name in extensions:
            if name.split("/")[0] == "sigv4auth":
                # A loopback host names no service or region, so both are set.
                sets[f"extensions.{name}.region"] = REGION
                sets[f"extensions.{name}.service"] = "xray"
        if "awsxray" in receivers:  # the daemon-compatible UDP receiver and its proxy
            self.ports["xray_udp"] = unused_port(socket.SOCK_DGRAM)
            self.ports["xray_proxy"] = unused_port()
            proxy = "receivers.awsxray.proxy_server"
            sets["receivers.awsxray.endpoint"] = f"127.0.0.1:{self.ports['xray_udp']}"
            sets[f"{proxy}.endpoint"] = f"127.0.0.1:{self.ports['xray_proxy']}"
            sets[f"{proxy}.aws_endpoint"] = xray_endpoint
            sets[f"{proxy}.region"] = REGION
            sets[f"{proxy}.local_mode"] = "true"
        if "awsproxy" in extensions:
            self.ports["awsproxy"] = unused_port()
            sets["extensions.awsproxy.endpoint"] = f"127.0.0.1:{self.ports['awsproxy']}"
            sets["extensions.awsproxy.aws_endpoint"] = xray_endpoint
            sets["extensions.awsproxy.region"] = REGION
            sets["extensions.awsproxy.local_mode"] = "true"
        if "health_check" in extensions:
            self.ports["health"] = unused_port()
            sets["extensions.health_check.endpoint"] = f"127.0.0.1:{self.ports['health']}"
        sets.update(extra_sets or {})
        self.sets = sets

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--config={self.config}",
            *(f"--set={key}={value}" for key, value in self.sets.items()),
        ]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **TEST_ENV}

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_http']}"


class Daemon(_Process):
    """The built X-Ray daemon: UDP and TCP on free loopback ports, uploading to ``xray_endpoint``.

    The endpoint can only be set in the daemon's config file (``Endpoint``), so one is
    written next to its log.
    """

    ready_line = "Starting proxy http server on"
    binary = DAEMON_BINARY

    def __init__(self, xray_endpoint: str) -> None:
        super().__init__()
        self.port = unused_port(socket.SOCK_DGRAM)
        self.tcp_port = unused_port()
        self.config_path = self.log_path.with_suffix(".yaml")
        self.temporary.append(self.config_path)
        self.config_path.write_text(
            "Version: 2\n"
            f'Region: "{REGION}"\n'
            f'Endpoint: "{xray_endpoint}"\n'
            "LocalMode: true\n"
            "TotalBufferSizeMB: 16\n"
            "Socket:\n"
            f'  UDPAddress: "127.0.0.1:{self.port}"\n'
            f'  TCPAddress: "127.0.0.1:{self.tcp_port}"\n'
            "Logging:\n"
            '  LogLevel: "dev"\n'
        )

    def command(self) -> list[str]:
        return [str(self.binary), f"--config={self.config_path}"]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **TEST_ENV}

    @property
    def address(self) -> str:
        """``AWS_XRAY_DAEMON_ADDRESS`` as Lambda sets it."""
        return f"127.0.0.1:{self.port}"
