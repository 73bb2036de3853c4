"""A serverless app from its SAM template, run locally with every hop traced (``otel-xray up``).

The description a team already has is the template it deploys: the functions
(``CodeUri``, ``Handler``, ``Runtime``, ``Environment``), their triggers
(``Events``: ``Api``, ``SQS``, ``SNS``, ``EventBridgeRule``) and the resources
they name (tables, queues, buckets, topics, ``AWS::SNS::Subscription``). This
module reads that template and starts the same architecture on loopback:

- each function in its own sandbox through the layer (its ``Runtime`` picks the
  local runtime; its code is copied with its ``requirements.txt`` installed beside it,
  once per content, under ``build/up``: the layout ``sam build`` gives a Python
  function, though no test compares the two);
- moto's server for DynamoDB, SQS and S3 (tables, queues and buckets created
  from their properties);
- the emulated front doors, each passing the trace header on as AWS documents
  it: API Gateway stages (:mod:`~otel_xray.devtools.services.api_gateway`), Lambda Invoke
  (:mod:`~otel_xray.devtools.functions.invoke_endpoint`), SNS topics
  (:mod:`~otel_xray.devtools.services.sns`), the default event bus
  (:mod:`~otel_xray.devtools.services.eventbridge`) and SQS event source mappings
  (:mod:`~otel_xray.devtools.functions.event_sources`).

``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` (with ``Conditions``),
``Fn::Join`` and ``Fn::Select`` are resolved against the local resources and
the parameters (``Default`` or given); parameter ``Ref`` and ``Fn::Sub`` are compared
with SAM's own resolver (aws-sam-translator) on generated templates. Everything else
the template declares (X-Ray groups, sampling rules, dashboards, policies, layers) is
not run; the names are listed so nothing is silently assumed. A function's name is its
``FunctionName`` or else its logical id (AWS would add the stack's name).

What is sent in comes from files (:func:`load_requests`), one JSON object or a
list of them, each one of::

    {"api": "OrdersApi", "method": "POST", "path": "/orders", "headers": {}, "body": {}}
    {"invoke": "pricing", "payload": {}, "invocation_type": "RequestResponse"}
    {"publish": "OrdersTopic", "message": "...", "subject": "..."}
    {"put_events": [{"Source": "orders", "DetailType": "OrderPlaced", "Detail": {}}]}
    {"send_message": "OrdersQueue", "body": "..."}
    {"start_execution": "OrderFulfilment", "input": {}}

(``trace_header`` on any of them is sent as the caller's ``X-Amzn-Trace-Id``.)

State machines (``AWS::Serverless::StateMachine``, ``AWS::StepFunctions::StateMachine``)
run in the local Step Functions service (:mod:`~otel_xray.devtools.services.stepfunctions`),
from an inline ``Definition`` (intrinsics resolved), a ``DefinitionString`` or a local
``DefinitionUri`` file, with ``DefinitionSubstitutions``; ``Tracing.Enabled`` (SAM) or
``TracingConfiguration.Enabled`` turns its tracing on. Functions reach it through
``AWS_ENDPOINT_URL_SFN`` (StartSyncExecution also needs
``AWS_DISABLE_HOST_PREFIX_INJECTION=true``, which ``up`` sets). A state machine's
``Events`` are not run (listed). An S3 definition location is refused.

Example:
    >>> template = {
    ...     "Resources": {
    ...         "Hello": {"Type": "AWS::Serverless::Function", "Properties": {
    ...             "CodeUri": "hello/", "Handler": "app.handler", "Runtime": "python3.12",
    ...             "Events": {"Get": {"Type": "Api", "Properties": {
    ...                 "Path": "/hello", "Method": "get"}}}}}}}
    >>> app = App.from_template(template, Path("/src"))
    >>> [(f.name, f.runtime, f.events[0].kind) for f in app.functions]
    [('Hello', '3.12', 'Api')]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml  # type: ignore[import-untyped]

from otel_xray.devtools.functions.event_sources import SqsEventSource
from otel_xray.devtools.functions.interpreters import DEFAULT_VERSION, RUNTIME_VERSIONS
from otel_xray.devtools.functions.invoke import InvocationResult, LocalFunction
from otel_xray.devtools.functions.invoke_endpoint import LambdaEndpoint
from otel_xray.devtools.functions.sandbox import DEFAULT_DIR, build_runtime, runtime_root
from otel_xray.devtools.sam.cloudformation import read_template
from otel_xray.devtools.services.api_gateway import ApiGatewayStage, Route
from otel_xray.devtools.services.eventbridge import EventBus
from otel_xray.devtools.services.moto_server import TEST_CREDENTIALS, AwsServices
from otel_xray.devtools.services.sns import TRACING_MODES, SnsTopic
from otel_xray.devtools.services.stepfunctions import (
    DefinitionError,
    StateMachine,
    StepFunctions,
    substitute,
)

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
#: The trigger types ``up`` runs; any other is listed as not run.
EVENT_TYPES = ("Api", "SQS", "SNS", "EventBridgeRule", "CloudWatchEvent")
#: The resources ``up`` creates or runs.
RESOURCE_TYPES = (
    "AWS::Serverless::Function",
    "AWS::Serverless::Api",
    "AWS::DynamoDB::Table",
    "AWS::Serverless::SimpleTable",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
)
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
REQUEST_KINDS = ("api", "invoke", "publish", "put_events", "send_message", "start_execution")


class TemplateError(ValueError):
    """The template cannot be run; the message names the resource and what is accepted."""


# The template ------------------------------------------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    """A SAM or CloudFormation template (YAML or JSON) as plain data."""
    try:
        data = read_template(path)
    except yaml.YAMLError as error:
        raise TemplateError(f"{path}: not YAML or JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: a template needs a Resources mapping")
    return data


@dataclass(frozen=True)
class Event:
    """One trigger of a function: its type and properties (intrinsics unresolved)."""

    name: str
    kind: str
    properties: dict[str, Any]


@dataclass
class Function:
    logical_id: str
    name_value: Any
    code_dir: Path
    handler: str
    runtime: str
    environment: dict[str, Any]
    events: list[Event]
    timeout: float = 30.0
    memory_mb: int = 512

    @property
    def name(self) -> str:
        return self.name_value if isinstance(self.name_value, str) else self.logical_id


@dataclass
class App:
    """What a template describes, as far as ``up`` runs it."""

    template: dict[str, Any]
    base_dir: Path
    functions: list[Function] = field(default_factory=list)
    #: Resources declared but not run (logical id -> type).
    not_run: dict[str, str] = field(default_factory=dict)
    #: Triggers declared but not run ("function.event (type)").
    events_not_run: list[str] = field(default_factory=list)

    @classmethod
    def from_template(cls, template: dict[str, Any], base_dir: Path) -> App:
        app = cls(template, base_dir)
        globals_ = (template.get("Globals") or {}).get("Function") or {}
        for logical_id, resource in template["Resources"].items():
            kind = resource.get("Type", "")
            if kind not in RESOURCE_TYPES:
                app.not_run[logical_id] = kind
                continue
            if kind in STATE_MACHINE_TYPES:
                for event_name, event in (
                    (resource.get("Properties") or {}).get("Events") or {}
                ).items():
                    app.events_not_run.append(f"{logical_id}.{event_name} ({event.get('Type')})")
            if kind != "AWS::Serverless::Function":
                continue
            props = {**globals_, **(resource.get("Properties") or {})}
            environment = {
                **((globals_.get("Environment") or {}).get("Variables") or {}),
                **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables")
                   or {}),
            }  # fmt: skip
            runtime = str(props.get("Runtime", f"python{DEFAULT_VERSION}"))
            version = runtime.removeprefix("python")
            if version not in RUNTIME_VERSIONS:
                raise TemplateError(
                    f"{logical_id}: Runtime {runtime!r}; accepted: "
                    + ", ".join(f"python{v}" for v in RUNTIME_VERSIONS)
                )
            code = props.get("CodeUri")
            handler = props.get("Handler")
            if not isinstance(code, str) or not isinstance(handler, str):
                raise TemplateError(
                    f"{logical_id}: CodeUri and Handler must be given as text (a local "
                    "directory and MODULE.FUNCTION); inline code and S3 locations are not run"
                )
            events = []
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") in EVENT_TYPES:
                    events.append(Event(event_name, event["Type"], event.get("Properties") or {}))
                else:
                    app.events_not_run.append(f"{logical_id}.{event_name} ({event.get('Type')})")
            app.functions.append(
                Function(
                    logical_id,
                    props.get("FunctionName"),
                    (base_dir / code).resolve(),
                    handler,
                    version,
                    environment,
                    events,
                    float(props.get("Timeout", 30)),
                    int(props.get("MemorySize", 512)),
                )
            )
        if not app.functions:
            raise TemplateError("the template declares no AWS::Serverless::Function")
        return app


# Intrinsic functions -----------------------------------------------------------------------


class Resolver:
    """``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``, ``Fn::Join``, ``Fn::Select``.

    >>> r = Resolver({"Stage": "prod"}, {"Q": {"Ref": "http://q", "Arn": "arn:q"}}, {})
    >>> r.resolve({"Fn::Sub": "${Stage}-${Q.Arn}-${AWS::Region}"})
    'prod-arn:q-us-east-1'
    """

    def __init__(
        self,
        parameters: Mapping[str, str],
        resources: Mapping[str, Mapping[str, str]],
        conditions: Mapping[str, Any],
    ) -> None:
        self.parameters = dict(parameters)
        self.resources = resources
        self.conditions = conditions
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": "local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.resources:
            return self.resources[name]["Ref"]
        raise TemplateError(f"Ref {name!r}: no parameter or resource of that name")

    def attribute(self, name: str, attribute: str) -> str:
        values = self.resources.get(name)
        if values is None or attribute not in values:
            known = sorted(k for k in (values or {}) if k != "Ref")
            raise TemplateError(
                f"Fn::GetAtt {name}.{attribute}: not known locally"
                + (f"; accepted: {', '.join(known)}" if known else "")
            )
        return values[attribute]

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"Condition {name!r} is not in the template's Conditions")
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        [(key, arg)] = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::GetAtt":
            name, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.attribute(name, attribute)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return self._sub(text, extra)
        if key == "Fn::If":
            name, then, otherwise = arg
            return self.resolve(then if self.condition(name) else otherwise)
        if key == "Fn::Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if key == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if key in ("Condition", "Fn::Condition"):
            return self.condition(arg)
        if key == "Fn::Join":
            separator, items = arg
            return str(separator).join(str(i) for i in self.resolve(items))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key.startswith("Fn::"):
            raise TemplateError(
                f"{key} is not resolved locally; accepted: Ref, Fn::GetAtt, Fn::Sub, Fn::If, "
                "Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Join, Fn::Select"
            )
        return {key: self.resolve(arg)}

    def _sub(self, text: str, extra: Mapping[str, Any]) -> str:
        out, position = [], 0
        while (start := text.find("${", position)) != -1:
            end = text.find("}", start)
            if end == -1:
                break
            out.append(text[position:start])
            name = text[start + 2 : end]
            if name.startswith("!"):  # ${!Literal}
                out.append("${" + name[1:] + "}")
            elif name in extra:
                out.append(str(extra[name]))
            elif "." in name and name.split(".", 1)[0] in self.resources:
                out.append(self.attribute(*name.split(".", 1)))
            else:
                out.append(self.ref(name))
            position = end + 1
        out.append(text[position:])
        return "".join(out)


# What is sent in ---------------------------------------------------------------------------


def load_requests(path: Path) -> list[dict[str, Any]]:
    """The requests and events in a file: one JSON object or a list of them."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TemplateError(f"{path}: {error}") from error
    items = data if isinstance(data, list) else [data]
    for number, item in enumerate(items, 1):
        kinds = [k for k in REQUEST_KINDS if isinstance(item, dict) and k in item]
        if isinstance(item, dict) and "path" in item and "api" not in item:
            kinds.append("api")  # an API request may leave out the API when there is one
        if len(kinds) != 1:
            raise TemplateError(
                f"{path}, item {number}: needs exactly one of {', '.join(REQUEST_KINDS)} "
                f"(got {sorted(item) if isinstance(item, dict) else type(item).__name__})"
            )
    return items


