"""A local trace store: segment documents in, traces out as ``BatchGetTraces`` gives them.

X-Ray keeps the documents it receives (the latest one per id wins) and, when a
trace is read back, merges each independent subsegment into its parent (a segment
or another subsegment) and adds an *inferred* segment for every call to an AWS
service (``namespace: aws``) that has no traced segment of its own: that is the
node the service map draws for a DynamoDB table or an SQS queue. The store does the
same, so local traces and maps read as the console would show them.

Example:
    >>> store = TraceStore()
    >>> root = "1-5759e988-bd862e3fe1be46a994272793"
    >>> store.add({"name": "api", "id": "a" * 16, "trace_id": root,
    ...            "start_time": 1.0, "end_time": 2.0})
    >>> store.add({"name": "DynamoDB", "id": "b" * 16, "trace_id": root,
    ...            "start_time": 1.1, "end_time": 1.2, "type": "subsegment",
    ...            "parent_id": "a" * 16, "namespace": "aws"})
    >>> [s["name"] for s in store.trace(root).segments]
    ['api', 'DynamoDB']
    >>> store.trace(root).segments[1]["origin"]
    'AWS::DynamoDB::Table'
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Document = dict[str, Any]

#: The resource type X-Ray infers for a call to an AWS service, by subsegment name.
INFERRED_ORIGINS = {
    "DynamoDB": "AWS::DynamoDB::Table",
    "SQS": "AWS::SQS::Queue",
    "S3": "AWS::S3::Bucket",
    "SNS": "AWS::SNS",
    "Kinesis": "AWS::Kinesis::Stream",
    "Lambda": "AWS::Lambda",
    "SFN": "AWS::StepFunctions::StateMachine",
    "EventBridge": "AWS::Events",
    # Step Functions' optimized EventBridge task child (console screenshots,
    # shared/reference/stepfunctions-sns.md: "Events" with PutEvents, node AWS::Events).
    "Events": "AWS::Events",
}


#: AWS services that hand a request on to other services: their inferred node stays in
#: the map even when a downstream segment continues the trace from the call, and stands
#: between the caller and that segment (EventBridge User Guide, X-Ray integration: "an
#: EventBridge event node connects source and target services"; X-Ray guide, SNS page:
#: publisher, topic and subscribers as connected nodes). A Lambda Invoke is not one:
#: the callee's own AWS::Lambda segment is that node.
PASS_THROUGH = frozenset({"EventBridge", "Events", "SNS"})

#: Segment origins of a pass-through service recording its own segment (an SNS topic
#: with active tracing, ``services.sns``; a state machine, ``services.stepfunctions``).
#: Under a call they stand for the service themselves, so no inferred node is added in
#: front of them (xray-concepts.md: "If the downstream service is also instrumented, the
#: segment that it sends replaces the inferred segment generated from the upstream
#: client's subsegment"; the SNS page's map: publisher -> topic -> subscribers).
SELF_TRACED_ORIGINS = frozenset({"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"})


def inferred_origin(service: str) -> str:
    return INFERRED_ORIGINS.get(service, f"AWS::{service}")


def resource_names(service: str, aws: Any) -> list[str]:
    """The resources an AWS call names, as X-Ray's ``aws.resource_names``.

    Verified against the developer guide's examples (xray-api-gettingdata.md): a
    DynamoDB table (``table_name``; the service graph names the node after it) and a
    Lambda function (``function_name``). By analogy, unverified (no published source
    here): an SQS queue (the last part of ``queue_url``), an S3 bucket
    (``bucket_name``), a Kinesis stream (``stream_name``). SNS is not named per topic:
    the GetServiceGraph example shows a node named ``SNS``.
    """
    if not isinstance(aws, dict):
        return []
    if service == "DynamoDB":
        tables = aws.get("table_names")
        if isinstance(tables, list):
            return [str(t) for t in tables if t]
        return [str(aws["table_name"])] if aws.get("table_name") else []
    field, transform = _RESOURCE_FIELDS.get(service, ("", None))
    value = aws.get(field) if field else None
    if not isinstance(value, str) or not value:
        return []
    return [transform(value) if transform else value]


def _last_part(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


_RESOURCE_FIELDS: dict[str, tuple[str, Any]] = {
    "Lambda": ("function_name", _last_part),  # a name, an ARN or a partial ARN
    "SQS": ("queue_url", _last_part),  # unverified
    "S3": ("bucket_name", None),  # unverified
    "Kinesis": ("stream_name", None),  # unverified
}


@dataclass
class Trace:
    """One assembled trace: its segments (subsegments nested) in start order."""

    id: str
    segments: list[Document]
    #: Independent subsegments whose parent is not in the trace.
    orphans: list[Document] = field(default_factory=list)
    _owner: dict[str, Document] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Document] = field(default_factory=dict, repr=False)

    @property
    def start(self) -> float:
        return min((start_of(s) for s in self.segments), default=0.0)

    @property
    def end(self) -> float:
        return max((_end(s) for s in self.segments), default=0.0)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def get(self, document_id: str) -> Document | None:
        """The segment or (nested) subsegment with this id."""
        return self._by_id.get(document_id)

    def owner(self, document_id: str) -> Document | None:
        """The segment a subsegment belongs to (a segment owns itself)."""
        return self._owner.get(document_id)

    def children_of(self, document_id: str) -> list[Document]:
        """Segments whose ``parent_id`` is this id (callees and inferred segments)."""
        return [s for s in self.segments if s.get("parent_id") == document_id]

    def walk(self) -> Iterator[tuple[Document, Document]]:
        """Every (document, owning segment), segments and nested subsegments alike."""
        for segment in self.segments:
            for node in _descend(segment):
                yield node, segment

    @property
    def ok(self) -> bool:
        return not any(d.get("fault") or d.get("error") for d, _ in self.walk())


class TraceStore:
    """Segment documents by trace; thread-safe, latest document per id wins."""

    def __init__(self, documents: Iterable[Document] = ()) -> None:
        self._documents: dict[str, dict[str, Document]] = {}
        self._lock = threading.Lock()
        self.add_all(documents)

    @classmethod
    def load(cls, path: str | Path) -> TraceStore:
        """Documents from a JSON-lines file (one document per line; blank lines skipped).

        Raises ValueError naming the line that is not a JSON object.
        """
        store = cls()
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error})") from None
            if not isinstance(document, dict) or "trace_id" not in document:
                raise ValueError(f"{path}:{number}: not a segment document (no trace_id)")
            store.add(document)
        return store

    def add(self, document: Document) -> None:
        trace_id = str(document.get("trace_id", ""))
        key = str(document.get("id", ""))
        with self._lock:
            documents = self._documents.setdefault(trace_id, {})
            previous = documents.get(key)
            # An in-progress document never replaces a finished one.
            if previous is None or not document.get("in_progress") or previous.get("in_progress"):
                documents[key] = document

    def add_all(self, documents: Iterable[Document]) -> None:
        for document in documents:
            self.add(document)

    def documents(self) -> list[Document]:
        with self._lock:
            return [d for docs in self._documents.values() for d in docs.values()]

    def trace_ids(self) -> list[str]:
        """Trace ids, oldest trace first."""
        with self._lock:
            snapshot = {t: list(d.values()) for t, d in self._documents.items()}
        return sorted(
            snapshot, key=lambda t: min(float(d.get("start_time", 0)) for d in snapshot[t])
        )

    def trace(self, trace_id: str) -> Trace:
        with self._lock:
            documents = list(self._documents.get(trace_id, {}).values())
        return assemble(trace_id, documents)

    def traces(self) -> list[Trace]:
        return [self.trace(t) for t in self.trace_ids()]

    def linked(self, trace_id: str) -> list[Trace]:
        """The trace and every trace that links to it, and to those, in order: the
        connected view the X-Ray guide describes for SQS to Lambda ("a connected view of
        each request as it's queued with Amazon SQS and processed by one or more Lambda
        functions", xray-tracelinking), bounded by the store's traces."""
        with self._lock:
            snapshot = {t: list(docs.values()) for t, docs in self._documents.items()}
        linking: dict[str, set[str]] = {}
        for other, documents in snapshot.items():
            for document in documents:
                for link in document.get("links") or []:
                    if isinstance(link, dict) and link.get("trace_id") != other:
                        linking.setdefault(str(link.get("trace_id")), set()).add(other)
        order, seen = [trace_id], {trace_id}
        for current in order:
            for other in sorted(linking.get(current, ())):
                if other not in seen:
                    seen.add(other)
                    order.append(other)
        return [self.trace(t) for t in order if t in snapshot]

    def find(self, trace_id: str, document_id: str) -> tuple[Trace, Document] | None:
        """A document by trace and id, with its assembled trace (for links)."""
        with self._lock:
            if trace_id not in self._documents:
                return None
        trace = self.trace(trace_id)
        document = trace.get(document_id)
        return (trace, document) if document is not None else None


def assemble(trace_id: str, documents: Iterable[Document]) -> Trace:
    """Merge independent subsegments into their parents; add inferred segments."""
    docs = [copy.deepcopy(d) for d in documents]
    segments = [d for d in docs if d.get("type") != "subsegment"]
    independents = [d for d in docs if d.get("type") == "subsegment"]
    by_id: dict[str, Document] = {}
    for document in docs:
        for node in _descend(document):
            by_id.setdefault(str(node.get("id")), node)
    attached: dict[int, Document] = {}
    for subsegment in sorted(independents, key=start_of):
        parent = by_id.get(str(subsegment.get("parent_id")))
        if parent is not None and parent is not subsegment:
            parent.setdefault("subsegments", []).append(subsegment)
            attached[id(subsegment)] = parent
    # A subsegment whose parent is missing stays an orphan (its children nested in it);
    # one caught in a parent cycle is cut loose and becomes an orphan too.
    orphans = [s for s in independents if id(s) not in attached]
    reachable = {id(n) for root in segments + orphans for n in _descend(root)}
    for subsegment in independents:
        if id(subsegment) not in reachable:
            parent = attached.pop(id(subsegment))
            parent["subsegments"] = [c for c in parent["subsegments"] if c is not subsegment]
            orphans.append(subsegment)
            reachable.update(id(n) for n in _descend(subsegment))
    for subsegment in independents:
        if id(subsegment) in attached:
            for key in ("type", "trace_id", "parent_id"):
                subsegment.pop(key, None)
    for node in by_id.values():
        if "subsegments" in node:
            node["subsegments"] = sorted(node["subsegments"], key=start_of)
    trace = Trace(trace_id, sorted(segments, key=start_of), orphans)
    _index(trace)
    for node, _ in trace.walk():
        names = resource_names(str(node.get("name")), node.get("aws"))
        if node.get("namespace") == "aws" and names:
            node["aws"]["resource_names"] = names
    called = {s.get("parent_id") for s in trace.segments}
    self_traced = {
        s.get("parent_id") for s in trace.segments if s.get("origin") in SELF_TRACED_ORIGINS
    }
    inferred = [
        _inferred_segment(node, trace_id)
        for node, _ in list(trace.walk())
        if node.get("namespace") == "aws"
        and (
            node.get("id") not in called
            or (node.get("name") in PASS_THROUGH and node.get("id") not in self_traced)
        )
    ]
    if inferred:
        trace.segments = sorted(trace.segments + inferred, key=start_of)
        _index(trace)
    return trace


def _index(trace: Trace) -> None:
    trace._by_id.clear()
    trace._owner.clear()
    for node, segment in trace.walk():
        trace._by_id.setdefault(str(node.get("id")), node)
        trace._owner.setdefault(str(node.get("id")), segment)


def _inferred_segment(subsegment: Document, trace_id: str) -> Document:
    name = str(subsegment.get("name", "AWS"))
    inferred: Document = {
        "id": hashlib.sha256(f"inferred/{subsegment.get('id')}".encode()).hexdigest()[:16],
        "name": name,
        "trace_id": trace_id,
        "parent_id": subsegment.get("id"),
        "start_time": subsegment.get("start_time"),
        "end_time": subsegment.get("end_time", subsegment.get("start_time")),
        "inferred": True,
        "origin": inferred_origin(name),
    }
    for key in ("aws", "http", "error", "throttle", "fault"):
        if key in subsegment:
            inferred[key] = copy.deepcopy(subsegment[key])
    return inferred


def _descend(node: Document) -> Iterator[Document]:
    yield node
    for child in node.get("subsegments", []) or []:
        if isinstance(child, dict):
            yield from _descend(child)


def start_of(document: Document) -> float:
    try:
        return float(document.get("start_time", 0))
    except (TypeError, ValueError):
        return 0.0


def _end(document: Document) -> float:
    try:
        return float(document.get("end_time", document.get("start_time")) or 0)
    except (TypeError, ValueError):
        return 0.0


def status_of(document: Document) -> str:
    """``fault``, ``throttle``, ``error`` or ``ok``, as X-Ray buckets a request."""
    if document.get("fault"):
        return "fault"
    if document.get("throttle"):
        return "throttle"
    if document.get("error"):
        return "error"
    return "ok"


def duration_of(document: Document) -> float:
    return max(0.0, _end(document) - start_of(document))
