"""The X-Ray SDK bridge in process: the SDK's API surface, written on otel-xray's spans.

Each test drives the real ``aws_xray_sdk`` 2.15.0 (its recorder, models and
decorators) under :class:`otel_xray.testing.XRayCapture`, and reads the documents
otel-xray's translator makes. What the X-Ray SDK itself would write for the same
code is compared in ``tests/e2e/test_xray_sdk_bridge.py`` (real SDK, real daemon
stand-in); here the API's reach is checked, including what the SDK's reference
(``aws_xray_sdk/core/recorder.py``, ``models/entity.py``) says each call does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config
from aws_xray_sdk.core import patch_all, xray_recorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace

from otel_xray.bridge import xray_sdk as bridge
from otel_xray.testing import XRayCapture


def by_name(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in documents if d.get("name") == name)


def named(documents: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in documents if d.get("name") == name]


@pytest.fixture
def xray() -> Iterator[XRayCapture]:
    # Not strict: the SDK's own checks decide what is dropped, as in a function.
    with XRayCapture(environ={"OTEL_XRAY_STRICT": "false"}) as capture:
        yield capture
    global_sdk_config.set_sdk_enabled(True)


def test_installed_on_configure_and_removed_on_reset(xray: XRayCapture) -> None:
    assert bridge.installed()
    assert isinstance(xray_recorder.context, bridge.BridgeContext)
    with XRayCapture(environ={"OTEL_XRAY_SDK_BRIDGE": "false"}):
        assert not bridge.installed()
        assert not isinstance(xray_recorder.context, bridge.BridgeContext)


def test_decorators_and_context_managers_nest_in_one_trace(xray: XRayCapture) -> None:
    @xray_recorder.capture("## sync")
    def sync(value: int) -> int:
        xray_recorder.put_annotation("sync_value", value)
        return value

    @xray_recorder.capture_async("## async")
    async def asynchronous(value: int) -> int:
        async with xray_recorder.in_subsegment_async("## async inner") as inner:
            inner.put_metadata("value", {"v": value}, "async")
        return value

    async def handler(event: Any, context: Any) -> int:
        with xray_recorder.in_subsegment("## outer") as outer:
            outer.put_annotation("outer", True)
            sync(1)
            await asyncio.gather(asynchronous(2), asynchronous(3))
            sub = xray_recorder.begin_subsegment("## manual", "remote")
            assert xray_recorder.current_subsegment() is sub
            sub.put_http_meta("url", "https://example.com/a")
            sub.put_http_meta("status", 429)
            xray_recorder.end_subsegment()
        return 1

    result = xray.invoke(handler, {})
    assert result.error is None
    docs = result.documents
    function = next(d for d in docs if d.get("name") == "my-function" and "type" in d)
    outer = by_name(docs, "## outer")
    assert outer["parent_id"] == function["id"]
    assert outer["annotations"] == {"outer": True}
    assert by_name(docs, "## sync")["parent_id"] == outer["id"]
    assert by_name(docs, "## sync")["annotations"] == {"sync_value": 1}
    asyncs = named(docs, "## async")
    assert len(asyncs) == 2 and {d["parent_id"] for d in asyncs} == {outer["id"]}
    inners = named(docs, "## async inner")
    assert {d["parent_id"] for d in inners} == {d["id"] for d in asyncs}
    assert sorted(d["metadata"]["async"]["value"]["v"] for d in inners) == [2, 3]
    manual = by_name(docs, "## manual")
    assert manual["namespace"] == "remote"
    assert manual["http"]["request"]["url"] == "https://example.com/a"
    assert manual["throttle"] is True and manual["error"] is True
    assert {d["trace_id"] for d in docs} == {result.root}


def test_exceptions_flags_and_causes_as_the_sdk_records_them(xray: XRayCapture) -> None:
    """``add_exception`` sets the fault flag and a cause of the SDK's ``Throwable`` s
    (models/entity.py); an exception already recorded inside leaves its id as the
    outer cause (not carried over: the outer keeps its fault flag)."""

    @xray_recorder.capture("## fails")
    def fails() -> None:
        raise KeyError("order-1")

    def handler(event: Any, context: Any) -> str:
        with xray_recorder.in_subsegment("## flags") as flags:
            flags.add_error_flag()
            flags.add_throttle_flag()
        with xray_recorder.in_subsegment("## fault") as fault:
            fault.add_fault_flag()
        try:
            with xray_recorder.in_subsegment("## outer"):
                fails()
        except KeyError:
            pass
        return "ok"

    docs = xray.invoke(handler, {}).documents
    flags = by_name(docs, "## flags")
    assert (flags.get("error"), flags.get("throttle"), flags.get("fault")) == (True, True, None)
    assert by_name(docs, "## fault")["fault"] is True
    failed = by_name(docs, "## fails")
    assert failed["fault"] is True
    [exception] = failed["cause"]["exceptions"]
    assert exception["type"] == "KeyError" and exception["message"] == "'order-1'"
    assert "fails" in [frame["label"] for frame in exception["stack"]]
    outer = by_name(docs, "## outer")
    assert outer["fault"] is True and "cause" not in outer


def test_current_segment_and_subsegment_and_annotations_outside_subsegments(
    xray: XRayCapture,
) -> None:
    """In Lambda the X-Ray SDK's current segment is Lambda's facade, which raises on
    any write (FacadeSegmentMutationException); here it is the invocation's span, and
    a write lands there."""
    seen: dict[str, Any] = {}

    def handler(event: Any, context: Any) -> str:
        segment = xray_recorder.current_segment()
        seen["trace_id"] = segment.trace_id
        seen["subsegment"] = xray_recorder.current_subsegment()
        xray_recorder.put_annotation("tenant", "t-1")
        xray_recorder.put_metadata("raw", [1, 2])
        with xray_recorder.in_subsegment("## inside") as inside:
            seen["inside"] = xray_recorder.current_subsegment() is inside
            seen["segment_inside"] = xray_recorder.current_segment() is segment
        return "ok"

    result = xray.invoke(handler, {})
    assert seen["trace_id"] == result.root
    assert seen["inside"] and seen["segment_inside"]
    function = next(d for d in result.documents if d.get("name") == "my-function" and "type" in d)
    assert function["annotations"]["tenant"] == "t-1"
    assert function["metadata"]["default"]["raw"] == [1, 2]


def test_opentelemetry_spans_and_sdk_subsegments_nest_both_ways(xray: XRayCapture) -> None:
    tracer = trace.get_tracer("mixed")

    def handler(event: Any, context: Any) -> str:
        with (
            xray_recorder.in_subsegment("## sdk outer"),
            tracer.start_as_current_span("otel middle"),
        ):
            xray_recorder.put_annotation("in_otel", 1)
            with xray_recorder.in_subsegment("## sdk inner"):
                pass
        return "ok"

    docs = xray.invoke(handler, {}).documents
    outer, middle, inner = (
        by_name(docs, n) for n in ("## sdk outer", "otel middle", "## sdk inner")
    )
    assert middle["parent_id"] == outer["id"] and inner["parent_id"] == middle["id"]
    assert middle["annotations"] == {"in_otel": 1}


def test_disabled_sdk_records_nothing(xray: XRayCapture) -> None:
    def handler(event: Any, context: Any) -> str:
        global_sdk_config.set_sdk_enabled(False)
        try:
            with xray_recorder.in_subsegment("## off") as sub:
                sub.put_annotation("x", 1)
            xray_recorder.put_annotation("y", 2)
        finally:
            global_sdk_config.set_sdk_enabled(True)
        return "ok"

    docs = xray.invoke(handler, {}).documents
    assert named(docs, "## off") == []
    assert all("y" not in d.get("annotations", {}) for d in docs)


def test_invalid_values_are_dropped_as_the_sdk_drops_them(xray: XRayCapture) -> None:
    """entity.put_annotation: a non-string key, a key with other characters than
    letters, digits and ``_``, or a value not str/number/bool is logged and dropped;
    put_metadata: a namespace starting with ``AWS.`` is reserved."""

    def handler(event: Any, context: Any) -> str:
        with xray_recorder.in_subsegment("## checks") as sub:
            sub.put_annotation("ok_key", "v")
            sub.put_annotation("bad-key", "v")
            sub.put_annotation("obj", object())
            sub.put_metadata("k", "v", "AWS.reserved")
            sub.put_metadata("k", {"nested": [1, {"a": None}]}, "mine")
        return "ok"

    sub = by_name(xray.invoke(handler, {}).documents, "## checks")
    assert sub["annotations"] == {"ok_key": "v"}
    assert sub["metadata"] == {"mine": {"k": {"nested": [1, {"a": None}]}}}


def test_patch_all_patches_nothing_and_one_call_is_one_subsegment(
    xray: XRayCapture, caplog: pytest.LogCaptureFixture
) -> None:
    import requests  # noqa: PLC0415

    from otel_xray.devtools.loopback import unused_port  # noqa: PLC0415

    with caplog.at_level(logging.INFO, logger="otel_xray"):
        patch_all()
    assert "patch('requests') skipped" in caplog.text
    url = f"http://127.0.0.1:{unused_port()}/refused"

    def handler(event: Any, context: Any) -> str:
        with xray_recorder.in_subsegment("## call"), contextlib.suppress(requests.ConnectionError):
            requests.get(url, timeout=1)
        return "ok"

    docs = xray.invoke(handler, {}).documents
    call = by_name(docs, "## call")
    http = [d for d in docs if d.get("parent_id") == call["id"]]
    assert len(http) == 1 and http[0]["name"] == "127.0.0.1" and http[0]["fault"] is True


def test_configure_names_what_it_ignores_once_and_never_raises(
    xray: XRayCapture, caplog: pytest.LogCaptureFixture
) -> None:
    class Emitter:
        def send_entity(self, entity: Any) -> None:
            raise AssertionError("the bridge never emits")

    with caplog.at_level(logging.INFO, logger="otel_xray"):
        for _ in range(2):
            xray_recorder.configure(
                emitter=Emitter(),
                plugins=("EC2Plugin", "ECSPlugin"),
                daemon_address="127.0.0.1:9",
                streaming_threshold=0,
                context_missing="LOG_ERROR",
                service="svc",
            )
    for name in ("emitter", "plugins", "daemon_address", "streaming_threshold"):
        lines = [r for r in caplog.records if f"configure({name}=...)" in r.getMessage()]
        assert len(lines) == 1, name
    assert isinstance(xray_recorder.context, bridge.BridgeContext)
    assert xray_recorder.service == "svc"

    def handler(event: Any, context: Any) -> str:
        with xray_recorder.in_subsegment("## still here"):
            pass
        return "ok"

    assert named(xray.invoke(handler, {}).documents, "## still here")


def test_mismatched_begin_and_end_never_raise(xray: XRayCapture) -> None:
    def handler(event: Any, context: Any) -> str:
        xray_recorder.end_subsegment()  # nothing open
        xray_recorder.begin_subsegment("## left open")
        xray_recorder.begin_segment("not in lambda")  # discarded, as LambdaContext does
        return "ok"

    result = xray.invoke(handler, {})
    assert result.error is None
    assert trace.get_current_span() is trace.INVALID_SPAN


SERVICE = """
import json, sys
import otel_xray
from otel_xray.testing import InMemoryExporter
exporter = InMemoryExporter()
otel_xray.configure(environ={"OTEL_SERVICE_NAME": "svc"}, exporter=exporter)
from aws_xray_sdk.core import xray_recorder
from otel_xray.xray.segment import span_to_document

