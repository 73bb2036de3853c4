"""Export after the response: the layer registers an internal Lambda extension and its
thread exports once the runtime has posted the response (otel_xray/awslambda/extension.py).

Real processes: the built layer under awslambdaric against the local Runtime API, which
serves the Extensions API (otel_xray/devtools/functions/runtime_api.py), and a loopback
OTLP receiver that answers slowly, refuses, or is fine. What each test rests on:

- the Lambda guide, runtimes-extensions-api: "The Invoke phase ends after the runtime
  and all extensions signal that they are done by sending a Next API request"; the
  function's timeout "limits the duration of the entire Invoke phase"; an internal
  extension may not register for SHUTDOWN; "500 ms - a function with a registered
  internal extension" for the Shutdown phase, SIGKILL after it;
- AWS's emulator (aws-lambda-runtime-interface-emulator, internal/lambda/rapid/
  shutdown.go): with any extension registered the runtime gets SIGTERM first, without
  one it is SIGKILLed;
- awslambdaric 4.x polls for the next event on a thread from python3.12
  (``lambda_config``), so only there can a Python SIGTERM handler run while the runtime
  waits (inference from its source; AWS's graceful-shutdown sample says the same of
  python3.8 to 3.11); on python3.11 a thread woken by ``signal.set_wakeup_fd`` flushes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_xray.devtools.components.receiver import OTLPReceiver
from otel_xray.devtools.functions.invoke import LocalFunction, default_layer_dir
from tests.e2e.conftest import ROOT, RUNTIME, runtime_of

HANDLER = """
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
"""

#: The slow collector's answer time (seconds): far above a warm invocation's ~2 ms.
SLOW = 0.8


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("after-response")
    (directory / "app.py").write_text(HANDLER)
    return directory


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def function(
    code: Path, receiver: OTLPReceiver, runtime: Path = RUNTIME, **kwargs: object
) -> LocalFunction:
    env = {"OTEL_XRAY_FLUSH_TIMEOUT_MS": "3000", **kwargs.pop("env", {})}  # type: ignore[dict-item]
    return LocalFunction(
        "app.handler",
        code,
        layer_dir=ROOT / default_layer_dir(),
        runtime_dir=runtime,
        exporter="otlp",
        otlp_endpoint=receiver.endpoint,
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def timed_invoke(fn: LocalFunction) -> tuple[float, float]:
    """(epoch seconds the response arrived, milliseconds the caller waited)."""
    began = time.monotonic()
    result = fn.invoke({"n": 1}, collect=False)
    assert result.ok, result.error
    return time.time(), (time.monotonic() - began) * 1000


def test_the_response_returns_before_a_slow_export_and_the_spans_follow(
    code: Path, receiver: OTLPReceiver
) -> None:
    receiver.delay_seconds = SLOW
    with function(code, receiver) as fn:
        timed_invoke(fn)  # the cold start
        assert fn.wait_idle(10)
        responded, waited = timed_invoke(fn)
        assert waited < SLOW * 1000 / 2, waited  # the caller does not wait for the export
        assert fn.wait_idle(10)
        assert fn.api is not None
        assert [e.name for e in fn.api.extensions.values()] == ["otel-xray"]
    assert receiver.requests == 2
    # The warm invocation's spans were answered after its response, and arrived.
    assert receiver.answered_at[-1] > responded
    assert {s["name"] for s in receiver.spans} == {fn.function_name}


def test_the_next_invocation_waits_until_the_export_is_done(
    code: Path, receiver: OTLPReceiver
) -> None:
    """The invoke phase ends at the extension's next: the runtime gets no event before."""
    receiver.delay_seconds = SLOW
    with function(code, receiver) as fn:
        first = fn.invoke({"n": 1}, collect=False)
        second = fn.invoke({"n": 2}, collect=False)
        assert first.ok and second.ok
        assert fn.api is not None
        one, two = fn.api._by_id[first.request_id], fn.api._by_id[second.request_id]
        assert one.extensions_done_at is not None
        assert one.extensions_done_at - one.finished_at >= SLOW * 0.9
        assert two.started_at >= one.extensions_done_at
        assert fn.wait_idle(10)


