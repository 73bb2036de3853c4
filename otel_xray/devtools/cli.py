"""The ``otel-xray`` command: run handlers locally and look at their traces.

otel-xray invoke MODULE.FUNCTION --code DIR --event FILE [--times N]
                 [--exporter xray-udp|otlp|xray-otlp-udp|xray-otlp] [--env KEY=VALUE]...
                 [--segments OUT.jsonl]
otel-xray map SEGMENTS.jsonl [--svg OUT.svg] [--json]
otel-xray traces SEGMENTS.jsonl [--trace ID [--linked]]
otel-xray query 'FILTER EXPRESSION' SEGMENTS.jsonl
otel-xray analyze SEGMENTS.jsonl [--filter EXPRESSION] [--trace ID] [--json]
otel-xray xray-api [--port N] [--segments OUT.jsonl] [--transaction-search on|off]
otel-xray console SEGMENTS.jsonl [...] [--port N] [--groups TEMPLATE [--param K=V]...]
otel-xray report SEGMENTS.jsonl [...] -o REPORT.html [--groups TEMPLATE [--param K=V]...]
otel-xray up TEMPLATE [--parameter K=V]... [--send REQUESTS.json]... [--segments OUT.jsonl]
otel-xray doctor PATH [--quiet]   (a function's code directory or a SAM template)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from otel_xray.devtools.components.xray_api import XRayAPI
from otel_xray.devtools.functions.interpreters import DEFAULT_VERSION, RUNTIME_VERSIONS
from otel_xray.devtools.functions.invoke import (
    EXPORTERS,
    InitError,
    InvocationResult,
    LocalFunction,
)
from otel_xray.devtools.functions.sandbox import DEFAULT_DIR, build_runtime, runtime_root
from otel_xray.devtools.sam.cloudformation import xray_groups
from otel_xray.devtools.traces.analysis import analyze
from otel_xray.devtools.traces.filters import FilterExpression, FilterSyntaxError
from otel_xray.devtools.traces.service_graph import ServiceGraph
from otel_xray.devtools.traces.store import TraceStore
from otel_xray.devtools.traces.svg import render_svg
from otel_xray.devtools.traces.text import render_map, render_trace


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--env takes KEY=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-xray", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    invoke = commands.add_parser(
        "invoke", help="run a handler through the layer under awslambdaric"
    )
    invoke.add_argument("handler", help="MODULE.FUNCTION, as in the function's Handler setting")
    invoke.add_argument("--code", required=True, type=Path, help="the function's code directory")
    invoke.add_argument("--event", type=Path, help="JSON file with the event (default: {})")
    invoke.add_argument("--times", type=int, default=1, help="invocations in one sandbox")
    invoke.add_argument("--env", action="append", type=_key_value, default=[], metavar="KEY=VALUE")
    invoke.add_argument(
        "--segments", type=Path, help="append the X-Ray segment documents here (JSON lines)"
    )
    invoke.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default="xray-udp",
        help="xray-udp: straight to a local X-Ray daemon (the layer's default); "
        "otlp: through a local collector endpoint; xray-otlp-udp: OTLP datagrams to the "
        "daemon (AWS's own layer's wire); xray-otlp: signed OTLP to the local X-Ray "
        "API's /v1/traces (X-Ray's OTLP endpoint)",
    )
    invoke.add_argument("--layer", type=Path, help="unpacked layer (default build/layer/<arch>)")
    invoke.add_argument(
        "--no-layer", action="store_true", help="run without tracing, for comparison"
    )
    invoke.add_argument(
        "--runtime",
        type=Path,
        default=DEFAULT_DIR,
        help="local runtime directory of python3.11 (make runtime builds one per version)",
    )
    invoke.add_argument(
        "--python",
        choices=RUNTIME_VERSIONS,
        default=DEFAULT_VERSION,
        help="the Lambda Python runtime to run on (its local runtime is built if missing)",
    )
    invoke.add_argument("--timeout", type=float, default=30.0, help="function timeout in seconds")
    invoke.add_argument("--name", help="function name (default: the code directory's name)")
    invoke.add_argument(
        "--snapstart",
        action="store_true",
        help="SnapStart: init once (snap-start), run the before-snapshot hooks, then "
        "restore --restores sandboxes from that process (forks), --times invocations each",
    )
    invoke.add_argument(
        "--restores", type=int, default=2, help="with --snapstart: sandboxes to restore"
    )
    invoke.add_argument(
        "--tenant-id", help="the invoke's TenantId (a tenant-isolated function's context.tenant_id)"
    )
    invoke.add_argument(
        "--max-concurrency",
        type=int,
        help="Lambda Managed Instances: N worker processes (awslambdaric's multi-concurrent "
        "mode); the --times invocations are sent at once",
    )

    graph = commands.add_parser("map", help="the service map of stored segment documents")
    graph.add_argument("segments", type=Path, help="JSON lines of segment documents")
    graph.add_argument("--svg", type=Path, help="also draw the map as SVG into this file")
    graph.add_argument("--json", action="store_true", help="print GetServiceGraph-style JSON")

    traces = commands.add_parser("traces", help="every stored trace as a timeline tree")
    traces.add_argument("segments", type=Path, help="JSON lines of segment documents")
    traces.add_argument("--trace", help="only this trace (its X-Ray trace id)")
    traces.add_argument(
        "--linked",
        action="store_true",
        help="with --trace: also every trace linked to it (an SQS consumer's), in order",
    )

    query = commands.add_parser("query", help="the traces an X-Ray filter expression selects")
    query.add_argument("expression", help="e.g. 'service(\"order-api\") { fault }'")
    query.add_argument("segments", type=Path, help="JSON lines of segment documents")
    query.add_argument("--show", action="store_true", help="draw each matching trace")

    analyze = commands.add_parser(
        "analyze", help="where the time goes: the critical path and self time per part"
    )
    analyze.add_argument("segments", type=Path, help="JSON lines of segment documents")
    analyze.add_argument("--filter", help="only the traces this filter expression selects")
    analyze.add_argument("--trace", help="only this trace id")
    analyze.add_argument("--json", action="store_true", help="print the report as JSON")
    analyze.add_argument("--top", type=int, default=10, help="rows of the ranking (text)")

    console = commands.add_parser(
        "console", help="a local X-Ray console in the browser: map, traces, timeline, analysis"
    )
    console.add_argument("segments", type=Path, nargs="+", help="JSON lines files (followed)")
    console.add_argument("--port", type=int, default=0, help="default: a free port")
    report = commands.add_parser(
        "report", help="the console's views as one self-contained HTML file, for a ticket"
    )
    report.add_argument("segments", type=Path, nargs="+", help="JSON lines files")
    report.add_argument("-o", "--out", type=Path, required=True, help="the HTML file to write")
    for command in (console, report):
        command.add_argument(
            "--groups", type=Path, help="a SAM/CloudFormation template: its X-Ray groups as presets"
        )
        command.add_argument(
            "--param", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
            help="a template parameter's value (one without a default)",
        )  # fmt: skip

    up = commands.add_parser(
        "up",
        help="run a SAM template's functions and triggers locally, every hop traced, and "
        "send requests or events into it from files",
    )
    up.add_argument("template", type=Path, help="the SAM template (template.yaml)")
    up.add_argument(
        "--parameter", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
        help="a template parameter (those without a Default are required)",
    )  # fmt: skip
    up.add_argument(
        "--send", action="append", type=Path, default=[], metavar="REQUESTS.json",
        help="requests and events to send, in order (see otel_xray.devtools.sam.app); "
        "without any, the app runs until Ctrl-C",
    )  # fmt: skip
    up.add_argument("--segments", type=Path, help="write every document here (JSON lines)")
    up.add_argument("--exporter", choices=("xray-udp", "otlp"), default="xray-udp")
    up.add_argument("--layer", type=Path, help="unpacked layer (default build/layer/<arch>)")
    up.add_argument("--runtime", type=Path, default=DEFAULT_DIR, help="local runtimes' base")
    up.add_argument("--build-dir", type=Path, default=Path("build") / "up")
    api = commands.add_parser(
        "xray-api",
        help="a local X-Ray API on 127.0.0.1 for the X-Ray daemon or the collector "
        "(credentials: testing / testing)",
    )
    api.add_argument("--port", type=int, default=0, help="default: a free port")
    api.add_argument(
        "--segments", type=Path, help="append every uploaded document here (JSON lines)"
    )
    api.add_argument(
        "--transaction-search",
        choices=("on", "off"),
        default="on",
        help="off: /v1/traces refuses spans as X-Ray does without Transaction Search",
    )
    doctor = commands.add_parser(
        "doctor",
        help="what moving a function to otel-xray's layer needs: X-Ray SDK and Powertools "
        "usage and what the bridge covers, tracing, layers, settings, double tracing",
    )
    doctor.add_argument("path", type=Path, help="a function's code directory or a SAM template")
    doctor.add_argument("--quiet", action="store_true", help="findings only, no notes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "invoke":
        return _invoke(args)
    if args.command == "map":
        return _map(args)
    if args.command == "traces":
        return _traces(args)
    if args.command == "query":
        return _query(args)
    if args.command == "xray-api":
        return _xray_api(args)
    if args.command == "analyze":
        return _analyze(args)
    if args.command in ("console", "report"):
        return _console(args)
    if args.command == "up":
        return _up(args)
    if args.command == "doctor":
        from otel_xray.devtools.sam.doctor import run  # noqa: PLC0415

        return run(args)
    return 2


def _up(args: argparse.Namespace) -> int:
    from otel_xray.devtools.sam.app import App, LocalApp, TemplateError, load_requests  # noqa: PLC0415

    try:
        app = App.from_template(_load_template(args.template), args.template.parent)
        items = [item for path in args.send for item in load_requests(path)]
        local = LocalApp(
            app, dict(args.parameter), build_dir=args.build_dir, layer_dir=args.layer,
            runtime_dir=args.runtime, exporter=args.exporter,
        )  # fmt: skip
    except TemplateError as error:
        print(f"otel-xray: {error}", file=sys.stderr)
        return 2
    try:
        with local:
            for note in local.notes:
                print(f"note: {note}")
            for name, gateway in local.apis.items():
                print(f"API {name}: {gateway.endpoint}")
            if not items:
                print("running; send requests to the endpoints above, Ctrl-C to stop")
                try:
                    while True:
                        time.sleep(0.5)
                        local.settle()
                except KeyboardInterrupt:
                    pass
            for item in items:
                sent = local.send(item)
                print(f"{_describe(item)} -> {sent.status} {json.dumps(sent.answer)[:200]}")
            local.settle()
            documents = list(local.documents)
    except (TemplateError, FileNotFoundError, InitError) as error:
        print(f"otel-xray: {error}", file=sys.stderr)
        return 1
    store = TraceStore(documents)
    for trace in store.traces():
        print(render_trace(trace))
    print(render_map(ServiceGraph.build(store)))
    if args.segments is not None:
        args.segments.parent.mkdir(parents=True, exist_ok=True)
        with args.segments.open("w") as out:
            for document in documents:
                out.write(json.dumps(document, sort_keys=True) + "\n")
        print(
            f"wrote {len(documents)} documents to {args.segments} "
            f"(otel-xray console {args.segments})"
        )
    return 0


def _load_template(path: Path) -> dict[str, Any]:
    from otel_xray.devtools.sam.app import TemplateError, load_template  # noqa: PLC0415

    if not path.is_file():
        raise TemplateError(f"{path}: no such template")
    return load_template(path)


def _describe(item: dict[str, Any]) -> str:
    if "path" in item or "api" in item:
        return f"{str(item.get('method', 'GET')).upper()} {item.get('path', '/')}"
    kind = next(k for k in ("invoke", "publish", "put_events", "send_message") if k in item)
    target = item[kind] if kind != "put_events" else f"{len(item[kind])} entries"
    return f"{kind} {target}"


def _console(args: argparse.Namespace) -> int:
    # The console's page and server load only for these two commands.
    from otel_xray.devtools.traces.console import serve, write_report  # noqa: PLC0415

    groups: dict[str, str] = {}
    problems: list[str] = []
    if args.groups:
        try:
            groups, problems = xray_groups(args.groups, dict(args.param))
        except (OSError, ValueError) as error:
            print(f"otel-xray: --groups {args.groups}: {error}", file=sys.stderr)
            return 2
    if args.command == "console":
        return serve(args.segments, args.port, groups, problems)
    written = write_report(args.segments, args.out, groups, problems)
    for problem in problems:
        print(f"otel-xray: {problem}", file=sys.stderr)
    print(f"wrote {written} (open it in a browser; no server needed)")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    store = _load(args.segments)
    if store is None:
        return 2
    traces = store.traces()
    if args.trace:
        traces = [t for t in traces if t.id == args.trace]
        if not traces:
            print(f"otel-xray: no trace {args.trace} in {args.segments}", file=sys.stderr)
            return 2
    if args.filter:
        try:
            expression = FilterExpression.parse(args.filter)
        except FilterSyntaxError as error:
            print(f"otel-xray: {error}", file=sys.stderr)
            return 2
        traces = [t for t in traces if expression.matches(t, store)]
    report = analyze(store, traces)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text(args.top))
    return 0


def _xray_api(args: argparse.Namespace) -> int:
    try:
        api = XRayAPI(
            segments_path=args.segments,
            port=args.port,
            transaction_search=args.transaction_search == "on",
        )
    except OSError as error:
        print(f"otel-xray: port {args.port}: {error.strerror}", file=sys.stderr)
        return 2
    with api:
        print(f"X-Ray API on {api.endpoint} (access key 'testing', secret 'testing')")
        print(f'  the daemon:    Endpoint: "{api.endpoint}" in its config file, with LocalMode')
        print(f"  a collector:   exporters.awsxray.endpoint: {api.endpoint}, local_mode: true")
        print(
            f"  OTLP:          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={api.otlp_endpoint} with "
            "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER=aws_sigv4 "
            f"(Transaction Search {args.transaction_search})"
        )
        if args.segments:
            print(f"  documents go to {args.segments}: otel-xray map {args.segments}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print(f"\n{len(api.received)} documents received", file=sys.stderr)
    return 0


def _query(args: argparse.Namespace) -> int:

    try:
        expression = FilterExpression.parse(args.expression)
    except FilterSyntaxError as error:
        print(f"otel-xray: {error}", file=sys.stderr)
        return 2
    store = _load(args.segments)
    if store is None:
        return 2
    matching = expression.select(store)
    for trace in matching:
        root = trace.segments[0]
        state = "ok" if trace.ok else "has errors"
        print(f"{trace.id}  {trace.duration * 1000:8.1f} ms  {state:<10}  {root.get('name')}")
        if args.show:
            print(render_trace(trace))
    print(f"{len(matching)} of {len(store.trace_ids())} traces match", file=sys.stderr)
    return 0


def _load(path: Path) -> TraceStore | None:
    try:
        return TraceStore.load(path)
    except (OSError, ValueError) as error:
        print(f"otel-xray: {error}", file=sys.stderr)
        return None


def _map(args: argparse.Namespace) -> int:

    store = _load(args.segments)
    if store is None:
        return 2
    graph = ServiceGraph.build(store)
    if args.json:
        print(json.dumps(graph.to_dict(), indent=2))
    else:
        print(render_map(graph))
    if args.svg is not None:
        args.svg.write_text(render_svg(graph))
        print(f"wrote {args.svg}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _traces(args: argparse.Namespace) -> int:
    store = _load(args.segments)
    if store is None:
        return 2
    if args.trace is None:
        for trace in store.traces():
            print(render_trace(trace))
        return 0
    if args.trace not in store.trace_ids():
        print(f"otel-xray: no trace {args.trace} in {args.segments}", file=sys.stderr)
        return 2
    chain = store.linked(args.trace) if args.linked else [store.trace(args.trace)]
    shown: set[str] = set()
    for trace in chain:
        sources = sorted(
            {
                str(link.get("trace_id"))
                for segment in trace.segments
                for link in segment.get("links") or []
                if isinstance(link, dict) and link.get("trace_id") in shown
            }
        )
        if sources:
            print(f"\n··▶ linked: a message of {', '.join(sources)} started this trace")
        print(render_trace(trace))
        shown.add(trace.id)
    return 0


def _invoke(args: argparse.Namespace) -> int:

    if args.times < 1:
        print("otel-xray: --times must be at least 1", file=sys.stderr)
        return 2
    if args.restores < 1:
        print("otel-xray: --restores must be at least 1", file=sys.stderr)
        return 2
    if args.max_concurrency is not None and not 1 <= args.max_concurrency <= 64:
        print("otel-xray: --max-concurrency takes 1 to 64", file=sys.stderr)
        return 2
    if args.max_concurrency is not None and args.snapstart:
        print("otel-xray: --max-concurrency and --snapstart: choose one", file=sys.stderr)
        return 2
    if args.snapstart and args.python == "3.11":
        print(
            "otel-xray: --snapstart needs --python 3.12 or later (Lambda offers SnapStart "
            "for python3.12 and later runtimes)",
            file=sys.stderr,
        )
        return 2
    if args.tenant_id is not None and not 1 <= len(args.tenant_id) <= 256:
        print("otel-xray: --tenant-id takes 1 to 256 characters", file=sys.stderr)
        return 2
    event: Any = {}
    if args.event is not None:
        try:
            event = json.loads(args.event.read_text())
        except (OSError, ValueError) as error:
            print(f"otel-xray: --event {args.event}: {error}", file=sys.stderr)
            return 2
    runtime = runtime_root(args.python, args.runtime)
    if not (runtime / ".stamp").exists():
        try:
            build_runtime(runtime, args.python)
        except FileNotFoundError as missing:
            print(f"otel-xray: --python {args.python}: {missing}", file=sys.stderr)
            return 2
    env = dict(args.env)
    if args.max_concurrency is not None:
        # Spans leave in the background there; a short batch delay shows them at once.
        env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
    function = LocalFunction(
        args.handler,
        args.code,
        layer_dir=args.layer,
        use_layer=not args.no_layer,
        runtime_dir=runtime,
        env=env,
        function_name=args.name,
        timeout_seconds=args.timeout,
        exporter=args.exporter,
        snapstart=args.snapstart,
        max_concurrency=args.max_concurrency,
    )
    captured: list[dict[str, Any]] = []
    failed = False
    sandboxes = args.restores if args.snapstart else 1
    try:
        with function:
            runs = [(s, n) for s in range(1, sandboxes + 1) for n in range(1, args.times + 1)]
            concurrent: list[InvocationResult] = []
            if args.max_concurrency is not None:
                concurrent = function.invoke_concurrently([event] * args.times, args.tenant_id)
                function.collect(concurrent)
            for sandbox, number in runs:
                if args.snapstart and number == 1:
                    function.stop_process()  # the next invoke restores a new sandbox
                result = (
                    concurrent[number - 1]
                    if concurrent
                    else function.invoke(event, tenant_id=args.tenant_id)
                )
                status = "ok" if result.ok else f"error {result.error}"
                where = f"restored sandbox {sandbox}, " if args.snapstart else ""
                print(
                    f"{where}invocation {number}: {status} in {result.duration_ms:.1f} ms, "
                    f"{len(result.segments)} documents (Root={result.root})"
                )
                if result.ok:
                    print(f"  response: {json.dumps(result.response)[:300]}")
                failed = failed or not result.ok
                print(render_trace(TraceStore(result.segments).trace(result.root)))
                captured.extend(result.segments)
    except (FileNotFoundError, InitError) as error:
        print(f"otel-xray: {error}", file=sys.stderr)
        return 1
    if args.segments is not None:
        with args.segments.open("a") as out:
            for document in captured:
                out.write(json.dumps(document, sort_keys=True) + "\n")
        print(f"appended {len(captured)} documents to {args.segments}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
