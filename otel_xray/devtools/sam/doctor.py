"""``otel-xray doctor PATH``: what moving a function to otel-xray's layer needs.

PATH is a function's code directory or a SAM / CloudFormation template (whose
functions' local ``CodeUri`` directories are read too). Reported:

- X-Ray SDK and Powertools Tracer usage in the code, and whether the X-Ray SDK bridge
  (:mod:`otel_xray.bridge.xray_sdk`) covers each use (a *note*: nothing to do);
- what it does not cover, and what would trace twice: a recorder of the code's own,
  a custom emitter or context, plugins, a Powertools provider of its own,
  ``ignore_endpoint``, an OpenTelemetry pipeline set up in the code, the bridge turned
  off while the code uses the SDK, a second OpenTelemetry layer;
- per function of a template: active tracing off, otel-xray's layer missing or its
  wrapper not set (or set without it), layers in an order where another one's
  ``/opt/collector-config/config.yaml`` wins, settings that contradict each other.

Every finding names the file and line and what to do. The code is read, never run
(Python's ``ast``); a template's lines come from its YAML (JSON is YAML too).
Exit status: 0 without findings (notes do not count), 1 with findings, 2 when PATH
cannot be read.

Example:
    >>> report = check(Path(__file__).parents[3] / "examples" / "pricing")  # in a checkout
    >>> report.findings
    []
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml  # type: ignore[import-untyped]

from otel_xray.devtools.sam.cloudformation import _TemplateLoader

#: Directories never read as the function's own code.
SKIPPED_DIRS = frozenset(
    {".venv", "venv", "site-packages", "node_modules", "__pycache__", ".git", ".aws-sam",
     "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)  # fmt: skip

#: X-Ray SDK recorder methods the bridge runs on otel-xray's spans.
RECORDER_BRIDGED = frozenset(
    {"capture", "capture_async", "in_subsegment", "in_subsegment_async", "begin_subsegment",
     "begin_subsegment_without_sampling", "end_subsegment", "current_segment",
     "current_subsegment", "put_annotation", "put_metadata", "begin_segment", "end_segment",
     "in_segment", "in_segment_async", "is_sampled", "get_trace_entity", "configure"}
)  # fmt: skip
#: configure() options the bridge ignores (each named in the log at run time).
CONFIGURE_NOT_BRIDGED = {
    "emitter": "a custom emitter receives nothing: otel-xray's pipeline exports the spans",
    "context": "a custom context class is not used: the bridge keeps the SDK's entities "
    "in OpenTelemetry's context",
    "plugins": "the SDK's EC2/ECS/Elastic Beanstalk plugins are not used: the resource "
    "says where the service runs",
    "daemon_address": "otel-xray's exporter sends the spans (AWS_XRAY_DAEMON_ADDRESS)",
    "streaming": "each span is exported when it ends; nothing is streamed",
    "dynamic_naming": "segment names come from the spans (OTEL_SERVICE_NAME)",
}
#: patch() modules otel-xray's instrumentation covers (otel_xray.bridge.xray_sdk.PATCH_COVERED).
PATCH_COVERED = frozenset(
    {"botocore", "pynamodb", "requests", "sqlite3", "mysql", "pymongo", "pymysql", "psycopg2",
     "psycopg", "pg8000", "sqlalchemy_core", "httpx"}
)  # fmt: skip
POWERTOOLS_BRIDGED = frozenset(
    {"capture_lambda_handler", "capture_method", "put_annotation", "put_metadata", "patch",
     "provider"}
)  # fmt: skip
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")


class Finding(NamedTuple):
    """Something to act on (``note=False``), or usage the bridge covers (``note=True``)."""

    path: Path
    line: int
    what: str
    todo: str
    note: bool = False

    def __str__(self) -> str:
        kind = "note" if self.note else "finding"
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        text = f"{where}: {kind}: {self.what}"
        return f"{text}\n    -> {self.todo}" if self.todo else text


class Report(NamedTuple):
    items: list[Finding]

    @property
    def findings(self) -> list[Finding]:
        return [f for f in self.items if not f.note]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.items if f.note]


class Usage(NamedTuple):
    """What one code directory does with the X-Ray SDK, Powertools and OpenTelemetry."""

    items: list[Finding]
    xray_sdk: bool
    powertools: bool


def check(path: Path) -> Report:
    """The report for a code directory or a template; raises ``OSError`` or
    ``ValueError`` (naming the file) when PATH cannot be read."""
    if path.is_dir():
        usage = scan_code(path)
        items = list(usage.items)
        if usage.xray_sdk or usage.powertools:
            items.append(
                Finding(path, 0, "no template read: layers, active tracing and settings are "
                        "not checked", "run otel-xray doctor on the function's SAM template",
                        note=True)
            )  # fmt: skip
        return Report(items)
    if path.is_file():
        return Report(check_template(path))
    raise OSError(f"{path}: no such file or directory (give a code directory or a template)")


# code ------------------------------------------------------------------------------------


def python_files(root: Path) -> Iterator[Path]:
    """The function's own ``.py`` files: not installed packages, caches or virtualenvs."""
    installed = _installed_names(root)
    for entry in sorted(root.iterdir()):
        if entry.name in installed or entry.name.endswith((".dist-info", ".egg-info")):
            continue
        if entry.is_dir() and entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
            yield from python_files(entry)
        elif entry.is_file() and entry.suffix == ".py":
            yield entry


