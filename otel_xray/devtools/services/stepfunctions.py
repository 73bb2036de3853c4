"""Step Functions on 127.0.0.1: state machines run locally, each execution traced as X-Ray shows it.

Only as far as it serves tracing. The API is the one boto3's ``stepfunctions`` client
speaks (JSON 1.0, ``X-Amz-Target: AWSStepFunctions.*``): ``StartExecution``,
``StartSyncExecution`` (Express machines; botocore puts ``sync-`` in front of the
host, so a local client turns that off with ``AWS_DISABLE_HOST_PREFIX_INJECTION=true``
or ``Config(inject_host_prefix=False)``), ``DescribeExecution``,
``GetExecutionHistory``, ``DescribeStateMachine`` and ``ListStateMachines``.

The interpreter runs Amazon States Language (the States Language specification):
Task, Choice, Pass, Wait, Succeed, Fail, Parallel and Map, with ``InputPath``,
``Parameters``/``ItemSelector``, ``ResultSelector``, ``ResultPath`` and ``OutputPath``
(reference paths and the intrinsics ``States.Format``, ``States.JsonToString``,
``States.StringToJson``, ``States.Array``, ``States.UUID``), ``Retry`` (``ErrorEquals``,
``IntervalSeconds``, ``MaxAttempts``, ``BackoffRate``) and ``Catch``. Locally, Wait
sleeps ``wait_scale`` times its seconds (0.01 by default: ``Seconds: 60`` waits 0.6 s),
and so do Retry intervals; Map iterations and Parallel branches run one after the other.
Task resources: Lambda (``arn:aws:states:::lambda:invoke`` and a plain function ARN),
the optimized ``sqs:sendMessage``, ``sns:publish``, ``dynamodb:getItem|putItem|
updateItem|deleteItem`` and ``events:putEvents``, and ``arn:aws:states:::aws-sdk:SERVICE:
Action``; each is a real call through boto3 to the local front door for that service
(``endpoints``), carrying the trace header.

Tracing follows what is published (``shared/reference/stepfunctions-sns.md``):

- Step Functions developer guide, concepts-xray-tracing: with tracing on, "Step
  Functions will send traces to X-Ray for state machine executions, even when a trace
  ID is not passed by an upstream service"; with it off, only "if a trace ID is passed
  by an upstream service";
- botocore's model, ``StartExecutionInput.traceHeader``: the request's
  ``X-Amzn-Trace-Id`` header is used, else ``traceHeader`` in the body ("If both
  sources are provided, Step Functions will use the header value (preferred)");
- console screenshots (no JSON is published): one segment per execution, named after
  the state machine, of type ``AWS::StepFunctions::StateMachine``; one subsegment per
  state entered, named after the state; under a task state a child named after the
  service (``Lambda``, ``SQS``, ``Events`` ...) with the operation and response code,
  one per attempt, and the callee's own segments continuing the trace under it; a Map
  state's ``Iteration N`` children; a Fail state marks the execution a fault.

**Inference** (no source publishes these; they are marked so in ``docs/local.md``):
every field name (``origin``, ``aws.execution_arn``, ``aws.state_machine_arn``, the
service child's ``namespace: aws``, ``aws.operation`` and ``http.response.status``, the
``Branch N`` children of a Parallel state by analogy with ``Iteration N``); a header that
says ``Sampled=0`` records nothing (as every AWS service honours it); a failed task's
state subsegment marked ``error`` while its service child keeps the call's own status
(from the callback-timeout screenshot); the fault's ``cause``; the child of an
``aws-sdk:`` call named after the X-Ray name of the service (``DynamoDB``, ``S3``), the
same as the optimized one (the screenshots show the two can differ: Glue); the child of
the optimized EventBridge integration named ``Events`` (as the screenshot shows it),
type ``AWS::Events``; a plain function ARN traced as ``lambda:invoke`` (unknown: how
they differ); Standard and Express traced alike (unknown). The history events carry
the fields botocore's model names, for the event types the interpreter produces.

Example:
    >>> machine = StateMachine("hello", {"StartAt": "Hi", "States": {
    ...     "Hi": {"Type": "Pass", "Result": {"greeting": "hi"}, "End": True}}})
    >>> machine.arn
    'arn:aws:states:us-east-1:123456789012:stateMachine:hello'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from otel_xray.devtools.loopback import LoopbackHandler, LoopbackServer
from otel_xray.propagation import parse_trace_header

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
#: The ``origin`` of an execution's segment (seen in console screenshots).
ORIGIN = "AWS::StepFunctions::StateMachine"
STATE_TYPES = ("Task", "Choice", "Pass", "Wait", "Succeed", "Fail", "Parallel", "Map")
#: Optimized integrations run locally: resource suffix -> (boto3 service, operation).
OPTIMIZED: dict[str, tuple[str, str]] = {
    "lambda:invoke": ("lambda", "Invoke"),
    "sqs:sendMessage": ("sqs", "SendMessage"),
    "sns:publish": ("sns", "Publish"),
    "dynamodb:getItem": ("dynamodb", "GetItem"),
    "dynamodb:putItem": ("dynamodb", "PutItem"),
    "dynamodb:updateItem": ("dynamodb", "UpdateItem"),
    "dynamodb:deleteItem": ("dynamodb", "DeleteItem"),
    "events:putEvents": ("events", "PutEvents"),
}
#: The service child's name by boto3 service: X-Ray's names for the AWS SDK's calls
#: (``traces.store.INFERRED_ORIGINS``); ``Events`` for EventBridge as the screenshots show.
CHILD_NAMES = {
    "lambda": "Lambda",
    "sqs": "SQS",
    "sns": "SNS",
    "dynamodb": "DynamoDB",
    "events": "Events",
    "s3": "S3",
    "kinesis": "Kinesis",
    "stepfunctions": "SFN",
}
#: ``aws-sdk:`` service names whose boto3 name differs.
SDK_SERVICES = {"sfn": "stepfunctions", "eventbridge": "events"}
ACCEPTED_RESOURCES = (
    "arn:aws:lambda:REGION:ACCOUNT:function:NAME, "
    + ", ".join(f"arn:aws:states:::{k}" for k in OPTIMIZED)
    + ", arn:aws:states:::aws-sdk:SERVICE:Action"
)


class DefinitionError(ValueError):
    """A definition the local interpreter cannot run; the message names the state."""


class StatesError(Exception):
    """An error inside an execution: its States Language name and cause."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass
class StateMachine:
    """A machine: its definition, ``tracing`` (``TracingConfiguration.Enabled``) and type."""

    name: str
    definition: dict[str, Any]
    tracing: bool = True
    type: str = "STANDARD"

    def __post_init__(self) -> None:
        if self.type not in ("STANDARD", "EXPRESS"):
            raise DefinitionError(f"{self.name}: Type {self.type!r}; accepted: STANDARD, EXPRESS")
        check_definition(self.definition, self.name)

    @property
    def arn(self) -> str:
        return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{self.name}"


def check_definition(definition: Any, where: str) -> None:
    """Refuse, naming the state, what the interpreter would not run."""
    if not isinstance(definition, dict) or not isinstance(definition.get("States"), dict):
        raise DefinitionError(f"{where}: a definition needs StartAt and a States mapping")
    states = definition["States"]
    if definition.get("StartAt") not in states:
        raise DefinitionError(f"{where}: StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        here = f"{where}.{name}"
        kind = state.get("Type") if isinstance(state, dict) else None
        if kind not in STATE_TYPES:
            raise DefinitionError(f"{here}: Type {kind!r}; accepted: {', '.join(STATE_TYPES)}")
        for key in ("Next", "Default"):
            if key in state and state[key] not in states:
                raise DefinitionError(f"{here}: {key} {state[key]!r} is not a state")
        if kind == "Task":
            resource_of(state.get("Resource"), here)
        if kind == "Parallel":
            for number, branch in enumerate(state.get("Branches") or []):
                check_definition(branch, f"{here}.Branches[{number}]")
        if kind == "Map":
            check_definition(state.get("ItemProcessor") or state.get("Iterator"), here)


def _services(definition: Mapping[str, Any]) -> set[str]:
    """The boto3 services a (checked) definition's tasks call, branches and maps included."""
    found: set[str] = set()
    for name, state in definition.get("States", {}).items():
        if state.get("Type") == "Task":
            found.add(resource_of(state.get("Resource"), name)[0])
        for branch in state.get("Branches") or []:
            found |= _services(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, Mapping):
            found |= _services(processor)
    return found


def resource_of(resource: Any, where: str) -> tuple[str, str, bool]:
    """(boto3 service, operation, optimized) of a Task's ``Resource``; refuses others."""
    text = str(resource)
    if re.fullmatch(r"arn:aws:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?", text):
        return ("lambda", "Invoke", False)
    prefix = "arn:aws:states:::"
    if text.startswith(prefix + "aws-sdk:"):
        parts = text[len(prefix + "aws-sdk:") :].split(":")
        if len(parts) == 2 and all(parts):
            return (
                SDK_SERVICES.get(parts[0], parts[0]),
                parts[1][:1].upper() + parts[1][1:],
                False,
            )
    elif text.startswith(prefix) and text[len(prefix) :] in OPTIMIZED:
        service, operation = OPTIMIZED[text[len(prefix) :]]
        return (service, operation, True)
    raise DefinitionError(
        f"{where}: Resource {text!r} is not run locally; accepted: {ACCEPTED_RESOURCES}"
    )


def substitute(text: str, substitutions: Mapping[str, Any]) -> dict[str, Any]:
    """A definition's text with its ``DefinitionSubstitutions`` put in, as JSON.

    CloudFormation, ``AWS::StepFunctions::StateMachine.DefinitionSubstitutions``: "A map
    (string to string) that specifies the mappings for placeholder variables in the state
    machine definition"; each ``${name}`` of the map is replaced, others are left as they
    are (what AWS does with those has no source here).
    """
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", str(value))
    try:
        definition = json.loads(text)
    except ValueError as error:
        raise DefinitionError(f"the definition is not JSON: {error}") from error
    if not isinstance(definition, dict):
        raise DefinitionError("the definition is not a JSON object")
    return definition


# Paths, templates and intrinsics (States Language specification) --------------------------

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def _steps(path: str) -> list[str | int]:
    out: list[str | int] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise StatesError("States.Runtime", f"the path {path!r} is not a reference path")
        name, index, quoted, double = match.groups()
        out.append(int(index) if index is not None else (name or quoted or double or ""))
        position = match.end()
    return out


def read_path(path: str, data: Any, context: Mapping[str, Any]) -> Any:
    """The value at a reference path (``$``, ``$.a.b``, ``$.a[0]``, ``$$.Execution.Id``)."""
    value: Any
    if path.startswith("$$"):
        value, rest = context, path[2:]
    elif path.startswith("$"):
        value, rest = data, path[1:]
    else:
        raise StatesError("States.Runtime", f"{path!r} is not a path (it starts with $)")
    for step in _steps(rest):
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            raise StatesError(
                "States.Runtime", f"the path {path!r} matches nothing in the input"
            ) from None
    return value


def write_path(path: str | None, data: Any, result: Any) -> Any:
    """``ResultPath``: ``null`` keeps the input, ``$`` replaces it, ``$.a.b`` sets a field."""
    if path is None:
        return data
    if path == "$":
        return result
    steps = _steps(path[1:])
    if not isinstance(data, dict):
        raise StatesError(
            "States.ResultPathMatchFailure", f"ResultPath {path!r}: the input is not an object"
        )
    out = json.loads(json.dumps(data))
    node = out
    for step in steps[:-1]:
        node = node.setdefault(step, {})
        if not isinstance(node, dict) or isinstance(step, int):
            raise StatesError(
                "States.ResultPathMatchFailure",
                f"ResultPath {path!r} goes through a value that is not an object",
            )
    if isinstance(steps[-1], int):
        raise StatesError("States.ResultPathMatchFailure", f"ResultPath {path!r} ends in an index")
    node[steps[-1]] = result
    return out


def _split_arguments(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for index, char in enumerate(text):
        if char == "'" and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        if not quoted and char == "(":
            depth += 1
        if not quoted and char == ")":
            depth -= 1
        if char == "," and not quoted and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def intrinsic(text: str, data: Any, context: Mapping[str, Any]) -> Any:
    """An intrinsic function call of a ``.$`` field."""
    match = re.fullmatch(r"(States\.\w+)\((.*)\)", text.strip(), re.DOTALL)
    if match is None:
        raise StatesError("States.Runtime", f"{text!r} is neither a path nor an intrinsic")
    name, raw = match.groups()
    arguments: list[Any] = []
    for argument in _split_arguments(raw):
        if argument.startswith("'"):
            arguments.append(argument[1:-1].replace("\\'", "'"))
        elif argument.startswith("$"):
            arguments.append(read_path(argument, data, context))
        elif argument.startswith("States."):
            arguments.append(intrinsic(argument, data, context))
        else:
            arguments.append(json.loads(argument))
    if name == "States.Format":
        pieces = str(arguments[0]).split("{}")
        out = pieces[0]
        for piece, value in zip(pieces[1:], arguments[1:], strict=False):
            out += (value if isinstance(value, str) else json.dumps(value)) + piece
        return out
    if name == "States.JsonToString":
        return json.dumps(arguments[0], separators=(",", ":"))
    if name == "States.StringToJson":
        return json.loads(arguments[0])
    if name == "States.Array":
        return list(arguments)
    if name == "States.UUID":
        return str(uuid.uuid4())
    raise StatesError(
        "States.Runtime",
        f"{name} is not run locally; accepted: States.Format, States.JsonToString, "
        "States.StringToJson, States.Array, States.UUID",
    )


def fill(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """A payload template (``Parameters``, ``ItemSelector``, ``ResultSelector``)."""
    if isinstance(template, list):
        return [fill(item, data, context) for item in template]
    if not isinstance(template, dict):
        return template
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$") and isinstance(value, str):
            out[key[:-2]] = (
                read_path(value, data, context)
                if value.startswith("$")
                else intrinsic(value, data, context)
            )
        else:
            out[key] = fill(value, data, context)
    return out


# Choice rules ------------------------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
_KINDS: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Numeric": (int, float),
    "Boolean": (bool,),
    "Timestamp": (str,),
}


def matches(rule: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    """One Choice rule (``And``, ``Or``, ``Not``, comparisons, ``Is*`` tests)."""
    if "And" in rule:
        return all(matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    variable = str(rule.get("Variable", "$"))
    try:
        value = read_path(variable, data, context)
        present = True
    except StatesError:
        value, present = None, False
    for key, expected in rule.items():
        if key in ("Variable", "Next"):
            continue
        if key == "IsPresent":
            return present is bool(expected)
        if not present:
            return False
        if key == "IsNull":
            return (value is None) is bool(expected)
        if key in ("IsString", "IsNumeric", "IsBoolean", "IsTimestamp"):
            kind = _KINDS[key[2:]] if key != "IsNumeric" else (int, float)
            ok = isinstance(value, kind) and not (key == "IsNumeric" and isinstance(value, bool))
            return ok is bool(expected)
        if key == "StringMatches":
            pattern = re.escape(str(expected)).replace(r"\*", ".*")
            return isinstance(value, str) and re.fullmatch(pattern, value) is not None
        path = key.endswith("Path")
        operator = key.removesuffix("Path")
        for prefix, kinds in _KINDS.items():
            if operator.startswith(prefix) and operator[len(prefix) :] in _COMPARISONS:
                other = read_path(expected, data, context) if path else expected
                if not isinstance(value, kinds) or (
                    prefix == "Numeric" and isinstance(value, bool)
                ):
                    return False
                return _COMPARISONS[operator[len(prefix) :]](value, other)
        raise StatesError("States.Runtime", f"Choice rule {key!r} is not run locally")
    raise StatesError("States.Runtime", f"Choice rule without a comparison: {dict(rule)}")


def _error_matches(names: Sequence[str], error: str) -> bool:
    return any(
        n in (error, "States.ALL") or (n == "States.TaskFailed" and error != "States.Timeout")
        for n in names
    )


# Executions --------------------------------------------------------------------------------


def _now() -> float:
    return time.time()


def _new_id() -> str:
    return os.urandom(8).hex()


@dataclass
class Execution:
    """One execution: its status, input and output, history and X-Ray segment."""

    machine: StateMachine
    name: str
    input: str
    trace_header: str | None
    started: float = field(default_factory=_now)
    status: str = "RUNNING"
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stopped: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    segment: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def arn(self) -> str:
        # An Express execution's ARN says ``express`` where a Standard one says
        # ``execution`` (inference: no reference here shows an Express ARN).
        kind = "express" if self.machine.type == "EXPRESS" else "execution"
        return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:{kind}:{self.machine.name}:{self.name}"

    def event(self, kind: str, **details: Any) -> None:
        number = len(self.history) + 1
        self.history.append(
            {
                "timestamp": _now(),
                "type": kind,
                "id": number,
                "previousEventId": number - 1,
                **details,
            }
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.machine.arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.started,
            "input": self.input,
            "inputDetails": {"included": True},
        }
        if self.stopped is not None:
            out["stopDate"] = self.stopped
        if self.output is not None:
            out["output"] = self.output
            out["outputDetails"] = {"included": True}
        if self.error is not None:
            out["error"] = self.error
            out["cause"] = self.cause or ""
        if self.trace_header:
            out["traceHeader"] = self.trace_header
        return out


class _Trace:
    """Where an execution's documents go and what header its calls carry."""

    def __init__(self, root: str | None, recording: bool, forward: str | None) -> None:
        self.root = root
        self.recording = recording
        #: The header for a call when not recording (a Sampled=0 request's, or none).
        self.forward = forward

    def header(self, parent: str) -> str | None:
        if self.recording and self.root:
            return f"Root={self.root};Parent={parent};Sampled=1"
        return self.forward


class StepFunctions(LoopbackServer):
    """The Step Functions endpoint for ``machines``; ``endpoints`` are the front doors a
    task calls, by boto3 service name (``lambda``, ``sqs``, ``sns``, ``dynamodb``,
    ``events``, ``s3``...; ``default`` for any other)."""

    def __init__(
        self,
        machines: Sequence[StateMachine],
        endpoints: Mapping[str, str],
        *,
        wait_scale: float = 0.01,
    ) -> None:
        self.machines = {m.arn: m for m in machines}
        self.endpoints = dict(endpoints)
        self.wait_scale = wait_scale
        #: Every execution by ARN, in the order started.
        self.executions: dict[str, Execution] = {}
        #: Every execution segment recorded, when its execution ended.
        self.documents: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._local = threading.local()
        self._threads: list[threading.Thread] = []
        super().__init__(self._handler_class())

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}"

    def start(self) -> Self:
        """Serve, with a client made for each service the machines call (made once, before
        any task's clock starts: a boto3 client takes ~0.1-0.5 s to make here)."""
        for machine in self.machines.values():
            for service in _services(machine.definition):
                with contextlib.suppress(StatesError):  # no endpoint: the task says so
                    self._client(service)
        return super().start()

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the executions still running."""
        for thread in list(self._threads):
            thread.join(timeout)

    # the API -------------------------------------------------------------------------------

    def start_execution(
        self, request: Mapping[str, Any], header: str | None, sync: bool = False
    ) -> Execution:
        machine = self.machines.get(str(request.get("stateMachineArn")))
        if machine is None:
            raise _ApiError(
                "StateMachineDoesNotExist",
                f"State Machine Does Not Exist: '{request.get('stateMachineArn')}'; local "
                f"machines: {', '.join(sorted(self.machines))}",
            )
        # botocore's model lists StateMachineTypeNotSupported for StartSyncExecution;
        # that a Standard machine gets it is inference (Express-only, as the API says).
        if sync and machine.type != "EXPRESS":
            raise _ApiError(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine (STANDARD)",
            )
        text = request.get("input", "{}")
        try:
            json.loads(text)
        except (TypeError, ValueError):
            raise _ApiError(
                "InvalidExecutionInput", "Invalid State Machine Execution Input"
            ) from None
        # The header wins over traceHeader in the body (botocore's model, StartExecutionInput).
        execution = Execution(
            machine,
            str(request.get("name") or uuid.uuid4()),
            text,
            header or request.get("traceHeader"),
        )
        with self._lock:
            if execution.arn in self.executions:
                raise _ApiError(
                    "ExecutionAlreadyExists", f"Execution Already Exists: '{execution.arn}'"
                )
            self.executions[execution.arn] = execution
        if sync:
            self._run(execution)
        else:
            thread = threading.Thread(target=self._run, args=(execution,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return execution

    def execution(self, arn: Any) -> Execution:
        found = self.executions.get(str(arn))
        if found is None:
            raise _ApiError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return found

    # running -------------------------------------------------------------------------------

    def _tracing(self, execution: Execution) -> _Trace:
        """The developer guide's rules: on, traced with or without a caller's trace id;
        off, only with one; a header saying Sampled=0 records nothing (inference)."""
        incoming = parse_trace_header(execution.trace_header)
        if incoming is not None and incoming.sampled is False:
            return _Trace(incoming.root, False, execution.trace_header)
        if incoming is not None:
            return _Trace(incoming.root, True, None)
        if execution.machine.tracing:
            root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
            return _Trace(root, True, None)
        return _Trace(None, False, None)

    def _run(self, execution: Execution) -> None:
        trace = self._tracing(execution)
        incoming = parse_trace_header(execution.trace_header)
        segment: dict[str, Any] = {
            "name": execution.machine.name,
            "id": _new_id(),
            "trace_id": trace.root or "",
            "start_time": execution.started,
            "origin": ORIGIN,
            "aws": {"execution_arn": execution.arn, "state_machine_arn": execution.machine.arn},
            "subsegments": [],
        }
        if incoming is not None and incoming.parent:
            segment["parent_id"] = incoming.parent
        execution.event(
            "ExecutionStarted",
            executionStartedEventDetails={
                "input": execution.input,
                "inputDetails": {"truncated": False},
                "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/local",
            },
        )
        context = {
            "Execution": {
                "Id": execution.arn,
                "Name": execution.name,
                "Input": json.loads(execution.input),
                "StartTime": datetime.fromtimestamp(execution.started).isoformat(),
            },
            "StateMachine": {"Id": execution.machine.arn, "Name": execution.machine.name},
        }
        try:
            output = self._states(
                execution.machine.definition,
                json.loads(execution.input),
                context,
                execution,
                trace,
                segment["id"],
                segment["subsegments"],
            )
            execution.output = json.dumps(output)
            execution.status = "SUCCEEDED"
            execution.event(
                "ExecutionSucceeded",
                executionSucceededEventDetails={
                    "output": execution.output,
                    "outputDetails": {"truncated": False},
                },
            )
        except StatesError as failed:
            execution.status = "FAILED"
            execution.error, execution.cause = failed.error, failed.cause
            execution.event(
                "ExecutionFailed",
                executionFailedEventDetails={"error": failed.error, "cause": failed.cause},
            )
            segment["fault"] = True
            segment["cause"] = {
                "exceptions": [{"id": _new_id(), "type": failed.error, "message": failed.cause}]
            }
        except Exception as broken:  # the interpreter's own bug: fail, never hang a caller
            execution.status = "FAILED"
            execution.error, execution.cause = "States.Runtime", repr(broken)
            segment["fault"] = True
        execution.stopped = segment["end_time"] = _now()
        if trace.recording:
            execution.segment = segment
            with self._lock:
                self.documents.append(segment)
        execution.done.set()

    def _states(
        self,
        definition: Mapping[str, Any],
        data: Any,
        context: dict[str, Any],
        execution: Execution,
        trace: _Trace,
        parent_id: str,
        into: list[dict[str, Any]],
    ) -> Any:
        """Run a definition's states from StartAt; each one entered is a subsegment."""
        states = definition["States"]
        name = str(definition["StartAt"])
        while True:
            state = states[name]
            kind = state["Type"]
            sub: dict[str, Any] = {
                "name": name,
                "id": _new_id(),
                "start_time": _now(),
                "subsegments": [],
            }
            into.append(sub)
            execution.event(
                f"{kind}StateEntered",
                stateEnteredEventDetails={"name": name, "input": json.dumps(data)},
            )
            context["State"] = {"Name": name, "EnteredTime": datetime.now().isoformat()}
            try:
                data, following = self._state(name, state, data, context, execution, trace, sub)
            except StatesError as failed:
                sub["end_time"] = _now()
                sub["error" if kind != "Fail" else "fault"] = True
                handler = next(
                    (
                        c
                        for c in state.get("Catch") or []
                        if _error_matches(c.get("ErrorEquals") or [], failed.error)
                    ),
                    None,
                )
                if handler is None:
                    raise
                data = write_path(
                    handler.get("ResultPath", "$"),
                    data,
                    {"Error": failed.error, "Cause": failed.cause},
                )
                execution.event(
                    f"{kind}StateExited",
                    stateExitedEventDetails={"name": name, "output": json.dumps(data)},
                )
                name = handler["Next"]
                continue
            sub["end_time"] = _now()
            if not sub["subsegments"]:
                del sub["subsegments"]
            execution.event(
                f"{kind}StateExited",
                stateExitedEventDetails={"name": name, "output": json.dumps(data)},
            )
            if following is None:
                return data
            name = following

    def _state(
        self,
        name: str,
        state: Mapping[str, Any],
        data: Any,
        context: dict[str, Any],
        execution: Execution,
        trace: _Trace,
        sub: dict[str, Any],
    ) -> tuple[Any, str | None]:
        """One state: its output and the next state's name (None when this one ends)."""
        kind = state["Type"]
        following = None if state.get("End") else state.get("Next")
        if kind == "Fail":
            raise StatesError(str(state.get("Error", "States.Fail")), str(state.get("Cause", "")))
        if kind == "Succeed":
            return self._output(state, data, self._input(state, data, context)), None
        effective = self._input(state, data, context)
        if kind == "Choice":
            for rule in state.get("Choices") or []:
                if matches(rule, effective, context):
                    return self._output(state, data, effective), str(rule["Next"])
            if "Default" not in state:
                raise StatesError("States.NoChoiceMatched", f"no Choice rule of {name} matched")
            return self._output(state, data, effective), str(state["Default"])
        if kind == "Wait":
            seconds = float(
                read_path(state["SecondsPath"], effective, context)
                if "SecondsPath" in state
                else state.get("Seconds", 0)
            )
            sub["metadata"] = {
                "default": {
                    "otel_xray.local.wait_seconds": seconds,
                    "otel_xray.local.wait_scale": self.wait_scale,
                }
            }
            time.sleep(max(0.0, seconds) * self.wait_scale)
            return self._output(state, data, effective), following
        if kind == "Pass":
            template = state.get("Parameters")
            value = fill(template, effective, context) if template is not None else effective
            result = state.get("Result", value)
            return self._result(state, data, result, context), following
        if kind == "Task":
            parameters = state.get("Parameters")
            payload = fill(parameters, effective, context) if parameters is not None else effective
            result = self._task(name, state, payload, trace, sub)
            return self._result(state, data, result, context), following
        if kind == "Parallel":
            results = []
            for number, branch in enumerate(state.get("Branches") or []):
                child: dict[str, Any] = {
                    "name": f"Branch {number}",
                    "id": _new_id(),
                    "start_time": _now(),
                    "subsegments": [],
                }
                sub["subsegments"].append(child)
                try:
                    results.append(
                        self._states(
                            branch,
                            effective,
                            context,
                            execution,
                            trace,
                            child["id"],
                            child["subsegments"],
                        )
                    )
                finally:
                    child["end_time"] = _now()
            return self._result(state, data, results, context), following
        # Map
        items = read_path(state.get("ItemsPath", "$"), effective, context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"{name}: ItemsPath does not select an array")
        processor: Mapping[str, Any] = state.get("ItemProcessor") or state.get("Iterator") or {}
        selector = state.get("ItemSelector", state.get("Parameters"))
        results = []
        execution.event("MapStateStarted", mapStateStartedEventDetails={"length": len(items)})
        for index, item in enumerate(items):
            context["Map"] = {"Item": {"Index": index, "Value": item}}
            value = fill(selector, effective, context) if selector is not None else item
            child = {
                "name": f"Iteration {index}",
                "id": _new_id(),
                "start_time": _now(),
                "subsegments": [],
            }
            sub["subsegments"].append(child)
            execution.event(
                "MapIterationStarted",
                mapIterationStartedEventDetails={"name": name, "index": index},
            )
            try:
                results.append(
                    self._states(
                        processor,
                        value,
                        context,
                        execution,
                        trace,
                        child["id"],
                        child["subsegments"],
                    )
                )
            finally:
                child["end_time"] = _now()
                context.pop("Map", None)
            execution.event(
                "MapIterationSucceeded",
                mapIterationSucceededEventDetails={"name": name, "index": index},
            )
        execution.event("MapStateSucceeded")
        return self._result(state, data, results, context), following

    @staticmethod
    def _input(state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
        path = state.get("InputPath", "$")
        return {} if path is None else read_path(path, data, context)

    @staticmethod
    def _output(state: Mapping[str, Any], data: Any, value: Any) -> Any:
        path = state.get("OutputPath", "$")
        return {} if path is None else read_path(path, value, {})

    def _result(
        self, state: Mapping[str, Any], data: Any, result: Any, context: Mapping[str, Any]
    ) -> Any:
        if "ResultSelector" in state:
            result = fill(state["ResultSelector"], result, context)
        combined = write_path(state.get("ResultPath", "$"), data, result)
        return self._output(state, data, combined)

    # tasks ---------------------------------------------------------------------------------

    def _task(
        self, name: str, state: Mapping[str, Any], payload: Any, trace: _Trace, sub: dict[str, Any]
    ) -> Any:
        """The task's call, retried as its Retry says; each attempt a service child."""
        service, operation, optimized = resource_of(state.get("Resource"), name)
        attempts: dict[int, int] = {}
        while True:
            try:
                return self._call(state, service, operation, optimized, payload, trace, sub)
            except StatesError as failed:
                retry = next(
                    (
                        (n, r)
                        for n, r in enumerate(state.get("Retry") or [])
                        if _error_matches(r.get("ErrorEquals") or [], failed.error)
                    ),
                    None,
                )
                if retry is None:
                    raise
                number, rule = retry
                attempts[number] = attempts.get(number, 0) + 1
                if attempts[number] > int(rule.get("MaxAttempts", 3)):
                    raise
                interval = float(rule.get("IntervalSeconds", 1)) * float(
                    rule.get("BackoffRate", 2.0)
                ) ** (attempts[number] - 1)
                time.sleep(interval * self.wait_scale)

    def _call(
        self,
        state: Mapping[str, Any],
        service: str,
        operation: str,
        optimized: bool,
        payload: Any,
        trace: _Trace,
        sub: dict[str, Any],
    ) -> Any:
        from botocore.exceptions import (  # type: ignore[import-untyped]  # noqa: PLC0415
            ClientError,
            ParamValidationError,
        )

        resource = str(state.get("Resource"))
        client = self._client(service)  # made before the call's clock starts (once a service)
        child: dict[str, Any] = {
            "name": CHILD_NAMES.get(service, service.capitalize()),
            "id": _new_id(),
            "start_time": _now(),
            "namespace": "aws",
            "aws": {"operation": operation, "region": REGION},
        }
        sub["subsegments"].append(child)
        self._local.header = trace.header(child["id"])
        try:
            if service == "lambda":
                plain = resource.startswith("arn:aws:lambda:")
                function = resource if plain else str(payload.get("FunctionName", ""))
                request: dict[str, Any] = {
                    "FunctionName": function,
                    "Payload": json.dumps(payload if plain else payload.get("Payload", {})),
                }
                child["aws"]["function_name"] = function
                reply = client.invoke(**request)
                body = reply["Payload"].read()
                status = reply["ResponseMetadata"]["HTTPStatusCode"]
                result = json.loads(body or b"null")
                if reply.get("FunctionError"):
                    # Invoke answered 200 with a function error: the child keeps the 200
                    # (the callback-timeout screenshot: a Lambda child OK under a failed
                    # state); the States error is the function's errorType (inference:
                    # no reference here states the name a Lambda task fails with).
                    child.update(end_time=_now(), http={"response": {"status": status}})
                    error = (
                        result.get("errorType", "Lambda.Unknown")
                        if isinstance(result, dict)
                        else "Lambda.Unknown"
                    )
                    raise StatesError(str(error), body.decode(errors="replace"))
                if not plain:
                    result = {
                        "ExecutedVersion": reply.get("ExecutedVersion", "$LATEST"),
                        "Payload": result,
                        "StatusCode": reply.get("StatusCode", status),
                    }
            else:
                request = dict(payload) if isinstance(payload, dict) else {}
                names = {
                    "QueueUrl": "queue_url",
                    "TableName": "table_name",
                    "TopicArn": "topic_arn",
                }
                for key in ("QueueUrl", "TableName", "TopicArn"):
                    if key in request:
                        child["aws"][names[key]] = request[key]
                if service == "sqs" and operation == "SendMessage" and self._local.header:
                    # SQS carries the header as the message's AWSTraceHeader (SQS guide).
                    request.setdefault("MessageSystemAttributes", {})["AWSTraceHeader"] = {
                        "DataType": "String",
                        "StringValue": self._local.header,
                    }
                if optimized:
                    request = _serialized(service, request)
                method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
                reply = getattr(client, method)(**request)
                status = reply.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
                result = _plain({k: v for k, v in reply.items() if k != "ResponseMetadata"})
            request_id = reply.get("ResponseMetadata", {}).get("RequestId")
            if request_id:
                child["aws"]["request_id"] = request_id
            child.update(end_time=_now(), http={"response": {"status": status}})
            return result
        except ClientError as failed:
            status = failed.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            child.update(end_time=_now(), http={"response": {"status": status}})
            child["fault" if status >= 500 else "error"] = True
            if status == 429:
                child["throttle"] = True
            code = failed.response.get("Error", {}).get("Code", "Unknown")
            # The States error is SERVICE.Code, for aws-sdk and optimized tasks alike
            # (inference: the shape of the SDK integrations' error names, which no
            # reference here publishes).
            prefix = CHILD_NAMES.get(service, service.capitalize())
            raise StatesError(f"{prefix}.{code}", str(failed)) from None
        except StatesError:
            raise
        except (ValueError, TypeError, AttributeError, ParamValidationError) as wrong:
            child.update(end_time=_now(), error=True)
            raise StatesError("States.Runtime", f"{resource}: {wrong}") from None
        finally:
            self._local.header = None

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                import boto3  # type: ignore[import-untyped]  # noqa: PLC0415
                from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415

                from otel_xray.devtools.services.moto_server import TEST_CREDENTIALS  # noqa: PLC0415

                endpoint = self.endpoints.get(service) or self.endpoints.get("default")
                if endpoint is None:
                    raise StatesError("States.Runtime", f"no local endpoint for {service}")
                client = boto3.Session(**TEST_CREDENTIALS, region_name=REGION).client(
                    service,
                    endpoint_url=endpoint,
                    config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
                )
                local = self._local

                def add_header(request: Any, **_: Any) -> None:
                    header = getattr(local, "header", None)
                    if header:
                        request.headers["X-Amzn-Trace-Id"] = header

                client.meta.events.register("before-send.*.*", add_header)
                self._clients[service] = client
            return self._clients[service]

    # HTTP ----------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                target = str(self.headers.get("X-Amz-Target", ""))
                operation = target.removeprefix("AWSStepFunctions.")
                try:
                    request = json.loads(self.read_body() or b"{}")
                    header = self.headers.get("X-Amzn-Trace-Id")
                    self.reply_json(200, service._serve(operation, request, header))
                except _ApiError as refused:
                    self.reply_json(400, {"__type": refused.code, "message": str(refused)})
                except ValueError:
                    self.reply_json(
                        400, {"__type": "SerializationException", "message": "the body is not JSON"}
                    )

        return Handler

    def _serve(self, operation: str, request: dict[str, Any], header: str | None) -> dict[str, Any]:
        if operation == "StartExecution":
            started = self.start_execution(request, header)
            return {"executionArn": started.arn, "startDate": started.started}
        if operation == "StartSyncExecution":
            done = self.start_execution(request, header, sync=True)
            out = done.describe()
            out.pop("inputDetails", None)
            out.pop("outputDetails", None)
            # Placeholders: botocore's model has the field; nothing is billed locally.
            out["billingDetails"] = {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": 100,
            }
            return out
        if operation == "DescribeExecution":
            return self.execution(request.get("executionArn")).describe()
        if operation == "GetExecutionHistory":
            events = list(self.execution(request.get("executionArn")).history)
            return {"events": events[::-1] if request.get("reverseOrder") else events}
        if operation == "DescribeStateMachine":
            machine = self.machines.get(str(request.get("stateMachineArn")))
            if machine is None:
                raise _ApiError("StateMachineDoesNotExist", "State Machine Does Not Exist")
            return {
                "stateMachineArn": machine.arn,
                "name": machine.name,
                "status": "ACTIVE",
                "definition": json.dumps(machine.definition),
                "type": machine.type,
                "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/local",
                "creationDate": 0,
                "tracingConfiguration": {"enabled": machine.tracing},
            }
        if operation == "ListStateMachines":
            return {
                "stateMachines": [
                    {"stateMachineArn": m.arn, "name": m.name, "type": m.type, "creationDate": 0}
                    for m in self.machines.values()
                ]
            }
        raise _ApiError(
            "UnknownOperationException",
            f"{operation!r} is not served locally; accepted: StartExecution, StartSyncExecution, "
            "DescribeExecution, GetExecutionHistory, DescribeStateMachine, ListStateMachines",
        )


class _ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: Fields an optimized integration takes as JSON and sends as text (inference: the
#: Step Functions integration pages' examples write them as objects; no page is here).
_AS_TEXT = {"sqs": ("MessageBody",), "sns": ("Message",)}


def _serialized(service: str, request: dict[str, Any]) -> dict[str, Any]:
    """An optimized integration's request with its JSON-valued text fields as text."""
    out = dict(request)
    for key in _AS_TEXT.get(service, ()):
        if key in out and not isinstance(out[key], str):
            out[key] = json.dumps(out[key])
    if service == "events" and isinstance(out.get("Entries"), list):
        out["Entries"] = [
            {**e, "Detail": json.dumps(e["Detail"])}
            if isinstance(e, dict) and not isinstance(e.get("Detail", ""), str)
            else e
            for e in out["Entries"]
        ]
    return out


def _plain(value: Any) -> Any:
    """An SDK response as the JSON a task's result is (dates as ISO text, bytes as text)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if hasattr(value, "read"):
        return _plain(value.read())
    return value
