"""An EventBridge bus on 127.0.0.1: ``PutEvents`` to rules whose targets are local functions.

Only as far as it serves tracing, after the EventBridge User Guide, "Amazon
EventBridge integration with AWS X-Ray":

- EventBridge passes the original trace header to the target, and only for an event
  from a ``PutEvents`` request that carried one: the request's ``X-Amzn-Trace-Id``
  header, or the entry's ``TraceHeader``, which wins;
- a trace header that is not valid is dropped, and the event is still delivered;
- the header is not on the event the target receives.

A rule matches on ``source`` and ``detail-type`` (lists of accepted values, the event
pattern's simplest form); a matching event invokes each target function
asynchronously, as EventBridge invokes Lambda, with the header (the callee continues
the trace, as for any Lambda invocation that carries one). In the service map the
``PutEvents`` call's inferred ``EventBridge`` node stands between the source and the
targets (``traces.PASS_THROUGH``; the guide: "an EventBridge event node connects
source and target services").

Example:
    >>> EventBus.matches({"source": ["orders"]}, {"source": "orders", "detail-type": "x"})
    True
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.propagation import parse_trace_header

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

Rule = tuple[Mapping[str, Sequence[str]], Sequence[LocalFunction]]


class EventBus(LoopbackServer):
    """``rules``: (pattern, target functions); ``endpoint`` is what clients are given."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        #: (target function name, event delivered, result) of every delivery, in order.
        self.deliveries: list[tuple[str, dict[str, Any], InvocationResult]] = []
        self._lock = threading.Lock()
        self._function_locks: dict[int, threading.Lock] = {}
        self._threads: list[threading.Thread] = []
        super().__init__(self._handler_class())

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    @staticmethod
    def matches(pattern: Mapping[str, Sequence[str]], event: Mapping[str, Any]) -> bool:
        return all(event.get(key) in accepted for key, accepted in pattern.items())

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the deliveries still running."""
        for thread in list(self._threads):
            thread.join(timeout)

    def put_events(self, entries: list[dict[str, Any]], request_header: str | None) -> list[str]:
        ids = []
        for entry in entries:
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            header = entry.get("TraceHeader") or request_header
            if header and parse_trace_header(header) is None:
                header = None  # dropped; the event still goes out
            event = {
                "version": "0",
                "id": event_id,
                "detail-type": entry.get("DetailType"),
                "source": entry.get("Source"),
                "account": ACCOUNT_ID,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": REGION,
                "resources": list(entry.get("Resources") or []),
                "detail": json.loads(entry.get("Detail") or "{}"),
            }
            for pattern, targets in self.rules:
                if self.matches(pattern, event):
                    for target in targets:
                        thread = threading.Thread(
                            target=self._deliver, args=(target, event, header), daemon=True
                        )
                        self._threads.append(thread)
                        thread.start()
        return ids

    def _deliver(self, target: LocalFunction, event: dict[str, Any], header: str | None) -> None:
        with self._lock:
            lock = self._function_locks.setdefault(id(target), threading.Lock())
        with lock:  # one sandbox serves one invocation at a time
            result = target.invoke(event, trace_header=header)
        with self._lock:
            self.deliveries.append((target.function_name, event, result))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        bus = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                target = self.headers.get("X-Amz-Target", "")
                if target != "AWSEvents.PutEvents":
                    message = f"{target!r}: this bus serves PutEvents"
                    self._reply(400, {"__type": "UnknownOperationException", "message": message})
                    return
                try:
                    request = json.loads(body or b"{}")
                    entries = request["Entries"]
                    if not isinstance(entries, list) or not 1 <= len(entries) <= 10:
                        raise ValueError("Entries takes 1 to 10 entries")
                except (ValueError, KeyError, TypeError) as error:
                    self._reply(400, {"__type": "ValidationException", "message": str(error)})
                    return
                ids = bus.put_events(entries, self.headers.get("X-Amzn-Trace-Id"))
                entries_out = [{"EventId": event_id} for event_id in ids]
                self._reply(200, {"FailedEntryCount": 0, "Entries": entries_out})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.reply(status, data, "application/x-amz-json-1.1")

        return Handler