def _installed_names(directory: Path) -> set[str]:
    """Top-level names of packages ``pip install --target`` put in ``directory``."""
    names: set[str] = set()
    for record in directory.glob("*.dist-info/RECORD"):
        try:
            for row in record.read_text(errors="replace").splitlines():
                first = row.split(",", 1)[0].split("/", 1)[0]
                if first and not first.endswith(".dist-info"):
                    names.add(first)
        except OSError:
            continue
    return names


def scan_code(root: Path) -> Usage:
    items: list[Finding] = []
    xray_sdk = powertools = False
    for path in python_files(root):
        try:
            tree = ast.parse(path.read_text(errors="replace"), filename=str(path))
        except (SyntaxError, ValueError):
            continue
        visitor = _Visitor(path)
        visitor.visit(tree)
        items += sorted(visitor.items, key=lambda f: f.line)
        xray_sdk = xray_sdk or visitor.xray_sdk
        powertools = powertools or visitor.powertools
    return Usage(items, xray_sdk, powertools)


class _Visitor(ast.NodeVisitor):
    """Names bound to the SDK's recorder, Powertools' Tracer and OpenTelemetry's SDK, and
    what the code calls on them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[Finding] = []
        #: local name -> what it is: "recorder", "xray_module", "patch", "patch_all",
        #: "sdk_config", "recorder_class", "Tracer", "tracer", "TracerProvider".
        self.names: dict[str, str] = {}
        self.xray_sdk = False
        self.powertools = False

    def _add(self, node: ast.AST, what: str, todo: str, note: bool = False) -> None:
        self.items.append(Finding(self.path, getattr(node, "lineno", 0), what, todo, note))

    def _covered(self, node: ast.AST, what: str) -> None:
        self._add(node, f"{what}: covered by the X-Ray SDK bridge", "", note=True)

    # imports ----------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("aws_xray_sdk"):
                self.xray_sdk = True
                self.names[(alias.asname or alias.name).split(".")[0]] = "xray_package"
            elif alias.name.startswith("aws_lambda_powertools"):
                self.powertools = True

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            local = alias.asname or alias.name
            if module.startswith("aws_xray_sdk"):
                self.xray_sdk = True
                kind = {
                    "xray_recorder": "recorder",
                    "patch": "patch",
                    "patch_all": "patch_all",
                    "global_sdk_config": "sdk_config",
                    "AWSXRayRecorder": "recorder_class",
                    "AsyncAWSXRayRecorder": "recorder_class",
                    "core": "xray_module",
                }.get(alias.name)
                if kind:
                    self.names[local] = kind
            elif module.startswith("aws_lambda_powertools") and alias.name == "Tracer":
                self.powertools = True
                self.names[local] = "Tracer"
            elif module.startswith("opentelemetry.sdk.trace") and alias.name == "TracerProvider":
                self.names[local] = "TracerProvider"
        self.generic_visit(node)

    # bindings ---------------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> None:
        if isinstance(node.value, ast.Call) and self._kind(node.value.func) == "Tracer":
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.names[target.id] = "tracer"
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                self._use(decorator, decorator)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    # uses -------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        self._use(node.func, node)
        self.generic_visit(node)

    def _kind(self, expression: ast.expr) -> str | None:
        if isinstance(expression, ast.Name):
            return self.names.get(expression.id)
        if isinstance(expression, ast.Attribute):
            owner = self._kind(expression.value)
            if owner in ("xray_package", "xray_module"):
                return {
                    "xray_recorder": "recorder",
                    "patch": "patch",
                    "patch_all": "patch_all",
                    "global_sdk_config": "sdk_config",
                    "AWSXRayRecorder": "recorder_class",
                    "AsyncAWSXRayRecorder": "recorder_class",
                    "core": "xray_module",
                }.get(expression.attr, "xray_module")
            if owner == "tracer" and expression.attr == "provider":
                return "recorder"
        return None

    def _use(self, function: ast.expr, node: ast.AST) -> None:
        kind = self._kind(function)
        name = ast.unparse(function)
        call = node if isinstance(node, ast.Call) else None
        if kind == "patch" and call is not None:
            self._patch(call, name)
        elif kind == "patch_all":
            self._covered(node, f"{name}()")
        elif kind == "sdk_config":
            self._covered(node, name)
        elif kind == "recorder_class" and call is not None:
            self._add(
                node,
                f"{name}(): a recorder of the code's own is not bridged; it sends its own "
                "documents beside otel-xray's (traced twice)",
                "use aws_xray_sdk.core.xray_recorder (bridged), or otel_xray.subsegment",
            )
        elif kind == "TracerProvider" and call is not None:
            self._add(
                node,
                f"{name}(): an OpenTelemetry pipeline set up in the code; under the layer "
                "otel-xray's is the process's, and a second one exports the spans twice",
                "remove it and use opentelemetry.trace.get_tracer() (otel-xray's provider)",
            )
        elif kind == "Tracer" and call is not None:
            self.powertools = True
            if any(k.arg == "provider" for k in call.keywords):
                self._add(
                    node,
                    "Tracer(provider=...): a provider other than the X-Ray SDK's recorder is "
                    "not bridged",
                    "drop provider= (the bridge runs Powertools on otel-xray's spans)",
                )
            else:
                self._covered(node, "Powertools Tracer()")
        elif isinstance(function, ast.Attribute):
            owner = self._kind(function.value)
            if owner == "recorder":
                self._recorder(function.attr, call, node, name)
            elif owner == "tracer":
                self._tracer(function.attr, node, name)

    def _recorder(self, method: str, call: ast.Call | None, node: ast.AST, name: str) -> None:
        if method == "configure" and call is not None:
            for keyword in call.keywords:
                reason = CONFIGURE_NOT_BRIDGED.get(keyword.arg or "")
                if keyword.arg == "context" and "AsyncContext" in ast.unparse(keyword.value):
                    self._add(node, f"{name}(context=AsyncContext()): not needed under the "
                              "bridge (OpenTelemetry's context follows asyncio tasks)",
                              "", note=True)  # fmt: skip
                elif reason is not None:
                    self._add(
                        node,
                        f"{name}({keyword.arg}=...) is not bridged: {reason}",
                        f"remove {keyword.arg}= (otel-xray ignores it and logs one line)",
                    )
            self._covered(node, f"{name}(...) (sampling, context_missing, service honoured)")
        elif method in RECORDER_BRIDGED:
            self._covered(node, name)
        elif method == "set_trace_entity":
            self._add(
                node,
                f"{name}() is not bridged: the current span is OpenTelemetry's",
                "pass context to threads with otel_xray.in_current_context or "
                "TracedThreadPoolExecutor",
            )

    def _tracer(self, method: str, node: ast.AST, name: str) -> None:
        if method in POWERTOOLS_BRIDGED:
            self._covered(node, name)
        elif method == "ignore_endpoint":
            self._add(
                node,
                f"{name}() is not bridged: otel-xray's HTTP instrumentations do not read "
                "the X-Ray SDK's ignore list",
                "exclude URLs with OTEL_PYTHON_REQUESTS_EXCLUDED_URLS (requests), or accept "
                "the subsegments",
            )

    def _patch(self, call: ast.Call, name: str) -> None:
        modules: list[str] = []
        if call.args and isinstance(call.args[0], ast.List | ast.Tuple):
            modules = [
                e.value
                for e in call.args[0].elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
        missing = [m for m in modules if m not in PATCH_COVERED]
        if missing:
            self._add(
                call,
                f"{name}({', '.join(map(repr, missing))}): otel-xray has no instrumentation "
                "for it; these calls are not traced under the layer",
                "see otel_xray.instrumentation.LEFT_OUT; wrap the calls in "
                "otel_xray.subsegment(..., remote=True) to keep a node for them",
            )
        if not missing or len(missing) < len(modules):
            self._covered(call, f"{name}(...) (a no-op: otel-xray's instrumentation traces it)")


# templates -------------------------------------------------------------------------------


class _Lines(dict):  # type: ignore[type-arg]
    """A YAML mapping that knows the line of each of its keys."""

    line = 0
    lines: dict[Any, int]


class _LineLoader(_TemplateLoader):
    """The template loader, with line numbers on mappings."""


def _mapping(loader: _LineLoader, node: Any) -> Iterator[_Lines]:
    value = _Lines()
    value.line = node.start_mark.line + 1
    value.lines = {}
    yield value
    value.update(loader.construct_mapping(node, deep=True))
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            value.lines[key_node.value] = key_node.start_mark.line + 1


_LineLoader.add_constructor("tag:yaml.org,2002:map", _mapping)


def _line(mapping: Any, key: str) -> int:
    if isinstance(mapping, _Lines):
        return mapping.lines.get(key, mapping.line)
    return 0


def read(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.load(path.read_text(), Loader=_LineLoader)  # a SafeLoader
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not a YAML or JSON template: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ValueError(f"{path}: not a CloudFormation or SAM template (no Resources)")
    return document


def check_template(path: Path) -> list[Finding]:
    template = read(path)
    resources: Mapping[str, Any] = template["Resources"]
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    items: list[Finding] = []
    scanned: dict[Path, Usage] = {}
    for name, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in FUNCTION_TYPES:
            continue
        properties = resource.get("Properties") or {}
        serverless = resource["Type"] == "AWS::Serverless::Function"
        merged = _merged(globals_, properties) if serverless else properties
        runtime = str(merged.get("Runtime", ""))
        if runtime and not runtime.startswith("python"):
            continue
        code_uri = merged.get("CodeUri")
        usage = None
        if isinstance(code_uri, str) and "://" not in code_uri:
            code = Path(os.path.normpath(path.parent / code_uri))
            if code.is_dir():
                if code not in scanned:  # its findings once, however many functions share it
                    scanned[code] = scan_code(code)
                    items += scanned[code].items
                usage = scanned[code]
        line = _line(resources, name)
        items += _check_function(path, name, line, resource, merged, resources, usage)
    return sorted(items, key=lambda f: (str(f.path), f.line))


def _merged(globals_: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals: maps merged, lists appended (globals first), scalars overridden."""
    merged = dict(globals_)
    for key, value in properties.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = _merged(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def _variables(merged: Mapping[str, Any]) -> dict[str, Any]:
    environment = merged.get("Environment") or {}
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    return dict(variables) if isinstance(variables, dict) else {}


def _layer_text(layer: Any, resources: Mapping[str, Any]) -> str:
    """A layer reference and, for a Ref to a layer of the template, that layer."""
    text = json.dumps(layer, default=str)
    for ref in _refs(layer):
        target = resources.get(ref)
        if isinstance(target, dict) and target.get("Type") in LAYER_TYPES:
            text += json.dumps(target.get("Properties"), default=str)
    return text.lower()


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _layer_kind(text: str) -> str | None:
    if "otel-xray" in text or "otel_xray" in text:
        return "otel-xray"
    if "aws-otel-collector" in text or "awsopentelemetrycollector" in text:
        return "collector"
    if "opentelemetry" in text or "aws-otel-python" in text or "adot" in text:
        return "opentelemetry"
    if "powertools" in text:
        return "powertools"
    return None


def _check_function(
    path: Path,
    name: str,
    where: int,
    resource: Mapping[str, Any],
    merged: Mapping[str, Any],
    resources: Mapping[str, Any],
    usage: Usage | None,
) -> list[Finding]:
    properties = resource.get("Properties") or {}
    serverless = resource.get("Type") == "AWS::Serverless::Function"
    found: list[Finding] = []

    def add(line: int, what: str, todo: str, note: bool = False) -> None:
        found.append(Finding(path, line or where, f"{name}: {what}", todo, note))

    variables = _variables(merged)
    layers = merged.get("Layers") or []
    kinds = [_layer_kind(_layer_text(layer, resources)) for layer in layers]
    ours = "otel-xray" in kinds
    wrapper = variables.get("AWS_LAMBDA_EXEC_WRAPPER")
    env_line = _line(properties, "Environment")

    # active tracing
    if serverless:
        tracing = merged.get("Tracing")
        active = tracing == "Active"
        tracing_line = _line(properties, "Tracing")
    else:
        config = properties.get("TracingConfig") or {}
        active = isinstance(config, dict) and config.get("Mode") == "Active"
        tracing_line = _line(properties, "TracingConfig")
    if not active:
        add(
            tracing_line,
            "active tracing is off: Lambda sends no segments and runs no X-Ray daemon, so "
            "the function's subsegments have no function segment to hang from",
            "set Tracing: Active" if serverless else "set TracingConfig: {Mode: Active}",
        )

    # the layer and its wrapper
    if not ours:
        add(
            _line(properties, "Layers"),
            "otel-xray's layer is not attached",
            "add the otel-xray layer (docs/deploying.md) and "
            "AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument",
        )
    elif wrapper != "/opt/otel-instrument":
        add(
            env_line,
            f"otel-xray's layer is attached but AWS_LAMBDA_EXEC_WRAPPER is {wrapper!r}: "
            "otel-xray never starts",
            "set AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument",
        )
    if wrapper == "/opt/otel-instrument" and not ours:
        add(
            env_line,
            "AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument names a wrapper no otel-xray layer "
            "provides",
            "attach the otel-xray layer",
        )
    if "opentelemetry" in kinds and ours:
        add(
            _line(properties, "Layers"),
            "another OpenTelemetry Python layer is attached beside otel-xray's: two "
            "distributions in one process (traced twice, or one's files over the other's)",
            "remove the other OpenTelemetry layer",
        )
    config_uri = variables.get("OPENTELEMETRY_COLLECTOR_CONFIG_URI")
    # Lambda extracts layers in the order listed, a later layer's file replacing an
    # earlier one's (Lambda developer guide, "Managing Lambda dependencies with layers");
    # the ADOT collector layer ships its own /opt/collector-config/config.yaml.
    if (
        ours
        and "collector" in kinds
        and kinds.index("collector") > kinds.index("otel-xray")
        and config_uri == "/opt/collector-config/config.yaml"
    ):
        add(
            _line(properties, "Layers"),
            "the collector layer comes after otel-xray's: its own "
            "/opt/collector-config/config.yaml replaces otel-xray's",
            "list the collector layer before otel-xray's layer",
        )
    if config_uri and "collector" not in kinds:
        add(
            env_line,
            "OPENTELEMETRY_COLLECTOR_CONFIG_URI is set but no collector extension layer is "
            "attached: spans go to localhost:4318 where nothing listens",
            "attach the ADOT collector layer, or remove OPENTELEMETRY_COLLECTOR_CONFIG_URI",
        )
    exporter = variables.get("OTEL_TRACES_EXPORTER")
    if exporter == "otlp" and not config_uri and not variables.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        add(
            env_line,
            "OTEL_TRACES_EXPORTER=otlp without a collector or endpoint: spans go to "
            "localhost:4318 where nothing listens",
            "remove OTEL_TRACES_EXPORTER (xray-udp to Lambda's daemon is the default) or "
            "attach the collector",
        )
    if str(variables.get("OTEL_SDK_DISABLED", "")).lower() == "true" and ours:
        add(env_line, "OTEL_SDK_DISABLED=true: otel-xray is attached but off",
            "remove OTEL_SDK_DISABLED")  # fmt: skip

    # the code
    if usage is not None and (usage.xray_sdk or usage.powertools):
        bridge = str(variables.get("OTEL_XRAY_SDK_BRIDGE", "true")).lower()
        if ours and bridge in ("false", "0", "no", "off"):
            add(
                env_line,
                "OTEL_XRAY_SDK_BRIDGE=false while the code uses the X-Ray SDK"
                + (" (Powertools Tracer)" if usage.powertools else "")
                + ": the SDK sends its own documents beside otel-xray's (traced twice)",
                "remove OTEL_XRAY_SDK_BRIDGE (the bridge is on by default)",
            )
        elif ours:
            add(
                where,
                "uses the X-Ray SDK" + (" through Powertools Tracer" if usage.powertools else "")
                + ": under otel-xray's layer it runs on the bridge (one set of subsegments)",
                "", note=True,
            )  # fmt: skip
        if str(variables.get("POWERTOOLS_TRACE_DISABLED", "")).lower() == "true":
            add(
                env_line,
                "POWERTOOLS_TRACE_DISABLED=true: Powertools records nothing (otel-xray's own "
                "spans stay)",
                "",
                note=True,
            )
    return found


# the command ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otel-xray doctor", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="a function's code directory or a SAM template")
    parser.add_argument("--quiet", action="store_true", help="findings only, no notes")
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        report = check(args.path)
    except (OSError, ValueError) as error:
        print(f"otel-xray doctor: {error}", file=sys.stderr)
        return 2
    for item in report.items:
        if item.note and getattr(args, "quiet", False):
            continue
        print(item)
    findings, notes = len(report.findings), len(report.notes)
    if findings:
        print(f"{findings} finding{'s' * (findings != 1)}, {notes} note{'s' * (notes != 1)}")
        return 1
    print(f"clean: nothing to change ({notes} note{'s' * (notes != 1)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