# Running it --------------------------------------------------------------------------------


@dataclass
class Sent:
    """One item sent in, and what came back (status and body, or the call's answer)."""

    item: dict[str, Any]
    status: int
    answer: Any


class LocalApp:
    """The app of a template, started on loopback; :meth:`send` puts requests through it.

    Every document recorded (the front doors' and every function's) is in
    :attr:`documents` after :meth:`settle`.
    """

    def __init__(
        self,
        app: App,
        parameters: Mapping[str, str] | None = None,
        *,
        build_dir: Path = Path("build") / "up",
        layer_dir: Path | None = None,
        runtime_dir: Path = DEFAULT_DIR,
        exporter: str = "xray-udp",
    ) -> None:
        self.app = app
        self.build_dir = build_dir
        self.layer_dir = layer_dir
        self.runtime_dir = runtime_dir
        self.exporter = exporter
        self.parameters = self._parameters(parameters or {})
        self.documents: list[dict[str, Any]] = []
        #: Every invocation so far by function name (after :meth:`settle`).
        self.invocations: dict[str, list[InvocationResult]] = {}
        self._queued: list[tuple[str, InvocationResult]] = []
        self.notes: list[str] = []
        self._aws: AwsServices | None = None
        self._functions: dict[str, LocalFunction] = {}
        self._apis: dict[str, ApiGatewayStage] = {}
        self._topics: dict[str, SnsTopic] = {}
        self._bus: EventBus | None = None
        self._sfn: StepFunctions | None = None
        self._invoke: LambdaEndpoint | None = None
        self._sources: list[tuple[SqsEventSource, LocalFunction]] = []
        self._started: list[Any] = []
        self.resolver: Resolver | None = None

    # parameters, resources, functions ------------------------------------------------------

    def _parameters(self, given: Mapping[str, str]) -> dict[str, str]:
        declared = self.app.template.get("Parameters") or {}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(
                f"--parameter {', '.join(unknown)}: not in the template's Parameters "
                f"({', '.join(sorted(declared)) or 'none'})"
            )
        values = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise TemplateError(
                    f"parameter {name} has no Default: pass --parameter {name}=VALUE"
                    + (f" ({spec['Description']})" if spec.get("Description") else "")
                )
        return values

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        template = self.app.template
        resources: dict[str, dict[str, str]] = {}
        early = Resolver(self.parameters, resources, template.get("Conditions") or {})
        aws = self._aws = AwsServices(REGION).start()
        self._started.append(aws)
        aws.reset()  # a fresh stack: nothing left from another app run in this process
        declared = template["Resources"]
        for logical_id, resource in declared.items():
            kind, props = resource.get("Type"), resource.get("Properties") or {}
            resources[logical_id] = self._create(aws, logical_id, kind, props, early)
        for function in self.app.functions:
            name = early.resolve(function.name_value) if function.name_value else None
            function.name_value = name or function.logical_id
            resources[function.logical_id] = {
                "Ref": function.name,
                "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function.name}",
            }
        for logical_id, kind in self.app.not_run.items():
            resources.setdefault(logical_id, {"Ref": logical_id})
            self.notes.append(f"not run: {logical_id} ({kind})")
        self.notes.extend(f"trigger not run: {e}" for e in self.app.events_not_run)
        self.resolver = resolver = Resolver(
            self.parameters, resources, template.get("Conditions") or {}
        )
        for function in self.app.functions:
            self._functions[function.logical_id] = LocalFunction(
                function.handler,
                self._build(function),
                layer_dir=self.layer_dir,
                runtime_dir=self._runtime(function.runtime),
                env={},
                function_name=function.name,
                timeout_seconds=function.timeout,
                memory_mb=function.memory_mb,
                exporter=self.exporter,
            )
        self._wire(resolver, resources)
        endpoints = {
            "AWS_ENDPOINT_URL": aws.endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": self._invoke.endpoint if self._invoke else "",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        if self._topics:
            endpoints["AWS_ENDPOINT_URL_SNS"] = next(iter(self._topics.values())).endpoint
        if self._bus is not None:
            endpoints["AWS_ENDPOINT_URL_EVENTBRIDGE"] = self._bus.endpoint
        if self._sfn is not None:
            endpoints["AWS_ENDPOINT_URL_SFN"] = self._sfn.endpoint
            # StartSyncExecution's endpoint has the host prefix "sync-" (botocore's
            # model), which a loopback address cannot take: botocore's own switch.
            endpoints["AWS_DISABLE_HOST_PREFIX_INJECTION"] = "true"
        for function in self.app.functions:
            env = {k: str(resolver.resolve(v)) for k, v in function.environment.items()}
            env.pop("AWS_LAMBDA_EXEC_WRAPPER", None)  # the local sandbox runs the layer itself
            local = self._functions[function.logical_id]
            local.extra_env.update({**endpoints, **env})
            local.start()
            self._started.append(local)

    def _create(
        self, aws: AwsServices, logical_id: str, kind: Any, props: dict[str, Any], r: Resolver
    ) -> dict[str, str]:
        arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT_ID}:{{}}"
        if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            name = str(r.resolve(props.get("TableName") or logical_id))
            if kind == "AWS::Serverless::SimpleTable":
                key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
                schema = [{"AttributeName": key["Name"], "KeyType": "HASH"}]
                types = {"String": "S", "Number": "N", "Binary": "B"}
                attributes = [{"AttributeName": key["Name"], "AttributeType": types[key["Type"]]}]
            else:
                schema, attributes = props["KeySchema"], props["AttributeDefinitions"]
            aws.client("dynamodb").create_table(
                TableName=name, KeySchema=schema, AttributeDefinitions=attributes,
                BillingMode="PAY_PER_REQUEST",
            )  # fmt: skip
            return {"Ref": name, "Arn": arn.format("dynamodb", f"table/{name}")}
        if kind == "AWS::SQS::Queue":
            name = str(r.resolve(props.get("QueueName") or logical_id))
            url = aws.client("sqs").create_queue(QueueName=name)["QueueUrl"]
            queue_arn = arn.format("sqs", name)
            return {"Ref": url, "Arn": queue_arn, "QueueName": name, "QueueUrl": url}
        if kind == "AWS::S3::Bucket":
            name = str(r.resolve(props.get("BucketName") or logical_id.lower()))
            aws.client("s3").create_bucket(Bucket=name)
            return {
                "Ref": name,
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
            }
        if kind == "AWS::SNS::Topic":
            name = str(r.resolve(props.get("TopicName") or logical_id))
            return {
                "Ref": arn.format("sns", name),
                "TopicName": name,
                "TopicArn": arn.format("sns", name),
            }
        if kind in STATE_MACHINE_TYPES:
            key = "Name" if kind == "AWS::Serverless::StateMachine" else "StateMachineName"
            name = str(r.resolve(props.get(key) or logical_id))
            machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
            return {"Ref": machine_arn, "Arn": machine_arn, "Name": name}
        if kind == "AWS::Serverless::Api":
            return {"Ref": logical_id, "RootResourceId": "root"}
        return {"Ref": logical_id}

    def _build(self, function: Function) -> Path:
        """The function's code with its requirements, built once per content (sam build)."""
        if not function.code_dir.is_dir():
            raise TemplateError(
                f"{function.logical_id}: CodeUri {function.code_dir} is not a directory"
            )
        digest = hashlib.sha256(function.runtime.encode())
        for path in sorted(function.code_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(function.code_dir)).encode() + path.read_bytes())
        target = self.build_dir / f"{function.logical_id}-{digest.hexdigest()[:12]}"
        if (target / ".built").exists():
            return target
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(function.code_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
        requirements = function.code_dir / "requirements.txt"
        if requirements.is_file() and requirements.read_text().strip():
            command = [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--no-compile", "--target", str(target), "-r", str(requirements),
            ]  # fmt: skip
            if function.runtime != f"{sys.version_info.major}.{sys.version_info.minor}":
                command += ["--python-version", function.runtime, "--only-binary=:all:"]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise TemplateError(
                    f"{function.logical_id}: pip could not install {requirements}: "
                    f"{done.stderr.strip()[-800:]}"
                )
        (target / ".built").touch()
        return target

    def _runtime(self, version: str) -> Path:
        root = runtime_root(version, self.runtime_dir)
        if not (root / ".stamp").exists():
            build_runtime(root, version)
        return root

    def _wire(self, r: Resolver, resources: Mapping[str, Mapping[str, str]]) -> None:
        """The front doors: Invoke, API stages, topics, the bus, SQS event sources."""
        by_name = {f.name: self._functions[f.logical_id] for f in self.app.functions}
        self._invoke = LambdaEndpoint(by_name).start()
        self._started.append(self._invoke)
        routes: dict[str, list[Route]] = {}
        topics: dict[str, list[Any]] = {}
        rules: list[tuple[dict[str, list[str]], list[LocalFunction]]] = []
        queues: list[tuple[str, int, LocalFunction]] = []
        template = self.app.template["Resources"]
        for function in self.app.functions:
            local = self._functions[function.logical_id]
            for event in function.events:
                props = event.properties
                where = f"{function.logical_id}.{event.name}"
                if event.kind == "Api":
                    if "Path" not in props:
                        raise TemplateError(f"{where}: an Api event needs a Path")
                    api = props.get("RestApiId", {"Ref": "ServerlessRestApi"})
                    api_id = api.get("Ref") if isinstance(api, dict) else api
                    routes.setdefault(str(api_id), []).append(
                        Route(str(props.get("Method", "ANY")), str(r.resolve(props["Path"])), local)
                    )
                elif event.kind == "SNS":
                    topics.setdefault(self._logical(props.get("Topic"), "Ref", where), []).append(
                        local
                    )
                elif event.kind == "SQS":
                    queue = self._logical(props.get("Queue"), "Fn::GetAtt", where)
                    url = _declared(resources, queue, "QueueUrl", where, "AWS::SQS::Queue")
                    queues.append((url, int(props.get("BatchSize", 10)), local))
                else:  # EventBridgeRule, CloudWatchEvent
                    pattern = r.resolve(props.get("Pattern") or {})
                    bus = props.get("EventBusName")
                    if bus not in (None, "default"):
                        self.notes.append(f"{where}: event bus {bus!r} runs as the default bus")
                    rules.append((pattern, [local]))
        for logical_id, resource in template.items():
            if resource.get("Type") == "AWS::SNS::Topic":
                topics.setdefault(logical_id, [])
            if resource.get("Type") != "AWS::SNS::Subscription":
                continue
            props = resource.get("Properties") or {}
            topic = self._logical(props.get("TopicArn"), "Ref", logical_id)
            protocol, endpoint = props.get("Protocol"), props.get("Endpoint")
            if protocol == "sqs":
                queue = self._logical(endpoint, "Fn::GetAtt", logical_id)
                assert self._aws is not None
                url = _declared(resources, queue, "QueueUrl", logical_id, "AWS::SQS::Queue")
                topics.setdefault(topic, []).append(("sqs", url, self._aws.client("sqs")))
            elif protocol == "lambda":
                target = self._logical(endpoint, "Fn::GetAtt", logical_id)
                if target not in self._functions:
                    raise TemplateError(f"{logical_id}: {target} is not a function of the template")
                topics.setdefault(topic, []).append(self._functions[target])
            else:
                self.notes.append(
                    f"not run: {logical_id} (protocol {protocol!r}; sqs and lambda run)"
                )
        for logical_id, subscribers in topics.items():
            name = _declared(resources, logical_id, "TopicName", logical_id, "AWS::SNS::Topic")
            # TracingConfig: Active records the topic's segment and its deliveries;
            # PassThrough (the default) only passes the header on (services.sns).
            tracing = r.resolve(
                (template[logical_id].get("Properties") or {}).get("TracingConfig") or "PassThrough"
            )
            if tracing not in TRACING_MODES:
                raise TemplateError(
                    f"{logical_id}: TracingConfig {tracing!r}; accepted: {', '.join(TRACING_MODES)}"
                )
            running = SnsTopic(name, subscribers, tracing=str(tracing)).start()
            self._topics[logical_id] = running
            self._started.append(running)
        SnsTopic.share(list(self._topics.values()))  # one endpoint serves every topic
        if rules:
            self._bus = EventBus(rules).start()
            self._started.append(self._bus)
        for api_id, api_routes in routes.items():
            declared = template.get(api_id, {})
            props = declared.get("Properties") or {}
            stage = str(r.resolve(props.get("StageName", "Prod")))
            traced = bool(r.resolve(props.get("TracingEnabled", False))) or bool(
                ((self.app.template.get("Globals") or {}).get("Api") or {}).get("TracingEnabled")
            )
            if not traced:
                self.notes.append(
                    f"{api_id}: TracingEnabled is off; its stage records no segment and "
                    "passes no trace header (each function starts its own trace)"
                )
            name = str(r.resolve(props.get("Name", api_id)))
            gateway = ApiGatewayStage(api_name=name, stage=stage, routes=api_routes, tracing=traced)
            self._apis[api_id] = gateway.start()
            self._started.append(gateway)
        self._state_machines(r, resources)
        assert self._aws is not None
        for url, batch, local in queues:
            source = SqsEventSource(url, client=self._aws.client("sqs"), batch_size=batch)
            self._sources.append((source, local))

    def _state_machines(self, r: Resolver, resources: Mapping[str, Mapping[str, str]]) -> None:
        """Every state machine of the template, in one local Step Functions endpoint."""
        machines = []
        for logical_id, resource in self.app.template["Resources"].items():
            kind = resource.get("Type")
            if kind not in STATE_MACHINE_TYPES:
                continue
            props = resource.get("Properties") or {}
            substitutions = {
                str(k): str(r.resolve(v))
                for k, v in (props.get("DefinitionSubstitutions") or {}).items()
            }
            text = self._definition_text(logical_id, props, r)
            serverless = kind == "AWS::Serverless::StateMachine"
            tracing = props.get("Tracing" if serverless else "TracingConfiguration") or {}
            machine_type = str(
                r.resolve(props.get("Type" if serverless else "StateMachineType") or "STANDARD")
            )
            try:
                machines.append(
                    StateMachine(
                        resources[logical_id]["Name"],
                        substitute(text, substitutions),
                        tracing=bool(r.resolve(tracing.get("Enabled", False))),
                        type=machine_type,
                    )
                )
            except DefinitionError as error:
                raise TemplateError(f"{logical_id}: {error}") from error
            if not machines[-1].tracing:
                self.notes.append(
                    f"{logical_id}: tracing is off; an execution is traced only when its "
                    "caller passes a trace header"
                )
        if not machines:
            return
        assert self._aws is not None and self._invoke is not None
        endpoints = {"lambda": self._invoke.endpoint, "default": self._aws.endpoint}
        if self._topics:
            endpoints["sns"] = next(iter(self._topics.values())).endpoint
        if self._bus is not None:
            endpoints["events"] = self._bus.endpoint
        self._sfn = StepFunctions(machines, endpoints).start()
        self._started.append(self._sfn)

    def _definition_text(self, logical_id: str, props: Mapping[str, Any], r: Resolver) -> str:
        """The definition as JSON text: inline (intrinsics resolved), a string, or a file."""
        if isinstance(props.get("Definition"), dict):
            return json.dumps(r.resolve(props["Definition"]))
        if "DefinitionString" in props:
            return str(r.resolve(props["DefinitionString"]))
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            path = (self.app.base_dir / uri).resolve()
            try:
                data = read_template(path) if path.suffix in (".yaml", ".yml") else None
                return json.dumps(data) if data is not None else path.read_text()
            except (OSError, yaml.YAMLError) as error:
                raise TemplateError(f"{logical_id}: DefinitionUri {uri}: {error}") from error
        raise TemplateError(
            f"{logical_id}: a state machine needs Definition, DefinitionString or a local "
            "DefinitionUri file (an S3 location is not run locally)"
        )

    @staticmethod
    def _logical(value: Any, intrinsic: str, where: str) -> str:
        if isinstance(value, dict) and intrinsic in value:
            target = value[intrinsic]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        raise TemplateError(
            f"{where}: expected {'!Ref' if intrinsic == 'Ref' else '!GetAtt'} to a resource of "
            f"the template, got {value!r}"
        )

    # sending -------------------------------------------------------------------------------

    @property
    def apis(self) -> dict[str, ApiGatewayStage]:
        """The running API stages by logical id."""
        return dict(self._apis)

    def api_endpoint(self, api: str | None = None) -> str:
        if api is None and len(self._apis) == 1:
            return next(iter(self._apis.values())).endpoint
        if api not in self._apis:
            raise TemplateError(
                f"api {api!r}: accepted: {', '.join(self._apis) or 'none declared'}"
            )
        return self._apis[api].endpoint

    def send(self, item: Mapping[str, Any]) -> Sent:
        """Put one request or event through the app, then wait until every hop is done."""
        header = item.get("trace_header")
        if "api" in item or "path" in item:
            url = self.api_endpoint(item.get("api")) + str(item.get("path", "/"))
            body = item.get("body")
            data = (
                None
                if body is None
                else (body if isinstance(body, str) else json.dumps(body)).encode()
            )
            request = urllib.request.Request(
                url, data=data, method=str(item.get("method", "GET")).upper()
            )
            for key, value in (item.get("headers") or {}).items():
                request.add_header(str(key), str(value))
            if header:
                request.add_header("X-Amzn-Trace-Id", header)
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    sent = Sent(dict(item), response.status, _json_or_text(response.read()))
            except urllib.error.HTTPError as error:
                sent = Sent(dict(item), error.code, _json_or_text(error.read()))
        else:
            sent = self._call(item, header)
        self.settle()
        return sent

    def _client(self, service: str, endpoint: str, header: str | None) -> Any:
        import boto3  # type: ignore[import-untyped]  # noqa: PLC0415

        client = boto3.Session(**TEST_CREDENTIALS, region_name=REGION).client(
            service, endpoint_url=endpoint
        )
        if header:
            client.meta.events.register(
                "before-send.*.*",
                lambda request, **_: request.headers.__setitem__("X-Amzn-Trace-Id", header),
            )
        return client

    def _call(self, item: Mapping[str, Any], header: str | None) -> Sent:
        assert self._invoke is not None and self._aws is not None and self.resolver is not None
        if "invoke" in item:
            name = self._function_name(str(item["invoke"]))
            reply = self._client("lambda", self._invoke.endpoint, header).invoke(
                FunctionName=name,
                InvocationType=item.get("invocation_type", "RequestResponse"),
                Payload=json.dumps(item.get("payload", {})).encode(),
            )
            return Sent(dict(item), reply["StatusCode"], _json_or_text(reply["Payload"].read()))
        if "publish" in item:
            logical = str(item["publish"])
            if logical not in self._topics:
                raise TemplateError(
                    f"publish {logical!r}: accepted: {', '.join(self._topics) or 'none declared'}"
                )
            topic = self._topics[logical]
            reply = self._client("sns", topic.endpoint, header).publish(
                TopicArn=topic.topic_arn, Message=_text(item.get("message", "")),
                **({"Subject": item["subject"]} if item.get("subject") else {}),
            )  # fmt: skip
            return Sent(dict(item), 200, reply.get("MessageId"))
        if "put_events" in item:
            if self._bus is None:
                raise TemplateError("put_events: no function has an EventBridgeRule trigger")
            entries = [
                {**e, "Detail": _text(e.get("Detail", {})), "EventBusName": "default"}
                for e in item["put_events"]
            ]
            reply = self._client("events", self._bus.endpoint, header).put_events(Entries=entries)
            return Sent(dict(item), 200, reply.get("Entries"))
        if "start_execution" in item:
            arn = self._state_machine_arn(str(item["start_execution"]))
            assert self._sfn is not None
            reply = self._client("stepfunctions", self._sfn.endpoint, header).start_execution(
                stateMachineArn=arn, input=_text(item.get("input", {}))
            )
            return Sent(dict(item), 200, reply.get("executionArn"))
        queue = str(item["send_message"])
        url = self.resolver.ref(queue) if queue in self.resolver.resources else queue
        reply = self._client("sqs", self._aws.endpoint, header).send_message(
            QueueUrl=url, MessageBody=_text(item.get("body", ""))
        )
        return Sent(dict(item), 200, reply.get("MessageId"))

    def _state_machine_arn(self, given: str) -> str:
        declared = {
            logical_id: self.resolver.ref(logical_id) if self.resolver else ""
            for logical_id, resource in self.app.template["Resources"].items()
            if resource.get("Type") in STATE_MACHINE_TYPES
        }
        for logical_id, arn in declared.items():
            if given in (logical_id, arn, arn.rsplit(":", 1)[-1]):
                return arn
        raise TemplateError(
            f"start_execution {given!r}: accepted: {', '.join(declared) or 'none declared'}"
        )

    def _function_name(self, given: str) -> str:
        for function in self.app.functions:
            if given in (function.name, function.logical_id):
                return function.name
        names = ", ".join(f.name for f in self.app.functions)
        raise TemplateError(f"invoke {given!r}: accepted: {names}")

    def settle(self, rounds: int = 50) -> None:
        """Until nothing moves: answered requests collected, asynchronous deliveries done,
        every SQS trigger's queue drained through its function."""
        for _ in range(rounds):
            for gateway in self._apis.values():
                gateway.settle()
            assert self._invoke is not None
            self._invoke.wait()
            self._invoke.settle()
            for topic in self._topics.values():
                topic.wait()
            if self._bus is not None:
                self._bus.wait()
            moved = False
            if self._sfn is not None:
                running = sum(1 for e in self._sfn.executions.values() if not e.done.is_set())
                self._sfn.wait()
                self._invoke.settle()
                moved = running > 0
            for source, function in self._sources:
                while (event := source.next_event(wait_seconds=0)) is not None:
                    result = function.invoke(event)
                    source.complete(event, result.response)
                    self._queued.append((function.function_name, result))
                    moved = True
            if not moved:
                break
        self._collect()

    def _collect(self) -> None:
        seen = {id(d) for d in self.documents}
        results: list[tuple[str, InvocationResult]] = []
        for gateway in self._apis.values():
            self.documents.extend(d for d in gateway.documents if id(d) not in seen)
            results.extend(gateway.invoked)
        assert self._invoke is not None
        results.extend((name, result) for name, _, result in self._invoke.invocations)
        for topic in self._topics.values():
            results.extend(topic.deliveries)
            self.documents.extend(d for d in topic.documents if id(d) not in seen)
            seen.update(id(d) for d in topic.documents)
        if self._bus is not None:
            results.extend((name, result) for name, _, result in self._bus.deliveries)
        results.extend(self._queued)
        if self._sfn is not None:
            self.documents.extend(d for d in self._sfn.documents if id(d) not in seen)
            seen.update(id(d) for d in self._sfn.documents)
        self.invocations = {}
        for name, result in results:
            self.invocations.setdefault(name, []).append(result)
            self.documents.extend(d for d in result.segments if id(d) not in seen)
            seen.update(id(d) for d in result.segments)

    def stop(self) -> None:
        for running in reversed(self._started):
            with contextlib.suppress(Exception):  # stop the rest whatever one does
                running.stop()
        self._started.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _declared(
    resources: Mapping[str, Mapping[str, str]],
    logical_id: str,
    attribute: str,
    where: str,
    kind: str,
) -> str:
    """A resource's value that a trigger needs, or an error naming what was expected."""
    value = resources.get(logical_id, {}).get(attribute)
    if value is None:
        raise TemplateError(f"{where}: {logical_id} is not an {kind} of the template")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")
