"""The extension's thread against the local Runtime API, in one process: the handler's word
may come before or after the INVOKE event; without it the thread gives up at the
deadline; a dead API means inline flushes (otel_xray/awslambda/extension.py).

The runtime side is played by plain HTTP requests to the local Runtime API (what
awslambdaric sends: ``GET /2018-06-01/runtime/invocation/next``); the Extensions API is
the emulation of the Lambda guide's runtimes-extensions-api
(otel_xray/devtools/functions/runtime_api.py).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest
from awslambdaric import lambda_runtime_client
from opentelemetry.sdk.trace import ReadableSpan

import otel_xray
from otel_xray.awslambda.extension import (
    POSTED_WAIT_S,
    POSTING_METHODS,
    AfterResponse,
    ExtensionError,
    register,
    watch_posts,
)
from otel_xray.configurator import Tracing, reset
from otel_xray.devtools.functions.runtime_api import Invocation, RuntimeAPI
from otel_xray.export import Deadline
from otel_xray.testing import InMemoryExporter

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


@pytest.fixture
def exporter() -> InMemoryExporter:
    return InMemoryExporter()


@pytest.fixture
def tracing(exporter: InMemoryExporter) -> Iterator[Tracing]:
    configured = otel_xray.configure(
        environ={"AWS_LAMBDA_FUNCTION_NAME": "f"},
        exporter=exporter,
        set_global=False,
        instrument=False,
    )
    assert configured is not None
    yield configured
    reset()


def take_event(api: RuntimeAPI) -> str:
    """The runtime's poll: the next event's request id."""
    connection = http.client.HTTPConnection(api.address, timeout=10)
    connection.request("GET", "/2018-06-01/runtime/invocation/next")
    response = connection.getresponse()
    response.read()
    connection.close()
    return str(response.getheader("Lambda-Runtime-Aws-Request-Id"))


def one_span(tracing: Tracing, name: str) -> None:
    tracing.tracer().start_span(name).end()


def names(spans: list[ReadableSpan]) -> list[str]:
    return [span.name for span in spans]


_threads: list[AfterResponse] = []


def started(api: RuntimeAPI) -> AfterResponse:
    extension = AfterResponse(api.address, register(api.address))
    extension.start_thread()
    _threads.append(extension)
    return extension


@pytest.fixture(autouse=True)
def _stop_threads() -> Iterator[None]:
    """Each test's extension thread ends with it (no warning logged into a later test)."""
    yield
    while _threads:
        _threads.pop().stop()


def test_the_handlers_word_before_the_event(tracing: Tracing, exporter: InMemoryExporter) -> None:
    with RuntimeAPI(ARN) as api:
        extension = started(api)
        invocation = api.submit(b"{}")
        one_span(tracing, "early")
        # The handler returned before the thread saw its INVOKE (a fast handler).
        assert extension.handler_returned(invocation.request_id, tracing, Deadline.within_ms(2000))
        assert exporter.spans == []
        assert take_event(api) == invocation.request_id
        assert invocation.extensions_done.wait(5)
    assert names(exporter.spans) == ["early"]
    assert extension.flushes == 1


def test_the_handlers_word_after_the_event(tracing: Tracing, exporter: InMemoryExporter) -> None:
    with RuntimeAPI(ARN) as api:
        extension = started(api)
        invocation = api.submit(b"{}")
        assert take_event(api) == invocation.request_id
        time.sleep(0.1)  # the thread holds the INVOKE and waits for the handler
        assert not invocation.extensions_done.is_set()
        one_span(tracing, "late")
        assert extension.handler_returned(invocation.request_id, tracing, Deadline.within_ms(2000))
        assert invocation.extensions_done.wait(5)
    assert names(exporter.spans) == ["late"]


def test_without_the_handlers_word_the_thread_calls_next_at_the_deadline(
    tracing: Tracing, exporter: InMemoryExporter
) -> None:
    """A handler that never returned to the wrapper (the runtime lost it): the thread
    waits until ``deadlineMs`` minus the 50 ms margin, never longer."""
    with RuntimeAPI(ARN, timeout_seconds=0.4) as api:
        started(api)
        invocation = api.submit(b"{}")
        take_event(api)
        began = time.time()
        assert invocation.extensions_done.wait(5)
        assert invocation.extensions_done_at is not None
        assert invocation.extensions_done_at * 1000 < invocation.deadline_ms
        assert invocation.extensions_done_at - began > 0.2
    assert exporter.spans == []


def test_the_next_event_waits_for_the_extension(tracing: Tracing) -> None:
    """The runtime's poll is held until the extension called next (end of invoke phase)."""
    with RuntimeAPI(ARN) as api:
        extension = started(api)
        first = api.submit(b"{}")
        take_event(api)
        second: Invocation = api.submit(b"{}")
        time.sleep(0.2)
        assert second.started_at == 0.0 and not first.extensions_done.is_set()
        extension.handler_returned(first.request_id, tracing, Deadline.within_ms(1000))
        assert take_event(api) == second.request_id
        assert second.started_at >= (first.extensions_done_at or 0)


def test_a_dead_api_means_inline_flushes(tracing: Tracing) -> None:
    api = RuntimeAPI(ARN).start()
    extension = started(api)
    api.stop()
    deadline = time.monotonic() + 5
    while extension.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not extension.alive()
    assert not extension.handler_returned("r-1", tracing, Deadline.within_ms(100))


