"""Loopback peers whose faults the reliability tests switch on and off."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from otel_xray.devtools.components.receiver import decode_export_request
from tests.ports import unused_port


class Collector:
    """An OTLP/HTTP endpoint on loopback whose behaviour the test switches."""

    def __init__(self, mode: str, port: int = 0) -> None:
        self.mode = mode
        self.span_ids: set[str] = set()
        self.spans: list[dict[str, object]] = []
        self.lock = threading.Lock()
        #: Client ports seen: one per TCP connection the exporters opened.
        self.connections: set[int] = set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.connections.add(self.client_address[1])
                mode = collector.mode
                if mode == "slow":
                    time.sleep(3)
                if mode == "garbage":
                    self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")
                    self.close_connection = True
                    return
                status = {"500": 500, "429": 429, "400": 400}.get(mode, 200)
                if status == 200:
                    decoded = decode_export_request(body)
                    with collector.lock:
                        collector.spans.extend(decoded)
                        collector.span_ids.update(s["span_id"] for s in decoded)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if mode == "drop-connections":
                    # Close without saying so, as a collector does with an idle
                    # keep-alive connection while the function is frozen.
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


free_port = unused_port  # the name these tests use