xray_recorder.configure(sampling_rules={"version": 2, "rules": [],
    "default": {"fixed_target": 1, "rate": 1.0}})
with xray_recorder.in_segment("checkout") as segment:
    segment.set_user("u-1")
    segment.put_http_meta("method", "POST")
    segment.put_http_meta("url", "https://shop.example/checkout")
    segment.put_http_meta("status", 503)
    with xray_recorder.in_subsegment("## price") as sub:
        sub.put_annotation("items", 3)
from otel_xray.export import Deadline
from otel_xray.configurator import current
current().flush(Deadline.within_ms(2000))
print(json.dumps([span_to_document(s) for s in exporter.spans]))
"""


def test_segments_outside_lambda_are_root_spans_with_user_and_http() -> None:
    """``begin_segment`` outside Lambda (a worker, a script) opens a segment: a SERVER
    span of its own, with ``set_user`` and ``put_http_meta`` (recorder.py, segment.py)."""
    done = subprocess.run(
        [sys.executable, "-c", SERVICE], capture_output=True, text=True, timeout=60, check=True
    )
    import json  # noqa: PLC0415

    docs = json.loads(done.stdout.strip().splitlines()[-1])
    assert "cannot find the current segment" not in done.stderr  # end_segment's own read
    segment = by_name(docs, "checkout")
    assert "type" not in segment and segment["user"] == "u-1"
    assert segment["http"]["request"]["method"] == "POST"
    assert segment["http"]["response"]["status"] == 503 and segment["fault"] is True
    price = by_name(docs, "## price")
    assert price["parent_id"] == segment["id"] and price["annotations"] == {"items": 3}


def test_a_thread_without_context_hangs_from_lambdas_segment_as_with_the_sdk(
    xray: XRayCapture,
) -> None:
    """The SDK's LambdaContext gives every thread Lambda's facade segment (read from
    ``_X_AMZN_TRACE_ID``); the bridge does the same where no span is current, so a
    subsegment begun in a plain thread is not lost."""
    import threading  # noqa: PLC0415

    def work() -> None:
        with xray_recorder.in_subsegment("## in thread") as sub:
            sub.put_annotation("threaded", True)

    def handler(event: Any, context: Any) -> str:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        return "ok"

    result = xray.invoke(handler, {})
    threaded = by_name(result.documents, "## in thread")
    lambdas = next(d for d in result.documents if d.get("origin") == "AWS::Lambda::Function")
    assert threaded["parent_id"] == lambdas["id"] and threaded["trace_id"] == result.root
    assert threaded["annotations"] == {"threaded": True}


CUSTOM_BEFORE = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter
from aws_xray_sdk.core.context import Context

class MyEmitter(UDPEmitter):
    pass

class MyContext(Context):
    pass

xray_recorder.configure(emitter=MyEmitter(), context=MyContext(), plugins=("EC2Plugin",))
import otel_xray
otel_xray.configure(environ={"OTEL_TRACES_EXPORTER": "none"})
from otel_xray.bridge import xray_sdk
print("installed", xray_sdk.installed())
"""