def test_with_extensions_off_the_flush_is_inline_and_the_spans_arrive(
    code: Path, receiver: OTLPReceiver
) -> None:
    """Registration refused (the Extensions API answers 404, as AWS's emulator with
    extensions disabled): one warning, and each invocation flushes before it returns."""
    receiver.delay_seconds = SLOW / 2
    with function(code, receiver, extensions=False) as fn:
        timed_invoke(fn)
        responded, waited = timed_invoke(fn)
        assert waited >= SLOW / 2 * 1000
        assert receiver.answered_at[-1] <= responded
        logs = fn.logs()
    assert receiver.requests == 2
    assert logs.count("could not register the Lambda extension") == 1, logs


def test_off_by_setting_flushes_inline(code: Path, receiver: OTLPReceiver) -> None:
    receiver.delay_seconds = SLOW / 2
    with function(code, receiver, env={"OTEL_XRAY_EXPORT_AFTER_RESPONSE": "false"}) as fn:
        timed_invoke(fn)
        _, waited = timed_invoke(fn)
        assert fn.api is not None and fn.api.extensions == {}
    assert waited >= SLOW / 2 * 1000


def test_a_deadline_shorter_than_the_export_is_honoured(code: Path, receiver: OTLPReceiver) -> None:
    """A hung collector and a 1 s function: the extension calls next before the deadline,
    so the invoke phase ends in time and the sandbox lives on (no timeout, no reset)."""
    receiver.delay_seconds = 5.0
    with function(code, receiver, timeout_seconds=1.0) as fn:
        results = [fn.invoke({"n": n}, collect=False) for n in range(2)]
        assert all(r.ok for r in results), [r.error for r in results]
        assert fn.wait_idle(2)
        assert fn.api is not None
        for result in results:
            invocation = fn.api._by_id[result.request_id]
            assert invocation.extensions_done_at is not None
            assert invocation.extensions_done_at * 1000 < invocation.deadline_ms
        assert fn.process is not None and fn.process.poll() is None  # not reset


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_sigterm_at_shutdown_flushes_what_is_left(
    code: Path, receiver: OTLPReceiver, version: str
) -> None:
    """The collector refuses (503) the export after the response: the spans stay queued.
    Lambda's shutdown (SIGTERM, 500 ms, SIGKILL) flushes them."""
    runtime = runtime_of(version)
    with function(code, receiver, runtime, env={"OTEL_XRAY_FLUSH_TIMEOUT_MS": "300"}) as fn:
        fn.invoke({"n": 1}, collect=False)
        assert fn.wait_idle(10)
        receiver.unavailable = 1_000_000  # every retry of this flush is refused
        fn.invoke({"n": 2}, collect=False)
        assert fn.wait_idle(10)
        assert receiver.requests == 1  # the second invocation's spans are still queued
        receiver.unavailable = 0
        fn.shutdown()
    assert receiver.requests == 2


def test_managed_instances_register_no_extension(code: Path, receiver: OTLPReceiver) -> None:
    with function(code, receiver, max_concurrency=2) as fn:
        results = fn.invoke_concurrently([{"n": 1}, {"n": 2}])
        assert all(r.ok for r in results)
        assert fn.api is not None and fn.api.extensions == {}


def test_xray_segments_show_the_export_after_the_response(code: Path) -> None:
    """The default exporter (segment documents to the daemon): Lambda's AWS::Lambda
    segment ends at the response; the function segment ends when the extension called
    next, after Overhead (lambda_segments.py says why)."""
    with LocalFunction(
        "app.handler", code, layer_dir=ROOT / default_layer_dir(), runtime_dir=RUNTIME
    ) as fn:
        fn.invoke({"n": 1})
        result = fn.invoke({"n": 2})
        assert fn.api is not None
        invocation = fn.api._by_id[result.request_id]
    service = next(d for d in result.segments if d["origin"] == "AWS::Lambda")
    lambda_function = next(d for d in result.segments if d["origin"] == "AWS::Lambda::Function")
    assert invocation.extensions_done_at is not None
    assert service["end_time"] == invocation.finished_at
    assert lambda_function["end_time"] >= invocation.extensions_done_at
    names = [s["name"] for s in lambda_function["subsegments"]]
    assert names[:1] == ["Invocation"]
    ours = [d for d in result.segments if d.get("parent_id") == result.parent]
    assert ours, result.segments  # the handler's subsegment arrived, after the response