def post_register(api: RuntimeAPI, name: str, events: list[str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection(api.address, timeout=5)
    headers = {"Lambda-Extension-Name": name} if name else {}
    body = json.dumps({"events": events})
    connection.request("POST", "/2020-01-01/extension/register", body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode()


@pytest.mark.parametrize(
    ("name", "events", "managed", "expected"),
    [
        ("x", ["INVOKE", "SHUTDOWN"], False, "SHUTDOWN: not allowed for internal extensions"),
        ("", ["INVOKE"], False, "Empty extension name"),
        ("x", ["INVOKE"], True, "INVOKE: not allowed for internal extensions"),
        ("x", ["RESTORE"], False, "Extension.InvalidEventType"),
    ],
)
def test_what_the_emulation_refuses(
    name: str, events: list[str], managed: bool, expected: str
) -> None:
    """As AWS's emulator: internal extensions get no SHUTDOWN (internal/lambda/core,
    ``ValidateInternalAgentEvent``), none on Managed Instances
    (internal/lambda-managed-instances/rapi/handler/agentregister.go), a name is required."""
    with RuntimeAPI(ARN, managed_instances=managed) as api:
        status, body = post_register(api, name, events)
        assert (status, api.extensions) == (403, {})
        assert expected in body


def test_a_name_registers_once() -> None:
    with RuntimeAPI(ARN) as api:
        assert post_register(api, "x", ["INVOKE"])[0] == 200
        status, body = post_register(api, "x", ["INVOKE"])
        assert status == 403 and "already registered" in body


def test_registration_closes_when_the_runtimes_init_is_over() -> None:
    with RuntimeAPI(ARN) as api:
        api.submit(b"{}")
        take_event(api)  # the runtime's first poll: its init is over
        with pytest.raises(ExtensionError, match="403"):
            register(api.address)


def test_registration_refused_when_extensions_are_off() -> None:
    with RuntimeAPI(ARN, extensions=False) as api, pytest.raises(ExtensionError, match="404"):
        register(api.address)


def test_registration_to_nothing_listening_fails_fast() -> None:
    from otel_xray.devtools.loopback import unused_port  # noqa: PLC0415

    began = time.monotonic()
    with pytest.raises(OSError):
        register(f"127.0.0.1:{unused_port()}")
    assert time.monotonic() - began < 1


class _RuntimeClientModule:
    """A runtime client module the shape of awslambdaric.lambda_runtime_client."""

    class LambdaRuntimeClient:
        def post_invocation_result(self, invoke_id: str, data: bytes) -> str:
            return f"posted {invoke_id}"

        def post_invocation_error(self, invoke_id: str, data: bytes) -> str:
            raise RuntimeError("the runtime API is gone")


def test_the_export_waits_until_the_runtime_posted_the_response(
    tracing: Tracing, exporter: InMemoryExporter
) -> None:
    """The export runs only once the response is out, so the thread never takes the GIL
    from the runtime while it serializes and sends the response (inference: Python lets
    a waiting thread take the GIL every switch interval, 5 ms, from a CPU-bound one)."""
    module = _RuntimeClientModule()
    with RuntimeAPI(ARN) as api:
        extension = started(api)
        assert watch_posts(extension, [module]) == 2
        extension.posts_watched = True
        client = module.LambdaRuntimeClient()
        invocation = api.submit(b"{}")
        assert take_event(api) == invocation.request_id
        one_span(tracing, "work")
        assert extension.handler_returned(invocation.request_id, tracing, Deadline.within_ms(2000))
        time.sleep(0.05)
        assert exporter.spans == []  # returned, but the response is not posted yet
        assert client.post_invocation_result(invocation.request_id, b"{}") == (
            f"posted {invocation.request_id}"
        )
        assert invocation.extensions_done.wait(5)
    assert names(exporter.spans) == ["work"]


def test_a_failed_post_or_none_at_all_still_lets_the_export_run(
    tracing: Tracing, exporter: InMemoryExporter
) -> None:
    module = _RuntimeClientModule()
    with RuntimeAPI(ARN) as api:
        extension = started(api)
        watch_posts(extension, [module])
        assert watch_posts(extension, [module]) == 0  # wrapped once, not twice
        extension.posts_watched = True
        client = module.LambdaRuntimeClient()
        first = api.submit(b"{}")
        take_event(api)
        one_span(tracing, "failed-post")
        extension.handler_returned(first.request_id, tracing, Deadline.within_ms(2000))
        with pytest.raises(RuntimeError):
            client.post_invocation_error(first.request_id, b"{}")
        assert first.extensions_done.wait(5)
        second = api.submit(b"{}")
        take_event(api)
        one_span(tracing, "never-posted")
        began = time.monotonic()
        extension.handler_returned(second.request_id, tracing, Deadline.within_ms(2000))
        assert second.extensions_done.wait(5)
        assert time.monotonic() - began >= POSTED_WAIT_S * 0.9
    assert names(exporter.spans) == ["failed-post", "never-posted"]


def test_the_real_runtime_client_has_the_methods_that_are_watched() -> None:
    """Reference: awslambdaric's lambda_runtime_client.LambdaRuntimeClient, the client
    Lambda's Python runtimes use; should it rename them, the export would run as soon as
    the handler returned, possibly while the response is still being sent;
    this test says so."""
    for name in POSTING_METHODS:
        assert callable(getattr(lambda_runtime_client.LambdaRuntimeClient, name)), name