def test_what_is_not_bridged_is_named_at_configuration() -> None:
    """An emitter, context or plugin set before otel-xray starts is named once, and the
    bridge still takes over (the SDK's EC2 plugin only logs off EC2)."""
    done = subprocess.run(
        [sys.executable, "-c", CUSTOM_BEFORE],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "installed True" in out
    assert "custom emitter MyEmitter is not used" in out
    assert "custom context MyContext is not used" in out


# inputs not designed for -------------------------------------------------------------


_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=1200),
    st.binary(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)  # fmt: skip
_operations = st.lists(
    st.one_of(
        st.just(("begin",)),
        st.just(("end",)),
        st.tuples(st.just("annotate"), st.text(max_size=20), _values),
        st.tuples(st.just("metadata"), st.text(max_size=10), _values, st.text(max_size=10)),
        st.tuples(st.just("flag"), st.sampled_from(["error", "fault", "throttle"])),
        st.tuples(st.just("http"), st.sampled_from(["url", "method", "status", "x"]), _values),
        st.just(("exception",)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=_operations)
def test_any_sequence_of_sdk_calls_never_breaks_the_handler(
    operations: list[tuple[Any, ...]],
) -> None:
    """Whatever the code does with the SDK, in whatever order, with whatever values:
    the handler's own result comes back, every subsegment it ended is a document in
    the invocation's trace, and nothing is left current afterwards."""
    ended: list[str] = []

    def handler(event: Any, context: Any) -> str:
        opened: list[str] = []
        for number, operation in enumerate(operations):
            kind = operation[0]
            entity = xray_recorder.current_subsegment() or xray_recorder.current_segment()
            try:
                if kind == "begin":
                    xray_recorder.begin_subsegment(f"s{number}")
                    opened.append(f"s{number}")
                elif kind == "end" and opened:
                    xray_recorder.end_subsegment()
                    ended.append(opened.pop())
                elif kind == "annotate":
                    xray_recorder.put_annotation(operation[1], operation[2])
                elif kind == "metadata":
                    xray_recorder.put_metadata(operation[1], operation[2], operation[3])
                elif kind == "flag":
                    getattr(entity, f"add_{operation[1]}_flag")()
                elif kind == "http":
                    entity.put_http_meta(operation[1], operation[2])
                elif kind == "exception":
                    entity.add_exception(ValueError("x"), [])
            except (TypeError, ValueError):
                pass  # the SDK's own checks (put_http_meta("status", "abc") raises in the SDK)
        while opened:
            xray_recorder.end_subsegment()
            ended.append(opened.pop())
        return "done"

    with XRayCapture(environ={"OTEL_XRAY_STRICT": "false"}) as xray:
        result = xray.invoke(handler, {})
    assert result.error is None and result.response == "done"
    names = [d["name"] for d in result.documents]
    assert sorted(n for n in names if n.startswith("s") and n[1:].isdigit()) == sorted(ended)
    assert {d["trace_id"] for d in result.documents} == {result.root}
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_patch_all_names_what_it_does_not_trace_quietly_patch_loudly(
    xray: XRayCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """Powertools' Tracer calls patch_all() in every function: it patches what the SDK's
    patch_all would (patcher.NO_DOUBLE_PATCH, installed ones), said at INFO; a module the
    code names and otel-xray does not trace (http.client itself) is a WARNING."""
    import aws_xray_sdk.core  # noqa: PLC0415
    from aws_xray_sdk.core import patch  # noqa: PLC0415

    for patch_everything in (patch_all, aws_xray_sdk.core.patch_all):  # bound before, after
        bridge._logged.clear()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="otel_xray"):
            patch_everything()
        lines = [r for r in caplog.records if "patch(" in r.getMessage()]
        assert {r.levelno for r in lines} == {logging.INFO}
        named = " ".join(r.getMessage() for r in lines)
        assert "patch('requests')" in named and "patch('botocore')" in named
        assert "httplib" not in named and "aiobotocore" not in named  # not asked, not there
    bridge._logged.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="otel_xray"):
        patch(["httplib"])
    [line] = [r for r in caplog.records if "patch('httplib')" in r.getMessage()]
    assert line.levelno == logging.WARNING


def test_an_unsampled_invocation_records_nothing_and_the_code_runs() -> None:
    """Sampled=0 from Lambda (followed: OTEL_XRAY_LAMBDA_UNSAMPLED=drop): the SDK's code
    sees an unsampled segment (is_sampled() false, DummySubsegments, as the SDK gives
    them) and no document is made."""
    seen: dict[str, Any] = {}

    @xray_recorder.capture("## unsampled")
    def work() -> int:
        seen["sampled"] = xray_recorder.is_sampled()
        xray_recorder.put_annotation("k", 1)
        return 1

    def handler(event: Any, context: Any) -> int:
        return work()

    environ = {"OTEL_XRAY_STRICT": "false", "OTEL_XRAY_LAMBDA_UNSAMPLED": "drop"}
    with XRayCapture(environ=environ) as xray:
        result = xray.invoke(handler, {}, sampled=False)
    assert result.error is None and result.response == 1
    assert seen["sampled"] is False
    assert result.documents == []


SAMPLED_BY_RULES = """
import json, sys
import otel_xray
from otel_xray.testing import InMemoryExporter
exporter = InMemoryExporter()
otel_xray.configure(environ={"OTEL_SERVICE_NAME": "svc"}, exporter=exporter)
from aws_xray_sdk.core import xray_recorder
from otel_xray.export import Deadline
from otel_xray.configurator import current

# The SDK's local rules (configuration page): its rules match host, method and path,
# which a segment begun by hand has none of, so the default rule decides.
names = {0.0: "never", 1.0: "always"}
for rate in (0.0, 1.0):
    xray_recorder.configure(sampling_rules={"version": 2, "rules": [],
                                            "default": {"fixed_target": 0, "rate": rate}})
    for _ in range(3):
        with xray_recorder.in_segment(names[rate]):
            with xray_recorder.in_subsegment("## work"):
                pass
current().flush(Deadline.within_ms(2000))
print(json.dumps(sorted(s.name for s in exporter.spans)))
"""


def test_sampling_rules_given_to_configure_decide_outside_lambda() -> None:
    """``configure(sampling_rules=...)`` is honoured (recorder.py: begin_segment asks
    the SDK's sampler): a segment its rules leave out makes no span, nor do the
    subsegments under it."""
    done = subprocess.run(
        [sys.executable, "-c", SAMPLED_BY_RULES],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    import json  # noqa: PLC0415

    names = json.loads(done.stdout.strip().splitlines()[-1])
    assert names == ["## work"] * 3 + ["always"] * 3


def test_causes_are_also_opentelemetry_exception_events_written_once() -> None:
    """What reads OpenTelemetry's own data (the collector's translator, OTLP backends)
    gets the SDK's exception as an ``exception`` event, its stack as a Python traceback;
    otel-xray's translator writes it once (from the SDK's record, not the event too)."""
    from otel_xray import configurator  # noqa: PLC0415
    from otel_xray.awslambda.handler import lambda_handler  # noqa: PLC0415
    from otel_xray.testing import capture_lambda_spans  # noqa: PLC0415
    from otel_xray.xray.segment import span_to_document  # noqa: PLC0415

    @xray_recorder.capture("## fails")
    def fails() -> None:
        raise KeyError("order-1")

    def handler(event: Any, context: Any) -> None:
        with contextlib.suppress(KeyError):
            fails()

    configurator.reset()
    try:
        with capture_lambda_spans({"OTEL_XRAY_STRICT": "false"}, instrument=True) as spans:
            lambda_handler(handler)({}, None)
        [span] = [s for s in spans if s.name == "## fails"]
    finally:
        configurator.reset()
    [event] = [e for e in span.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "KeyError"
    assert event.attributes["exception.message"] == "'order-1'"
    stack = str(event.attributes["exception.stacktrace"])
    assert stack.startswith("Traceback (most recent call last):") and "in fails" in stack
    [exception] = span_to_document(span)["cause"]["exceptions"]
    assert exception["id"] == event.attributes["aws.xray.cause.id"]