def test_snapstart_restores_export_after_the_response_with_the_snapshots_extension(
    code: Path,
) -> None:
    """The extension registers once, in the snapshot's init; each restored sandbox (a
    fork here, which copies no thread) answers its INVOKE events with the snapshot's
    identifier, and its spans arrive after its responses."""
    with LocalFunction(
        "app.handler",
        code,
        layer_dir=ROOT / default_layer_dir(),
        runtime_dir=runtime_of("3.12"),  # SnapStart: python3.12 and later
        snapstart=True,
    ) as fn:
        results = []
        for _ in range(2):
            fn.stop_process()  # the next invoke restores a new sandbox
            results += [fn.invoke({"n": 1}), fn.invoke({"n": 2})]
        assert fn.api is not None
        assert [e.name for e in fn.api.extensions.values()] == ["otel-xray"]
        invocations = [fn.api._by_id[r.request_id] for r in results]
    assert len(set(fn.restored_pids)) == 2
    for result, invocation in zip(results, invocations, strict=True):
        assert result.ok, result.error
        assert invocation.extensions_done_at is not None
        assert any(d.get("parent_id") == result.parent for d in result.segments), result


def test_under_awss_emulator_the_extension_registers_and_the_spans_arrive(code: Path) -> None:
    """AWS's Runtime Interface Emulator serves the Extensions API (``make rie``; its
    source: internal/lambda/rapi/router.go ``ExtensionsRouter``, extensions enabled in
    internal/lambda/rie/run.go) and logs the internal agent's registration. Its HTTP
    invoke answers only once the whole invoke phase is over (internal/lambda/rapidcore/
    server.go ``Invoke`` waits for ``AwaitRelease``), so under the RIE the caller does
    wait for the export: the response-first path is tested against the local Runtime
    API above, and here the RIE's own behaviour is what is asserted."""
    from tests.e2e.test_runtimes import under_rie  # noqa: PLC0415

    runtime = runtime_of("3.12")
    with OTLPReceiver(delay_seconds=SLOW) as receiver:
        env = {
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_XRAY_FLUSH_TIMEOUT_MS": "3000",
        }
        with under_rie(code, runtime, env) as rie:
            waits = []
            for n in (1, 2):
                began = time.monotonic()
                assert rie.invoke({"n": n}) == {"statusCode": 200, "body": "ok"}
                waits.append(time.monotonic() - began)
    output = rie.output
    assert "Internal agent otel-xray" in output and "subscribed to [INVOKE]" in output, output
    assert "could not register" not in output
    assert receiver.requests == 2  # each invocation's spans, sent by the extension
    assert min(waits) >= SLOW * 0.9  # the RIE answers after the invoke phase


def test_the_export_starts_only_once_the_runtime_posted_the_response(
    tmp_path: Path, receiver: OTLPReceiver
) -> None:
    """A 4 MB response keeps awslambdaric serializing and posting for milliseconds after
    the handler returned; each export's request reaches the collector only after the
    Runtime API got that response (``Invocation.finished_at``), through the real runtime
    client. Checked to fail with ``OTEL_XRAY_EXPORT_AFTER_RESPONSE=false`` (the inline
    flush's export comes first). It does not tell the wait for ``post_invocation_result``
    apart from none: the layer built before that wait also passed, since json's encoding
    and the runtime client's post hold the interpreter here."""
    (tmp_path / "app.py").write_text(
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'body': 'x' * (4 * 1024 * 1024 + event['n'])}\n"
    )
    with function(tmp_path, receiver) as fn:
        finished = []
        for n in range(4):
            result = fn.invoke({"n": n}, collect=False)
            assert result.ok, result.error
            assert fn.wait_idle(10)
            assert fn.api is not None
            finished.append(fn.api._by_id[result.request_id].finished_at)
    assert len(receiver.arrived_at) == 4
    for posted, exported in zip(finished, receiver.arrived_at, strict=True):
        assert exported >= posted, (exported - posted, finished, receiver.arrived_at)
